#!/usr/bin/env node
/**
 * rkt: the App Container runtime's command line, compatible with rkt's flags, output and exit
 * codes (254 for rkt's own failures). Verbs are added as they become real.
 */
import { startupSnapshot } from 'node:v8';
import { RKT_FAILURE } from '../errors.js';
import { describe, findCommand, helpText, type CommandDoc } from './help.js';
import { runProgram } from './run.js';
import { makeProgram } from './rkt/program.js';

/** Verbs whose flags end at their first argument (what follows belongs to the app's command). */
const FLAGS_END_AT_ARGUMENT = new Set(['enter']);

/**
 * What a command line asks help for, as rkt's cobra answered: `rkt help [CMD...]`, or `-h`/`--help`
 * among a command's flags (not after `--`). undefined when it asks for none; `unknown` names a
 * `rkt help` topic that is no command.
 */
export function helpRequest(
  argv: readonly string[],
  root: CommandDoc,
): { doc: CommandDoc; unknown?: string } | undefined {
  const valueFlags = new Set(
    root.flags.filter((f) => f.value !== undefined && f.noOptValue === undefined).map((f) => `--${f.name}`),
  );
  const words: string[] = [];
  let i = 0;
  // The command's words, with rkt's global flags before or among them.
  for (; i < argv.length; i++) {
    const a = argv[i] as string;
    if (a === '--') break;
    if (a.startsWith('-')) {
      if (a === '-h' || a === '--help') return { doc: findCommand(root, words).doc };
      if (valueFlags.has(a)) i++;
      continue;
    }
    const found = findCommand(root, words.length === 0 && a === 'help' ? [] : [...words, a]);
    if (words.length === 0 && a === 'help') {
      const topic = argv.slice(i + 1).filter((w) => !w.startsWith('-'));
      const t = findCommand(root, topic);
      return t.used === topic.length ? { doc: t.doc } : { doc: root, unknown: topic.join(' ') };
    }
    if (found.used !== words.length + 1) break;
    words.push(a);
  }
  const doc = findCommand(root, words).doc;
  const verb = words[words.length - 1] ?? '';
  let positional = false;
  for (; i < argv.length; i++) {
    const a = argv[i] as string;
    if (a === '--') break;
    if (a === '-h' || a === '--help') return { doc };
    if (!a.startsWith('-')) positional = true;
    if (FLAGS_END_AT_ARGUMENT.has(verb) && !a.startsWith('-') && argv[i - 1] !== '--app') break;
  }
  // A command that only groups others (`rkt image`), given none: its help, as cobra did.
  if (words.length > 0 && doc.subcommands.length > 0 && !positional) return { doc };
  return undefined;
}

/** Runs one rkt command line (without node and script); sets process.exitCode. */
export async function main(argv: readonly string[]): Promise<void> {
  const program = makeProgram();
  if (argv.length === 0) {
    // rkt's one exit status that is not 254: no subcommand at all.
    process.stderr.write(helpText(describe(program)));
    process.exitCode = 2;
    return;
  }
  const help = helpRequest(argv, describe(program));
  if (help !== undefined) {
    if (help.unknown !== undefined) process.stdout.write(`Unknown help topic [\`${help.unknown}\`]\n`);
    process.stdout.write(helpText(help.doc));
    process.exitCode = 0;
    return;
  }
  await runProgram(program, argv, RKT_FAILURE);
}

// Imported by stage0's snapshot entry (src/cli/rkt-snapshot.ts), which calls main itself.
if (!startupSnapshot.isBuildingSnapshot()) void main(process.argv.slice(2));
