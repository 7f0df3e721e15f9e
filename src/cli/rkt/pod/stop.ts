import { Command } from 'commander';
import { RKT_FAILURE, RocketError } from '../../../errors.js';
import { action, stderrLine } from '../../run.js';
import { dataDir, podUuidArgs } from './common.js';

/** `rkt stop [--force] [--uuid-file=F] UUID...`: graceful SIGTERM to every app, or SIGKILL. */
export function stopCommand(): Command {
  return new Command('stop')
    .description('Stop a pod')
    .usage('[--force] [--uuid-file=FILE] UUID ...')
    .option('--force', 'forced stopping', false)
    .option('--uuid-file <file>', 'read pod UUID from file instead of argument', '')
    .argument('[uuids...]')
    .action(
      action('stop', async (uuids: string[], flags: { force: boolean; uuidFile: string }, cmd: Command) => {
        const { getSettledPod } = await import('../../../pod/index.js');
        const { loadEngineForPod } = await import('../../../stage1/engines.js');
        const wanted = podUuidArgs(uuids, flags.uuidFile);
        let failed = 0;
        for (const u of wanted) {
          try {
            const pod = await getSettledPod(dataDir(cmd), u);
            // rkt: a pod that has already finished is not an error (said on stdout, as rkt did).
            if (pod.state === 'exited' || pod.state === 'exited garbage') {
              process.stdout.write(`pod ${JSON.stringify(pod.uuid)} is already stopped\n`);
              continue;
            }
            if (pod.state !== 'running') throw new RocketError(`pod ${pod.uuid} is not running`, RKT_FAILURE);
            (await loadEngineForPod(pod)).stop({ pod, force: flags.force });
            // rkt prints each stopped pod's UUID quoted, as `rkt rm` does.
            process.stdout.write(`${JSON.stringify(pod.uuid)}\n`);
          } catch (err) {
            if (!(err instanceof RocketError)) throw err;
            stderrLine(`stop: error stopping ${JSON.stringify(u)}: ${err.message}`);
            failed++;
          }
        }
        // rkt's closing line when any pod could not be stopped.
        if (failed > 0) stderrLine(`stop: failed to stop ${failed} pod(s)`);
        return failed > 0 ? RKT_FAILURE : 0;
      }),
    );
}
