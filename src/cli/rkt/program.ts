/**
 * rkt's command tree. Every verb's flags are declared here (commander options) or in the verb's own
 * flag table (src/cli/help.ts, setFlagTable): the parser, `--help`, the man pages and the shell
 * completion all read them from this tree.
 */
import { Command } from 'commander';
import { addGlobalOptions } from './globals.js';
import { registerImage } from './image.js';
import { registerTrust } from './trust.js';
import { registerFetch } from './fetch.js';
import { registerPods } from './pod/index.js';
import { metadataServiceCommand } from './metadata-service.js';
import { apiServiceCommand } from './api-service.js';
import { logsCommand } from './logs.js';
import { versionCommand } from './version.js';
import { completionCommand } from './completion.js';
import { configCommand } from './config.js';

export function makeProgram(): Command {
  const program = addGlobalOptions(new Command('rkt').description('rkt, the application container runner'));
  registerImage(program);
  registerTrust(program);
  registerFetch(program);
  registerPods(program);
  program.addCommand(metadataServiceCommand());
  program.addCommand(apiServiceCommand());
  program.addCommand(logsCommand());
  program.addCommand(versionCommand());
  program.addCommand(completionCommand());
  program.addCommand(configCommand());
  return program;
}
