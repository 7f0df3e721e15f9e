/**
 * The OCI runtime behind the `oci` engine: crun preferred, runc as fallback, `--engine-runtime`
 * to choose. Functions return argv arrays so the POSIX launcher can exec them (Node never stays
 * resident), plus synchronous helpers for stop and gc.
 *
 * crun 1.8.1 refuses every container on a cgroup "hybrid" host whose cgroup2 mount
 * (/sys/fs/cgroup/unified) has controllers enabled. Without touching the host, crun is then run in
 * a mount namespace of its own where a tmpfs covers that mount, so it sees pure cgroup v1.
 * (Covered, not unmounted: an unmount waits for an RCU grace period, 2-45 ms here depending on the
 * load, which a mount does not; and the cgroup dir crun makes for the cgroup2 line of
 * /proc/self/cgroup lands on that tmpfs, which goes with the namespace.)
 */
import { existsSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { RocketError } from '../../errors.js';
import { firstExecutable, pathDirs } from '../../host/exec.js';

export type RuntimeName = 'crun' | 'runc';

export interface CgroupLayout {
  /** 'hybrid': v1 hierarchies plus a cgroup2 mount with controllers enabled. */
  mode: 'v1' | 'v2' | 'hybrid' | 'none';
  unifiedPath?: string;
  unifiedControllers: string[];
  /**
   * Whether the cgroup2 mount is shared (in a peer group: `shared:N` in mountinfo), so that a mount
   * on it in a namespace that keeps the host's propagation would reach the host. Unknown: assumed.
   */
  unifiedShared?: boolean;
}

export interface OciRuntime {
  name: RuntimeName;
  /** Absolute path of the runtime binary. */
  path: string;
  /** State directory passed as `--root` (undefined: the runtime's default). */
  stateRoot?: string;
  /** Whether crun runs inside the hybrid-cgroup wrapper. */
  hybridWrapper: boolean;
  /** The argv that starts the runtime, before its global options and command. */
  prefix: string[];
  describe(): string;
}

export interface DetectOptions {
  /** `--engine-runtime`: only this runtime (an error if it is missing). */
  runtime?: RuntimeName;
  stateRoot?: string;
  /** Finds an executable by name (default: search $PATH and the sbin directories). */
  which?: (name: string) => string | undefined;
  /** Default: read the host's mounts. */
  cgroups?: () => CgroupLayout;
  /**
   * A busybox for the hybrid wrapper (src/host/busybox.ts: unshare, sh and mount), for a pod none
   * of whose containers asks for a rootfs propagation (every pod but the CRI's): see
   * hybridWrapperPrefix. Default: util-linux's unshare and /bin/sh.
   */
  busybox?: string;
}

const SEARCH_DIRS = ['/usr/local/sbin', '/usr/local/bin', '/usr/sbin', '/usr/bin', '/sbin', '/bin'];

export function which(name: string): string | undefined {
  return firstExecutable(name, [...pathDirs(), ...SEARCH_DIRS]);
}

/** The cgroup layout from a mountinfo text and a reader of cgroup.controllers. */
export function cgroupLayoutFrom(mountinfo: string, readControllers: (dir: string) => string): CgroupLayout {
  let v1 = false;
  let unifiedPath: string | undefined;
  let unifiedShared = true;
  for (const line of mountinfo.split('\n')) {
    const sep = line.indexOf(' - ');
    if (sep < 0) continue;
    const fields = line.slice(0, sep).split(' ');
    const mountPoint = fields[4];
    const fsType = line.slice(sep + 3).split(' ')[0];
    if (fsType === 'cgroup') v1 = true;
    else if (fsType === 'cgroup2' && mountPoint !== undefined && unifiedPath === undefined) {
      unifiedPath = mountPoint;
      // The optional fields (after the mount options): `shared:N`, `master:N`...
      unifiedShared = fields.slice(6).some((f) => f.startsWith('shared:'));
    }
  }
  if (unifiedPath === undefined) return { mode: v1 ? 'v1' : 'none', unifiedControllers: [] };
  let controllers: string[];
  try {
    controllers = readControllers(unifiedPath).trim().split(/\s+/).filter(Boolean);
  } catch {
    controllers = [];
  }
  const mode = !v1 ? 'v2' : controllers.length > 0 ? 'hybrid' : 'v1';
  return { mode, unifiedPath, unifiedControllers: controllers, unifiedShared };
}

let hostLayout: CgroupLayout | undefined;

/** The host's cgroup layout, read once a process (the CRI service asks at every pod and gc). */
export function hostCgroupLayout(): CgroupLayout {
  hostLayout ??= cgroupLayoutFrom(readFileSync('/proc/self/mountinfo', 'utf8'), (dir) =>
    readFileSync(path.join(dir, 'cgroup.controllers'), 'utf8'),
  );
  return hostLayout;
}

/**
 * The sh script of the hybrid wrapper: cover the cgroup2 mount with a tmpfs in a mount namespace
 * of its own, then exec crun with the remaining arguments ($0 is crun's path). The namespace keeps
 * the host's propagation, so that a container's shared or slave mounts (CRI mount propagation)
 * stay peers or slaves of the host's. A mount propagates by its parent mount, here the cgroup2
 * mount itself: if that is shared with the host, it is made private in the namespace first (if
 * that fails, the whole namespace becomes a slave), so that the tmpfs does not reach the host's
 * /sys/fs/cgroup/unified; if it is not (this machine: every mount private), that `mount` is left
 * out, one process less at every runtime call.
 *
 * With a busybox (a pod whose containers ask for no rootfs propagation: crun then makes the
 * container's mounts private whatever the namespace's, so the namespace's propagation does not
 * reach them): busybox's unshare, sh and mount, with the namespace private throughout (busybox's
 * unshare cannot leave the propagation unchanged), which also keeps the tmpfs from the host
 * whether or not the cgroup2 mount is shared. About 1.5 ms less at every runtime call here: three
 * processes of one static binary instead of three dynamically linked ones.
 */
function hybridWrapperPrefix(
  crunPath: string,
  unifiedPath: string,
  unifiedShared: boolean,
  busybox: string | undefined,
): string[] {
  const unified = shQuote(unifiedPath);
  if (busybox !== undefined)
    return [
      busybox,
      'unshare',
      '-m',
      '--propagation',
      'private',
      busybox,
      'sh',
      '-c',
      `mount -t tmpfs tmpfs ${unified} 2>/dev/null; exec "$0" "$@"`,
      crunPath,
    ];
  const unshare = which('unshare') ?? 'unshare';
  const isolate = unifiedShared
    ? `{ mount --make-private ${unified} || mount --make-rslave /; } 2>/dev/null; `
    : '';
  return [
    unshare,
    '-m',
    '--propagation',
    'unchanged',
    '/bin/sh',
    '-c',
    `${isolate}mount -t tmpfs tmpfs ${unified} 2>/dev/null; exec "$0" "$@"`,
    crunPath,
  ];
}

export function shQuote(s: string): string {
  return /^[A-Za-z0-9_@%+=:,./-]+$/.test(s) ? s : `'${s.replace(/'/g, `'\\''`)}'`;
}

/** Builds the runtime descriptor for a binary (no detection). */
export function makeRuntime(
  name: RuntimeName,
  binary: string,
  layout: CgroupLayout,
  stateRoot?: string,
  busybox?: string,
): OciRuntime {
  const hybrid = name === 'crun' && layout.mode === 'hybrid' && layout.unifiedPath !== undefined;
  const prefix = hybrid
    ? hybridWrapperPrefix(binary, layout.unifiedPath as string, layout.unifiedShared !== false, busybox)
    : [binary];
  const rt: OciRuntime = {
    name,
    path: binary,
    hybridWrapper: hybrid,
    prefix,
    describe: () =>
      hybrid
        ? `${name} (${binary}) in a mount namespace of its own with a tmpfs over ${layout.unifiedPath}: the host has hybrid cgroups with cgroup2 controllers (${layout.unifiedControllers.join(' ')}) that ${name} refuses`
        : `${name} (${binary})`,
  };
  if (stateRoot !== undefined) rt.stateRoot = stateRoot;
  return rt;
}

/** Finds the runtime: the one asked for, else crun, else runc. */
export function detectRuntime(opts: DetectOptions = {}): OciRuntime {
  const find = opts.which ?? which;
  const candidates: RuntimeName[] = opts.runtime !== undefined ? [opts.runtime] : ['crun', 'runc'];
  for (const name of candidates) {
    const binary = find(name);
    if (binary !== undefined)
      return makeRuntime(name, binary, (opts.cgroups ?? hostCgroupLayout)(), opts.stateRoot, opts.busybox);
  }
  throw new RocketError(
    opts.runtime !== undefined
      ? `the OCI runtime ${opts.runtime} is not installed`
      : 'no OCI runtime found: install crun or runc',
  );
}

/** argv of `<runtime> [--root DIR] <args...>`. */
export function runtimeArgv(rt: OciRuntime, args: string[]): string[] {
  return [...rt.prefix, ...(rt.stateRoot !== undefined ? ['--root', rt.stateRoot] : []), ...args];
}

export interface RunOptions {
  bundle: string;
  id: string;
  pidFile?: string;
  /** Leave the container's process detached (`run --detach`). */
  detach?: boolean;
}

/** argv of `run --bundle DIR [--pid-file F] [--detach] ID`, which the launcher execs. */
export function runArgv(rt: OciRuntime, o: RunOptions): string[] {
  const args = ['run', '--bundle', o.bundle];
  if (o.pidFile !== undefined) args.push('--pid-file', o.pidFile);
  if (o.detach === true) args.push('--detach');
  args.push(o.id);
  return runtimeArgv(rt, args);
}

export function killArgv(rt: OciRuntime, id: string, signal = 'TERM', all = false): string[] {
  return runtimeArgv(rt, ['kill', ...(all ? ['--all'] : []), id, signal]);
}

export function deleteArgv(rt: OciRuntime, id: string, force = false): string[] {
  return runtimeArgv(rt, ['delete', ...(force ? ['--force'] : []), id]);
}

export function stateArgv(rt: OciRuntime, id: string): string[] {
  return runtimeArgv(rt, ['state', id]);
}

export interface ContainerState {
  id: string;
  status: string;
  pid?: number;
  bundle?: string;
}

/**
 * node:child_process when a program is run (process.getBuiltinModule): commands that load this
 * module and run nothing (`rkt app add`) do not compile it.
 */
const childProcess = (): typeof import('node:child_process') =>
  process.getBuiltinModule('node:child_process');

function runSync(argv: string[]): { status: number; stdout: string; stderr: string } {
  const [cmd, ...args] = argv;
  const r = childProcess().spawnSync(cmd as string, args, { encoding: 'utf8' });
  if (r.error !== undefined) throw new RocketError(`cannot run ${cmd}: ${r.error.message}`);
  return { status: r.status ?? 128 + 9, stdout: r.stdout, stderr: r.stderr };
}

/** The container's state, or undefined when the runtime does not know it. */
export function containerState(rt: OciRuntime, id: string): ContainerState | undefined {
  const r = runSync(stateArgv(rt, id));
  if (r.status !== 0) return undefined;
  const parsed = JSON.parse(r.stdout) as { id?: unknown; status?: unknown; pid?: unknown; bundle?: unknown };
  const state: ContainerState = {
    id: typeof parsed.id === 'string' ? parsed.id : id,
    status: typeof parsed.status === 'string' ? parsed.status : 'unknown',
  };
  if (typeof parsed.pid === 'number' && parsed.pid > 0) state.pid = parsed.pid;
  if (typeof parsed.bundle === 'string') state.bundle = parsed.bundle;
  return state;
}

/** Sends a signal; false when the container is not running (or unknown). */
export function killContainer(rt: OciRuntime, id: string, signal = 'TERM', all = false): boolean {
  return runSync(killArgv(rt, id, signal, all)).status === 0;
}

/**
 * The directories where the runtime may keep a container's state: `--root` when given, else its
 * defaults (crun and runc use /run/<name> as root and $XDG_RUNTIME_DIR/<name> otherwise).
 */
export function stateDirCandidates(rt: OciRuntime, id: string, env = process.env): string[] {
  if (rt.stateRoot !== undefined) return [path.join(rt.stateRoot, id)];
  const dirs = [path.join('/run', rt.name, id)];
  const xdg = env['XDG_RUNTIME_DIR'];
  if (xdg !== undefined && xdg.startsWith('/')) dirs.push(path.join(xdg, rt.name, id));
  return dirs;
}

/**
 * False only when the runtime certainly has no state for the container (no state dir where it
 * keeps them): then there is nothing to delete and no process to start, which is what makes gc of
 * many exited pods cheap. True when it may know it.
 */
export function runtimeMayKnow(
  rt: OciRuntime,
  id: string,
  exists: (p: string) => boolean = existsSync,
): boolean {
  if (id === '' || id.includes('/') || id === '.' || id === '..') return true;
  return stateDirCandidates(rt, id).some((d) => exists(d));
}

/** Deletes the container; a container the runtime does not know counts as deleted. */
export function deleteContainer(rt: OciRuntime, id: string, force = false): void {
  if (!runtimeMayKnow(rt, id)) return;
  const r = runSync(deleteArgv(rt, id, force));
  if (r.status !== 0 && containerState(rt, id) !== undefined)
    throw new RocketError(`${rt.name} delete ${id} failed: ${r.stderr.trim()}`);
}
