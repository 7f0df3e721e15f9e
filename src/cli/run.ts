import { realpathSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { CommanderError, type Command } from 'commander';
import { RocketError } from '../errors.js';

/**
 * Go's flag package, which the reference actool and rkt's pflag-era scripts rely on, accepts
 * `-flag` as well as `--flag`. Commander only knows the double-dash form, so single-dash long
 * options are rewritten before parsing. Single letters (`-h`) and everything after `--` are kept.
 */
export function normalizeGoFlags(argv: readonly string[]): string[] {
  const out: string[] = [];
  let passthrough = false;
  for (const arg of argv) {
    if (passthrough || arg === '--') {
      passthrough = true;
      out.push(arg);
    } else if (/^-[a-zA-Z][a-zA-Z0-9-]+(=.*)?$/s.test(arg)) {
      out.push('-' + arg);
    } else {
      out.push(arg);
    }
  }
  return out;
}

/** Usage errors exit 2 (as Go's flag package does); a RocketError exits with its own code. */
export const USAGE_EXIT = 2;

/**
 * Wraps a command's action: expected failures (RocketError) print one line, prefixed with the verb
 * as the reference tools do, and set the exit code; anything else is a bug and keeps its stack.
 */
export function action<A extends unknown[]>(
  verb: string,
  fn: (...args: A) => Promise<number | void> | number | void,
): (...args: A) => Promise<void> {
  return async (...args: A) => {
    try {
      const code = await fn(...args);
      if (typeof code === 'number') process.exitCode = code;
    } catch (err) {
      if (err instanceof RocketError) {
        process.stderr.write(`${verb}: ${err.message}\n`);
        process.exitCode = err.exitCode;
        return;
      }
      throw err;
    }
  };
}

/**
 * Parses argv with commander, turning its usage errors into an exit status (2 by default, as Go's
 * flag package; rkt uses 254) instead of a throw.
 */
export async function runProgram(
  program: Command,
  argv: readonly string[],
  usageExit = USAGE_EXIT,
): Promise<void> {
  program.exitOverride();
  for (const sub of program.commands) sub.exitOverride();
  try {
    await program.parseAsync(normalizeGoFlags(argv), { from: 'user' });
  } catch (err) {
    if (err instanceof CommanderError) {
      // commander has already printed its message; help and version output are not failures.
      process.exitCode = err.exitCode === 0 ? 0 : usageExit;
      return;
    }
    throw err;
  }
}

export function stderrLine(line: string): void {
  process.stderr.write(line.endsWith('\n') ? line : line + '\n');
}

/** Whether the module at `moduleUrl` is the script node was started with (not an import of it). */
export function isMainModule(moduleUrl: string): boolean {
  const script = process.argv[1];
  if (script === undefined) return false;
  try {
    return realpathSync(script) === realpathSync(fileURLToPath(moduleUrl));
  } catch {
    return false;
  }
}
