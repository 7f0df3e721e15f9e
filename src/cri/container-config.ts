/**
 * What a CRI container's settings change in the OCI config the oci engine wrote for its app
 * (`apps/APP/config.json`): the PID and IPC namespaces its sandbox's and its own namespace options
 * ask for, the masked and read-only paths of its security context, and the propagation of its host
 * path mounts. Pure functions over the config, and a reader of mountinfo (unit-tested in
 * test/unit/cri/container-config.test.ts).
 */
import { RocketError } from '../errors.js';
import type { OciConfig, OciMount, OciNamespace } from '../stage1/oci/spec.js';

export type NamespaceMode = 'POD' | 'CONTAINER' | 'NODE' | 'TARGET';
export type Propagation =
  'PROPAGATION_PRIVATE' | 'PROPAGATION_HOST_TO_CONTAINER' | 'PROPAGATION_BIDIRECTIONAL';

/** The file of a sandbox's pod-wide PID namespace, in its pod dir (pid `POD`). */
export const POD_PID_NS_FILE = 'ns-pid';

/**
 * A sandbox's PID and IPC modes from its namespace options. A NamespaceOption message whose pid
 * is not on the wire is `POD` (the enum's zero); no message at all keeps the runtime's default of a
 * PID namespace per container. IPC: `NODE` is the host's, anything else the pod's.
 */
export function sandboxNamespaceModes(
  options: { pid?: NamespaceMode; ipc?: NamespaceMode } | null | undefined,
): { pid: 'POD' | 'CONTAINER' | 'NODE'; ipc: 'POD' | 'NODE' } {
  const pid = options?.pid ?? 'CONTAINER';
  return {
    pid: pid === 'NODE' ? 'NODE' : pid === 'POD' ? 'POD' : 'CONTAINER',
    ipc: options?.ipc === 'NODE' ? 'NODE' : 'POD',
  };
}

/**
 * A container's PID mode: its own namespace options' when it has them (as the kubelet sends),
 * else its sandbox's; `TARGET` (another container's, `target_id`) only from its own. Throws a
 * one-line message for what cannot be honoured.
 */
export function containerPidMode(
  own: { pid?: NamespaceMode; target_id?: string } | null | undefined,
  sandbox: 'POD' | 'CONTAINER' | 'NODE',
): 'POD' | 'CONTAINER' | 'NODE' | 'TARGET' {
  const mode = own === null || own === undefined ? sandbox : (own.pid ?? 'POD');
  if (mode === 'TARGET' && (own?.target_id ?? '') === '')
    throw new Error('namespace_options.pid TARGET: no target_id');
  if (mode === 'POD' && sandbox !== 'POD')
    throw new Error(
      `namespace_options.pid POD: the pod sandbox has no pod-wide PID namespace (its pid is ${sandbox})`,
    );
  return mode;
}

export interface ContainerOciOptions {
  /**
   * `CONTAINER`: a PID namespace of its own; `POD`: the sandbox's (`podPidNs`); `NODE`: the host's;
   * `TARGET`: another container's (`targetPidNs`).
   */
  pid: 'POD' | 'CONTAINER' | 'NODE' | 'TARGET';
  /** The sandbox's pod-wide PID namespace file (with pid `POD`). */
  podPidNs?: string;
  /** The target container's PID namespace (`/proc/PID/ns/pid`, with pid `TARGET`). */
  targetPidNs?: string;
  /** `NODE`: the host's IPC namespace and /dev/shm. */
  ipc: 'POD' | 'NODE';
  /** Replace the runtime's defaults when non-empty (an empty list is the default, as on the wire). */
  maskedPaths?: string[];
  readonlyPaths?: string[];
  /** Privileged: no masked or read-only paths at all. */
  privileged?: boolean;
  /** Host path mounts (the real host path and the container path) with a propagation. */
  mounts?: { source: string; destination: string; propagation: Propagation }[];
}

function withNamespace(namespaces: OciNamespace[], type: OciNamespace['type'], entry?: OciNamespace) {
  const rest = namespaces.filter((n) => n.type !== type);
  return entry === undefined ? rest : [entry, ...rest];
}

/** The OCI config with the container's options applied (a new object; the input is unchanged). */
export function applyContainerOptions(config: OciConfig, o: ContainerOciOptions): OciConfig {
  let namespaces = config.linux.namespaces;
  if (o.pid === 'NODE') namespaces = withNamespace(namespaces, 'pid');
  else if (o.pid === 'POD') {
    if (o.podPidNs === undefined) throw new Error('a pod PID namespace needs its file');
    namespaces = withNamespace(namespaces, 'pid', { type: 'pid', path: o.podPidNs });
  } else if (o.pid === 'TARGET') {
    if (o.targetPidNs === undefined) throw new Error("a target's PID namespace needs its file");
    namespaces = withNamespace(namespaces, 'pid', { type: 'pid', path: o.targetPidNs });
  }
  let mounts: OciMount[] = config.mounts;
  if (o.ipc === 'NODE') {
    // The pod's IPC sysctls would be the host's: refused, as runc refuses them.
    for (const key of Object.keys(config.linux.sysctl ?? {}))
      if (/^(kernel\.(msg|shm|sem)|fs\.mqueue\.)/.test(key))
        throw new RocketError(`sysctl ${key} needs the pod's own IPC namespace (its ipc is NODE)`);
    namespaces = withNamespace(namespaces, 'ipc');
    // The host's POSIX shared memory too, as the host's SysV segments.
    mounts = mounts.map((m) =>
      m.destination === '/dev/shm'
        ? { destination: '/dev/shm', type: 'bind', source: '/dev/shm', options: ['rbind', 'nosuid', 'nodev'] }
        : m,
    );
  }
  const linux = { ...config.linux, namespaces };
  if (o.privileged === true) {
    delete linux.maskedPaths;
    delete linux.readonlyPaths;
  } else {
    if ((o.maskedPaths ?? []).length > 0) linux.maskedPaths = [...(o.maskedPaths ?? [])];
    if ((o.readonlyPaths ?? []).length > 0) linux.readonlyPaths = [...(o.readonlyPaths ?? [])];
  }
  let rootfsPropagation: string | undefined;
  for (const pm of o.mounts ?? []) {
    if (pm.propagation === 'PROPAGATION_PRIVATE') continue;
    const flag = pm.propagation === 'PROPAGATION_BIDIRECTIONAL' ? 'rshared' : 'rslave';
    // The container's root must be at least as open as its mounts: shared for a shared mount.
    if (flag === 'rshared' || rootfsPropagation === undefined) rootfsPropagation = flag;
    mounts = mounts.map((m) =>
      m.type === 'bind' && m.destination === pm.destination && m.source === pm.source
        ? {
            ...m,
            options: [
              ...(m.options ?? []).map((x) => (x === 'bind' ? 'rbind' : x)).filter((x) => !isPropagation(x)),
              flag,
            ],
          }
        : m,
    );
  }
  const out: OciConfig = { ...config, mounts, linux };
  if (rootfsPropagation !== undefined) out.linux = { ...linux, rootfsPropagation };
  return out;
}

function isPropagation(option: string): boolean {
  return /^r?(shared|slave|private|unbindable)$/.test(option);
}

/**
 * The propagation of the mount holding `file` (an absolute path resolved through symlinks), from
 * a mountinfo text: `shared` (a peer group), `slave` (a master only), or `private`. The mount is
 * the last one listed whose mount point is `file` or above it (later mounts hide earlier ones).
 */
export function mountPropagationOf(mountinfo: string, file: string): 'shared' | 'slave' | 'private' {
  let best: { point: string; fields: string[] } | undefined;
  for (const line of mountinfo.split('\n')) {
    const sep = line.indexOf(' - ');
    if (sep < 0) continue;
    const parts = line.slice(0, sep).split(' ');
    const point = unescapeMountinfo(parts[4] ?? '');
    if (!(file === point || point === '/' || file.startsWith(`${point}/`))) continue;
    if (best === undefined || point.length >= best.point.length) best = { point, fields: parts.slice(6) };
  }
  const fields = best?.fields ?? [];
  if (fields.some((f) => f.startsWith('shared:'))) return 'shared';
  if (fields.some((f) => f.startsWith('master:'))) return 'slave';
  return 'private';
}

function unescapeMountinfo(s: string): string {
  return s.replace(/\\([0-7]{3})/g, (_, o: string) => String.fromCharCode(parseInt(o, 8)));
}

/**
 * Why a host path cannot be mounted with a propagation (containerd's rule): bidirectional needs the
 * host's mount to be shared, host-to-container shared or a slave. Undefined when it can.
 */
export function propagationRefusal(
  propagation: Propagation,
  hostMount: 'shared' | 'slave' | 'private',
): string | undefined {
  if (propagation === 'PROPAGATION_BIDIRECTIONAL' && hostMount !== 'shared')
    return `is on a ${hostMount} mount: bidirectional propagation needs a shared one`;
  if (propagation === 'PROPAGATION_HOST_TO_CONTAINER' && hostMount === 'private')
    return 'is on a private mount: host-to-container propagation needs a shared or slave one';
  return undefined;
}
