/**
 * Pulls exact byte counts out of a chunked async source without copying when it can. Every chunk is
 * shown to `onChunk` exactly once, in order, as it is pulled: that is how the image ID hash sees the
 * whole decompressed stream, including what follows the tar end-of-archive blocks (see `drain`).
 */
export class ByteSource {
  private readonly iter: AsyncIterator<Uint8Array>;
  private readonly queue: Buffer[] = [];
  private head = 0;
  private buffered = 0;
  private ended = false;
  /** Bytes handed out so far (the offset of the next byte). */
  position = 0;

  /**
   * `reusedChunks`: the source may fill a chunk's memory again once it is asked for the next one
   * (decompressedChunks). Bytes still queued are then copied before each pull, and a caller must be
   * done with what a call returned before its next call (readTar is).
   */
  constructor(
    source: AsyncIterable<Uint8Array>,
    private readonly onChunk?: (chunk: Buffer) => void,
    private readonly reusedChunks = false,
  ) {
    this.iter = source[Symbol.asyncIterator]();
  }

  private async pull(): Promise<boolean> {
    if (this.ended) return false;
    if (this.reusedChunks) {
      for (let i = this.head; i < this.queue.length; i++) {
        this.queue[i] = Buffer.from(this.queue[i] as Buffer);
      }
    }
    const r = await this.iter.next();
    if (r.done === true) {
      this.ended = true;
      return false;
    }
    const v = r.value;
    const chunk = Buffer.isBuffer(v) ? v : Buffer.from(v.buffer, v.byteOffset, v.byteLength);
    if (chunk.length === 0) return true;
    this.onChunk?.(chunk);
    this.queue.push(chunk);
    this.buffered += chunk.length;
    return true;
  }

  /** Up to `n` bytes from the queue, as a slice of one chunk. Requires buffered > 0. */
  private shift(n: number): Buffer {
    const first = this.queue[this.head] as Buffer;
    let out: Buffer;
    if (first.length <= n) {
      out = first;
      this.queue[this.head] = undefined as unknown as Buffer;
      this.head++;
      if (this.head > 1024) {
        this.queue.splice(0, this.head);
        this.head = 0;
      }
    } else {
      out = first.subarray(0, n);
      this.queue[this.head] = first.subarray(n);
    }
    this.buffered -= out.length;
    this.position += out.length;
    return out;
  }

  /** Exactly `n` bytes, or fewer only at the end of the source. */
  async read(n: number): Promise<Buffer> {
    while (this.buffered < n && (await this.pull()));
    if (this.buffered === 0) return Buffer.alloc(0);
    const first = this.shift(n);
    if (first.length === n || this.buffered === 0) return first;
    const parts = [first];
    let got = first.length;
    while (got < n && this.buffered > 0) {
      const p = this.shift(n - got);
      parts.push(p);
      got += p.length;
    }
    return Buffer.concat(parts, got);
  }

  /** Up to `n` bytes (at least one unless the source has ended), as one slice. */
  async readSome(n: number): Promise<Buffer> {
    while (this.buffered === 0) if (!(await this.pull())) return Buffer.alloc(0);
    return this.shift(n);
  }

  /** Discards `n` bytes; returns how many there were. */
  async skip(n: number): Promise<number> {
    let left = n;
    while (left > 0) {
      if (this.buffered === 0 && !(await this.pull())) break;
      if (this.buffered === 0) continue;
      left -= this.shift(left).length;
    }
    return n - left;
  }

  /** Consumes the source to its end (the hash must see every byte). */
  async drain(): Promise<void> {
    while (this.buffered > 0) this.shift(this.buffered);
    while (await this.pull()) {
      while (this.buffered > 0) this.shift(this.buffered);
    }
  }

  /** Stops the source early (on error, or once a caller has what it needs). */
  async cancel(): Promise<void> {
    this.ended = true;
    await this.iter.return?.();
  }
}
