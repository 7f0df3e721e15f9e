/**
 * gzip on every core, as pigz does: the input is cut into fixed-size blocks, each compressed on
 * libuv's thread pool as a gzip member of its own, and the members are written in order. A gzip
 * file may hold several members (RFC 1952 §2.2); gzip, Go's compress/gzip (the reference actool),
 * and Node's gunzip all read them as one stream. Blocks are cut at fixed offsets, so the same
 * bytes always give the same file.
 *
 * Memory: input blocks and output buffers are both reused, so a long conversion allocates a few of
 * each once instead of a fresh pair per 4 MiB (dead buffers that outlive a few young-generation
 * collections wait for a full one, and V8 lets tens of MB of them pile up). An output buffer is
 * filled again once the sink's write callback has fired: the sink must be done with a chunk then,
 * as a file stream is.
 */
import { once } from 'node:events';
import { availableParallelism } from 'node:os';
import { Writable } from 'node:stream';
import { Gzip } from 'node:zlib';

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

/** The fields of Node's zlib streams that hold the output buffer (lib/zlib.js, Node 0.x to 22). */
interface ZlibOutput {
  _outBuffer: Buffer;
  _outOffset: number;
  _chunkSize: number;
}

function hasOutputFields(z: object): z is ZlibOutput {
  const f = z as Partial<ZlibOutput>;
  return Buffer.isBuffer(f._outBuffer) && f._outOffset === 0 && typeof f._chunkSize === 'number';
}

/** A compressed member, and the pooled buffer it lies in (none when it had to be copied). */
interface Member {
  data: Buffer;
  out: Buffer | undefined;
}

/**
 * One gzip member of `input` at `level` (the same bytes as `zlib.gzip`), compressed on the thread
 * pool into `out`, which must be larger than deflate's bound for the input. `zlib.gzip` would
 * allocate a fresh output buffer of its chunk size for every call; here the stream is given `out`
 * in its place. Should a Node release lack the fields this relies on, the member is collected into
 * fresh memory instead (same bytes, only more garbage).
 */
function gzipMember(input: Buffer, level: number, out: Buffer): Promise<Member> {
  return new Promise((resolve, reject) => {
    // The smallest chunk size, so the buffer the constructor allocates is a slice of the pool.
    const gz = new Gzip({ level, chunkSize: 64 });
    const pooled = hasOutputFields(gz);
    if (pooled) {
      gz._outBuffer = out;
      gz._chunkSize = out.length;
    }
    const parts: Buffer[] = [];
    gz.on('data', (chunk: Buffer) => parts.push(chunk));
    gz.once('error', reject);
    gz.once('end', () => {
      // The output comes in a few pushes (the data, then the final flush), one after the other.
      let end = out.byteOffset;
      for (const p of parts)
        end = pooled && p.buffer === out.buffer && p.byteOffset === end ? end + p.length : -1;
      if (end >= out.byteOffset) resolve({ data: out.subarray(0, end - out.byteOffset), out });
      else resolve({ data: Buffer.concat(parts), out: undefined });
    });
    gz.end(input);
  });
}

export class ParallelGzip extends Writable {
  /** The block being filled, and how much of it is. */
  private block: Buffer | undefined = undefined;
  private used = 0;
  /** Blocks whose compression has finished, for reuse: the input never costs more than this. */
  private readonly free: Buffer[] = [];
  /** Output buffers the sink is done with. */
  private readonly outFree: Buffer[] = [];
  /** Compressions in flight, oldest first; each is written once it and all before it are done. */
  private readonly inFlight: Promise<Member>[] = [];
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
    const out = this.outFree.pop() ?? Buffer.allocUnsafe(OUT_CHUNK);
    const member = gzipMember(block.subarray(0, length), this.level, out);
    this.inFlight.push(
      member.then((m) => {
        this.free.push(block);
        if (m.out === undefined) this.releaseOut(out);
        return m;
      }),
    );
  }

  /** Keeps an output buffer for reuse: one per compression in flight, and two being written. */
  private releaseOut(out: Buffer): void {
    if (this.outFree.length < this.maxInFlight + 2) this.outFree.push(out);
  }

  private async writeOldest(): Promise<void> {
    const m = await (this.inFlight.shift() as Promise<Member>);
    const ok = this.out.write(m.data, (err) => {
      if (m.out !== undefined && (err === undefined || err === null)) this.releaseOut(m.out);
    });
    if (!ok) await once(this.out, 'drain');
  }

  private async drainAll(): Promise<void> {
    while (this.inFlight.length > 0) await this.writeOldest();
  }
}
