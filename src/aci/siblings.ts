/**
 * Hidden temp siblings of a file or directory being written (`.<name>.rocket-tmp-<random>`),
 * flock-ed while alive, and the sweep of those a killed process left. Kept apart from output.ts
 * (ACI writing: compression, gzip workers) so that the store's tree lookups load none of that.
 */
import { randomBytes } from 'node:crypto';
import { closeSync, mkdirSync, openSync, readdirSync, rmSync } from 'node:fs';
import { basename, dirname, join } from 'node:path';
import { FileLock } from '../store/flock.js';
import { lockFdAtPath, releaser } from '../store/util.js';

/** A hidden sibling name for a file or directory being written. */
export function tempSibling(path: string): string {
  return join(dirname(path), `.${basename(path)}${TEMP_MARK}${randomBytes(6).toString('hex')}`);
}

const TEMP_MARK = '.rocket-tmp-';

/**
 * A new hidden sibling directory of `path` (tempSibling), flock-ed until `release` (which does not
 * remove it), so that removeAbandonedSiblings can tell a live one from one a killed process left.
 */
export function lockedTempSiblingDir(path: string, mode = 0o700): { path: string; release: () => void } {
  for (;;) {
    const dir = tempSibling(path);
    mkdirSync(dir, mode);
    const fd = openSync(dir, 'r');
    if (lockFdAtPath(fd, dir)) return { path: dir, release: releaser(fd) };
    closeSync(fd); // swept between its mkdir and its lock: make another
  }
}

/**
 * Removes the hidden temp siblings of `path` (`.<name>.rocket-tmp-*`) that no process holds
 * locked: what a killed render or extract into `path` left. Returns the names removed.
 */
export function removeAbandonedSiblings(path: string): string[] {
  const parent = dirname(path);
  const prefix = `.${basename(path)}${TEMP_MARK}`;
  let names: string[];
  try {
    names = readdirSync(parent);
  } catch {
    return [];
  }
  const removed: string[] = [];
  for (const name of names) {
    if (!name.startsWith(prefix)) continue;
    const full = join(parent, name);
    let fd: number;
    try {
      fd = openSync(full, 'r');
    } catch {
      continue;
    }
    try {
      if (!FileLock.tryLockFd(fd, full, 'exclusive')) continue; // a live render or extract
      rmSync(full, { recursive: true, force: true });
      removed.push(name);
    } finally {
      closeSync(fd);
    }
  }
  return removed.sort();
}
