/**
 * Shared by the kvm engine's integration tests: why they cannot run here, the `--exec` of a shell
 * script, and whether a pod's QEMU still runs.
 */
import { existsSync, readFileSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import { findKernel } from '../../../src/stage1/kvm/initramfs.js';
import { which } from '../../../src/stage1/oci/runtime.js';
import { podTestSkip } from '../fly/fixture.js';

/** Why the kvm tests cannot run here (no QEMU, no guest kernel, not root...), or false. */
export function kvmSkip(...programs: string[]): string | false {
  const base = podTestSkip('qemu-system-x86_64');
  if (base !== false) return base;
  for (const p of programs) if (which(p) === undefined) return `needs ${p}`;
  try {
    findKernel();
  } catch (err) {
    return (err as Error).message;
  }
  return false;
}

/** An app's `--exec` of `/bin/sh -c SCRIPT`. */
export const sh = (script: string): string[] => ['--exec', '/bin/sh', '--', '-c', script];

/** Whether a process with this pid runs QEMU for the pod. */
export function qemuAlive(pid: number, uuid: string): boolean {
  try {
    return readFileSync(`/proc/${pid}/cmdline`, 'utf8').includes(`rkt-${uuid}`);
  } catch {
    return false;
  }
}

/**
 * KILLs the QEMU of every pod still running under the data dir (a test that failed half-way left
 * it): its plan is killed with the test's children, but QEMU holds the pod's lock, so gc would not
 * take the pod. Each pid is checked to be the pod's QEMU first.
 */
export function killVms(data: string): void {
  const run = join(data, 'pods', 'run');
  for (const uuid of existsSync(run) ? readdirSync(run) : []) {
    let pid: number;
    try {
      pid = Number(readFileSync(join(run, uuid, 'stage1', 'kvm', 'qemu.pid'), 'utf8'));
    } catch {
      continue;
    }
    if (Number.isSafeInteger(pid) && pid > 1 && qemuAlive(pid, uuid)) process.kill(pid, 'SIGKILL');
  }
}
