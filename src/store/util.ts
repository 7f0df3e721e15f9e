import { randomBytes } from 'node:crypto';
import { closeSync, fsyncSync, mkdirSync, openSync, renameSync, rmSync, writeSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { RKT_FAILURE, RocketError } from '../errors.js';

/** Store failures end the command with rkt's own failure status. */
export function storeError(message: string, cause?: unknown): RocketError {
  return new RocketError(message, RKT_FAILURE, cause === undefined ? undefined : { cause });
}

export function errCode(err: unknown): string | undefined {
  return (err as NodeJS.ErrnoException | undefined)?.code;
}

export function describeError(err: unknown): string {
  if (err instanceof Error) {
    const code = errCode(err);
    return code !== undefined && !err.message.includes(code) ? `${code}: ${err.message}` : err.message;
  }
  return String(err);
}

/** A fresh unique name inside `dir` (nothing is created). */
export function tempName(dir: string, tag: string): string {
  return join(dir, `${tag}-${process.pid}-${randomBytes(6).toString('hex')}`);
}

/** fsyncs a directory so that renames and unlinks in it survive a crash. */
export function fsyncDir(dir: string): void {
  const fd = openSync(dir, 'r');
  try {
    fsyncSync(fd);
  } finally {
    closeSync(fd);
  }
}

/**
 * Writes `data` to `path` atomically: a synced temp file in `tmpDir` (same filesystem) renamed over
 * the target, then the target's directory synced. A crash leaves the old file or the new one.
 */
export function writeFileAtomic(path: string, data: Buffer, tmpDir: string, mode = 0o660): void {
  const tmp = tempName(tmpDir, 'write');
  const fd = openSync(tmp, 'wx', mode);
  try {
    let off = 0;
    while (off < data.length) off += writeSync(fd, data, off);
    fsyncSync(fd);
  } catch (err) {
    closeSync(fd);
    rmSync(tmp, { force: true });
    throw err;
  }
  closeSync(fd);
  try {
    mkdirSync(dirname(path), { recursive: true });
    renameSync(tmp, path);
  } catch (err) {
    rmSync(tmp, { force: true });
    throw err;
  }
  fsyncDir(dirname(path));
}

/** Removes a file, ignoring a missing one; returns whether it was there. */
export function removeIfExists(path: string): boolean {
  try {
    rmSync(path, { recursive: true });
    return true;
  } catch (err) {
    if (errCode(err) === 'ENOENT') return false;
    throw err;
  }
}
