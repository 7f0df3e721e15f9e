/**
 * Network configurations and which of them a pod joins. A `*.conf` file is one netconf (one plugin);
 * a `*.conflist` file is a CNI network configuration list: a `name`, a `cniVersion` and a `plugins`
 * array run as a chain (ADD in order, each plugin given the previous one's result as `prevResult`;
 * DEL in reverse), every plugin given the list's name and cniVersion. Layers, later ones overriding earlier ones by network name: the built-in `default` and
 * `default-restricted`, then `<system config>/net.d`, then `<local config>/net.d`. Within one
 * directory files are read in lexical order and the first definition of a name wins. The pod joins
 * its networks in the lexical order of their file names (rkt's order), as eth0, eth1, ...
 */
import { readFileSync, readdirSync, statSync } from 'node:fs';
import path from 'node:path';
import { RocketError, errorMessage } from '../errors.js';
import type { NetRequest } from './netlist.js';

export type JsonObject = Record<string, unknown>;

export interface NetConf {
  name: string;
  /** The plugin that implements it. */
  type: string;
  /** The file it came from, or `(built-in) 99-default.conf`. */
  source: string;
  /** The file's base name: the order in which the pod joins networks. */
  fileName: string;
  conf: JsonObject;
  /**
   * The plugins run for the network, in ADD order, each a complete netconf (for a `.conflist`, with
   * the list's `name` and `cniVersion`); a `.conf` has one, `conf` itself.
   */
  plugins: JsonObject[];
}

/** A network the pod joins, with its CNI_ARGS. */
export interface SelectedNet {
  conf: NetConf;
  args: string;
}

export const DEFAULT_NET = 'default';
export const DEFAULT_RESTRICTED_NET = 'default-restricted';

/** rkt's built-in networks (its stage1's `etc/rkt/net.d`). */
export const BUILTIN_NETS: readonly { fileName: string; conf: JsonObject }[] = [
  {
    fileName: '99-default.conf',
    conf: {
      cniVersion: '0.1.0',
      name: DEFAULT_NET,
      type: 'ptp',
      ipMasq: true,
      ipam: { type: 'host-local', subnet: '172.16.28.0/24', routes: [{ dst: '0.0.0.0/0' }] },
    },
  },
  {
    fileName: '99-default-restricted.conf',
    conf: {
      cniVersion: '0.1.0',
      name: DEFAULT_RESTRICTED_NET,
      type: 'ptp',
      ipMasq: false,
      ipam: { type: 'host-local', subnet: '172.31.0.0/16' },
    },
  },
];

const fail = (message: string): never => {
  throw new RocketError(message, 'invalid-argument');
};

/** Parses one netconf; errors name the file and the field. */
export function parseNetConf(text: string, source: string, fileName = path.basename(source)): NetConf {
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch (err) {
    return fail(`${source}: invalid JSON: ${errorMessage(err)}`);
  }
  if (typeof value !== 'object' || value === null || Array.isArray(value))
    return fail(`${source}: expected a JSON object`);
  const conf = value as JsonObject;
  for (const field of ['name', 'type'] as const) {
    const v = conf[field];
    if (typeof v !== 'string' || v === '') fail(`${source}: ${field}: must be a non-empty string`);
  }
  if (conf['cniVersion'] !== undefined && typeof conf['cniVersion'] !== 'string')
    fail(`${source}: cniVersion: must be a string`);
  if (conf['ipam'] !== undefined && (typeof conf['ipam'] !== 'object' || conf['ipam'] === null))
    fail(`${source}: ipam: must be an object`);
  if (conf['ipMasq'] !== undefined && typeof conf['ipMasq'] !== 'boolean')
    fail(`${source}: ipMasq: must be a boolean`);
  const name = conf['name'] as string;
  if (!/^[A-Za-z0-9][A-Za-z0-9_.-]*$/.test(name))
    fail(`${source}: name: ${JSON.stringify(name)} is not a valid network name (letters, digits, _ . -)`);
  return { name, type: conf['type'] as string, source, fileName, conf, plugins: [conf] };
}

/** Parses a network configuration list (`.conflist`); errors name the file and the field. */
export function parseNetConfList(text: string, source: string, fileName = path.basename(source)): NetConf {
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch (err) {
    return fail(`${source}: invalid JSON: ${errorMessage(err)}`);
  }
  if (typeof value !== 'object' || value === null || Array.isArray(value))
    return fail(`${source}: expected a JSON object`);
  const list = value as JsonObject;
  const name = list['name'];
  if (typeof name !== 'string' || name === '') return fail(`${source}: name: must be a non-empty string`);
  if (!/^[A-Za-z0-9][A-Za-z0-9_.-]*$/.test(name))
    fail(`${source}: name: ${JSON.stringify(name)} is not a valid network name (letters, digits, _ . -)`);
  const version = list['cniVersion'];
  if (version !== undefined && typeof version !== 'string') fail(`${source}: cniVersion: must be a string`);
  const raw = list['plugins'];
  if (!Array.isArray(raw) || raw.length === 0) return fail(`${source}: plugins: must be a non-empty array`);
  const plugins = raw.map((p: unknown, i): JsonObject => {
    const where = `${source}: plugins[${i}]`;
    if (typeof p !== 'object' || p === null || Array.isArray(p))
      return fail(`${where}: expected a JSON object`);
    const o = p as JsonObject;
    if (typeof o['type'] !== 'string' || o['type'] === '') fail(`${where}.type: must be a non-empty string`);
    if (o['ipam'] !== undefined && (typeof o['ipam'] !== 'object' || o['ipam'] === null))
      fail(`${where}.ipam: must be an object`);
    if (o['ipMasq'] !== undefined && typeof o['ipMasq'] !== 'boolean')
      fail(`${where}.ipMasq: must be a boolean`);
    if (
      o['capabilities'] !== undefined &&
      (typeof o['capabilities'] !== 'object' ||
        o['capabilities'] === null ||
        Array.isArray(o['capabilities']))
    )
      fail(`${where}.capabilities: must be an object`);
    return { ...o, name, ...(version !== undefined ? { cniVersion: version } : {}) };
  });
  const first = plugins[0] as JsonObject;
  return { name, type: first['type'] as string, source, fileName, conf: first, plugins };
}

/** `<dir>/net.d` of each config dir, lowest precedence first. */
export function netConfDirs(configDirs: { system: string; local: string }): string[] {
  return [path.join(configDirs.system, 'net.d'), path.join(configDirs.local, 'net.d')];
}

function confFilesIn(dir: string): string[] {
  let names: string[];
  try {
    names = readdirSync(dir);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return [];
    return fail(`cannot read ${dir}: ${errorMessage(err)}`);
  }
  return names
    .filter((n) => n.endsWith('.conf') || n.endsWith('.conflist'))
    .sort()
    .map((n) => path.join(dir, n))
    .filter((f) => {
      try {
        return statSync(f).isFile();
      } catch {
        return false;
      }
    });
}

/** Every network defined by the built-ins and `dirs`, by name. */
export function loadNetConfs(
  dirs: readonly string[],
  warn: (message: string) => void = () => undefined,
): Map<string, NetConf> {
  const nets = new Map<string, NetConf>();
  for (const b of BUILTIN_NETS) {
    const source = `(built-in) ${b.fileName}`;
    nets.set(b.conf['name'] as string, parseNetConf(JSON.stringify(b.conf), source, b.fileName));
  }
  for (const dir of dirs) {
    const layer = new Map<string, NetConf>();
    for (const file of confFilesIn(dir)) {
      let text: string;
      try {
        text = readFileSync(file, 'utf8');
      } catch (err) {
        return fail(`cannot read ${file}: ${errorMessage(err)}`);
      }
      const conf = file.endsWith('.conflist') ? parseNetConfList(text, file) : parseNetConf(text, file);
      const first = layer.get(conf.name);
      if (first !== undefined) {
        warn(`network ${JSON.stringify(conf.name)} already defined in ${first.source}, ignoring ${file}`);
        continue;
      }
      layer.set(conf.name, conf);
    }
    for (const [name, conf] of layer) {
      if (nets.has(name)) warn(`overriding network ${JSON.stringify(name)} with ${conf.source}`);
      nets.set(name, conf);
    }
  }
  return nets;
}

/**
 * The networks a pod joins, in file-name order: every one with `all`, else the named ones plus
 * `default-restricted` when `default` is not among them (so the pod can always reach the host),
 * unless `namedOnly` (the CRI service's sandboxes: one network, as kubelet expects).
 */
export function selectNets(
  request: { all: boolean; nets: readonly NetRequest[] },
  available: ReadonlyMap<string, NetConf>,
  namedOnly = false,
): SelectedNet[] {
  const args = new Map(request.nets.map((n) => [n.name, n.args]));
  const names = request.all ? [...available.keys()] : request.nets.map((n) => n.name);
  if (!request.all && !namedOnly && !names.includes(DEFAULT_NET) && !names.includes(DEFAULT_RESTRICTED_NET))
    names.push(DEFAULT_RESTRICTED_NET);
  const missing = names.filter((n) => !available.has(n));
  if (missing.length > 0) fail(`networks not found: ${missing.join(', ')}`);
  const picked = names.map((n) => ({ conf: available.get(n) as NetConf, args: args.get(n) ?? '' }));
  return picked.sort((a, b) =>
    a.conf.fileName < b.conf.fileName ? -1 : a.conf.fileName > b.conf.fileName ? 1 : 0,
  );
}

/** Whether a network masquerades its pods' traffic (ptp's and bridge's `ipMasq`, in any of its plugins). */
export function isMasquerading(conf: NetConf): boolean {
  return conf.plugins.some((p) => p['ipMasq'] === true);
}

/**
 * The netconf given to the plugin: host-local IPAM keeps its leases under the rkt data dir
 * (`ipamDir`), not the host's /var/lib/cni, unless the conf names its own `dataDir`.
 */
export function runtimeNetConf(conf: NetConf, ipamDir: string): JsonObject {
  return runtimePluginConf(conf.conf, ipamDir);
}

/** runtimeNetConf for one plugin's netconf (of a `.conf` or of a `.conflist`'s chain). */
export function runtimePluginConf(c: JsonObject, ipamDir: string): JsonObject {
  const ipam = c['ipam'];
  if (typeof ipam !== 'object' || ipam === null) return c;
  const i = ipam as JsonObject;
  if (i['type'] !== 'host-local' || i['dataDir'] !== undefined) return c;
  return { ...c, ipam: { ...i, dataDir: ipamDir } };
}

/** Whether a plugin's netconf declares the `portMappings` capability (it then gets them in `runtimeConfig`). */
export function wantsPortMappings(plugin: JsonObject): boolean {
  const caps = plugin['capabilities'];
  return typeof caps === 'object' && caps !== null && (caps as JsonObject)['portMappings'] === true;
}
