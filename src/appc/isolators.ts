/**
 * Isolators (spec/ace.md "Isolators", plus `os/linux/oom-score-adj` and `os/linux/cpu-shares` which
 * exist only in the reference code, and the post-0.8.11 `os/linux/apparmor-profile`).
 *
 * An isolator is kept as `{name, value}` with the value exactly as parsed, so it round-trips; the
 * functions here decode and check the value of the names we know. Unknown names are not errors: the
 * spec lets an executor ignore them as long as it reports them, so parsing keeps them and adds a
 * warning (the reference actool rejects them inside an app).
 */
import { AppcError } from './errors.js';
import { parseQuantity, type Quantity } from './quantity.js';
import { Reader, at, field, index, optional, required, type JsonObject } from './reader.js';
import type { Isolator, JsonValue } from './types.js';

export const RESOURCE_CPU = 'resource/cpu';
export const RESOURCE_MEMORY = 'resource/memory';
export const RESOURCE_BLOCK_BANDWIDTH = 'resource/block-bandwidth';
export const RESOURCE_BLOCK_IOPS = 'resource/block-iops';
export const RESOURCE_NETWORK_BANDWIDTH = 'resource/network-bandwidth';
export const LINUX_CAPABILITIES_RETAIN_SET = 'os/linux/capabilities-retain-set';
export const LINUX_CAPABILITIES_REMOVE_SET = 'os/linux/capabilities-remove-set';
export const LINUX_NO_NEW_PRIVILEGES = 'os/linux/no-new-privileges';
export const LINUX_SECCOMP_REMOVE_SET = 'os/linux/seccomp-remove-set';
export const LINUX_SECCOMP_RETAIN_SET = 'os/linux/seccomp-retain-set';
export const LINUX_SELINUX_CONTEXT = 'os/linux/selinux-context';
export const LINUX_APPARMOR_PROFILE = 'os/linux/apparmor-profile';
export const LINUX_OOM_SCORE_ADJ = 'os/linux/oom-score-adj';
export const LINUX_CPU_SHARES = 'os/linux/cpu-shares';
export const UNIX_SYSCTL = 'os/unix/sysctl';

export type ResourceIsolatorName =
  | typeof RESOURCE_CPU
  | typeof RESOURCE_MEMORY
  | typeof RESOURCE_BLOCK_BANDWIDTH
  | typeof RESOURCE_BLOCK_IOPS
  | typeof RESOURCE_NETWORK_BANDWIDTH;

/** The decoded value of a known isolator. */
export type IsolatorValue =
  | { kind: 'resource'; name: ResourceIsolatorName; default: boolean; request?: Quantity; limit?: Quantity }
  | {
      kind: 'capabilities';
      name: typeof LINUX_CAPABILITIES_RETAIN_SET | typeof LINUX_CAPABILITIES_REMOVE_SET;
      set: string[];
    }
  | { kind: 'no-new-privileges'; name: typeof LINUX_NO_NEW_PRIVILEGES; enabled: boolean }
  | {
      kind: 'seccomp';
      name: typeof LINUX_SECCOMP_REMOVE_SET | typeof LINUX_SECCOMP_RETAIN_SET;
      set: string[];
      errno?: string;
    }
  | {
      kind: 'selinux';
      name: typeof LINUX_SELINUX_CONTEXT;
      user: string;
      role: string;
      type: string;
      level: string;
    }
  | { kind: 'apparmor'; name: typeof LINUX_APPARMOR_PROFILE; profile: string }
  | { kind: 'oom-score-adj'; name: typeof LINUX_OOM_SCORE_ADJ; value: number }
  | { kind: 'cpu-shares'; name: typeof LINUX_CPU_SHARES; value: number }
  | { kind: 'sysctl'; name: typeof UNIX_SYSCTL; values: Record<string, string> };

type Scope = 'app' | 'pod' | 'both';

interface IsolatorRule {
  scope: Scope;
  /** Whether one app (or pod) may carry several isolators of this name. */
  multiple: boolean;
  conflicts: readonly string[];
  decode: (r: Reader, v: JsonValue, path: string) => IsolatorValue;
}

const RESOURCE_DEFAULT_REQUIRED = new Set<string>([
  RESOURCE_BLOCK_BANDWIDTH,
  RESOURCE_BLOCK_IOPS,
  RESOURCE_NETWORK_BANDWIDTH,
]);

function decodeQuantity(r: Reader, v: JsonValue, path: string): Quantity {
  // The reference accepts a quantity as a JSON string or a JSON number (`"limit": 1024`).
  if (typeof v !== 'string' && typeof v !== 'number')
    r.fail(path, `must be a quantity string, got ${JSON.stringify(v)}`);
  try {
    return parseQuantity(String(v));
  } catch (err) {
    return r.fail(path, (err as Error).message);
  }
}

function decodeResource(name: ResourceIsolatorName) {
  return (r: Reader, v: JsonValue, path: string): IsolatorValue => {
    const o = r.object(v, path);
    const isDefault = optional(o, 'default', path, (x, p) => r.boolean(x, p)) ?? false;
    const request = optional(o, 'request', path, (x, p) => decodeQuantity(r, x, p));
    const limit = optional(o, 'limit', path, (x, p) => decodeQuantity(r, x, p));
    if (RESOURCE_DEFAULT_REQUIRED.has(name)) {
      if (!isDefault) r.fail(at(path, 'default'), `must be true for ${name}`);
      if (request !== undefined) r.fail(at(path, 'request'), `is not supported by ${name}, must be absent`);
    } else if (isDefault) {
      r.fail(at(path, 'default'), `must be false for ${name}`);
    }
    for (const [key, q] of [
      ['request', request],
      ['limit', limit],
    ] as const) {
      if (q !== undefined && q.nano < 0n)
        r.fail(at(path, key), `quantity ${q.format()} must not be negative`);
    }
    const out: IsolatorValue = { kind: 'resource', name, default: isDefault };
    if (request !== undefined) out.request = request;
    if (limit !== undefined) out.limit = limit;
    return out;
  };
}

/** A non-empty list of non-empty strings under `set`. */
function decodeSet(r: Reader, o: JsonObject, path: string): string[] {
  const set = required(r, o, 'set', path, (x, p) => r.list(x, p, (e, ep) => r.string(e, ep)));
  if (set.length === 0) r.fail(at(path, 'set'), 'must not be empty');
  set.forEach((s, i) => {
    if (s === '') r.fail(index(at(path, 'set'), i), 'must not be empty');
  });
  return set;
}

function decodeCapabilities(
  name: typeof LINUX_CAPABILITIES_RETAIN_SET | typeof LINUX_CAPABILITIES_REMOVE_SET,
) {
  return (r: Reader, v: JsonValue, path: string): IsolatorValue => ({
    kind: 'capabilities',
    name,
    set: decodeSet(r, r.object(v, path), path),
  });
}

function decodeSeccomp(name: typeof LINUX_SECCOMP_REMOVE_SET | typeof LINUX_SECCOMP_RETAIN_SET) {
  return (r: Reader, v: JsonValue, path: string): IsolatorValue => {
    const o = r.object(v, path);
    const set = decodeSet(r, o, path);
    const errno = optional(o, 'errno', path, (x, p) => r.string(x, p));
    // An empty errno means "kill with SIGSYS", the same as no errno.
    if (errno !== undefined && errno !== '' && !/^E[A-Z0-9]*$/.test(errno)) {
      r.fail(
        at(path, 'errno'),
        `must be an upper-case errno name starting with "E", got ${JSON.stringify(errno)}`,
      );
    }
    const out: IsolatorValue = { kind: 'seccomp', name, set };
    if (errno !== undefined && errno !== '') out.errno = errno;
    return out;
  };
}

function decodeSelinux(r: Reader, v: JsonValue, path: string): IsolatorValue {
  const o = r.object(v, path);
  const part = (key: string, colonAllowed: boolean): string => {
    const s = required(r, o, key, path, (x, p) => r.string(x, p));
    if (s === '') r.fail(at(path, key), 'must not be empty');
    if (!colonAllowed && s.includes(':'))
      r.fail(at(path, key), `must not contain ":", got ${JSON.stringify(s)}`);
    return s;
  };
  // The level (MLS/MCS range such as `s0:c1,c2`) is the only part that may contain colons.
  return {
    kind: 'selinux',
    name: LINUX_SELINUX_CONTEXT,
    user: part('user', false),
    role: part('role', false),
    type: part('type', false),
    level: part('level', true),
  };
}

function decodeApparmor(r: Reader, v: JsonValue, path: string): IsolatorValue {
  const profile = required(r, r.object(v, path), 'profile', path, (x, p) => r.string(x, p));
  if (profile === '') r.fail(at(path, 'profile'), 'must not be empty');
  return { kind: 'apparmor', name: LINUX_APPARMOR_PROFILE, profile };
}

const RULES: Readonly<Record<string, IsolatorRule>> = {
  [RESOURCE_CPU]: { scope: 'both', multiple: true, conflicts: [], decode: decodeResource(RESOURCE_CPU) },
  [RESOURCE_MEMORY]: {
    scope: 'both',
    multiple: true,
    conflicts: [],
    decode: decodeResource(RESOURCE_MEMORY),
  },
  [RESOURCE_BLOCK_BANDWIDTH]: {
    scope: 'both',
    multiple: true,
    conflicts: [],
    decode: decodeResource(RESOURCE_BLOCK_BANDWIDTH),
  },
  [RESOURCE_BLOCK_IOPS]: {
    scope: 'both',
    multiple: true,
    conflicts: [],
    decode: decodeResource(RESOURCE_BLOCK_IOPS),
  },
  [RESOURCE_NETWORK_BANDWIDTH]: {
    scope: 'both',
    multiple: true,
    conflicts: [],
    decode: decodeResource(RESOURCE_NETWORK_BANDWIDTH),
  },
  // spec/ace.md: "The retain set cannot be used in conjunction with the remove set" (the reference
  // does not check this).
  [LINUX_CAPABILITIES_RETAIN_SET]: {
    scope: 'app',
    multiple: true,
    conflicts: [LINUX_CAPABILITIES_REMOVE_SET],
    decode: decodeCapabilities(LINUX_CAPABILITIES_RETAIN_SET),
  },
  [LINUX_CAPABILITIES_REMOVE_SET]: {
    scope: 'app',
    multiple: true,
    conflicts: [LINUX_CAPABILITIES_RETAIN_SET],
    decode: decodeCapabilities(LINUX_CAPABILITIES_REMOVE_SET),
  },
  [LINUX_NO_NEW_PRIVILEGES]: {
    scope: 'app',
    multiple: true,
    conflicts: [],
    decode: (r, v, p) => ({
      kind: 'no-new-privileges',
      name: LINUX_NO_NEW_PRIVILEGES,
      enabled: r.boolean(v, p),
    }),
  },
  [LINUX_SECCOMP_REMOVE_SET]: {
    scope: 'app',
    multiple: false,
    conflicts: [LINUX_SECCOMP_RETAIN_SET],
    decode: decodeSeccomp(LINUX_SECCOMP_REMOVE_SET),
  },
  [LINUX_SECCOMP_RETAIN_SET]: {
    scope: 'app',
    multiple: false,
    conflicts: [LINUX_SECCOMP_REMOVE_SET],
    decode: decodeSeccomp(LINUX_SECCOMP_RETAIN_SET),
  },
  [LINUX_SELINUX_CONTEXT]: { scope: 'both', multiple: false, conflicts: [], decode: decodeSelinux },
  [LINUX_APPARMOR_PROFILE]: { scope: 'both', multiple: false, conflicts: [], decode: decodeApparmor },
  [LINUX_OOM_SCORE_ADJ]: {
    scope: 'app',
    multiple: false,
    conflicts: [],
    decode: (r, v, p) => ({
      kind: 'oom-score-adj',
      name: LINUX_OOM_SCORE_ADJ,
      value: r.integer(v, p, -1000, 1000),
    }),
  },
  [LINUX_CPU_SHARES]: {
    scope: 'app',
    multiple: false,
    conflicts: [],
    decode: (r, v, p) => ({ kind: 'cpu-shares', name: LINUX_CPU_SHARES, value: r.integer(v, p, 2, 262144) }),
  },
  [UNIX_SYSCTL]: {
    scope: 'pod',
    multiple: false,
    conflicts: [],
    decode: (r, v, p) => ({ kind: 'sysctl', name: UNIX_SYSCTL, values: r.stringMap(v, p) }),
  },
};

/** Every isolator name this implementation understands. */
export const KNOWN_ISOLATOR_NAMES: readonly string[] = Object.keys(RULES);

export function isKnownIsolator(name: string): boolean {
  return Object.hasOwn(RULES, name);
}

/** Decodes and checks one isolator value read at `path`; undefined for an unknown name. */
export function decodeIsolatorAt(r: Reader, iso: Isolator, path: string): IsolatorValue | undefined {
  const rule = RULES[iso.name];
  if (rule === undefined || !Object.hasOwn(RULES, iso.name)) return undefined;
  return rule.decode(r, iso.value, at(path, 'value'));
}

/**
 * Decodes a known isolator's value (throws AppcError naming `value.<field>`), or returns undefined
 * for a name we don't know.
 */
export function decodeIsolator(iso: Isolator): IsolatorValue | undefined {
  return decodeIsolatorAt(new Reader(), iso, '');
}

/**
 * Checks a list of isolators of one app or one pod: each known value, how many of a name may
 * appear and which names exclude each other. Unknown names and names used outside their scope
 * become warnings. The reference skips the count and conflict checks at pod level; the spec's
 * "one per pod" rules (selinux, apparmor, sysctl) make us apply them there too.
 */
export function checkIsolators(
  r: Reader,
  isolators: Isolator[] | undefined,
  path: string,
  scope: 'app' | 'pod',
): void {
  const seen = new Set<string>();
  isolators?.forEach((iso, i) => {
    const p = index(path, i);
    const rule = Object.hasOwn(RULES, iso.name) ? RULES[iso.name] : undefined;
    if (rule === undefined) {
      r.warn(p, `unknown isolator ${JSON.stringify(iso.name)} kept but not understood`);
      return;
    }
    rule.decode(r, iso.value, at(p, 'value'));
    if (rule.scope !== 'both' && rule.scope !== scope) {
      r.warn(
        p,
        `isolator ${iso.name} applies to ${rule.scope === 'app' ? 'apps' : 'pods'}, not ${scope === 'app' ? 'apps' : 'pods'}`,
      );
    }
    if (seen.has(iso.name) && !rule.multiple)
      r.fail(p, `only one ${iso.name} isolator is allowed per ${scope}`);
    const conflict = rule.conflicts.find((c) => seen.has(c));
    if (conflict !== undefined) r.fail(p, `${iso.name} cannot be used together with ${conflict}`);
    seen.add(iso.name);
  });
}

/** Reads one `{name, value}` isolator object. */
export function readIsolator(
  r: Reader,
  v: JsonValue,
  path: string,
  readName: (v: JsonValue, p: string) => string,
): Isolator {
  const o = r.object(v, path);
  const name = required(r, o, 'name', path, readName);
  // `value` is required for every isolator (the reference crashes on a known one without it).
  const value = field(o, 'value');
  if (value === undefined) r.fail(at(path, 'value'), 'is required');
  return { name, value };
}

/** Builds an isolator and checks it, throwing AppcError (`<name>.value...: reason`) when invalid. */
export function makeIsolator(name: string, value: JsonValue): Isolator {
  const iso = { name, value };
  decodeIsolatorAt(new Reader(), iso, name);
  return iso;
}

type QuantityInput = string | Quantity;

function quantityString(q: QuantityInput): string {
  return typeof q === 'string' ? parseQuantity(q).format() : q.format();
}

/**
 * A resource isolator; `default` is set as each resource requires (true for bandwidth/iops, false
 * for cpu/memory). Quantities are written in canonical form, as the reference writes them.
 */
export function resourceIsolator(
  name: ResourceIsolatorName,
  limits: { request?: QuantityInput; limit?: QuantityInput },
): Isolator {
  const value: JsonObject = { default: RESOURCE_DEFAULT_REQUIRED.has(name) };
  try {
    if (limits.request !== undefined) value['request'] = quantityString(limits.request);
    if (limits.limit !== undefined) value['limit'] = quantityString(limits.limit);
  } catch (err) {
    throw new AppcError(`${name}: ${(err as Error).message}`);
  }
  return makeIsolator(name, value);
}

export function capabilitiesRetainSet(caps: string[]): Isolator {
  return makeIsolator(LINUX_CAPABILITIES_RETAIN_SET, { set: [...caps] });
}

export function capabilitiesRemoveSet(caps: string[]): Isolator {
  return makeIsolator(LINUX_CAPABILITIES_REMOVE_SET, { set: [...caps] });
}

export function noNewPrivileges(enabled: boolean): Isolator {
  return makeIsolator(LINUX_NO_NEW_PRIVILEGES, enabled);
}

export function seccompRemoveSet(syscalls: string[], errno?: string): Isolator {
  return makeIsolator(
    LINUX_SECCOMP_REMOVE_SET,
    errno === undefined ? { set: [...syscalls] } : { set: [...syscalls], errno },
  );
}

export function seccompRetainSet(syscalls: string[], errno?: string): Isolator {
  return makeIsolator(
    LINUX_SECCOMP_RETAIN_SET,
    errno === undefined ? { set: [...syscalls] } : { set: [...syscalls], errno },
  );
}

export function selinuxContext(ctx: { user: string; role: string; type: string; level: string }): Isolator {
  return makeIsolator(LINUX_SELINUX_CONTEXT, {
    user: ctx.user,
    role: ctx.role,
    type: ctx.type,
    level: ctx.level,
  });
}

export function apparmorProfile(profile: string): Isolator {
  return makeIsolator(LINUX_APPARMOR_PROFILE, { profile });
}

export function oomScoreAdj(value: number): Isolator {
  return makeIsolator(LINUX_OOM_SCORE_ADJ, value);
}

export function cpuShares(value: number): Isolator {
  return makeIsolator(LINUX_CPU_SHARES, value);
}

export function sysctl(values: Record<string, string>): Isolator {
  return makeIsolator(UNIX_SYSCTL, { ...values });
}
