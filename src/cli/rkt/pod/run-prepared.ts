import { Command } from 'commander';
import { RKT_FAILURE, RocketError } from '../../../errors.js';
import { action } from '../../run.js';
import { rktGlobals } from '../globals.js';
import { rawArgsAfterVerb } from './common.js';
import { runPreparedPod } from './run.js';

/**
 * `rkt run-prepared [flags] UUID`: the pod flags of `rkt run` that apply at run time (--net,
 * --dns*, --hostname, --hosts-entry, --interactive, --no-overlay, --engine/--stage1-name) and one
 * UUID (an unambiguous prefix).
 */
export function runPreparedCommand(): Command {
  return new Command('run-prepared')
    .description('Run a prepared application pod in rkt')
    .usage('[--net[=n[:args], ...]] [--interactive] UUID')
    .argument('[args...]')
    .helpOption(false)
    .allowUnknownOption()
    .allowExcessArguments()
    .action(
      action('run-prepared', async (_args: string[], _flags: unknown, cmd: Command) => {
        const { applyPrepareOptions, PodsLayout, resolveUuidPrefix } = await import('../../../pod/index.js');
        const { parseRunArgs } = await import('./run-flags.js');
        const { netMode } = await import('./run-flags.js');
        const { engineChoice } = await import('../../../stage1/engines.js');
        // The UUID parses as the one "image"; per-app flags make no sense here.
        const args = parseRunArgs(rawArgsAfterVerb('run-prepared'), 'run');
        const only = args.apps[0];
        if (args.apps.length !== 1 || only === undefined)
          throw new RocketError('exactly one UUID must be specified', RKT_FAILURE);
        netMode(args.net);
        const globals = rktGlobals(cmd);
        const dir = args.globals['dir'] ?? globals.dir;
        const layout = new PodsLayout(dir);
        const uuid = resolveUuidPrefix(layout, only.image);
        // --no-overlay and the stage1 choice given to prepare (prepare-options.ts).
        applyPrepareOptions(layout.podDir('prepared', uuid), args);
        engineChoice(args);
        return runPreparedPod(uuid, args, globals);
      }),
    );
}
