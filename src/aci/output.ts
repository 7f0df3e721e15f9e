import { createHash, randomBytes, type Hash } from 'node:crypto';
import {
  closeSync,
  createWriteStream,
  existsSync,
  linkSync,
  mkdirSync,
  openSync,
  readdirSync,
  renameSync,
  rmSync,
  unlinkSync,
  type WriteStream,
} from 'node:fs';
import { basename, dirname, extname, join } from 'node:path';
import { once } from 'node:events';
import type { Writable } from 'node:stream';
import { finished } from 'node:stream/promises';
import { RocketError } from '../errors.js';
import { FileLock } from '../store/flock.js';
import { lockFdAtPath, releaser } from '../store/util.js';
import { IO_CHUNK } from './compression.js';
import { ParallelGzip } from './parallel-gzip.js';
import { IMAGE_ID_PREFIX } from './read.js';

export type OutputCompression = 'gzip' | 'none';

export interface OutputOptions {
  compression?: OutputCompression;
  /** Replace an existing output file. */
  overwrite?: boolean;
  /** gzip level (default 6, as Go's and gzip's default). */
  gzipLevel?: number;
  /** fsync the file before it is renamed into place. */
  fsync?: boolean;
}

/** A hidden sibling name for a file or directory being written. */
export function tempSibling(path: string): string {
  return join(dirname(path), `.${basename(path)}${TEMP_MARK}${randomBytes(6).toString('hex')}`);
}

const TEMP_MARK = '.rocket-tmp-';

/** Written blocks AciOutput keeps for reuse. */
const SPARE_BLOCKS = 4;

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

/** The `.aci` suffix rule of actool build and patch-manifest. */
export function requireAciExtension(path: string): void {
  const ext = extname(path);
  if (ext !== '.aci') throw new RocketError(`${path}: extension must be .aci (given "${ext}")`);
}

export function refuseExisting(path: string, overwrite: boolean | undefined): void {
  if (overwrite !== true && existsSync(path)) {
    throw new RocketError(`${path}: target file exists (try --overwrite)`);
  }
}

/**
 * An ACI being written: tar bytes go in (already framed), are hashed for the image ID, compressed
 * and written to a temp file next to the target, which `commit` moves into place. Small writes are
 * gathered into 1 MiB blocks so hashing and compression see few, large chunks; `reserve` lets a
 * caller read file data straight into the current block.
 */
export class AciOutput {
  private readonly hash: Hash = createHash('sha512');
  private readonly file: WriteStream;
  private readonly sink: Writable;
  private readonly done: Promise<void>;
  private block: Buffer = Buffer.allocUnsafe(IO_CHUNK);
  /** Blocks the sink is done with, for reuse. */
  private readonly spare: Buffer[] = [];
  private used = 0;
  private failed: Error | undefined = undefined;
  readonly tempPath: string;

  constructor(
    readonly path: string,
    private readonly opts: OutputOptions,
  ) {
    this.tempPath = tempSibling(path);
    this.file = createWriteStream(this.tempPath, { flags: 'wx', mode: 0o644, highWaterMark: IO_CHUNK });
    if (opts.compression === 'none') {
      this.sink = this.file;
      this.done = finished(this.file);
    } else {
      const gz = new ParallelGzip(this.file, opts.gzipLevel ?? 6);
      gz.once('error', (err) => this.file.destroy(err));
      this.sink = gz;
      this.done = finished(this.file);
    }
    this.done.catch((err: Error) => {
      this.failed = err;
    });
  }

  /** Appends bytes (copied if small, passed through if large). */
  async write(data: Buffer): Promise<void> {
    if (data.length >= IO_CHUNK / 4) {
      await this.flush();
      await this.emit(data);
      return;
    }
    let off = 0;
    while (off < data.length) {
      const n = Math.min(data.length - off, this.block.length - this.used);
      data.copy(this.block, this.used, off, off + n);
      this.used += n;
      off += n;
      if (this.used === this.block.length) await this.flush();
    }
  }

  /** Space in the current block for up to `max` bytes; call `commitReserved(n)` after filling it. */
  async reserve(max: number): Promise<Buffer> {
    if (this.used === this.block.length) await this.flush();
    return this.block.subarray(this.used, this.used + Math.min(max, this.block.length - this.used));
  }

  async commitReserved(n: number): Promise<void> {
    this.used += n;
    if (this.used === this.block.length) await this.flush();
  }

  async flush(): Promise<void> {
    if (this.used === 0) return;
    const block = this.block;
    const out = block.subarray(0, this.used);
    this.block = this.spare.pop() ?? Buffer.allocUnsafe(IO_CHUNK);
    this.used = 0;
    // Once the sink is done with a block (compressed, or written to the file), it is filled again:
    // a fresh 1 MiB block per MiB would only wait, dead, for the next garbage collection.
    await this.emit(out, () => {
      if (this.spare.length < SPARE_BLOCKS) this.spare.push(block);
    });
  }

  private async emit(data: Buffer, written?: () => void): Promise<void> {
    this.throwIfFailed();
    this.hash.update(data);
    const ok = this.sink.write(data, (err) => {
      if (err === undefined || err === null) written?.();
    });
    if (!ok) await Promise.race([once(this.sink, 'drain'), this.done]);
    this.throwIfFailed();
  }

  private throwIfFailed(): void {
    if (this.failed !== undefined) throw this.failed;
  }

  /** Finishes the file and moves it into place; returns the image ID. */
  async commit(): Promise<string> {
    await this.flush();
    this.sink.end();
    await this.done;
    if (this.opts.fsync === true) {
      const { open } = await import('node:fs/promises');
      const fh = await open(this.tempPath, 'r');
      await fh.sync();
      await fh.close();
    }
    const imageId = IMAGE_ID_PREFIX + this.hash.digest('hex');
    if (this.opts.overwrite === true) {
      renameSync(this.tempPath, this.path);
    } else {
      // link() fails if the target appeared meanwhile, where rename() would replace it.
      try {
        linkSync(this.tempPath, this.path);
      } catch (err) {
        if ((err as NodeJS.ErrnoException).code === 'EEXIST') {
          throw new RocketError(`${this.path}: target file exists (try --overwrite)`);
        }
        throw err;
      } finally {
        unlinkSync(this.tempPath);
      }
    }
    return imageId;
  }

  /** Removes the temp file after a failure. */
  async abort(): Promise<void> {
    this.sink.destroy();
    if (!this.file.closed) {
      const closed = once(this.file, 'close').catch(() => undefined);
      this.file.destroy();
      await closed;
    }
    rmSync(this.tempPath, { force: true });
  }
}
