/**
 * The engine (stage1) interface and the exec-plan hand-off (docs/stage1.md).
 *
 * Node must not stay resident per pod. The `rkt` launcher (bin/rkt, POSIX sh) names a plan file in
 * `RKT_EXEC_PLAN`; stage0 (Node) prepares everything and writes a POSIX sh script there; when
 * stage0 exits 0 and the file is not empty, the launcher `exec`s `/bin/sh PLAN`. The plan removes
 * itself first, then takes the pod lock, and becomes (or starts) the pod's supervisor.
 */
import { closeSync, openSync, readFileSync, renameSync, rmSync, unlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import type { PodManifest } from '../appc/index.js';
import { RKT_FAILURE, RocketError, errorMessage } from '../errors.js';
import type { LogCaptureSettings } from '../logs/capture.js';

/** Where an engine records in the pod dir what its stop, enter and gc need (`{engine: NAME, ...}`). */
export const ENGINE_STATE = path.join('stage1', 'engine.json');

/** The pod's engine state if the engine named `engine` wrote it, else undefined. */
export function readEngineState<T extends { engine: string }>(
  podPath: string,
  engine: T['engine'],
): T | undefined {
  try {
    const s = JSON.parse(readFileSync(path.join(podPath, ENGINE_STATE), 'utf8')) as T;
    return s.engine === engine ? s : undefined;
  } catch {
    return undefined;
  }
}

/** Writes the engine state of a pod (temp file, then rename: a reader never sees half of it). */
export function writeEngineState<T extends { engine: string }>(podPath: string, state: T): void {
  const file = path.join(podPath, ENGINE_STATE);
  const tmp = `${file}.tmp-${process.pid}`;
  writeFileSync(tmp, JSON.stringify(state, null, 2) + '\n');
  renameSync(tmp, file);
}

/**
 * What `rkt status` and `rkt list --format` show of the engine that ran a pod: its name, the oci
 * engine's runtime (crun|runc), the kvm engine's accelerator (kvm|tcg). Undefined before the pod ran.
 */
export interface EngineSummary {
  engine: string;
  runtime?: string;
  accelerator?: string;
}

export function engineSummary(podPath: string): EngineSummary | undefined {
  let s: { engine?: unknown; runtime?: unknown; accel?: unknown };
  try {
    s = JSON.parse(readFileSync(path.join(podPath, ENGINE_STATE), 'utf8')) as typeof s;
  } catch {
    return undefined;
  }
  if (typeof s.engine !== 'string') return undefined;
  const out: EngineSummary = { engine: s.engine };
  if (s.engine === 'oci' && typeof s.runtime === 'string') out.runtime = s.runtime;
  if (s.engine === 'kvm' && typeof s.accel === 'string') out.accelerator = s.accel;
  return out;
}

/** A POSIX sh script that the launcher execs in place of stage0. */
export interface ExecPlan {
  script: string;
}

/** What an engine knows of an existing pod (src/pod's PodInfo has these and more). */
export interface EnginePod {
  uuid: string;
  /** The pod dir, in whatever state dir it is now. */
  path: string;
  /** The pid in the pod's `pid` file, if any. */
  pid?: number;
}

/** The pod's network: none (loopback only), the host's, or CNI networks stage0 joined. */
export type NetMode = 'none' | 'host' | 'cni';

/** `--insecure-options` that apply at run time. */
export interface InsecureOptions {
  capabilities: boolean;
  paths: boolean;
  seccomp: boolean;
}

/** `--dns`, `--dns-search`, `--dns-opt`, `--dns-domain` as given. */
export interface DnsSettings {
  dns: string[];
  dnsSearch: string[];
  dnsOpt: string[];
  dnsDomain?: string;
}

/**
 * What stage0's run pipeline (src/pod/run-pipeline.ts) hands an engine once it has done its part:
 * a prepared pod (unlocked, in prepared/) and the settings the engine reads, nothing of the
 * command line itself. For an engine with `podNetwork`, stage0 has already written `etc/hosts`
 * and `etc/resolv.conf` in the pod dir, made `ns-net` and joined the CNI networks (mode `cni`),
 * registered the pod with the metadata service and made the log dirs.
 */
export interface RunConfig {
  uuid: string;
  /** The data dir (`--dir`): rendered trees are under `cas/tree/<treeStoreID>/rootfs`. */
  dataDir: string;
  /** The prepared pod dir (written now) and where it will be once running (`run/<uuid>`). */
  preparedDir: string;
  runDir: string;
  manifest: PodManifest;
  /** Engine variant from `--stage1-name`/`--engine` (e.g. `oci-runc`), if any. */
  variant?: string;
  insecure: InsecureOptions;
  interactive: boolean;
  noOverlay: boolean;
  /** `--hostname`, if given (default: `rkt-<uuid>`, podHostname). */
  hostname?: string;
  network: {
    mode: NetMode;
    /** With CNI networks: the script that undoes them (`sh SCRIPT POD_DIR`), for the supervisor's cleanup. */
    teardownScript?: string;
  };
  /** Pod files stage0 wrote for the apps to bind (podNetwork engines): `etc/resolv.conf` unless `--dns=none`. */
  resolvConf: boolean;
  /** The DNS and hosts flags, for engines that handle them themselves (no `podNetwork`). */
  dns: DnsSettings;
  hostsEntries: string[];
  /** The metadata service: the apps' `AC_METADATA_URL` and the sh command that unregisters the pod ('' when not registered). */
  metadata: { url: string; unregister: string };
  /** The loggers' settings; undefined when nothing is captured (`--interactive`, or the engine keeps no log). */
  logs?: LogCaptureSettings;
  /** `--local-config` and `--system-config`: the engines' own settings are in their `stage1.d/`. */
  configDirs?: { local: string; system: string };
  /**
   * The pod's containers may ask for a rootfs mount propagation (the CRI service's): the oci
   * engine's runtime wrapper then keeps the host's propagation (src/stage1/oci/runtime.ts).
   */
  mountPropagation?: boolean;
}

export interface StopRequest {
  pod: EnginePod;
  force: boolean;
}

export interface EnterRequest {
  pod: EnginePod;
  app?: string;
  command: string[];
  /** Where the runtime writes the pid of the command (oci engine: its exec's `--pid-file`). */
  pidFile?: string;
  /**
   * Run the command as the app's own process is run (user, groups, capabilities, environment,
   * working directory), as a CRI exec does, rather than as root as `rkt enter` does. Engines
   * without the notion ignore it.
   */
  asApp?: boolean;
}

/** `rkt attach` to an app's `stream` endpoints, for an engine that relays them itself. */
export interface AttachRequest {
  pod: EnginePod;
  app: string;
  /** A tty app's endpoints are its terminal's input (`stdin`) and output (`stdout`). */
  streams: ('stdin' | 'stdout' | 'stderr')[];
  tty?: boolean;
}

/** What `rkt app add` hands an engine: a running sandbox whose manifest already has the app. */
export interface AddAppRequest {
  pod: EnginePod;
  dataDir: string;
  app: string;
  insecure: InsecureOptions;
  /** The pod manifest with the app in it, as stage0 wrote it; read from the pod dir if not given. */
  manifest?: PodManifest;
}

/** What stage0 needs of an added app: its OCI configs (for AC_METADATA_URL), the pod's network. */
export interface AddedApp {
  configFiles: string[];
  hostNetwork: boolean;
}

/**
 * The app operations of an engine whose pods can be sandboxes (`rkt app sandbox|add|start|stop|
 * rm`). A sandbox is started by the engine's `run` (its manifest has rkt's mutable annotation);
 * its supervisor (supervisor.sh) takes the commands of docs/stage1.md ("The supervisor's
 * protocol") and writes the apps' status files in the pod dir, which stage0 reads.
 */
export interface EngineApps {
  /** Whether the pod's supervisor still runs (and so reads its commands). */
  supervisorRunning(pod: EnginePod): boolean;
  /** Writes one command line to the pod's supervisor; false if nobody reads it. */
  send(pod: EnginePod, line: string): boolean;
  /** Writes the app's files (rootfs, launch or bundle, supervisor settings) into the running pod; the app is not started. */
  add(req: AddAppRequest): AddedApp;
  /** Once the supervisor forgot the app (`rm`): its files and its place in the engine state. */
  removeFiles(pod: EnginePod, app: string): void;
  /** Whether the pod shares the host's network (for the metadata service). */
  hostNetwork(pod: EnginePod): boolean;
}

/**
 * An engine. `run` and `enter` only build plans (stage0 must exit for the launcher to exec
 * them); `stop` acts synchronously; `gc` cleans up after a pod (stage0's gc calls it for every pod
 * it deletes: src/pod/engine-gc.ts).
 */
export interface Engine {
  readonly name: string;
  /**
   * Whether the pod gets a network namespace of its own that stage0 sets up (`--net`, CNI, hosts,
   * resolv.conf, metadata registration). Without it the pod shares the host's (fly).
   */
  readonly podNetwork?: boolean;
  /** Whether the supervisor keeps the apps' output in the pod log (stage0 makes the log dirs). */
  readonly podLogs?: boolean;
  /**
   * Whether the engine gives the apps `AC_METADATA_URL` and unregisters the pod at its end, so
   * stage0 registers it with the metadata service (with `podNetwork` only).
   */
  readonly podMetadata?: boolean;
  /** The app operations, for an engine that runs sandboxes (`rkt app`); none: `rkt app sandbox` is refused. */
  readonly apps?: EngineApps;
  run(config: RunConfig): ExecPlan;
  enter(req: EnterRequest): ExecPlan;
  /**
   * `rkt attach`, for an engine whose apps' endpoints are not the host's sockets in
   * `stage1/attach/<app>/` (kvm: they are in the VM): a plan that relays this process's stdin,
   * stdout and stderr to them. Without it `rkt attach` connects to those sockets itself.
   */
  attach?(req: AttachRequest): ExecPlan;
  stop(req: StopRequest): void;
  gc(pod: EnginePod): void;
}

export const PLAN_ENV = 'RKT_EXEC_PLAN';

/**
 * Creates the plan file the launcher named (O_EXCL: a file already there is never written through).
 * The launcher names it after its own pid, which the plan keeps while it runs (exec), so a file of
 * that name is the leftover of a dead launcher that had the same pid (killed before its plan
 * removed it), or a trap: it is unlinked (never followed) and the plan made anew.
 */
function openPlan(target: string): number {
  try {
    return openSync(target, 'wx', 0o600);
  } catch (err) {
    if (
      (err as NodeJS.ErrnoException).code !== 'EEXIST' ||
      path.basename(target) !== `rkt-plan.${process.ppid}`
    )
      throw err;
  }
  unlinkSync(target);
  return openSync(target, 'wx', 0o600);
}

/**
 * Hands a plan to the launcher. Without the launcher (node run directly, as some tests do), runs
 * the plan as a child with the terminal inherited and returns its exit status: Node then stays
 * resident, which is why bin/rkt is the supported entry point.
 */
export function handOff(plan: ExecPlan): number | undefined {
  const target = process.env[PLAN_ENV];
  if (target !== undefined && target !== '') {
    try {
      const fd = openPlan(target);
      try {
        writeFileSync(fd, plan.script);
      } finally {
        closeSync(fd);
      }
    } catch (err) {
      throw new RocketError(`cannot write the exec plan ${target}: ${errorMessage(err)}`, RKT_FAILURE);
    }
    return undefined;
  }
  const file = path.join(tmpdir(), `rkt-plan.${process.pid}.${Date.now()}`);
  writeFileSync(file, plan.script, { mode: 0o600, flag: 'wx' });
  // node:child_process only here (process.getBuiltinModule): commands that hand off nothing do
  // not compile it.
  const r = process.getBuiltinModule('node:child_process').spawnSync('/bin/sh', [file], { stdio: 'inherit' });
  rmSync(file, { force: true });
  if (r.error !== undefined)
    throw new RocketError(`cannot run the exec plan: ${r.error.message}`, RKT_FAILURE);
  return r.status ?? 128 + 9;
}
