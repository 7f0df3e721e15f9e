/**
 * The one error type the tools throw for expected failures (bad input, refused archives, missing
 * files): its message is the one line a command prints. It carries a `kind` (what went wrong, in
 * the terms of gRPC's canonical codes); the edges choose what a kind becomes: src/cli an exit code
 * (cli/exit-codes.ts; rkt ends every failure of its own with 254), src/api and src/cri a gRPC
 * status (api/errors.ts). Libraries (pod/, net/, store/) throw kinds and never choose exit codes.
 * The command-line layers of actool and docker2aci may still name an exit code themselves.
 * Anything that is not a RocketError is a bug and shows its stack.
 */
export type ErrorKind =
  | 'invalid-argument'
  | 'not-found'
  | 'already-exists'
  | 'failed-precondition'
  | 'permission-denied'
  | 'unavailable'
  | 'internal'
  | 'unknown';

export const ERROR_KINDS: readonly ErrorKind[] = [
  'invalid-argument',
  'not-found',
  'already-exists',
  'failed-precondition',
  'permission-denied',
  'unavailable',
  'internal',
  'unknown',
];

export interface RocketErrorOptions {
  cause?: unknown;
  /** The kind of an error thrown with an exit code (default: unknown). */
  kind?: ErrorKind;
}

export class RocketError extends Error {
  readonly kind: ErrorKind;
  /** The exit code a command-line layer chose, if it did; the edge maps `kind` otherwise. */
  readonly exitCode: number | undefined;

  /**
   * `new RocketError(message, kind)` in libraries; `new RocketError(message, exitCode)` where a
   * command line chooses its own status. Neither: exit code 1, kind unknown (the tools' default).
   */
  constructor(message: string, kindOrExitCode: ErrorKind | number = 1, options?: RocketErrorOptions) {
    super(message, options?.cause === undefined ? undefined : { cause: options.cause });
    this.name = 'RocketError';
    if (typeof kindOrExitCode === 'number') {
      this.exitCode = kindOrExitCode;
      this.kind = options?.kind ?? 'unknown';
    } else {
      this.exitCode = undefined;
      this.kind = kindOrExitCode;
    }
  }
}

/** rkt's exit status for its own failures. */
export const RKT_FAILURE = 254;

/**
 * Whether an error is already a rkt failure as it stands (a RocketError whose exit code, if it
 * names one, is rkt's), so a layer that turns every failure into 254 can rethrow it unchanged.
 */
export function isRktFailure(err: unknown): boolean {
  return err instanceof RocketError && (err.exitCode === undefined || err.exitCode === RKT_FAILURE);
}

export function errorMessage(err: unknown): string {
  return err instanceof Error ? err.message : String(err);
}

/**
 * How rkt (cobra's pflag) names a flag it does not know: `unknown flag: --x` for a long one (its
 * `=value` left out), `unknown shorthand flag: 'x' in -xy` for a short one.
 */
export function unknownFlagMessage(flag: string): string {
  if (flag.startsWith('--')) return `unknown flag: ${flag.replace(/=.*$/s, '')}`;
  return `unknown shorthand flag: '${flag.slice(1, 2)}' in ${flag}`;
}
