import { Command } from 'commander';
import { RKT_FAILURE, RocketError, errorMessage } from '../../../errors.js';
import { action, stderrLine } from '../../run.js';
import { parseInsecureOptions, rktGlobals, type RktGlobals } from '../globals.js';
import type { PodArgs } from '../../../pod/index.js';
import { openStore, rawArgsAfterVerb } from './common.js';

/**
 * Builds the manifest of a pod from its command line (fetching images under `args.pullPolicy`) and
 * prepares it. Shared by `prepare` and, later, `run`.
 */
export async function preparePodFromArgs(
  args: PodArgs,
  globals: RktGlobals,
  opts: {
    keepLockedInRun?: boolean;
    quiet?: boolean;
    sandbox?: boolean;
    forRun?: boolean;
    /** `rkt prepare`: also write the Node-free run of `run-prepared --net=none` (run-pipeline.ts). */
    fastRun?: boolean;
    /** Called when an image is not taken from the store but fetched (rkt run's template). */
    onFetch?: () => void;
  } = {},
): Promise<import('../../../pod/index.js').PreparedPod> {
  const pod = await import('../../../pod/index.js');
  const dir = args.globals['dir'] ?? globals.dir;
  const store = await openStore(dir);
  const images = await imageSource(args, globals, store, opts.onFetch);
  try {
    const built =
      opts.sandbox === true ? pod.buildSandboxManifest(args) : await pod.buildPodManifest(args, images);
    if (opts.quiet !== true) for (const w of built.warnings) stderrLine(w);
    return await pod.preparePod({
      dataDir: dir,
      store,
      built,
      ...(args.uuidFileSave !== undefined ? { uuidFileSave: args.uuidFileSave } : {}),
      ...(opts.keepLockedInRun === true ? { keepLockedInRun: true } : {}),
      extraFiles: {
        [pod.PREPARE_OPTIONS_FILE]: pod.prepareOptionsJson(args),
        // rkt run: who will run it, so that gc can collect it if that process dies first.
        ...(opts.forRun === true ? { [pod.RUN_LAUNCHER_FILE]: pod.launcherIdentity() } : {}),
      },
      ...(opts.fastRun === true
        ? {
            beforePrepared: async (podDir: string, uuid: string) => {
              // Best effort: without it, run-prepared runs Node as before.
              const { prepareFastRunOf } = await import('./run.js');
              await prepareFastRunOf(podDir, uuid, dir, globals).catch(() => false);
            },
          }
        : {}),
    });
  } finally {
    await images.close();
    store.close();
  }
}

/**
 * Where a pod's images come from: the store, or (loaded only when the store cannot satisfy an
 * image under `args.pullPolicy`) the fetcher. Shared by `prepare`, `run` and `app add`.
 */
export async function imageSource(
  args: PodArgs,
  globals: RktGlobals,
  store: import('../../../store/index.js').Store,
  onFetch?: () => void,
): Promise<import('../../../pod/index.js').ImageSource & { close(): Promise<void> }> {
  const { resolveStored } = await import('../../../fetch/local.js');
  const { parsePullPolicy } = await import('../../../fetch/policy.js');
  const io =
    args.insecureOptions === undefined
      ? globals.insecureOptions
      : new Set([...globals.insecureOptions, ...parseInsecureOptions(args.insecureOptions)]);
  const { resolveMaxImageSize } = await import('../../../store/limits.js');
  store.maxImageSize = resolveMaxImageSize(args.globals['max-image-size'] ?? globals.maxImageSize, [
    args.globals['system-config'] ?? globals.systemConfig,
    args.globals['local-config'] ?? globals.localConfig,
    args.globals['user-config'] ?? globals.userConfig,
  ]);
  const pullPolicy = parsePullPolicy(args.pullPolicy);
  let fetcher: import('../../../fetch/index.js').Fetcher | undefined;
  const makeFetcher = async (): Promise<import('../../../fetch/index.js').Fetcher> => {
    const fetch = await import('../../../fetch/index.js');
    const { Keystore } = await import('../../../trust/keystore.js');
    const configDirs = [globals.systemConfig, globals.localConfig, globals.userConfig];
    return new fetch.Fetcher({
      store,
      keystore: new Keystore({ systemDir: globals.systemConfig, localDir: globals.localConfig }),
      pullPolicy,
      insecure: {
        image: io.has('image'),
        tls: io.has('tls'),
        http: io.has('http'),
        pubkey: io.has('pubkey'),
      },
      trustKeysFromHttps: globals.trustKeysFromHttps,
      auth: fetch.loadAuthHeaders(configDirs),
      dockerCredentials: fetch.loadDockerCredentials(configDirs),
      debug: globals.debug,
    });
  };
  return {
    resolve: async (app) => {
      const stored = app.signature === undefined ? resolveStored(store, app.image, pullPolicy) : undefined;
      if (stored !== undefined) return stored;
      onFetch?.();
      try {
        fetcher ??= await makeFetcher();
        return await fetcher.fetch({
          image: app.image,
          ...(app.signature !== undefined ? { signature: app.signature } : {}),
        });
      } catch (err) {
        if (err instanceof RocketError && err.message.includes(app.image))
          throw new RocketError(err.message, RKT_FAILURE, { cause: err });
        throw new RocketError(`${JSON.stringify(app.image)}: ${errorMessage(err)}`, RKT_FAILURE, {
          cause: err,
        });
      }
    },
    manifest: (key) => store.manifest(key),
    close: async () => {
      await fetcher?.close();
    },
  };
}

export function prepareCommand(): Command {
  return new Command('prepare')
    .description('Prepare to run image(s) in a pod in rkt')
    .usage('[--volume=name,kind=host,...] [--quiet] IMAGE [-- image-args...[---]]...')
    .argument('[args...]')
    .helpOption(false)
    .allowUnknownOption()
    .allowExcessArguments()
    .action(
      action('prepare', async (_args: string[], _flags: unknown, cmd: Command) => {
        const { parseRunArgs } = await import('./run-flags.js');
        const args = parseRunArgs(rawArgsAfterVerb('prepare'), 'prepare');
        // The stage1 choice is remembered for run-prepared: refuse a bad one before fetching.
        (await import('../../../stage1/engines.js')).engineChoice(args);
        if (args.apps.length === 0 && args.podManifest === undefined)
          throw new RocketError('must provide at least one image or specify the pod manifest', RKT_FAILURE);
        const prepared = await preparePodFromArgs(args, rktGlobals(cmd), {
          quiet: args.quiet,
          fastRun: true,
        });
        process.stdout.write(prepared.uuid + '\n');
      }),
    );
}
