import type { Command } from 'commander';
import { buildAci } from '../../aci/index.js';
import { action, stderrLine } from '../run.js';

export function registerBuild(program: Command): void {
  program
    .command('build')
    .description('Build an ACI from an Image Layout')
    .usage('[--overwrite] [--no-compression] [--owner-root] DIRECTORY OUTPUT_FILE')
    .option('--overwrite', 'Overwrite target file if it already exists', false)
    .option('--no-compression', 'Do not gzip-compress the produced ACI')
    .option('--owner-root', 'Force ownership to root:root on all files', false)
    .argument('[args...]')
    .action(
      action(
        'build',
        async (args: string[], opts: { overwrite: boolean; compression: boolean; ownerRoot: boolean }) => {
          const [dir, out] = args;
          if (args.length !== 2 || dir === undefined || out === undefined) {
            stderrLine('build: Must provide directory and output file');
            return 1;
          }
          const result = await buildAci(dir, out, {
            compression: opts.compression ? 'gzip' : 'none',
            ownerRoot: opts.ownerRoot,
            overwrite: opts.overwrite,
          });
          for (const w of result.warnings) stderrLine(`build: Warning: ${w}`);
          return 0;
        },
      ),
    );
}
