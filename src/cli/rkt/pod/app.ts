/**
 * `rkt app sandbox|add|start|stop|rm|list|status|exec` (rkt 1.30's app commands; `RKT_EXPERIMENT_APP`
 * is accepted and not needed): a sandbox is an empty pod on the pod supervisor
 * (src/stage1/oci/supervisor.sh) that apps are added to, started, stopped and removed from one by
 * one, on any engine with app operations (the Engine's `apps`: oci, nspawn, kvm; not fly). Each
 * step rewrites the pod manifest atomically; the supervisor gets its commands through the engine,
 * and the result is read from the status dir.
 */
import { existsSync, readFileSync, rmSync, statSync } from 'node:fs';
import path from 'node:path';
import { Command } from 'commander';
import { RKT_FAILURE, RocketError, unknownFlagMessage } from '../../../errors.js';
import type { PodInfo } from '../../../pod/index.js';
import { POD_FILES, appExitCode, appState } from '../../../pod-layout.js';
import type { EngineApps } from '../../../stage1/engine.js';
import { action } from '../../run.js';
import { rktGlobals } from '../globals.js';
import { dataDir, openStore, rawArgsAfterVerb } from './common.js';

const STATUS_DIR = POD_FILES.appStatusDir;

/** The arguments after `app SUBVERB`. */
function subArgs(sub: string): string[] {
  const rest = rawArgsAfterVerb('app');
  if (rest[0] !== sub) throw new RocketError(`cannot find app ${sub} in the command line`, RKT_FAILURE);
  return rest.slice(1);
}

function mtimeNs(file: string): number | undefined {
  try {
    return Math.round(statSync(file).mtimeMs * 1e6);
  } catch {
    return undefined;
  }
}

/** `rkt app status`'s object (rkt's lib.App). */
export function appStatusObject(pod: PodInfo, app: string): Record<string, unknown> {
  const ra = pod.manifest?.apps.find((a) => a.name === app);
  const s = path.join(pod.path, STATUS_DIR);
  const obj: Record<string, unknown> = { name: app, state: appState(pod.path, app) };
  const created = mtimeNs(path.join(pod.path, 'appsinfo', app, 'treeStoreID'));
  const started = mtimeNs(path.join(s, `${app}-started`));
  const finished = obj['state'] === 'exited' ? mtimeNs(path.join(s, app)) : undefined;
  if (created !== undefined) obj['created_at'] = created;
  if (started !== undefined) obj['started_at'] = started;
  if (finished !== undefined) {
    obj['finished_at'] = finished;
    const code = appExitCode(pod.path, app);
    if (code !== undefined) obj['exit_code'] = code;
  }
  obj['image_id'] = ra?.image.id ?? '';
  return obj;
}

/** A running sandbox, with `app` (if given) in its manifest. */
async function sandboxPod(dir: string, uuid: string | undefined, app?: string): Promise<PodInfo> {
  if (uuid === undefined || uuid === '') throw new RocketError('must provide the pod UUID', RKT_FAILURE);
  const { getPod } = await import('../../../pod/index.js');
  const { isMutable } = await import('../../../stage1/oci/engine.js');
  const pod = getPod(dir, uuid);
  if (pod.state !== 'running') throw new RocketError(`pod ${pod.uuid} is not running`, RKT_FAILURE);
  if (pod.manifest === undefined || !isMutable(pod.manifest))
    throw new RocketError(`pod ${pod.uuid} is not a sandbox (rkt app sandbox)`, RKT_FAILURE);
  if (app !== undefined && !pod.manifest.apps.some((a) => a.name === app))
    throw new RocketError(`pod ${pod.uuid} has no app ${JSON.stringify(app)}`, RKT_FAILURE);
  return pod;
}

/**
 * A test hook, for the kill tests (test/integration/kill/app.test.ts): with
 * `RKT_TEST_PAUSE=STEP:FIFO` in the environment, stage0 stops at the named step until whoever
 * holds the FIFO writes to it and closes it. The test sees the step reached when its open of the
 * FIFO for writing returns (it needs a reader), and does its kill there: no sleep, no race.
 * Steps: `app-add:manifest` (manifest rewritten, engine not called), `app-add:engine` (the app's
 * bundles and supervisor settings written), `app-start:send` (checks done, command not sent).
 */
function pauseAt(step: string): void {
  const v = process.env['RKT_TEST_PAUSE'];
  if (v === undefined || !v.startsWith(`${step}:`)) return;
  readFileSync(v.slice(step.length + 1));
}

/** The app operations of the engine that runs the pod. */
async function podApps(pod: PodInfo): Promise<EngineApps> {
  const { engineApps, loadEngineForPod } = await import('../../../stage1/engines.js');
  return engineApps(await loadEngineForPod(pod));
}

/** Sends a command to the pod's supervisor and waits until `done` holds (or the supervisor is gone). */
async function command(pod: PodInfo, line: string, what: string, done: () => boolean): Promise<void> {
  const apps = await podApps(pod);
  if (!apps.supervisorRunning(pod) || !apps.send(pod, line))
    throw new RocketError(`pod ${pod.uuid}: its supervisor is not running`, RKT_FAILURE);
  const { setTimeout: sleep } = await import('node:timers/promises');
  while (!done()) {
    if (!apps.supervisorRunning(pod))
      throw new RocketError(`pod ${pod.uuid}: the supervisor ended before ${what}`, RKT_FAILURE);
    await sleep(10);
  }
}

function appFlag(cmd: Command): string {
  const app = cmd.opts<{ app?: string }>().app;
  if (app === undefined || app === '') throw new RocketError('must provide --app=NAME', RKT_FAILURE);
  return app;
}

function sandboxCommand(): Command {
  return new Command('sandbox')
    .description('Create an empty pod application sandbox')
    .usage('[--net=...] [--dns=...] [--hostname=...] [--volume=...] [--port=...] [--uuid-file-save=FILE]')
    .argument('[args...]')
    .helpOption(false)
    .allowUnknownOption()
    .allowExcessArguments()
    .action(
      action('app sandbox', async (_a: string[], _f: unknown, cmd: Command) => {
        const { parseRunArgs } = await import('./run-flags.js');
        const { netMode } = await import('./run-flags.js');
        const args = parseRunArgs(subArgs('sandbox'), 'run');
        if (args.apps.length > 0 || args.podManifest !== undefined)
          throw new RocketError('a sandbox takes no image (add apps with rkt app add)', RKT_FAILURE);
        const { parseExposedPort, requirePortsNetwork } = await import('../../../net/ports.js');
        args.ports.forEach(parseExposedPort);
        requirePortsNetwork(netMode(args.net), args.ports.length);
        const { engineApps, loadEngine, engineChoice } = await import('../../../stage1/engines.js');
        engineApps(await loadEngine(engineChoice(args).name));
        const globals = rktGlobals(cmd);
        const { preparePodFromArgs } = await import('./prepare.js');
        const { runPreparedPod } = await import('./run.js');
        const prepared = await preparePodFromArgs(args, globals, { quiet: true, sandbox: true });
        return runPreparedPod(prepared.uuid, args, globals, () =>
          rmSync(prepared.dir, { recursive: true, force: true }),
        );
      }),
    );
}

function addCommand(): Command {
  return new Command('add')
    .description('Add an app to a pod (the app is created, not started)')
    .usage(
      'UUID IMAGE [--name=NAME] [--exec=PATH] [--mnt-volume=name=N,kind=host,source=S,target=T] [app flags of run] [-- args]',
    )
    .argument('[args...]')
    .helpOption(false)
    .allowUnknownOption()
    .allowExcessArguments()
    .action(
      action('app add', async (_a: string[], _f: unknown, cmd: Command) => {
        const raw = subArgs('add');
        const { runtimeApp, withPodMutationLock, addAppToManifest, removeAppFromManifest } =
          await import('../../../pod/index.js');
        const { parseRunArgs } = await import('./run-flags.js');
        // A flag before the pod's UUID is no UUID: rkt (cobra) rejects it as a flag; an app flag
        // there gets run's own message (it must follow an image), any other is unknown to app add.
        const first = raw[0];
        if (first !== undefined && first.startsWith('-') && first !== '-') {
          parseRunArgs([first], 'run');
          throw new RocketError(unknownFlagMessage(first), RKT_FAILURE);
        }
        const globals = rktGlobals(cmd);
        const pod = await sandboxPod(globals.dir, raw[0]);
        // The app's mounts may name the pod's volumes.
        const args = parseRunArgs(
          raw.slice(1),
          'run',
          (pod.manifest?.volumes ?? []).map((v) => v.name),
          true,
        );
        const one = args.apps[0];
        if (args.apps.length !== 1 || one === undefined)
          throw new RocketError('must provide exactly one image after the pod UUID', RKT_FAILURE);
        const dir = globals.dir;
        const { imageSource } = await import('./prepare.js');
        const { runInsecure } = await import('./run.js');
        const engineOps = await podApps(pod);
        const insecure = await runInsecure(args, globals);
        const store = await openStore(dir);
        const images = await imageSource(args, globals, store);
        try {
          const key = await images.resolve(one);
          const ra = runtimeApp(one, key, images.manifest(key), args);
          await withPodMutationLock(pod.path, async () => {
            const { manifest, warnings } = await addAppToManifest(pod.path, store, key, ra, pod);
            for (const w of warnings) process.stderr.write(`app add: ${w}\n`);
            pauseAt('app-add:manifest');
            let added;
            try {
              added = engineOps.add({ pod, dataDir: dir, app: ra.name, insecure, manifest });
            } catch (err) {
              removeAppFromManifest(pod.path, ra.name);
              throw err;
            }
            pauseAt('app-add:engine');
            // The app gets the pod's identity on the metadata service (if the pod registered).
            const { updateRegisteredApps } = await import('../../../metadata/client.js');
            updateRegisteredApps(
              { uuid: pod.uuid, podDir: pod.path, hostNetwork: added.hostNetwork },
              added.configFiles,
            );
          });
        } finally {
          await images.close();
          store.close();
        }
      }),
    );
}

function startCommand(): Command {
  return new Command('start')
    .description('Start an app of a pod')
    .usage('UUID --app=NAME')
    .option('--app <name>', 'the app to start')
    .argument('[uuid]')
    .action(
      action('app start', async (uuid: string | undefined, _f: unknown, cmd: Command) => {
        const app = appFlag(cmd);
        const pod = await sandboxPod(dataDir(cmd), uuid, app);
        if (appState(pod.path, app) !== 'created')
          throw new RocketError(`app ${JSON.stringify(app)} has already been started`, RKT_FAILURE);
        pauseAt('app-start:send');
        await command(pod, `start ${app}`, `app ${app} started`, () => appState(pod.path, app) !== 'created');
      }),
    );
}

function stopCommand(): Command {
  return new Command('stop')
    .description('Stop an app of a pod (TERM, then KILL after RKT_STOP_TIMEOUT seconds, default 10)')
    .usage('UUID --app=NAME')
    .option('--app <name>', 'the app to stop')
    .argument('[uuid]')
    .action(
      action('app stop', async (uuid: string | undefined, _f: unknown, cmd: Command) => {
        const app = appFlag(cmd);
        const pod = await sandboxPod(dataDir(cmd), uuid, app);
        const state = appState(pod.path, app);
        if (state === 'exited') return;
        if (state === 'created')
          throw new RocketError(`app ${JSON.stringify(app)} is not running`, RKT_FAILURE);
        const { stopTimeoutEnv } = await import('../../../stage1/oci/engine.js');
        const t = stopTimeoutEnv();
        await command(
          pod,
          `stop-app ${app}${t === undefined ? '' : ` ${t}`}`,
          `app ${app} stopped`,
          () => appState(pod.path, app) === 'exited',
        );
      }),
    );
}

function rmCommand(): Command {
  return new Command('rm')
    .description('Remove an app from a pod (stopping it first)')
    .usage('UUID --app=NAME')
    .option('--app <name>', 'the app to remove')
    .argument('[uuid]')
    .action(
      action('app rm', async (uuid: string | undefined, _f: unknown, cmd: Command) => {
        const app = appFlag(cmd);
        const pod = await sandboxPod(dataDir(cmd), uuid, app);
        const s = path.join(pod.path, STATUS_DIR);
        if (appState(pod.path, app) === 'running') {
          const { stopTimeoutEnv } = await import('../../../stage1/oci/engine.js');
          const t = stopTimeoutEnv();
          await command(
            pod,
            `stop-app ${app}${t === undefined ? '' : ` ${t}`}`,
            `app ${app} stopped`,
            () => appState(pod.path, app) === 'exited',
          );
        }
        if (appState(pod.path, app) === 'exited')
          await command(pod, `rm ${app}`, `app ${app} removed`, () =>
            existsSync(path.join(s, `${app}-removed`)),
          );
        const { withPodMutationLock, removeAppFromManifest } = await import('../../../pod/index.js');
        const engineOps = await podApps(pod);
        const { updateRegisteredApps } = await import('../../../metadata/client.js');
        await withPodMutationLock(pod.path, () => {
          const hostNetwork = engineOps.hostNetwork(pod);
          engineOps.removeFiles(pod, app);
          removeAppFromManifest(pod.path, app);
          for (const f of [app, `${app}-removed`, `${app}-started`, `${app}-stopping`, `${app}-ready`])
            rmSync(path.join(s, f), { force: true });
          // The removed app loses the pod's identity on the metadata service.
          updateRegisteredApps({ uuid: pod.uuid, podDir: pod.path, hostNetwork }, []);
        });
      }),
    );
}

/**
 * `--format=json|json-pretty`: writes `value()` as JSON and returns true; `''` (the table) returns
 * false; any other format is refused.
 */
function writeJsonFormat(format: string, value: () => unknown): boolean {
  if (format === 'json' || format === 'json-pretty') {
    process.stdout.write(JSON.stringify(value(), null, format === 'json-pretty' ? '\t' : undefined) + '\n');
    return true;
  }
  if (format !== '') throw new RocketError(`unknown --format ${JSON.stringify(format)}`, RKT_FAILURE);
  return false;
}

function listCommand(): Command {
  return new Command('list')
    .description('List the apps of a pod')
    .usage('UUID [--no-legend] [--format=json|json-pretty]')
    .option('--no-legend', 'suppress a legend with the list')
    .option('--format <format>', "'json' or 'json-pretty'", '')
    .argument('[uuid]')
    .action(
      action('app list', async (uuid: string | undefined, _f: unknown, cmd: Command) => {
        if (uuid === undefined) throw new RocketError('must provide the pod UUID', RKT_FAILURE);
        const { getPod } = await import('../../../pod/index.js');
        const pod = getPod(dataDir(cmd), uuid);
        const opts = cmd.opts<{ legend: boolean; format: string }>();
        const apps = pod.manifest?.apps.map((a) => a.name) ?? [];
        if (writeJsonFormat(opts.format, () => apps.map((a) => appStatusObject(pod, a)))) return;
        const { formatTable } = await import('../../format/tabwriter.js');
        const rows = apps.map((a) => [a, appState(pod.path, a)]);
        if (opts.legend) rows.unshift(['NAME', 'STATE']);
        process.stdout.write(formatTable(rows));
      }),
    );
}

function statusCommand(): Command {
  return new Command('status')
    .description('Show the status of an app of a pod')
    .usage('UUID --app=NAME [--format=json|json-pretty]')
    .option('--app <name>', 'the app')
    .option('--format <format>', "'json' or 'json-pretty'", '')
    .argument('[uuid]')
    .action(
      action('app status', async (uuid: string | undefined, _f: unknown, cmd: Command) => {
        const app = appFlag(cmd);
        if (uuid === undefined) throw new RocketError('must provide the pod UUID', RKT_FAILURE);
        const { getPod } = await import('../../../pod/index.js');
        const pod = getPod(dataDir(cmd), uuid);
        if (!(pod.manifest?.apps.some((a) => a.name === app) ?? false))
          throw new RocketError(`cannot find app ${JSON.stringify(app)} in the pod`, RKT_FAILURE);
        const obj = appStatusObject(pod, app);
        const format = cmd.opts<{ format: string }>().format;
        if (writeJsonFormat(format, () => obj)) return;
        const when = (ns: unknown): string => new Date(Number(ns) / 1e6).toISOString();
        const lines = [`name=${app}`, `state=${String(obj['state'])}`, `image_id=${String(obj['image_id'])}`];
        for (const k of ['created_at', 'started_at', 'finished_at'])
          if (obj[k] !== undefined) lines.push(`${k}=${when(obj[k])}`);
        if (obj['exit_code'] !== undefined) lines.push(`exit_code=${obj['exit_code'] as number}`);
        process.stdout.write(lines.join('\n') + '\n');
      }),
    );
}

function execCommand(): Command {
  return new Command('exec')
    .description('Execute a command in an app of a pod')
    .usage('[--app=NAME] UUID CMD [ARGS ...]')
    .argument('[args...]')
    .helpOption(false)
    .allowUnknownOption()
    .allowExcessArguments()
    .action(
      action('app exec', async (_a: string[], _f: unknown, cmd: Command) => {
        const { parseEnterArgs } = await import('./enter.js');
        const { getPod } = await import('../../../pod/index.js');
        const { loadEngineForPod } = await import('../../../stage1/engines.js');
        const { handOff } = await import('../../../stage1/engine.js');
        const e = parseEnterArgs(subArgs('exec'));
        if (e.command.length === 0) throw new RocketError('must provide a command to execute', RKT_FAILURE);
        const pod = getPod(rktGlobals(cmd).dir, e.uuid);
        if (pod.state !== 'running') throw new RocketError(`pod ${pod.uuid} is not running`, RKT_FAILURE);
        // Not a launcher verb: the runtime's exec runs as a child of this process, which waits.
        return handOff(
          (await loadEngineForPod(pod)).enter({
            pod,
            command: e.command,
            ...(e.app !== undefined ? { app: e.app } : {}),
          }),
        );
      }),
    );
}

/** `rkt app ...`. */
export function appCommand(): Command {
  const app = new Command('app').description('Operate on app(s) in a pod');
  for (const make of [
    sandboxCommand,
    addCommand,
    startCommand,
    stopCommand,
    rmCommand,
    listCommand,
    statusCommand,
    execCommand,
  ])
    app.addCommand(make());
  return app;
}
