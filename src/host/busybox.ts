/**
 * BusyBox: when it is installed with the applets the oci engine's supervisor uses, the supervisor
 * and the hybrid-cgroup wrapper run them instead of util-linux's and coreutils' programs, which
 * start slower (dynamically linked against libmount, libblkid, libselinux...; Debian's
 * busybox-static is one static binary). Found on PATH only, so that a PATH without it (as the
 * fast paths' stamps compare PATH) means the other programs.
 */
import { firstExecutable, pathDirs, runToCompletion } from './exec.js';

export interface Busybox {
  /** The busybox on PATH that has every one of the applets, or undefined. */
  find(applets: readonly string[]): string | undefined;
}

const listed = new Map<string, Set<string>>();

export const realBusybox: Busybox = {
  find(applets) {
    const file = firstExecutable('busybox', pathDirs());
    if (file === undefined) return undefined;
    let have = listed.get(file);
    if (have === undefined) {
      const r = runToCompletion(file, ['--list'], { timeoutMs: 5000 });
      have = new Set(r.status === 0 ? r.stdout.split('\n') : []);
      listed.set(file, have);
    }
    return applets.every((a) => have.has(a)) ? file : undefined;
  },
};
