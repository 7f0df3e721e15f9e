import { strict as assert } from 'node:assert';
import { chmodSync, existsSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import { after, before, describe, it } from 'node:test';
import { Store } from '../../../src/store/index.js';
import { hashTree } from '../../../src/store/tree-hash.js';
import { projectRoot, run } from '../../helpers.js';
import { makeAciBytes, manifestText, tempDir } from '../store/helpers.js';

const rkt = join(projectRoot, 'bin', 'rkt');

describe('rkt image verify', () => {
  const tmp = tempDir('verify');
  const dataDir = join(tmp.dir, 'data');
  let key = '';
  let rootfs = '';
  let otherKey = '';
  before(async () => {
    const store = Store.open(dataDir);
    try {
      const bytes = await makeAciBytes(manifestText('example.com/verify'), [
        { name: 'rootfs/etc', type: 'directory' },
        { name: 'rootfs/etc/motd', body: 'hello\n' },
        { name: 'rootfs/bin', type: 'directory' },
        { name: 'rootfs/bin/tool', body: '#!/bin/sh\n', mode: 0o755 },
      ]);
      key = (await store.importImage(Readable.from([bytes]))).key;
      const tree = await store.renderTree(key);
      rootfs = tree.rootfs;
      const other = await makeAciBytes(manifestText('example.com/unrendered'), [
        { name: 'rootfs/x', body: 'x' },
      ]);
      otherKey = (await store.importImage(Readable.from([other]))).key;
      assert.ok(existsSync(join(tree.path, 'hash')), 'the render keeps the hash');
    } finally {
      store.close();
    }
  });
  after(() => tmp.cleanup());

  const verify = (...refs: string[]) => run(rkt, [`--dir=${dataDir}`, 'image', 'verify', ...refs]);

  it('reports an untouched tree OK, by name or ID', async () => {
    const r = await verify('example.com/verify', key.slice(0, 19));
    assert.equal(r.code, 0, r.stderr);
    assert.equal(
      r.stdout,
      `successfully verified checksum for image: "example.com/verify" (${key})\n` +
        `successfully verified checksum for image: "${key.slice(0, 19)}" (${key})\n`,
    );
  });

  it('the hash covers content, mode and links, not times', () => {
    const before = hashTree(rootfs);
    writeFileSync(join(rootfs, 'etc/motd'), 'hello\n'); // same content, new mtime
    assert.equal(hashTree(rootfs), before);
    chmodSync(join(rootfs, 'etc/motd'), 0o600);
    assert.notEqual(hashTree(rootfs), before);
    chmodSync(join(rootfs, 'etc/motd'), 0o644);
    symlinkSync('motd', join(rootfs, 'etc/link'));
    assert.notEqual(hashTree(rootfs), before);
    rmSync(join(rootfs, 'etc/link'));
    assert.equal(hashTree(rootfs), before);
  });

  it('reports a tampered tree and exits 254; an image without a tree fails too', async () => {
    writeFileSync(join(rootfs, 'etc/motd'), 'tampered\n');
    const r = await verify('example.com/verify');
    assert.equal(r.code, 254);
    assert.equal(r.stdout, '');
    assert.match(
      r.stderr,
      /^verify: image "example.com\/verify" \(sha512-[0-9a-f]{64}\): tree deps-sha512-[0-9a-f]+ does not match its stored hash: expected sha512-[0-9a-f]{128}, got sha512-[0-9a-f]{128}\n$/,
    );
    writeFileSync(join(rootfs, 'etc/motd'), 'hello\n');
    assert.equal((await verify('example.com/verify')).code, 0);
    const u = await verify('example.com/unrendered');
    assert.equal(u.code, 254);
    assert.equal(
      u.stderr,
      `verify: image "example.com/unrendered" (${otherKey}) has no rendered tree to verify\n`,
    );
    const n = await verify('example.com/nosuch');
    assert.equal(n.code, 254);
    assert.equal(n.stderr.split('\n').length, 2, n.stderr);
  });
});
