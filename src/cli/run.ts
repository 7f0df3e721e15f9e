import { realpathSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { CommanderError, type Command } from 'commander';
import { RKT_FAILURE, RocketError, errorMessage, unknownFlagMessage } from '../errors.js';
import { exitCodeOf } from './exit-codes.js';

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
 * Every failure, whatever the command or input, ends as one line on stderr (no stack trace): a tool
 * sets `failureExit` when every failure has the same status (rkt: 254); otherwise a RocketError
 * exits with its own code and anything else with 1. `ROCKET_STACK_TRACES=1` in the environment
 * prints the stack of an error that is not a RocketError too, for debugging.
 */
let failureExit: number | undefined;

/** The one line an error becomes: its message with line breaks folded. */
export function oneLine(err: unknown): string {
  const text = errorMessage(err).trim();
  if (text !== '') return text.replace(/\s*\n\s*/g, '; ');
  return err instanceof Error ? err.name : 'unknown error';
}

/** Reports a failure of `verb` as one line and sets the exit status (see failureExit). */
export function reportFailure(verb: string, err: unknown): void {
  process.stderr.write(`${verb}: ${oneLine(err)}\n`);
  if (!(err instanceof RocketError) && process.env['ROCKET_STACK_TRACES'] === '1' && err instanceof Error)
    process.stderr.write(`${err.stack ?? ''}\n`);
  process.exitCode = failureExit ?? exitCodeOf('appc', err);
}

/**
 * Wraps a command's action: a failure prints one line, prefixed with the verb as the reference tools
 * do, and sets the exit code (reportFailure).
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
      reportFailure(verb, err);
    }
  };
}

/**
 * Parses argv with commander, turning its usage errors into an exit status (2 by default, as Go's
 * flag package; rkt uses 254) instead of a throw. With `opts.failureExit`, every failure of an
 * action exits with it (default: 254 when the usage status is rkt's 254, else none). An error that escapes everything (an uncaught exception or
 * rejection) is still one line and the failure status.
 */
export async function runProgram(
  program: Command,
  argv: readonly string[],
  usageExit = USAGE_EXIT,
  opts: { failureExit?: number } = {},
): Promise<void> {
  // rkt, whose usage status is 254, ends every failure of its own with 254.
  failureExit = opts.failureExit ?? (usageExit === RKT_FAILURE ? RKT_FAILURE : undefined);
  const name = program.name();
  const fatal = (err: unknown): void => {
    reportFailure(name, err);
    process.exit();
  };
  process.on('uncaughtException', fatal);
  process.on('unhandledRejection', fatal);
  // Usage errors of commands at every depth (rkt image list, rkt app start) reach the catch below.
  const override = (cmd: Command): void => {
    cmd.exitOverride();
    if (usageExit === RKT_FAILURE) {
      const verb = commandPath(cmd);
      cmd.configureOutput({ outputError: (text, write) => write(rktUsageError(verb, text)) });
    }
    for (const sub of cmd.commands) override(sub);
  };
  override(program);
  try {
    await program.parseAsync(normalizeGoFlags(argv), { from: 'user' });
  } catch (err) {
    if (err instanceof CommanderError) {
      // commander has already printed its message; help and version output are not failures.
      process.exitCode = err.exitCode === 0 ? 0 : usageExit;
      return;
    }
    reportFailure(name, err);
  }
}

/** A command's words below the program (`app status`), or the program's name for the program. */
function commandPath(cmd: Command): string {
  const words: string[] = [];
  for (let c: Command | null = cmd; c?.parent; c = c.parent) words.unshift(c.name());
  return words.length > 0 ? words.join(' ') : cmd.name();
}

/**
 * commander's usage errors in rkt's (cobra's) words, one line prefixed with the verb as rkt's other
 * failures are: an unknown flag is `unknown flag: --x` (`unknown shorthand flag: 'x' in -xy`), a
 * value its flag refuses `invalid argument "v" for "--flag" flag: why`, an unknown command
 * `unknown command "x" for "rkt image"` (with commander's suggestion on the same line), a flag
 * without its value `flag needs an argument: --x`; other usage errors keep commander's words.
 */
export function rktUsageError(verb: string, text: string): string {
  const unknown = /^error: unknown option '([^'\n]*)'/.exec(text);
  if (unknown !== null) return `${verb}: ${unknownFlagMessage(unknown[1] as string)}\n`;
  const invalid =
    /^error: option '(?:-\w, )?(--[\w-]+)[^']*' argument '([^']*)' is invalid\.\s*(.*?)\s*$/s.exec(text);
  if (invalid !== null) {
    const [, flag, value, why] = invalid as unknown as [string, string, string, string];
    const reason = why.replace(/\s*\n\s*/g, ' ');
    return `${verb}: invalid argument ${JSON.stringify(value)} for "${flag}" flag${reason === '' ? '' : `: ${reason}`}\n`;
  }
  const command = /^error: unknown command '([^'\n]*)'(?:\s*\((Did you mean [^)]*)\))?/.exec(text);
  if (command !== null) {
    const path = verb === 'rkt' ? 'rkt' : `rkt ${verb}`;
    const hint = command[2] === undefined ? '' : ` (${command[2].replace(/^Did/, 'did')})`;
    return `${verb}: unknown command ${JSON.stringify(command[1])} for "${path}"${hint}\n`;
  }
  const missing = /^error: option '(?:-\w, )?(--[\w-]+)[^']*' argument missing/.exec(text);
  if (missing !== null) return `${verb}: flag needs an argument: ${missing[1] as string}\n`;
  // Any other (a missing or extra argument): commander's words, on one line with the verb.
  const other = /^error: (.*?)\s*$/s.exec(text);
  if (other !== null) return `${verb}: ${(other[1] as string).replace(/\s*\n\s*/g, ' ')}\n`;
  return text;
}

export { stderrLine } from '../stderr.js';

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
