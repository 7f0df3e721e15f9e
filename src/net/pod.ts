/**
 * A pod's CNI networks, set up by stage0 and torn down by the exec plan and again by gc.
 *
 * Stage0 (Node) makes the pod's network namespace file (`ns-net`), runs CNI ADD for each network
 * (eth0, eth1, ... in join order; a `.conflist` network's plugins as a chain, each given the
 * previous result as `prevResult`; `portmap` chained after the forwarding network unless its chain
 * has a plugin taking `portMappings`), writes
 * `net-info.json`, and adjusts the pod's resolv.conf and hosts. Before each ADD it records the
 * invocation (`net/invocations.json`, the exact netconf in `net/<ifname>[-<k>|-portmap].conf`; for a
 * `.conflist` once its chain is up, with the chain's result as `prevResult`, for DEL) and
 * regenerates `net/teardown.sh`, a POSIX sh script that runs CNI DEL for every recorded invocation
 * in reverse order: the plan runs it when the pod ends, without Node; gc runs the same DELs from
 * Node. DEL is idempotent, so a pod whose supervisor or stage0 died is cleaned by gc.
 */
import { existsSync, mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import type { PodManifest } from '../appc/index.js';
import { RocketError, errorMessage } from '../errors.js';
import { failureText, host } from '../host/index.js';
import { mountsUnder } from '../pod/gc.js';
import { DirLock } from '../pod/lock.js';
import { writeFileAtomic } from '../pod/pod.js';
import {
  CniError,
  findPlugin,
  invokePlugin,
  ipv4Mask,
  parseCniResult,
  pluginSearchPath,
  resultAsV040,
  supportsChaining,
  type CniDns,
  type CniResult,
  type ProcessRunner,
} from './cni.js';
import {
  isMasquerading,
  loadNetConfs,
  netConfDirs,
  runtimePluginConf,
  selectNets,
  wantsPortMappings,
  type JsonObject,
  type SelectedNet,
} from './conf.js';
import { dnsFlagsGiven, hostsWithPodAddress, resolvConfFromDns } from './dns.js';
import { NET_INFO_FILE, type NetInfo } from './info.js';
import { parseNetList } from './netlist.js';
import { forwardedPorts, portMappings } from './ports.js';

export const NET_DIR = 'net';
export const NETNS_FILE = 'ns-net';
export const TEARDOWN_SCRIPT = path.join(NET_DIR, 'teardown.sh');
const INVOCATIONS = path.join(NET_DIR, 'invocations.json');
/** The confs whose DEL the teardown script has done, one a line. */
const DELETED = path.join(NET_DIR, 'deleted');

/** One plugin run of the pod, as recorded for its DEL. */
export interface Invocation {
  netName: string;
  ifName: string;
  plugin: string;
  /** The netconf file under `net/`. */
  conf: string;
  args: string;
  containerId: string;
  searchPath: string[];
}

export interface PodNetworkRequest {
  uuid: string;
  dataDir: string;
  /** Where the pod is now (prepared/<uuid>), and where the plan will run it (run/<uuid>). */
  preparedDir: string;
  runDir: string;
  /** The `--net` values. */
  net: readonly string[];
  configDirs: { system: string; local: string };
  manifest: PodManifest;
  dns: {
    dns: readonly string[];
    dnsSearch: readonly string[];
    dnsOpt: readonly string[];
    dnsDomain?: string;
  };
  hostname: string;
  /** Only the networks `net` names: no `default-restricted` added (the CRI service's sandboxes). */
  namedOnly?: boolean;
  /** Where the plugins are, instead of rkt's search path (the CRI service's `--cni-bin-dir`). */
  pluginDirs?: readonly string[];
  /**
   * Makes the network namespace at the (empty) file, loopback up, instead of `unshare --net=FILE
   * ip link set lo up` (the CRI service: without processes). Throws on failure.
   */
  makeNetns?: (file: string) => void;
  warn?: (message: string) => void;
  runner?: ProcessRunner;
}

const fail = (message: string): never => {
  throw new RocketError(message, 'failed-precondition');
};

/** host-local's lease store for pods of this data dir. */
export function ipamDataDir(dataDir: string): string {
  return path.join(path.resolve(dataDir), 'cni', 'networks');
}

/** Whether `file` is a mount point (a live namespace file), from /proc/self/mountinfo. */
export function isMounted(file: string): boolean {
  try {
    return mountsUnder(readFileSync('/proc/self/mountinfo', 'utf8'), file).includes(file);
  } catch {
    return false;
  }
}

function createNetns(file: string, make?: (file: string) => void): void {
  writeFileSync(file, '');
  if (make !== undefined) {
    try {
      make(file);
    } catch (err) {
      removeNetns(file);
      throw err;
    }
    return;
  }
  const r = host().unshare.run([`--net=${file}`, 'ip', 'link', 'set', 'lo', 'up']);
  if (r.status !== 0) {
    removeNetns(file);
    fail(`cannot create the pod network namespace: ${failureText(r, 'unshare')}`);
  }
}

/** Unmounts and removes a namespace file; a missing or unmounted one is fine. */
export function removeNetns(file: string): void {
  if (isMounted(file)) host().mount.umount(file);
  rmSync(file, { force: true });
}

const shq = (s: string): string => `'${s.replace(/'/g, `'\\''`)}'`;

/**
 * The plan's teardown: CNI DEL of every recorded invocation, last first. `$1` is the pod dir. With
 * RKT_NETNS_MOUNTED set (the oci supervisor, which unmounts ns-net only after this), the namespace
 * is taken as mounted without a `mountpoint` process.
 */
export function teardownScript(invocations: readonly Invocation[]): string {
  const lines = [
    '# CNI DEL of the pod networks, last joined first (written by rkt stage0). $1: the pod dir.',
    'd=$1 ns=$1/' + NETNS_FILE,
    '[ -n "${RKT_NETNS_MOUNTED-}" ] || mountpoint -q "$ns" 2>/dev/null || ns=',
    'PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin; export PATH',
    // A DEL that succeeded is recorded (DELETED, no process), so gc does not run it again.
    'del() {',
    `  [ -f "$d/${NET_DIR}/$2" ] || return 0`,
    `  if o=$(CNI_COMMAND=DEL CNI_CONTAINERID=$3 CNI_NETNS=$ns CNI_IFNAME=$4 CNI_ARGS=$5 CNI_PATH=$6 "$1" <"$d/${NET_DIR}/$2" 2>&1); then`,
    `    echo "$2" >>"$d/${DELETED}"`,
    '  else',
    '    echo "rkt: network $7 ($4): CNI DEL with $1 failed: $o" >&2',
    '  fi',
    '}',
  ];
  for (const inv of [...invocations].reverse())
    lines.push(
      'del ' +
        [inv.plugin, inv.conf, inv.containerId, inv.ifName, inv.args, inv.searchPath.join(':'), inv.netName]
          .map(shq)
          .join(' '),
    );
  return lines.join('\n') + '\n';
}

function saveInvocations(podDir: string, invocations: readonly Invocation[]): void {
  writeFileAtomic(path.join(podDir, INVOCATIONS), JSON.stringify(invocations, null, 2) + '\n', 0o644);
  writeFileAtomic(path.join(podDir, TEARDOWN_SCRIPT), teardownScript(invocations), 0o644);
}

function readInvocations(podDir: string): Invocation[] {
  try {
    const v = JSON.parse(readFileSync(path.join(podDir, INVOCATIONS), 'utf8')) as unknown;
    return Array.isArray(v) ? (v as Invocation[]) : [];
  } catch {
    return [];
  }
}

/** The confs the teardown script has already deleted (its DELETED record). */
function deletedConfs(podDir: string): Set<string> {
  try {
    return new Set(readFileSync(path.join(podDir, DELETED), 'utf8').split('\n'));
  } catch {
    return new Set();
  }
}

/**
 * CNI DEL of every network recorded in `podDir`, last first, with the namespace if it still exists,
 * but those the teardown script has already deleted (the supervisor's cleanup).
 * Idempotent. Returns the failures (one line each); the namespace file is left to the caller.
 */
export function teardownPodNetwork(podDir: string, runner?: ProcessRunner): string[] {
  const invocations = readInvocations(podDir);
  if (invocations.length === 0) return [];
  const done = deletedConfs(podDir);
  const pending = invocations.filter((inv) => !done.has(inv.conf));
  if (pending.length === 0) return [];
  const nsFile = path.join(podDir, NETNS_FILE);
  const netns = isMounted(nsFile) ? nsFile : '';
  const errors: string[] = [];
  for (const inv of [...pending].reverse()) {
    const confFile = path.join(podDir, NET_DIR, inv.conf);
    let conf: string;
    try {
      conf = readFileSync(confFile, 'utf8');
    } catch {
      continue; // never added
    }
    try {
      invokePlugin(
        {
          command: 'DEL',
          plugin: inv.plugin,
          conf,
          containerId: inv.containerId,
          netns,
          ifName: inv.ifName,
          args: inv.args,
          searchPath: inv.searchPath,
        },
        runner,
      );
    } catch (err) {
      errors.push(
        `network ${JSON.stringify(inv.netName)} (${inv.ifName}): CNI DEL with ${inv.plugin} failed: ${errorMessage(err)}`,
      );
    }
  }
  return errors;
}

interface Planned {
  net: SelectedNet;
  /** The executable of each plugin of the network's chain. */
  plugins: string[];
}

/** One plugin of a network's chain: its invocation and its netconf (before `prevResult`). */
export interface ChainStep {
  inv: Invocation;
  conf: JsonObject;
}

/** `prevResult` for the next plugin: the result as printed, or in 0.4.0 form after a 0.1.0/0.2.0 plugin. */
function prevResultOf(result: CniResult): Record<string, unknown> {
  return supportsChaining(result.cniVersion) ? result.raw : resultAsV040(result);
}

/**
 * CNI ADD of a network's plugin chain: in order, each plugin after the first given the previous
 * one's result as `prevResult`. Returns the last plugin's result (the network's result).
 */
export function addChain(
  steps: readonly ChainStep[],
  add: (inv: Invocation, conf: JsonObject) => CniResult,
): CniResult {
  let result: CniResult | undefined;
  for (const step of steps)
    result = add(
      step.inv,
      result === undefined ? step.conf : { ...step.conf, prevResult: prevResultOf(result) },
    );
  if (result === undefined) throw new RocketError('a network with no plugins', 'internal');
  return result;
}

/**
 * The steps of a network's chain on `ifName`: the first plugin's netconf is `<ifName>.conf`, the
 * later ones' `<ifName>-<k>.conf`; host-local IPAM keeps its leases under `ipamDir`; a plugin
 * declaring the `portMappings` capability gets `ports` in its `runtimeConfig` (when given).
 */
export function chainSteps(
  net: SelectedNet,
  plugins: readonly string[],
  base: Omit<Invocation, 'plugin' | 'conf' | 'args'>,
  ipamDir: string,
  ports: readonly JsonObject[] | undefined,
): ChainStep[] {
  return net.conf.plugins.map((p, k) => {
    const conf = runtimePluginConf(p, ipamDir);
    const runtime = ports !== undefined && wantsPortMappings(p);
    return {
      inv: {
        ...base,
        plugin: plugins[k] as string,
        conf: k === 0 ? `${base.ifName}.conf` : `${base.ifName}-${k}.conf`,
        args: net.args,
      },
      conf: runtime ? { ...conf, runtimeConfig: { ...runtimeConfigOf(conf), portMappings: ports } } : conf,
    };
  });
}

/**
 * The netconfs to keep for the DEL of a `.conflist` network whose ADD succeeded: each plugin's,
 * with the chain's final result as `prevResult` (the CNI spec's cached result); none for a `.conf`
 * network or a list of a version without chaining (its ADD netconfs serve as they are).
 */
export function chainDelConfs(
  net: SelectedNet,
  steps: readonly ChainStep[],
  result: CniResult,
): { file: string; conf: JsonObject }[] {
  if (!net.conf.source.endsWith('.conflist') || !supportsChaining(result.cniVersion)) return [];
  return steps.map((s) => ({ file: s.inv.conf, conf: { ...s.conf, prevResult: result.raw } }));
}

function runtimeConfigOf(conf: JsonObject): JsonObject {
  const r = conf['runtimeConfig'];
  return typeof r === 'object' && r !== null && !Array.isArray(r) ? (r as JsonObject) : {};
}

/** The pod's address on a network: its first IPv4 address, else its first address. */
function netInfoOf(inv: Invocation, result: CniResult, confPath: string): NetInfo {
  const ip = result.ips.find((i) => i.version === 4) ?? result.ips[0];
  return {
    netName: inv.netName,
    netConf: confPath,
    pluginPath: inv.plugin,
    ifName: inv.ifName,
    ip: ip?.address ?? '',
    args: inv.args,
    mask: ip === undefined ? '' : ip.version === 4 ? ipv4Mask(ip.prefixLength) : `/${ip.prefixLength}`,
    hostIP: ip?.gateway ?? '',
  };
}

/**
 * Sets up the pod's networks (see the module comment). Checks everything it can before touching
 * anything; on a failure, tears down what it made and throws a one-line error naming the network
 * and its plugin. Holds the pod dir's lock meanwhile, so gc and another run cannot interleave.
 */
export function setupPodNetwork(req: PodNetworkRequest): NetInfo[] {
  const selection = parseNetList(req.net);
  const warn = req.warn ?? (() => undefined);
  if (selection.mode !== 'cni') {
    releaseStaleNetwork(req.preparedDir, req.uuid, warn, req.runner);
    return [];
  }
  const nets = selectNets(selection, loadNetConfs(netConfDirs(req.configDirs), warn), req.namedOnly === true);
  const ports = forwardedPorts(req.manifest);
  const searchPath =
    req.pluginDirs !== undefined ? [...req.pluginDirs] : pluginSearchPath(req.configDirs.local);
  const notFound = (type: string, net: string): never =>
    fail(
      `network ${JSON.stringify(net)}: CNI plugin ${JSON.stringify(type)} not found in ${searchPath.join(':')}`,
    );
  const planned: Planned[] = nets.map((net) => ({
    net,
    plugins: net.conf.plugins.map((p) => {
      const type = p['type'] as string;
      return findPlugin(type, searchPath) ?? notFound(type, net.conf.name);
    }),
  }));
  // The network that forwards: the first whose chain takes portMappings itself (a Kubernetes-style
  // .conflist with portmap), else the first that masquerades, else the last.
  const own = nets.findIndex((n) => n.conf.plugins.some(wantsPortMappings));
  const masq = nets.findIndex((n) => isMasquerading(n.conf));
  const forwarder = ports.length === 0 ? -1 : own >= 0 ? own : masq >= 0 ? masq : nets.length - 1;
  // A chain with a plugin taking portMappings forwards the ports itself; otherwise rkt chains portmap.
  const ownPortmap = forwarder >= 0 && (nets[forwarder]?.conf.plugins.some(wantsPortMappings) ?? false);
  const portmap =
    forwarder >= 0 && !ownPortmap
      ? (findPlugin('portmap', searchPath) ?? notFound('portmap', nets[forwarder]?.conf.name ?? ''))
      : '';

  const P = req.preparedDir;
  const lock = lockPod(P, req.uuid);
  try {
    releaseStale(P, warn, req.runner);
    mkdirSync(path.join(P, NET_DIR));
    createNetns(path.join(P, NETNS_FILE), req.makeNetns);
    const invocations: Invocation[] = [];
    try {
      const infos: NetInfo[] = [];
      let dns: { dns: CniDns; net: string } | undefined;
      const add = (inv: Invocation, conf: JsonObject): CniResult => {
        const text = JSON.stringify(conf);
        writeFileSync(path.join(P, NET_DIR, inv.conf), text);
        invocations.push(inv);
        saveInvocations(P, invocations);
        try {
          return parseCniResult(
            invokePlugin(
              {
                command: 'ADD',
                plugin: inv.plugin,
                conf: text,
                containerId: inv.containerId,
                netns: path.join(P, NETNS_FILE),
                ifName: inv.ifName,
                args: inv.args,
                searchPath: inv.searchPath,
              },
              req.runner,
            ),
          );
        } catch (err) {
          if (!(err instanceof CniError)) throw err;
          throw new RocketError(
            `network ${JSON.stringify(inv.netName)} (${inv.ifName}): CNI ADD with ${inv.plugin} failed: ${err.message}`,
            'unavailable',
            { cause: err },
          );
        }
      };
      for (const [i, { net, plugins }] of planned.entries()) {
        const ifName = `eth${i}`;
        const base = { netName: net.conf.name, ifName, containerId: req.uuid, searchPath };
        const mappings = i === forwarder ? portMappings(ports) : undefined;
        const steps = chainSteps(net, plugins, base, ipamDataDir(req.dataDir), mappings);
        const result = addChain(steps, add);
        for (const d of chainDelConfs(net, steps, result))
          writeFileAtomic(path.join(P, NET_DIR, d.file), JSON.stringify(d.conf), 0o644);
        const first = steps[0]?.inv as Invocation;
        infos.push(netInfoOf(first, result, path.join(req.runDir, NET_DIR, first.conf)));
        if (dns === undefined && result.dns !== undefined) dns = { dns: result.dns, net: net.conf.name };
        if (i !== forwarder || ownPortmap) continue;
        const version = result.cniVersion;
        const chained = supportsChaining(version);
        add(
          { ...base, plugin: portmap, conf: `${ifName}-portmap.conf`, args: '' },
          {
            cniVersion: chained ? version : '0.4.0',
            name: net.conf.name,
            type: 'portmap',
            snat: true,
            capabilities: { portMappings: true },
            runtimeConfig: { portMappings: portMappings(ports) },
            prevResult: chained ? result.raw : resultAsV040(result),
          },
        );
      }
      writeFileAtomic(path.join(P, NET_INFO_FILE), JSON.stringify(infos) + '\n', 0o644);
      writePodFiles(req, infos, dns);
      return infos;
    } catch (err) {
      for (const e of teardownPodNetwork(P, req.runner)) warn(`undoing the networks: ${e}`);
      removeNetns(path.join(P, NETNS_FILE));
      throw err;
    }
  } finally {
    lock.release();
  }
}

function lockPod(dir: string, uuid: string): DirLock {
  const lock = DirLock.tryAcquire(dir, 'exclusive');
  if (lock === undefined) return fail(`pod ${uuid} is being started or removed by another rkt`);
  return lock;
}

/** The networks a stage0 that died in a prepared pod left behind: torn down, and their records. */
function releaseStale(dir: string, warn: (m: string) => void, runner?: ProcessRunner): void {
  if (existsSync(path.join(dir, INVOCATIONS)))
    for (const e of teardownPodNetwork(dir, runner)) warn(`an earlier start's networks: ${e}`);
  removeNetns(path.join(dir, NETNS_FILE));
  rmSync(path.join(dir, NET_DIR), { recursive: true, force: true });
  rmSync(path.join(dir, NET_INFO_FILE), { force: true });
}

/**
 * Undoes the pod's networks (CNI DEL of every recorded invocation, the namespace, the records),
 * under the pod dir's lock: stage0's pipeline when the engine failed after the networks were up.
 */
export function releasePodNetwork(dir: string, uuid: string, warn: (m: string) => void): void {
  releaseStaleNetwork(dir, uuid, warn);
}

function releaseStaleNetwork(
  dir: string,
  uuid: string,
  warn: (m: string) => void,
  runner?: ProcessRunner,
): void {
  if (!existsSync(path.join(dir, NET_DIR))) return;
  const lock = lockPod(dir, uuid);
  try {
    releaseStale(dir, warn, runner);
  } finally {
    lock.release();
  }
}

/** resolv.conf from the first network that gave DNS (unless `--dns*` decided it); hosts' own line. */
function writePodFiles(
  req: PodNetworkRequest,
  infos: readonly NetInfo[],
  dns: { dns: CniDns; net: string } | undefined,
): void {
  const etc = path.join(req.preparedDir, 'etc');
  const resolv = path.join(etc, 'resolv.conf');
  if (dns !== undefined && !dnsFlagsGiven(req.dns) && existsSync(resolv))
    writeFileSync(resolv, resolvConfFromDns(dns.dns, dns.net));
  const hosts = path.join(etc, 'hosts');
  const ip = infos.find((n) => n.ip !== '')?.ip;
  if (ip !== undefined && existsSync(hosts))
    writeFileSync(hosts, hostsWithPodAddress(readFileSync(hosts, 'utf8'), req.hostname, ip));
}
