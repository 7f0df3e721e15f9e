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

function makeProgram(): Command {
  const program = addGlobalOptions(new Command('rkt').description('rkt, the application container runner'));
  registerImage(program);
  registerTrust(program);
  registerFetch(program);
  registerPods(program);
  program.addCommand(metadataServiceCommand());
  program.addCommand(apiServiceCommand());
  program.addCommand(criServiceCommand());
  program.addCommand(logsCommand());
  program.addCommand(versionCommand());
  return program;
}

/** Runs one rkt command line (without node and script); sets process.exitCode. */
export async function main(argv: readonly string[]): Promise<void> {
  if (argv.length === 0) {
    // rkt's one exit status that is not 254: no subcommand at all.
    makeProgram().outputHelp({ error: true });
    process.exitCode = 2;
    return;
  }
  await runProgram(makeProgram(), argv, RKT_FAILURE);
}

// Imported by stage0's snapshot entry (src/cli/rkt-snapshot.ts), which calls main itself.
if (!startupSnapshot.isBuildingSnapshot()) void main(process.argv.slice(2));
