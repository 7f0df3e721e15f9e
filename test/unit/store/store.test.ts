import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { existsSync, readdirSync, readFileSync, utimesSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import { gzipSync } from 'node:zlib';
import { after, before, describe, it } from 'node:test';
import { FileLock, isStoreKey, KEY_LENGTH, Store } from '../../../src/store/index.js';
import { RocketError } from '../../../src/errors.js';
import { makeAciBytes, manifestText, tempDir, writeAci } from './helpers.js';

const sha512 = (b: Buffer) => 'sha512-' + createHash('sha512').update(b).digest('hex');

function labelled(name: string, labels: Record<string, string>): string {
  return manifestText(name, { labels: Object.entries(labels).map(([n, value]) => ({ name: n, value })) });
}

describe('store: import', () => {
  let t: ReturnType<typeof tempDir>;
  let store: Store;
  before(() => {
    t = tempDir('import');
    store = Store.open(join(t.dir, 'data'));
  });
  after(() => {
    store.close();
    t.cleanup();
  });

  it('imports a gzip ACI under rkt layout with the uncompressed blob and its manifest', async () => {
    const tarBytes = await makeAciBytes(manifestText('example.com/a'), [{ name: 'rootfs/x', body: 'x\n' }]);
    const aci = join(t.dir, 'a.aci');
    writeFileSync(aci, gzipSync(tarBytes));
    const res = await store.importImage(aci);
    assert.equal(res.imageId, sha512(tarBytes));
    assert.equal(res.key, res.imageId.slice(0, KEY_LENGTH));
    assert.ok(isStoreKey(res.key));
    assert.equal(res.alreadyPresent, false);
    const blob = join(t.dir, 'data', 'cas', 'blob', 'sha512', res.key.slice(7, 9), res.key);
    assert.deepEqual(readFileSync(blob), tarBytes);
    assert.equal(store.manifestBytes(res.key).toString(), manifestText('example.com/a'));
    assert.equal(store.manifest(res.key).name, 'example.com/a');
    const info = store.imageInfo(res.key);
    assert.equal(info?.size, tarBytes.length);
    assert.equal(info?.totalSize, tarBytes.length);
    assert.deepEqual(readdirSync(store.layout.tmpDir), []);
    assert.ok(existsSync(join(t.dir, 'data', 'cas', 'db', 'rocket.sqlite')));
  });

  it('imports from a stream, and a second import of the same image is a no-op', async () => {
    const tarBytes = await makeAciBytes(manifestText('example.com/b'), []);
    const first = await store.importImage(Readable.from([tarBytes]));
    const before = store.imageInfo(first.key);
    const again = await store.importImage(Readable.from([gzipSync(tarBytes)]));
    assert.equal(again.key, first.key);
    assert.equal(again.alreadyPresent, true);
    assert.deepEqual(store.imageInfo(first.key)?.importTime, before?.importTime);
    assert.equal(store.listImages().filter((i) => i.key === first.key).length, 1);
    assert.deepEqual(readdirSync(store.layout.tmpDir), []);
  });

  it('refuses an invalid archive and leaves nothing behind', async () => {
    const count = store.listImages().length;
    const bad = await makeAciBytes(manifestText('example.com/bad'), [{ name: 'etc/passwd', body: 'x' }]);
    await assert.rejects(store.importImage(Readable.from([bad])), RocketError);
    await assert.rejects(
      store.importImage(Readable.from([Buffer.from('not an image at all')])),
      /unknown image filetype/,
    );
    assert.equal(store.listImages().length, count);
    assert.deepEqual(readdirSync(store.layout.tmpDir), []);
  });

  it('refuses a dependency imageID of the full length that is not hex, naming the field', async () => {
    const count = store.listImages().length;
    const manifest = manifestText('example.com/dep-not-hex', {
      dependencies: [{ imageName: 'example.com/base', imageID: 'sha512-' + 'x'.repeat(128) }],
    });
    const bad = await makeAciBytes(manifest, []);
    await assert.rejects(
      store.importImage(Readable.from([bad])),
      (e: unknown) =>
        e instanceof RocketError &&
        /dependencies\[0\]\.imageID: image ID "sha512-x+" is not a sha512/.test(e.message),
    );
    assert.equal(store.listImages().length, count);
    assert.deepEqual(readdirSync(store.layout.tmpDir), []);
  });
});

describe('store: lookups', () => {
  let t: ReturnType<typeof tempDir>;
  let store: Store;
  const keys: Record<string, string> = {};
  before(async () => {
    t = tempDir('lookup');
    store = Store.open(join(t.dir, 'data'));
    const add = async (tag: string, manifest: string, latest = false) => {
      keys[tag] = (await store.importImage(await writeAci(t.dir, `${tag}.aci`, manifest), { latest })).key;
    };
    await add('v1', labelled('example.com/app', { version: '1.0', os: 'linux', arch: 'amd64' }));
    await add('v2', labelled('example.com/app', { version: '2.0', os: 'linux', arch: 'amd64' }));
    await add('latest', labelled('example.com/app', { version: '0.9', os: 'linux', arch: 'amd64' }), true);
    await add('other', labelled('example.com/other', { version: '1.0' }));
  });
  after(() => {
    store.close();
    t.cleanup();
  });

  it('resolves full IDs, keys and prefixes of at least sha512- + 2 hex', () => {
    const key = keys.v1 as string;
    assert.equal(store.resolveKey(key), key);
    assert.equal(store.resolveKey(key + 'ffff'.repeat(20)), key, 'input longer than a key is cut');
    assert.equal(store.resolveKey(key.slice(0, 19)), key);
    assert.throws(() => store.resolveKey('sha512-a'), /image ID too short/);
    assert.throws(() => store.resolveKey('sha256-abcd'), /wrong key prefix/);
    const absent = key.slice(0, 7) + (key[7] === '0' ? '1' : '0') + key.slice(8);
    assert.throws(
      () => store.resolveKey(absent),
      (e: unknown) => {
        assert.ok(e instanceof RocketError);
        assert.equal(e.message, 'no image IDs found');
        assert.equal(e.kind, 'not-found');
        return true;
      },
    );
  });

  it('finds by name and labels: latest flag first, then the newest import; a version disables latest', () => {
    assert.equal(store.findImage('example.com/app'), keys.latest);
    assert.equal(store.findImage('example.com/app', [{ name: 'version', value: '1.0' }]), keys.v1);
    assert.equal(store.findImage('example.com/app', new Map([['version', '2.0']])), keys.v2);
    assert.equal(store.findImage('example.com/app', [{ name: 'os', value: 'linux' }]), keys.latest);
    assert.equal(store.findImage('example.com/app', [{ name: 'os', value: 'freebsd' }]), undefined);
    assert.equal(store.findImage('example.com/nothing'), undefined);
  });

  it('resolves CLI references: ID prefixes and NAME[:VERSION][,LABEL=VALUE]', () => {
    assert.equal(store.resolveImage('example.com/app:1.0'), keys.v1);
    assert.equal(store.resolveImage('example.com/app,version=2.0'), keys.v2);
    assert.equal(store.resolveImage('example.com/other'), keys.other);
    assert.equal(store.resolveImage((keys.v2 as string).slice(0, 30)), keys.v2);
    assert.throws(
      () => store.resolveImage('example.com/app:3.0'),
      new RegExp(
        'cannot find aci satisfying name: "example.com/app" and labels: \\[\\{"version" "3.0"\\}\\] in the local store',
      ),
    );
  });

  it('lists every image with its labels and times', () => {
    const list = store.listImages();
    assert.equal(list.length, 4);
    const v1 = list.find((i) => i.key === keys.v1);
    assert.equal(v1?.name, 'example.com/app');
    assert.deepEqual(v1?.labels, [
      { name: 'version', value: '1.0' },
      { name: 'os', value: 'linux' },
      { name: 'arch', value: 'amd64' },
    ]);
    assert.equal(v1?.latest, false);
    assert.equal(list.find((i) => i.key === keys.latest)?.latest, true);
    assert.ok(v1 !== undefined && v1.importTime.getTime() <= Date.now());
  });

  it('marks an image used when its blob is read', async () => {
    const key = keys.other as string;
    const before = store.imageInfo(key)?.lastUsed.getTime() ?? 0;
    await new Promise((r) => setTimeout(r, 5));
    const chunks: Buffer[] = [];
    for await (const c of await store.readBlob(key)) chunks.push(c as Buffer);
    assert.equal(sha512(Buffer.concat(chunks)).slice(0, KEY_LENGTH), key);
    assert.ok((store.imageInfo(key)?.lastUsed.getTime() ?? 0) > before);
  });

  it('keeps remote (ETag / max-age) rows, one per URL', () => {
    const url = 'https://example.com/app-1.0.aci';
    assert.equal(store.getRemote(url), undefined);
    const when = new Date(1_700_000_000_000);
    store.setRemote({
      aciUrl: url,
      sigUrl: url + '.asc',
      etag: '"abc"',
      blobKey: keys.v1 as string,
      cacheMaxAge: 60,
      downloadTime: when,
    });
    assert.deepEqual(store.getRemote(url), {
      aciUrl: url,
      sigUrl: url + '.asc',
      etag: '"abc"',
      blobKey: keys.v1,
      cacheMaxAge: 60,
      downloadTime: when,
    });
    store.setRemote({
      aciUrl: url,
      sigUrl: '',
      etag: '"def"',
      blobKey: keys.v2 as string,
      cacheMaxAge: 0,
      downloadTime: when,
    });
    assert.equal(store.getRemote(url)?.etag, '"def"');
    assert.equal(store.listRemotes().length, 1);
    assert.throws(() =>
      store.setRemote({
        aciUrl: url,
        sigUrl: '',
        etag: '',
        blobKey: 'sha512-00',
        cacheMaxAge: 0,
        downloadTime: when,
      }),
    );
  });
});

describe('store: ambiguous prefixes', () => {
  it('reports two images sharing the shortest prefix as ambiguous', async () => {
    const t = tempDir('ambig');
    const store = Store.open(join(t.dir, 'data'));
    try {
      const byPrefix = new Map<string, string>();
      let pair: [string, string] | undefined;
      for (let i = 0; pair === undefined && i < 200; i++) {
        const { key } = await store.importImage(
          Readable.from([await makeAciBytes(manifestText(`example.com/n${i}`), [])]),
        );
        const prefix = key.slice(0, 9);
        const seen = byPrefix.get(prefix);
        if (seen !== undefined) pair = [seen, key];
        byPrefix.set(prefix, key);
      }
      assert.ok(pair !== undefined, 'two keys with the same first two hex digits');
      const prefix = pair[0].slice(0, 9);
      assert.throws(() => store.resolveKey(prefix), new RegExp(`ambiguous image ID: "${prefix}"`));
    } finally {
      store.close();
      t.cleanup();
    }
  });
});

describe('store: copies out, removal and gc', () => {
  let t: ReturnType<typeof tempDir>;
  let store: Store;
  before(() => {
    t = tempDir('gc');
    store = Store.open(join(t.dir, 'data'));
  });
  after(() => {
    store.close();
    t.cleanup();
  });

  it('exports the uncompressed ACI and refuses to overwrite without the flag', async () => {
    const tarBytes = await makeAciBytes(manifestText('example.com/exp'), [{ name: 'rootfs/f', body: 'f' }]);
    const { key } = await store.importImage(Readable.from([gzipSync(tarBytes)]));
    const out = join(t.dir, 'out.aci');
    await store.exportImage(key, out);
    assert.deepEqual(readFileSync(out), tarBytes);
    await assert.rejects(store.exportImage(key, out), /output ACI file exists \(try --overwrite\)/);
    writeFileSync(out, 'old');
    await store.exportImage(key, out, { overwrite: true });
    assert.deepEqual(readFileSync(out), tarBytes);
  });

  it('extracts one image, with --rootfs-only and --overwrite semantics', async () => {
    const aci = await writeAci(t.dir, 'ext.aci', manifestText('example.com/ext'), [
      { name: 'rootfs/etc', type: 'directory' },
      { name: 'rootfs/etc/hello', body: 'hi\n' },
    ]);
    const { key } = await store.importImage(aci);
    const dest = join(t.dir, 'extracted');
    await store.extractTo(key, dest);
    assert.equal(readFileSync(join(dest, 'rootfs', 'etc', 'hello'), 'utf8'), 'hi\n');
    assert.ok(existsSync(join(dest, 'manifest')));
    await assert.rejects(store.extractTo(key, dest), /output directory exists \(try --overwrite\)/);
    await store.extractTo(key, dest, { overwrite: true, rootfsOnly: true });
    assert.deepEqual(readdirSync(dest), ['etc']);
  });

  it('removes an image: rows, blob, manifest and remotes', async () => {
    const { key } = await store.importImage(
      Readable.from([await makeAciBytes(manifestText('example.com/rm'), [])]),
    );
    store.setRemote({
      aciUrl: 'https://x/rm.aci',
      sigUrl: '',
      etag: '',
      blobKey: key,
      cacheMaxAge: 0,
      downloadTime: new Date(),
    });
    const removed = await store.removeImage(key);
    assert.deepEqual(removed, { key, name: 'example.com/rm' });
    assert.equal(store.hasImage(key), false);
    assert.equal(existsSync(store.layout.blobPath(key)), false);
    assert.equal(existsSync(store.layout.manifestPath(key)), false);
    assert.equal(store.getRemote('https://x/rm.aci'), undefined);
    await assert.rejects(store.removeImage(key), /cannot find image with key/);
  });

  it('gc removes images unused for the grace period, except in-use and locked ones', async () => {
    const mk = async (n: string) =>
      (await store.importImage(Readable.from([await makeAciBytes(manifestText(`example.com/gc-${n}`), [])])))
        .key;
    const [old, used, locked] = [await mk('old'), await mk('used'), await mk('locked')];
    const lastOldUse = Date.now();
    await new Promise((r) => setTimeout(r, 50));
    const firstFreshUse = Date.now();
    const fresh = await mk('fresh');
    const holder = FileLock.tryAcquire(store.layout.imageLock(locked), 'shared');
    try {
      // A cutoff between the two batches, whatever time the imports themselves took.
      const grace = Date.now() - (lastOldUse + firstFreshUse) / 2;
      const { removed } = store.gcImages(grace, new Set([used]));
      const keys = removed.map((r) => r.key);
      assert.ok(keys.includes(old));
      assert.ok(!keys.includes(used) && !keys.includes(locked) && !keys.includes(fresh));
      assert.equal(store.hasImage(old), false);
      assert.equal(existsSync(store.layout.blobPath(old)), false);
    } finally {
      holder?.release();
    }
    assert.ok(store.hasImage(locked) && store.hasImage(used) && store.hasImage(fresh));
  });

  it('gc removes orphan blobs and unlocked temp files of any age, never locked ones', async () => {
    const orphanKey = 'sha512-' + 'ab'.repeat(32);
    const blob = store.layout.blobPath(orphanKey);
    await import('node:fs/promises').then((fs) => fs.mkdir(join(blob, '..'), { recursive: true }));
    writeFileSync(blob, 'orphan');
    assert.deepEqual(store.gcImages(24 * 3600 * 1000).orphans, [orphanKey]);
    assert.equal(existsSync(blob), false);

    const stale = join(store.layout.tmpDir, 'import-stale');
    const live = join(store.layout.tmpDir, 'import-live');
    const young = join(store.layout.tmpDir, 'import-young');
    for (const f of [stale, live, young]) writeFileSync(f, 'x');
    const old = (Date.now() - 2 * 3600 * 1000) / 1000;
    utimesSync(stale, old, old);
    utimesSync(live, old, old);
    const holder = FileLock.tryAcquire(live, 'exclusive');
    try {
      // Just written (file times are finer than Date.now()), yet not younger than the zero default.
      assert.deepEqual(await store.gcTemp(), ['import-stale', 'import-young']);
      assert.deepEqual(readdirSync(store.layout.tmpDir).sort(), ['import-live']);
    } finally {
      holder?.release();
    }
    assert.deepEqual(await store.gcTemp(), ['import-live']);
  });
});

describe('store: image names (the CRI image service)', () => {
  let t: ReturnType<typeof tempDir>;
  let store: Store;
  before(() => {
    t = tempDir('refs');
    store = Store.open(join(t.dir, 'data'));
  });
  after(() => {
    store.close();
    t.cleanup();
  });

  it('records tags and digests per image, moves a tag to the image it names now, and drops the names of a removed image', async () => {
    const a = (
      await store.importImage(Readable.from([await makeAciBytes(manifestText('example.com/ra'), [])]))
    ).key;
    const b = (
      await store.importImage(Readable.from([await makeAciBytes(manifestText('example.com/rb'), [])]))
    ).key;
    assert.equal(
      store.setImageRefs(a, [
        { ref: 'r/x:1', kind: 'tag' },
        { ref: 'r/x@sha256:aa', kind: 'digest' },
      ]),
      true,
    );
    assert.equal(store.setImageRefs(b, [{ ref: 'r/x:2', kind: 'tag' }]), true);
    assert.equal(store.imageByRef('r/x:1'), a);
    assert.equal(store.imageByRef('r/x@sha256:aa'), a);
    assert.equal(store.imageByRef('r/x:3'), undefined);
    // The tag moves: `r/x:1` now names b.
    store.setImageRefs(b, [{ ref: 'r/x:1', kind: 'tag' }]);
    assert.deepEqual(
      store.imageRefs(b).map((r) => [r.ref, r.kind]),
      [
        ['r/x:1', 'tag'],
        ['r/x:2', 'tag'],
      ],
    );
    assert.deepEqual(
      store.imageRefs(a).map((r) => r.ref),
      ['r/x@sha256:aa'],
    );
    await store.removeImage(b);
    assert.equal(store.imageByRef('r/x:1'), undefined);
    assert.deepEqual(
      store.imageRefs().map((r) => r.key),
      [a],
    );
    // An image that is gone gets no names.
    assert.equal(store.setImageRefs(b, [{ ref: 'r/x:9', kind: 'tag' }]), false);
    assert.equal(store.imageByRef('r/x:9'), undefined);
  });
});
