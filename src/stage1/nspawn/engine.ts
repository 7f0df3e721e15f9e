/**
 * The `nspawn` engine (rkt's stage1-coreos): the pod is a systemd-nspawn container over a stage1
 * tree laid out in the pod dir, `stage1/rootfs` (the host's /usr bound read-only, the supervisor
 * and its app launcher in /rkt, each app's rootfs at /opt/stage2/<app>/rootfs), whose init is the
 * pod supervisor shared with the oci engine (src/stage1/oci/supervisor.sh); apps are chrooted into
 * their rootfs by chroot.sh, the supervisor's runtime here, and share the container's pid, IPC, UTS
 * and network namespaces. Stage0 writes the tree, the supervisor's settings, each app's launch.sh
 * and the plan of plan.ts; no Node process stays. docs/stage1.md describes it.
 */
import { spawnSync } from 'node:child_process';
import {
  copyFileSync,
  existsSync,
  lstatSync,
  mkdirSync,
  readFileSync,
  readdirSync,
  readlinkSync,
  realpathSync,
  renameSync,
  rmSync,
  statSync,
  symlinkSync,
  writeFileSync,
} from 'node:fs';
import path from 'node:path';
import { parsePodManifest, type PodManifest, type RuntimeApp } from '../../appc/index.js';
import { RKT_FAILURE, RocketError } from '../../errors.js';
import { failureText, host } from '../../host/index.js';
import { unmountUnder } from '../../host/mounts.js';
import { POD_FILES } from '../../pod-layout.js';
import {
  readEngineState,
  type AddAppRequest,
  type AddedApp,
  type EngineApps,
  type EnginePod,
  type EnterRequest,
  type Engine,
  type ExecPlan,
  type RunConfig,
  type StopRequest,
  writeEngineState,
} from '../engine.js';
import { appExecBasics, rmdirTree, signalPid } from '../files.js';
import { podHostname } from '../hosts.js';
import {
  DEFAULT_STOP_TIMEOUT,
  STOPPING_MARKER,
  SUP_DIR,
  appEnv,
  appIo,
  envFile,
  isMutable,
  podCgroupDirs,
  sendCommand,
  stopTimeoutEnv,
  supervisorProgram,
} from '../oci/engine.js';
import { removePodNamespacesSync } from '../oci/namespaces.js';
import { APP_NOTIFY_DIR, prepareSystemd, supportsNotify, type AppSystemd } from '../oci/systemd.js';
import { shQuote as q, which } from '../oci/runtime.js';
import { ALL_CAPABILITIES, APPC_DEFAULT_PATH, hostBoundingSet, ociConfigForApp } from '../oci/spec.js';
import type { OciSeccomp } from '../oci/seccomp.js';
import { seccompBpfData } from '../oci/seccomp-bpf.js';
import { resolveAppUser } from '../oci/user.js';
import { targetIn } from '../fly/mounts.js';
import type { FlyCredentials } from '../fly/plan.js';
import { LOGS_DIR } from '../../logs/format.js';
import { stdinTerminal } from '../tty.js';
import { appVolumes } from '../volumes.js';
import {
  NSPAWN_PID,
  launchScript,
  nspawnEnterScript,
  nspawnPlanScript,
  type LaunchIsolation,
  type LaunchMount,
} from './plan.js';

/** What the engine records in the pod dir (`stage1/engine.json`) for stop, enter and gc. */
export interface NspawnPodState {
  engine: 'nspawn';
  machine: string;
  /** The cgroup made for the pod (`rkt-<uuid>`) in the hierarchies nspawn uses. */
  cgroup: string;
  apps: { name: string; id: string; rootfs: string; user: FlyCredentials; env: string[] }[];
  hostNetwork: boolean;
  /** A sandbox (`rkt app sandbox`), and what `rkt app add` needs of it: */
  mutable?: boolean;
  noOverlay?: boolean;
  /** the tree store, bound into the container (the image trees of apps added later are in it), */
  treeRoot?: string;
  /** the volumes bound at /rkt/volumes/<name>, and the v1 hierarchies bound at /rkt/cgroup/<name>. */
  volumes?: string[];
  limits?: ('memory' | 'cpu')[];
  /** The pod's AC_METADATA_URL if it registered (the apps added later share its token). */
  metadataUrl?: string;
  /**
   * A sandbox's propagation dir (`stage1/incoming`, a shared mount on the host that the container
   * receives), and the host volumes of apps added later bound into it on the host, by name.
   */
  incoming?: boolean;
  bound?: Record<string, string>;
}

/** A sandbox's propagation dir in the pod dir (see NspawnPodState.incoming). */
export const INCOMING = path.join('stage1', 'incoming');

/** Where the stage1 tree, the container's root, is in the pod dir. */
export const STAGE1_ROOTFS = path.join('stage1', 'rootfs');
/** The chroot launcher's state inside the pod (nspawn mounts a tmpfs on /run). */
const CHROOT_STATE = '/run/rkt-chroot';
const fail = (message: string): never => {
  throw new RocketError(message, RKT_FAILURE);
};

/** systemd-nspawn's `--bind` takes `SRC:DEST[:OPTS]`: a path with a colon cannot be said plainly. */
function bindable(p: string, what: string): string {
  if (p.includes(':')) fail(`${what} ${JSON.stringify(p)}: the nspawn engine cannot bind a path with ':'`);
  return p;
}

/** The app launchers shipped next to the supervisor (src/stage1/nspawn/chroot.sh, launch.pl). */
function launcherProgram(name: 'chroot.sh' | 'launch.pl'): string {
  const p = path.join(path.dirname(supervisorProgram()), '..', 'nspawn', name);
  if (!existsSync(p)) fail(`cannot find the nspawn app launcher ${p}`);
  return p;
}

/**
 * A cgroup v1 hierarchy (`memory`, `cpu`) where the apps' limits go, if the host has one (a
 * cgroup2-only host has none: the limits are then not applied).
 */
function v1Hierarchy(name: 'memory' | 'cpu'): string | undefined {
  if (existsSync('/sys/fs/cgroup/cgroup.controllers')) return undefined;
  try {
    const real = realpathSync(`/sys/fs/cgroup/${name}`);
    return existsSync(path.join(real, 'cgroup.procs')) ? real : undefined;
  } catch {
    return undefined;
  }
}

/** The isolators the launch applies (as the oci engine computes them), besides memory and cpu. */
const APPLIED_ISOLATORS = new Set([
  'os/linux/capabilities-retain-set',
  'os/linux/capabilities-remove-set',
  'os/linux/no-new-privileges',
  'os/linux/oom-score-adj',
  'os/linux/seccomp-retain-set',
  'os/linux/seccomp-remove-set',
]);
/** Of those, what the oci engine takes from the pod's isolators too. */
const APPLIED_POD_ISOLATORS = new Set(['os/linux/no-new-privileges', 'os/linux/oom-score-adj']);

/**
 * An app's isolation, computed as the oci engine does (its `ociConfigForApp`, the app's and the
 * pod's isolators): memory and cpu limits, the capability bounding set (a root app's effective
 * and permitted sets), no_new_privs, the oom score and the seccomp filter.
 */
function appIsolation(
  manifest: PodManifest,
  ra: RuntimeApp,
  user: { uid: number; gid: number },
  insecure: RunConfig['insecure'],
  hostCapabilities: readonly string[] | undefined,
): {
  memory?: number;
  cpu?: { quota?: number; period?: number; shares?: number };
  capabilities: string[];
  noNewPrivileges: boolean;
  oomScoreAdj?: number;
  seccomp?: OciSeccomp;
} {
  const app = ra.app ?? fail(`app ${JSON.stringify(ra.name)} has no app section`);
  const { config } = ociConfigForApp({
    app,
    appName: ra.name,
    rootfs: '/',
    namespaces: { network: 'host', ipc: 'host', uts: 'host' },
    ...(manifest.isolators !== undefined ? { podIsolators: manifest.isolators } : {}),
    user,
    insecure,
    ignoreUnsupported: true,
    arch: process.arch,
    ...(hostCapabilities !== undefined ? { hostCapabilities } : {}),
  });
  const r = config.linux.resources;
  const proc = config.process;
  return {
    ...(r.memory !== undefined ? { memory: r.memory.limit } : {}),
    ...(r.cpu !== undefined ? { cpu: r.cpu } : {}),
    capabilities: proc.capabilities.bounding,
    noNewPrivileges: proc.noNewPrivileges,
    ...(proc.oomScoreAdj !== undefined ? { oomScoreAdj: proc.oomScoreAdj } : {}),
    ...(config.linux.seccomp !== undefined ? { seccomp: config.linux.seccomp } : {}),
  };
}

/** The capabilities in a running pod's container (its init's bounding set), for the apps added later. */
function containerCapabilities(pod: EnginePod): string[] | undefined {
  const init = podInitPid(pod);
  if (init === undefined) return undefined;
  try {
    return hostBoundingSet(readFileSync(`/proc/${init}/status`, 'utf8'));
  } catch {
    return undefined;
  }
}

/** Whether this process runs in a systemd unit's cgroup (`….service` or `….scope`). */
function runsInUnit(): boolean {
  try {
    return readFileSync('/proc/self/cgroup', 'utf8')
      .split('\n')
      .some((l) => /^(0::|\d+:name=systemd:).*\.(service|scope)$/.test(l));
  } catch {
    return false;
  }
}

/** PATH (appc's default), the app's environment, then the executor's variables. */
function appEnvironment(
  app: { environment?: { name: string; value: string }[] },
  name: string,
  metadataUrl: string,
  notify: boolean,
): string[] {
  const env = new Map<string, string>([['PATH', APPC_DEFAULT_PATH]]);
  for (const { name: k, value } of app.environment ?? []) env.set(k, value);
  env.set('AC_APP_NAME', name);
  env.set('AC_METADATA_URL', metadataUrl);
  if (notify) env.set('NOTIFY_SOCKET', `${APP_NOTIFY_DIR}/notify`);
  return [...env].map(([k, v]) => `${k}=${v}`);
}

/**
 * The stage1 tree: the host's /usr (bound read-only by nspawn) and the top-level links into it
 * (or binds, on a host without merged /usr), /etc, /opt/stage2, and /rkt with the supervisor and
 * the launcher. Returns nspawn's bind arguments for it.
 */
function layStage1(P: string): string[] {
  const root = path.join(P, STAGE1_ROOTFS);
  for (const d of ['usr', 'etc', 'opt/stage2', 'rkt', 'proc', 'sys', 'dev', 'run', 'tmp'])
    mkdirSync(path.join(root, d), { recursive: true });
  const binds = ['--bind-ro=/usr'];
  for (const d of ['bin', 'sbin', 'lib', 'lib32', 'lib64', 'libx32']) {
    let st;
    try {
      st = lstatSync(`/${d}`);
    } catch {
      continue;
    }
    if (st.isSymbolicLink()) symlinkSync(readlinkSync(`/${d}`), path.join(root, d));
    else if (st.isDirectory()) {
      mkdirSync(path.join(root, d));
      binds.push(`--bind-ro=/${d}`);
    }
  }
  copyFileSync(supervisorProgram(), path.join(root, 'rkt', 'supervisor.sh'));
  for (const f of ['chroot.sh', 'launch.pl'] as const)
    copyFileSync(launcherProgram(f), path.join(root, 'rkt', f));
  return binds;
}

/** What preparing a pod's apps reads, and gathers for nspawn's command line. */
interface AppsContext {
  /** Where the files are written now (the prepared dir, or the running pod's for `app add`). */
  P: string;
  /** Where the pod runs (`run/<uuid>`), as the container sees it too (bound at the same path). */
  R: string;
  uuid: string;
  dataDir: string;
  manifest: PodManifest;
  noOverlay: boolean;
  resolv: boolean;
  insecure: RunConfig['insecure'];
  /** The apps' AC_METADATA_URL ('' when the pod is not registered with the metadata service). */
  metadataUrl: string;
  /** Whether the container gets the terminal (`--interactive` on one): no app may have a tty then. */
  interactive: boolean;
  /** The cgroup v1 hierarchies the apps' limits may go to (bound into the pod). */
  hierarchies: { memory?: string | undefined; cpu?: string | undefined };
  /** `rkt run`'s apps (not those added to a sandbox): gathered, those that support sd_notify. */
  notifyApps?: AppSystemd[];
  /** Where the container has a volume (default: `/rkt/volumes/<name>`, bound by nspawn). */
  volumeSource?: (name: string, source: string, recursive: boolean) => string;
  /** The capabilities apps may be given (the container's bounding set), for apps added later. */
  hostCapabilities?: readonly string[] | undefined;
  /** Gathered: the isolators not applied, the hierarchies used, the image trees, the volumes, */
  ignored: Set<string>;
  /** and the capabilities the apps are given (the container must have them). */
  capabilities: Set<string>;
  limited: Set<'memory' | 'cpu'>;
  lowers: Set<string>;
  volumes: Map<string, { source: string; recursive: boolean }>;
}

/**
 * An app's files in the pod: its rootfs dir (or copy), the launch.sh of its main process and of its
 * event handlers; returns its engine state and its supervisor settings (`stage1/sup/app/<name>.env`).
 */
function prepareApp(ctx: AppsContext, i: number): { state: NspawnPodState['apps'][number]; env: string } {
  const { P, R } = ctx;
  const ra = ctx.manifest.apps[i] ?? fail(`no app ${i} in the pod manifest`);
  const { app, exec, workingDir, lower } = appExecBasics(ra, P, ctx.dataDir);
  for (const iso of app.isolators ?? []) if (!APPLIED_ISOLATORS.has(iso.name)) ctx.ignored.add(iso.name);
  // Attachable I/O (`--stdin|--stdout|--stderr=tty|stream`): the supervisor makes the endpoints in
  // the pod dir, which the host sees at the same path.
  const io = appIo(ra, R);
  if (io.tty && ctx.interactive)
    fail(`app ${JSON.stringify(ra.name)}: --stdin=tty does not go with --interactive`);
  const rootfs = path.posix.join('/opt/stage2', ra.name, 'rootfs');
  mkdirSync(path.join(P, STAGE1_ROOTFS, rootfs), { recursive: true });
  let overlay: { lower: string; upper: string; work: string; target: string } | undefined;
  if (ctx.noOverlay) {
    const r = host().cp.copyTree(lower, path.join(P, STAGE1_ROOTFS, rootfs));
    if (r.status !== 0) fail(`cannot copy ${lower}: ${failureText(r, 'cp')}`);
  } else {
    ctx.lowers.add(bindable(lower, 'the image tree'));
    for (const d of ['upper', 'work']) mkdirSync(path.join(P, 'overlay', ra.name, d), { recursive: true });
    overlay = {
      lower,
      upper: path.join(R, 'overlay', ra.name, 'upper'),
      work: path.join(R, 'overlay', ra.name, 'work'),
      target: rootfs,
    };
  }
  const u = resolveAppUser(lower, app, ra.name);
  const user: FlyCredentials = { uid: u.uid, gid: u.gid, groups: u.additionalGids };
  const lim = appIsolation(ctx.manifest, ra, u, ctx.insecure, ctx.hostCapabilities);
  for (const c of lim.capabilities) ctx.capabilities.add(c);
  let seccompFile: string | undefined;
  if (lim.seccomp !== undefined) {
    const data =
      seccompBpfData(lim.seccomp, path.join(ctx.dataDir, 'cache', 'seccomp-bpf')) ??
      fail(`app ${JSON.stringify(ra.name)}: cannot compile its seccomp filter (libseccomp)`);
    mkdirSync(path.join(P, 'apps', ra.name), { recursive: true });
    writeFileSync(path.join(P, 'apps', ra.name, 'seccomp.bpf'), Buffer.from(data, 'base64'));
    seccompFile = path.join(R, 'apps', ra.name, 'seccomp.bpf');
  }
  const isolation: LaunchIsolation = {
    capabilities: lim.capabilities.map((c) => ALL_CAPABILITIES.indexOf(c)),
    noNewPrivileges: lim.noNewPrivileges,
    ...(lim.oomScoreAdj !== undefined ? { oomScoreAdj: lim.oomScoreAdj } : {}),
    ...(seccompFile !== undefined ? { seccomp: seccompFile } : {}),
  };
  const limits: { dir: string; values: [string, string][] }[] = [];
  if (lim.memory !== undefined && ctx.hierarchies.memory !== undefined) {
    ctx.limited.add('memory');
    limits.push({
      dir: `/rkt/cgroup/memory/${ra.name}`,
      values: [['memory.limit_in_bytes', String(lim.memory)]],
    });
  }
  if (lim.cpu !== undefined && ctx.hierarchies.cpu !== undefined) {
    ctx.limited.add('cpu');
    const values: [string, string][] = [];
    if (lim.cpu.period !== undefined) values.push(['cpu.cfs_period_us', String(lim.cpu.period)]);
    if (lim.cpu.quota !== undefined) values.push(['cpu.cfs_quota_us', String(lim.cpu.quota)]);
    if (lim.cpu.shares !== undefined) values.push(['cpu.shares', String(lim.cpu.shares)]);
    limits.push({ dir: `/rkt/cgroup/cpu/${ra.name}`, values });
  }
  const at = (inner: string): string => targetIn(lower, rootfs, inner);
  const mounts: LaunchMount[] = ['/dev', '/proc', '/sys'].map((d) => ({
    kind: 'rbind',
    source: d,
    target: at(d),
  }));
  mounts.push({
    kind: 'bind',
    source: path.join(R, 'etc', 'hosts'),
    target: at('/etc/hosts'),
    recursive: false,
    readOnly: false,
  });
  if (ctx.resolv)
    mounts.push({
      kind: 'bind',
      source: path.join(R, 'etc', 'resolv.conf'),
      target: at('/etc/resolv.conf'),
      recursive: false,
      readOnly: false,
    });
  for (const v of appVolumes(ctx.manifest, i, R, app)) {
    if (!v.source.startsWith('/'))
      fail(
        `volume ${JSON.stringify(v.name)}: source must be an absolute path, got ${JSON.stringify(v.source)}`,
      );
    ctx.volumes.set(v.name, {
      source: bindable(v.source, `volume ${JSON.stringify(v.name)}`),
      recursive: v.recursive,
    });
    mounts.push({
      kind: 'bind',
      source: ctx.volumeSource?.(v.name, v.source, v.recursive) ?? path.posix.join('/rkt/volumes', v.name),
      target: at(v.inner),
      recursive: v.recursive,
      readOnly: v.readOnly,
    });
  }
  // An app that supports sd_notify (rkt run's apps): its socket dir from the relay, which the
  // supervisor starts (the oci engine's, src/stage1/oci/systemd.ts), and NOTIFY_SOCKET.
  const notify =
    ctx.notifyApps !== undefined && supportsNotify(ra, path.join(path.dirname(lower), 'manifest'));
  if (notify) {
    ctx.notifyApps?.push({ name: ra.name, notify: true });
    mkdirSync(path.join(P, 'stage1', 'notify', ra.name), { recursive: true });
    mounts.push({
      kind: 'bind',
      source: path.join(R, 'stage1', 'notify', ra.name),
      target: at(APP_NOTIFY_DIR),
      recursive: false,
      readOnly: false,
    });
  }
  const env = appEnvironment(app, ra.name, ctx.metadataUrl, notify);
  const id = `rkt-${ctx.uuid}-${ra.name}`;
  const launch = (exec: string[], started: boolean) =>
    launchScript({
      app: ra.name,
      rootfs,
      copy: ctx.noOverlay,
      readOnlyRootfs: ra.readOnlyRootFS === true,
      mounts,
      env,
      user,
      workingDir,
      workingDirOutside: at(workingDir),
      exec,
      limits,
      isolation,
      ...(started ? { started: path.join(R, POD_FILES.appStatusDir, `${ra.name}-started`) } : {}),
    });
  const appDir = path.join('apps', ra.name);
  mkdirSync(path.join(P, appDir), { recursive: true });
  writeFileSync(path.join(P, appDir, 'launch.sh'), launch(exec, true));
  const pre: { id: string; bundle: string }[] = [];
  const post: { id: string; bundle: string }[] = [];
  for (const [k, eh] of (app.eventHandlers ?? []).entries()) {
    const sub = `${eh.name}-${k}`;
    mkdirSync(path.join(P, appDir, sub), { recursive: true });
    writeFileSync(path.join(P, appDir, sub, 'launch.sh'), launch(eh.exec, false));
    (eh.name === 'pre-start' ? pre : post).push({ id: `${id}-${sub}`, bundle: path.join(R, appDir, sub) });
  }
  return {
    state: { name: ra.name, id, rootfs, user, env },
    env: appEnv(
      {
        name: ra.name,
        id,
        bundle: path.join(R, appDir),
        pre,
        post,
        ...(overlay !== undefined ? { overlay } : {}),
        io,
      },
      { notify, listen: { args: '', redirects: '' } },
    ),
  };
}

/**
 * Stage0's run pipeline has written etc/hosts and etc/resolv.conf, made the log dirs and set up
 * the networks (`ns-net` with CNI); this lays out the stage1 tree and returns the plan.
 */
function run(req: RunConfig): ExecPlan {
  const P = req.preparedDir;
  const R = req.runDir;
  if (!existsSync(P)) fail(`pod ${JSON.stringify(req.uuid)} is not prepared`);
  if (which('systemd-nspawn') === undefined)
    fail('the nspawn engine needs systemd-nspawn: install it (apt-get install systemd-container)');
  bindable(R, 'the pod dir');
  const net = req.network.mode;
  const manifest = req.manifest;
  const hostname = podHostname(req.uuid, req.hostname);
  const machine = `rkt-${req.uuid}`;
  const cgroup = `rkt-${req.uuid}`;
  const mutable = isMutable(manifest);
  mkdirSync(path.join(P, POD_FILES.appStatusDir), { recursive: true });
  const binds = layStage1(P);
  const logs = req.logs;

  const ctx: AppsContext = {
    P,
    R,
    uuid: req.uuid,
    dataDir: req.dataDir,
    manifest,
    noOverlay: req.noOverlay,
    resolv: req.resolvConf,
    insecure: req.insecure,
    metadataUrl: req.metadata.url,
    interactive: req.interactive && stdinTerminal() !== undefined,
    hierarchies: { memory: v1Hierarchy('memory'), cpu: v1Hierarchy('cpu') },
    ignored: new Set<string>(
      (manifest.isolators ?? []).map((i) => i.name).filter((n) => !APPLIED_POD_ISOLATORS.has(n)),
    ),
    capabilities: new Set(),
    notifyApps: [],
    limited: new Set(),
    lowers: new Set(),
    volumes: new Map(),
  };
  const { hierarchies, ignored, limited, volumes } = ctx;
  const prepared = manifest.apps.map((_, i) => prepareApp(ctx, i));
  const states = prepared.map((a) => a.state);
  let lowers = [...ctx.lowers];
  let treeRoot: string | undefined;
  if (mutable) {
    // A sandbox: the apps added later need their image trees, the pod's volumes and the limits'
    // hierarchies, all bound now (nothing is bound into a running container): the whole tree
    // store (trees rendered later appear in it), every volume of the pod, every v1 hierarchy.
    treeRoot = bindable(path.join(req.dataDir, 'cas', 'tree'), 'the tree store');
    mkdirSync(treeRoot, { recursive: true });
    lowers = [treeRoot];
    for (const v of manifest.volumes ?? []) {
      const source = v.kind === 'host' ? (v.source ?? '') : path.join(R, POD_FILES.sharedVolumes, v.name);
      if (!source.startsWith('/'))
        fail(
          `volume ${JSON.stringify(v.name)}: source must be an absolute path, got ${JSON.stringify(source)}`,
        );
      volumes.set(v.name, {
        source: bindable(source, `volume ${JSON.stringify(v.name)}`),
        recursive: v.recursive === true,
      });
    }
  }
  if (limited.has('memory')) ignored.delete('resource/memory');
  if (limited.has('cpu')) {
    ignored.delete('resource/cpu');
    ignored.delete('os/linux/cpu-shares');
  }
  if (ignored.size > 0)
    process.stderr.write(
      `run: the nspawn engine does not apply these isolators; ignored: ${[...ignored].join(', ')}\n`,
    );
  if (mutable) for (const h of ['memory', 'cpu'] as const) if (hierarchies[h] !== undefined) limited.add(h);

  const interactive = req.interactive && stdinTerminal() !== undefined;
  // As rkt: register with machined where systemd runs (then it places the container's cgroup:
  // a scope of its own, or, with --keep-unit, the unit rkt runs in), else --register=no
  // --keep-unit in a cgroup `rkt-<uuid>` the plan makes.
  const systemdHost = existsSync('/run/systemd/system');
  const inUnit = systemdHost && runsInUnit();
  const nspawn = [
    'systemd-nspawn',
    '--quiet',
    `--register=${systemdHost ? 'yes' : 'no'}`,
    ...(systemdHost && !inUnit ? [] : ['--keep-unit']),
    `--console=${interactive ? 'interactive' : 'pipe'}`,
    '--kill-signal=SIGTERM',
    // The apps' capabilities beyond nspawn's default set (each app's launch drops to its own).
    ...(ctx.capabilities.size > 0 ? [`--capability=${[...ctx.capabilities].join(',')}`] : []),
    '--link-journal=no',
    '--resolv-conf=off',
    '--timezone=off',
    `--machine=${machine}`,
    `--hostname=${hostname}`,
    `--directory=${path.join(R, STAGE1_ROOTFS)}`,
    ...binds,
    `--bind=${R}`,
    ...lowers.map((l) => `--bind-ro=${l}:${l}:norbind`),
    ...[...volumes].map(
      ([name, v]) => `--bind=${v.source}:/rkt/volumes/${name}:${v.recursive ? 'rbind' : 'norbind'}`,
    ),
    ...[...limited].map((h) => `--bind=${hierarchies[h]}/${cgroup}:/rkt/cgroup/${h}`),
    ...(net === 'none' ? ['--private-network'] : []),
    ...(net === 'cni' ? [`--network-namespace-path=${path.join(R, 'ns-net')}`] : []),
    '--',
    '/bin/sh',
    '/rkt/supervisor.sh',
    R,
    R,
  ];

  const state: NspawnPodState = {
    engine: 'nspawn',
    machine,
    cgroup,
    apps: states,
    hostNetwork: net === 'host',
    ...(mutable
      ? {
          mutable,
          noOverlay: req.noOverlay,
          ...(treeRoot !== undefined ? { treeRoot } : {}),
          volumes: [...volumes.keys()],
          limits: [...limited],
          incoming: true,
          ...(req.metadata.url !== '' ? { metadataUrl: req.metadata.url } : {}),
        }
      : {}),
  };
  writeEngineState(P, state);
  const { relayApps } = prepareSystemd(P, ctx.notifyApps ?? []);
  mkdirSync(path.join(P, SUP_DIR, 'app'), { recursive: true });
  for (const a of prepared) writeFileSync(path.join(P, SUP_DIR, 'app', `${a.state.name}.env`), a.env);
  writeFileSync(
    path.join(P, SUP_DIR, 'pod.env'),
    envFile({
      RT: ['/bin/sh', '/rkt/chroot.sh', CHROOT_STATE].map(q).join(' '),
      ST: CHROOT_STATE,
      NS_FILES: '',
      NS_CREATE: '',
      CGP: cgroup,
      CNI: false,
      CNI_TEARDOWN: '',
      MDS_UNREGISTER: '',
      LOGS: logs !== undefined,
      LOGMAX: logs?.max,
      LOGEPOCH: logs?.epoch,
      RELAY_APPS: relayApps.join(' '),
      LISTEN_COUNT: 0,
      STOP_TIMEOUT: DEFAULT_STOP_TIMEOUT,
      MUTABLE: mutable,
      INITIAL_APPS: manifest.apps.map((a: RuntimeApp) => a.name).join(' '),
      LOCKED: true,
    }),
  );
  return {
    script: nspawnPlanScript({
      P,
      R,
      uuid: req.uuid,
      cgroup,
      moveToCgroup: !systemdHost,
      nspawn,
      cni: net === 'cni',
      mdsUnregister: req.metadata.unregister,
      ...(req.network.teardownScript !== undefined ? { cniTeardown: req.network.teardownScript } : {}),
      limitDirs: [...limited].map((h) => `${hierarchies[h]}/${cgroup}`),
      ...(mutable ? { incoming: INCOMING } : {}),
    }),
  };
}

function readState(pod: EnginePod): NspawnPodState | undefined {
  return readEngineState<NspawnPodState>(pod.path, 'nspawn');
}

function requireState(pod: EnginePod): NspawnPodState {
  return readState(pod) ?? fail(`pod ${pod.uuid} was not started by the nspawn engine`);
}

/** A process's pids, outermost pid namespace first (`NSpid`), or undefined if it is gone. */
function nsPids(pid: string | number): string[] | undefined {
  try {
    const line = readFileSync(`/proc/${pid}/status`, 'utf8')
      .split('\n')
      .find((l) => l.startsWith('NSpid:'));
    return line?.slice(6).trim().split(/\s+/);
  } catch {
    return undefined;
  }
}

/**
 * The host pid of the pod's init (the supervisor), if it runs: pid 1 of a pid namespace below
 * ours, holding the pod's lock (fd 3 on the pod dir). Found by scanning /proc, so it is found
 * even when the plan and nspawn were killed.
 */
export function podInitPid(pod: EnginePod): number | undefined {
  let entries: string[];
  try {
    entries = readdirSync('/proc');
  } catch {
    return undefined;
  }
  const dir = path.resolve(pod.path);
  for (const e of entries) {
    if (!/^\d+$/.test(e)) continue;
    const ids = nsPids(e);
    if (ids === undefined || ids.length < 2 || ids[ids.length - 1] !== '1') continue;
    try {
      if (readlinkSync(`/proc/${e}/fd/3`) === dir) return Number(e);
    } catch {
      // not ours, or gone
    }
  }
  return undefined;
}

/** The host pid of a process of the pod's container, given its pid inside it. */
function hostPid(init: number, inner: number): number | undefined {
  let ns: string;
  try {
    ns = readlinkSync(`/proc/${init}/ns/pid`);
  } catch {
    return undefined;
  }
  for (const e of readdirSync('/proc')) {
    if (!/^\d+$/.test(e)) continue;
    const ids = nsPids(e);
    if (ids === undefined || ids[ids.length - 1] !== String(inner)) continue;
    try {
      if (readlinkSync(`/proc/${e}/ns/pid`) === ns) return Number(e);
    } catch {
      // gone
    }
  }
  return undefined;
}

function stop(req: StopRequest): void {
  requireState(req.pod);
  if (!req.force) {
    const t = stopTimeoutEnv();
    writeFileSync(path.join(req.pod.path, STOPPING_MARKER), t === undefined ? '' : `${t}\n`);
    // The supervisor stops the apps: TERM, then KILL after the stop timeout.
    if (sendCommand(req.pod.path, t === undefined ? 'stop' : `stop ${t}`)) return;
  }
  // No supervisor reading its commands yet (the marker stops the apps it starts), or --force:
  // a signal to the pod's init (TERM: its graceful stop; KILL: the whole container).
  const init = podInitPid(req.pod);
  if (init !== undefined) signalPid(init, req.force ? 'SIGKILL' : 'SIGTERM');
}

function enter(req: EnterRequest): ExecPlan {
  const state = requireState(req.pod);
  let app = state.apps[0];
  if (req.app !== undefined) app = state.apps.find((a) => a.name === req.app);
  else if (state.apps.length > 1)
    fail(
      `pod ${req.pod.uuid} has several apps (${state.apps.map((a) => a.name).join(', ')}): choose one with --app`,
    );
  if (app === undefined) return fail(`pod ${req.pod.uuid} has no app ${JSON.stringify(req.app)}`);
  const init = podInitPid(req.pod) ?? fail(`pod ${req.pod.uuid} is not running`);
  let inner: number | undefined;
  try {
    inner = Number(readFileSync(`/proc/${init}/root${CHROOT_STATE}/${app.id}/pid`, 'utf8').trim());
  } catch {
    inner = undefined;
  }
  const pid =
    (inner !== undefined && Number.isSafeInteger(inner) ? hostPid(init, inner) : undefined) ??
    fail(`pod ${req.pod.uuid}: app ${app.name} is not running`);
  const command = req.command.length > 0 ? req.command : ['/bin/sh'];
  return { script: nspawnEnterScript(pid, app.user, app.env, command) };
}

/** Waits (bounded) until a process is gone: its pid namespace and mounts go with it. */
function awaitGone(pid: number): void {
  const end = Date.now() + 5000;
  while (existsSync(`/proc/${pid}`) && Date.now() < end) spawnSync('sleep', ['0.02']);
}

/**
 * Everything the pod may leave: a container whose init still runs (an exited pod's lock is free,
 * so only one that dropped it), nspawn, the CNI networks and namespace file, mounts, cgroups.
 */
function gc(pod: EnginePod): void {
  const state = readState(pod);
  if (state === undefined) return;
  const init = podInitPid(pod);
  if (init !== undefined) {
    process.stderr.write(`gc: pod ${pod.uuid}: killing its container (init ${init})\n`);
    signalPid(init, 'SIGKILL');
    awaitGone(init);
  }
  try {
    const n = Number(readFileSync(path.join(pod.path, NSPAWN_PID), 'utf8').trim());
    const cmd = readFileSync(`/proc/${n}/cmdline`, 'utf8');
    if (cmd.startsWith('systemd-nspawn\0') && cmd.includes(`\0--machine=${state.machine}\0`)) {
      signalPid(n, 'SIGKILL');
      awaitGone(n);
    }
  } catch {
    // no nspawn left
  }
  // Stage0's gc has already run the CNI DELs (src/pod/engine-gc.ts).
  removePodNamespacesSync([path.join(pod.path, 'ns-net')]);
  unmountUnder(pod.path);
  for (const d of podCgroupDirs(state.cgroup)) rmdirTree(d);
}

/** The supervisor (the container's init) found for a pod dir: checked again, not searched, each time. */
const initSeen = new Map<string, number>();

/** Whether the pod's supervisor runs: its init, found once by scanning /proc, still holding the pod dir. */
function supervisorRunning(pod: EnginePod): boolean {
  const dir = path.resolve(pod.path);
  const seen = initSeen.get(dir);
  if (seen !== undefined) {
    try {
      if (readlinkSync(`/proc/${seen}/fd/3`) === dir) return true;
    } catch {
      // gone
    }
    initSeen.delete(dir);
  }
  const init = podInitPid(pod);
  if (init === undefined) return false;
  initSeen.set(dir, init);
  return true;
}

function readManifest(dir: string): PodManifest {
  const file = path.join(dir, POD_FILES.manifest);
  return parsePodManifest(readFileSync(file, 'utf8'), file).manifest;
}

function writeAtomic(file: string, content: string): void {
  writeFileSync(`${file}.tmp`, content);
  renameSync(`${file}.tmp`, file);
}

/** An app's files in the pod dir (its rootfs under the stage1 tree, launch scripts, overlay dirs, settings). */
function appFiles(app: string): string[] {
  return [
    path.join('apps', app),
    path.join('overlay', app),
    path.join(STAGE1_ROOTFS, 'opt', 'stage2', app),
    path.join(SUP_DIR, 'app', `${app}.env`),
  ];
}

/**
 * `rkt app add`: the app's rootfs dir (or copy), launch scripts and supervisor settings in the
 * running sandbox, and its place in the engine state. What the container was started with must
 * hold it: its image tree is in the bound tree store, its volumes are the pod's.
 */
function addApp(req: AddAppRequest): AddedApp {
  const state = requireState(req.pod);
  const R = req.pod.path;
  if (state.mutable !== true) fail(`pod ${req.pod.uuid} is not a sandbox (rkt app sandbox)`);
  const manifest = req.manifest ?? readManifest(R);
  const i = manifest.apps.findIndex((a) => a.name === req.app);
  if (i < 0) fail(`pod ${req.pod.uuid} has no app ${JSON.stringify(req.app)}`);
  const ctx: AppsContext = {
    P: R,
    R,
    uuid: req.pod.uuid,
    dataDir: req.dataDir,
    manifest,
    noOverlay: state.noOverlay === true,
    resolv: existsSync(path.join(R, 'etc', 'resolv.conf')),
    insecure: req.insecure,
    // The pod's URL (its token): stage0 tells the service about the app right after this.
    metadataUrl: state.metadataUrl ?? '',
    interactive: false,
    hierarchies: Object.fromEntries((state.limits ?? []).map((h) => [h, v1Hierarchy(h)])),
    hostCapabilities: containerCapabilities(req.pod),
    ignored: new Set(),
    capabilities: new Set(),
    limited: new Set(),
    lowers: new Set(),
    volumes: new Map(),
  };
  // A volume the container was not started with: an empty one is in the pod dir, which it has; a
  // host one is bound on the host into the propagation dir, whose mounts the container receives.
  const bound: Record<string, string> = { ...state.bound };
  const made: string[] = [];
  ctx.volumeSource = (name, source, recursive) => {
    if ((state.volumes ?? []).includes(name)) return path.posix.join('/rkt/volumes', name);
    if (source.startsWith(`${R}/`)) return source;
    if (state.incoming !== true)
      fail(
        `app ${JSON.stringify(req.app)}: volume ${JSON.stringify(name)} is not the pod's, and this sandbox cannot receive volumes (started by an older version)`,
      );
    const target = path.join(R, INCOMING, name);
    const known = bound[name];
    if (known !== undefined) {
      if (known !== source)
        fail(`volume ${JSON.stringify(name)} of pod ${req.pod.uuid} is already ${known}, not ${source}`);
      return target;
    }
    let dir: boolean;
    try {
      dir = statSync(source).isDirectory();
    } catch {
      return fail(`volume ${JSON.stringify(name)}: source ${source} does not exist`);
    }
    if (dir) mkdirSync(target, { recursive: true });
    else writeFileSync(target, '');
    const r = host().mount.mount([recursive ? '--rbind' : '--bind', source, target]);
    if (r.status !== 0) {
      rmSync(target, { recursive: true, force: true });
      fail(
        `cannot bind volume ${JSON.stringify(name)} (${source}) into pod ${req.pod.uuid}: ${failureText(r, 'mount')}`,
      );
    }
    made.push(target);
    bound[name] = source;
    return target;
  };
  let prepared;
  try {
    prepared = prepareApp(ctx, i);
    const root = state.treeRoot;
    for (const l of ctx.lowers)
      if (root === undefined || !l.startsWith(`${root}/`))
        fail(`app ${JSON.stringify(req.app)}: its image tree ${l} is not in the pod's tree store`);
  } catch (err) {
    for (const t of made) {
      host().mount.umount(t, { lazy: true });
      rmSync(t, { recursive: true, force: true });
    }
    for (const f of appFiles(req.app)) rmSync(path.join(R, f), { recursive: true, force: true });
    throw err;
  }
  const ignored = [...ctx.ignored].filter(
    (n) =>
      !(n === 'resource/memory' && ctx.limited.has('memory')) &&
      !((n === 'resource/cpu' || n === 'os/linux/cpu-shares') && ctx.limited.has('cpu')),
  );
  if (ignored.length > 0)
    process.stderr.write(
      `add: the nspawn engine does not apply these isolators; ignored: ${ignored.join(', ')}\n`,
    );
  mkdirSync(path.join(R, LOGS_DIR, req.app), { recursive: true });
  mkdirSync(path.join(R, SUP_DIR, 'app'), { recursive: true });
  writeAtomic(path.join(R, SUP_DIR, 'app', `${req.app}.env`), prepared.env);
  const next: NspawnPodState = {
    ...state,
    apps: [...state.apps.filter((a) => a.name !== req.app), prepared.state],
    ...(Object.keys(bound).length > 0 ? { bound } : {}),
  };
  writeEngineState(R, next);
  return { configFiles: [], hostNetwork: state.hostNetwork };
}

/** `rkt app rm`, once the supervisor forgot the app (and unmounted its rootfs): its files and state. */
function removeAppFiles(pod: EnginePod, app: string): void {
  const state = readState(pod);
  for (const f of appFiles(app)) rmSync(path.join(pod.path, f), { recursive: true, force: true });
  if (state !== undefined)
    writeEngineState(pod.path, { ...state, apps: state.apps.filter((a) => a.name !== app) });
}

/**
 * `rkt app` on the nspawn engine: the supervisor is the container's init, its FIFO and status dir
 * are in the pod dir, which the container binds at the same path, so commands go as with oci.
 */
const apps: EngineApps = {
  supervisorRunning,
  send: (pod, line) => sendCommand(pod.path, line),
  add: addApp,
  removeFiles: removeAppFiles,
  hostNetwork: (pod) => readState(pod)?.hostNetwork === true,
};

export const nspawnEngine: Engine = {
  name: 'nspawn',
  podNetwork: true,
  podLogs: true,
  podMetadata: true,
  apps,
  run,
  enter,
  stop,
  gc,
};
