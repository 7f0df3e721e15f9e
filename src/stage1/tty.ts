/**
 * The terminal `rkt run --interactive` hands to its app: stage0's stdin, when it is a terminal, and
 * its size (`stty size`, read once at start: crun 1.8 sets a container terminal's size only from the
 * config's `process.consoleSize` and forwards no later resize; runc also follows its own terminal's
 * resizes).
 */

/**
 * node:child_process and node:tty when stdin is looked at (process.getBuiltinModule): commands
 * that load this module and never ask (`rkt app add`) do not compile them.
 */
const childProcess = (): typeof import('node:child_process') =>
  process.getBuiltinModule('node:child_process');

export interface ConsoleSize {
  height: number;
  width: number;
}

/** stdin's terminal size, or undefined when stdin is not a terminal. */
export function stdinTerminal(): ConsoleSize | undefined {
  if (!process.getBuiltinModule('node:tty').isatty(0)) return undefined;
  const r = childProcess().spawnSync('stty', ['size'], {
    stdio: ['inherit', 'pipe', 'ignore'],
    encoding: 'utf8',
  });
  const m = /^(\d+) (\d+)\s*$/.exec(r.stdout ?? '');
  // A terminal that reports no size (0 0) still is one; the app then sees 0x0 as on the host.
  return m === null ? { height: 0, width: 0 } : { height: Number(m[1]), width: Number(m[2]) };
}
