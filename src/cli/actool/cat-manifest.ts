import type { Command } from 'commander';
import { readManifestBytes } from '../../aci/index.js';
import { imageManifestToJSON, parseImageManifest } from '../../appc/index.js';
import { RocketError } from '../../errors.js';
import { action } from '../run.js';

export function registerCatManifest(program: Command): void {
  program
    .command('cat-manifest')
    .description('Print the manifest from an ACI')
    .usage('[--pretty-print] ACI_FILE')
    .option('--pretty-print', 'Print with better style', false)
    .argument('[args...]')
    .action(
      action('cat-manifest', async (args: string[], opts: { prettyPrint: boolean }) => {
        const [file] = args;
        if (args.length !== 1 || file === undefined) throw new RocketError('Must provide one file');
        const bytes = await readManifestBytes(file);
        const text = bytes.toString('utf8');
        if (!opts.prettyPrint) process.stdout.write(text + '\n');
        // Like the reference, the manifest is printed verbatim and then validated: an invalid one is
        // still shown, and the command fails.
        const { manifest } = parseImageManifest(text, `${file}: manifest`);
        if (opts.prettyPrint) process.stdout.write(imageManifestToJSON(manifest, { pretty: true }) + '\n');
        return 0;
      }),
    );
}
