import { lstat, readdir, readFile, stat } from 'node:fs/promises';
import { join } from 'node:path';
import type { Readable } from 'node:stream';
import { parseImageManifest, type ImageManifest } from '../appc/index.js';
import { RocketError } from '../errors.js';
import type { Compression } from './compression.js';
import { ArchiveChecker, MANIFEST, ROOTFS } from './paths.js';
import { readAci, readManifestBody } from './read.js';
import type { TarHeader } from './tar-format.js';

export interface ArchiveValidation {
  imageId: string;
  compression: Compression;
  manifest: ImageManifest;
  /** The manifest entry's bytes, verbatim. */
  manifestBytes: Buffer;
  warnings: string[];
}

export interface LayoutValidation {
  manifest: ImageManifest;
  manifestBytes: Buffer;
  /** mtime of the manifest file (seconds), which `buildAci` uses for the manifest entry. */
  manifestMtime: number;
  warnings: string[];
}

/** Parses manifest bytes the way every reader here does (source names the file in messages). */
export function parseManifestBytes(
  bytes: Buffer,
  source: string,
): { manifest: ImageManifest; warnings: string[] } {
  return parseImageManifest(bytes.toString('utf8'), `${source}: manifest`);
}

/**
 * Validates an ACI (path or byte stream) in one streaming pass: archive rules (see ArchiveChecker),
 * the manifest, and the image ID of the whole decompressed stream.
 */
export async function validateArchive(
  input: string | Readable,
  source?: string,
  opts: { onHeader?: (h: TarHeader) => void } = {},
): Promise<ArchiveValidation> {
  const name = source ?? (typeof input === 'string' ? input : 'image');
  const checker = new ArchiveChecker(name);
  let manifestBytes: Buffer | undefined;
  const { imageId, compression } = await readAci(
    input,
    async (entry, body) => {
      opts.onHeader?.(entry.header);
      const role = checker.check(entry.header);
      if (role.kind === 'manifest') {
        manifestBytes = await readManifestBody(name, entry.header.type, entry.header.size, body);
      }
    },
    { source: name },
  );
  checker.finish();
  if (manifestBytes === undefined || imageId === undefined) {
    throw new RocketError(`${name}: no image manifest found in archive`);
  }
  const { manifest, warnings } = parseManifestBytes(manifestBytes, name);
  return { imageId, compression, manifest, manifestBytes, warnings };
}

/**
 * Validates an image layout directory: exactly `manifest` (a regular file, symlinks followed) and
 * `rootfs` (a real directory) at the top, and a valid manifest. Only the top level is read (REF walks
 * the whole tree to find nothing more). STRICTER THAN REF: `rootfsfoo` next to `rootfs` is refused.
 */
export async function validateLayout(dir: string): Promise<LayoutValidation> {
  let names: string[];
  try {
    const st = await stat(dir);
    if (!st.isDirectory()) throw new RocketError(`${dir}: not a directory`);
    names = await readdir(dir);
  } catch (err) {
    if (err instanceof RocketError) throw err;
    throw new RocketError(
      `${dir}: error accessing layout: ${(err as NodeJS.ErrnoException).code ?? String(err)}`,
    );
  }
  names.sort();
  for (const n of names) {
    if (n !== MANIFEST && n !== ROOTFS) {
      throw new RocketError(`${dir}: unrecognized file path in layout: ${JSON.stringify(n)}`);
    }
  }
  if (!names.includes(MANIFEST)) throw new RocketError(`${dir}: no image manifest found in layout`);
  if (!names.includes(ROOTFS)) throw new RocketError(`${dir}: no rootfs found in layout`);
  const manifestPath = join(dir, MANIFEST);
  const mst = await stat(manifestPath).catch((err: NodeJS.ErrnoException) => {
    throw new RocketError(`${manifestPath}: cannot read manifest: ${err.code ?? String(err)}`);
  });
  if (!mst.isFile()) throw new RocketError(`${manifestPath}: manifest is not a regular file`);
  const rst = await lstat(join(dir, ROOTFS));
  if (!rst.isDirectory()) throw new RocketError(`${join(dir, ROOTFS)}: rootfs is not a directory`);
  const manifestBytes = await readFile(manifestPath);
  const { manifest, warnings } = parseImageManifest(manifestBytes.toString('utf8'), manifestPath);
  return { manifest, manifestBytes, manifestMtime: mst.mtimeMs / 1000, warnings };
}
