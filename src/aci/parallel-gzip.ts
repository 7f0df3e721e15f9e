/**
 * gzip on every core, as pigz does: the input is cut into fixed-size blocks, each compressed on
 * libuv's thread pool as a gzip member of its own, and the members are written in order. A gzip
 * file may hold several members (RFC 1952 §2.2); gzip, Go's compress/gzip (the reference actool),
 * and Node's gunzip all read them as one stream. Blocks are cut at fixed offsets, so the same
 * bytes always give the same file.
 */
import { once } from 'node:events';
import { availableParallelism } from 'node:os';
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

/**
 * Compressions in flight at most: one per core (more only hold more blocks in memory), at least two
 * so that filling the next block overlaps compressing the last.
 */
function defaultParallelism(): number {
  return Math.min(Number(process.env.UV_THREADPOOL_SIZE ?? 4), Math.max(2, availableParallelism()));
}

export class ParallelGzip extends Writable {
  /** The block being filled, and how much of it is. */
  private block: Buffer | undefined = undefined;
  private used = 0;
  /** Blocks whose compression has finished, for reuse: the input never costs more than this. */
  private readonly free: Buffer[] = [];
  /** Compressions in flight, oldest first; each is written once it and all before it are done. */
  private readonly inFlight: Promise<Buffer>[] = [];
  private readonly maxInFlight: number;

  constructor(
    private readonly out: Writable,
    private readonly level: number,
    parallelism = defaultParallelism(),
  ) {
    super({ highWaterMark: 1024 * 1024 });
    this.maxInFlight = Math.max(1, parallelism);
  }

  override _write(chunk: Buffer, _enc: BufferEncoding, cb: (err?: Error | null) => void): void {
    this.take(chunk).then(
      () => cb(),
      (err: Error) => cb(err),
    );
  }

  override _final(cb: (err?: Error | null) => void): void {
    if (this.block !== undefined && this.used > 0) this.start(this.block, this.used);
    this.block = undefined;
    this.drainAll().then(
      () => {
        this.out.end();
        cb();
      },
      (err: Error) => cb(err),
    );
  }

  /** Copies `chunk` into blocks, starting the compression of each block it fills. */
  private async take(chunk: Buffer): Promise<void> {
    let off = 0;
    while (off < chunk.length) {
      if (this.block === undefined) {
        this.block = this.free.pop() ?? Buffer.allocUnsafe(BLOCK);
        this.used = 0;
      }
      const n = Math.min(chunk.length - off, BLOCK - this.used);
      chunk.copy(this.block, this.used, off, off + n);
      this.used += n;
      off += n;
      if (this.used === BLOCK) {
        this.start(this.block, BLOCK);
        this.block = undefined;
        while (this.inFlight.length >= this.maxInFlight) await this.writeOldest();
      }
    }
  }

  private start(block: Buffer, length: number): void {
    const member = gzipAsync(block.subarray(0, length), { level: this.level, chunkSize: OUT_CHUNK });
    this.inFlight.push(
      member.then((m) => {
        this.free.push(block);
        return m;
      }),
    );
  }

  private async writeOldest(): Promise<void> {
    const member = await (this.inFlight.shift() as Promise<Buffer>);
    if (!this.out.write(member)) await once(this.out, 'drain');
  }

  private async drainAll(): Promise<void> {
    while (this.inFlight.length > 0) await this.writeOldest();
  }
}
