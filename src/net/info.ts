/**
 * `net-info.json` in the pod dir: one object per network the pod joined, in join order, with rkt's
 * fields (`netName`, `netConf`, `pluginPath`, `ifName`, `ip`, `args`, `mask`) plus `hostIP`, the
 * host's address on that network (the gateway: the host end of a ptp pair, or the bridge). `rkt
 * list`, `rkt status` and the metadata service read it.
 */
import { existsSync, readFileSync } from 'node:fs';
import path from 'node:path';

export const NET_INFO_FILE = 'net-info.json';

export interface NetInfo {
  netName: string;
  /** The netconf the plugin was given (a copy in the pod's `net/` dir). */
  netConf: string;
  pluginPath: string;
  ifName: string;
  /** The pod's address on the network (IPv4 when it has one), or empty. */
  ip: string;
  /** CNI_ARGS from `--net=NAME:ARGS`. */
  args: string;
  /** Dotted netmask of `ip`. */
  mask: string;
  /** The host's address on the network (the gateway), or empty. */
  hostIP: string;
}

/** The networks recorded in a pod dir; empty when there are none or the file is unreadable. */
export function readNetInfo(podDir: string): NetInfo[] {
  const file = path.join(podDir, NET_INFO_FILE);
  // A listing asks this of every pod, most without networks: no thrown ENOENT for them.
  if (!existsSync(file)) return [];
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch {
    return [];
  }
  try {
    const value = JSON.parse(text) as unknown;
    if (!Array.isArray(value)) return [];
    return value.filter(
      (v): v is NetInfo => typeof v === 'object' && v !== null && typeof (v as NetInfo).netName === 'string',
    );
  } catch {
    return [];
  }
}

/** rkt's NETWORKS column and `networks=` value: `default:ip4=172.16.28.7, net2:ip4=...`. */
export function formatNets(infos: readonly NetInfo[]): string {
  return infos.map((n) => `${n.netName}:ip4=${n.ip}`).join(', ');
}

/** The api/v1 JSON of a pod's networks (rkt's NetInfo fields only). */
export function netInfoJson(infos: readonly NetInfo[]): Record<string, string>[] {
  return infos.map((n) => ({
    netName: n.netName,
    netConf: n.netConf,
    pluginPath: n.pluginPath,
    ifName: n.ifName,
    ip: n.ip,
    args: n.args,
    mask: n.mask,
  }));
}
