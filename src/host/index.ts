/**
 * The host programs stage0 and the engines run from TypeScript, one adapter each. Callers get them
 * from `host()`; unit tests swap in fakes with `useHostPrograms` (fake.ts) and restore the real ones
 * afterwards. Shell text written into plans and supervisor settings is not run here and is not
 * covered: it runs after stage0 has gone. `flock` is not a program stage0 runs (the pod and store
 * locks are flock(2) through src/store/flock.ts); busybox is only asked for its applets (busybox.ts); crun and runc sit behind src/stage1/oci/runtime.ts,
 * CNI plugins behind src/net/cni.ts.
 */
import { realBusybox, type Busybox } from './busybox.js';
import { realCp, type Cp } from './cp.js';
import { realCurl, type Curl } from './curl.js';
import { realMount, type Mount } from './mount.js';
import { realNsenter, type Nsenter } from './nsenter.js';
import { realUnshare, type Unshare } from './unshare.js';

export type { Busybox, Cp, Curl, Mount, Nsenter, Unshare };
export { failureText, type RunOptions, type RunResult } from './exec.js';

export interface HostPrograms {
  unshare: Unshare;
  nsenter: Nsenter;
  mount: Mount;
  cp: Cp;
  curl: Curl;
  busybox: Busybox;
}

const real: HostPrograms = {
  unshare: realUnshare,
  nsenter: realNsenter,
  mount: realMount,
  cp: realCp,
  curl: realCurl,
  busybox: realBusybox,
};

let current: HostPrograms = real;

export function host(): HostPrograms {
  return current;
}

/** Replaces some adapters (tests); returns the function that puts the previous ones back. */
export function useHostPrograms(programs: Partial<HostPrograms>): () => void {
  const previous = current;
  current = { ...current, ...programs };
  return () => {
    current = previous;
  };
}
