import { Command } from 'commander';
import { action } from '../../run.js';
import { dataDir } from './common.js';

/** `rkt export [--app=NAME] [--overwrite] UUID OUTPUT.aci`: an exited pod's app as an ACI. */
export function exportCommand(): Command {
  return new Command('export')
    .description('Export an app from an exited pod to an ACI file')
    .usage('[--app=APPNAME] [--overwrite] UUID OUTPUT_ACI_FILE')
    .option('--app <name>', 'name of the app to export within the specified pod')
    .option('--overwrite', 'overwrite output ACI', false)
    .argument('<uuid>')
    .argument('<output-aci-file>')
    .action(
      action(
        'export',
        async (uuid: string, out: string, flags: { app?: string; overwrite: boolean }, cmd: Command) => {
          const { exportPod } = await import('../../../pod/export.js');
          await exportPod(dataDir(cmd), uuid, out, {
            overwrite: flags.overwrite,
            ...(flags.app !== undefined ? { app: flags.app } : {}),
          });
        },
      ),
    );
}
