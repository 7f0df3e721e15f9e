import { randomBytes } from 'node:crypto';
import {
  closeSync,
  fstatSync,
  fsyncSync,
  mkdirSync,
  mkdtempSync,
  openSync,
  renameSync,
  rmSync,
  statSync,
  writeSync,
} from 'node:fs';
import { FileLock } from './flock.js';
import { dirname, join } from 'node:path';
import { RocketError, type ErrorKind } from '../errors.js';

/** A store failure of `kind` (the command line makes it rkt's 254). */
export function storeError(message: string, kind: ErrorKind, cause?: unknown): RocketError {
  return new RocketError(message, kind, cause === undefined ? undefined : { cause });
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

/**
 * Temp files and dirs in a store's `cas/tmp` are flock-ed (exclusively, on an fd kept open) for as
 * long as their maker works on them, so `image gc` removes every one that is not (Store.gcTemp),
 * whatever its age: the leftover of a killed process. gc locks what it removes; a maker that finds,
 * once locked, that its path no longer names what it opened lost it to gc between its create and
 * its lock, and makes another.
 */
export function lockFdAtPath(fd: number, path: string): boolean {
  if (!FileLock.tryLockFd(fd, path, 'exclusive')) return false;
  try {
    const st = statSync(path);
    const own = fstatSync(fd);
    return st.ino === own.ino && st.dev === own.dev;
  } catch {
    return false;
  }
}

/** A new temp file in `tmpDir`, flock-ed (see lockFdAtPath); the caller closes the fd. */
export function createLockedTempFile(
  tmpDir: string,
  tag: string,
  mode = 0o660,
): { path: string; fd: number } {
  for (;;) {
    const path = tempName(tmpDir, tag);
    const fd = openSync(path, 'wx', mode);
    if (lockFdAtPath(fd, path)) return { path, fd };
    closeSync(fd);
  }
}

/** A new temp dir in `tmpDir`, flock-ed (see lockFdAtPath) until `release`, which does not remove it. */
export function createLockedTempDir(tmpDir: string, tag: string): { path: string; release: () => void } {
  for (;;) {
    const path = mkdtempSync(join(tmpDir, `${tag}-`));
    const fd = openSync(path, 'r');
    if (lockFdAtPath(fd, path)) return { path, release: releaser(fd) };
    closeSync(fd);
  }
}

/** Closes `fd` once, however often it is called. */
export function releaser(fd: number): () => void {
  let open = true;
  return () => {
    if (open) closeSync(fd);
    open = false;
  };
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
  const { path: tmp, fd } = createLockedTempFile(tmpDir, 'write', mode);
  try {
    let off = 0;
    while (off < data.length) off += writeSync(fd, data, off);
    fsyncSync(fd);
    mkdirSync(dirname(path), { recursive: true });
    renameSync(tmp, path); // still locked: gc never takes it
  } catch (err) {
    rmSync(tmp, { force: true });
    throw err;
  } finally {
    closeSync(fd);
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
