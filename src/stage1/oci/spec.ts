/**
 * The OCI runtime config (config.json) of one app of a pod on the `oci` engine: a pure function of
 * the effective appc app and what stage0 resolved for it (rootfs, user, volumes, pod namespaces).
 *
 * Mapping decisions (appc-spec.md §E, §G5–G8; rkt stage1/init/common):
 * - Environment: PATH defaults to appc's `/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin`;
 *   the app's own `environment` (which already holds `--set-env` overrides) wins over that default,
 *   as in rkt; then the executor's variables (`AC_APP_NAME`, `AC_METADATA_URL`, `container`, from
 *   `executorEnv`) win over the app's, as rkt sets AC_APP_NAME after the app's environment.
 * - Capabilities: rkt's default bounding set (the spec's 14) unless a retain set (exactly its union)
 *   or a remove set (the 14 minus its union) says otherwise. As under rkt's systemd units, a root app
 *   holds the whole bounding set in its effective and permitted sets, and a non-root app none
 *   (no ambient capabilities). `insecure.capabilities` gives every capability. Every set is
 *   intersected with the host's bounding set (what the runtime can give at all); a retain set
 *   naming a capability outside it is refused.
 * - Seccomp: see seccomp.ts (rkt's default allow-list when no isolator is given). As rkt does, a
 *   non-root app under a seccomp filter always gets no_new_privileges.
 * - Resources: memory limit → memory.limit; cpu limit → cpu.quota over a 100 ms period; cpu-shares →
 *   cpu.shares; pod-level resource limits bound the app's (the smaller wins). Nothing is reserved
 *   for a request (rkt ignored them too): a request other than the limit is reported as a warning.
 * - Paths: rkt's protectKernelTunables lists become maskedPaths and readonlyPaths, plus /proc/sys
 *   read-only (systemd-nspawn, rkt's classic engine, mounts it so); `insecure.paths` drops them.
 * - rlimits: none, so the app inherits the host's limits (raising them fails on hosts without
 *   CAP_SYS_RESOURCE).
 */
import { release } from 'node:os';
import type { App, Isolator } from '../../appc/types.js';
import { ALL_CAPABILITIES, DEFAULT_CAPABILITIES } from '../../appc/values.js';
export { ALL_CAPABILITIES };
import { decodeIsolator, type IsolatorValue } from '../../appc/isolators.js';
import { RKT_FAILURE, RocketError } from '../../errors.js';
import { readFileSync } from 'node:fs';
import { ociSeccomp, type OciSeccomp, type SeccompIsolator } from './seccomp.js';

export const APPC_DEFAULT_PATH = '/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin';
export const OCI_VERSION = '1.0.2';
/** CPU period for `resource/cpu` limits, in microseconds. */
export const CPU_PERIOD_US = 100_000;

/** rkt's protectKernelTunables (stage1/init/common/app.go), plus nspawn's read-only /proc/sys. */
export const READONLY_PATHS: readonly string[] = [
  '/proc/bus',
  '/proc/sys',
  '/proc/sysrq-trigger',
  '/sys/block',
  '/sys/bus',
  '/sys/class',
  '/sys/dev',
  '/sys/devices',
  '/sys/kernel',
];
export const MASKED_PATHS: readonly string[] = [
  '/proc/config.gz',
  '/proc/kallsyms',
  '/proc/sched_debug',
  '/proc/kcore',
  '/proc/kmem',
  '/proc/mem',
  '/sys/firmware',
  '/sys/fs',
  '/sys/hypervisor',
  '/sys/module',
  '/sys/power',
];

// ---- the OCI config subset we write ----

export interface OciUser {
  uid: number;
  gid: number;
  additionalGids?: number[];
}

export interface OciCapabilities {
  bounding: string[];
  effective: string[];
  permitted: string[];
  inheritable: string[];
  ambient: string[];
}

export interface OciProcess {
  terminal: boolean;
  /** Initial size of the terminal (with `terminal`). */
  consoleSize?: { height: number; width: number };
  user: OciUser;
  args: string[];
  env: string[];
  cwd: string;
  capabilities: OciCapabilities;
  noNewPrivileges: boolean;
  oomScoreAdj?: number;
  selinuxLabel?: string;
  apparmorProfile?: string;
}

export interface OciMount {
  destination: string;
  type: string;
  source: string;
  options?: string[];
}

export interface OciNamespace {
  type: 'mount' | 'network' | 'ipc' | 'uts' | 'pid' | 'cgroup' | 'user';
  path?: string;
}

export interface OciDeviceRule {
  allow: boolean;
  access?: string;
  type?: string;
  major?: number;
  minor?: number;
}

export interface OciResources {
  devices: OciDeviceRule[];
  memory?: { limit: number };
  cpu?: { quota?: number; period?: number; shares?: number };
}

export interface OciLinux {
  namespaces: OciNamespace[];
  resources: OciResources;
  cgroupsPath?: string;
  sysctl?: Record<string, string>;
  seccomp?: OciSeccomp;
  maskedPaths?: string[];
  readonlyPaths?: string[];
  mountLabel?: string;
  /** The propagation of the container's root mount (`rshared`, `rslave`...; the runtime's default when absent). */
  rootfsPropagation?: string;
}

export interface OciConfig {
  ociVersion: string;
  process: OciProcess;
  root: { path: string; readonly: boolean };
  hostname?: string;
  mounts: OciMount[];
  annotations?: Record<string, string>;
  linux: OciLinux;
}

// ---- input ----

/**
 * A pod namespace: the absolute path of its persistent file (joined), `'new'` (a fresh one) or
 * `'host'` (the host's).
 */
export type NamespaceRef = string;

export interface PodNamespaces {
  /** A path, 'new' or 'host'; default 'new'. */
  network?: NamespaceRef;
  ipc?: NamespaceRef;
  uts?: NamespaceRef;
  /** Default 'new' (each app its own pid namespace, the app is pid 1). */
  pid?: NamespaceRef;
}

export interface AppMount {
  /** Host path for bind mounts; ignored for tmpfs. */
  source: string;
  /** Absolute path in the app. */
  destination: string;
  readOnly?: boolean;
  /** rbind rather than bind (appc volumes' `recursive`). */
  recursive?: boolean;
  kind: 'bind' | 'tmpfs';
}

export interface InsecureOptions {
  capabilities?: boolean;
  paths?: boolean;
  seccomp?: boolean;
}

/** What the host can enforce beyond the always-available isolators. */
export interface HostSupport {
  selinux?: boolean;
  apparmor?: boolean;
}

export interface OciAppInput {
  /** The effective app (image app with the pod manifest's and CLI overrides applied). */
  app: App;
  /** The app's name in the pod (AC_APP_NAME). */
  appName: string;
  rootfs: string;
  readOnlyRootfs?: boolean;
  /**
   * The container's hostname, with a new or a joined UTS namespace (the runtime sets it in the
   * joined one too); ignored with the host's.
   */
  hostname?: string;
  namespaces: PodNamespaces;
  /** Volumes, already resolved to host paths and matched to the app's mount points. */
  mounts?: AppMount[];
  /** Pod-level isolators: resource limits bound the app's; sysctl, selinux and apparmor apply. */
  podIsolators?: Isolator[];
  /** Executor variables that win over the app's environment: AC_METADATA_URL, container, … */
  executorEnv?: Record<string, string>;
  /** uid/gid from resolveAppUser; additionalGids adds to the app's supplementaryGIDs. */
  user: OciUser;
  terminal?: boolean;
  consoleSize?: { height: number; width: number };
  insecure?: InsecureOptions;
  /** Report isolators the engine cannot honour as warnings instead of refusing the app. */
  ignoreUnsupported?: boolean;
  host?: HostSupport;
  cgroupsPath?: string;
  annotations?: Record<string, string>;
  /** Node-style arch (process.arch) for the seccomp architectures and arm syscall additions. */
  arch?: string;
  /** The host's bounding set (default: this process's, hostBoundingSet); no app gets more. */
  hostCapabilities?: readonly string[];
}

export interface OciAppConfig {
  config: OciConfig;
  /** Isolators ignored or not fully enforced, one message each, to show the user. */
  warnings: string[];
}

// ---- mapping ----

interface Decoded {
  iso: Isolator;
  value: IsolatorValue;
}

function decodeAll(isolators: Isolator[] | undefined, where: string, warnings: string[]): Decoded[] {
  const out: Decoded[] = [];
  for (const iso of isolators ?? []) {
    let value: IsolatorValue | undefined;
    try {
      value = decodeIsolator(iso);
    } catch (err) {
      throw new RocketError(`${where}: isolator ${iso.name}: ${(err as Error).message}`, 1, { cause: err });
    }
    if (value === undefined) warnings.push(`${where}: unknown isolator ${iso.name} ignored`);
    else out.push({ iso, value });
  }
  return out;
}

function normaliseCapability(name: string, where: string): string {
  const upper = name.toUpperCase();
  const cap = upper.startsWith('CAP_') ? upper : `CAP_${upper}`;
  if (!ALL_CAPABILITIES.includes(cap))
    throw new RocketError(`${where}: unknown capability ${JSON.stringify(name)}`);
  return cap;
}

/**
 * The capabilities in this process's bounding set (`CapBnd` of /proc/self/status), by name, in
 * number order; an app can hold none outside it (root on some VMs lacks CAP_SYS_RESOURCE).
 */
export function hostBoundingSet(status?: string): string[] {
  let text = status;
  if (text === undefined) {
    try {
      text = readFileSync('/proc/self/status', 'utf8');
    } catch {
      return [...ALL_CAPABILITIES];
    }
  }
  const m = /^CapBnd:\s*([0-9a-fA-F]+)\s*$/m.exec(text);
  if (m === null) return [...ALL_CAPABILITIES];
  const bits = BigInt(`0x${m[1] as string}`);
  return ALL_CAPABILITIES.filter((_, i) => ((bits >> BigInt(i)) & 1n) === 1n);
}

/** Refuses a retain set that asks for a capability outside the host's bounding set, naming it. */
function requireOnHost(caps: readonly string[], host: readonly string[], where: string): void {
  const missing = ALL_CAPABILITIES.filter((c) => caps.includes(c) && !host.includes(c));
  if (missing.length > 0)
    throw new RocketError(
      `${where}: ${missing.length === 1 ? 'capability' : 'capabilities'} ${missing.join(', ')} ` +
        `not in the host's bounding set, so the app cannot be given ${missing.length === 1 ? 'it' : 'them'}`,
      RKT_FAILURE,
    );
}

function capabilitySet(app: Decoded[], where: string, insecure: boolean, host: readonly string[]): string[] {
  if (insecure) return ALL_CAPABILITIES.filter((c) => host.includes(c));
  const retain: string[] = [];
  const remove: string[] = [];
  let hasRetain = false;
  for (const { value } of app) {
    if (value.kind !== 'capabilities') continue;
    const caps = value.set.map((c) => normaliseCapability(c, `${where}: ${value.name}`));
    if (value.name === 'os/linux/capabilities-retain-set') {
      hasRetain = true;
      retain.push(...caps);
    } else remove.push(...caps);
  }
  if (hasRetain && remove.length > 0)
    throw new RocketError(
      `${where}: capabilities-retain-set cannot be used together with capabilities-remove-set`,
    );
  if (hasRetain) requireOnHost(retain, host, where);
  const set = hasRetain ? retain : DEFAULT_CAPABILITIES.filter((c) => !remove.includes(c));
  return ALL_CAPABILITIES.filter((c) => set.includes(c) && host.includes(c));
}

type ResourceValue = Extract<IsolatorValue, { kind: 'resource' }>;
type Quantity = NonNullable<ResourceValue['limit']>;

/**
 * What is true to say about a resource request: nothing when it equals the limit (rkt's `--memory`
 * and `--cpu` set both), which is enforced; otherwise that no amount is reserved for it.
 */
function requestWarning(
  value: ResourceValue,
  amount: (q: Quantity) => bigint,
  where: string,
): string | undefined {
  const { request, limit } = value;
  if (request === undefined) return undefined;
  if (limit !== undefined && amount(request) === amount(limit)) return undefined;
  return limit === undefined
    ? `${where}: ${value.name} request ${request.toString()} is not reserved and there is no limit`
    : `${where}: ${value.name} request ${request.toString()} is not reserved; the limit ${limit.toString()} is enforced`;
}

function minBig(a: bigint | undefined, b: bigint | undefined): bigint | undefined {
  if (a === undefined) return b;
  if (b === undefined) return a;
  return a < b ? a : b;
}

function toSafeNumber(v: bigint, where: string): number {
  if (v > BigInt(Number.MAX_SAFE_INTEGER)) throw new RocketError(`${where}: value ${v} is too large`);
  return Number(v);
}

/** Namespaced sysctls and the namespace each belongs to (runc's validation rules). */
function sysctlNamespace(key: string): 'network' | 'ipc' | 'uts' | undefined {
  if (key.startsWith('net.')) return 'network';
  if (key.startsWith('fs.mqueue.')) return 'ipc';
  if (
    [
      'kernel.msgmax',
      'kernel.msgmnb',
      'kernel.msgmni',
      'kernel.sem',
      'kernel.shmall',
      'kernel.shmmax',
      'kernel.shmmni',
      'kernel.shm_rmid_forced',
    ].includes(key)
  )
    return 'ipc';
  if (key === 'kernel.hostname' || key === 'kernel.domainname') return 'uts';
  return undefined;
}

function namespaceEntries(ns: PodNamespaces): OciNamespace[] {
  const out: OciNamespace[] = [];
  const add = (type: OciNamespace['type'], ref: NamespaceRef | undefined): void => {
    const r = ref ?? 'new';
    if (r === 'host') return;
    if (r === 'new') out.push({ type });
    else {
      if (!r.startsWith('/'))
        throw new RocketError(`${type} namespace path must be absolute, got ${JSON.stringify(r)}`);
      out.push({ type, path: r });
    }
  };
  add('pid', ns.pid);
  add('network', ns.network);
  add('ipc', ns.ipc);
  add('uts', ns.uts);
  out.push({ type: 'mount' });
  return out;
}

function systemMounts(hostNetwork: boolean): OciMount[] {
  return [
    { destination: '/proc', type: 'proc', source: 'proc', options: ['nosuid', 'noexec', 'nodev'] },
    {
      destination: '/dev',
      type: 'tmpfs',
      source: 'tmpfs',
      options: ['nosuid', 'strictatime', 'mode=755', 'size=65536k'],
    },
    {
      destination: '/dev/pts',
      type: 'devpts',
      source: 'devpts',
      options: ['nosuid', 'noexec', 'newinstance', 'ptmxmode=0666', 'mode=0620', 'gid=5'],
    },
    {
      destination: '/dev/shm',
      type: 'tmpfs',
      source: 'shm',
      options: ['nosuid', 'noexec', 'nodev', 'mode=1777', 'size=65536k'],
    },
    { destination: '/dev/mqueue', type: 'mqueue', source: 'mqueue', options: ['nosuid', 'noexec', 'nodev'] },
    // sysfs can only be mounted by the owner of the network namespace; with the host's, bind it.
    hostNetwork
      ? {
          destination: '/sys',
          type: 'bind',
          source: '/sys',
          // Read-only all the way down (the host's cgroup, debugfs... mounts below /sys) where the
          // kernel can (rro); older kernels keep the top read-only only, as before.
          options: [
            'rbind',
            'nosuid',
            'noexec',
            'nodev',
            'ro',
            ...(kernelHasRecursiveReadOnly() ? ['rro'] : []),
          ],
        }
      : { destination: '/sys', type: 'sysfs', source: 'sysfs', options: ['nosuid', 'noexec', 'nodev', 'ro'] },
  ];
}

function volumeMount(m: AppMount, where: string): OciMount {
  if (!m.destination.startsWith('/'))
    throw new RocketError(
      `${where}: mount destination must be absolute, got ${JSON.stringify(m.destination)}`,
    );
  if (m.kind === 'tmpfs') {
    const options = ['nosuid', 'nodev', 'mode=1777'];
    if (m.readOnly === true) options.push('ro');
    return { destination: m.destination, type: 'tmpfs', source: 'tmpfs', options };
  }
  if (!m.source.startsWith('/'))
    throw new RocketError(`${where}: bind mount source must be absolute, got ${JSON.stringify(m.source)}`);
  const options = [m.recursive === true ? 'rbind' : 'bind'];
  if (m.readOnly === true) options.push('ro');
  if (m.readOnly === true && m.recursive === true) {
    // `ro` makes only the top mount read-only; every submount must be too. crun and runc do it
    // with mount_setattr(AT_RECURSIVE) when asked for `rro`; without that call there is no way
    // that leaves no writable window, so the volume is refused.
    if (!kernelHasRecursiveReadOnly())
      throw new RocketError(
        `${where}: a recursive read-only volume needs Linux 5.12 or later (mount_setattr), this kernel is ${release()}`,
      );
    options.push('rro');
  }
  return { destination: m.destination, type: 'bind', source: m.source, options };
}

/** Whether the kernel has mount_setattr (Linux 5.12), which `rro` needs. */
export function kernelHasRecursiveReadOnly(kernelRelease: string = release()): boolean {
  const m = /^(\d+)\.(\d+)/.exec(kernelRelease);
  if (m === null) return false;
  const [major, minor] = [Number(m[1]), Number(m[2])];
  return major > 5 || (major === 5 && minor >= 12);
}

function composeEnv(input: OciAppInput): string[] {
  const env = new Map<string, string>([['PATH', APPC_DEFAULT_PATH]]);
  for (const { name, value } of input.app.environment ?? []) env.set(name, value);
  env.set('AC_APP_NAME', input.appName);
  for (const [name, value] of Object.entries(input.executorEnv ?? {})) env.set(name, value);
  return [...env].map(([k, v]) => `${k}=${v}`);
}

/**
 * The OCI config of one app; throws RocketError naming the app for anything it cannot honour
 * (unless `ignoreUnsupported`, which turns unsupported isolators into warnings).
 */
export function ociConfigForApp(input: OciAppInput): OciAppConfig {
  const where = `app ${JSON.stringify(input.appName)}`;
  const warnings: string[] = [];
  const unsupported = (message: string): void => {
    if (input.ignoreUnsupported !== true)
      throw new RocketError(`${where}: ${message} (use the ignore-unsupported option to run anyway)`);
    warnings.push(`${where}: ${message}; ignored`);
  };
  const { app } = input;
  const exec = app.exec ?? [];
  if (exec.length === 0 || exec[0] === '') throw new RocketError(`${where}: exec is required`);
  const cwd = app.workingDirectory ?? '/';
  if (!cwd.startsWith('/'))
    throw new RocketError(`${where}: workingDirectory must be absolute, got ${JSON.stringify(cwd)}`);

  const appIso = decodeAll(app.isolators, where, warnings);
  const podIso = decodeAll(input.podIsolators, `${where}: pod`, warnings);

  // Resources: the smallest limit of the app's and the pod's.
  let memoryLimit: bigint | undefined;
  let cpuMilli: bigint | undefined;
  let cpuShares: number | undefined;
  let oomScoreAdj: number | undefined;
  let noNewPrivileges = false;
  let seccompIso: SeccompIsolator | undefined;
  let selinux: string | undefined;
  let apparmor: string | undefined;
  let sysctl: Record<string, string> | undefined;
  for (const [scope, list] of [
    ['pod', podIso],
    ['app', appIso],
  ] as const) {
    for (const { value } of list) {
      switch (value.kind) {
        case 'resource':
          if (value.name === 'resource/memory') {
            if (value.limit !== undefined) memoryLimit = minBig(memoryLimit, value.limit.value());
            const w = requestWarning(value, (q) => q.value(), where);
            if (w !== undefined) warnings.push(w);
          } else if (value.name === 'resource/cpu') {
            if (value.limit !== undefined) cpuMilli = minBig(cpuMilli, value.limit.milliValue());
            const w = requestWarning(value, (q) => q.milliValue(), where);
            if (w !== undefined) warnings.push(w);
          } else if (value.name === 'resource/network-bandwidth') {
            unsupported(`isolator ${value.name} is not supported by the oci engine`);
          } else {
            unsupported(`isolator ${value.name} needs a block device, which the oci engine does not know`);
          }
          break;
        case 'cpu-shares':
          cpuShares = value.value;
          break;
        case 'oom-score-adj':
          oomScoreAdj = value.value;
          break;
        case 'no-new-privileges':
          noNewPrivileges = value.enabled;
          break;
        case 'seccomp':
          if (scope === 'app') {
            seccompIso = {
              mode: value.name === 'os/linux/seccomp-retain-set' ? 'retain' : 'remove',
              set: value.set,
            };
            if (value.errno !== undefined) seccompIso.errno = value.errno;
          }
          break;
        case 'selinux':
          if (input.host?.selinux === true)
            selinux = `${value.user}:${value.role}:${value.type}:${value.level}`;
          else unsupported(`isolator ${value.name} needs SELinux, which this host does not have`);
          break;
        case 'apparmor':
          if (input.host?.apparmor === true) apparmor = value.profile;
          else unsupported(`isolator ${value.name} needs AppArmor, which this host does not have`);
          break;
        case 'sysctl':
          if (scope === 'app') warnings.push(`${where}: os/unix/sysctl applies to pods, ignored in an app`);
          else sysctl = { ...value.values };
          break;
        case 'capabilities':
          break;
      }
    }
  }

  if (sysctl !== undefined) {
    for (const key of Object.keys(sysctl)) {
      const ns = sysctlNamespace(key);
      const ref = ns === undefined ? 'host' : (input.namespaces[ns] ?? 'new');
      if (ns === undefined || ref === 'host') {
        unsupported(
          ns === undefined
            ? `sysctl ${key} is not namespaced and cannot be set for a pod`
            : `sysctl ${key} needs the pod's own ${ns} namespace`,
        );
        delete sysctl[key];
      }
    }
  }

  const insecure = input.insecure ?? {};
  const caps = capabilitySet(
    appIso,
    where,
    insecure.capabilities === true,
    input.hostCapabilities ?? hostBoundingSet(),
  );
  const root = input.user.uid === 0;
  const seccomp = insecure.seccomp === true ? undefined : ociSeccomp(seccompIso, where, input.arch);
  // rkt: non-root apps under a seccomp filter must have no_new_privileges.
  if (seccomp !== undefined && !root) noNewPrivileges = true;

  const additionalGids = [
    ...new Set([...(app.supplementaryGIDs ?? []), ...(input.user.additionalGids ?? [])]),
  ];
  const user: OciUser = { uid: input.user.uid, gid: input.user.gid };
  if (additionalGids.length > 0) user.additionalGids = additionalGids;

  const process: OciProcess = {
    terminal: input.terminal === true,
    ...(input.terminal === true && input.consoleSize !== undefined ? { consoleSize: input.consoleSize } : {}),
    user,
    args: [...exec],
    env: composeEnv(input),
    cwd,
    capabilities: {
      bounding: caps,
      effective: root ? caps : [],
      permitted: root ? caps : [],
      inheritable: [],
      ambient: [],
    },
    noNewPrivileges,
  };
  if (oomScoreAdj !== undefined) process.oomScoreAdj = oomScoreAdj;
  if (selinux !== undefined) process.selinuxLabel = selinux;
  if (apparmor !== undefined) process.apparmorProfile = apparmor;

  const resources: OciResources = { devices: [{ allow: false, access: 'rwm' }] };
  if (memoryLimit !== undefined)
    resources.memory = { limit: toSafeNumber(memoryLimit, `${where}: resource/memory`) };
  if (cpuMilli !== undefined || cpuShares !== undefined) {
    resources.cpu = {};
    if (cpuMilli !== undefined) {
      // The kernel's minimum quota is 1 ms.
      const quota = (cpuMilli * BigInt(CPU_PERIOD_US)) / 1000n;
      resources.cpu.quota = Math.max(1000, toSafeNumber(quota, `${where}: resource/cpu`));
      resources.cpu.period = CPU_PERIOD_US;
    }
    if (cpuShares !== undefined) resources.cpu.shares = cpuShares;
  }

  const linux: OciLinux = { namespaces: namespaceEntries(input.namespaces), resources };
  if (input.cgroupsPath !== undefined) linux.cgroupsPath = input.cgroupsPath;
  if (sysctl !== undefined && Object.keys(sysctl).length > 0) linux.sysctl = sysctl;
  if (seccomp !== undefined) linux.seccomp = seccomp;
  if (insecure.paths !== true) {
    linux.maskedPaths = [...MASKED_PATHS];
    linux.readonlyPaths = [...READONLY_PATHS];
  }

  const hostNetwork = input.namespaces.network === 'host';
  const config: OciConfig = {
    ociVersion: OCI_VERSION,
    process,
    root: { path: input.rootfs, readonly: input.readOnlyRootfs === true },
    mounts: [...systemMounts(hostNetwork), ...(input.mounts ?? []).map((m) => volumeMount(m, where))],
    linux,
  };
  if (input.hostname !== undefined && input.namespaces.uts !== 'host') config.hostname = input.hostname;
  if (input.annotations !== undefined) config.annotations = { ...input.annotations };
  return { config, warnings };
}
