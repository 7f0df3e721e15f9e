import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { Command } from 'commander';
import { RKT_FAILURE, RocketError, errorMessage } from '../../../errors.js';
import { POD_FILES, getPod } from '../../../pod/index.js';
import { parseBool } from './run-flags.js';
import { podManifestToJSON, parsePodManifest } from '../../../appc/index.js';
import { goIndent } from '../../format/json.js';
import { action } from '../../run.js';
import { dataDir, readUuidFile } from './common.js';

export function catManifestCommand(): Command {
  return new Command('cat-manifest')
    .description('Inspect and print the pod manifest')
    .usage('--uuid-file=FILE | UUID')
    .option('--pretty-print [bool]', 'apply indent to format the output', 'true')
    .option('--uuid-file <file>', 'read pod UUID from file instead of argument', '')
    .argument('[uuid]')
    .action(
      action(
        'cat-manifest',
        (
          uuid: string | undefined,
          flags: { prettyPrint: string | boolean; uuidFile: string },
          cmd: Command,
        ) => {
          let ref = uuid;
          let prettyValue = String(flags.prettyPrint);
          // pflag's bool flag never takes the next argument: `--pretty-print UUID` means true.
          if (!/^(1|t|T|TRUE|true|True|0|f|F|FALSE|false|False)$/.test(prettyValue) && ref === undefined) {
            ref = prettyValue;
            prettyValue = 'true';
          }
          if (flags.uuidFile !== '') {
            if (ref !== undefined)
              throw new RocketError('cannot use both --uuid-file and a UUID argument', RKT_FAILURE);
            ref = readUuidFile(flags.uuidFile);
          }
          if (ref === undefined) throw new RocketError('must provide a UUID', RKT_FAILURE);
          const pretty = parseBool(prettyValue, 'pretty-print');
          const pod = getPod(dataDir(cmd), ref);
          let text: string;
          try {
            text = readFileSync(join(pod.path, POD_FILES.manifest), 'utf8');
          } catch (err) {
            throw new RocketError(`cannot get pod manifest: ${errorMessage(err)}`, RKT_FAILURE);
          }
          const json = podManifestToJSON(parsePodManifest(text).manifest);
          // rkt: json.MarshalIndent(manifest, "", "\t") when pretty.
          process.stdout.write((pretty ? goIndent(json, '\t') : json) + '\n');
        },
      ),
    );
}
