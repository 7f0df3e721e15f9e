#!/usr/bin/env node
/**
 * rkt: the App Container runtime's command line, compatible with rkt's flags, output and exit
 * codes (254 for rkt's own failures). Verbs are added as they become real.
 */
import { startupSnapshot } from 'node:v8';
import { Command } from 'commander';
import { RKT_FAILURE } from '../errors.js';
import { runProgram } from './run.js';
import { addGlobalOptions } from './rkt/globals.js';
import { registerImage } from './rkt/image.js';
import { registerTrust } from './rkt/trust.js';
import { registerFetch } from './rkt/fetch.js';
import { registerPods } from './rkt/pod/index.js';
import { metadataServiceCommand } from './rkt/metadata-service.js';
import { apiServiceCommand } from './rkt/api-service.js';
import { criServiceCommand } from './rkt/cri-service.js';
import { logsCommand } from './rkt/logs.js';
import { versionCommand } from './rkt/version.js';
import { completionCommand } from './rkt/completion.js';
import { configCommand } from './rkt/config.js';
import { describe, helpRequest, helpText, type CommandDoc } from './help.js';
import { isMainModule } from './run.js';

/**
 * rkt's command tree. Every verb's flags are declared here (commander options) or in the verb's own
 * flag table (src/cli/help.ts, setFlagTable): the parser, `--help`, the man pages
 * (scripts/man.mjs) and the shell completion all read them from this tree.
 */
export function makeProgram(): Command {
  const program = addGlobalOptions(new Command('rkt').description('rkt, the application container runner'));
  registerImage(program);
  registerTrust(program);
  registerFetch(program);
  registerPods(program);
  program.addCommand(completionCommand());
  program.addCommand(configCommand());
  program.addCommand(metadataServiceCommand());
  program.addCommand(apiServiceCommand());
  program.addCommand(criServiceCommand());
  program.addCommand(logsCommand());
  program.addCommand(versionCommand());
  return program;
}

/**
 * The command tree's description, made while stage0's startup snapshot is built (rkt-snapshot.ts):
 * telling a help request from any other command line then needs no tree at start. The help itself
 * is written from a tree made at the time.
 */
let snapshotDoc: CommandDoc | undefined;

export function describeForSnapshot(): void {
  snapshotDoc = describe(makeProgram());
}

/**
 * bin/rkt starts Node with glibc's malloc on huge pages (`GLIBC_TUNABLES`, with `ROCKET_TUNABLES=1`
 * when the value is the launcher's, not the user's): it is for Node's start alone, so it is removed
 * before stage0 starts anything (a child, `--inherit-env`, the plan).
 */
export function dropLauncherTunables(env: NodeJS.ProcessEnv): void {
  if (env['ROCKET_TUNABLES'] === '1') delete env['GLIBC_TUNABLES'];
  delete env['ROCKET_TUNABLES'];
}

/** Runs one rkt command line (without node and script); sets process.exitCode. */
export async function main(argv: readonly string[]): Promise<void> {
  dropLauncherTunables(process.env);
  // Help as rkt's cobra gave it, for every command (src/cli/help.ts).
  let help = argv.length === 0 ? undefined : helpRequest(argv, snapshotDoc ?? describe(makeProgram()));
  if (help !== undefined && snapshotDoc !== undefined) help = helpRequest(argv, describe(makeProgram()));
  if (help !== undefined) {
    if (help.unknown !== undefined) process.stdout.write(`Unknown help topic [\`${help.unknown}\`]\n`);
    process.stdout.write(helpText(help.doc));
    process.exitCode = 0;
    return;
  }
  if (argv.length === 0) {
    // rkt's one exit status that is not 254: no subcommand at all.
    process.stderr.write(helpText(describe(makeProgram())));
    process.exitCode = 2;
    return;
  }
  await runProgram(makeProgram(), argv, RKT_FAILURE);
}

// Imported by stage0's snapshot entry (src/cli/rkt-snapshot.ts), which calls main itself, and by
// scripts/man.mjs for the command tree.
if (!startupSnapshot.isBuildingSnapshot() && isMainModule(import.meta.url)) void main(process.argv.slice(2));
