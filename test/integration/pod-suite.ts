/**
 * The clean-up of a suite that runs pods in its own `--dir` (DATA under WORK): what its `after`
 * does, so a failed test leaves nothing on the machine.
 */
import { spawnSync, type ChildProcess } from 'node:child_process';
import { rmSync } from 'node:fs';
import { unmountUnder } from '../../src/pod/index.js';
import { podCgroupDirs } from '../../src/stage1/oci/engine.js';
import { waitFor } from '../helpers.js';

export interface PodSuite {
  rktBin: string;
  data: string;
  work: string;
  /** The pods the suite made. */
  pods: Iterable<string>;
  /** Its child processes still running (rkt run, rkt app sandbox...): SIGKILLed. */
  children: Iterable<ChildProcess>;
  env: NodeJS.ProcessEnv;
}

/**
 * Stops the pods a failed test left running (`rkt stop` with each set of `stops` in turn; the
 * supervisor, or rkt stop itself if it is gone, TERMs and KILLs the apps) and waits for them.
 */
export async function stopSuitePods(s: PodSuite, stops: string[][]): Promise<void> {
  for (const uuid of s.pods)
    for (const flags of stops)
      spawnSync(s.rktBin, [`--dir=${s.data}`, 'stop', ...flags, uuid], { stdio: 'ignore', env: s.env });
  for (const uuid of s.pods)
    await waitFor(`pod ${uuid} to end`, () => {
      const r = spawnSync(s.rktBin, [`--dir=${s.data}`, 'status', uuid], { encoding: 'utf8' });
      return !/^state=running$/m.test(r.stdout);
    }).catch(() => undefined);
}

/** Then: the children killed, gc twice, every mount under WORK, the pods' cgroups and WORK removed. */
export function removeSuite(s: PodSuite): void {
  for (const c of s.children) {
    try {
      if (c.pid !== undefined) process.kill(c.pid, 'SIGKILL');
    } catch {
      // gone
    }
  }
  for (let i = 0; i < 2; i++)
    spawnSync(s.rktBin, [`--dir=${s.data}`, 'gc', '--grace-period=0s', '--expire-prepared=0s'], {
      stdio: 'ignore',
    });
  unmountUnder(s.work);
  for (const uuid of s.pods) for (const d of podCgroupDirs(`rkt-${uuid}`)) spawnSync('rmdir', [d]);
  rmSync(s.work, { recursive: true, force: true });
}
