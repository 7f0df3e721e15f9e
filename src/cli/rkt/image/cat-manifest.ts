import { Command, Option } from 'commander';
import { goIndent } from '../../format/json.js';
import { parseGoBool } from '../../format/options.js';
import { action } from '../../run.js';
import { resolveImageArg, withStore } from './common.js';

export function imageCatManifestCommand(): Command {
  return new Command('cat-manifest')
    .description('Inspect and print the image manifest')
    .argument('<image>', 'image ID or name')
    .addOption(
      // pflag booleans take `--pretty-print=false`; the default is true, as in rkt.
      new Option('--pretty-print [bool]', 'apply indent to format the output')
        .argParser(parseGoBool)
        .preset(true)
        .default(true),
    )
    .action(
      action('cat-manifest', async (ref: string, flags: { prettyPrint: boolean }, cmd: Command) => {
        const { imageManifestToJSON } = await import('../../../appc/index.js');
        const json = await withStore(cmd, (store) =>
          imageManifestToJSON(store.manifest(resolveImageArg(store, ref))),
        );
        process.stdout.write((flags.prettyPrint ? goIndent(json, '\t') : json) + '\n');
      }),
    );
}
