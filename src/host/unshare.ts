/** util-linux `unshare`: new namespaces (persistent ones bound to files, or a private mount namespace). */
import type { ChildProcessWithoutNullStreams } from 'node:child_process';
import { runToCompletion, startChild, type RunOptions, type RunResult } from './exec.js';

export interface Unshare {
  /** `unshare ARGS` to completion. */
  run(args: readonly string[], opts?: RunOptions): RunResult;
  /** `unshare ARGS` as a child with piped streams (a helper that lives while stage0 uses it). */
  start(args: readonly string[]): ChildProcessWithoutNullStreams;
}

export const realUnshare: Unshare = {
  run: (args, opts) => runToCompletion('unshare', args, opts),
  start: (args) => startChild('unshare', args),
};
