/**
 * Sparse tar entries (PAX sparse 0.1 and 0.0, made here with tar-stream's PAX records): expanded
 * with the holes as zeros, and hostile maps refused with a message naming the entry.
 */
import assert from 'node:assert/strict';
import { Readable } from 'node:stream';
import { describe, it } from 'node:test';
import { ByteSource } from '../../../src/aci/byte-source.js';
import { readTar } from '../../../src/aci/tar-reader.js';
import { makeTar } from './helpers.js';

interface Seen {
  name: string;
  type: string;
  size: number;
  body: Buffer;
}

async function read(tar: Buffer): Promise<Seen[]> {
  const out: Seen[] = [];
  await readTar(
    new ByteSource(Readable.from([tar])),
    async (entry, body) => {
      const chunks: Buffer[] = [];
      for await (const c of body) chunks.push(Buffer.from(c));
      out.push({
        name: entry.header.name,
        type: entry.header.type,
        size: entry.header.size,
        body: Buffer.concat(chunks),
      });
    },
    { source: 'test.aci', sparse: 'expand' },
  );
  return out;
}

const sparseEntry = (pax: Record<string, string>, body: string) =>
  makeTar([{ name: 'GNUSparseFile.0/f', type: 'file', mode: 0o644, body, pax }]);

describe('sparse tar entries', () => {
  it('PAX 0.1: the real name and size, data at its offsets, zeros between', async () => {
    const tar = await sparseEntry(
      { 'GNU.sparse.map': '0,5,9995,5', 'GNU.sparse.size': '10000', 'GNU.sparse.name': 'rootfs/f' },
      'helloworld',
    );
    const [e] = await read(tar);
    assert.equal(e?.name, 'rootfs/f');
    assert.equal(e?.type, 'file');
    assert.equal(e?.size, 10000);
    const want = Buffer.alloc(10000);
    want.write('hello', 0);
    want.write('world', 9995);
    assert.deepEqual(e?.body, want);
  });

  it('PAX 0.0: repeated offset/numbytes records', async () => {
    // tar-stream writes records in key order of the object; 0.0 needs them paired in order,
    // which one offset and one numbytes give.
    const tar = await sparseEntry(
      { 'GNU.sparse.offset': '3', 'GNU.sparse.numbytes': '2', 'GNU.sparse.size': '8' },
      'ab',
    );
    const [e] = await read(tar);
    assert.deepEqual(e?.body, Buffer.from([0, 0, 0, 0x61, 0x62, 0, 0, 0]));
  });

  for (const [what, pax, body] of [
    ['overlapping segments', { 'GNU.sparse.map': '0,5,3,5', 'GNU.sparse.size': '100' }, 'helloworld'],
    ['a segment past the real size', { 'GNU.sparse.map': '98,5', 'GNU.sparse.size': '100' }, 'hello'],
    ['stored data shorter than the map', { 'GNU.sparse.map': '0,5,10,5', 'GNU.sparse.size': '100' }, 'hello'],
    ['an odd map', { 'GNU.sparse.map': '0,5,10', 'GNU.sparse.size': '100' }, 'hello'],
    ['a bad real size', { 'GNU.sparse.map': '0,5', 'GNU.sparse.size': '-1' }, 'hello'],
  ] as const) {
    it(`refuses ${what}`, async () => {
      await assert.rejects(
        read(await sparseEntry(pax, body)),
        /^Error: test\.aci: (invalid sparse|sparse map does not match)/,
      );
    });
  }

  it('without expand, a sparse entry stays unsupported (byte-for-byte copies)', async () => {
    const tar = await sparseEntry({ 'GNU.sparse.map': '0,5', 'GNU.sparse.size': '100' }, 'hello');
    const out: string[] = [];
    await readTar(new ByteSource(Readable.from([tar])), (entry) => void out.push(entry.header.type), {
      source: 't',
    });
    assert.deepEqual(out, ['unsupported']);
  });
});
