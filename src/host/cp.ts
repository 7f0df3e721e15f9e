/** coreutils `cp`: a tree copied with its owners, modes, links and times (`cp -a FROM/. TO`). */
import { runToCompletion, type RunResult } from './exec.js';

export interface Cp {
  /** Copies the contents of the directory `from` into the existing directory `to`. */
  copyTree(from: string, to: string): RunResult;
}

export const realCp: Cp = {
  copyTree: (from, to) => runToCompletion('cp', ['-a', from + '/.', to]),
};
