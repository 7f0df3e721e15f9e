import { readFile } from 'node:fs/promises';
import type { Command } from 'commander';
import { readManifestBytes, rewriteManifest } from '../../aci/index.js';
import {
  imageManifestToJSON,
  isACIdentifier,
  parseImageManifest,
  parseMountPointString,
  parsePortString,
  type App,
  type ImageManifest,
  type Isolator,
  type JsonValue,
} from '../../appc/index.js';
import { RocketError, errorMessage } from '../../errors.js';
import { action } from '../run.js';

export interface PatchOptions {
  manifest?: string;
  name?: string;
  exec?: string;
  user?: string;
  group?: string;
  supplementaryGroups?: string;
  capability?: string;
  revokeCapability?: string;
  mounts?: string;
  ports?: string;
  isolators?: string;
  seccompMode?: string;
  seccompSet?: string;
}

const CAPABILITY_ISOLATORS = ['os/linux/capabilities-retain-set', 'os/linux/capabilities-remove-set'];
const SECCOMP_ISOLATORS = ['os/linux/seccomp-remove-set', 'os/linux/seccomp-retain-set'];
/** The isolators the reference lets `--isolators` add (seccomp has its own flags). */
const PATCHABLE_RESOURCES = new Set([
  'resource/cpu',
  'resource/memory',
  'resource/block-bandwidth',
  'resource/block-iops',
  'resource/network-bandwidth',
]);
const PATCHABLE_SCALARS = new Set(['os/linux/no-new-privileges', 'os/linux/oom-score-adj']);

function replaceIsolators(app: App, names: readonly string[], isolator: Isolator): void {
  app.isolators = [...(app.isolators ?? []).filter((i) => !names.includes(i.name)), isolator];
}

/** `resource/cpu,request=50m,limit=100m` or `os/linux/oom-score-adj,5` as an isolator. */
function isolatorFromString(spec: string): Isolator {
  const [name = '', ...rest] = spec.split(',');
  if (!isACIdentifier(name)) throw new RocketError(`cannot parse isolator ${JSON.stringify(spec)}: bad name`);
  if (PATCHABLE_SCALARS.has(name)) {
    if (rest.length !== 1) throw new RocketError(`isolator ${name}: invalid format`);
    let value: JsonValue;
    try {
      value = JSON.parse(rest[0] ?? '') as JsonValue;
    } catch {
      throw new RocketError(`isolator ${name}: value ${JSON.stringify(rest[0])} is not JSON`);
    }
    return { name, value };
  }
  if (!PATCHABLE_RESOURCES.has(name)) throw new RocketError(`isolator ${name} is not supported for patching`);
  const value: Record<string, JsonValue> = {};
  for (const kv of rest) {
    const eq = kv.indexOf('=');
    const key = eq < 0 ? kv : kv.slice(0, eq);
    if (key in value)
      throw new RocketError(`cannot parse isolator ${JSON.stringify(spec)}: ${key} given twice`);
    const raw = eq < 0 ? '' : kv.slice(eq + 1);
    value[key] = key === 'default' ? raw === 'true' : raw;
  }
  return { name, value };
}

function seccompIsolator(mode: string, set: string | undefined): Isolator {
  let errno: string | undefined;
  let kind: string | undefined;
  for (const part of mode.split(',')) {
    const kv = part.split('=');
    if (kv.length === 1) kind = kv[0];
    else if (kv.length === 2 && kv[0] === 'errno') errno = kv[1];
    else throw new RocketError(`invalid seccomp-mode argument: ${part}`);
  }
  if (kind !== 'remove' && kind !== 'retain') throw new RocketError(`unknown seccomp mode ${kind ?? ''}`);
  const value: Record<string, JsonValue> = { set: (set ?? '').split(',') };
  if (errno !== undefined) value.errno = errno;
  return { name: `os/linux/seccomp-${kind}-set`, value };
}

/** Applies the flags to a parsed manifest, as the reference actool does; validation comes after. */
export function patchManifest(im: ImageManifest, o: PatchOptions): ImageManifest {
  const m: ImageManifest = structuredClone(im);
  if (o.name) {
    if (!isACIdentifier(o.name))
      throw new RocketError(`--name: ${JSON.stringify(o.name)} is not an AC Identifier`);
    m.name = o.name;
  }
  if (o.exec) {
    m.app ??= { user: '', group: '' };
    m.app.exec = o.exec.split(' ');
  }
  const needsApp =
    o.user || o.group || o.supplementaryGroups || o.capability || o.revokeCapability || o.mounts || o.ports;
  const app = m.app;
  if (!app) {
    if (needsApp || o.isolators || o.seccompMode) {
      throw new RocketError('no app in the supplied manifest and no exec command provided');
    }
    return m;
  }
  if (o.user) app.user = o.user;
  if (o.group) app.group = o.group;
  if (o.supplementaryGroups) {
    app.supplementaryGIDs = o.supplementaryGroups.split(',').map((g) => {
      if (!/^-?\d+$/.test(g)) throw new RocketError(`invalid supplementary group ${JSON.stringify(g)}`);
      return Number(g);
    });
  }
  if (o.capability && o.revokeCapability)
    throw new RocketError('conflicting capabilities isolators provided');
  if (o.capability) {
    replaceIsolators(app, CAPABILITY_ISOLATORS, {
      name: 'os/linux/capabilities-retain-set',
      value: { set: o.capability.split(',') },
    });
  }
  if (o.revokeCapability) {
    replaceIsolators(app, CAPABILITY_ISOLATORS, {
      name: 'os/linux/capabilities-remove-set',
      value: { set: o.revokeCapability.split(',') },
    });
  }
  if (o.mounts) {
    app.mountPoints = [
      ...(app.mountPoints ?? []),
      ...o.mounts.split(':').map((s) => parseMountPointString(s)),
    ];
  }
  if (o.ports) app.ports = [...(app.ports ?? []), ...o.ports.split(':').map((s) => parsePortString(s))];
  if (o.seccompMode) replaceIsolators(app, SECCOMP_ISOLATORS, seccompIsolator(o.seccompMode, o.seccompSet));
  else if (o.seccompSet) throw new RocketError('--seccomp-set specified without --seccomp-mode');
  if (o.isolators)
    app.isolators = [...(app.isolators ?? []), ...o.isolators.split(':').map(isolatorFromString)];
  return m;
}

interface CliOptions extends PatchOptions {
  overwrite: boolean;
  compression: boolean;
  replace: boolean;
}

async function newManifestBytes(input: string, o: PatchOptions): Promise<Buffer> {
  if (o.manifest) {
    // Unlike the reference, which writes the given bytes unchecked, an invalid replacement is refused.
    const bytes = await readFile(o.manifest).catch((err: unknown) => {
      throw new RocketError(`Cannot open ${o.manifest}: ${errorMessage(err)}`);
    });
    parseImageManifest(bytes.toString('utf8'), o.manifest);
    return bytes;
  }
  const current = parseImageManifest((await readManifestBytes(input)).toString('utf8'), `${input}: manifest`);
  const patched = patchManifest(current.manifest, o);
  const text = imageManifestToJSON(patched);
  // Re-parse: every flag's value goes through the same validation as any manifest.
  parseImageManifest(text, 'patched manifest');
  return Buffer.from(text);
}

export function registerPatchManifest(program: Command): void {
  program
    .command('patch-manifest')
    .description('Copy an ACI and patch its manifest')
    .usage('[flags] INPUT_ACI_FILE [OUTPUT_ACI_FILE]')
    .option('--overwrite', 'Overwrite target file if it already exists', false)
    .option('--no-compression', 'Do not gzip-compress the produced ACI')
    .option('--replace', 'Replace the input file', false)
    .option(
      '--manifest <file>',
      'Replace image manifest with this file. Incompatible with other replace options.',
    )
    .option('--name <name>', 'Replace name')
    .option('--exec <cmdline>', 'Replace the command line to launch the executable')
    .option('--user <uid>', 'Replace user')
    .option('--group <gid>', 'Replace group')
    .option('--supplementary-groups <gids>', 'Replace supplementary groups, expects a comma-separated list.')
    .option('--capability <caps>', 'Set the capability remain set')
    .option('--revoke-capability <caps>', 'Set the capability remove set')
    .option('--mounts <mounts>', 'Replace mount points')
    .option('--ports <ports>', 'Replace ports')
    .option('--isolators <isolators>', 'Replace isolators')
    .option('--seccomp-mode <mode>', 'Enable and configure seccomp isolator')
    .option('--seccomp-set <syscalls>', 'Set of syscalls for seccomp isolator enforcing')
    .argument('[args...]')
    .action(
      action('patch-manifest', async (args: string[], o: CliOptions) => {
        if (o.replace && o.overwrite) throw new RocketError('Cannot use both --replace and --overwrite');
        if (!o.replace && args.length !== 2) {
          throw new RocketError('Must provide input and output files (or use --replace)');
        }
        if (o.replace && args.length !== 1) throw new RocketError('Must provide one file');
        const editing = o.name || o.exec || o.user || o.group || o.capability || o.mounts;
        if (o.manifest && editing) {
          throw new RocketError('--manifest is incompatible with other manifest editing options');
        }
        const input = args[0] ?? '';
        const output = o.replace ? input : (args[1] ?? '');
        if (!output.endsWith('.aci')) {
          const dot = output.lastIndexOf('.');
          throw new RocketError(`Extension must be .aci (given ${dot < 0 ? '' : output.slice(dot)})`);
        }
        const bytes = await newManifestBytes(input, o);
        await rewriteManifest(input, output, bytes, {
          compression: o.compression ? 'gzip' : 'none',
          overwrite: o.replace || o.overwrite,
        });
        return 0;
      }),
    );
}
