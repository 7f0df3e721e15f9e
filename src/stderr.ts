/**
 * stage0's own messages on stderr (warnings and notices, a line each), counted: a command can tell
 * whether it said anything. `rkt run` keeps a run template only for a run that said nothing, as
 * the launcher that answers from it would not say it again (src/cli/rkt/pod/run.ts); `rkt prepare`
 * writes the Node-free run of `run-prepared` only if the engine had nothing to say, and keeps what
 * it would have said for Node's run to say (src/pod/run-pipeline.ts, prepareFastRun).
 */

let said = 0;
let muted = 0;

/** Writes one line (its newline added if missing) to stderr, unless muted (see `unsaid`). */
export function stderrLine(line: string): void {
  said++;
  if (muted === 0) process.stderr.write(line.endsWith('\n') ? line : line + '\n');
}

/** How many lines stderrLine was given in this process so far, said or muted. */
export function stderrLinesSaid(): number {
  return said;
}

/** Runs `fn` with stderrLine muted; returns how many lines it would have said. */
export function unsaid(fn: () => void): number {
  const before = said;
  muted++;
  try {
    fn();
  } finally {
    muted--;
  }
  return said - before;
}
