/**
 * The `fly` engine (rkt's stage1-fly): one app, chrooted into its rootfs with the host's /dev,
 * /proc and /sys, a tmpfs /tmp and the pod's volumes, as the image's user and group, with its
 * environment and working directory; every namespace is the host's except a private mount
 * namespace that holds those mounts. No resource isolation: isolators are not applied (a warning
 * names them), capabilities are those of the user (all for root). Stage0 writes the pod's files
 * and returns the plan of plan.ts; stop, enter and gc read `stage1/engine.json`.
 */
import { existsSync, mkdirSync, readlinkSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { RKT_FAILURE, RocketError, errorMessage } from '../../errors.js';
import { failureText, host } from '../../host/index.js';
import { unmountUnder } from '../../host/mounts.js';
import { POD_FILES } from '../../pod-layout.js';
import {
  readEngineState,
  type DnsSettings,
  type EnginePod,
  type EnterRequest,
  type Engine,
  type ExecPlan,
  type RunConfig,
  type StopRequest,
  writeEngineState,
} from '../engine.js';
import { appExecBasics } from '../files.js';
import { dnsFlagsResolvConf, hostsEntryLines } from '../hosts.js';
import { STOPPING_MARKER } from '../oci/engine.js';
import { APPC_DEFAULT_PATH } from '../oci/spec.js';
import { resolveAppUser } from '../oci/user.js';
import { flyMounts, targetIn } from './mounts.js';
import { flyEnterScript, flyPlanScript, type FlyCredentials } from './plan.js';

/** What the fly engine records in the pod dir for stop, enter and gc. */
export interface FlyPodState {
  engine: 'fly';
  app: string;
  /** The app's rootfs (under run/), its root once it runs. */
  rootfs: string;
  user: FlyCredentials;
  env: string[];
}

const fail = (message: string): never => {
  throw new RocketError(message, RKT_FAILURE);
};

/** Host path of the resolv.conf to bind (the host's by default), or undefined with `--dns=none`. */
function resolvSource(dns: DnsSettings, P: string, R: string): string | undefined {
  if (dns.dns.includes('none')) return undefined;
  if (dns.dns.length === 0 || dns.dns.includes('host'))
    return existsSync('/etc/resolv.conf') ? '/etc/resolv.conf' : undefined;
  writeFileSync(path.join(P, 'etc', 'resolv.conf'), dnsFlagsResolvConf(dns));
  return path.join(R, 'etc', 'resolv.conf');
}

/** Host path of the hosts file to bind: the host's, or the pod's own with `--hosts-entry`. */
function hostsSource(hostsEntries: readonly string[], P: string, R: string): string {
  if (hostsEntries.length === 0) return '/etc/hosts';
  const lines = ['127.0.0.1\tlocalhost', '::1\tlocalhost ip6-localhost ip6-loopback'];
  lines.push(...hostsEntryLines(hostsEntries));
  writeFileSync(path.join(P, 'etc', 'hosts'), lines.join('\n') + '\n');
  return path.join(R, 'etc', 'hosts');
}

function copyTree(from: string, to: string): void {
  const r = host().cp.copyTree(from, to);
  if (r.status !== 0) fail(`cannot copy ${from}: ${failureText(r, 'cp')}`);
}

/** PATH (appc's default), the app's environment, then the executor's variables. */
function appEnv(app: { environment?: { name: string; value: string }[] }, name: string): string[] {
  const env = new Map<string, string>([['PATH', APPC_DEFAULT_PATH]]);
  for (const { name: k, value } of app.environment ?? []) env.set(k, value);
  env.set('AC_APP_NAME', name);
  env.set('AC_METADATA_URL', '');
  return [...env].map(([k, v]) => `${k}=${v}`);
}

function run(req: RunConfig): ExecPlan {
  const P = req.preparedDir;
  const R = req.runDir;
  if (!existsSync(P)) fail(`pod ${JSON.stringify(req.uuid)} is not prepared`);
  const manifest = req.manifest;
  if (manifest.apps.length !== 1)
    fail(`the fly engine runs exactly one app per pod; this pod has ${manifest.apps.length}`);
  if ((manifest.ports?.length ?? 0) > 0)
    fail('the fly engine cannot expose ports: apps use the host network');
  const ra = manifest.apps[0] as (typeof manifest.apps)[number];
  const { app, exec, workingDir, lower } = appExecBasics(ra, P, req.dataDir);

  const appDir = path.join('apps', ra.name);
  const rootfs = path.join(R, appDir, 'rootfs');
  mkdirSync(path.join(P, appDir, 'rootfs'), { recursive: true });
  mkdirSync(path.join(P, 'etc'), { recursive: true });
  mkdirSync(path.join(P, POD_FILES.appStatusDir), { recursive: true });
  let overlay: { lower: string; upper: string; work: string } | undefined;
  if (req.noOverlay) copyTree(lower, path.join(P, appDir, 'rootfs'));
  else {
    for (const d of ['upper', 'work']) mkdirSync(path.join(P, 'overlay', ra.name, d), { recursive: true });
    overlay = {
      lower,
      upper: path.join(R, 'overlay', ra.name, 'upper'),
      work: path.join(R, 'overlay', ra.name, 'work'),
    };
  }
  const u = resolveAppUser(lower, app, ra.name);
  const user: FlyCredentials = { uid: u.uid, gid: u.gid, groups: u.additionalGids };
  const resolvConf = resolvSource(req.dns, P, R);
  const mounts = flyMounts({
    manifest,
    app,
    runDir: R,
    treeRoot: lower,
    mountRoot: rootfs,
    ...(resolvConf !== undefined ? { resolvConf } : {}),
    hosts: hostsSource(req.hostsEntries, P, R),
  });
  const ignored = [...(app.isolators ?? []), ...(manifest.isolators ?? [])].map((i) => i.name);
  if (ignored.length > 0)
    process.stderr.write(
      `run: the fly engine does not apply isolators; ignored: ${[...new Set(ignored)].join(', ')}\n`,
    );
  if (req.hostname !== undefined)
    process.stderr.write('run: the fly engine shares the host name; --hostname is ignored\n');

  const env = appEnv(app, ra.name);
  const state: FlyPodState = { engine: 'fly', app: ra.name, rootfs, user, env };
  writeEngineState(P, state);
  return {
    script: flyPlanScript({
      P,
      R,
      uuid: req.uuid,
      app: ra.name,
      rootfs,
      ...(overlay !== undefined ? { overlay } : {}),
      readOnlyRootfs: ra.readOnlyRootFS === true,
      mounts,
      env,
      user,
      workingDir,
      workingDirHost: targetIn(lower, rootfs, workingDir),
      exec,
      interactive: req.interactive,
    }),
  };
}

function readState(pod: EnginePod): FlyPodState | undefined {
  return readEngineState<FlyPodState>(pod.path, 'fly');
}

function requireState(pod: EnginePod): FlyPodState {
  return readState(pod) ?? fail(`pod ${pod.uuid} was not started by the fly engine`);
}

function mountNamespace(pid: number | 'self'): string | undefined {
  try {
    return readlinkSync(`/proc/${pid}/ns/mnt`);
  } catch {
    return undefined;
  }
}

/**
 * The app's pid, if `pid` names a live process of this pod: one in a mount namespace of its own
 * whose root is the app's rootfs (or still `/`, before the chroot).
 */
function appPid(pod: EnginePod, state: FlyPodState, opts: { started: boolean }): number | undefined {
  if (pod.pid === undefined) return undefined;
  const ns = mountNamespace(pod.pid);
  if (ns === undefined || ns === mountNamespace('self')) return undefined;
  let root: string;
  try {
    root = readlinkSync(`/proc/${pod.pid}/root`);
  } catch {
    return undefined;
  }
  // The pod dir moves from run/ to exited-garbage/ only once it has exited; compare by its tail.
  const tail = path.join(pod.uuid, 'apps', state.app, 'rootfs');
  if (root.endsWith(path.sep + tail)) return pod.pid;
  return !opts.started && root === '/' ? pod.pid : undefined;
}

function stop(req: StopRequest): void {
  const state = requireState(req.pod);
  if (!req.force) writeFileSync(path.join(req.pod.path, STOPPING_MARKER), '');
  const pid = appPid(req.pod, state, { started: false });
  if (pid === undefined) return; // not started yet (the marker stops it) or already ended
  try {
    process.kill(pid, req.force ? 'SIGKILL' : 'SIGTERM');
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'ESRCH')
      fail(`cannot signal pid ${pid}: ${errorMessage(err)}`);
  }
}

function enter(req: EnterRequest): ExecPlan {
  const state = requireState(req.pod);
  if (req.app !== undefined && req.app !== state.app)
    fail(`pod ${req.pod.uuid} has no app ${JSON.stringify(req.app)}`);
  const pid =
    appPid(req.pod, state, { started: true }) ?? fail(`pod ${req.pod.uuid}: the app is not running (yet)`);
  const command = req.command.length > 0 ? req.command : ['/bin/sh'];
  return { script: flyEnterScript(pid, state.user, state.env, command) };
}

/**
 * The mounts lived in the app's mount namespace and went with it. An app that closed its lock fd
 * (fd 3) and still runs would keep them, over an upper dir about to be deleted: it is killed.
 */
function gc(pod: EnginePod): void {
  const state = readState(pod);
  if (state !== undefined) {
    const pid = appPid(pod, state, { started: true });
    if (pid !== undefined) {
      process.stderr.write(`gc: pod ${pod.uuid}: killing its app's leftover process ${pid}\n`);
      try {
        process.kill(pid, 'SIGKILL');
      } catch {
        // gone meanwhile
      }
    }
  }
  unmountUnder(pod.path);
}

export const flyEngine: Engine = { name: 'fly', run, enter, stop, gc };
