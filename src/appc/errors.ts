import { RocketError } from '../errors.js';

/**
 * A manifest or value that breaks the appc spec. The message is one line, `<path>: <reason>`, where
 * the path is the JSON path of the offending field (`app.isolators[1].value.limit`), prefixed with the
 * source file name when one is known.
 */
export class AppcError extends RocketError {
  constructor(message: string, exitCode = 1, options?: { cause?: unknown }) {
    super(message, exitCode, options);
    this.name = 'AppcError';
  }
}

/** Joins a path and a reason; an empty path (the whole document) gives just the reason. */
export function appcError(path: string, reason: string, source?: string): AppcError {
  const located = path === '' ? reason : `${path}: ${reason}`;
  return new AppcError(source === undefined ? located : `${source}: ${located}`);
}
