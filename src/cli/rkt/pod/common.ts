import { readFileSync } from 'node:fs';
import type { Command } from 'commander';
import { RKT_FAILURE, RocketError, errorMessage } from '../../../errors.js';
import type { Store } from '../../../store/index.js';
import { normalizeGoFlags } from '../../run.js';
import type { GcOutput } from '../../../pod/index.js';

/** rkt's global flags that take a value (to find the verb in the raw command line). */
const GLOBAL_VALUE_FLAGS = new Set([
  '--dir',
  '--system-config',
  '--local-config',
  '--user-config',
  '--insecure-options',
  '--max-image-size',
]);

/**
 * The arguments after `verb`, exactly as given. rkt's run/prepare grammar (per-app flags, `--`,
 * `---`) cannot go through commander, which drops `--` and reorders options; so the verb reads
 * the raw command line, skipping the global flags before it.
 */
export function rawArgsAfterVerb(verb: string, argv: readonly string[] = process.argv.slice(2)): string[] {
  // The global flags before the verb in any spelling commander took; what follows the verb as
  // given, since it may end in an app's own command line (`rkt enter UUID ls -la`).
  const args = normalizeGoFlags(argv);
  for (let i = 0; i < args.length; i++) {
    const a = args[i] as string;
    if (a === verb) return argv.slice(i + 1);
    if (a.startsWith('--')) {
      if (!a.includes('=') && GLOBAL_VALUE_FLAGS.has(a)) i++;
      continue;
    }
    break;
  }
  throw new RocketError(`cannot find ${verb} in the command line`, RKT_FAILURE);
}

/** Output with rkt's conventions: stderr lines prefixed by the verb, stdout lines as they are. */
export function verbOutput(verb: string): GcOutput {
  return {
    stdout: (line) => process.stdout.write(line + '\n'),
    stderr: (line) => process.stderr.write(`${verb}: ${line}\n`),
  };
}

export async function openStore(dir: string): Promise<Store> {
  const { Store } = await import('../../../store/index.js');
  try {
    return Store.open(dir);
  } catch (err) {
    throw new RocketError(`cannot open store: ${errorMessage(err)}`, RKT_FAILURE, { cause: err });
  }
}

/** The data dir from the global flags. */
export function dataDir(cmd: Command): string {
  return cmd.optsWithGlobals<{ dir: string }>().dir;
}

/** The pods a verb acts on: UUID arguments, or the one in `--uuid-file` (rkt allows not both). */
export function podUuidArgs(uuids: readonly string[], uuidFile: string): string[] {
  if (uuidFile === '') {
    if (uuids.length === 0) throw new RocketError('must provide at least one UUID', RKT_FAILURE);
    return [...uuids];
  }
  if (uuids.length > 0) throw new RocketError('cannot use both --uuid-file and UUID arguments', RKT_FAILURE);
  return [readUuidFile(uuidFile)];
}

/** The pod UUID in a `--uuid-file` (as `--uuid-file-save` wrote it). */
export function readUuidFile(uuidFile: string): string {
  try {
    return readFileSync(uuidFile, 'utf8').trim();
  } catch (err) {
    throw new RocketError(`unable to resolve UUID from file: ${errorMessage(err)}`, RKT_FAILURE);
  }
}
