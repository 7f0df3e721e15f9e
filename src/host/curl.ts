/** `curl`: HTTP over the metadata service's unix socket (stage0 talks to it without loading undici). */
import { runToCompletion, type RunOptions, type RunResult } from './exec.js';

export interface Curl {
  run(args: readonly string[], opts?: RunOptions): RunResult;
}

export const realCurl: Curl = {
  run: (args, opts) => runToCompletion('curl', args, opts),
};
