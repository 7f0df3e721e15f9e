/** util-linux `mount` and `umount`. */
import { runToCompletion, type RunResult } from './exec.js';

export interface Mount {
  /** `mount ARGS`. */
  mount(args: readonly string[]): RunResult;
  /** `umount [--lazy] TARGET`. */
  umount(target: string, opts?: { lazy?: boolean }): RunResult;
}

export const realMount: Mount = {
  mount: (args) => runToCompletion('mount', args),
  umount: (target, opts) => runToCompletion('umount', [...(opts?.lazy === true ? ['--lazy'] : []), target]),
};
