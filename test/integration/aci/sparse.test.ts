/**
 * Sparse files and the image size limit (issue 16, point 5): ACIs made by GNU tar with `--sparse`
 * (old GNU 'S' headers, PAX sparse 0.0, 0.1 and 1.0) are read as Go's archive/tar reads them;
 * files stay sparse in extracted dirs, in the store's blob and in its tree; an image whose
 * uncompressed size (or whose files' real sizes) passes the limit is refused with one line naming
 * it and the limit, and nothing is stored.
 */
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { execFileSync } from 'node:child_process';
import {
  mkdirSync,
  readdirSync,
  readFileSync,
  statSync,
  writeFileSync,
  openSync,
  writeSync,
  closeSync,
  ftruncateSync,
} from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { extractAci, validateArchive } from '../../../src/aci/index.js';
import { RocketError } from '../../../src/errors.js';
import { Store } from '../../../src/store/index.js';
import { projectRoot, run } from '../../helpers.js';
import { hasCommand, makeLayout, tempDir } from '../../unit/aci/helpers.js';

const skip = hasCommand('tar') ? false : 'needs GNU tar';
const MiB = 1024 * 1024;
const LOGICAL = 64 * MiB;
const rkt = join(projectRoot, 'bin', 'rkt');

const sha = (path: string) => createHash('sha256').update(readFileSync(path)).digest('hex');
/** Bytes the file takes on disk. */
const onDisk = (path: string) => statSync(path).blocks * 512;

describe('sparse tar entries and the image size limit', { skip }, () => {
  let dir: string;
  let cleanup: () => void;
  let layout: string;
  let original: string;
  const archives: Record<string, string> = {};
  let dense: string;

  before(() => {
    ({ dir, cleanup } = tempDir('sparse'));
    layout = makeLayout(
      join(dir, 'layout'),
      '{"acKind":"ImageManifest","acVersion":"0.8.11","name":"example.com/sparse"}',
    );
    // 64 MiB with data at the start, in the middle (not block-aligned) and at the end.
    original = join(layout, 'rootfs', 'big');
    const fd = openSync(original, 'w');
    writeSync(fd, Buffer.from('head'), 0, 4, 0);
    writeSync(fd, Buffer.alloc(10_000, 'm'), 0, 10_000, 20 * MiB + 123);
    ftruncateSync(fd, LOGICAL - 4);
    writeSync(fd, Buffer.from('tail'), 0, 4, LOGICAL - 4);
    closeSync(fd);
    const formats: Record<string, string[]> = {
      gnu: ['--format=gnu'],
      'pax-0.0': ['--format=pax', '--sparse-version=0.0'],
      'pax-0.1': ['--format=pax', '--sparse-version=0.1'],
      'pax-1.0': ['--format=pax', '--sparse-version=1.0'],
    };
    for (const [name, flags] of Object.entries(formats)) {
      archives[name] = join(dir, `${name}.aci`);
      execFileSync('tar', ['--sparse', ...flags, '-C', layout, '-cf', archives[name], 'manifest', 'rootfs']);
    }
    // A plain (dense) gzip'd tar of 64 MiB of zeros: 64 KiB compressed.
    const zeros = join(dir, 'dense');
    makeLayout(zeros, '{"acKind":"ImageManifest","acVersion":"0.8.11","name":"example.com/zeros"}');
    writeFileSync(join(zeros, 'rootfs', 'zeros'), Buffer.alloc(LOGICAL));
    dense = join(dir, 'dense.aci');
    execFileSync('tar', ['-C', zeros, '-czf', dense, 'manifest', 'rootfs']);
  });
  after(() => cleanup());

  it('reads every GNU sparse format as the real file, and extracts it sparse', async () => {
    for (const [name, aci] of Object.entries(archives)) {
      const raw = readFileSync(aci);
      assert.ok(raw.length < MiB, `${name}: tar --sparse stored only the data`);
      const v = await validateArchive(aci);
      assert.equal(v.manifest.name, 'example.com/sparse');
      const out = join(dir, `out-${name}`);
      await extractAci(aci, out);
      const file = join(out, 'rootfs', 'big');
      assert.equal(statSync(file).size, LOGICAL, name);
      assert.equal(sha(file), sha(original), name);
      assert.ok(onDisk(file) < MiB, `${name}: extracted sparse (${onDisk(file)} bytes on disk)`);
    }
  });

  it('keeps the blob and the tree sparse in the store', async () => {
    const store = Store.open(join(dir, 'store'));
    try {
      const d = await store.importImage(dense);
      const blob = store.layout.blobPath(d.key);
      assert.ok(statSync(blob).size > LOGICAL);
      assert.ok(onDisk(blob) < MiB, `blob takes ${onDisk(blob)} bytes`);
      const tree = await store.renderTree(d.key);
      const zeros = join(tree.rootfs, 'zeros');
      assert.equal(statSync(zeros).size, LOGICAL);
      assert.ok(onDisk(zeros) < MiB, `tree file takes ${onDisk(zeros)} bytes`);

      const s = await store.importImage(archives['pax-1.0']!);
      const t = await store.renderTree(s.key);
      assert.equal(sha(join(t.rootfs, 'big')), sha(original));
      assert.ok(onDisk(join(t.rootfs, 'big')) < MiB);
    } finally {
      store.close();
    }
  });

  it('refuses an image over the limit, naming it and the limit, and stores nothing', async () => {
    const store = Store.open(join(dir, 'limited'));
    try {
      store.maxImageSize = 32 * MiB;
      for (const aci of [dense, archives['gnu']!]) {
        await assert.rejects(
          store.importImage(aci),
          (err: unknown) =>
            err instanceof RocketError &&
            err.message ===
              `${aci}: image is larger than the limit of 32 MiB uncompressed (--max-image-size, or maxImageSize in limits.d)`,
        );
      }
      assert.deepEqual(store.listImages(), []);
      assert.deepEqual(readdirSync(store.layout.tmpDir), []);
      store.maxImageSize = 128 * MiB;
      await store.importImage(dense);
      assert.equal(store.listImages().length, 1);
    } finally {
      store.close();
    }
  });

  it('rkt fetch takes the limit from --max-image-size or limits.d, one line and 254 when over', async () => {
    const data = join(dir, 'cli-data');
    const local = join(dir, 'cli-local');
    const base = [
      `--dir=${data}`,
      `--local-config=${local}`,
      `--system-config=${join(dir, 'cli-sys')}`,
      '--insecure-options=image',
    ];
    const only = (stderr: string) =>
      stderr
        .trimEnd()
        .split('\n')
        .filter((l) => l !== 'image: warning: image signature verification has been disabled');
    const flag = await run(rkt, [...base, '--max-image-size=32MiB', 'fetch', dense]);
    assert.equal(flag.code, 254, flag.stderr);
    assert.deepEqual(only(flag.stderr), [
      `fetch: ${dense}: image is larger than the limit of 32 MiB uncompressed (--max-image-size, or maxImageSize in limits.d)`,
    ]);
    const bad = await run(rkt, [...base, '--max-image-size=lots', 'fetch', dense]);
    assert.equal(bad.code, 254);
    assert.match(only(bad.stderr)[0] ?? '', /^fetch: invalid --max-image-size "lots"/);

    mkdirSync(join(local, 'limits.d'), { recursive: true });
    writeFileSync(
      join(local, 'limits.d', 'size.json'),
      JSON.stringify({ rktKind: 'limits', rktVersion: 'v1', maxImageSize: '16MiB' }),
    );
    const config = await run(rkt, [...base, 'fetch', dense]);
    assert.equal(config.code, 254, config.stderr);
    assert.match(only(config.stderr)[0] ?? '', /the limit of 16 MiB uncompressed/);
    // The flag wins over the config.
    const ok = await run(rkt, [...base, '--max-image-size=1GiB', 'fetch', dense]);
    assert.equal(ok.code, 0, ok.stderr);
  });
});
