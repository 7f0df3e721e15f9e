import { Command } from 'commander';
import { action } from '../../run.js';
import { resolveImageArg, withStore } from './common.js';

export function imageExportCommand(): Command {
  return new Command('export')
    .description('Export a stored image to an ACI file')
    .argument('<image>', 'image ID or name')
    .argument('<output-aci-file>', 'where to write the uncompressed ACI')
    .option('--overwrite', 'overwrite output ACI', false)
    .action(
      action('export', async (ref: string, out: string, flags: { overwrite: boolean }, cmd: Command) => {
        await withStore(cmd, (store) => store.exportImage(resolveImageArg(store, ref), out, flags));
      }),
    );
}
