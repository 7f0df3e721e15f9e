#!/usr/bin/env node
/**
 * docker2aci: converts a Docker/OCI image (registry, docker-archive, OCI layout or archive) to ACIs.
 * Flags, printed blocks and exit codes follow appc's docker2aci (shared/reference/docker2aci.md §8,
 * §9); the layer cache and platform selection are ours.
 */
import { mkdirSync } from 'node:fs';
import { Command, Option } from 'commander';
import { isMainModule } from './run.js';
import { APPC_SPEC_VERSION, type ImageManifest } from '../appc/index.js';
import { convertImage, defaultLayerCacheDir, progressFor, type BlobMode } from '../docker/convert/index.js';
import { resolveImage, type SourceOptions } from '../docker/sources/index.js';
import { errorMessage, RocketError } from '../errors.js';
import { oneLine, runProgram, USAGE_EXIT } from './run.js';

const VERSION = '0.1.0';

interface Flags {
  debug: boolean;
  /** The reference's `-experimental-oci` (accept OCI images): always on here. */
  experimentalOci: boolean;
  nosquash: boolean;
  compression: string;
  image?: string;
  insecureSkipVerify: boolean;
  insecureAllowHttp: boolean;
  outputDir: string;
  version: boolean;
  layerCache?: string;
  noLayerCache: boolean;
  platform?: string;
}

/** The printed blocks of §8: volumes and ports of the (top) manifest, then the files. */
export function summary(manifest: ImageManifest, files: readonly string[]): string {
  let out = '';
  const mps = manifest.app?.mountPoints ?? [];
  if (mps.length > 0) {
    out += '\nConverted volumes:\n';
    for (const m of mps) {
      out += `\tname: ${JSON.stringify(m.name)}, path: ${JSON.stringify(m.path)}, readOnly: ${m.readOnly === true}\n`;
    }
  }
  const ports = manifest.app?.ports ?? [];
  if (ports.length > 0) {
    out += '\nConverted ports:\n';
    for (const p of ports) {
      out +=
        `\tname: ${JSON.stringify(p.name)}, protocol: ${JSON.stringify(p.protocol)}, port: ${p.port}, ` +
        `count: ${p.count}, socketActivated: ${p.socketActivated}\n`;
    }
  }
  out += '\nGenerated ACI(s):\n';
  for (const f of files) out += `${f}\n`;
  return out;
}

function platformOf(text: string): SourceOptions['platform'] {
  const [os, architecture, variant] = text.split('/');
  if (os === undefined || os === '' || architecture === undefined || architecture === '') {
    throw new RocketError(
      `invalid platform ${JSON.stringify(text)} (expected OS/ARCH[/VARIANT])`,
      USAGE_EXIT,
    );
  }
  return variant === undefined ? { os, architecture } : { os, architecture, variant };
}

async function convert(arg: string, flags: Flags): Promise<number> {
  const debug = flags.debug ? (line: string) => process.stderr.write(`${line}\n`) : undefined;
  if (flags.compression !== 'gzip' && flags.compression !== 'none') {
    throw new RocketError('unknown compression method');
  }
  const remote = arg.startsWith('docker://');
  const blobs: BlobMode = !remote
    ? { kind: 'reopen' }
    : flags.noLayerCache
      ? { kind: 'spool' }
      : { kind: 'cache', dir: flags.layerCache ?? defaultLayerCacheDir() };
  debug?.('Getting image info...');
  const opts: SourceOptions = {
    insecure: { http: flags.insecureAllowHttp, tls: flags.insecureSkipVerify },
  };
  if (flags.image !== undefined) opts.image = flags.image;
  if (flags.platform !== undefined) opts.platform = platformOf(flags.platform);
  const image = await resolveImage(arg, opts);
  try {
    mkdirSync(flags.outputDir, { recursive: true });
    const result = await convertImage(image, {
      outDir: flags.outputDir,
      squash: !flags.nosquash,
      compression: flags.compression,
      blobs,
      progress: remote ? progressFor(process.stderr) : undefined,
      debug,
    });
    for (const w of result.warnings) process.stderr.write(`Warning: ${w}\n`);
    process.stdout.write(
      summary(
        result.manifest,
        result.acis.map((a) => a.path),
      ),
    );
    return 0;
  } finally {
    await image.close();
  }
}

function makeProgram(): Command {
  return new Command('docker2aci')
    .usage('[-debug] [-nosquash] [-compression=(gzip|none)] IMAGE')
    .description(
      'Converts a Docker or OCI image to ACI(s). IMAGE is docker://[REGISTRY/]NAME[:TAG|@DIGEST], a docker-archive file, oci:DIR[:REF] or oci-archive:FILE[:REF].',
    )
    .argument('[IMAGE]')
    .option('--debug', 'Enables debug messages', false)
    .option('--nosquash', "Don't squash layers and output every layer as ACI", false)
    .option('--compression <method>', 'Type of compression to use; allowed values: gzip, none', 'gzip')
    .option(
      '--image <name>',
      'When converting a local file, it selects a particular image to convert. Format: IMAGE_NAME[:TAG]',
    )
    .option('--insecure-skip-verify', "Don't verify certificates when fetching images", false)
    .option('--insecure-allow-http', 'Uses unencrypted connections when fetching images', false)
    .option(
      '--experimental-oci',
      'Enable experimental OCI support (OCI manifests, layouts and archives are always converted; accepted as the reference accepts it)',
      false,
    )
    .option('-o, --output-dir <dir>', 'Directory to write the ACI(s) to', '.')
    .option(
      '--platform <os/arch[/variant]>',
      'Platform to pick from a manifest list or image index',
      undefined,
    )
    .option('--layer-cache <dir>', `Where fetched layers are kept (default ${defaultLayerCacheDir()})`)
    .option('--no-layer-cache', 'Keep fetched layers only for this conversion')
    .addOption(new Option('--version', 'Print version and exit').default(false))
    .showHelpAfterError(false)
    .action(
      async (arg: string | undefined, raw: Omit<Flags, 'layerCache'> & { layerCache?: string | false }) => {
        const { layerCache, ...rest } = raw;
        const flags: Flags = { ...rest, noLayerCache: layerCache === false };
        if (typeof layerCache === 'string') flags.layerCache = layerCache;
        if (flags.version) {
          process.stdout.write(`docker2aci version ${VERSION}\nappc version ${APPC_SPEC_VERSION}\n`);
          return;
        }
        if (arg === undefined || arg === '') {
          process.stderr.write(
            'docker2aci: missing IMAGE argument\nUsage: docker2aci [-debug] [-nosquash] [-compression=(gzip|none)] IMAGE\n',
          );
          process.exitCode = USAGE_EXIT;
          return;
        }
        try {
          process.exitCode = await convert(arg, flags);
        } catch (err) {
          if (err instanceof RocketError && err.exitCode === USAGE_EXIT) {
            process.stderr.write(`docker2aci: ${errorMessage(err)}\n`);
            process.exitCode = USAGE_EXIT;
            return;
          }
          // Whatever failed, the reference's one line and exit 1.
          process.stderr.write(`Error: conversion error: ${oneLine(err)}\n`);
          process.exitCode = 1;
        }
      },
    );
}

// Imported (for its command tree, by scripts/man.mjs), it runs nothing.
if (isMainModule(import.meta.url)) await runProgram(makeProgram(), process.argv.slice(2));

export { makeProgram as docker2aciProgram };
