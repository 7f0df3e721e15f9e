/**
 * What the service checks on disk before answering for a pod: the pod is running (its directory
 * is in `run/` and flock-ed, rkt's rule), and the address a request comes from is still one of the
 * pod's (`net-info.json`, written by stage0's network setup). A registration whose pod has moved on
 * (exited, garbage, removed) is dropped, so neither a missed unregistration nor a SIGKILLed
 * supervisor leaves data that a later pod could reach.
 */
import { isIP } from 'node:net';
import { readNetInfo } from '../net/info.js';
import { PodsLayout, locatePod, stateOf } from '../pod/index.js';

/** `pending`: registered, not started yet (prepared); `gone`: will never run again. */
export type PodPresence = 'pending' | 'running' | 'gone';

export interface PodProbe {
  presence(dataDir: string, uuid: string): PodPresence;
  /** The pod's current addresses, from its running pod dir (empty if unknown). */
  addresses(dataDir: string, uuid: string): string[];
}

/** An address without a prefix length, or undefined if it is not an IP address. */
export function bareAddress(text: string): string | undefined {
  const addr = text.replace(/\/\d+$/, '');
  return isIP(addr) !== 0 ? addr : undefined;
}

/** The pod's addresses on its networks, from its `net-info.json` (empty if none). */
export function podAddresses(podDir: string): string[] {
  return readNetInfo(podDir).flatMap((n) => {
    const a = typeof n.ip === 'string' ? bareAddress(n.ip) : undefined;
    return a === undefined ? [] : [a];
  });
}

/** The probe of pods in rkt's layout under their data dir. */
export const diskPodProbe: PodProbe = {
  presence(dataDir, uuid) {
    const layout = new PodsLayout(dataDir);
    try {
      const loc = locatePod(layout, uuid);
      if (loc === undefined) return 'gone';
      if (loc.stateDir === 'prepared') return 'pending';
      if (loc.stateDir !== 'run') return 'gone';
      return stateOf(layout, 'run', uuid) === 'running' ? 'running' : 'gone';
    } catch {
      // Unreadable for now (not vanished): neither answer for the pod nor forget it.
      return 'pending';
    }
  },
  addresses(dataDir, uuid) {
    return podAddresses(new PodsLayout(dataDir).podDir('run', uuid));
  },
};
