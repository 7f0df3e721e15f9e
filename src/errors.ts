/**
 * The one error type the tools throw for expected failures (bad input, refused archives, missing
 * files). It carries the exit code the command should end with, so a CLI entry point prints
 * `message` on one line and exits with `exitCode`; anything else is a bug and shows its stack.
 */
export class RocketError extends Error {
  readonly exitCode: number;

  constructor(message: string, exitCode = 1, options?: { cause?: unknown }) {
    super(message, options);
    this.name = 'RocketError';
    this.exitCode = exitCode;
  }
}

/** rkt's exit status for its own failures. */
export const RKT_FAILURE = 254;

export function errorMessage(err: unknown): string {
  return err instanceof Error ? err.message : String(err);
}
