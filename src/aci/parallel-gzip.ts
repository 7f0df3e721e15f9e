/**
 * gzip on every core, as pigz does: the input is cut into fixed-size blocks, each compressed on
 * libuv's thread pool as a gzip member of its own, and the members are written in order. A gzip
 * file may hold several members (RFC 1952 §2.2); gzip, Go's compress/gzip (the reference actool),
 * and Node's gunzip all read them as one stream. Blocks are cut at fixed offsets, so the same
 * bytes always give the same file.
 */
import { once } from 'node:events';
import { Writable } from 'node:stream';
import { promisify } from 'node:util';
import { gzip } from 'node:zlib';

const gzipAsync = promisify(gzip);

/** Large enough that the lost shared dictionary costs well under 1 % of the output. */
const BLOCK = 4 * 1024 * 1024;

/**
 * zlib's output buffer: more than deflate can produce from one block (its bound is the input plus
 * ~0.03 % plus a few bytes), so each block is compressed by one job on the thread pool. With the
 * default 16 KiB, a block took ~100 round trips through the main thread, and the pool stalled
 * whenever the main thread was busy parsing tar.
 */
const OUT_CHUNK = BLOCK + 64 * 1024;

export class ParallelGzip extends Writable {
  private pending: Buffer[] = [];
  private pendingBytes = 0;
  /** Compressions in flight, oldest first; each is written once it and all before it are done. */
  private readonly inFlight: Promise<Buffer>[] = [];
  private readonly maxInFlight: number;

  constructor(
    private readonly out: Writable,
    private readonly level: number,
    parallelism = Number(process.env.UV_THREADPOOL_SIZE ?? 4),
  ) {
    super({ highWaterMark: BLOCK });
    this.maxInFlight = Math.max(1, parallelism);
  }

  override _write(chunk: Buffer, _enc: BufferEncoding, cb: (err?: Error | null) => void): void {
    this.pending.push(chunk);
    this.pendingBytes += chunk.length;
    this.startFullBlocks().then(
      () => cb(),
      (err: Error) => cb(err),
    );
  }

  override _final(cb: (err?: Error | null) => void): void {
    const rest = Buffer.concat(this.pending);
    this.pending = [];
    this.pendingBytes = 0;
    if (rest.length > 0) this.inFlight.push(gzipAsync(rest, { level: this.level, chunkSize: OUT_CHUNK }));
    this.drainAll().then(
      () => {
        this.out.end();
        cb();
      },
      (err: Error) => cb(err),
    );
  }

  private async startFullBlocks(): Promise<void> {
    while (this.pendingBytes >= BLOCK) {
      const all = Buffer.concat(this.pending);
      const block = all.subarray(0, BLOCK);
      const rest = all.subarray(BLOCK);
      this.pending = rest.length > 0 ? [rest] : [];
      this.pendingBytes = rest.length;
      this.inFlight.push(gzipAsync(block, { level: this.level, chunkSize: OUT_CHUNK }));
      while (this.inFlight.length >= this.maxInFlight) await this.writeOldest();
    }
  }

  private async writeOldest(): Promise<void> {
    const member = await (this.inFlight.shift() as Promise<Buffer>);
    if (!this.out.write(member)) await once(this.out, 'drain');
  }

  private async drainAll(): Promise<void> {
    while (this.inFlight.length > 0) await this.writeOldest();
  }
}
