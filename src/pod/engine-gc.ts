/**
 * What stage0's gc does for every pod it deletes, before the pod dir goes: the CNI DELs of the
 * pod's networks (while `ns-net` is still mounted: ptp removes its masquerade rules only then),
 * then each engine's own cleanup (containers, namespace files, mounts, cgroups). Loaded lazily by
 * gc.ts, so listing pods never loads the engines.
 */
import { teardownPodNetwork } from '../net/pod.js';
import { ENGINES } from '../stage1/engine-table.js';
import type { PodGcHook } from './gc.js';

export const ENGINE_GC_HOOKS: readonly PodGcHook[] = [
  {
    name: 'network',
    gc: (pod) => {
      for (const e of teardownPodNetwork(pod.path)) process.stderr.write(`gc: pod ${pod.uuid}: ${e}\n`);
    },
  },
  ...ENGINES.map((engine) => ({
    name: engine.name,
    gc: (pod: Parameters<PodGcHook['gc']>[0]) => engine.gc(pod),
  })),
];
