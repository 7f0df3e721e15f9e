/**
 * Registrations checked against the disk: a pod is answered for only while it runs, and a
 * registration whose pod will not run again is forgotten at once, wherever that is noticed (a
 * request naming it, a verify naming its UUID, a listing, the periodic sweep).
 */
import type { PodPresence, PodProbe } from './pod-probe.js';
import type { PodRegistration, Registry } from './registry.js';

export class Liveness {
  constructor(
    readonly registry: Registry,
    readonly probe: PodProbe,
    private readonly log: (line: string) => void = () => {},
  ) {}

  /** The pod's presence now; a pod that is gone is unregistered. */
  check(reg: PodRegistration): PodPresence {
    const presence = this.probe.presence(reg.dataDir, reg.uuid);
    if (presence === 'gone' && this.registry.withUuid(reg.uuid) === reg) {
      this.registry.remove(reg.uuid);
      this.log(`forgot pod ${reg.uuid}: no longer running`);
    }
    return presence;
  }

  /** Checks every registration; returns the pods still registered. */
  sweep(): { uuid: string; presence: 'pending' | 'running' }[] {
    const out: { uuid: string; presence: 'pending' | 'running' }[] = [];
    for (const reg of this.registry.all()) {
      const presence = this.check(reg);
      if (presence !== 'gone') out.push({ uuid: reg.uuid, presence });
    }
    return out;
  }
}
