import { closeSync, constants, openSync } from 'node:fs';
import { requireNative } from '../native.js';
import { setTimeout as sleep } from 'node:timers/promises';
import { RocketError } from '../errors.js';

/**
 * Advisory flock(2) locks through koffi (Node has no flock; fs-ext is not installed). flock, not
 * fcntl: the kernel drops it when the holder dies (even by SIGKILL), it is what rkt and `flock(1)`
 * use, and it belongs to the open file description, so two fds of this process conflict like two
 * processes do. Waiting is done by polling LOCK_NB with a short sleep: a blocking flock would block
 * Node's only JS thread, and with it the holder if that holder is this same process.
 */
interface FlockLib {
  flock(fd: number, op: number): number;
  syncfs(fd: number): number;
  errno(): number;
}

const LOCK_SH = 1;
const LOCK_EX = 2;
const LOCK_NB = 4;
const EINTR = 4;
const EWOULDBLOCK = 11;

let lib: FlockLib | undefined;

function load(): FlockLib {
  if (lib !== undefined) return lib;
  // Loaded lazily and synchronously: koffi is native, and most commands never lock anything.
  const koffi = requireNative<typeof import('koffi')>('koffi');
  const libc = koffi.load('libc.so.6');
  lib = {
    flock: libc.func('int flock(int fd, int op)') as FlockLib['flock'],
    syncfs: libc.func('int syncfs(int fd)') as FlockLib['syncfs'],
    errno: () => koffi.errno(),
  };
  return lib;
}

export type LockMode = 'shared' | 'exclusive';

/** Returns true if locked, false if another holder conflicts; throws on other errors. */
function tryFlock(fd: number, mode: LockMode, path: string): boolean {
  const c = load();
  for (;;) {
    if (c.flock(fd, (mode === 'shared' ? LOCK_SH : LOCK_EX) | LOCK_NB) === 0) return true;
    const errno = c.errno();
    if (errno === EINTR) continue;
    if (errno === EWOULDBLOCK) return false;
    throw new RocketError(`${path}: flock failed (errno ${errno})`, 'internal');
  }
}

/** A held lock on a file; `release` closes the fd, which is what drops a flock. */
export class FileLock {
  private fd: number | undefined;

  private constructor(
    fd: number,
    readonly path: string,
  ) {
    this.fd = fd;
  }

  /** Locks `path` (created if missing) or returns undefined at once if someone else holds it. */
  static tryAcquire(path: string, mode: LockMode): FileLock | undefined {
    const fd = openLockFile(path);
    let ok = false;
    try {
      ok = tryFlock(fd, mode, path);
    } finally {
      if (!ok) closeSync(fd);
    }
    return ok ? new FileLock(fd, path) : undefined;
  }

  /** Locks `path`, waiting for other holders (polling, so this process's own holders can finish). */
  static async acquire(path: string, mode: LockMode, timeoutMs = Infinity): Promise<FileLock> {
    const deadline = Date.now() + timeoutMs;
    let delay = 1;
    for (;;) {
      const lock = FileLock.tryAcquire(path, mode);
      if (lock !== undefined) return lock;
      if (Date.now() >= deadline) throw new RocketError(`${path}: timed out waiting for lock`, 'unavailable');
      await sleep(delay);
      delay = Math.min(delay * 2, 50);
    }
  }

  /** Takes a lock on an already open fd (for files whose fd the caller keeps, like temp files). */
  static tryLockFd(fd: number, path: string, mode: LockMode): boolean {
    return tryFlock(fd, mode, path);
  }

  release(): void {
    if (this.fd === undefined) return;
    closeSync(this.fd);
    this.fd = undefined;
  }
}

function openLockFile(path: string): number {
  try {
    return openSync(path, constants.O_RDONLY | constants.O_CREAT, 0o660);
  } catch (err) {
    throw new RocketError(
      `${path}: cannot open lock file: ${(err as NodeJS.ErrnoException).code ?? String(err)}`,
      'unavailable',
      {
        cause: err,
      },
    );
  }
}

/** Runs `fn` holding the lock, and releases it whatever happens. */
export async function withLock<T>(path: string, mode: LockMode, fn: () => Promise<T> | T): Promise<T> {
  const lock = await FileLock.acquire(path, mode);
  try {
    return await fn();
  } finally {
    lock.release();
  }
}

/**
 * syncfs(2) on the filesystem holding `path`: one call makes a whole rendered tree durable before its
 * `rendered` marker is written (rkt does the same), instead of an fsync per file.
 */
export function syncFilesystem(path: string): void {
  const c = load();
  const fd = openSync(path, constants.O_RDONLY);
  try {
    if (c.syncfs(fd) !== 0) throw new RocketError(`${path}: syncfs failed (errno ${c.errno()})`, 'internal');
  } finally {
    closeSync(fd);
  }
}
