#!/usr/bin/env node
/**
 * actool: build, validate, inspect and patch App Container Images, and run discovery.
 * Flags, messages and exit codes follow the reference Go actool (0.8.11); README lists where we
 * follow the spec instead.
 */
import { Command } from 'commander';
import { isMainModule, runProgram } from './run.js';
import { registerBuild } from './actool/build.js';
import { registerCatManifest } from './actool/cat-manifest.js';
import { registerDiscover } from './actool/discover.js';
import { registerPatchManifest } from './actool/patch-manifest.js';
import { registerValidate } from './actool/validate.js';
import { registerVersion } from './actool/version.js';

export interface ActoolGlobals {
  debug: boolean;
}

function makeProgram(): Command {
  const program = new Command('actool')
    .description('actool, the application container tool')
    .option('--debug', 'Print verbose (debug) output', false)
    .showHelpAfterError(false);
  registerBuild(program);
  registerCatManifest(program);
  registerDiscover(program);
  registerPatchManifest(program);
  registerValidate(program);
  registerVersion(program);
  return program;
}

// Imported (for its command tree, by scripts/man.mjs), it runs nothing.
if (isMainModule(import.meta.url)) await runProgram(makeProgram(), process.argv.slice(2));

export { makeProgram as actoolProgram };
