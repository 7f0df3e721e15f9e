import { closeSync, constants, openSync } from 'node:fs';
import { FileLock, type LockMode } from '../store/flock.js';
import { RocketError } from '../errors.js';

/**
 * A flock on a pod directory itself (as rkt's pkg/lock does): the fd is of the directory, so the
 * lock follows the pod through every rename. Releasing closes the fd; so does the death of every
 * process that inherited it, which is how a pod's liveness is observed.
 */
export class DirLock {
  private constructor(
    private fdValue: number | undefined,
    readonly path: string,
  ) {}

  /** The directory fd holding the lock (the engine passes it to the pod's process tree). */
  get fd(): number {
    if (this.fdValue === undefined) throw new RocketError(`${this.path}: lock already released`, 'internal');
    return this.fdValue;
  }

  /** Locks `dir`, or returns undefined at once if another holder conflicts. Throws ENOENT if gone. */
  static tryAcquire(dir: string, mode: LockMode): DirLock | undefined {
    const fd = openSync(dir, constants.O_RDONLY | constants.O_DIRECTORY);
    let ok = false;
    try {
      ok = FileLock.tryLockFd(fd, dir, mode);
    } finally {
      if (!ok) closeSync(fd);
    }
    return ok ? new DirLock(fd, dir) : undefined;
  }

  /** Converts the held lock (flock converts in place; not atomic, as flock(2) documents). */
  tryConvert(mode: LockMode): boolean {
    return FileLock.tryLockFd(this.fd, this.path, mode);
  }

  release(): void {
    if (this.fdValue === undefined) return;
    closeSync(this.fdValue);
    this.fdValue = undefined;
  }
}

/** Whether someone holds a lock on `dir` that conflicts with a shared one (i.e. holds it exclusively). */
export function isLockedExclusively(dir: string): boolean {
  const lock = DirLock.tryAcquire(dir, 'shared');
  if (lock === undefined) return true;
  lock.release();
  return false;
}
