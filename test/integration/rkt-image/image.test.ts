/**
 * `rkt image ...` end to end: bin/rkt runs as a child process against a data dir whose store is
 * filled in-process with ACIs built here.
 */
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { existsSync, lstatSync, readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import { after, before, describe, it } from 'node:test';
import { Store } from '../../../src/store/index.js';
import { notRoot, projectRoot, run, tempDir, type RunResult } from '../../helpers.js';
import { makeAciBytes, manifestText } from '../../unit/store/helpers.js';

const rktBin = join(projectRoot, 'bin', 'rkt');
const sha512 = (b: Buffer) => 'sha512-' + createHash('sha512').update(b).digest('hex');
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

interface Imported {
  key: string;
  imageId: string;
}

async function importAci(
  dataDir: string,
  name: string,
  opts: { labels?: Record<string, string>; files?: Record<string, string>; deps?: string[] } = {},
): Promise<Imported> {
  const extra: Record<string, unknown> = {};
  if (opts.labels !== undefined)
    extra.labels = Object.entries(opts.labels).map(([n, value]) => ({ name: n, value }));
  if (opts.deps !== undefined) extra.dependencies = opts.deps.map((imageName) => ({ imageName }));
  const bytes = await makeAciBytes(
    manifestText(name, extra),
    Object.entries(opts.files ?? {}).map(([file, body]) => ({ name: `rootfs/${file}`, body })),
  );
  const store = Store.open(dataDir);
  try {
    const res = await store.importImage(Readable.from([bytes]));
    return { key: res.key, imageId: res.imageId };
  } finally {
    store.close();
  }
}

function rkt(dataDir: string, ...args: string[]): Promise<RunResult> {
  return run(rktBin, ['--dir', dataDir, 'image', ...args]);
}

/** The display column where each cell of a line starts, with tabs expanded to stops of 8. */
function columns(line: string): number[] {
  const out: number[] = [];
  let col = 0;
  let atCellStart = true;
  for (const ch of line) {
    if (ch === '\t') {
      col = (Math.floor(col / 8) + 1) * 8;
      atCellStart = true;
      continue;
    }
    if (atCellStart) out.push(col);
    atCellStart = false;
    col++;
  }
  return out;
}

const cells = (line: string) => line.split(/\t+/);

describe('rkt image (populated store)', () => {
  let t: Awaited<ReturnType<typeof tempDir>>;
  let data: string;
  let a: Imported;
  let b: Imported;
  let base: Imported;
  let app: Imported;

  before(async () => {
    t = await tempDir('rocket-rkt-image-');
    data = join(t.path, 'data');
    a = await importAci(data, 'example.com/a', { labels: { version: '1.0' }, files: { 'a.txt': 'a\n' } });
    await sleep(5);
    b = await importAci(data, 'example.com/b', { files: { 'b.bin': 'b'.repeat(20000) } });
    await sleep(5);
    base = await importAci(data, 'example.com/base', { files: { 'base.txt': 'base\n' } });
    await sleep(5);
    app = await importAci(data, 'example.com/app', {
      labels: { version: '2' },
      files: { 'app.txt': 'app\n' },
      deps: ['example.com/base'],
    });
  });
  after(() => t.cleanup());

  it('list prints the default columns, aligned, in import order', async () => {
    const r = await rkt(data, 'list');
    assert.equal(r.code, 0, r.stderr);
    const lines = r.stdout.split('\n');
    assert.equal(lines.pop(), '');
    assert.deepEqual(cells(lines[0] ?? ''), ['ID', 'NAME', 'SIZE', 'IMPORT TIME', 'LAST USED']);
    assert.deepEqual(
      lines.slice(1).map((l) => cells(l)[1]),
      ['example.com/a:1.0', 'example.com/b', 'example.com/base', 'example.com/app:2'],
    );
    assert.deepEqual(
      lines.slice(1).map((l) => cells(l)[0]),
      [a, b, base, app].map((i) => i.key.slice(0, 19)),
    );
    for (const l of lines.slice(1)) {
      const [, , size, imported, used] = cells(l);
      assert.match(size ?? '', /^\d+(\.\d)?(B|KiB)$/);
      assert.match(imported ?? '', /^(now|1 second ago|\d+ seconds ago)$/);
      assert.match(used ?? '', /^(now|1 second ago|\d+ seconds ago)$/);
    }
    const starts = lines.map(columns);
    for (const s of starts) assert.deepEqual(s, starts[0], 'columns line up at the same tab stops');
  });

  it('list --no-legend --fields=name,size', async () => {
    const r = await rkt(data, 'list', '--no-legend', '--fields=name,size');
    assert.equal(r.code, 0, r.stderr);
    const lines = r.stdout.trimEnd().split('\n');
    assert.equal(lines.length, 4);
    assert.deepEqual(cells(lines[1] ?? '').slice(0, 1), ['example.com/b']);
    assert.match(cells(lines[1] ?? '')[1] ?? '', /KiB$/);
  });

  it('list --full shows full IDs, bytes and Go-layout times', async () => {
    const r = await rkt(data, 'list', '--full', '--no-legend');
    assert.equal(r.code, 0, r.stderr);
    const first = cells(r.stdout.split('\n')[0] ?? '');
    assert.equal(first[0], a.key);
    assert.match(first[2] ?? '', /^\d+$/);
    assert.match(first[3] ?? '', /^\d{4}-\d\d-\d\d \d\d:\d\d:\d\d(\.\d{1,3})? [+-]\d{4} \S+$/);
  });

  it('list --format=json and json-pretty', async () => {
    const r = await rkt(data, 'list', '--format=json');
    assert.equal(r.code, 0, r.stderr);
    assert.equal(r.stdout.split('\n').length, 2);
    const list = JSON.parse(r.stdout) as Record<string, unknown>[];
    assert.equal(list.length, 4);
    assert.deepEqual(Object.keys(list[0] ?? {}), ['id', 'name', 'import_time', 'last_used_time', 'size']);
    assert.equal(list[0]?.id, a.key);
    assert.equal(list[0]?.name, 'example.com/a:1.0');
    // int64 nanoseconds: read them from the text, not through a lossy double
    const ns = /"import_time":(\d+)/.exec(r.stdout)?.[1] ?? '';
    assert.equal(ns.length, 19);
    assert.ok(Math.abs(Number(BigInt(ns) / 1_000_000n) - Date.now()) < 600_000);
    const pretty = await rkt(data, 'list', '--format=json-pretty');
    assert.ok(pretty.stdout.startsWith('[\n\t{\n\t\t"id": '));
    assert.deepEqual(JSON.parse(pretty.stdout), list);
  });

  it('list --sort and --order', async () => {
    const names = async (...flags: string[]) => {
      const r = await rkt(data, 'list', '--no-legend', '--fields=name', ...flags);
      assert.equal(r.code, 0, r.stderr);
      return r.stdout.trimEnd().split('\n');
    };
    assert.deepEqual(await names('--sort=name'), [
      'example.com/a:1.0',
      'example.com/app:2',
      'example.com/b',
      'example.com/base',
    ]);
    assert.deepEqual(await names('--sort=name', '--order=desc'), [
      'example.com/base',
      'example.com/b',
      'example.com/app:2',
      'example.com/a:1.0',
    ]);
    assert.deepEqual((await names('--sort=size', '--order=DESC'))[0], 'example.com/b');
    assert.deepEqual((await names('--order=desc'))[0], 'example.com/app:2');
  });

  it('list rejects bad flag values with 254', async () => {
    for (const flag of [
      '--fields=id,latest',
      '--sort=id',
      '--order=up',
      '--format=yaml',
      '--fields=name,name',
    ]) {
      const r = await rkt(data, 'list', flag);
      assert.equal(r.code, 254, flag);
      assert.equal(r.stdout, '');
    }
  });

  it('cat-manifest by name (pretty, tab-indented) and by ID without pretty-print', async () => {
    const r = await rkt(data, 'cat-manifest', 'example.com/a:1.0');
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stdout, /^\{\n\t"acKind": "ImageManifest",\n/);
    assert.equal((JSON.parse(r.stdout) as { name: string }).name, 'example.com/a');
    const compact = await rkt(data, 'cat-manifest', '--pretty-print=false', a.key.slice(0, 19));
    assert.equal(compact.code, 0, compact.stderr);
    assert.equal(compact.stdout.split('\n').length, 2);
    assert.deepEqual(JSON.parse(compact.stdout), JSON.parse(r.stdout));
  });

  it('cat-manifest of a missing image fails with one line and 254', async () => {
    const r = await rkt(data, 'cat-manifest', 'example.com/nope');
    assert.equal(r.code, 254);
    assert.equal(r.stderr.trimEnd().split('\n').length, 1);
    assert.match(r.stderr, /^cat-manifest: cannot find aci satisfying name: "example.com\/nope"/);
  });

  it('export writes the image whose sha512 is its ID, and refuses to overwrite', async () => {
    const out = join(t.path, 'out.aci');
    const r = await rkt(data, 'export', b.key.slice(0, 19), out);
    assert.equal(r.code, 0, r.stderr);
    assert.equal(sha512(readFileSync(out)), b.imageId);
    const again = await rkt(data, 'export', 'example.com/b', out);
    assert.equal(again.code, 254);
    assert.match(again.stderr, /^export: output ACI file exists \(try --overwrite\)\n$/);
    const over = await rkt(data, 'export', '--overwrite', 'example.com/a', out);
    assert.equal(over.code, 0, over.stderr);
    assert.equal(sha512(readFileSync(out)), a.imageId);
  });

  it('extract writes manifest and rootfs, or the rootfs only', async () => {
    const dir = join(t.path, 'extracted');
    const r = await rkt(data, 'extract', 'example.com/a', dir);
    assert.equal(r.code, 0, r.stderr);
    assert.deepEqual(readdirSync(dir).sort(), ['manifest', 'rootfs']);
    assert.equal(readFileSync(join(dir, 'rootfs', 'a.txt'), 'utf8'), 'a\n');
    const again = await rkt(data, 'extract', 'example.com/a', dir);
    assert.equal(again.code, 254);
    assert.match(again.stderr, /output directory exists \(try --overwrite\)/);
    const rootfsOnly = await rkt(data, 'extract', '--rootfs-only', '--overwrite', 'example.com/a', dir);
    assert.equal(rootfsOnly.code, 0, rootfsOnly.stderr);
    assert.deepEqual(readdirSync(dir), ['a.txt']);
  });

  it('render merges the dependencies', async () => {
    const dir = join(t.path, 'rendered');
    const r = await rkt(data, 'render', 'example.com/app', dir);
    assert.equal(r.code, 0, r.stderr);
    assert.ok(existsSync(join(dir, 'manifest')));
    assert.equal(readFileSync(join(dir, 'rootfs', 'app.txt'), 'utf8'), 'app\n');
    assert.equal(readFileSync(join(dir, 'rootfs', 'base.txt'), 'utf8'), 'base\n');
    const rootfsOnly = await rkt(data, 'render', '--rootfs-only', '--overwrite', app.key, dir);
    assert.equal(rootfsOnly.code, 0, rootfsOnly.stderr);
    assert.deepEqual(readdirSync(dir).sort(), ['app.txt', 'base.txt']);
  });

  it('usage errors exit 254', async () => {
    assert.equal((await rkt(data, 'export', 'example.com/a')).code, 254);
    assert.equal((await rkt(data, 'rm')).code, 254);
    assert.equal((await rkt(data, 'gc', '--grace-period=1d')).code, 254);
  });
});

/** Two images whose IDs share their first two hex digits (the shortest prefix rkt resolves). */
async function collidingImages(): Promise<[Buffer, Buffer]> {
  const seen = new Map<string, Buffer>();
  for (let i = 0; ; i++) {
    const bytes = await makeAciBytes(manifestText(`example.com/c${i}`), []);
    const prefix = sha512(bytes).slice(0, 9);
    const other = seen.get(prefix);
    if (other !== undefined) return [other, bytes];
    seen.set(prefix, bytes);
  }
}

describe('rkt image rm', () => {
  let t: Awaited<ReturnType<typeof tempDir>>;
  let data: string;
  before(async () => {
    t = await tempDir('rocket-rkt-image-rm-');
    data = join(t.path, 'data');
  });
  after(() => t.cleanup());

  it('removes by ID prefix and by name, with rkt output', async () => {
    const x = await importAci(data, 'example.com/x', { labels: { version: '3' } });
    const y = await importAci(data, 'example.com/y');
    const r = await rkt(data, 'rm', x.key.slice(0, 19), 'example.com/y');
    assert.equal(r.code, 0, r.stderr);
    assert.equal(
      r.stdout,
      `successfully removed aci for image: "${x.key}"\nsuccessfully removed aci for image: "${y.key}"\n`,
    );
    assert.equal(r.stderr, 'rm: 2 image(s) successfully removed\n');
    const list = await rkt(data, 'list', '--format=json');
    assert.equal(list.stdout, 'null\n');
  });

  it('an ambiguous prefix removes nothing and exits 254; good arguments are still removed', async () => {
    const [one, two] = await collidingImages();
    const store = Store.open(data);
    const k1 = (await store.importImage(Readable.from([one]))).key;
    await store.importImage(Readable.from([two]));
    store.close();
    const z = await importAci(data, 'example.com/z');
    const r = await rkt(data, 'rm', k1.slice(0, 9), 'example.com/z');
    assert.equal(r.code, 254);
    assert.match(r.stderr, /^rm: ambiguous image ID: "sha512-[0-9a-f]{2}"\n/m);
    assert.match(r.stderr, /^rm: error\(s\) found while removing images$/m);
    assert.equal(r.stdout, `successfully removed aci for image: "${z.key}"\n`);
    const left = JSON.parse((await rkt(data, 'list', '--format=json')).stdout) as unknown[];
    assert.equal(left.length, 2);
    const missing = await rkt(data, 'rm', 'sha512-0000000000');
    assert.equal(missing.code, 254);
    assert.match(missing.stderr, /^rm: no image IDs found\n/);
  });
});

describe('rkt image render and extract: device nodes', { skip: notRoot }, () => {
  let t: Awaited<ReturnType<typeof tempDir>>;
  let data: string;
  let hostile: Imported;
  before(async () => {
    t = await tempDir('rocket-rkt-image-dev-');
    data = join(t.path, 'data');
    // A hostile image: the host's disk (254:0) and a memory device, world-writable.
    const bytes = await makeAciBytes(manifestText('example.com/hostile'), [
      { name: 'rootfs/dev', type: 'directory' },
      { name: 'rootfs/dev/disk', type: 'block-device', mode: 0o666, devmajor: 254, devminor: 0 },
      { name: 'rootfs/dev/mem', type: 'character-device', mode: 0o666, devmajor: 1, devminor: 1 },
      { name: 'rootfs/dev/pipe', type: 'fifo', mode: 0o600 },
      { name: 'rootfs/ok.txt', body: 'ok\n' },
    ]);
    const store = Store.open(data);
    try {
      const res = await store.importImage(Readable.from([bytes]));
      hostile = { key: res.key, imageId: res.imageId };
    } finally {
      store.close();
    }
  });
  after(() => t.cleanup());

  for (const verb of ['render', 'extract']) {
    it(`${verb} skips them with a warning each; --create-devices makes them`, async () => {
      const dir = join(t.path, `${verb}-out`);
      const r = await rkt(data, verb, 'example.com/hostile', dir);
      assert.equal(r.code, 0, r.stderr);
      const warnings = r.stderr.trimEnd().split('\n').sort();
      assert.deepEqual(warnings, [
        `${verb}: warning: image ${hostile.key}: entry "rootfs/dev/disk": block device 254:0 not created (--create-devices makes device nodes)`,
        `${verb}: warning: image ${hostile.key}: entry "rootfs/dev/mem": character device 1:1 not created (--create-devices makes device nodes)`,
      ]);
      assert.deepEqual(readdirSync(join(dir, 'rootfs', 'dev')), ['pipe']);
      assert.ok(lstatSync(join(dir, 'rootfs', 'dev', 'pipe')).isFIFO());
      assert.equal(readFileSync(join(dir, 'rootfs', 'ok.txt'), 'utf8'), 'ok\n');

      const made = await rkt(data, verb, '--overwrite', '--create-devices', hostile.key, dir);
      assert.equal(made.code, 0, made.stderr);
      assert.equal(made.stderr, '');
      const disk = lstatSync(join(dir, 'rootfs', 'dev', 'disk'));
      assert.ok(disk.isBlockDevice());
      assert.equal(disk.rdev, (254 << 8) | 0);
      assert.ok(lstatSync(join(dir, 'rootfs', 'dev', 'mem')).isCharacterDevice());
    });
  }

  it("a pod's tree in the store keeps them", async () => {
    const store = Store.open(data);
    try {
      const tree = await store.renderTree(hostile.key);
      assert.ok(lstatSync(join(tree.path, 'rootfs', 'dev', 'disk')).isBlockDevice());
    } finally {
      store.close();
    }
  });
});

describe('rkt image gc', () => {
  let t: Awaited<ReturnType<typeof tempDir>>;
  let data: string;
  before(async () => {
    t = await tempDir('rocket-rkt-image-gc-');
    data = join(t.path, 'data');
  });
  after(() => t.cleanup());

  it('keeps recently used images by default, and with a zero grace period removes unused images and trees', async () => {
    const p = await importAci(data, 'example.com/p', { files: { p: 'p' } });
    const q = await importAci(data, 'example.com/q');
    const store = Store.open(data);
    const tree = await store.renderTree(p.key);
    store.close();

    const keep = await rkt(data, 'gc');
    assert.equal(keep.code, 0, keep.stderr);
    assert.equal(keep.stdout, '');
    assert.equal(keep.stderr, `gc: removed treestore "${tree.treeStoreId}"\n`);

    await sleep(5);
    const r = await rkt(data, 'gc', '--grace-period=0s');
    assert.equal(r.code, 0, r.stderr);
    assert.deepEqual(
      r.stdout.trimEnd().split('\n').sort(),
      [p.key, q.key].map((k) => `successfully removed aci for image: "${k}"`).sort(),
    );
    assert.equal(r.stderr, 'gc: 2 image(s) successfully removed\n');
    assert.equal((await rkt(data, 'list', '--no-legend')).stdout, '');
  });
});
