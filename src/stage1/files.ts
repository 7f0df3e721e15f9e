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
import type { App, PodManifest } from '../appc/index.js';
import { RKT_FAILURE, RocketError, errorMessage } from '../errors.js';
import { appTreeStoreId } from '../pod-layout.js';

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

/** Sends a signal to a process; one that is already gone is not an error. */
export function signalPid(pid: number, signal: NodeJS.Signals): void {
  try {
    process.kill(pid, signal);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'ESRCH')
      throw new RocketError(`cannot signal pid ${pid}: ${errorMessage(err)}`, RKT_FAILURE);
  }
}

/**
 * The checks every engine that execs an app itself (fly, kvm) makes of a pod app: an `app`
 * section, a non-empty exec, an absolute working directory, and its rendered tree in the store.
 */
export function appExecBasics(
  ra: PodManifest['apps'][number],
  podDir: string,
  dataDir: string,
): { app: App; exec: string[]; workingDir: string; lower: string } {
  const fail = (message: string): never => {
    throw new RocketError(message, RKT_FAILURE);
  };
  const app = ra.app ?? fail(`app ${JSON.stringify(ra.name)} has no app section`);
  const exec = app.exec ?? [];
  if (exec.length === 0 || exec[0] === '')
    fail(`app ${JSON.stringify(ra.name)}: the image has an empty "exec" (try --exec=BINARY)`);
  const workingDir = app.workingDirectory ?? '/';
  if (!workingDir.startsWith('/'))
    fail(
      `app ${JSON.stringify(ra.name)}: workingDirectory must be absolute, got ${JSON.stringify(workingDir)}`,
    );
  const treeId = appTreeStoreId(podDir, ra.name) ?? fail(`app ${JSON.stringify(ra.name)}: no rendered tree`);
  return { app, exec, workingDir, lower: path.join(dataDir, 'cas', 'tree', treeId, 'rootfs') };
}
