/**
 * The pure part of the CRI RuntimeService: how CRI ids name pods and apps, how a container's
 * command is resolved against its image, how list filters match, and the capability sets a CRI
 * security context stands for. No I/O here (unit-tested in test/unit/cri/mapping.test.ts).
 */
import { createHash } from 'node:crypto';
import type { ExposedPort } from '../appc/index.js';
import { ALL_CAPABILITIES, DEFAULT_CAPABILITIES } from '../appc/values.js';

/** A sandbox id is its pod's UUID without the dashes: 32 lowercase hex digits. */
export function sandboxIdOf(uuid: string): string {
  return uuid.replace(/-/g, '');
}

/** The pod UUID a sandbox id stands for, or undefined when it is not one. */
export function uuidOfSandboxId(id: string): string | undefined {
  if (!/^[0-9a-f]{32}$/.test(id)) return undefined;
  return `${id.slice(0, 8)}-${id.slice(8, 12)}-${id.slice(12, 16)}-${id.slice(16, 20)}-${id.slice(20)}`;
}

/** A container id: its sandbox's id, `-`, and the app's name in the pod. */
export function containerIdOf(sandboxId: string, app: string): string {
  return `${sandboxId}-${app}`;
}

/** The sandbox id and app name of a container id, or undefined when it is not one. */
export function parseContainerId(id: string): { sandboxId: string; app: string } | undefined {
  const m = /^([0-9a-f]{32})-([a-z0-9]+(?:-[a-z0-9]+)*)$/.exec(id);
  return m === null ? undefined : { sandboxId: m[1] as string, app: m[2] as string };
}

/** Container names up to this long that are app names already are kept as they are. */
const KEPT_NAME_LENGTH = 16;

/**
 * The app name of a container: `NAME-ATTEMPT` when the name is an app name (an ACName: lowercase
 * letters and digits, dashes between) of at most 16 characters; otherwise the name made one
 * (lowercased, other characters as dashes, cut to 8) with 6 hex digits of its SHA-256, so that
 * names told apart by case or by their end stay apart. Short names keep the attach endpoints'
 * socket paths (`DATA/pods/run/UUID/stage1/attach/APP/stdin.sock`) within 108 bytes. Undefined
 * for a name with no letter or digit.
 */
export function appNameOf(
  metadata: { name?: string; attempt?: number } | null | undefined,
): string | undefined {
  const name = metadata?.name ?? '';
  const attempt = metadata?.attempt ?? 0;
  if (/^[a-z0-9]+(?:-[a-z0-9]+)*$/.test(name) && name.length <= KEPT_NAME_LENGTH) return `${name}-${attempt}`;
  const clean = name
    .toLowerCase()
    .replace(/[^a-z0-9]+/g, '-')
    .replace(/^-+|-+$/g, '');
  if (clean === '') return undefined;
  const hash = createHash('sha256').update(name).digest('hex').slice(0, 6);
  return `${clean.slice(0, 8).replace(/-+$/, '')}-${hash}-${attempt}`;
}

/** An image's entrypoint and cmd, as docker2aci keeps them in the ACI's annotations. */
export interface ImageCommand {
  entrypoint?: string[];
  cmd?: string[];
  /** The ACI's exec (entrypoint and cmd together for a converted image, or an ACI's own). */
  exec?: string[];
}

function stringList(json: string | undefined): string[] | undefined {
  if (json === undefined) return undefined;
  try {
    const v: unknown = JSON.parse(json);
    return Array.isArray(v) && v.every((s) => typeof s === 'string') ? v : undefined;
  } catch {
    return undefined;
  }
}

/** The image's command from its ACI manifest (annotations `appc.io/docker/{entrypoint,cmd}`). */
export function imageCommand(
  annotations: readonly { name: string; value: string }[] | undefined,
  exec: readonly string[] | undefined,
): ImageCommand {
  const get = (n: string): string[] | undefined =>
    stringList(annotations?.find((a) => a.name === `appc.io/docker/${n}`)?.value);
  const entrypoint = get('entrypoint');
  const cmd = get('cmd');
  return {
    ...(entrypoint !== undefined ? { entrypoint } : {}),
    ...(cmd !== undefined ? { cmd } : {}),
    ...(exec !== undefined ? { exec: [...exec] } : {}),
  };
}

/**
 * The command a container runs, as Kubernetes defines it: `command` replaces the image's
 * entrypoint, `args` its cmd; `command` without `args` drops the cmd too. An ACI with no docker
 * annotations counts its whole exec as the entrypoint. Empty when there is nothing to run.
 */
export function resolveCommand(
  command: readonly string[],
  args: readonly string[],
  image: ImageCommand,
): string[] {
  const docker = image.entrypoint !== undefined || image.cmd !== undefined;
  const entrypoint = docker ? (image.entrypoint ?? []) : (image.exec ?? []);
  const cmd = docker ? (image.cmd ?? []) : [];
  if (command.length > 0) return [...command, ...args];
  if (args.length > 0) return [...entrypoint, ...args];
  return [...entrypoint, ...cmd];
}

/** Whether `labels` has every key of `selector` with its value (CRI label selectors). */
export function matchesLabels(
  labels: Readonly<Record<string, string>>,
  selector: Readonly<Record<string, string>> | null | undefined,
): boolean {
  return Object.entries(selector ?? {}).every(([k, v]) => labels[k] === v);
}

/** A CRI id filter: empty matches everything; otherwise the id itself or a prefix of it. */
export function matchesId(id: string, filter: string | null | undefined): boolean {
  return filter === undefined || filter === null || filter === '' || id.startsWith(filter);
}

function capName(c: string): string {
  const u = c.toUpperCase();
  return u.startsWith('CAP_') ? u : `CAP_${u}`;
}

/**
 * The capabilities a container keeps: the default set (Docker's, which containerd and we share),
 * plus `add`, minus `drop`; `ALL` in `drop` starts from nothing, `ALL` in `add` from every one of
 * `all`. Names with or without `CAP_`.
 */
export function capabilitySet(
  add: readonly string[],
  drop: readonly string[],
  all: readonly string[],
  defaults: readonly string[] = DEFAULT_CAPABILITIES,
): string[] {
  const isAll = (c: string): boolean => c.toUpperCase() === 'ALL';
  let set = drop.some(isAll) ? [] : [...defaults];
  if (add.some(isAll)) set = [...all];
  for (const c of add.filter((c) => !isAll(c)).map(capName)) if (!set.includes(c)) set.push(c);
  const dropped = new Set(drop.filter((c) => !isAll(c)).map(capName));
  // An added capability wins over a dropped one only with ALL dropped (add is then the whole set).
  return set.filter((c) => !dropped.has(c) || (drop.some(isAll) && add.map(capName).includes(c)));
}

/** Nanoseconds since the epoch of a time in milliseconds (CRI times are int64 nanoseconds). */
export function nanos(ms: number | undefined): string {
  return ms === undefined ? '0' : (BigInt(Math.round(ms * 1000)) * 1000n).toString();
}

/** The CRI's container exit reason. */
export function exitReason(code: number, oomKilled: boolean): string {
  if (oomKilled) return 'OOMKilled';
  return code === 0 ? 'Completed' : 'Error';
}

/** CPU limit in millicores from CFS quota and period (0 or less: no limit). */
export function cpuMillis(quota: number, period: number): number | undefined {
  if (quota <= 0) return undefined;
  const p = period > 0 ? period : 100_000;
  return Math.max(1, Math.ceil((quota * 1000) / p));
}

/** Every Linux capability, for `add: [ALL]`. */
export { ALL_CAPABILITIES };

/**
 * A capability set as the isolator that gives it: undefined for the default set, a remove set when
 * it is the defaults less some, else a retain set (an empty set removes every default).
 */
export function capabilityIsolatorSet(
  set: readonly string[],
  defaults: readonly string[] = DEFAULT_CAPABILITIES,
): { retain: string[] } | { remove: string[] } | undefined {
  if (set.length === 0) return { remove: [...defaults] };
  if (set.every((c) => defaults.includes(c))) {
    const removed = defaults.filter((c) => !set.includes(c));
    return removed.length === 0 ? undefined : { remove: removed };
  }
  return { retain: [...set] };
}

/**
 * An oom_score_adj a pod can be given: not below `own` (the service's), since lowering it needs
 * CAP_SYS_RESOURCE, which root lacks on some hosts (as containerd's restrict_oom_score_adj).
 */
export function clampOomScoreAdj(requested: number, own: number): number {
  return Math.max(Math.min(requested, 1000), own, -1000);
}

/** A CRI PortMapping (field names as in the .proto; the protocol enum as its name). */
export interface PortMappingMsg {
  protocol?: string;
  container_port?: number;
  host_port?: number;
  host_ip?: string;
}

/**
 * A sandbox's port mappings as the pod's exposed ports, each with its pod port (no app declares
 * them): `PROTOCOL-HOSTPORT-INDEX` names them. As kubelet's runtimes do, a mapping without a host
 * port maps nothing (the container port is reached at the pod's address).
 */
export function sandboxExposedPorts(mappings: readonly PortMappingMsg[]): ExposedPort[] {
  const out: ExposedPort[] = [];
  mappings.forEach((m, i) => {
    const hostPort = m.host_port ?? 0;
    const podPort = m.container_port ?? 0;
    if (hostPort <= 0) return;
    if (!(hostPort <= 65535 && podPort >= 1 && podPort <= 65535))
      throw new Error(`port_mappings[${i}]: ports must be from 1 to 65535`);
    const protocol = (m.protocol ?? 'TCP').toLowerCase();
    if (!['tcp', 'udp', 'sctp'].includes(protocol))
      throw new Error(`port_mappings[${i}].protocol ${JSON.stringify(m.protocol)}: not TCP, UDP or SCTP`);
    const name = `${protocol}-${hostPort}-${i}`;
    const hostIP = m.host_ip ?? '';
    out.push({
      name,
      hostPort,
      ...(hostIP !== '' ? { hostIP } : {}),
      podPort: { name, protocol, port: podPort, count: 1, socketActivated: false },
    });
  });
  return out;
}
