/**
 * The CRI RuntimeService's sandboxes and containers over rkt's mutable pods (`rkt app sandbox`,
 * `app add/start/stop/rm`), through the same stage0 functions the CLI calls, in this process.
 *
 * - A sandbox is a sandbox pod; its id is the pod UUID without dashes. Its CRI settings are kept
 *   in the pod dir (`cri/sandbox.json`), so `rkt list/status/gc` see the pod and a restarted
 *   service finds it. The pod's supervisor is started detached (a session of its own), as bin/rkt
 *   execs the plan: it outlives the service.
 * - A container is an app of that pod named `NAME-ATTEMPT`; its id is `SANDBOXID-APP`. Its CRI
 *   settings are in `cri/containers/APP.json`. The supervisor runs it and records its state; its
 *   output also goes, in the CRI log format, to the log_path under the sandbox's log_directory
 *   (the supervisor's loggers, with `CRILOG` in the app's settings).
 */
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import {
  constants as fsConstants,
  closeSync,
  existsSync,
  lstatSync,
  mkdirSync,
  openSync,
  readFileSync,
  readdirSync,
  readlinkSync,
  realpathSync,
  renameSync,
  rmSync,
  readSync,
  statSync,
  symlinkSync,
  watch,
  writeFileSync,
  type FSWatcher,
} from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import * as grpc from '@grpc/grpc-js';
import {
  capabilitiesRemoveSet,
  capabilitiesRetainSet,
  cpuShares,
  noNewPrivileges,
  oomScoreAdj,
  sysctl as sysctlIsolator,
  type Isolator,
  type Mount,
  type RuntimeApp,
} from '../appc/index.js';
import { ApiError } from '../api/errors.js';
import { appState, type AppState } from '../pod-layout.js';
import { RocketError, errorMessage } from '../errors.js';
import type { AppArgs, PodArgs, PodInfo } from '../pod/index.js';
import {
  POD_FILES,
  PodsLayout,
  addAppToManifest,
  appExitCode,
  locatePod,
  readPod,
  removeAppFromManifest,
  removePod,
  runtimeApp,
  walkPods,
  withPodMutationLock,
  writeFileAtomic,
} from '../pod/index.js';
import {
  addApp,
  removeAppFiles,
  sendCommand,
  supervisorPid,
  supervisorPlan,
  supervisorProgram,
  SUP_CTL,
  SUP_DIR,
} from '../stage1/oci/engine.js';
import { mknod, S_IFIFO } from '../aci/syscalls.js';
import { DirLock } from '../pod/lock.js';
import { createNamespacesInProcess } from './netns.js';
import { podNamespaceFiles, removePodNamespacesSync } from '../stage1/oci/namespaces.js';
import { podHostname } from '../stage1/hosts.js';
import { detectRuntime, runtimeArgv, shQuote, type RuntimeName } from '../stage1/oci/runtime.js';
import { ENGINE_STATE } from '../stage1/engine.js';
import { diskUsage, nanoCores, readCgroup, usageMessages, type CgroupSample } from './stats.js';
import type { Store } from '../store/index.js';
import { readNetInfo } from '../net/info.js';
import type { RktGlobals } from '../cli/rkt/globals.js';
import { cpuIsolator, memoryIsolator, parseRunArgs } from '../cli/rkt/pod/run-flags.js';
import type { CriImages } from './images.js';
import {
  appNameOf,
  clampOomScoreAdj,
  capabilityIsolatorSet,
  capabilitySet,
  containerIdOf,
  cpuMillis,
  exitReason,
  imageCommand,
  matchesId,
  matchesLabels,
  nanos,
  parseContainerId,
  resolveCommand,
  sandboxExposedPorts,
  sandboxIdOf,
  uuidOfSandboxId,
  type PortMappingMsg,
} from './mapping.js';
import { podExecTarget, podPortTarget } from './streaming/rkt.js';
import {
  POD_PID_NS_FILE,
  applyContainerOptions,
  containerPidMode,
  mountPropagationOf,
  propagationRefusal,
  sandboxNamespaceModes,
  type Propagation,
} from './container-config.js';
import { criSeccomp, criUser, seccompChoice, type SecurityProfileMsg } from './security.js';
import { hostBoundingSet } from '../stage1/oci/spec.js';
import type { OciConfig } from '../stage1/oci/spec.js';
import type { OciSeccomp } from '../stage1/oci/seccomp.js';
import { attachTarget } from './attach.js';
import type { ExecTarget, PortForwardTarget, StreamProcess } from './streaming/types.js';

const CRI_DIR = 'cri';
const SANDBOX_FILE = path.join(CRI_DIR, 'sandbox.json');
const CONTAINERS_DIR = path.join(CRI_DIR, 'containers');
const READY_LINK = path.join('stage1', 'rootfs', 'rkt', 'supervisor-status');
/** The first line of an exec plan that removes the plan's file (src/stage1/oci/engine.ts). */
const PLAN_SELF_REMOVAL = 'rm -f "$0"\n';
/** How long a sandbox or an app may take to start or stop before the call fails. */
const WAIT_MS = 120_000;
/** How long `until` checks every millisecond after a change in the dir it watches. */
const FAST_POLL_MS = 50;

type Labels = Record<string, string>;
type NamespaceMode = 'POD' | 'CONTAINER' | 'NODE' | 'TARGET';

interface PodSandboxMetadata {
  name: string;
  uid: string;
  namespace: string;
  attempt: number;
}

/** The parts of a PodSandboxConfig we read (field names as in the .proto). */
export interface PodSandboxConfigMsg {
  metadata?: Partial<PodSandboxMetadata> | null;
  hostname?: string;
  log_directory?: string;
  dns_config?: { servers?: string[]; searches?: string[]; options?: string[] } | null;
  port_mappings?: PortMappingMsg[];
  labels?: Labels;
  annotations?: Labels;
  linux?: {
    cgroup_parent?: string;
    sysctls?: Record<string, string>;
    security_context?: {
      namespace_options?: { network?: NamespaceMode; pid?: NamespaceMode; ipc?: NamespaceMode } | null;
    } | null;
  } | null;
}

interface MountMsg {
  container_path?: string;
  host_path?: string;
  readonly?: boolean;
  propagation?: Propagation;
}

export interface ContainerConfigMsg {
  metadata?: { name?: string; attempt?: number } | null;
  image?: { image?: string; annotations?: Labels } | null;
  command?: string[];
  args?: string[];
  working_dir?: string;
  envs?: { key?: string; value?: string }[];
  mounts?: MountMsg[];
  labels?: Labels;
  annotations?: Labels;
  log_path?: string;
  stdin?: boolean;
  stdin_once?: boolean;
  tty?: boolean;
  linux?: {
    resources?: {
      cpu_period?: string;
      cpu_quota?: string;
      cpu_shares?: string;
      memory_limit_in_bytes?: string;
      oom_score_adj?: string;
    } | null;
    security_context?: {
      supplemental_groups?: string[];
      capabilities?: { add_capabilities?: string[]; drop_capabilities?: string[] } | null;
      privileged?: boolean;
      run_as_user?: { value?: string } | null;
      run_as_group?: { value?: string } | null;
      run_as_username?: string;
      readonly_rootfs?: boolean;
      no_new_privs?: boolean;
      seccomp?: SecurityProfileMsg | null;
      seccomp_profile_path?: string;
      namespace_options?: { pid?: NamespaceMode; target_id?: string } | null;
      masked_paths?: string[];
      readonly_paths?: string[];
    } | null;
  } | null;
}

/** What the service keeps of a sandbox in its pod dir. */
interface SandboxRecord {
  metadata: PodSandboxMetadata;
  labels: Labels;
  annotations: Labels;
  logDirectory: string;
  hostname: string;
  runtimeHandler: string;
  createdAt: number;
  network: NamespaceMode;
  /** Absent in records of older services: CONTAINER and POD. */
  pid?: 'POD' | 'CONTAINER' | 'NODE';
  ipc?: 'POD' | 'NODE';
  cgroupParent: string;
}

/** What the service keeps of a container in its pod dir. */
interface ContainerRecord {
  metadata: { name: string; attempt: number };
  image: string;
  imageRef: string;
  labels: Labels;
  annotations: Labels;
  logPath: string;
  createdAt: number;
  mounts: { container_path: string; host_path: string; readonly: boolean; propagation?: Propagation }[];
  tty?: boolean;
  stdin?: boolean;
  stdinOnce?: boolean;
  /** Once it has ended with 137: whether the kernel OOM-killed it. */
  oomKilled?: boolean;
}

interface Sandbox {
  id: string;
  pod: PodInfo;
  record: SandboxRecord;
}

interface ContainerRef {
  id: string;
  app: string;
  sandbox: Sandbox;
  record: ContainerRecord;
}

export interface CriRuntimeOptions {
  dataDir: string;
  /** `--cni-conf-dir`: its first `.conf` or `.conflist` is the network of sandboxes not on the node's network. */
  cniConfDir: string;
  /** `--cni-bin-dir`: where the CNI plugins are (rkt's search path when not given). */
  cniBinDirs?: readonly string[];
  globals: RktGlobals;
  runtime: 'crun' | 'runc';
  store: Store;
  images: CriImages;
  log: (line: string) => void;
}

const notFound = (what: string): ApiError => new ApiError(grpc.status.NOT_FOUND, `${what} not found`);
const invalid = (message: string): ApiError => new ApiError(grpc.status.INVALID_ARGUMENT, message);

function readJson<T>(file: string): T | undefined {
  try {
    return JSON.parse(readFileSync(file, 'utf8')) as T;
  } catch {
    return undefined;
  }
}

function linkExists(file: string): boolean {
  try {
    lstatSync(file);
    return true;
  } catch {
    return false;
  }
}

function mtimeMs(file: string): number | undefined {
  try {
    return statSync(file).mtimeMs;
  } catch {
    return undefined;
  }
}

/**
 * Waits until `done()` holds; throws after `ms`, naming `what`. Checks every 10 ms, and at once
 * whenever something changes in the first of `watchDirs` that exists (inotify: the supervisor's
 * markers are files there), then every millisecond for a while (FAST_POLL_MS): what is awaited
 * may come a moment after the last change (a process's end after its last files).
 */
async function until(
  what: string,
  done: () => boolean,
  ms = WAIT_MS,
  watchDirs: readonly string[] = [],
): Promise<void> {
  if (done()) return;
  const end = Date.now() + ms;
  let wake: (() => void) | undefined;
  let watcher: FSWatcher | undefined;
  let changed = 0;
  for (const dir of watchDirs) {
    try {
      watcher = watch(dir, () => {
        changed = Date.now();
        wake?.();
      });
      watcher.on('error', () => undefined);
      break;
    } catch {
      // not there (yet, or any more): the next, else polls only
    }
  }
  try {
    while (!done()) {
      if (Date.now() > end)
        throw new ApiError(grpc.status.DEADLINE_EXCEEDED, `timed out waiting for ${what}`);
      await new Promise<void>((resolve) => {
        const timer = setTimeout(resolve, Date.now() - changed < FAST_POLL_MS ? 1 : 10);
        wake = () => {
          clearTimeout(timer);
          resolve();
        };
      });
      wake = undefined;
    }
  } finally {
    watcher?.close();
  }
}

/**
 * The oci engine's plan (`exec sh supervisor.sh P R`) without its shells, flock and mv: the service
 * takes the prepared pod's lock, makes the supervisor's control FIFO (mknod) if the engine did not, moves the pod into
 * run/, starts the supervisor with the locked dir as its fd 3 (the lock is the open file's, so it
 * stays the supervisor's when the service closes its own fd) and writes its pid, as the
 * supervisor's LOCKED mode expects. Four programs fewer for every sandbox.
 */
function startSupervisor(P: string, R: string, uuid: string, env: NodeJS.ProcessEnv): ChildProcess {
  const lock = DirLock.tryAcquire(P, 'exclusive');
  if (lock === undefined) throw new RocketError(`pod ${uuid} is being started or removed by another rkt`);
  try {
    // The engine's run made it (engine.ts); made here only if missing.
    const ctl = path.join(P, SUP_CTL);
    if (!isFifo(ctl)) mknod(ctl, S_IFIFO | 0o600, 0n);
    renameSync(P, R);
    const child = spawn('/bin/sh', [supervisorProgram(), R, R], {
      detached: true,
      stdio: ['ignore', 'ignore', 'ignore', lock.fd],
      env: { ...env, LOCKED: '1' },
    });
    if (child.pid !== undefined) writeFileAtomic(path.join(R, 'pid'), `${child.pid}\n`);
    return child;
  } finally {
    lock.release();
  }
}

function isFifo(file: string): boolean {
  try {
    return lstatSync(file).isFIFO();
  } catch {
    return false;
  }
}

/** A stage0 refusal (bad flag values, say) as InvalidArgument, anything else as it is. */
function asInvalid(err: unknown, where: string): unknown {
  if (err instanceof RocketError) return invalid(`${where}: ${err.message.split('\n')[0] ?? ''}`);
  return err;
}

let hostCaps: readonly string[] | undefined;
/** The host's bounding set (the service's `CapBnd`), read once: what `ALL` and privileged mean. */
function hostCapabilities(): readonly string[] {
  hostCaps ??= hostBoundingSet();
  return hostCaps;
}

/** What a container's process gets as the CRI asked, over the engine's appc defaults. */
interface ProcessSecurity {
  /** The seccomp filter; undefined: none at all. */
  seccomp: OciSeccomp | undefined;
  noNewPrivs: boolean;
}

/** The app's OCI config with the container's seccomp filter and no_new_privs, as containerd sets them. */
function withProcessSecurity(config: OciConfig, security: ProcessSecurity): OciConfig {
  const linux = { ...config.linux };
  if (security.seccomp === undefined) delete linux.seccomp;
  else linux.seccomp = security.seccomp;
  return { ...config, linux, process: { ...config.process, noNewPrivileges: security.noNewPrivs } };
}

type SecurityContextMsg = NonNullable<NonNullable<ContainerConfigMsg['linux']>['security_context']>;

/** The user fields of a security context, over the image's user (see security.ts). */
function criUserRequest(
  sc: SecurityContextMsg,
  image: { user: string; group: string; supplementaryGIDs?: number[] } | undefined,
): Parameters<typeof criUser>[1] {
  const id = (v: { value?: string } | null | undefined): number | undefined =>
    v === null || v === undefined ? undefined : Number(v.value ?? '0');
  const runAsUser = id(sc.run_as_user);
  const runAsGroup = id(sc.run_as_group);
  return {
    ...(runAsUser !== undefined ? { runAsUser } : {}),
    ...(runAsGroup !== undefined ? { runAsGroup } : {}),
    ...((sc.run_as_username ?? '') !== '' ? { runAsUsername: sc.run_as_username } : {}),
    supplementalGroups: (sc.supplemental_groups ?? [])
      .map(Number)
      .filter((g) => Number.isSafeInteger(g) && g >= 0),
    imageUser: image?.user ?? '0',
    imageGroup: image?.group ?? '0',
    imageGids: image?.supplementaryGIDs ?? [],
  };
}

/**
 * Whether the kernel log (/dev/kmsg, read without waiting) has an OOM kill of a task in cgroup
 * `rel` (`oom-kill:...,task_memcg=/REL,...`). False when the log cannot be read.
 */
export function oomKilledIn(rel: string, kmsg = '/dev/kmsg'): boolean {
  let fd: number;
  try {
    fd = openSync(kmsg, fsConstants.O_RDONLY | fsConstants.O_NONBLOCK);
  } catch {
    return false;
  }
  const needle = `task_memcg=/${rel},`;
  const buf = Buffer.alloc(16 * 1024);
  try {
    for (;;) {
      let n: number;
      try {
        n = readSync(fd, buf, 0, buf.length, null);
      } catch (err) {
        // EPIPE: a record was overwritten while reading; the next read goes on.
        if ((err as NodeJS.ErrnoException).code === 'EPIPE') continue;
        return false;
      }
      if (n <= 0) return false;
      const rec = buf.subarray(0, n).toString('utf8');
      if (rec.includes('oom-kill:') && rec.includes(needle)) return true;
    }
  } finally {
    closeSync(fd);
  }
}

/** The service's own oom_score_adj (the least a pod may get, see clampOomScoreAdj). */
function readOwnOomScoreAdj(): number {
  try {
    const n = Number(readFileSync('/proc/self/oom_score_adj', 'utf8').trim());
    return Number.isInteger(n) ? n : 0;
  } catch {
    return 0;
  }
}

/** The sandbox's namespaces are made (netns.ts): its supervisor makes none (NS_CREATE empty). */
function withoutSupervisorNamespaces(preparedDir: string): void {
  const env = path.join(preparedDir, SUP_DIR, 'pod.env');
  writeFileAtomic(env, `${readFileSync(env, 'utf8')}NS_CREATE=''\n`);
}

/**
 * Tells the supervisor of a prepared sandbox to make its pod-wide PID namespace (`PIDNS` in its
 * settings, supervisor.sh): bound at POD/ns-pid, held by a process of the pod's for its lifetime.
 */
function enablePodPidNamespace(preparedDir: string): void {
  const env = path.join(preparedDir, SUP_DIR, 'pod.env');
  writeFileAtomic(env, `${readFileSync(env, 'utf8')}PIDNS=${POD_PID_NS_FILE}\n`);
}

function statusDir(pod: PodInfo): string {
  return path.join(pod.path, POD_FILES.appStatusDir);
}

export class CriRuntime {
  private readonly layout: PodsLayout;
  /** The previous CPU sample of each cgroup, for the CPU rate. */
  private readonly samples = new Map<string, CgroupSample>();

  constructor(private readonly opts: CriRuntimeOptions) {
    this.layout = new PodsLayout(opts.dataDir);
  }

  // ---- sandboxes ----

  private sandboxAt(uuid: string): Sandbox | undefined {
    const loc = locatePod(this.layout, uuid);
    if (loc === undefined || (loc.stateDir !== 'run' && loc.stateDir !== 'exited-garbage')) return undefined;
    const pod = readPod(this.layout, loc);
    if (pod === undefined) return undefined;
    const record = readJson<SandboxRecord>(path.join(pod.path, SANDBOX_FILE));
    return record === undefined ? undefined : { id: sandboxIdOf(uuid), pod, record };
  }

  /** The sandbox an id names, or NotFound. */
  private sandbox(id: string | undefined): Sandbox {
    const uuid = uuidOfSandboxId(id ?? '');
    const sb = uuid === undefined ? undefined : this.sandboxAt(uuid);
    if (sb === undefined) throw notFound(`pod sandbox ${JSON.stringify(id ?? '')}`);
    return sb;
  }

  private sandboxes(): Sandbox[] {
    const out: Sandbox[] = [];
    for (const loc of walkPods(this.layout, ['run', 'exited-garbage'])) {
      if (!existsSync(path.join(loc.path, SANDBOX_FILE))) continue;
      const sb = this.sandboxAt(loc.uuid);
      if (sb !== undefined) out.push(sb);
    }
    return out;
  }

  private ready(sb: Sandbox): boolean {
    return sb.pod.state === 'running' && supervisorPid(sb.pod.path) !== undefined;
  }

  async runPodSandbox(req: { config?: PodSandboxConfigMsg | null; runtime_handler?: string }): Promise<{
    pod_sandbox_id: string;
  }> {
    const c = req.config ?? {};
    const md = c.metadata ?? {};
    if ((md.name ?? '') === '') throw invalid('config.metadata.name: empty');
    const handler = req.runtime_handler ?? '';
    if (handler !== '' && handler !== 'crun' && handler !== 'runc')
      throw invalid(`runtime_handler ${JSON.stringify(handler)}: this runtime has crun and runc`);
    const ns = c.linux?.security_context?.namespace_options ?? {};
    const network = ns.network === 'NODE' ? 'NODE' : 'POD';
    const modes = sandboxNamespaceModes(c.linux?.security_context?.namespace_options);
    const cni = network === 'POD' ? this.cniNetwork() : undefined;
    const argv = [
      '--mds-register=false',
      network === 'NODE' ? '--net=host' : cni !== undefined ? `--net=${cni.name}` : '--net=none',
    ];
    const hostname = c.hostname ?? '';
    if (hostname !== '' && network !== 'NODE') argv.push(`--hostname=${hostname}`);
    const dns = c.dns_config ?? {};
    if ((dns.servers ?? []).length > 0) argv.push(`--dns=${(dns.servers ?? []).join(',')}`);
    if ((dns.searches ?? []).length > 0) argv.push(`--dns-search=${(dns.searches ?? []).join(',')}`);
    if ((dns.options ?? []).length > 0) argv.push(`--dns-opt=${(dns.options ?? []).join(',')}`);
    let args: PodArgs;
    try {
      args = parseRunArgs(argv, 'run');
    } catch (err) {
      throw asInvalid(err, 'config');
    }
    const runtime = handler === '' ? this.opts.runtime : handler;
    args.engine = runtime;
    sandboxPortsAndSysctls(args, c, network);
    const logDirectory = c.log_directory ?? '';
    if (logDirectory !== '' && !path.isAbsolute(logDirectory))
      throw invalid(`config.log_directory ${JSON.stringify(logDirectory)}: not an absolute path`);
    const record: SandboxRecord = {
      metadata: {
        name: md.name ?? '',
        uid: md.uid ?? '',
        namespace: md.namespace ?? '',
        attempt: md.attempt ?? 0,
      },
      labels: { ...(c.labels ?? {}) },
      annotations: { ...(c.annotations ?? {}) },
      logDirectory,
      hostname,
      runtimeHandler: handler,
      createdAt: Date.now(),
      network,
      pid: modes.pid,
      ipc: modes.ipc,
      cgroupParent: c.linux?.cgroup_parent ?? '',
    };
    const { preparePodFromArgs } = await import('../cli/rkt/pod/prepare.js');
    const { loadEngine } = await import('../stage1/engines.js');
    const globals = this.opts.globals;
    const prepared = await preparePodFromArgs(args, globals, { quiet: true, sandbox: true });
    const uuid = prepared.uuid;
    const R = this.layout.podDir('run', uuid);
    let child: ReturnType<typeof spawn> | undefined;
    let nsMade = false;
    try {
      mkdirSync(path.join(prepared.dir, CONTAINERS_DIR), { recursive: true });
      writeFileAtomic(path.join(prepared.dir, SANDBOX_FILE), JSON.stringify(record, null, 2) + '\n');
      if (logDirectory !== '') mkdirSync(logDirectory, { recursive: true });
      const { runPod } = await import('../pod/run-pipeline.js');
      const plan = runPod({
        dataDir: this.opts.dataDir,
        uuid,
        engine: await loadEngine('oci'),
        args,
        insecure: { capabilities: false, paths: false, seccomp: false },
        // With a CNI network: the service's config dir, whose net.d is --cni-conf-dir.
        configDirs: { system: globals.systemConfig, local: cni?.configDir ?? globals.localConfig },
        variant: runtime,
        // One network, the CNI conf's (as kubelet expects, and as containerd does): not rkt's
        // `default-restricted` as well.
        namedNetsOnly: true,
        ...(this.opts.cniBinDirs !== undefined ? { cniPluginDirs: this.opts.cniBinDirs } : {}),
        // The network namespace, and the IPC and UTS ones with it, without `unshare`, `ip` and
        // `sh` (netns.ts); the supervisor then makes none.
        // A container may ask for a rootfs propagation: the runtime's wrapper keeps the host's.
        mountPropagation: true,
        makeNetns: (file) => {
          nsMade = true;
          createNamespacesInProcess(
            { ...podNamespaceFiles(path.dirname(file)), network: file },
            podHostname(uuid, args.hostname),
          );
        },
      });
      if (nsMade) withoutSupervisorNamespaces(prepared.dir);
      if (modes.pid === 'POD') enablePodPidNamespace(prepared.dir);
      // As bin/rkt would exec the plan, but in a session of its own: the pod outlives the service.
      // The oci engine's plan: the supervisor started here (startSupervisor). Another plan that
      // starts by removing its own file runs from `sh -c`, no file.
      const env = { ...process.env };
      for (const k of [
        'RKT_EXEC_PLAN',
        'NOTIFY_SOCKET',
        'LISTEN_FDS',
        'LISTEN_PID',
        'LISTEN_FDNAMES',
        'LOCKED',
      ])
        delete env[k];
      let ended = false;
      if (plan.script === supervisorPlan(prepared.dir, R)) {
        child = startSupervisor(prepared.dir, R, uuid, env);
      } else {
        let argv: string[];
        if (plan.script.startsWith(PLAN_SELF_REMOVAL)) {
          argv = ['-c', plan.script.slice(PLAN_SELF_REMOVAL.length), 'rkt-cri-plan'];
        } else {
          const file = path.join(tmpdir(), `rkt-cri-plan.${process.pid}.${randomBytes(6).toString('hex')}`);
          writeFileSync(file, plan.script, { mode: 0o600, flag: 'wx' });
          argv = [file];
        }
        child = spawn('/bin/sh', argv, { detached: true, stdio: 'ignore', env });
      }
      child.on('exit', () => (ended = true));
      child.on('error', () => (ended = true));
      child.unref();
      // The ready link's dir, watched by inode: it moves with the pod from prepared/ to run/.
      await until(
        `pod sandbox ${uuid} to start`,
        () => ended || linkExists(path.join(R, READY_LINK)),
        WAIT_MS,
        [path.join(prepared.dir, path.dirname(READY_LINK)), path.join(R, path.dirname(READY_LINK))],
      );
      if (ended)
        throw new ApiError(grpc.status.INTERNAL, `pod sandbox ${uuid}: its supervisor ended at start`);
    } catch (err) {
      if (child?.pid !== undefined && child.exitCode === null) child.kill('SIGKILL');
      // Namespaces made here for a start that failed before the pod moved into run/.
      if (nsMade) removePodNamespacesSync(podNamespaceFiles(prepared.dir));
      await this.discardPod(uuid);
      rmSync(prepared.dir, { recursive: true, force: true });
      // What the host cannot do for the pod (its network, say): one line naming the sandbox.
      if (err instanceof RocketError)
        throw new ApiError(
          grpc.status.FAILED_PRECONDITION,
          `pod sandbox ${JSON.stringify(record.metadata.name)}: ${err.message.split('\n')[0] ?? ''}`,
        );
      throw err;
    }
    this.opts.log(`sandbox ${sandboxIdOf(uuid)} (pod ${uuid}) running`);
    return { pod_sandbox_id: sandboxIdOf(uuid) };
  }

  /**
   * The CNI network of pod-network sandboxes: the first `.conf` or `.conflist` file (by name, as
   * kubelet's runtimes pick it) in --cni-conf-dir,
   * which the pod's networking (src/net) reads as `CONFIG/net.d` of a config dir the service
   * keeps in the data dir (`cri/cni`, its `net.d` a link to --cni-conf-dir). Undefined when there
   * is none (the sandbox then has a loopback only).
   */
  private cniNetwork(): { name: string; configDir: string } | undefined {
    let first: string | undefined;
    try {
      first = readdirSync(this.opts.cniConfDir)
        .filter((n) => n.endsWith('.conf') || n.endsWith('.conflist'))
        .sort()[0];
    } catch {
      return undefined;
    }
    if (first === undefined) return undefined;
    const conf = readJson<{ name?: unknown }>(path.join(this.opts.cniConfDir, first));
    if (conf === undefined || typeof conf.name !== 'string' || conf.name === '')
      throw new ApiError(
        grpc.status.FAILED_PRECONDITION,
        `${path.join(this.opts.cniConfDir, first)}: not a CNI network configuration with a name`,
      );
    const configDir = path.join(this.opts.dataDir, CRI_DIR, 'cni');
    const link = path.join(configDir, 'net.d');
    const target = path.resolve(this.opts.cniConfDir);
    let current: string | undefined;
    try {
      current = readlinkSync(link);
    } catch {
      current = undefined;
    }
    if (current !== target) {
      mkdirSync(configDir, { recursive: true });
      const tmp = `${link}.${process.pid}.tmp`;
      rmSync(tmp, { force: true });
      symlinkSync(target, tmp);
      renameSync(tmp, link);
    }
    return { name: conf.name, configDir };
  }

  /** Removes a pod that failed to start, waiting for its supervisor to be gone. */
  private async discardPod(uuid: string): Promise<void> {
    try {
      await until(
        `pod ${uuid} to end`,
        () => {
          const loc = locatePod(this.layout, uuid);
          return loc === undefined || readPod(this.layout, loc)?.state !== 'running';
        },
        10_000,
      );
      if (locatePod(this.layout, uuid) !== undefined) await removePod(this.opts.dataDir, uuid);
    } catch (err) {
      this.opts.log(`cannot remove failed pod ${uuid}: ${errorMessage(err)}`);
    }
  }

  async stopPodSandbox(req: { pod_sandbox_id?: string }): Promise<object> {
    const uuid = uuidOfSandboxId(req.pod_sandbox_id ?? '');
    const sb = uuid === undefined ? undefined : this.sandboxAt(uuid);
    if (sb === undefined) {
      if (uuid === undefined) throw notFound(`pod sandbox ${JSON.stringify(req.pod_sandbox_id ?? '')}`);
      return {};
    }
    if (sb.pod.state !== 'running') return {};
    // The apps still running get TERM and, at once, KILL (the kubelet stopped them gracefully first).
    // Without a supervisor (killed), the apps are killed here, as `rkt stop --force` does.
    // (An app's subshell keeps the FIFO open: a write to it says nothing of the supervisor.)
    if (supervisorPid(sb.pod.path) === undefined || !sendCommand(sb.pod.path, 'stop 0')) {
      const { loadEngineForPod } = await import('../stage1/engines.js');
      try {
        (await loadEngineForPod(sb.pod)).stop({ pod: sb.pod, force: true });
      } catch (err) {
        this.opts.log(`stopping pod ${sb.pod.uuid}: ${errorMessage(err)}`);
      }
    }
    // While the supervisor lives the pod runs (it holds the pod's lock): the pod's state, which
    // costs more to read, only once the supervisor is gone. Its cleanup's last files (the
    // namespace files it removes) are in the pod dir.
    await until(
      `pod sandbox ${sb.id} to stop`,
      () => supervisorPid(sb.pod.path) === undefined && this.sandboxAt(sb.pod.uuid)?.pod.state !== 'running',
      WAIT_MS,
      [sb.pod.path],
    );
    return {};
  }

  async removePodSandbox(req: { pod_sandbox_id?: string }): Promise<object> {
    const uuid = uuidOfSandboxId(req.pod_sandbox_id ?? '');
    if (uuid === undefined) return {};
    await this.stopPodSandbox(req);
    if (this.sandboxAt(uuid) === undefined) return {};
    // The networks, containers, mounts and cgroups go now; the pod dir's files after the answer.
    // Only the network's and the oci engine's cleanups: a sandbox is never another engine's pod.
    const { ENGINE_GC_HOOKS } = await import('../pod/engine-gc.js');
    await removePod(this.opts.dataDir, uuid, {
      hooks: ENGINE_GC_HOOKS.filter((h) => h.name === 'network' || h.name === 'oci'),
      background: (p) => this.removing(uuid, p),
    });
    this.opts.log(`sandbox ${sandboxIdOf(uuid)} removed`);
    return {};
  }

  /** The pod dirs being removed in the background (RemovePodSandbox). */
  private readonly removals = new Set<Promise<void>>();

  private removing(uuid: string, removal: Promise<void>): void {
    const p = removal.then(
      () => undefined,
      (err: unknown) => this.opts.log(`removing the files of pod ${uuid}: ${errorMessage(err)}`),
    );
    this.removals.add(p);
    void p.finally(() => this.removals.delete(p));
  }

  /** Waits for the pod dirs being removed (the service's shutdown). */
  async settle(): Promise<void> {
    await Promise.all([...this.removals]);
  }

  private sandboxState(sb: Sandbox): 'SANDBOX_READY' | 'SANDBOX_NOTREADY' {
    return this.ready(sb) ? 'SANDBOX_READY' : 'SANDBOX_NOTREADY';
  }

  podSandboxStatus(req: { pod_sandbox_id?: string; verbose?: boolean }): object {
    const sb = this.sandbox(req.pod_sandbox_id);
    const r = sb.record;
    return {
      status: {
        id: sb.id,
        metadata: r.metadata,
        state: this.sandboxState(sb),
        created_at: nanos(r.createdAt),
        network: { ip: readNetInfo(sb.pod.path).find((n) => n.ip !== '')?.ip ?? '', additional_ips: [] },
        linux: {
          namespaces: {
            options: { network: r.network, pid: r.pid ?? 'CONTAINER', ipc: r.ipc ?? 'POD', target_id: '' },
          },
        },
        labels: r.labels,
        annotations: r.annotations,
        runtime_handler: r.runtimeHandler,
      },
      info:
        req.verbose === true
          ? {
              info: JSON.stringify({
                podUUID: sb.pod.uuid,
                podDir: sb.pod.path,
                podState: sb.pod.state,
                pid: sb.pod.pid,
                logDirectory: r.logDirectory,
                cgroupParent: r.cgroupParent,
              }),
            }
          : {},
      containers_statuses: [],
      timestamp: nanos(Date.now()),
    };
  }

  listPodSandbox(req: {
    filter?: { id?: string; state?: { state?: string } | null; label_selector?: Labels } | null;
  }): object {
    const f = req.filter ?? {};
    const items = [];
    for (const sb of this.sandboxes()) {
      const state = this.sandboxState(sb);
      if (!matchesId(sb.id, f.id)) continue;
      if (f.state !== null && f.state !== undefined && f.state.state !== state) continue;
      if (!matchesLabels(sb.record.labels, f.label_selector)) continue;
      items.push({
        id: sb.id,
        metadata: sb.record.metadata,
        state,
        created_at: nanos(sb.record.createdAt),
        labels: sb.record.labels,
        annotations: sb.record.annotations,
        runtime_handler: sb.record.runtimeHandler,
      });
    }
    return { items };
  }

  // ---- containers ----

  private containerRecord(sb: Sandbox, app: string): ContainerRecord | undefined {
    return readJson<ContainerRecord>(path.join(sb.pod.path, CONTAINERS_DIR, `${app}.json`));
  }

  private findContainer(id: string | undefined): ContainerRef | undefined {
    const p = parseContainerId(id ?? '');
    if (p === undefined) return undefined;
    const uuid = uuidOfSandboxId(p.sandboxId);
    const sb = uuid === undefined ? undefined : this.sandboxAt(uuid);
    if (sb === undefined) return undefined;
    const record = this.containerRecord(sb, p.app);
    if (record === undefined || !(sb.pod.manifest?.apps.some((a) => a.name === p.app) ?? false))
      return undefined;
    return { id: id ?? '', app: p.app, sandbox: sb, record };
  }

  private container(id: string | undefined): ContainerRef {
    const c = this.findContainer(id);
    if (c === undefined) throw notFound(`container ${JSON.stringify(id ?? '')}`);
    return c;
  }

  private containers(): ContainerRef[] {
    const out: ContainerRef[] = [];
    for (const sb of this.sandboxes()) {
      for (const ra of sb.pod.manifest?.apps ?? []) {
        const record = this.containerRecord(sb, ra.name);
        if (record !== undefined)
          out.push({ id: containerIdOf(sb.id, ra.name), app: ra.name, sandbox: sb, record });
      }
    }
    return out;
  }

  /** The app's state; an app left running by a sandbox that ended without it is exited. */
  private state(c: ContainerRef): AppState {
    const s = appState(c.sandbox.pod.path, c.app);
    return s === 'running' && !this.ready(c.sandbox) ? 'exited' : s;
  }

  /** Builds the runtime app of a CreateContainer (InvalidArgument/NotFound on a bad request). */
  private buildApp(
    config: ContainerConfigMsg,
    app: string,
    key: string,
    rootfs: string,
  ): {
    ra: RuntimeApp;
    mounts: ContainerRecord['mounts'];
    privileged: boolean;
    security: ProcessSecurity;
    propagated: { source: string; destination: string; propagation: Propagation }[];
  } {
    const im = this.opts.store.manifest(key);
    const sc = config.linux?.security_context ?? {};
    const res = config.linux?.resources ?? {};
    const mounts: ContainerRecord['mounts'] = [];
    const propagated: { source: string; destination: string; propagation: Propagation }[] = [];
    const appMounts: Mount[] = [];
    for (const [i, m] of (config.mounts ?? []).entries()) {
      const where = `mounts[${i}]`;
      const target = m.container_path ?? '';
      const source = m.host_path ?? '';
      if (!path.isAbsolute(target))
        throw invalid(`${where}: container_path ${JSON.stringify(target)} is not absolute`);
      if (!path.isAbsolute(source))
        throw invalid(`${where}: host_path ${JSON.stringify(source)} is not absolute`);
      let real: string;
      try {
        real = realpathSync(source);
      } catch {
        throw notFound(`${where}: host_path ${JSON.stringify(source)}`);
      }
      const name = `cri-mount-${i}`;
      appMounts.push({
        volume: name,
        path: target,
        appVolume: { name, kind: 'host', source: real, readOnly: m.readonly === true },
      });
      const propagation = m.propagation ?? 'PROPAGATION_PRIVATE';
      if (propagation !== 'PROPAGATION_PRIVATE') {
        const why = propagationRefusal(
          propagation,
          mountPropagationOf(readFileSync('/proc/self/mountinfo', 'utf8'), real),
        );
        if (why !== undefined)
          throw new ApiError(
            grpc.status.FAILED_PRECONDITION,
            `${where}: host_path ${JSON.stringify(source)} ${why}`,
          );
        propagated.push({ source: real, destination: target, propagation });
      }
      mounts.push({ container_path: target, host_path: source, readonly: m.readonly === true, propagation });
    }
    const annotations: Record<string, string> = {};
    if (config.tty === true)
      for (const s of ['stdin', 'stdout', 'stderr']) annotations[`coreos.com/rkt/stage2/${s}`] = 'tty';
    else if (config.stdin === true) annotations['coreos.com/rkt/stage2/stdin'] = 'stream';
    const args: AppArgs = { image: key, name: app, environment: [], mounts: [], annotations };
    let security: ProcessSecurity;
    try {
      for (const e of config.envs ?? [])
        if ((e.key ?? '') !== '') args.environment.push([e.key ?? '', e.value ?? '']);
      if ((config.working_dir ?? '') !== '') args.workingDir = config.working_dir ?? '';
      const user = criUser(rootfs, criUserRequest(sc, im.app));
      args.user = user.user;
      args.group = user.group;
      if (user.supplementaryGIDs.length > 0) args.supplementaryGIDs = user.supplementaryGIDs;
      if (sc.readonly_rootfs === true) args.readOnlyRootFS = true;
      const mem = Number(res.memory_limit_in_bytes ?? '0');
      if (mem > 0) args.memory = memoryIsolator(String(mem));
      const millis = cpuMillis(Number(res.cpu_quota ?? '0'), Number(res.cpu_period ?? '0'));
      if (millis !== undefined) args.cpu = cpuIsolator(`${millis}m`);
      const oom = Number(res.oom_score_adj ?? '0');
      if (oom !== 0) args.oomScoreAdj = oomScoreAdj(clampOomScoreAdj(oom, readOwnOomScoreAdj()));
      const shares = Number(res.cpu_shares ?? '0');
      if (shares > 0) args.cpuShares = cpuShares(Math.max(2, Math.min(shares, 262144)));
      const caps = sc.capabilities ?? {};
      // ALL is every capability the host has: no process can be given more.
      const host = hostCapabilities();
      const granted =
        sc.privileged === true
          ? host
          : capabilitySet(caps.add_capabilities ?? [], caps.drop_capabilities ?? [], host);
      if (sc.privileged !== true) {
        const set = capabilityIsolatorSet(granted);
        if (set !== undefined)
          if ('retain' in set) args.capsRetain = capabilitiesRetainSet(set.retain);
          else args.capsRemove = capabilitiesRemoveSet(set.remove);
      }
      security = {
        seccomp: criSeccomp(
          seccompChoice(sc.seccomp, sc.seccomp_profile_path),
          granted.filter((c) => host.includes(c)),
          sc.privileged === true,
        ),
        noNewPrivs: sc.no_new_privs === true,
      };
    } catch (err) {
      throw asInvalid(err, 'config');
    }
    if (config.labels !== undefined) args.userLabels = { ...config.labels };
    if (config.annotations !== undefined) args.userAnnotations = { ...config.annotations };
    let ra: RuntimeApp;
    try {
      ra = runtimeApp(args, key, im, { mounts: [], inheritEnv: false, setEnv: [], setEnvFile: [] });
    } catch (err) {
      throw asInvalid(err, 'config');
    }
    const exec = resolveCommand(
      config.command ?? [],
      config.args ?? [],
      imageCommand(im.annotations, im.app?.exec),
    );
    if (exec.length === 0) throw invalid('config: no command (neither the request nor the image has one)');
    ra.app = { ...(ra.app ?? { user: '0', group: '0' }), exec };
    if (sc.no_new_privs === true) {
      const isolators: Isolator[] = (ra.app.isolators ?? []).filter(
        (i) => i.name !== noNewPrivileges(true).name,
      );
      ra.app.isolators = [...isolators, noNewPrivileges(true)];
    }
    if (appMounts.length > 0) ra.mounts = [...appMounts, ...(ra.mounts ?? [])];
    return { ra, mounts, privileged: sc.privileged === true, security, propagated };
  }

  async createContainer(req: {
    pod_sandbox_id?: string;
    config?: ContainerConfigMsg | null;
  }): Promise<{ container_id: string }> {
    const sb = this.sandbox(req.pod_sandbox_id);
    const config = req.config ?? {};
    const app = appNameOf(config.metadata);
    if (app === undefined)
      throw invalid(
        `config.metadata.name ${JSON.stringify(config.metadata?.name ?? '')}: no letter or digit to name its app by`,
      );
    if (!this.ready(sb))
      throw new ApiError(grpc.status.FAILED_PRECONDITION, `pod sandbox ${sb.id} is not ready`);
    const imageName = config.image?.image ?? '';
    if (imageName === '') throw invalid('config.image: no image given');
    const key = this.opts.images.resolve(imageName);
    if (key === undefined) throw notFound(`image ${JSON.stringify(imageName)}`);
    const logRel = config.log_path ?? '';
    if (logRel !== '' && sb.record.logDirectory === '')
      throw invalid('config.log_path: the sandbox has no log_directory');
    const logPath = logRel === '' ? '' : path.resolve(sb.record.logDirectory, logRel);
    let rootfs: string;
    try {
      rootfs = (await this.opts.store.renderTree(key)).rootfs;
    } catch (err) {
      throw asInvalid(err, `image ${JSON.stringify(imageName)}`);
    }
    const { ra, mounts, privileged, security, propagated } = this.buildApp(config, app, key, rootfs);
    const sc = config.linux?.security_context ?? {};
    let pid: 'POD' | 'CONTAINER' | 'NODE' | 'TARGET';
    try {
      pid = containerPidMode(sc.namespace_options, sb.record.pid ?? 'CONTAINER');
    } catch (err) {
      throw invalid(`config.linux.security_context.${errorMessage(err)}`);
    }
    const targetPidNs =
      pid === 'TARGET' ? this.targetPidNamespace(sb, sc.namespace_options?.target_id) : undefined;
    const id = containerIdOf(sb.id, app);
    const pod = sb.pod;
    const recordFile = path.join(pod.path, CONTAINERS_DIR, `${app}.json`);
    await withPodMutationLock(pod.path, async () => {
      if (
        existsSync(recordFile) ||
        (readPod(this.layout, pod)?.manifest?.apps.some((a) => a.name === app) ?? false)
      )
        throw new ApiError(
          grpc.status.ALREADY_EXISTS,
          `container ${JSON.stringify(config.metadata?.name ?? '')} attempt ${config.metadata?.attempt ?? 0} already exists in pod sandbox ${sb.id}`,
        );
      const record: ContainerRecord = {
        metadata: { name: config.metadata?.name ?? '', attempt: config.metadata?.attempt ?? 0 },
        image: imageName,
        imageRef: key,
        labels: { ...(config.labels ?? {}) },
        annotations: { ...(config.annotations ?? {}) },
        logPath,
        createdAt: Date.now(),
        mounts,
        tty: config.tty === true,
        stdin: config.stdin === true,
        stdinOnce: config.stdin_once === true,
      };
      try {
        await addAppToManifest(pod.path, this.opts.store, key, ra);
      } catch (err) {
        throw asInvalid(err, `container ${id}`);
      }
      try {
        addApp({
          pod,
          dataDir: this.opts.dataDir,
          app,
          insecure: { capabilities: privileged, paths: privileged, seccomp: privileged },
          // Seccomp and no_new_privs (security.ts); namespaces, masked and read-only paths, mount
          // propagation (container-config.ts).
          decorate: (c) =>
            applyContainerOptions(withProcessSecurity(c, security), {
              pid,
              podPidNs: path.join(pod.path, POD_PID_NS_FILE),
              ...(targetPidNs !== undefined ? { targetPidNs } : {}),
              ipc: sb.record.ipc ?? 'POD',
              maskedPaths: sc.masked_paths ?? [],
              readonlyPaths: sc.readonly_paths ?? [],
              privileged,
              mounts: propagated,
            }),
        });
        // The supervisor's loggers also write the CRI log at log_path (supervisor.sh, CRILOG); with
        // stdin_once, the end of the first attach's stdin is the end of the container's (IO_ONCE).
        const extra =
          (logPath !== '' ? `CRILOG=${shQuote(logPath)}\n` : '') +
          (record.stdin && record.stdinOnce && !record.tty ? 'IO_ONCE=1\n' : '');
        if (extra !== '') {
          const env = path.join(pod.path, SUP_DIR, 'app', `${app}.env`);
          const tmp = `${env}.tmp`;
          writeFileSync(tmp, readFileSync(env, 'utf8') + extra);
          renameSync(tmp, env);
        }
        mkdirSync(path.dirname(recordFile), { recursive: true });
        writeFileAtomic(recordFile, JSON.stringify(record, null, 2) + '\n');
      } catch (err) {
        removeAppFiles(pod, app);
        removeAppFromManifest(pod.path, app);
        rmSync(recordFile, { force: true });
        throw asInvalid(err, `container ${id}`);
      }
    });
    return { container_id: id };
  }

  /**
   * The PID namespace of a running container of the sandbox (pid `TARGET`): its process's
   * (`/proc/PID/ns/pid`, PID from the runtime's state), as containerd joins it.
   */
  private targetPidNamespace(sb: Sandbox, targetId: string | undefined): string {
    const where = 'config.linux.security_context.namespace_options.target_id';
    const t = this.findContainer(targetId);
    if (t === undefined || t.sandbox.id !== sb.id)
      throw notFound(`${where}: container ${JSON.stringify(targetId ?? '')} in pod sandbox ${sb.id}`);
    if (this.state(t) !== 'running')
      throw new ApiError(grpc.status.FAILED_PRECONDITION, `${where}: container ${t.id} is not running`);
    const state = readJson<{ runtime?: RuntimeName }>(path.join(sb.pod.path, ENGINE_STATE));
    const rt = detectRuntime(state?.runtime !== undefined ? { runtime: state.runtime } : {});
    const [cmd, ...argv] = runtimeArgv(rt, ['state', `rkt-${sb.pod.uuid}-${t.app}`]);
    const r = spawnSync(cmd as string, argv, { encoding: 'utf8' });
    let pid: unknown;
    try {
      pid = (JSON.parse(r.stdout) as { pid?: unknown }).pid;
    } catch {
      pid = undefined;
    }
    if (r.status !== 0 || typeof pid !== 'number' || !Number.isSafeInteger(pid) || pid <= 0)
      throw new ApiError(grpc.status.FAILED_PRECONDITION, `${where}: container ${t.id} has no process`);
    return `/proc/${pid}/ns/pid`;
  }

  /** Sends a command to the sandbox's supervisor and waits until `done` holds. */
  private async command(c: ContainerRef, line: string, what: string, done: () => boolean): Promise<void> {
    if (supervisorPid(c.sandbox.pod.path) === undefined || !sendCommand(c.sandbox.pod.path, line))
      throw new ApiError(grpc.status.FAILED_PRECONDITION, `pod sandbox ${c.sandbox.id} is not running`);
    await until(what, () => done() || supervisorPid(c.sandbox.pod.path) === undefined, WAIT_MS, [
      statusDir(c.sandbox.pod),
    ]);
    if (!done())
      throw new ApiError(grpc.status.FAILED_PRECONDITION, `pod sandbox ${c.sandbox.id} ended before ${what}`);
  }

  async startContainer(req: { container_id?: string }): Promise<object> {
    const c = this.container(req.container_id);
    if (!this.ready(c.sandbox))
      throw new ApiError(grpc.status.FAILED_PRECONDITION, `pod sandbox ${c.sandbox.id} is not ready`);
    if (appState(c.sandbox.pod.path, c.app) !== 'created')
      throw new ApiError(grpc.status.FAILED_PRECONDITION, `container ${c.id} has already been started`);
    if (c.record.logPath !== '') {
      mkdirSync(path.dirname(c.record.logPath), { recursive: true });
      closeSync(openSync(c.record.logPath, 'a'));
    }
    await this.command(
      c,
      `start ${c.app}`,
      `container ${c.id} to start`,
      () => appState(c.sandbox.pod.path, c.app) !== 'created',
    );
    const s = statusDir(c.sandbox.pod);
    if (!existsSync(path.join(s, `${c.app}-started`)))
      throw new ApiError(
        grpc.status.UNKNOWN,
        `container ${c.id} failed to start (exit status ${readFileSync(path.join(s, c.app), 'utf8').trim()})`,
      );
    return {};
  }

  async stopContainer(req: { container_id?: string; timeout?: string }): Promise<object> {
    const c = this.container(req.container_id);
    if (this.state(c) !== 'running') return {};
    const t = Math.max(0, Math.min(Number(req.timeout ?? '0') || 0, 999_999));
    await this.command(
      c,
      `stop-app ${c.app} ${t}`,
      `container ${c.id} to stop`,
      () => appState(c.sandbox.pod.path, c.app) === 'exited',
    );
    return {};
  }

  async removeContainer(req: { container_id?: string }): Promise<object> {
    const c = this.findContainer(req.container_id);
    if (c === undefined) return {};
    const pod = c.sandbox.pod;
    const s = statusDir(pod);
    if (this.ready(c.sandbox)) {
      if (appState(pod.path, c.app) === 'running')
        await this.command(
          c,
          `stop-app ${c.app} 0`,
          `container ${c.id} to stop`,
          () => appState(pod.path, c.app) === 'exited',
        );
      if (appState(pod.path, c.app) === 'exited')
        await this.command(c, `rm ${c.app}`, `container ${c.id} to be removed`, () =>
          existsSync(path.join(s, `${c.app}-removed`)),
        );
    }
    await withPodMutationLock(pod.path, () => {
      removeAppFiles(pod, c.app);
      removeAppFromManifest(pod.path, c.app);
      for (const f of [c.app, `${c.app}-removed`, `${c.app}-started`, `${c.app}-stopping`, `${c.app}-ready`])
        rmSync(path.join(s, f), { force: true });
      rmSync(path.join(pod.path, CONTAINERS_DIR, `${c.app}.json`), { force: true });
    });
    return {};
  }

  private containerState(c: ContainerRef): string {
    return { created: 'CONTAINER_CREATED', running: 'CONTAINER_RUNNING', exited: 'CONTAINER_EXITED' }[
      this.state(c)
    ];
  }

  /** Whether an app that ended with 137 was OOM-killed (asked of the kernel log once, then kept). */
  private oomKilled(c: ContainerRef): boolean {
    if (c.record.oomKilled !== undefined) return c.record.oomKilled;
    const oom = oomKilledIn(`rkt-${c.sandbox.pod.uuid}/${c.app}`);
    const file = path.join(c.sandbox.pod.path, CONTAINERS_DIR, `${c.app}.json`);
    try {
      writeFileAtomic(file, JSON.stringify({ ...c.record, oomKilled: oom }, null, 2) + '\n');
    } catch {
      // removed meanwhile
    }
    return oom;
  }

  containerStatus(req: { container_id?: string; verbose?: boolean }): object {
    const c = this.container(req.container_id);
    const s = statusDir(c.sandbox.pod);
    const state = this.state(c);
    const started = mtimeMs(path.join(s, `${c.app}-started`));
    let finished: number | undefined;
    let exitCode = 0;
    let reason = '';
    let message = '';
    if (state === 'exited') {
      const file = path.join(s, c.app);
      finished = mtimeMs(file);
      if (finished === undefined) {
        // Running when its sandbox ended without recording it.
        exitCode = 255;
        message = 'the pod sandbox ended';
        finished = (c.sandbox.pod.started ?? new Date()).getTime();
      } else exitCode = appExitCode(c.sandbox.pod.path, c.app) ?? 255;
      reason = exitReason(exitCode, exitCode === 137 && this.oomKilled(c));
    }
    return {
      status: {
        id: c.id,
        metadata: c.record.metadata,
        state: this.containerState(c),
        created_at: nanos(c.record.createdAt),
        started_at: nanos(started),
        finished_at: nanos(finished),
        exit_code: exitCode,
        image: { image: c.record.image, annotations: {} },
        image_ref: c.record.imageRef,
        reason,
        message,
        labels: c.record.labels,
        annotations: c.record.annotations,
        mounts: c.record.mounts.map((m) => ({
          ...m,
          selinux_relabel: false,
          propagation: m.propagation ?? 'PROPAGATION_PRIVATE',
        })),
        log_path: c.record.logPath,
      },
      info:
        req.verbose === true
          ? { info: JSON.stringify({ podUUID: c.sandbox.pod.uuid, app: c.app, runtime: this.opts.runtime }) }
          : {},
    };
  }

  listContainers(req: {
    filter?: {
      id?: string;
      state?: { state?: string } | null;
      pod_sandbox_id?: string;
      label_selector?: Labels;
    } | null;
  }): object {
    const f = req.filter ?? {};
    const containers = [];
    for (const c of this.containers()) {
      const state = this.containerState(c);
      if (!matchesId(c.id, f.id)) continue;
      if (!matchesId(c.sandbox.id, f.pod_sandbox_id)) continue;
      if (f.state !== null && f.state !== undefined && f.state.state !== state) continue;
      if (!matchesLabels(c.record.labels, f.label_selector)) continue;
      containers.push({
        id: c.id,
        pod_sandbox_id: c.sandbox.id,
        metadata: c.record.metadata,
        image: { image: c.record.image, annotations: {} },
        image_ref: c.record.imageRef,
        state,
        created_at: nanos(c.record.createdAt),
        labels: c.record.labels,
        annotations: c.record.annotations,
      });
    }
    return { containers };
  }

  reopenContainerLog(req: { container_id?: string }): object {
    const c = this.container(req.container_id);
    if (this.state(c) !== 'running')
      throw new ApiError(grpc.status.FAILED_PRECONDITION, `container ${c.id} is not running`);
    // The loggers open the file for each line: a new file at log_path is used from the next line.
    if (c.record.logPath !== '') closeSync(openSync(c.record.logPath, 'a'));
    return {};
  }

  // ---- exec ----

  /** An exec target in a running container. */
  execTarget(id: string | undefined, cmd: readonly string[] | undefined, pidFile?: string): ExecTarget {
    const c = this.container(id);
    if (this.state(c) !== 'running')
      throw new ApiError(grpc.status.FAILED_PRECONDITION, `container ${c.id} is not running`);
    if ((cmd ?? []).length === 0) throw invalid('cmd: empty');
    return podExecTarget(c.sandbox.pod, [...(cmd ?? [])], c.app, true, pidFile);
  }

  /** An attach target: a running container's terminal, or its stdin stream and its log. */
  attachTarget(id: string | undefined, stdin: boolean): ExecTarget {
    const c = this.container(id);
    if (this.state(c) !== 'running')
      throw new ApiError(grpc.status.FAILED_PRECONDITION, `container ${c.id} is not running`);
    const pod = c.sandbox.pod;
    const sockets = path.join(pod.path, 'stage1', 'attach', c.app);
    const need = c.record.tty === true ? 'tty.sock' : stdin ? 'stdin.sock' : undefined;
    if (need !== undefined && !existsSync(path.join(sockets, need)))
      throw new ApiError(
        grpc.status.FAILED_PRECONDITION,
        `container ${c.id}: no ${need === 'tty.sock' ? 'terminal' : 'stdin'} to attach to${
          c.record.tty === true || c.record.stdin === true
            ? ' (its endpoint is missing)'
            : ' (created without stdin)'
        }`,
      );
    return attachTarget(
      {
        podDir: pod.path,
        app: c.app,
        stdinOnce: c.record.stdinOnce === true,
        exitCode: () => appExitCode(pod.path, c.app) ?? (this.ready(c.sandbox) ? undefined : 255),
        describe: `container ${c.id}`,
      },
      c.record.tty === true,
    );
  }

  portForwardTarget(id: string | undefined): PortForwardTarget {
    const sb = this.sandbox(id);
    if (!this.ready(sb))
      throw new ApiError(grpc.status.FAILED_PRECONDITION, `pod sandbox ${sb.id} is not ready`);
    return podPortTarget(sb.pod);
  }

  async execSync(req: { container_id?: string; cmd?: string[]; timeout?: string }): Promise<{
    stdout: Buffer;
    stderr: Buffer;
    exit_code: number;
  }> {
    // The runtime writes the command's pid here: a command past its timeout is killed by pid.
    const pidFile = path.join(tmpdir(), `rkt-cri-exec.${process.pid}.${randomBytes(6).toString('hex')}.pid`);
    const target = this.execTarget(req.container_id, req.cmd, pidFile);
    const p = target.start({ stdin: false, stdout: true, stderr: true, tty: false });
    const out: Buffer[] = [];
    const err: Buffer[] = [];
    p.stdout?.on('data', (b: Buffer) => out.push(b));
    p.stderr?.on('data', (b: Buffer) => err.push(b));
    const seconds = Number(req.timeout ?? '0');
    let timer: NodeJS.Timeout | undefined;
    const timeout = new Promise<'timeout'>((resolve) => {
      if (seconds > 0) timer = setTimeout(() => resolve('timeout'), seconds * 1000);
    });
    try {
      const code = await Promise.race([p.exit, timeout]);
      if (code === 'timeout') {
        // As containerd: the command is killed (in the container, by its pid), then the call fails.
        await killTimedOut(pidFile, p);
        // The exec'd process may hold its output open: stop reading and answer now.
        p.kill();
        p.stdout?.destroy();
        p.stderr?.destroy();
        void p.exit.catch(() => undefined);
        throw new ApiError(
          grpc.status.DEADLINE_EXCEEDED,
          `exec in container ${req.container_id ?? ''}: timed out after ${seconds}s`,
        );
      }
      return { stdout: Buffer.concat(out), stderr: Buffer.concat(err), exit_code: code };
    } finally {
      if (timer !== undefined) clearTimeout(timer);
      rmSync(pidFile, { force: true });
    }
  }

  // ---- stats and resources ----

  /** CPU and memory of the cgroup `rel` now, with the rate since its previous sample. */
  private usage(rel: string): { cpu: object; memory: object } | { cpu: null; memory: null } {
    const cur = readCgroup(rel);
    if (cur === undefined) {
      this.samples.delete(rel);
      return { cpu: null, memory: null };
    }
    const cores = nanoCores(this.samples.get(rel), cur);
    this.samples.set(rel, cur);
    return usageMessages(cur, cores);
  }

  private containerStatsOf(c: ContainerRef): object {
    const upper = path.join(c.sandbox.pod.path, 'overlay', c.app, 'upper');
    const du = diskUsage(upper);
    const running = this.state(c) === 'running';
    return {
      attributes: {
        id: c.id,
        metadata: c.record.metadata,
        labels: c.record.labels,
        annotations: c.record.annotations,
      },
      ...(running ? this.usage(`rkt-${c.sandbox.pod.uuid}/${c.app}`) : { cpu: null, memory: null }),
      writable_layer: {
        timestamp: nanos(Date.now()),
        fs_id: { mountpoint: upper },
        used_bytes: { value: du.bytes.toString() },
        inodes_used: { value: du.inodes.toString() },
      },
      swap: null,
    };
  }

  containerStats(req: { container_id?: string }): object {
    return { stats: this.containerStatsOf(this.container(req.container_id)) };
  }

  listContainerStats(req: {
    filter?: { id?: string; pod_sandbox_id?: string; label_selector?: Labels } | null;
  }): object {
    const f = req.filter ?? {};
    return {
      stats: this.containers()
        .filter(
          (c) =>
            matchesId(c.id, f.id) &&
            matchesId(c.sandbox.id, f.pod_sandbox_id) &&
            matchesLabels(c.record.labels, f.label_selector),
        )
        .map((c) => this.containerStatsOf(c)),
    };
  }

  private sandboxStatsOf(sb: Sandbox): object {
    const containers = this.containers().filter((c) => c.sandbox.id === sb.id);
    return {
      attributes: {
        id: sb.id,
        metadata: sb.record.metadata,
        labels: sb.record.labels,
        annotations: sb.record.annotations,
      },
      linux: {
        ...(this.ready(sb) ? this.usage(`rkt-${sb.pod.uuid}`) : { cpu: null, memory: null }),
        network: null,
        process: null,
        containers: containers.map((c) => this.containerStatsOf(c)),
      },
      windows: null,
    };
  }

  podSandboxStats(req: { pod_sandbox_id?: string }): object {
    return { stats: this.sandboxStatsOf(this.sandbox(req.pod_sandbox_id)) };
  }

  listPodSandboxStats(req: { filter?: { id?: string; label_selector?: Labels } | null }): object {
    const f = req.filter ?? {};
    return {
      stats: this.sandboxes()
        .filter((sb) => matchesId(sb.id, f.id) && matchesLabels(sb.record.labels, f.label_selector))
        .map((sb) => this.sandboxStatsOf(sb)),
    };
  }

  /** UpdateContainerResources: memory limit, CPU quota/period and shares, through the runtime's update. */
  updateContainerResources(req: {
    container_id?: string;
    linux?: {
      cpu_period?: string;
      cpu_quota?: string;
      cpu_shares?: string;
      memory_limit_in_bytes?: string;
      cpuset_cpus?: string;
      cpuset_mems?: string;
    } | null;
  }): object {
    const c = this.container(req.container_id);
    if (this.state(c) !== 'running')
      throw new ApiError(grpc.status.FAILED_PRECONDITION, `container ${c.id} is not running`);
    const l = req.linux ?? {};
    const flags: string[] = [];
    const num = (v: string | undefined): number => Number(v ?? '0');
    if (num(l.memory_limit_in_bytes) > 0) flags.push(`--memory=${String(num(l.memory_limit_in_bytes))}`);
    if (num(l.cpu_period) > 0) flags.push(`--cpu-period=${String(num(l.cpu_period))}`);
    if (num(l.cpu_quota) > 0) flags.push(`--cpu-quota=${String(num(l.cpu_quota))}`);
    if (num(l.cpu_shares) > 0) flags.push(`--cpu-share=${String(num(l.cpu_shares))}`);
    if ((l.cpuset_cpus ?? '') !== '') flags.push(`--cpuset-cpus=${l.cpuset_cpus ?? ''}`);
    if ((l.cpuset_mems ?? '') !== '') flags.push(`--cpuset-mems=${l.cpuset_mems ?? ''}`);
    if (flags.length === 0) return {};
    const state = readJson<{ runtime?: RuntimeName }>(path.join(c.sandbox.pod.path, ENGINE_STATE));
    const rt = detectRuntime(state?.runtime !== undefined ? { runtime: state.runtime } : {});
    const [cmd, ...argv] = runtimeArgv(rt, ['update', ...flags, `rkt-${c.sandbox.pod.uuid}-${c.app}`]);
    const r = spawnSync(cmd as string, argv, { encoding: 'utf8' });
    if (r.status !== 0)
      throw new ApiError(
        grpc.status.INVALID_ARGUMENT,
        `container ${c.id}: ${rt.name} update: ${(r.stderr || r.error?.message || 'failed').trim().split('\n').pop() ?? ''}`,
      );
    return {};
  }
}

/**
 * Kills an ExecSync command past its timeout: SIGKILL to the pid the runtime wrote to `pidFile`
 * (written once the command runs: waited for while the runtime's exec still runs), then waits for
 * the runtime's exec to end, which it does once it has reaped the command (bounded: 10 s).
 */
async function killTimedOut(pidFile: string, p: StreamProcess): Promise<void> {
  let ended = false;
  const exited = p.exit.then(
    () => (ended = true),
    () => (ended = true),
  );
  for (let i = 0; i < 500 && !ended; i++) {
    let pid = NaN;
    try {
      pid = Number(readFileSync(pidFile, 'utf8').trim());
    } catch {
      // not written yet
    }
    if (Number.isSafeInteger(pid) && pid > 1) {
      try {
        process.kill(pid, 'SIGKILL');
      } catch {
        // already gone
      }
      break;
    }
    await sleep(20);
  }
  await Promise.race([exited, sleep(10_000)]);
}

/**
 * The sandbox's port mappings (hostPort, through the CNI chain's portmap plugin: the pod's exposed
 * ports) and sysctls (the pod's os/unix/sysctl isolator: every container's OCI `linux.sysctl`, in
 * the pod's namespaces) on the pod's arguments. A host-network sandbox maps no ports.
 */
function sandboxPortsAndSysctls(args: PodArgs, c: PodSandboxConfigMsg, network: 'NODE' | 'POD'): void {
  try {
    if (network === 'POD') {
      const ports = sandboxExposedPorts(c.port_mappings ?? []);
      if (ports.length > 0) args.sandboxPorts = ports;
    }
  } catch (err) {
    throw invalid(`config.${errorMessage(err)}`);
  }
  const sysctls = c.linux?.sysctls ?? {};
  if (Object.keys(sysctls).length > 0) args.sandboxIsolators = [sysctlIsolator(sysctls)];
}
