import { Command } from 'commander';
import { RKT_FAILURE, RocketError } from '../../../errors.js';
import { PodsLayout, removePod, resolveUuidPrefix } from '../../../pod/index.js';
import { action, stderrLine } from '../../run.js';
import { dataDir, podUuidArgs, verbOutput } from './common.js';

export function rmCommand(): Command {
  return new Command('rm')
    .description('Remove all files and resources associated with an exited pod')
    .usage('--uuid-file=FILE | UUID ...')
    .option('--uuid-file <file>', 'read pod UUID from file instead of argument', '')
    .argument('[uuids...]')
    .action(
      action('rm', async (uuids: string[], flags: { uuidFile: string }, cmd: Command) => {
        const dir = dataDir(cmd);
        const wanted = podUuidArgs(uuids, flags.uuidFile);
        const layout = new PodsLayout(dir);
        const out = verbOutput('rm');
        let failed = false;
        for (const prefix of wanted) {
          try {
            const uuid = resolveUuidPrefix(layout, prefix);
            await removePod(dir, uuid, { out });
            process.stdout.write(`${JSON.stringify(uuid)}\n`);
          } catch (err) {
            if (!(err instanceof RocketError)) throw err;
            failed = true;
            stderrLine(`rm: ${err.message}`);
          }
        }
        if (failed) {
          stderrLine('rm: failed to remove one or more pods');
          return RKT_FAILURE;
        }
      }),
    );
}
