/**
 * The command line's edge: the exit code a failure ends with. rkt ends every failure of its own
 * with 254, whatever its kind; actool and docker2aci end with the code their command line chose,
 * else 1, as the reference tools do.
 */
import { RKT_FAILURE, RocketError, type ErrorKind } from '../errors.js';

/** `rkt`, or the appc tools (actool, docker2aci). */
export type Tool = 'rkt' | 'appc';

const RKT_CODES: Record<ErrorKind, number> = {
  'invalid-argument': RKT_FAILURE,
  'not-found': RKT_FAILURE,
  'already-exists': RKT_FAILURE,
  'failed-precondition': RKT_FAILURE,
  'permission-denied': RKT_FAILURE,
  unavailable: RKT_FAILURE,
  internal: RKT_FAILURE,
  unknown: RKT_FAILURE,
};

const APPC_CODES: Record<ErrorKind, number> = {
  'invalid-argument': 1,
  'not-found': 1,
  'already-exists': 1,
  'failed-precondition': 1,
  'permission-denied': 1,
  unavailable: 1,
  internal: 1,
  unknown: 1,
};

/** The exit code for a failure of `kind` in `tool`. */
export function exitCodeForKind(tool: Tool, kind: ErrorKind): number {
  return (tool === 'rkt' ? RKT_CODES : APPC_CODES)[kind];
}

/** The exit code of any failure: rkt's 254; else a RocketError's chosen code or its kind's, a bug 1. */
export function exitCodeOf(tool: Tool, err: unknown): number {
  if (tool === 'rkt') return RKT_FAILURE;
  if (err instanceof RocketError) return err.exitCode ?? exitCodeForKind(tool, err.kind);
  return 1;
}
