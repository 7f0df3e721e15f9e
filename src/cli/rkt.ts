#!/usr/bin/env node
/**
 * rkt: the App Container runtime's command line, compatible with rkt's flags, output and exit
 * codes (254 for rkt's own failures). Verbs are added as they become real.
 */
import { Command } from 'commander';
import { RKT_FAILURE } from '../errors.js';
import { runProgram } from './run.js';
import { addGlobalOptions } from './rkt/globals.js';
import { registerImage } from './rkt/image.js';
import { registerTrust } from './rkt/trust.js';
import { registerFetch } from './rkt/fetch.js';
import { registerPods } from './rkt/pod/index.js';

function makeProgram(): Command {
  const program = addGlobalOptions(new Command('rkt').description('rkt, the application container runner'));
  registerImage(program);
  registerTrust(program);
  registerFetch(program);
  registerPods(program);
  return program;
}

const argv = process.argv.slice(2);
if (argv.length === 0) {
  // rkt's one exit status that is not 254: no subcommand at all.
  makeProgram().outputHelp({ error: true });
  process.exitCode = 2;
} else {
  await runProgram(makeProgram(), argv, RKT_FAILURE);
}
