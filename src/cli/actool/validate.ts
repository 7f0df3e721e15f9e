import { readFile, stat } from 'node:fs/promises';
import type { Command } from 'commander';
import { sniffFile, validateArchive, validateLayout } from '../../aci/index.js';
import { manifestKind, parseImageManifest, parsePodManifest } from '../../appc/index.js';
import { RocketError, errorMessage } from '../../errors.js';
import { action, stderrLine } from '../run.js';

const TYPES = ['appimage', 'layout', 'manifest'] as const;
type ValidateType = (typeof TYPES)[number];

/** A message that already names the file is not prefixed with it again. */
function aboutFile(path: string, err: unknown): string {
  const msg = errorMessage(err);
  return msg.startsWith(`${path}: `) ? msg.slice(path.length + 2) : msg;
}

/** The reference's auto-detection: an archive by its magic bytes, a manifest if it is text. */
async function detectType(path: string): Promise<ValidateType | undefined> {
  switch (await sniffFile(path)) {
    case 'gzip':
    case 'bzip2':
    case 'xz':
    case 'zstd':
    case 'tar':
      return 'appimage';
    case 'text':
      return 'manifest';
    case 'unknown':
      return undefined;
  }
}

async function validateOne(
  path: string,
  requested: ValidateType | undefined,
  debug: boolean,
): Promise<number> {
  let info;
  try {
    info = await stat(path);
  } catch (err) {
    throw new RocketError(`unable to access ${path}: ${errorMessage(err)}`);
  }
  let type = requested;
  if (info.isDirectory()) {
    if (type !== undefined && type !== 'layout')
      throw new RocketError(`${path} is a directory (wrong --type?)`);
    type = 'layout';
  }
  type ??= await detectType(path);
  switch (type) {
    case 'layout':
      try {
        const { warnings } = await validateLayout(path);
        for (const w of warnings) stderrLine(`${path}: warning: ${w}`);
      } catch (err) {
        if (!(err instanceof RocketError)) throw err;
        stderrLine(`${path}: invalid image layout: ${aboutFile(path, err)}`);
        return 1;
      }
      if (debug) stderrLine(`${path}: valid image layout`);
      return 0;
    case 'appimage':
      try {
        const { warnings } = await validateArchive(path);
        for (const w of warnings) stderrLine(`${path}: warning: ${w}`);
      } catch (err) {
        if (!(err instanceof RocketError)) throw err;
        stderrLine(`${path}: error validating: ${aboutFile(path, err)}`);
        return 1;
      }
      if (debug) stderrLine(`${path}: valid app container image`);
      return 0;
    case 'manifest':
      return validateManifestFile(path, debug);
    default:
      throw new RocketError(`${path}: unable to detect filetype (try --type)`);
  }
}

async function validateManifestFile(path: string, debug: boolean): Promise<number> {
  const text = await readFile(path, 'utf8');
  let kind;
  try {
    kind = manifestKind(text);
  } catch (err) {
    if (!(err instanceof RocketError)) throw err;
    throw new RocketError(`${path}: error unmarshaling manifest: ${err.message}`);
  }
  try {
    const { warnings } = kind === 'ImageManifest' ? parseImageManifest(text) : parsePodManifest(text);
    for (const w of warnings) stderrLine(`${path}: warning: ${w}`);
  } catch (err) {
    if (!(err instanceof RocketError)) throw err;
    stderrLine(`${path}: invalid ${kind}: ${err.message}`);
    return 1;
  }
  if (debug) stderrLine(`${path}: valid ${kind}`);
  return 0;
}

export function registerValidate(program: Command): void {
  program
    .command('validate')
    .description('Validate that one or more images or manifests meet the AppContainer specification')
    .usage('[--type=TYPE] FILE...')
    .option('--type <type>', `Type of file to validate; detected if unset. One of "${TYPES.join(',')}"`)
    .argument('[files...]')
    .action(
      action('validate', async (files: string[], opts: { type?: string }) => {
        if (files.length === 0) throw new RocketError('must pass one or more files');
        const requested = opts.type === undefined || opts.type === '' ? undefined : opts.type;
        if (requested !== undefined && !(TYPES as readonly string[]).includes(requested)) {
          throw new RocketError(`unknown --type ${JSON.stringify(requested)}: one of ${TYPES.join(', ')}`, 2);
        }
        const debug = program.opts<{ debug: boolean }>().debug;
        let exit = 0;
        for (const path of files) {
          if ((await validateOne(path, requested as ValidateType | undefined, debug)) !== 0) exit = 1;
        }
        return exit;
      }),
    );
}
