import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { readAci, type TarHeader } from '../../../src/aci/index.js';
import { convertImage, type ConvertResult } from '../../../src/docker/convert/index.js';
import { tempDir } from '../../helpers.js';
import { imageFromBlobs, layerTar, type TestEntry } from './fixtures.js';

interface OutEntry {
  header: TarHeader;
  data: string;
}

async function entriesOf(path: string): Promise<Map<string, OutEntry>> {
  const out = new Map<string, OutEntry>();
  await readAci(path, async (entry, body) => {
    const parts: Buffer[] = [];
    for await (const c of body) parts.push(c);
    out.set(entry.header.name, { header: entry.header, data: Buffer.concat(parts).toString('utf8') });
  });
  return out;
}

async function convert(
  layers: TestEntry[][],
  squash = true,
): Promise<{ result: ConvertResult; cleanup: () => Promise<void> }> {
  const dir = await tempDir('d2a-unit-');
  const image = imageFromBlobs(layers.map((l, i) => layerTar(l, i % 2 === 0)));
  try {
    const result = await convertImage(image, { outDir: dir.path, squash, blobs: { kind: 'reopen' } });
    return { result, cleanup: dir.cleanup };
  } catch (err) {
    await dir.cleanup();
    throw err;
  }
}

async function squashed(layers: TestEntry[][]): Promise<Map<string, OutEntry>> {
  const { result, cleanup } = await convert(layers);
  try {
    return await entriesOf((result.acis[0] as { path: string }).path);
  } finally {
    await cleanup();
  }
}

const names = (m: Map<string, OutEntry>) => [...m.keys()].filter((n) => !n.startsWith('rootfs/dev/'));

describe('squashing layers', () => {
  it('puts manifest first, then rootfs, and adds the stdio symlinks', async () => {
    const m = await squashed([[{ name: './' }, { name: './a.txt', data: 'a' }]]);
    assert.deepEqual([...m.keys()].slice(0, 3), ['manifest', 'rootfs', 'rootfs/a.txt']);
    assert.equal(m.get('rootfs/dev/stdin')?.header.linkname, '/proc/self/fd/0');
    assert.equal(m.get('rootfs/dev/stdout')?.header.linkname, '/dev/console');
    assert.equal(m.get('rootfs/dev/stderr')?.header.linkname, '/dev/console');
    assert.equal(m.get('rootfs/dev/fd')?.header.linkname, '/proc/self/fd');
    assert.equal(m.get('rootfs/dev/fd')?.header.mode, 0o777);
  });

  it('keeps a stdio path the image has', async () => {
    const m = await squashed([
      [{ name: 'dev/' }, { name: 'dev/stdout', type: 'symlink', linkname: '/proc/self/fd/1' }],
    ]);
    assert.equal(m.get('rootfs/dev/stdout')?.header.linkname, '/proc/self/fd/1');
    assert.equal(m.get('rootfs/dev/stdin')?.header.linkname, '/proc/self/fd/0');
  });

  it('applies whiteouts to files and directories', async () => {
    const m = await squashed([
      [
        { name: 'a.txt', data: 'a' },
        { name: 'd/' },
        { name: 'd/sub/' },
        { name: 'd/sub/y', data: 'y' },
        { name: 'keep', data: 'k' },
      ],
      [{ name: '.wh.a.txt' }, { name: '.wh.d' }],
    ]);
    assert.deepEqual(names(m), ['manifest', 'rootfs', 'rootfs/keep']);
  });

  it('hides lower contents of an opaque directory but keeps the layer’s own, whatever the order', async () => {
    const m = await squashed([
      [{ name: 'etc/' }, { name: 'etc/o/' }, { name: 'etc/o/a', data: 'a' }, { name: 'etc/o/b', data: 'b' }],
      [{ name: 'etc/o/c', data: 'c' }, { name: 'etc/o/.wh..wh..opq' }, { name: 'etc/o/', mode: 0o700 }],
    ]);
    assert.deepEqual(names(m), ['manifest', 'rootfs', 'rootfs/etc', 'rootfs/etc/o', 'rootfs/etc/o/c']);
    assert.equal(m.get('rootfs/etc/o')?.header.mode, 0o700, 'the uppermost directory header wins');
  });

  it('recreates a whited-out directory without its old contents', async () => {
    const m = await squashed([
      [{ name: 'x/' }, { name: 'x/old', data: 'o' }],
      [{ name: '.wh.x' }, { name: 'x/' }, { name: 'x/new', data: 'n' }],
    ]);
    assert.deepEqual(names(m), ['manifest', 'rootfs', 'rootfs/x', 'rootfs/x/new']);
  });

  it('lets a file replace a directory and the reverse', async () => {
    const m = await squashed([
      [{ name: 'p/' }, { name: 'p/in', data: '1' }, { name: 'q', data: 'file' }],
      [{ name: 'p', data: 'now a file' }, { name: 'q/' }, { name: 'q/in', data: '2' }],
    ]);
    assert.deepEqual(names(m), ['manifest', 'rootfs', 'rootfs/p', 'rootfs/q', 'rootfs/q/in']);
    assert.equal(m.get('rootfs/p')?.data, 'now a file');
  });

  it('keeps a hard link whose target an upper layer deleted, with the old content', async () => {
    const m = await squashed([
      [
        { name: 'a', data: 'shared' },
        { name: 'b', type: 'link', linkname: 'a' },
        { name: 'c', type: 'link', linkname: 'a' },
      ],
      [{ name: '.wh.a' }],
    ]);
    assert.equal(m.get('rootfs/b')?.header.type, 'file');
    assert.equal(m.get('rootfs/b')?.data, 'shared');
    assert.equal(m.get('rootfs/c')?.header.type, 'link');
    assert.equal(m.get('rootfs/c')?.header.linkname, 'rootfs/b');
    assert.equal(m.has('rootfs/a'), false);
  });

  it('keeps a hard link’s old content when its target is replaced above (ln -f, appends)', async () => {
    const m = await squashed([
      [
        { name: 'a', data: 'old' },
        { name: 'b', type: 'link', linkname: 'a' },
      ],
      [{ name: 'a', data: 'new' }],
    ]);
    assert.equal(m.get('rootfs/a')?.data, 'new');
    assert.equal(m.get('rootfs/b')?.data, 'old');
    assert.equal(m.get('rootfs/b')?.header.type, 'file');
  });

  it('links an upper layer’s hard link to a lower file', async () => {
    const m = await squashed([[{ name: 'a', data: 'x' }], [{ name: 'b', type: 'link', linkname: 'a' }]]);
    assert.equal(m.get('rootfs/a')?.header.type, 'file');
    assert.equal(m.get('rootfs/b')?.header.linkname, 'rootfs/a');
  });

  it('keeps devices, FIFOs, absolute symlinks, long and UTF-8 names', async () => {
    const long = `long/${'n'.repeat(120)}.txt`;
    const m = await squashed([
      [
        { name: 'dev/' },
        { name: 'dev/null', type: 'char-device', devmajor: 1, devminor: 3, mode: 0o666 },
        { name: 'tmp/fifo', type: 'fifo' },
        { name: 'abs', type: 'symlink', linkname: '/etc/passwd' },
        { name: long, data: 'long' },
        { name: 'unicode/héllo-wörld.txt', data: 'u' },
      ],
    ]);
    assert.equal(m.get('rootfs/dev/null')?.header.type, 'char-device');
    assert.equal(m.get('rootfs/dev/null')?.header.devminor, 3);
    assert.equal(m.get('rootfs/tmp/fifo')?.header.type, 'fifo');
    assert.equal(m.get('rootfs/abs')?.header.linkname, '/etc/passwd');
    assert.equal(m.get(`rootfs/${long}`)?.data, 'long');
    assert.equal(m.get('rootfs/unicode/héllo-wörld.txt')?.data, 'u');
  });

  it('refuses a /dev that is not a directory, and .. in names', async () => {
    await assert.rejects(
      squashed([[{ name: 'dev', data: 'x' }]]),
      /invalid layer: "\/dev" is not a directory/,
    );
    await assert.rejects(squashed([[{ name: 'a/../../etc/x', data: 'x' }]]), /\.\./);
  });

  it('refuses a hard link to nothing', async () => {
    await assert.rejects(squashed([[{ name: 'b', type: 'link', linkname: 'missing' }]]), /does not exist/);
  });
});

describe('--nosquash', () => {
  it('writes one ACI per layer with cumulative whitelists and the top depending on all lower layers', async () => {
    const { result, cleanup } = await convert(
      [
        [
          { name: 'a', data: 'a' },
          { name: 'd/' },
          { name: 'd/x', data: 'x' },
          { name: 'o/' },
          { name: 'o/old', data: 'o' },
        ],
        [{ name: '.wh.a' }, { name: 'b', data: 'b' }],
        [{ name: 'o/.wh..wh..opq' }, { name: 'o/new', data: 'n' }],
      ],
      false,
    );
    try {
      assert.equal(result.acis.length, 3);
      const [l0, l1, l2] = result.acis.map((a) => a.manifest);
      const stdio = ['/dev', '/dev/fd', '/dev/stderr', '/dev/stdin', '/dev/stdout'];
      const without = (l: string[] | undefined) => (l ?? []).filter((p) => !p.startsWith('/dev'));
      assert.deepEqual(without(l0?.pathWhitelist), ['/a', '/d', '/d/x', '/o', '/o/old']);
      assert.deepEqual(without(l1?.pathWhitelist), ['/b', '/d', '/d/x', '/o', '/o/old']);
      assert.deepEqual(without(l2?.pathWhitelist), ['/b', '/d', '/d/x', '/o', '/o/new']);
      for (const s of stdio.slice(1)) assert.ok(l2?.pathWhitelist?.includes(s), s);
      assert.equal(l0?.dependencies, undefined);
      assert.equal(l0?.app, undefined);
      assert.deepEqual(
        l2?.dependencies?.map((d) => d.imageName),
        [l0?.name, l1?.name],
      );
      assert.ok(l2?.app !== undefined);
      assert.match(l2?.name ?? '', /^example.com\/test\/img-sha256_[0-9a-f]{64}$/);
      assert.match(l0?.name ?? '', /^example.com\/test\/img-sha256-[0-9a-f]{64}$/);
      // Layer ACIs: rootfs first, manifest last, no whiteout entries.
      const e1 = [...(await entriesOf((result.acis[1] as { path: string }).path)).keys()];
      assert.equal(e1[0], 'rootfs');
      assert.equal(e1.at(-1), 'manifest');
      assert.ok(!e1.some((n) => n.includes('.wh.')));
      assert.match(
        (result.acis[2] as { path: string }).path,
        /example\.com\/test\/img-sha256:[0-9a-f]{64}-latest-linux-amd64\.aci$/,
      );
    } finally {
      await cleanup();
    }
  });
});
