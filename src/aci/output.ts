import { createHash, type Hash } from 'node:crypto';
import {
  createWriteStream,
  existsSync,
  linkSync,
  renameSync,
  rmSync,
  unlinkSync,
  type WriteStream,
} from 'node:fs';
import { extname } from 'node:path';
import { once } from 'node:events';
import type { Writable } from 'node:stream';
import { finished } from 'node:stream/promises';
import { RocketError } from '../errors.js';
import { IO_CHUNK } from './compression.js';
import { ParallelGzip } from './parallel-gzip.js';
import { IMAGE_ID_PREFIX } from './read.js';
import { tempSibling } from './siblings.js';

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

export { lockedTempSiblingDir, removeAbandonedSiblings, tempSibling } from './siblings.js';

/** Written blocks AciOutput keeps for reuse. */
const SPARE_BLOCKS = 4;

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
