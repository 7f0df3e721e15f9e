import { rmSync } from 'node:fs';
import path from 'node:path';
import { Command } from 'commander';
import { RKT_FAILURE, RocketError } from '../../../errors.js';
import type { PodArgs } from '../../../pod/index.js';
import { action } from '../../run.js';
import { stderrLinesSaid } from '../../../stderr.js';
import { rktGlobals, type RktGlobals } from '../globals.js';
import { rawArgsAfterVerb } from './common.js';

/** The run-time insecure options (capabilities, paths, seccomp) from the globals and the verb's flag. */
export async function runInsecure(
  args: PodArgs,
  globals: RktGlobals,
): Promise<{ capabilities: boolean; paths: boolean; seccomp: boolean }> {
  const { parseInsecureOptions } = await import('../globals.js');
  const io =
    args.insecureOptions === undefined
      ? globals.insecureOptions
      : new Set([...globals.insecureOptions, ...parseInsecureOptions(args.insecureOptions)]);
  return { capabilities: io.has('capabilities'), paths: io.has('paths'), seccomp: io.has('seccomp') };
}

/**
 * Builds the engine's plan for a prepared pod and hands it to the launcher. On failure before the
 * hand-off, `onFailure` runs (rkt run removes the pod it prepared).
 */
export async function runPreparedPod(
  uuid: string,
  args: PodArgs,
  globals: RktGlobals,
  onFailure?: () => void,
  /** rkt run: called with the prepared pod dir once its run is written, before the hand-off. */
  beforeHandOff?: (podDir: string) => void,
): Promise<number | void> {
  const { loadEngine, engineChoice } = await import('../../../stage1/engines.js');
  const { handOff } = await import('../../../stage1/engine.js');
  const { runPod } = await import('../../../pod/run-pipeline.js');
  const dir = args.globals['dir'] ?? globals.dir;
  try {
    const { name, variant } = engineChoice(args);
    const plan = runPod({
      dataDir: dir,
      uuid,
      engine: await loadEngine(name),
      args,
      insecure: await runInsecure(args, globals),
      configDirs: {
        system: args.globals['system-config'] ?? globals.systemConfig,
        local: args.globals['local-config'] ?? globals.localConfig,
      },
      ...(variant !== undefined ? { variant } : {}),
    });
    beforeHandOff?.(path.join(dir, 'pods', 'prepared', uuid));
    return handOff(plan);
  } catch (err) {
    onFailure?.();
    if (err instanceof RocketError) throw new RocketError(err.message, RKT_FAILURE, { cause: err });
    throw err;
  }
}

/**
 * `rkt prepare`: the run of `rkt run-prepared --net=none UUID` written into the pod dir `podDir`
 * (still in `prepare/`), for bin/rkt to start without Node (src/stage1/oci/fast.sh). The flags are
 * the ones that form takes: prepare's recorded options and no insecure option (its own globals, as
 * `--insecure-options=image`, are prepare's). Best effort: false when Node must run the pod.
 */
export async function prepareFastRunOf(
  podDir: string,
  uuid: string,
  dataDir: string,
  globals: RktGlobals,
): Promise<boolean> {
  const { applyPrepareOptions } = await import('../../../pod/index.js');
  const { parseRunArgs } = await import('./run-flags.js');
  const { loadEngine, engineChoice } = await import('../../../stage1/engines.js');
  const { prepareFastRun } = await import('../../../pod/run-pipeline.js');
  const args = parseRunArgs(['--net=none', uuid], 'run');
  applyPrepareOptions(podDir, args);
  const { name, variant } = engineChoice(args);
  return prepareFastRun({
    dataDir,
    uuid,
    engine: await loadEngine(name),
    args,
    insecure: { capabilities: false, paths: false, seccomp: false },
    configDirs: { system: globals.systemConfig, local: globals.localConfig },
    ...(variant !== undefined ? { variant } : {}),
    writeDir: podDir,
  });
}

export function runCommand(): Command {
  return new Command('run')
    .description('Run image(s) in a pod in rkt')
    .usage('[--volume=name,kind=host,...] [--net[=n[:args], ...]] IMAGE [-- image-args...[---]]...')
    .argument('[args...]')
    .helpOption(false)
    .allowUnknownOption()
    .allowExcessArguments()
    .action(
      action('run', async (_args: string[], _flags: unknown, cmd: Command) => {
        const { parseRunArgs } = await import('./run-flags.js');
        const { netMode } = await import('./run-flags.js');
        const args = parseRunArgs(rawArgsAfterVerb('run'), 'run');
        if (args.apps.length === 0 && args.podManifest === undefined)
          throw new RocketError('must provide at least one image or specify the pod manifest', RKT_FAILURE);
        // Refuse what the engine cannot do before fetching anything.
        const { parseExposedPort, requirePortsNetwork } = await import('../../../net/ports.js');
        args.ports.forEach(parseExposedPort);
        requirePortsNetwork(netMode(args.net), args.ports.length);
        (await import('../../../stage1/engines.js')).engineChoice(args);
        const globals = rktGlobals(cmd);
        const dir = args.globals['dir'] ?? globals.dir;
        // A run template (src/pod/run-template.ts) for bin/rkt to answer this command line again
        // without Node: only for the launcher's plain form and the whitelisted flags, and only if
        // nothing was fetched and nothing said on stderr (what the launcher would not repeat):
        // neither stage0's lines (src/stderr.ts, counted) nor a warning of Node's.
        const tpl = await import('../../../pod/run-template.js');
        const argv = process.argv.slice(2);
        let template = tpl.runTemplateForm(argv) && tpl.runTemplateArgsOk(args);
        const dbBefore = template ? tpl.dbMtimes(dir) : '';
        const saidBefore = stderrLinesSaid();
        const onWarning = (): void => {
          template = false;
        };
        process.on('warning', onWarning);
        try {
          const { preparePodFromArgs } = await import('./prepare.js');
          const prepared = await preparePodFromArgs(args, globals, {
            quiet: args.quiet,
            forRun: true,
            onFetch: () => {
              template = false;
            },
          });
          return await runPreparedPod(
            prepared.uuid,
            args,
            globals,
            () => rmSync(prepared.dir, { recursive: true, force: true }),
            (podDir) => {
              if (!template || stderrLinesSaid() !== saidBefore) return;
              try {
                tpl.writeRunTemplate({ dataDir: dir, argv, uuid: prepared.uuid, podDir, dbBefore });
              } catch {
                // Best effort: the next run goes through Node again.
              }
            },
          );
        } finally {
          process.off('warning', onWarning);
        }
      }),
    );
}
