/**
 * Rendering with dependencies: the cases of appc/spec pkg/acirenderer/acirenderer_test.go (ported:
 * same entries, same expectations), plus the store's tree reuse and gc.
 */
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { existsSync, mkdirSync, readFileSync, readdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import { after, afterEach, beforeEach, describe, it } from 'node:test';
import { Store, type FlatImage } from '../../../src/store/index.js';
import { makeAciBytes, manifestText, nonDirs, snapshot, tempDir, type EntrySpec } from './helpers.js';

let t: ReturnType<typeof tempDir>;
let store: Store;
beforeEach(() => {
  t = tempDir('render');
  store = Store.open(join(t.dir, 'data'));
});
afterEach(() => {
  store.close();
  t.cleanup();
});

interface Img {
  key: string;
  imageId: string;
  name: string;
}

/** Imports an image whose manifest has these deps (by imageID, as the Go tests do) and whitelist. */
async function image(
  name: string,
  entries: EntrySpec[],
  deps: Img[] = [],
  pwl?: string[],
  byName = false,
): Promise<Img> {
  const extra: Record<string, unknown> = {};
  if (deps.length > 0) {
    extra.dependencies = deps.map((d) =>
      byName ? { imageName: d.name } : { imageName: d.name, imageID: d.imageId },
    );
  }
  if (pwl !== undefined) extra.pathWhitelist = pwl;
  const bytes = await makeAciBytes(manifestText(name, extra), entries);
  const { key, imageId } = await store.importImage(Readable.from([bytes]));
  return { key, imageId, name };
}

const file = (name: string, body = 'hello', mode?: number): EntrySpec => ({ name, body, mode });
const dir = (name: string, mode?: number): EntrySpec => ({ name, type: 'directory', mode });
const symlink = (name: string, linkname: string): EntrySpec => ({ name, type: 'symlink', linkname });

async function render(top: Img) {
  const tree = await store.renderTree(top.key);
  return { tree, snap: snapshot(tree.path) };
}

describe('render: dependency order and tree IDs', () => {
  after(() => undefined);

  it('flattens A→[B,C], C→[D] as A, C, D, B (override order B, D, C, A)', async () => {
    const d = await image('example.com/d', [file('rootfs/f', 'D'), file('rootfs/d', 'D')]);
    const b = await image('example.com/b', [
      file('rootfs/f', 'B'),
      file('rootfs/b', 'B'),
      file('rootfs/d', 'B'),
    ]);
    const c = await image('example.com/c', [file('rootfs/f', 'C')], [d]);
    const a = await image('example.com/a', [], [b, c]);
    const flat = await store.flatten(a.key);
    assert.deepEqual(
      flat.map((i: FlatImage) => [i.manifest.name, i.level]),
      [
        ['example.com/a', 0],
        ['example.com/c', 1],
        ['example.com/d', 2],
        ['example.com/b', 1],
      ],
    );
    const { tree } = await render(a);
    // Last wins in B, D, C, A: C's f; D's d over B's d; B's b.
    assert.equal(readFileSync(join(tree.rootfs, 'f'), 'utf8'), 'C');
    assert.equal(readFileSync(join(tree.rootfs, 'd'), 'utf8'), 'D');
    assert.equal(readFileSync(join(tree.rootfs, 'b'), 'utf8'), 'B');
    const expectedId =
      'deps-' +
      (
        'sha512-' +
        createHash('sha512')
          .update(flat.map((i) => i.key).join(','))
          .digest('hex')
      ).slice(0, 71);
    assert.equal(tree.treeStoreId, expectedId);
    assert.equal(readFileSync(join(tree.path, 'image'), 'utf8'), a.key);
    assert.ok(existsSync(join(tree.path, 'rendered')));
    assert.equal(readFileSync(join(tree.path, 'manifest'), 'utf8'), store.manifestBytes(a.key).toString());
  });

  it('visits a shared DAG dependency once per path (D, B, D, C, A)', async () => {
    const d = await image('example.com/d', [file('rootfs/x', 'D')]);
    const b = await image('example.com/b', [], [d]);
    const c = await image('example.com/c', [], [d]);
    const a = await image('example.com/a', [], [b, c]);
    const flat = await store.flatten(a.key);
    assert.deepEqual(
      flat.map((i) => i.manifest.name),
      ['example.com/a', 'example.com/c', 'example.com/d', 'example.com/b', 'example.com/d'],
    );
    const { tree } = await render(a);
    assert.equal(readFileSync(join(tree.rootfs, 'x'), 'utf8'), 'D');
  });

  it('resolves dependencies by name and labels when no imageID is given; a missing one is named', async () => {
    const base = await image('example.com/base', [file('rootfs/base')]);
    const app = await image('example.com/app', [], [base], undefined, true);
    assert.ok(existsSync(join((await store.renderTree(app.key)).rootfs, 'base')));
    const orphan = await image(
      'example.com/orphan',
      [],
      [{ key: '', imageId: '', name: 'example.com/missing' }],
      undefined,
      true,
    );
    await assert.rejects(
      store.renderTree(orphan.key),
      /dependency "example.com\/missing" is not in the store/,
    );
  });

  it('reuses a complete tree, re-renders a partial one, and records the tree size', async () => {
    const a = await image('example.com/a', [file('rootfs/x', '12345')]);
    const first = await store.renderTree(a.key);
    assert.equal(first.reused, false);
    assert.equal(store.imageInfo(a.key)?.treeStoreSize, 5);
    assert.equal((await store.renderTree(a.key)).reused, true);
    await Promise.all([store.trees.remove(first.treeStoreId)]);
    mkdirSync(join(first.path, 'rootfs'), { recursive: true }); // a partial tree: no marker
    const again = await store.renderTree(a.key);
    assert.equal(again.reused, false);
    assert.equal(readFileSync(join(again.rootfs, 'x'), 'utf8'), '12345');
  });

  it('concurrent renders of one image in one process produce one tree', async () => {
    const a = await image('example.com/a', [file('rootfs/x')]);
    const trees = await Promise.all([1, 2, 3].map(() => store.renderTree(a.key)));
    assert.equal(new Set(trees.map((x) => x.treeStoreId)).size, 1);
    assert.equal(trees.filter((x) => !x.reused).length, 1);
    assert.deepEqual(store.trees.ids(), [trees[0]?.treeStoreId]);
  });

  it('gcTrees keeps in-use trees; removeImage removes the image and its trees', async () => {
    const a = await image('example.com/a', [file('rootfs/x')]);
    const b = await image('example.com/b', [file('rootfs/y')]);
    const ta = await store.renderTree(a.key);
    const tb = await store.renderTree(b.key);
    mkdirSync(join(store.layout.treeDir, `.tmp-${ta.treeStoreId}.1.dead`));
    assert.deepEqual(store.trees.gc(new Set([ta.treeStoreId])), [tb.treeStoreId]);
    assert.deepEqual(readdirSync(store.layout.treeDir), [ta.treeStoreId]);
    assert.equal(store.imageInfo(b.key)?.treeStoreSize, 0);
    await store.removeImage(a.key);
    assert.deepEqual(readdirSync(store.layout.treeDir), []);
  });

  it('renderTo writes a plain copy, rootfs-only on request', async () => {
    const base = await image('example.com/base', [file('rootfs/base')]);
    const a = await image('example.com/a', [file('rootfs/top')], [base]);
    const out = join(t.dir, 'out');
    await store.renderTo(a.key, out);
    assert.deepEqual(nonDirs(snapshot(out)), ['manifest', 'rootfs/base', 'rootfs/top']);
    await assert.rejects(store.renderTo(a.key, out), /output directory exists/);
    await store.renderTo(a.key, out, { overwrite: true, rootfsOnly: true });
    assert.deepEqual(nonDirs(snapshot(out)), ['base', 'top']);
    assert.deepEqual(store.trees.ids(), [], 'no tree store entry is made');
  });

  it('refuses a dependency cycle', async () => {
    // A cycle needs an image that names its own dependent by name (IDs cannot form cycles).
    const a1 = await image(
      'example.com/loop',
      [],
      [{ key: '', imageId: '', name: 'example.com/loop' }],
      undefined,
      true,
    );
    await assert.rejects(store.renderTree(a1.key), /dependency cycle/);
  });
});

describe('render: acirenderer_test.go cases', () => {
  it('TestDirFromParent: the parent provides a dir', async () => {
    const p = await image('example.com/test01', [dir('rootfs/a')]);
    const { snap } = await render(await image('example.com/test02', [], [p]));
    assert.equal(snap.get('rootfs/a')?.type, 'directory');
  });

  it('TestNewDir: the image provides a dir', async () => {
    const p = await image('example.com/test01', []);
    const { snap } = await render(await image('example.com/test02', [dir('rootfs/a')], [p]));
    assert.equal(snap.get('rootfs/a')?.type, 'directory');
  });

  it('TestDirOverride: the image overrides dir modes of the parent', async () => {
    const p = await image('example.com/test01', [dir('rootfs/a', 0o700)]);
    const { snap } = await render(await image('example.com/test02', [dir('rootfs/a', 0o755)], [p]));
    assert.equal(snap.get('rootfs/a')?.mode, 0o755);
  });

  it('TestFileFromParent / TestNewFile / TestFileOverride', async () => {
    const p = await image('example.com/test01', [
      file('rootfs/a/file01.txt', 'hello'),
      file('rootfs/a/file02.txt'),
    ]);
    const { snap } = await render(
      await image(
        'example.com/test02',
        [file('rootfs/a/file01.txt', 'hellohello'), file('rootfs/a/file03.txt')],
        [p],
      ),
    );
    assert.deepEqual(nonDirs(snap), [
      'hash',
      'image',
      'manifest',
      'rendered',
      'rootfs/a/file01.txt',
      'rootfs/a/file02.txt',
      'rootfs/a/file03.txt',
    ]);
    assert.equal(snap.get('rootfs/a/file01.txt')?.size, 10);
  });

  it('TestFileOvverideDir: the image overrides a parent dir with a file', async () => {
    const p = await image('example.com/test01', [
      dir('rootfs/a/b', 0o700),
      dir('rootfs/a/b/c', 0o700),
      file('rootfs/a/b/c/file01', 'hello'),
    ]);
    const { snap } = await render(await image('example.com/test02', [file('rootfs/a/b', 'hellohello')], [p]));
    assert.deepEqual(snap.get('rootfs/a/b'), { type: 'file', size: 10, mode: 0o644 });
    assert.equal(snap.has('rootfs/a/b/c'), false);
  });

  it('TestPWLOnlyParent: the parent has a pathWhitelist', async () => {
    const p = await image(
      'example.com/test01',
      [
        file('rootfs/a/file01.txt'),
        file('rootfs/a/file02.txt'),
        file('rootfs/a/file03.txt'),
        symlink('rootfs/b/link01.txt', 'file01.txt'),
        dir('rootfs/c', 0o700),
        file('rootfs/c/file01.txt', 'hello', 0o700),
        dir('rootfs/d', 0o700),
        file('rootfs/d/file01.txt', 'hello', 0o700),
        file('rootfs/e/file01.txt', 'hello', 0o700),
      ],
      [],
      ['/a/file01.txt', '/a/file02.txt', '/b/link01.txt', '/c/', '/d/'],
    );
    const { snap } = await render(
      await image(
        'example.com/test02',
        [file('rootfs/b/file01.txt', 'hellohello'), file('rootfs/c/file02.txt')],
        [p],
      ),
    );
    assert.deepEqual(
      nonDirs(snap).filter((n) => n.startsWith('rootfs/')),
      [
        'rootfs/a/file01.txt',
        'rootfs/a/file02.txt',
        'rootfs/b/file01.txt',
        'rootfs/b/link01.txt',
        'rootfs/c/file02.txt',
      ],
    );
    assert.equal(snap.get('rootfs/b/file01.txt')?.size, 10);
    assert.equal(snap.get('rootfs/c')?.mode, 0o700);
    assert.equal(snap.get('rootfs/d')?.mode, 0o700);
  });

  it('TestPWLOnlyImage: the image has a pathWhitelist, which also filters its dependency', async () => {
    const p = await image('example.com/test01', [
      file('rootfs/a/file01.txt'),
      file('rootfs/a/file02.txt'),
      file('rootfs/a/file03.txt'),
      symlink('rootfs/b/link01.txt', 'file01.txt'),
      dir('rootfs/c', 0o700),
      file('rootfs/c/file01.txt', 'hello', 0o700),
      dir('rootfs/d', 0o700),
      file('rootfs/d/file01.txt', 'hello', 0o700),
      file('rootfs/e/file01.txt', 'hello', 0o700),
    ]);
    const a = await image(
      'example.com/test02',
      [file('rootfs/a/file01.txt', 'hellohello'), file('rootfs/c/file02.txt')],
      [p],
      ['/a/file01.txt', '/a/file02.txt', '/b/link01.txt', '/b/file01.txt', '/c/file02.txt', '/d/'],
    );
    const { snap } = await render(a);
    assert.deepEqual(
      nonDirs(snap).filter((n) => n.startsWith('rootfs/')),
      ['rootfs/a/file01.txt', 'rootfs/a/file02.txt', 'rootfs/b/link01.txt', 'rootfs/c/file02.txt'],
    );
    assert.equal(snap.get('rootfs/a/file01.txt')?.size, 10);
    assert.equal(snap.get('rootfs/d')?.mode, 0o700);
    assert.equal(snap.has('rootfs/e'), false, "a dependency's directory outside the whitelist is dropped");
  });

  const depB = (pwl?: string[]) =>
    image(
      'example.com/test01',
      [
        file('rootfs/a/file01.txt'),
        file('rootfs/a/file02.txt'),
        file('rootfs/a/file03.txt'),
        file('rootfs/a/file04.txt'),
        symlink('rootfs/b/link01.txt', 'file01.txt'),
      ],
      [],
      pwl,
    );
  const topPwl = [
    '/a/file01.txt',
    '/a/file02.txt',
    '/a/file03.txt',
    '/b/link01.txt',
    '/b/file01.txt',
    '/b/file02.txt',
    '/c/file01.txt',
  ];
  const topEntries = [
    file('rootfs/a/file01.txt', 'hellohellohello'),
    file('rootfs/b/file02.txt'),
    file('rootfs/c/file01.txt'),
  ];
  const expected3 = [
    'rootfs/a/file01.txt',
    'rootfs/a/file02.txt',
    'rootfs/a/file03.txt',
    'rootfs/b/file01.txt',
    'rootfs/b/file02.txt',
    'rootfs/b/link01.txt',
    'rootfs/c/file01.txt',
  ];
  const check3 = (snap: ReturnType<typeof snapshot>) => {
    assert.deepEqual(
      nonDirs(snap).filter((n) => n.startsWith('rootfs/')),
      expected3,
    );
    assert.equal(snap.get('rootfs/a/file01.txt')?.size, 15);
    assert.equal(snap.get('rootfs/a/file02.txt')?.size, 10);
    assert.equal(snap.get('rootfs/a/file03.txt')?.size, 5);
  };

  it('Test2Deps1: A (pwl) → [B (pwl), C]', async () => {
    const b = await depB([
      '/a/file01.txt',
      '/a/file02.txt',
      '/a/file03.txt',
      '/a/file04.txt',
      '/b/link01.txt',
      '/b/file01.txt',
    ]);
    const c = await image('example.com/test02', [
      file('rootfs/a/file01.txt', 'hellohello'),
      file('rootfs/a/file02.txt', 'hellohello'),
      file('rootfs/b/file01.txt'),
    ]);
    check3((await render(await image('example.com/test03', topEntries, [b, c], topPwl))).snap);
  });

  it('Test2Deps2: A (pwl) → [B, C (pwl)]', async () => {
    const b = await depB();
    const c = await image(
      'example.com/test02',
      [
        file('rootfs/a/file01.txt', 'hellohello'),
        file('rootfs/a/file02.txt', 'hellohello'),
        file('rootfs/b/file01.txt'),
      ],
      [],
      ['/a/file01.txt', '/a/file02.txt', '/b/file01.txt'],
    );
    check3((await render(await image('example.com/test03', topEntries, [b, c], topPwl))).snap);
  });

  it('Test3Deps: A (pwl) → [B, C → D]', async () => {
    const b = await depB();
    const d = await image('example.com/test03', [
      file('rootfs/a/file02.txt'),
      file('rootfs/b/file01.txt'),
      dir('rootfs/d', 0o700),
      file('rootfs/d/file01.txt', 'hello', 0o700),
    ]);
    const c = await image(
      'example.com/test02',
      [
        file('rootfs/a/file01.txt', 'hellohello'),
        file('rootfs/a/file02.txt', 'hellohello'),
        file('rootfs/b/file01.txt'),
      ],
      [d],
    );
    const { snap } = await render(await image('example.com/test04', topEntries, [b, c], topPwl));
    check3(snap);
    assert.equal(snap.has('rootfs/d'), false);
  });

  it('TestEmptyRootFsDir: an image with an empty rootfs renders', async () => {
    const { snap } = await render(await image('example.com/test01', []));
    assert.equal(snap.get('rootfs')?.type, 'directory');
  });
});

describe('render: symlinks and safety', () => {
  it('a symlink to a directory in a lower layer is replaced, not followed', async () => {
    const outside = join(t.dir, 'outside');
    mkdirSync(outside);
    const lower = await image('example.com/lower', [
      symlink('rootfs/etc', outside),
      symlink('rootfs/var', '/'),
    ]);
    const upper = await image(
      'example.com/upper',
      [dir('rootfs/etc'), file('rootfs/etc/passwd', 'root'), file('rootfs/var/x')],
      [lower],
    );
    const { snap } = await render(upper);
    assert.equal(snap.get('rootfs/etc')?.type, 'directory');
    assert.equal(snap.get('rootfs/var')?.type, 'directory', 'an implied upper directory wins too');
    assert.equal(snap.get('rootfs/etc/passwd')?.type, 'file');
    assert.deepEqual(readdirSync(outside), []);
  });

  it('a lower layer cannot write below an upper symlink', async () => {
    const outside = join(t.dir, 'outside2');
    mkdirSync(outside);
    const lower = await image('example.com/lower', [dir('rootfs/data'), file('rootfs/data/evil', 'x')]);
    const upper = await image('example.com/upper', [symlink('rootfs/data', outside)], [lower]);
    const { snap } = await render(upper);
    assert.equal(snap.get('rootfs/data')?.type, 'symlink');
    assert.deepEqual(readdirSync(outside), []);
  });

  it('detects a blob that does not match its key', async () => {
    const a = await image('example.com/a', [file('rootfs/x')]);
    const blob = store.layout.blobPath(a.key);
    const bytes = readFileSync(blob);
    const other = await makeAciBytes(manifestText('example.com/a'), [file('rootfs/x', 'tampered')]);
    assert.notDeepEqual(bytes, other);
    writeFileSync(blob, other);
    await assert.rejects(store.renderTree(a.key), /image hash does not match expected/);
    assert.deepEqual(readdirSync(store.layout.treeDir), [], 'a failed render leaves nothing');
  });
});
