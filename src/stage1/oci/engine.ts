/**
 * The `oci` engine: one OCI container per app (crun, or runc), over an overlay rootfs per app,
 * joined to the pod's network, IPC and UTS namespace files. Stage0 (Node) writes every bundle into
 * the prepared pod dir, with the settings of the pod's supervisor (stage1/sup/, writeSupervisorFiles),
 * and returns a two-line plan that the launcher execs: the fixed supervisor (supervisor.sh, the
 * same for every pod) locks the pod, renames it into run/, mounts, makes the namespaces and
 * supervises the apps; no Node process stays resident. docs/stage1.md describes the design.
 */
import { existsSync, mkdirSync, readFileSync, readdirSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { parsePodManifest, type App, type PodManifest, type RuntimeApp } from '../../appc/index.js';
import { mknod, S_IFIFO } from '../../aci/syscalls.js';
import { RKT_FAILURE, RocketError, errorMessage } from '../../errors.js';
import { stderrLine } from '../../stderr.js';
import { failureText, host } from '../../host/index.js';
import { unmountUnder } from '../../host/mounts.js';
import { MUTABLE_ANNOTATION, POD_FILES, appTreeStoreId } from '../../pod-layout.js';
import {
  ENGINE_STATE,
  readEngineState,
  type AddAppRequest,
  type AddedApp,
  type EngineApps,
  type EnginePod,
  type EnterRequest,
  type Engine,
  type ExecPlan,
  type InsecureOptions,
  type RunConfig,
  type StopRequest,
  writeEngineState,
} from '../engine.js';
import { rmdirTree, writeFifoLine } from '../files.js';
import { podHostname } from '../hosts.js';
import { createNamespacesCommand, podNamespaceFiles, removePodNamespacesSync } from './namespaces.js';
import {
  deleteContainer,
  detectRuntime,
  killContainer,
  runtimeArgv,
  shQuote,
  type OciRuntime,
  type RuntimeName,
} from './runtime.js';
import { ociConfigForApp, type AppMount, type OciConfig } from './spec.js';
import { preparePodIo, type PodIo } from './pod-io.js';
import { appWakeFifo, decorateMainConfig, supportsNotify } from './systemd.js';
import { SECCOMP_BPF_ANNOTATION, seccompBpfData } from './seccomp-bpf.js';
import { LOGS_DIR } from '../../logs/format.js';
import { appVolumes } from '../volumes.js';
import { resolveAppUser } from './user.js';
import { stdinTerminal } from '../tty.js';

export type { AddAppRequest, AddedApp };

/** What the engine records in the pod dir (`stage1/engine.json`), for stop, enter and gc. */
export interface OciPodState {
  engine: 'oci';
  runtime: RuntimeName;
  /** Main containers, in app order. */
  apps: { name: string; id: string }[];
  /** Every container id the pod may create (mains and event handlers). */
  containers: string[];
  /** The cgroup parent directory name (in every hierarchy). */
  cgroupParent: string;
  /** `--net=host` (no ns-net), `--no-overlay`, and a sandbox (`rkt app sandbox`): for `rkt app add`. */
  hostNetwork?: boolean;
  noOverlay?: boolean;
  mutable?: boolean;
}

/** Whether a pod manifest is a sandbox's (rkt's annotation `coreos.com/rkt/stage1/mutable`). */
export function isMutable(m: PodManifest): boolean {
  return m.annotations?.some((a) => a.name === MUTABLE_ANNOTATION && a.value === 'true') === true;
}

export { ENGINE_STATE };
/** Written by `rkt stop` (graceful): apps ending on SIGTERM then count as a clean exit. */
export const STOPPING_MARKER = path.join('stage1', 'stopping');
/** Seconds between the graceful SIGTERM and the SIGKILL (env `RKT_STOP_TIMEOUT`). */
export const DEFAULT_STOP_TIMEOUT = 10;

/** The runtime asked for: `--stage1-name`/`--engine` `oci-crun`/`oci-runc`, else `RKT_OCI_RUNTIME`. */
export function runtimeChoice(variant: string | undefined): RuntimeName | undefined {
  const v = variant ?? '';
  if (v === 'oci-crun' || v === 'crun') return 'crun';
  if (v === 'oci-runc' || v === 'runc') return 'runc';
  if (v !== '' && v !== 'oci')
    throw new RocketError(
      `unknown engine ${JSON.stringify(v)}: expected oci, oci-crun or oci-runc`,
      RKT_FAILURE,
    );
  const env = process.env['RKT_OCI_RUNTIME'];
  if (env === 'crun' || env === 'runc') return env;
  if (env !== undefined && env !== '')
    throw new RocketError(`RKT_OCI_RUNTIME=${env}: expected crun or runc`, RKT_FAILURE);
  return undefined;
}

const q = shQuote;

function readManifest(dir: string): PodManifest {
  const file = path.join(dir, POD_FILES.manifest);
  return parsePodManifest(readFileSync(file, 'utf8'), file).manifest;
}

function volumeMounts(manifest: PodManifest, appIndex: number, runDir: string, app: App): AppMount[] {
  return appVolumes(manifest, appIndex, runDir, app).map((v) => ({
    kind: 'bind',
    source: v.source,
    destination: v.inner,
    readOnly: v.readOnly,
    recursive: v.recursive,
  }));
}

function runCp(from: string, to: string): void {
  const r = host().cp.copyTree(from, to);
  if (r.status !== 0) throw new RocketError(`cannot copy ${from}: ${failureText(r, 'cp')}`, RKT_FAILURE);
}

interface AppPlan {
  name: string;
  id: string;
  bundle: string;
  pre: { id: string; bundle: string }[];
  post: { id: string; bundle: string }[];
  overlay?: { lower: string; upper: string; work: string; target: string };
  /** Attachable I/O (absent: none). */
  io?: AppIo;
}

/**
 * An app's attachable I/O (`--stdin|--stdout|--stderr`, kept by stage0 in the app annotations
 * `coreos.com/rkt/stage2/<stream>`): a terminal on all three, or some streams each on its own
 * endpoint; the others as without (stdin null, stdout and stderr to the log).
 */
export interface AppIo {
  tty: boolean;
  stdin: boolean;
  stdout: boolean;
  stderr: boolean;
}

/**
 * App `ra`'s attachable I/O, for a pod that runs in R: what the engines' app set-up goes through,
 * so an app whose attach endpoints under R cannot be made is refused there, before anything runs
 * (without R, as for kvm, whose endpoints are in the guest: only the modes are checked).
 */
export function appIo(ra: RuntimeApp, R?: string): AppIo {
  const mode = (s: string, dflt: string): string =>
    ra.annotations?.find((a) => a.name === `coreos.com/rkt/stage2/${s}`)?.value ?? dflt;
  const m = [mode('stdin', 'null'), mode('stdout', 'log'), mode('stderr', 'log')];
  const tty = m.includes('tty');
  if (tty && m.some((v) => v !== 'tty'))
    throw new RocketError(
      `app ${JSON.stringify(ra.name)}: --stdin, --stdout and --stderr are all tty or none is`,
      RKT_FAILURE,
    );
  const io = { tty, stdin: m[0] === 'stream', stdout: m[1] === 'stream', stderr: m[2] === 'stream' };
  if (R !== undefined) checkAttachPaths(R, ra.name, io);
  return io;
}

/** The longest path a unix socket can have (sun_path's 108 bytes, less the terminating NUL). */
const SOCKET_PATH_MAX = 107;

/**
 * Refuses an app whose attach endpoints (`stage1/attach/APP/<stream>.sock` under the run dir R)
 * would not fit in a unix socket's path: the supervisor could not listen there, and `rkt attach`
 * would wait for a socket that never comes.
 */
function checkAttachPaths(R: string, name: string, io: AppIo): void {
  const socks = [
    ...(io.tty ? ['tty'] : []),
    ...(io.stdin ? ['stdin'] : []),
    ...(io.stdout ? ['stdout'] : []),
    ...(io.stderr ? ['stderr'] : []),
  ].map((s) => path.join(R, 'stage1', 'attach', name, `${s}.sock`));
  const long = socks.find((f) => Buffer.byteLength(f) > SOCKET_PATH_MAX);
  if (long !== undefined)
    throw new RocketError(
      `app ${JSON.stringify(name)}: its attach socket ${long} is ${Buffer.byteLength(long)} bytes long, over the ${SOCKET_PATH_MAX} a unix socket takes (use a shorter --dir or app name)`,
      RKT_FAILURE,
    );
}

/** What writing one app's bundles needs (at `rkt run`, or `rkt app add` into a running pod). */
interface AppContext {
  /** Where to write now, and where the pod runs (the same dir for an app added to a running pod). */
  P: string;
  R: string;
  dataDir: string;
  uuid: string;
  manifest: PodManifest;
  noOverlay: boolean;
  /** Whether the pod has `etc/resolv.conf` to bind-mount. */
  resolv: boolean;
  ns: ReturnType<typeof podNamespaceFiles>;
  cgroupParent: string;
  insecure: InsecureOptions;
  /** The apps' AC_METADATA_URL ('' when the pod is not registered). */
  metadataUrl: string;
  terminal?: ReturnType<typeof stdinTerminal>;
  warnings: string[];
  /** The poststart hook and the systemd settings of app i's main container (pod-io.ts). */
  decorate(i: number, config: OciConfig): OciConfig;
  /** crun: the seccomp filter given compiled (seccomp-bpf.ts). */
  seccompBpf: boolean;
  /**
   * The pod's hostname, for the runtime to set in the joined UTS namespace (a pod of `rkt run`,
   * whose supervisor leaves it to the runtime); absent when the namespace has it already.
   */
  hostname?: string;
}

/** With `ctx.seccompBpf`, the config's seccomp filter compiled into crun's annotation. */
function withSeccompBpf(ctx: AppContext, config: OciConfig): OciConfig {
  const seccomp = config.linux?.seccomp;
  if (!ctx.seccompBpf || seccomp === undefined) return config;
  const data = seccompBpfData(seccomp, path.join(ctx.dataDir, 'cache', 'seccomp-bpf'));
  if (data === undefined) return config;
  return { ...config, annotations: { ...config.annotations, [SECCOMP_BPF_ANNOTATION]: data } };
}

/** Writes app i's rootfs mount point (or copy), overlay dirs and OCI bundles (main and handlers). */
function prepareApp(ctx: AppContext, i: number): AppPlan {
  const { P, R, manifest } = ctx;
  const ra = manifest.apps[i] as RuntimeApp;
  const app = ra.app;
  if (app === undefined)
    throw new RocketError(`app ${JSON.stringify(ra.name)} has no app section`, RKT_FAILURE);
  const treeId = appTreeStoreId(P, ra.name);
  if (treeId === undefined)
    throw new RocketError(`app ${JSON.stringify(ra.name)}: no rendered tree`, RKT_FAILURE);
  const lower = path.join(ctx.dataDir, 'cas', 'tree', treeId, 'rootfs');
  const appDir = path.join('apps', ra.name);
  mkdirSync(path.join(P, appDir, 'rootfs'), { recursive: true });
  const io = appIo(ra, R);
  if (io.tty && ctx.terminal !== undefined)
    throw new RocketError(
      `app ${JSON.stringify(ra.name)}: --stdin=tty does not go with --interactive`,
      RKT_FAILURE,
    );
  const plan: AppPlan = {
    name: ra.name,
    id: `rkt-${ctx.uuid}-${ra.name}`,
    bundle: path.join(R, appDir),
    pre: [],
    post: [],
    io,
  };
  if (ctx.noOverlay) runCp(lower, path.join(P, appDir, 'rootfs'));
  else {
    for (const d of ['upper', 'work']) mkdirSync(path.join(P, 'overlay', ra.name, d), { recursive: true });
    plan.overlay = {
      lower,
      upper: path.join(R, 'overlay', ra.name, 'upper'),
      work: path.join(R, 'overlay', ra.name, 'work'),
      target: path.join(R, appDir, 'rootfs'),
    };
  }
  const user = resolveAppUser(lower, app, ra.name);
  const mounts: AppMount[] = [
    { kind: 'bind', source: path.join(R, 'etc', 'hosts'), destination: '/etc/hosts', readOnly: false },
    ...(ctx.resolv
      ? [
          {
            kind: 'bind' as const,
            source: path.join(R, 'etc', 'resolv.conf'),
            destination: '/etc/resolv.conf',
            readOnly: false,
          },
        ]
      : []),
    ...volumeMounts(manifest, i, R, app),
  ];
  const ns = ctx.ns;
  const configFor = (exec: string[] | undefined, suffix: string): OciConfig => {
    const { config, warnings: w } = ociConfigForApp({
      app: exec === undefined ? app : { ...app, exec },
      appName: ra.name,
      rootfs: path.join(R, appDir, 'rootfs'),
      readOnlyRootfs: ra.readOnlyRootFS === true,
      namespaces: { network: ns.network ?? 'host', ipc: ns.ipc, uts: ns.uts },
      ...(ctx.hostname !== undefined ? { hostname: ctx.hostname } : {}),
      mounts,
      ...(manifest.isolators !== undefined ? { podIsolators: manifest.isolators } : {}),
      executorEnv: { AC_METADATA_URL: ctx.metadataUrl, container: 'rocket' },
      user,
      insecure: ctx.insecure,
      cgroupsPath: `/${ctx.cgroupParent}/${ra.name}${suffix}`,
      annotations: { 'coreos.com/rkt/pod-uuid': ctx.uuid, 'coreos.com/rkt/app-name': ra.name },
      arch: process.arch,
      // --interactive on a terminal: the main process gets a terminal of its own (tty.ts).
      ...(exec === undefined && ctx.terminal !== undefined
        ? { terminal: true, consoleSize: ctx.terminal }
        : {}),
      // --stdin=tty: a terminal of its own too, relayed by the runtime to the pty the supervisor
      // keeps for `rkt attach`.
      ...(exec === undefined && io.tty ? { terminal: true, consoleSize: { height: 24, width: 80 } } : {}),
    });
    if (exec === undefined) ctx.warnings.push(...w);
    return config;
  };
  writeFileSync(
    path.join(P, appDir, 'config.json'),
    // Compiled last: the decorations (the CRI's security context) may change the filter.
    JSON.stringify(withSeccompBpf(ctx, ctx.decorate(i, configFor(undefined, ''))), null, 2),
  );
  for (const [k, eh] of (app.eventHandlers ?? []).entries()) {
    const sub = `${eh.name}-${k}`;
    mkdirSync(path.join(P, appDir, sub), { recursive: true });
    writeFileSync(
      path.join(P, appDir, sub, 'config.json'),
      JSON.stringify(withSeccompBpf(ctx, configFor(eh.exec, `-${sub}`)), null, 2),
    );
    (eh.name === 'pre-start' ? plan.pre : plan.post).push({
      id: `${plan.id}-${sub}`,
      bundle: path.join(R, appDir, sub),
    });
  }
  return plan;
}

/**
 * Writes the bundles and the supervisor's settings into the prepared pod (paths as they will be
 * under run/) and returns the plan. Stage0's pipeline has set up the network, hosts, resolv.conf,
 * the metadata registration and the log dirs already (RunConfig).
 */
function run(config: RunConfig): ExecPlan {
  const P = config.preparedDir;
  const R = config.runDir;
  if (!existsSync(P))
    throw new RocketError(`pod ${JSON.stringify(config.uuid)} is not prepared`, RKT_FAILURE);
  const net = config.network.mode;
  // The supervisor's tools from busybox when it has them all (src/host/busybox.ts); its runtime
  // wrapper only for containers that ask for no mount propagation (runtime.ts).
  const busybox = host().busybox.find(SUPERVISOR_APPLETS);
  const rt = detectRuntime({
    ...runtimeChoiceOpts(config.variant),
    ...(busybox !== undefined && config.mountPropagation !== true ? { busybox } : {}),
  });
  const manifest = config.manifest;
  const hostname = podHostname(config.uuid, config.hostname);
  const cgroupParent = `rkt-${config.uuid}`;
  const ns = podNamespaceFiles(R, { hostNetwork: net === 'host' });
  mkdirSync(path.join(P, POD_FILES.appStatusDir), { recursive: true });

  const apps: AppPlan[] = [];
  const mutable = isMutable(manifest);
  const terminal = config.interactive ? stdinTerminal() : undefined;
  const warnings: string[] = [];
  // Readiness, sd_notify, socket activation (pod-io.ts), and the loggers stage0 set up.
  const podIo = preparePodIo({
    P,
    R,
    dataDir: config.dataDir,
    manifest,
    ...(config.logs !== undefined ? { logs: config.logs } : {}),
    warn: (m) => warnings.push(m),
    ...(busybox !== undefined ? { busybox } : {}),
  });
  const ctx: AppContext = {
    P,
    R,
    dataDir: config.dataDir,
    uuid: config.uuid,
    manifest,
    noOverlay: config.noOverlay,
    resolv: config.resolvConf,
    ns,
    cgroupParent,
    insecure: config.insecure,
    metadataUrl: config.metadata.url,
    ...(terminal !== undefined ? { terminal } : {}),
    warnings,
    decorate: (i, c) => podIo.decorate(i, c),
    seccompBpf: rt.name === 'crun',
    ...(mutable ? {} : { hostname }),
  };
  for (const i of manifest.apps.keys()) apps.push(prepareApp(ctx, i));
  for (const w of warnings) stderrLine(`run: ${w}`);
  if (process.env['RKT_DEBUG_ENGINE'] !== undefined) stderrLine(`run: using ${rt.describe()}`);
  const state: OciPodState = {
    engine: 'oci',
    runtime: rt.name,
    apps: apps.map((a) => ({ name: a.name, id: a.id })),
    containers: apps.flatMap((a) => [...a.pre.map((h) => h.id), a.id, ...a.post.map((h) => h.id)]),
    cgroupParent,
    hostNetwork: net === 'host',
    noOverlay: config.noOverlay,
    mutable,
  };
  writeEngineState(P, state);
  writeSupervisorFiles(P, {
    R,
    rt,
    apps,
    ns,
    hostname,
    cgroupParent,
    cniNetworks: net === 'cni',
    cniTeardown: config.network.teardownScript ?? '',
    mdsUnregister: config.metadata.unregister,
    io: podIo.io,
    mutable,
    ...(busybox !== undefined ? { busybox } : {}),
  });
  makeStartFifos(P, podIo.io.logs !== undefined ? apps.map((a) => a.name) : []);
  return { script: supervisorPlan(P, R) };
}

function runtimeChoiceOpts(variant: string | undefined): { runtime?: RuntimeName } {
  const r = runtimeChoice(variant);
  return r === undefined ? {} : { runtime: r };
}

/** Where the supervisor's settings live in the pod dir (supervisor.sh reads them). */
export const SUP_DIR = path.join('stage1', 'sup');
/** The supervisor's command FIFO (docs/stage1.md, "The supervisor's protocol"). */
export const SUP_CTL = path.join('stage1', 'ctl');
export const SUPERVISOR_RELATIVE_PATH = path.join('src', 'stage1', 'oci', 'supervisor.sh');

/** The supervisor program: under `$ROCKET_HOME` (set by bin/rkt), else above this module. */
export function supervisorProgram(): string {
  const home = process.env['ROCKET_HOME'];
  if (home !== undefined && home !== '' && existsSync(path.join(home, SUPERVISOR_RELATIVE_PATH)))
    return path.join(home, SUPERVISOR_RELATIVE_PATH);
  const url = (import.meta as { url?: string }).url;
  if (url !== undefined) {
    for (let dir = path.dirname(fileURLToPath(url)); ; dir = path.dirname(dir)) {
      if (existsSync(path.join(dir, SUPERVISOR_RELATIVE_PATH)))
        return path.join(dir, SUPERVISOR_RELATIVE_PATH);
      if (path.dirname(dir) === dir) break;
    }
  }
  throw new RocketError(`cannot find the pod supervisor ${SUPERVISOR_RELATIVE_PATH}`, RKT_FAILURE);
}

/** The exec plan: the fixed supervisor, on the prepared pod dir and where it will run. */
export function supervisorPlan(P: string, R: string): string {
  return `rm -f "$0"\nexec /bin/sh ${[supervisorProgram(), P, R].map(q).join(' ')}\n`;
}

/** A settings file for the supervisor: `NAME='value'` lines, sourced by supervisor.sh. */
export function envFile(vars: Record<string, string | number | boolean | undefined>): string {
  return (
    Object.entries(vars)
      .map(([k, v]) => `${k}=${q(v === undefined || v === false ? '' : v === true ? '1' : String(v))}`)
      .join('\n') + '\n'
  );
}

export interface SupervisorPod {
  R: string;
  rt: OciRuntime;
  apps: AppPlan[];
  ns: ReturnType<typeof podNamespaceFiles>;
  hostname: string;
  cgroupParent: string;
  /** Stage0 made `ns-net` and its CNI networks: the supervisor only tears them down. */
  cniNetworks?: boolean;
  /** The script that tears them down (`sh SCRIPT POD_DIR`). */
  cniTeardown?: string;
  /** The command that unregisters the pod from the metadata service at teardown, or ''. */
  mdsUnregister?: string;
  /** Logs and systemd integration (pod-io.ts). */
  io: PodIo;
  /** A sandbox (apps independent, alive until stopped) rather than a pod of `rkt run`. */
  mutable: boolean;
  /** A busybox with SUPERVISOR_APPLETS: the supervisor's `mv`, `mount`, `umount`, `ln` and namespaces. */
  busybox?: string;
}

/**
 * The busybox applets the supervisor runs when it has them (BB in its settings, supervisor.sh),
 * the hybrid wrapper's (runtime.ts), the namespaces' (namespaces.ts) and the poststart hooks'
 * (systemd.ts): one static binary each time instead of a dynamically linked util-linux or
 * coreutils program, about 0.5-1 ms less each.
 */
export const SUPERVISOR_APPLETS = ['sh', 'unshare', 'ip', 'mount', 'umount', 'mv', 'ln', 'cat'] as const;

/** The busybox a pod's supervisor was given (BB in its settings, the text of pod.env), or undefined. */
export function supervisorBusybox(settings: string): string | undefined {
  // envFile's quoting: a plain path as it is, anything else in single quotes.
  const v = /^BB=(.*)$/m.exec(settings)?.[1] ?? '';
  const bb = v.startsWith("'") ? v.slice(1, -1).replaceAll(`'\\''`, "'") : v;
  return bb.startsWith('/') ? bb : undefined;
}

/** The pod's settings (`stage1/sup/pod.env`) for supervisor.sh. */
export function podEnv(p: SupervisorPod): string {
  const nsFiles = [p.ns.network, p.ns.ipc, p.ns.uts].filter((f): f is string => f !== undefined);
  // With CNI networks, stage0 already made ns-net (src/net).
  const toCreate = p.cniNetworks === true ? { ipc: p.ns.ipc, uts: p.ns.uts } : p.ns;
  const create = [toCreate.network, toCreate.ipc, toCreate.uts].some((f) => f !== undefined);
  return envFile({
    RT: runtimeArgv(p.rt, []).map(q).join(' '),
    // The busybox whose applets the supervisor runs, or '' (its own programs: util-linux, coreutils).
    BB: p.busybox ?? '',
    // The runtime's state dir tells whether a container still exists.
    ST: p.rt.stateRoot ?? `/run/${p.rt.name}`,
    NS_FILES: nsFiles.map((f) => path.relative(p.R, f)).join(' '),
    // A pod of `rkt run`: the runtime sets the hostname from the apps' configs (prepareApp); a
    // sandbox's UTS namespace has it from the start, before (and without) any app.
    NS_CREATE: create ? createNamespacesCommand(toCreate, p.mutable ? p.hostname : undefined, p.busybox) : '',
    CGP: p.cgroupParent,
    CNI: p.cniNetworks === true,
    CNI_TEARDOWN: p.cniTeardown ?? '',
    MDS_UNREGISTER: p.mdsUnregister ?? '',
    LOGS: p.io.logs !== undefined,
    LOGMAX: p.io.logs?.max,
    LOGEPOCH: p.io.logs?.epoch,
    RELAY_APPS: p.io.relayApps.join(' '),
    LISTEN_COUNT: p.io.listenCount,
    STOP_TIMEOUT: DEFAULT_STOP_TIMEOUT,
    MUTABLE: p.mutable,
    INITIAL_APPS: p.apps.map((a) => a.name).join(' '),
  });
}

/** An app's settings (`stage1/sup/app/<name>.env`) for supervisor.sh. */
export function appEnv(
  a: AppPlan,
  io: { notify: boolean; listen: { args: string; redirects: string } },
): string {
  const vars: Record<string, string | number | boolean | undefined> = {
    ID: a.id,
    BUNDLE: a.bundle,
    OVL:
      a.overlay !== undefined
        ? `lowerdir=${a.overlay.lower},upperdir=${a.overlay.upper},workdir=${a.overlay.work}`
        : '',
    TARGET: a.overlay?.target ?? '',
    PRE_N: a.pre.length,
    POST_N: a.post.length,
    NOTIFY: io.notify,
    LISTEN_ARGS: io.listen.args,
    LISTEN_REDIR: io.listen.redirects,
    IO_TTY: a.io?.tty,
    IO_IN: a.io?.stdin,
    IO_OUT: a.io?.stdout,
    IO_ERR: a.io?.stderr,
  };
  for (const [k, h] of a.pre.entries())
    Object.assign(vars, { [`PRE_ID_${k}`]: h.id, [`PRE_B_${k}`]: h.bundle });
  for (const [k, h] of a.post.entries())
    Object.assign(vars, { [`POST_ID_${k}`]: h.id, [`POST_B_${k}`]: h.bundle });
  return envFile(vars);
}

/** Writes the supervisor's settings into the prepared pod dir `P` (temp file, then rename). */
export function writeSupervisorFiles(P: string, p: SupervisorPod): void {
  mkdirSync(path.join(P, SUP_DIR, 'app'), { recursive: true });
  for (const [i, a] of p.apps.entries())
    writeAtomic(
      path.join(P, SUP_DIR, 'app', `${a.name}.env`),
      appEnv(a, { notify: p.io.notify(i), listen: p.io.listen(i) }),
    );
  writeAtomic(path.join(P, SUP_DIR, 'pod.env'), podEnv(p));
}

function writeAtomic(file: string, content: string): void {
  const tmp = `${file}.tmp`;
  writeFileSync(tmp, content);
  renameSync(tmp, file);
}

/** oci's `app add` request: the CRI may change the app's OCI config after the engine's. */
export interface OciAddAppRequest extends AddAppRequest {
  /** Changes to the app's OCI config after the engine's (the CRI's security context). */
  decorate?: (config: OciConfig) => OciConfig;
}

/**
 * `rkt app add`: writes the app's bundles and its supervisor settings into the running pod and
 * records its containers in the engine state (temp files, then rename). The app is not started.
 */
export function addApp(req: OciAddAppRequest): AddedApp {
  const state = readState(req.pod);
  if (state === undefined)
    throw new RocketError(`pod ${req.pod.uuid} was not started by the oci engine`, RKT_FAILURE);
  const R = req.pod.path;
  const manifest = req.manifest ?? readManifest(R);
  const i = manifest.apps.findIndex((a) => a.name === req.app);
  const ra = manifest.apps[i];
  if (ra === undefined)
    throw new RocketError(`pod ${req.pod.uuid} has no app ${JSON.stringify(req.app)}`, RKT_FAILURE);
  const treeId = appTreeStoreId(R, ra.name);
  const manifestFile =
    treeId === undefined ? undefined : path.join(req.dataDir, 'cas', 'tree', treeId, 'manifest');
  const warnings: string[] = [];
  const settings = readFileSync(path.join(R, SUP_DIR, 'pod.env'), 'utf8');
  const plan = prepareApp(
    {
      P: R,
      R,
      dataDir: req.dataDir,
      uuid: req.pod.uuid,
      manifest,
      noOverlay: state.noOverlay === true,
      resolv: existsSync(path.join(R, 'etc', 'resolv.conf')),
      ns: podNamespaceFiles(R, { hostNetwork: state.hostNetwork === true }),
      cgroupParent: state.cgroupParent,
      insecure: req.insecure,
      // stage0 sets the URL into the added app's configs once it told the metadata service.
      metadataUrl: '',
      warnings,
      decorate: (_i, config) => {
        const c = decorateMainConfig(
          config,
          R,
          { name: ra.name, notify: supportsNotify(ra, manifestFile) },
          supervisorBusybox(settings),
        );
        return req.decorate === undefined ? c : req.decorate(c);
      },
      seccompBpf: state.runtime === 'crun',
    },
    i,
  );
  for (const w of warnings) process.stderr.write(`add: ${w}\n`);
  mkdirSync(path.join(R, LOGS_DIR, ra.name), { recursive: true });
  makeFifo(appWakeFifo(R, ra.name));
  // The app's log FIFOs too, if the pod captures logs: then the supervisor's start makes none (a
  // process less between `rkt app start` and the app).
  if (/^LOGS=1$/m.test(settings)) for (const f of LOG_FIFOS) makeFifo(path.join(R, LOGS_DIR, ra.name, f));
  writeAtomic(
    path.join(R, SUP_DIR, 'app', `${ra.name}.env`),
    appEnv(plan, { notify: supportsNotify(ra, manifestFile), listen: { args: '', redirects: '' } }),
  );
  const next: OciPodState = {
    ...state,
    apps: [...state.apps.filter((a) => a.name !== ra.name), { name: ra.name, id: plan.id }],
    containers: [
      ...state.containers,
      ...[...plan.pre.map((h) => h.id), plan.id, ...plan.post.map((h) => h.id)].filter(
        (c) => !state.containers.includes(c),
      ),
    ],
  };
  writeAtomic(path.join(R, ENGINE_STATE), JSON.stringify(next, null, 2) + '\n');
  return {
    configFiles: [plan, ...plan.pre, ...plan.post].map((b) => path.join(b.bundle, 'config.json')),
    hostNetwork: state.hostNetwork === true,
  };
}

/** An app's log FIFOs, in logs/APP/ (the supervisor's loggers read them). */
const LOG_FIFOS = ['stdout.fifo', 'stderr.fifo'];

/** A FIFO of an added app (mknod: no process); one left by an earlier app of that name is reused. */
function makeFifo(file: string): void {
  try {
    mknod(file, S_IFIFO | 0o600, 0n);
  } catch (err) {
    if ((err as { code?: string }).code !== 'EEXIST') throw err;
  }
}

/**
 * The FIFOs the supervisor reads or writes from its start: its control FIFO and the log FIFOs of
 * the apps it starts at once (`logApps`: empty when the pod keeps no log). Made here by mknod(2)
 * rather than by the supervisor's `mkfifo`, which is one process less for every run; the supervisor
 * makes only those that are missing (docs/stage1.md, "The supervisor").
 */
function makeStartFifos(P: string, logApps: readonly string[]): void {
  makeFifo(path.join(P, SUP_CTL));
  for (const a of logApps) for (const f of LOG_FIFOS) makeFifo(path.join(P, LOGS_DIR, a, f));
}

/** Whether the oci engine's pod shares the host's network. */
export function podHostNetwork(pod: EnginePod): boolean {
  return readState(pod)?.hostNetwork === true;
}

/** `rkt app rm`, once the supervisor forgot the app: its files and its place in the engine state. */
export function removeAppFiles(pod: EnginePod, app: string): void {
  const state = readState(pod);
  const R = pod.path;
  for (const d of [
    path.join('apps', app),
    path.join('overlay', app),
    path.join(SUP_DIR, 'app', `${app}.env`),
    path.join(SUP_DIR, 'app', `${app}.wait`),
    // A never-started app's log FIFOs (the supervisor removes a started app's).
    ...LOG_FIFOS.map((f) => path.join(LOGS_DIR, app, f)),
  ])
    rmSync(path.join(R, d), { recursive: true, force: true });
  if (state !== undefined)
    writeAtomic(
      path.join(R, ENGINE_STATE),
      JSON.stringify({ ...state, apps: state.apps.filter((a) => a.name !== app) }, null, 2) + '\n',
    );
}

function readState(pod: EnginePod): OciPodState | undefined {
  return readEngineState<OciPodState>(pod.path, 'oci');
}

function runtimeFor(state: OciPodState): OciRuntime {
  return detectRuntime({ runtime: state.runtime });
}

function stop(req: StopRequest): void {
  const state = readState(req.pod);
  if (state === undefined)
    throw new RocketError(`pod ${req.pod.uuid} was not started by the oci engine`, RKT_FAILURE);
  const rt = runtimeFor(state);
  if (!req.force) {
    // The timeout of this stop, if given, for the supervisor's escalation (supervisor.sh).
    const t = stopTimeoutEnv();
    writeFileSync(path.join(req.pod.path, STOPPING_MARKER), t === undefined ? '' : `${t}\n`);
    // The supervisor stops the apps: TERM, then KILL after the stop timeout.
    if (
      supervisorPid(req.pod.path) !== undefined &&
      sendCommand(req.pod.path, t === undefined ? 'stop' : `stop ${t}`)
    )
      return;
    // A supervisor that is gone: TERM the apps ourselves (nobody escalates).
  } else if (supervisorPid(req.pod.path) !== undefined) {
    // Forced: the supervisor stops the pod at once (a sandbox's supervisor outlives its apps until
    // told to stop), and `timeout` KILLs every app it knows, also when a graceful stop is under way.
    writeFileSync(path.join(req.pod.path, STOPPING_MARKER), '0\n');
    sendCommand(req.pod.path, 'stop 0');
    sendCommand(req.pod.path, 'timeout');
  }
  // And the apps directly, so that they are gone now whatever the supervisor's state.
  for (const a of state.apps) killContainer(rt, a.id, req.force ? 'KILL' : 'TERM');
}

/**
 * Writes one command line to the pod's supervisor (its FIFO, `stage1/ctl`). False if nobody reads
 * the FIFO (no supervisor) or it is not there. Non-blocking: a FIFO without a reader fails at once.
 */
export function sendCommand(podPath: string, line: string): boolean {
  return writeFifoLine(path.join(podPath, SUP_CTL), line);
}

/** `RKT_STOP_TIMEOUT` (whole seconds) if set; a bad value fails. */
export function stopTimeoutEnv(env: NodeJS.ProcessEnv = process.env): number | undefined {
  const v = env['RKT_STOP_TIMEOUT'];
  if (v === undefined || v === '') return undefined;
  if (!/^\d{1,6}$/.test(v))
    throw new RocketError(`RKT_STOP_TIMEOUT=${v}: expected a whole number of seconds`, RKT_FAILURE);
  return Number(v);
}

/**
 * The pid of the pod's supervisor if it still runs: the pod's `pid` file names the process that
 * exec'd the plan, whose command line is `/bin/sh .../supervisor.sh PREPARED RUN` with RUN this
 * pod's dir (a reused pid would not match).
 */
export function supervisorPid(podPath: string): number | undefined {
  let pid: number;
  try {
    pid = Number(readFileSync(path.join(podPath, POD_FILES.pid), 'utf8').trim());
  } catch {
    return undefined;
  }
  if (!Number.isSafeInteger(pid) || pid <= 1) return undefined;
  try {
    const argv = readFileSync(`/proc/${pid}/cmdline`, 'utf8').split('\0');
    return argv[0] === '/bin/sh' &&
      path.basename(argv[1] ?? '') === 'supervisor.sh' &&
      path.resolve(argv[3] ?? '') === path.resolve(podPath)
      ? pid
      : undefined;
  } catch {
    return undefined;
  }
}

function enter(req: EnterRequest): ExecPlan {
  const state = readState(req.pod);
  if (state === undefined)
    throw new RocketError(`pod ${req.pod.uuid} was not started by the oci engine`, RKT_FAILURE);
  let app = state.apps[0];
  if (req.app !== undefined) app = state.apps.find((a) => a.name === req.app);
  else if (state.apps.length > 1)
    throw new RocketError(
      `pod ${req.pod.uuid} has several apps (${state.apps.map((a) => a.name).join(', ')}): choose one with --app`,
      RKT_FAILURE,
    );
  if (app === undefined)
    throw new RocketError(`pod ${req.pod.uuid} has no app ${JSON.stringify(req.app)}`, RKT_FAILURE);
  const cmd = req.command.length > 0 ? req.command : ['/bin/sh'];
  const rt = runtimeFor(state);
  const base = runtimeArgv(rt, ['exec', ...(req.pidFile !== undefined ? ['--pid-file', req.pidFile] : [])])
    .map(q)
    .join(' ');
  if (req.asApp === true) return { script: enterAsApp(base, req.pod.path, app, cmd) };
  const rest = [app.id, ...cmd].map(q).join(' ');
  return {
    script: `rm -f "$0"\nif [ -t 0 ]; then exec ${base} --tty ${rest}; else exec ${base} ${rest}; fi\n`,
  };
}

/**
 * An enter plan running `cmd` with the process settings of the app's config.json (the runtime's
 * `exec --process`): its user and groups, capabilities, no_new_privileges, environment and working
 * directory. The process JSON reaches the runtime on fd 3 (a here-document), so nothing is left to
 * clean up; the runtimes do not pass fds above 2 on to the process.
 */
function enterAsApp(base: string, R: string, app: { name: string; id: string }, cmd: string[]): string {
  let proc: OciConfig['process'];
  try {
    proc = (JSON.parse(readFileSync(path.join(R, 'apps', app.name, 'config.json'), 'utf8')) as OciConfig)
      .process;
  } catch (err) {
    throw new RocketError(
      `app ${JSON.stringify(app.name)}: no OCI config: ${errorMessage(err)}`,
      RKT_FAILURE,
    );
  }
  const line = (terminal: boolean): string => {
    const rest: Partial<OciConfig['process']> = { ...proc };
    delete rest.consoleSize;
    const json = JSON.stringify({ ...rest, terminal, args: cmd });
    return `exec ${base} --process /dev/fd/3 ${q(app.id)} 3<<'RKT_PROCESS_JSON'\n${json}\nRKT_PROCESS_JSON\n`;
  };
  return `rm -f "$0"\nif [ -t 0 ]; then\n${line(true)}else\n${line(false)}fi\n`;
}

/** Cgroup dirs named `name` at the top of every hierarchy under /sys/fs/cgroup. */
export function podCgroupDirs(name: string, root = '/sys/fs/cgroup'): string[] {
  const out: string[] = [];
  const candidates = [path.join(root, name)];
  try {
    for (const h of readdirSync(root)) candidates.push(path.join(root, h, name));
  } catch {
    return [];
  }
  for (const c of candidates) if (existsSync(c)) out.push(c);
  return out;
}

function gc(pod: EnginePod): void {
  const state = readState(pod);
  if (state !== undefined) {
    try {
      const rt = runtimeFor(state);
      for (const id of state.containers) {
        try {
          deleteContainer(rt, id, true);
        } catch {
          // reported by the leftovers check below, if any
        }
      }
    } catch (err) {
      process.stderr.write(`gc: pod ${pod.uuid}: ${errorMessage(err)}\n`);
    }
  }
  // Stage0's gc has already run the CNI DELs (they need the network namespace still there).
  // ns-pid: a CRI sandbox's pod-wide PID namespace (supervisor.sh, PIDNS).
  removePodNamespacesSync(['ns-net', 'ns-ipc', 'ns-uts', 'ns-pid'].map((f) => path.join(pod.path, f)));
  unmountUnder(pod.path);
  for (const d of podCgroupDirs(state?.cgroupParent ?? `rkt-${pod.uuid}`)) rmdirTree(d);
}

/** `rkt app`'s operations on the oci engine's sandboxes. */
const apps: EngineApps = {
  supervisorRunning: (pod) => supervisorPid(pod.path) !== undefined,
  send: (pod, line) => sendCommand(pod.path, line),
  add: addApp,
  removeFiles: removeAppFiles,
  hostNetwork: podHostNetwork,
};

export const ociEngine: Engine = {
  name: 'oci',
  podNetwork: true,
  podLogs: true,
  podMetadata: true,
  apps,
  run,
  enter,
  stop,
  gc,
};
