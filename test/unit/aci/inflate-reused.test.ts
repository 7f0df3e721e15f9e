/**
 * decompressedChunks: gzip inflated on this thread into one reused buffer (docker2aci's pass 2), and
 * ByteSource over such chunks. The bytes must be gunzip's, whatever the members, chunking, trailing
 * bytes; errors must name the source; and what a reader holds must survive the buffer's reuse.
 */
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { describe, it } from 'node:test';
import { Readable } from 'node:stream';
import { gunzipSync, gzipSync } from 'node:zlib';
import { ByteSource } from '../../../src/aci/byte-source.js';
import { decompressedChunks } from '../../../src/aci/compression.js';
import { RocketError } from '../../../src/errors.js';

/** Compressible but not trivial: random words. */
function text(n: number): Buffer {
  const words = ['alpha', 'beta', 'gamma', 'delta', 'epsilon', '\n', randomBytes(3).toString('hex')];
  const parts: string[] = [];
  let len = 0;
  while (len < n) {
    const w = words[Math.floor(Math.random() * words.length)] as string;
    parts.push(w);
    len += w.length + 1;
  }
  return Buffer.from(parts.join(' ')).subarray(0, n);
}

/** `bytes` as a stream of chunks of the given sizes (cycled). */
function chunked(bytes: Buffer, sizes: number[]): Readable {
  const chunks: Buffer[] = [];
  for (let off = 0, i = 0; off < bytes.length; i++) {
    const n = sizes[i % sizes.length] as number;
    chunks.push(bytes.subarray(off, off + n));
    off += n;
  }
  return Readable.from(chunks, { objectMode: false });
}

/** Every chunk copied before the next is asked for, and how many distinct buffers they lay in. */
async function collect(
  chunks: AsyncIterable<Buffer>,
): Promise<{ bytes: Buffer; n: number; buffers: number }> {
  const copies: Buffer[] = [];
  const buffers = new Set<ArrayBufferLike>();
  for await (const c of chunks) {
    copies.push(Buffer.from(c));
    buffers.add(c.buffer);
  }
  return { bytes: Buffer.concat(copies), n: copies.length, buffers: buffers.size };
}

describe('decompressedChunks (gzip inflated into a reused buffer)', () => {
  it('gives gunzip’s bytes for several members, in odd chunks, through one buffer', async () => {
    const plain = [text(300_000), randomBytes(100_000), Buffer.alloc(0), text(50_000)];
    const gz = Buffer.concat(plain.map((p) => gzipSync(p)));
    const { compression, chunks, reused } = await decompressedChunks(
      chunked(gz, [7, 4096, 65_537, 1]),
      'x',
      16_384,
    );
    assert.equal(compression, 'gzip');
    assert.equal(reused, true);
    const got = await collect(chunks);
    assert.ok(got.bytes.equals(Buffer.concat(plain)));
    assert.ok(got.n > 20, `${got.n} chunks`);
    assert.equal(got.buffers, 1);
  });

  it('ignores zeros after the gzip data, as gunzip does, and still reads the source to its end', async () => {
    const plain = text(200_000);
    const gz = Buffer.concat([gzipSync(plain), Buffer.alloc(5000)]);
    assert.ok(gunzipSync(gz).equals(plain));
    let ended = false;
    const source = chunked(gz, [1000]);
    source.once('end', () => (ended = true));
    const { chunks } = await decompressedChunks(source, 'x', 8192);
    assert.ok((await collect(chunks)).bytes.equals(plain));
    assert.equal(ended, true);
  });

  it('refuses truncated and corrupt data, naming the source', async () => {
    const gz = gzipSync(text(100_000));
    const truncated = await decompressedChunks(
      chunked(gz.subarray(0, gz.length - 20), [999]),
      'layer L',
      4096,
    );
    await assert.rejects(
      collect(truncated.chunks),
      (e: unknown) =>
        e instanceof RocketError && e.message === 'layer L: cannot decompress (gzip): unexpected end of file',
    );
    const bad = Buffer.from(gz);
    for (let i = 100; i < 140; i++) bad[i] = (bad[i] ?? 0) ^ 0x5a;
    const corrupt = await decompressedChunks(chunked(bad, [999]), 'layer L', 4096);
    await assert.rejects(
      collect(corrupt.chunks),
      (e: unknown) => e instanceof RocketError && e.message.startsWith('layer L: cannot decompress (gzip): '),
    );
  });

  it('passes the source’s own error through (a digest mismatch at its end)', async () => {
    const gz = gzipSync(text(50_000));
    function* failing(): Generator<Buffer> {
      yield gz;
      throw new RocketError('blob B: digest mismatch');
    }
    const { chunks } = await decompressedChunks(Readable.from(failing(), { objectMode: false }), 'x', 4096);
    await assert.rejects(
      collect(chunks),
      (e: unknown) => e instanceof RocketError && e.message === 'blob B: digest mismatch',
    );
  });

  it('hands other data over as it comes (not reused)', async () => {
    const tar = Buffer.concat([Buffer.alloc(257), Buffer.from('ustar\x0000'), Buffer.alloc(1024 - 264, 1)]);
    const { compression, chunks, reused } = await decompressedChunks(chunked(tar, [100]), 'x', 4096);
    assert.equal(compression, 'none');
    assert.equal(reused, false);
    assert.ok((await collect(chunks)).bytes.equals(tar));
  });
});

describe('ByteSource over reused chunks', () => {
  it('keeps queued bytes intact when the source fills its buffer again', async () => {
    const data = randomBytes(10_000);
    const shared = Buffer.alloc(300);
    async function* reusing(): AsyncGenerator<Buffer> {
      for (let off = 0; off < data.length; off += shared.length) {
        await Promise.resolve(); // as a real source, between chunks
        const n = data.copy(shared, 0, off, off + shared.length);
        yield shared.subarray(0, n);
      }
    }
    const src = new ByteSource(reusing(), undefined, true);
    const out: Buffer[] = [];
    // Reads of 512 straddle chunks of 300: each keeps a tail of the last chunk across a pull.
    for (let got = 0; got < data.length;) {
      const b = await src.read(Math.min(512, data.length - got));
      out.push(Buffer.from(b));
      got += b.length;
      const some = await src.readSome(77);
      out.push(Buffer.from(some));
      got += some.length;
    }
    assert.ok(Buffer.concat(out).equals(data));
  });
});
