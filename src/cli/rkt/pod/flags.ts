/**
 * The flag tables of the pod verbs that parse their raw command line (rkt's grammar for them does
 * not fit commander): run and prepare (src/cli/rkt/pod/run-flags.ts), run-prepared, enter and status. Help, man
 * pages and completion read them; unit tests check that each verb's parser takes exactly these.
 */
import type { Command } from 'commander';
import { RUN_PREPARED_FLAGS, runFlagDocs } from './run-flags.js';
import { setFlagTable, type FlagDoc } from '../../help.js';

export const ENTER_FLAGS: readonly FlagDoc[] = [
  { name: 'app', value: 'string', description: 'name of the app to enter within the specified pod' },
];

export const STATUS_FLAGS: readonly FlagDoc[] = [
  {
    name: 'format',
    value: 'string',
    description:
      'choose the output format, allowed format includes "json", "json-pretty". If empty, then the result is printed as key value pairs',
  },
  { name: 'uuid-file', value: 'string', description: 'read pod UUID from file instead of argument' },
  {
    name: 'wait',
    value: 'bool|duration',
    noOptValue: 'true',
    default: 'false',
    description:
      'toggles waiting for the pod to finish. Use the output to determine the actual terminal state.',
  },
  {
    name: 'wait-ready',
    value: 'bool|duration',
    noOptValue: 'true',
    default: 'false',
    description: 'toggles waiting until the pod is ready.',
  },
];

/** The tables by verb, each made when first asked for. */
const TABLES: Record<string, () => readonly FlagDoc[]> = {
  run: () => runFlagDocs('run'),
  prepare: () => runFlagDocs('prepare'),
  'run-prepared': () => runFlagDocs('run', RUN_PREPARED_FLAGS),
  enter: () => ENTER_FLAGS,
  status: () => STATUS_FLAGS,
};

export function podFlagTable(verb: string): readonly FlagDoc[] | undefined {
  return Object.hasOwn(TABLES, verb) ? TABLES[verb]?.() : undefined;
}

/** Gives a hand-parsing verb its table (made when first needed); other commands are returned unchanged. */
export function withPodFlagTable(cmd: Command): Command {
  const make = Object.hasOwn(TABLES, cmd.name()) ? TABLES[cmd.name()] : undefined;
  return make === undefined ? cmd : setFlagTable(cmd, make);
}
