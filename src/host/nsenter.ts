/** util-linux `nsenter`: a program run in another process's or a namespace file's namespaces. */
import type { ChildProcessWithoutNullStreams } from 'node:child_process';
import { runToCompletion, startChild, type RunOptions, type RunResult } from './exec.js';

export interface Nsenter {
  run(args: readonly string[], opts?: RunOptions): RunResult;
  start(args: readonly string[]): ChildProcessWithoutNullStreams;
}

export const realNsenter: Nsenter = {
  run: (args, opts) => runToCompletion('nsenter', args, opts),
  start: (args) => startChild('nsenter', args),
};
