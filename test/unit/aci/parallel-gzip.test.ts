import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { Writable } from 'node:stream';
import { describe, it } from 'node:test';
import { gunzipSync, gzipSync } from 'node:zlib';
import { ParallelGzip } from '../../../src/aci/parallel-gzip.js';

const MIB = 1024 * 1024;

/** Everything `write` hands to a ParallelGzip, in chunks of the given sizes, as the bytes it writes. */
async function compress(
  input: Buffer,
  chunkSizes: number[],
  parallelism?: number,
  seen?: Set<ArrayBufferLike>,
): Promise<Buffer> {
  const parts: Buffer[] = [];
  const sink = new Writable({
    write(chunk: Buffer, _enc, cb) {
      seen?.add(chunk.buffer);
      // A copy: ParallelGzip fills its output buffers again once the write callback has fired.
      parts.push(Buffer.from(chunk));
      cb();
    },
  });
  const finished = new Promise<void>((resolve, reject) => {
    sink.once('finish', resolve);
    sink.once('error', reject);
  });
  const gz = new ParallelGzip(sink, 6, parallelism);
  let off = 0;
  for (let i = 0; off < input.length; i++) {
    const n = chunkSizes[i % chunkSizes.length] as number;
    if (!gz.write(input.subarray(off, off + n))) await new Promise((r) => gz.once('drain', r));
    off += n;
  }
  gz.end();
  await finished;
  return Buffer.concat(parts);
}

describe('ParallelGzip', () => {
  // Half random, half text-like, so that members differ in size and compress unevenly.
  const input = Buffer.concat([
    randomBytes(5 * MIB),
    Buffer.from('rocket docker2aci parallel gzip '.repeat((4.5 * MIB) / 32 + 7)),
  ]);
  // The file format: one gzip member per 4 MiB of input, at fixed offsets, in order.
  const expected = Buffer.concat(
    [0, 4 * MIB, 8 * MIB].map((at) => gzipSync(input.subarray(at, at + 4 * MIB), { level: 6 })),
  );

  it('writes one member per 4 MiB block whatever the write sizes and the parallelism', async () => {
    for (const [sizes, parallelism] of [
      [[MIB], 1],
      [[12345, 3 * MIB + 17, 512], 2],
      [[5 * MIB], 4],
    ] as [number[], number][]) {
      const out = await compress(input, sizes, parallelism);
      assert.ok(out.equals(expected), `chunks ${sizes.join(',')}, ${parallelism} in flight`);
    }
    assert.ok(gunzipSync(expected).equals(input));
  });

  it('writes nothing for no input, and one short member for less than a block', async () => {
    assert.equal((await compress(Buffer.alloc(0), [MIB])).length, 0);
    const small = input.subarray(0, 1000);
    assert.ok((await compress(small, [300])).equals(gzipSync(small, { level: 6 })));
  });

  it('fills the same few output buffers again instead of a fresh one per member', async () => {
    const big = Buffer.concat(Array.from({ length: 10 }, () => input));
    const seen = new Set<ArrayBufferLike>();
    const out = await compress(big, [MIB], 2, seen);
    assert.ok(gunzipSync(out).equals(big));
    // 24 members through at most 2 compressions in flight and 2 being written.
    assert.ok(seen.size <= 4, `${seen.size} output buffers`);
  });
});
