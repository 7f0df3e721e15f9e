/**
 * Running CNI plugins (the CNI spec's exec protocol): the netconf on stdin, the parameters in
 * CNI_* variables, a JSON result or a JSON error `{code, msg, details}` on stdout. Results of every
 * spec version are read: 0.1.0/0.2.0 (`ip4`, `ip6`) and 0.3.0 to 1.0.0 (`ips`, `interfaces`).
 * The process runner is an adapter, so unit tests drive this with fakes.
 */
import { spawnSync } from 'node:child_process';
import { statSync } from 'node:fs';
import path from 'node:path';
import { RocketError } from '../errors.js';

/** Where plugins are looked up (after `<local config>/net.d`, as rkt did): rkt's dir, then Debian's and CNI's usual ones. */
export const PLUGIN_DIRS: readonly string[] = ['/usr/lib/rkt/plugins/net', '/usr/lib/cni', '/opt/cni/bin'];

/** The plugin search path (CNI_PATH): `<local config>/net.d`, then PLUGIN_DIRS. */
export function pluginSearchPath(localConfig: string): string[] {
  return [path.join(localConfig, 'net.d'), ...PLUGIN_DIRS];
}

/** The first regular file named `type` in the search path (rkt's rule), or undefined. */
export function findPlugin(type: string, searchPath: readonly string[]): string | undefined {
  if (type.includes('/') || type === '.' || type === '..') return undefined;
  for (const dir of searchPath) {
    const file = path.join(dir, type);
    try {
      if (statSync(file).isFile()) return file;
    } catch {
      // not here
    }
  }
  return undefined;
}

export type CniCommand = 'ADD' | 'DEL' | 'CHECK';

export interface CniInvocation {
  command: CniCommand;
  plugin: string;
  /** The netconf, exactly as given on stdin. */
  conf: string;
  containerId: string;
  /** The pod's network namespace file; empty for a DEL after the namespace is gone. */
  netns: string;
  ifName: string;
  args: string;
  searchPath: readonly string[];
}

export interface ProcessOutput {
  /** Exit status; undefined when the process could not start or was killed. */
  status: number | undefined;
  stdout: string;
  stderr: string;
  /** Why it could not run or was stopped (spawn error, timeout). */
  error?: string;
}

export type ProcessRunner = (file: string, env: NodeJS.ProcessEnv, stdin: string) => ProcessOutput;

/** A plugin gets a minute: host-local waits on its lock, iptables on the xtables lock. */
const PLUGIN_TIMEOUT_MS = 60_000;

export const spawnRunner: ProcessRunner = (file, env, stdin) => {
  const r = spawnSync(file, [], { env, input: stdin, encoding: 'utf8', timeout: PLUGIN_TIMEOUT_MS });
  // A plugin that exits without reading its netconf (a DEL with nothing to do) is not an error.
  const unread =
    r.error !== undefined && (r.error as NodeJS.ErrnoException).code === 'EPIPE' && r.status !== null;
  const error =
    r.error !== undefined && !unread
      ? r.error.message
      : r.signal !== null
        ? `killed by ${r.signal}`
        : undefined;
  return {
    status: r.status ?? undefined,
    stdout: r.stdout ?? '',
    stderr: r.stderr ?? '',
    ...(error !== undefined ? { error } : {}),
  };
};

/** The environment of a plugin: ours, less any CNI_* of our own, plus the invocation's. */
export function pluginEnv(inv: CniInvocation, base: NodeJS.ProcessEnv = process.env): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = {};
  for (const [k, v] of Object.entries(base)) if (!k.startsWith('CNI_')) env[k] = v;
  env['PATH'] ??= '/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin';
  return {
    ...env,
    CNI_COMMAND: inv.command,
    CNI_CONTAINERID: inv.containerId,
    CNI_NETNS: inv.netns,
    CNI_IFNAME: inv.ifName,
    CNI_ARGS: inv.args,
    CNI_PATH: inv.searchPath.join(':'),
  };
}

/** A plugin's failure, with the CNI error's message and details when it printed one. */
export class CniError extends RocketError {
  constructor(
    message: string,
    readonly code?: number,
  ) {
    super(message, 'unavailable');
    this.name = 'CniError';
  }
}

/** The message of a failed plugin run: its CNI error (`msg; details`), else its output. */
export function failureMessage(out: ProcessOutput): { message: string; code?: number } {
  if (out.error !== undefined) return { message: out.error };
  try {
    const e = JSON.parse(out.stdout) as { code?: unknown; msg?: unknown; details?: unknown };
    if (typeof e.msg === 'string') {
      const details = typeof e.details === 'string' && e.details !== '' ? `; ${e.details}` : '';
      return { message: e.msg + details, ...(typeof e.code === 'number' ? { code: e.code } : {}) };
    }
  } catch {
    // not a CNI error object
  }
  const text = (out.stdout.trim() + '\n' + out.stderr.trim()).trim();
  return { message: text !== '' ? text : `exit status ${out.status ?? 'unknown'}` };
}

/** Runs a plugin; returns its stdout on success, throws CniError otherwise. */
export function invokePlugin(inv: CniInvocation, runner: ProcessRunner = spawnRunner): string {
  const out = runner(inv.plugin, pluginEnv(inv), inv.conf);
  if (out.status === 0 && out.error === undefined) return out.stdout;
  const f = failureMessage(out);
  throw new CniError(f.message, f.code);
}

export interface CniDns {
  nameservers: string[];
  domain?: string;
  search: string[];
  options: string[];
}

export interface CniIp {
  /** 4 or 6. */
  version: 4 | 6;
  address: string;
  prefixLength: number;
  gateway?: string;
}

/** What we use of a plugin's result, whatever its version. */
export interface CniResult {
  ips: CniIp[];
  dns?: CniDns;
  /** The result as the plugin printed it (a chained plugin's prevResult). */
  raw: Record<string, unknown>;
  cniVersion: string;
}

function parseCidr(value: unknown, where: string): { address: string; prefixLength: number } {
  if (typeof value !== 'string')
    throw new CniError(`invalid CNI result: ${where}: expected an address/prefix`);
  const m = /^([0-9a-fA-F.:]+)\/(\d{1,3})$/.exec(value);
  if (m === null)
    throw new CniError(`invalid CNI result: ${where}: ${JSON.stringify(value)} is not address/prefix`);
  return { address: m[1] as string, prefixLength: Number(m[2]) };
}

const strings = (v: unknown): string[] =>
  Array.isArray(v) ? v.filter((s): s is string => typeof s === 'string') : [];

function parseDns(v: unknown): CniDns | undefined {
  if (typeof v !== 'object' || v === null) return undefined;
  const o = v as Record<string, unknown>;
  const dns: CniDns = {
    nameservers: strings(o['nameservers']),
    search: strings(o['search']),
    options: strings(o['options']),
    ...(typeof o['domain'] === 'string' && o['domain'] !== '' ? { domain: o['domain'] } : {}),
  };
  const empty =
    dns.nameservers.length === 0 &&
    dns.search.length === 0 &&
    dns.options.length === 0 &&
    dns.domain === undefined;
  return empty ? undefined : dns;
}

/** Parses a plugin's success output. */
export function parseCniResult(stdout: string): CniResult {
  let value: unknown;
  try {
    value = JSON.parse(stdout);
  } catch {
    throw new CniError(`invalid CNI result (not JSON): ${JSON.stringify(stdout.slice(0, 200))}`);
  }
  if (typeof value !== 'object' || value === null || Array.isArray(value))
    throw new CniError('invalid CNI result: expected a JSON object');
  const o = value as Record<string, unknown>;
  const ips: CniIp[] = [];
  const gw = (v: unknown) => (typeof v === 'string' && v !== '' ? { gateway: v } : {});
  if (Array.isArray(o['ips'])) {
    for (const [i, entry] of (o['ips'] as unknown[]).entries()) {
      const e = (typeof entry === 'object' && entry !== null ? entry : {}) as Record<string, unknown>;
      const c = parseCidr(e['address'], `ips[${i}].address`);
      ips.push({ version: c.address.includes(':') ? 6 : 4, ...c, ...gw(e['gateway']) });
    }
  } else {
    for (const key of ['ip4', 'ip6'] as const) {
      const e = o[key];
      if (typeof e !== 'object' || e === null) continue;
      const r = e as Record<string, unknown>;
      ips.push({ version: key === 'ip4' ? 4 : 6, ...parseCidr(r['ip'], `${key}.ip`), ...gw(r['gateway']) });
    }
  }
  const dns = parseDns(o['dns']);
  return {
    ips,
    ...(dns !== undefined ? { dns } : {}),
    raw: o,
    cniVersion: typeof o['cniVersion'] === 'string' ? o['cniVersion'] : '',
  };
}

/** Whether a spec version has plugin chaining (prevResult), i.e. is 0.3.0 or later. */
export function supportsChaining(version: string): boolean {
  const [major, minor] = version.split('.').map(Number);
  return (major ?? 0) > 0 || (minor ?? 0) >= 3;
}

/**
 * A result in the 0.4.0 format (for a chained plugin after a 0.1.0/0.2.0 plugin, which cannot be
 * handed on as is).
 */
export function resultAsV040(r: CniResult): Record<string, unknown> {
  return {
    cniVersion: '0.4.0',
    ips: r.ips.map((ip) => ({
      version: String(ip.version),
      address: `${ip.address}/${ip.prefixLength}`,
      ...(ip.gateway !== undefined ? { gateway: ip.gateway } : {}),
    })),
    ...(r.dns !== undefined ? { dns: r.dns } : {}),
  };
}

/** An IPv4 prefix length as a dotted mask (rkt's net-info `mask`). */
export function ipv4Mask(prefixLength: number): string {
  const bits =
    prefixLength <= 0 ? 0 : prefixLength >= 32 ? 0xffffffff : (0xffffffff << (32 - prefixLength)) >>> 0;
  return [24, 16, 8, 0].map((s) => (bits >>> s) & 0xff).join('.');
}
