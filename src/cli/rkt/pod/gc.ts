import { Command, Option } from 'commander';
import { gcPods } from '../../../pod/index.js';
import { goDurationMsParser } from '../../format/duration.js';
import { action } from '../../run.js';
import { dataDir, verbOutput } from './common.js';

export function gcCommand(): Command {
  return new Command('gc')
    .description('Garbage collect rkt pods no longer in use')
    .addOption(
      new Option('--grace-period <duration>', 'duration to wait before discarding inactive pods from garbage')
        .argParser(goDurationMsParser)
        .default(30 * 60 * 1000, '30m0s'),
    )
    .addOption(
      new Option('--expire-prepared <duration>', 'duration to wait before expiring prepared pods')
        .argParser(goDurationMsParser)
        .default(24 * 60 * 60 * 1000, '24h0m0s'),
    )
    .option(
      '--mark-only',
      'if set to true, then the exited/aborted pods are moved to the garbage directories without actually deleting them',
      false,
    )
    .action(
      action(
        'gc',
        async (flags: { gracePeriod: number; expirePrepared: number; markOnly: boolean }, cmd: Command) => {
          const res = await gcPods(dataDir(cmd), {
            gracePeriodMs: flags.gracePeriod,
            expirePreparedMs: flags.expirePrepared,
            markOnly: flags.markOnly,
            out: verbOutput('gc'),
          });
          // The run templates bin/rkt answers `rkt run` from (src/pod/run-template.ts): the next run
          // goes through Node and writes its template anew.
          const { clearRunTemplates } = await import('../../../pod/run-template.js');
          try {
            clearRunTemplates(dataDir(cmd));
          } catch {
            // A cache: a template left here is still checked at each use; the next gc tries again.
          }
          return res.failed.length > 0 ? 254 : 0;
        },
      ),
    );
}
