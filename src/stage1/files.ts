/** Small file-system steps the engines share. */
import {
  closeSync,
  constants as fsConstants,
  fstatSync,
  openSync,
  readdirSync,
  rmdirSync,
  statSync,
  writeSync,
} from 'node:fs';
import path from 'node:path';

/**
 * Writes one line to a FIFO (a supervisor's `stage1/ctl`, a VM's console). False if nobody reads
 * it or it is not a FIFO: the open is non-blocking, so a FIFO without a reader fails at once.
 */
export function writeFifoLine(fifo: string, line: string): boolean {
  let fd: number;
  try {
    fd = openSync(fifo, fsConstants.O_WRONLY | fsConstants.O_NONBLOCK);
  } catch {
    return false;
  }
  try {
    if (!fstatSync(fd).isFIFO()) return false;
    writeSync(fd, `${line}\n`);
    return true;
  } catch {
    return false;
  } finally {
    closeSync(fd);
  }
}

/** Removes a cgroup directory tree bottom-up (cgroup dirs can only be rmdir'ed). */
export function rmdirTree(dir: string): void {
  let entries: string[];
  try {
    entries = readdirSync(dir);
  } catch {
    return;
  }
  for (const e of entries) {
    const p = path.join(dir, e);
    try {
      if (statSync(p).isDirectory()) rmdirTree(p);
    } catch {
      // gone
    }
  }
  try {
    rmdirSync(dir);
  } catch {
    // busy or gone
  }
}
