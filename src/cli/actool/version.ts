import type { Command } from 'commander';
import { APPC_SPEC_VERSION } from '../../appc/index.js';

export function registerVersion(program: Command): void {
  program
    .command('version')
    .description('Print the version and exit')
    .action(() => {
      process.stdout.write(`actool version ${APPC_SPEC_VERSION}\n`);
    });
}
