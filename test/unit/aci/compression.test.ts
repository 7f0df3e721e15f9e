import assert from 'node:assert/strict';
import { createReadStream, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import {
  detectFileType,
  imageIdOf,
  openDecompressed,
  readAci,
  sniffFile,
  validateArchive,
} from '../../../src/aci/index.js';
import { RocketError } from '../../../src/errors.js';
import { dirEntry, fileEntry, hasCommand, makeTar, manifestEntry, sh, tempDir } from './helpers.js';
import { skipUnlessCI } from '../../helpers.js';

describe('detectFileType', () => {
  const tarHead = Buffer.alloc(512);
  tarHead.write('ustar', 257, 'latin1');
  const cases: [string, Buffer, string][] = [
    ['gzip', Buffer.from([0x1f, 0x8b, 8, 0]), 'gzip'],
    ['bzip2', Buffer.from('BZh91AY&SY'), 'bzip2'],
    ['xz', Buffer.from([0xfd, 0x37, 0x7a, 0x58, 0x5a, 0x00, 0, 4]), 'xz'],
    ['zstd (our extension)', Buffer.from([0x28, 0xb5, 0x2f, 0xfd, 0x24]), 'zstd'],
    ['plain tar (ustar at 257)', tarHead, 'tar'],
    ['tar magic cut at 262 bytes (REF needs more)', tarHead.subarray(0, 262), 'unknown'],
    ['a JSON manifest', Buffer.from('{"acKind":"ImageManifest"}\n'), 'text'],
    ['binary junk', Buffer.from([0, 1, 2, 3, 0xff]), 'unknown'],
    ['empty', Buffer.alloc(0), 'unknown'],
  ];
  for (const [what, head, want] of cases) {
    it(what, () => assert.equal(detectFileType(head), want));
  }
});

describe('decompression and image ID', () => {
  let dir: string;
  let cleanup: () => void;
  let tarPath: string;
  before(async () => {
    ({ dir, cleanup } = tempDir('compression'));
    tarPath = join(dir, 'plain.aci');
    const big = Buffer.alloc(3 * 1024 * 1024 + 17, 'abcdefghij');
    writeFileSync(
      tarPath,
      await makeTar([
        dirEntry('rootfs'),
        fileEntry('rootfs/big', big),
        fileEntry('rootfs/small'),
        manifestEntry(),
      ]),
    );
  });
  after(() => cleanup());

  const formats: [string, string, string][] = [
    ['gzip', 'gzip -c', 'gzip -dc'],
    ['bzip2', 'bzip2 -c', 'bzip2 -dc'],
    ['xz', 'xz -c', 'xz -dc'],
    ['zstd', 'zstd -q -c', 'zstd -q -dc'],
  ];
  for (const [format, compress, decompress] of formats) {
    it(
      `${format}: detected, and the image ID equals \`${decompress} | sha512sum\``,
      { skip: skipUnlessCI(hasCommand(format) ? false : `needs ${format}`) },
      async () => {
        const file = join(dir, `img-${format}.aci`);
        sh(`${compress} ${tarPath} > ${file}`);
        assert.equal(await sniffFile(file), format);
        const want = `sha512-${sh(`${decompress} ${file} | sha512sum`).slice(0, 128)}`;
        assert.equal(await imageIdOf(file), want);
        const v = await validateArchive(file);
        assert.equal(v.imageId, want);
        assert.equal(v.compression, format);
      },
    );
  }

  it('plain tar: the image ID is the sha512 of the file', async () => {
    const want = `sha512-${sh(`sha512sum ${tarPath}`).slice(0, 128)}`;
    assert.equal(await imageIdOf(tarPath), want);
    assert.equal((await validateArchive(tarPath)).compression, 'none');
  });

  it('hashes everything after the end-of-archive blocks too', async () => {
    const padded = join(dir, 'padded.aci');
    // GNU tar style record padding plus a junk tail the tar reader must never see.
    writeFileSync(
      padded,
      Buffer.concat([
        await makeTar([dirEntry('rootfs'), manifestEntry()]),
        Buffer.alloc(9216),
        Buffer.from('tail'),
      ]),
    );
    sh(`gzip -c ${padded} > ${padded}.gz.aci`);
    const want = `sha512-${sh(`gzip -dc ${padded}.gz.aci | sha512sum`).slice(0, 128)}`;
    assert.equal((await validateArchive(`${padded}.gz.aci`)).imageId, want);
  });

  it('reads from a stream as well as from a path', async () => {
    const gz = join(dir, 'stream.aci');
    sh(`gzip -c ${tarPath} > ${gz}`);
    const names: string[] = [];
    const { imageId } = await readAci(createReadStream(gz), (e) => void names.push(e.header.name));
    assert.deepEqual(names, ['rootfs', 'rootfs/big', 'rootfs/small', 'manifest']);
    assert.equal(imageId, await imageIdOf(gz));
    const { compression, stream } = await openDecompressed(createReadStream(gz));
    assert.equal(compression, 'gzip');
    let n = 0;
    for await (const c of stream) n += (c as Buffer).length;
    assert.equal(n, Number(sh(`gzip -dc ${gz} | wc -c`).trim()));
  });

  it('refuses an unknown file type, naming the file', async () => {
    const junk = join(dir, 'junk.aci');
    writeFileSync(junk, Buffer.from([0, 1, 2, 3, 4]));
    await assert.rejects(imageIdOf(junk), (err: Error) => {
      assert.ok(err instanceof RocketError);
      assert.equal(err.message, `${junk}: unknown image filetype`);
      return true;
    });
  });

  it('reports corrupt compressed data as a RocketError naming the file', async () => {
    const bad = join(dir, 'bad.aci');
    writeFileSync(
      bad,
      Buffer.concat([Buffer.from([0x1f, 0x8b, 8, 0, 0, 0, 0, 0, 0, 3]), Buffer.alloc(100, 0xff)]),
    );
    await assert.rejects(
      validateArchive(bad),
      (err: Error) => err instanceof RocketError && err.message.startsWith(`${bad}: `),
    );
  });

  it('reports a missing file as a RocketError', async () => {
    await assert.rejects(
      imageIdOf(join(dir, 'nope.aci')),
      (err: Error) => err instanceof RocketError && /ENOENT/.test(err.message),
    );
  });
});
