/**
 * The store used by several processes at once: concurrent imports of one image, and an import
 * killed with SIGKILL half-way.
 */
import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { existsSync, mkdirSync, mkdtempSync, readdirSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { fileURLToPath } from 'node:url';
import { after, before, describe, it } from 'node:test';
import { buildAci } from '../../../src/aci/index.js';
import { Store } from '../../../src/store/index.js';

// Run from test/ (tsx) the helper is .ts and needs tsx; run from dist/test/ it is compiled .js.
const here = dirname(fileURLToPath(import.meta.url));
const fromSource = import.meta.url.endsWith('.ts');
const childScript = join(here, fromSource ? 'import-child.ts' : 'import-child.js');
const nodeArgs = fromSource ? ['--import', 'tsx', childScript] : [childScript];

const children = new Set<ChildProcess>();

function spawnImport(
  dataDir: string,
  aci: string,
  slow = false,
): {
  child: ChildProcess;
  done: Promise<{ code: number | null; signal: NodeJS.Signals | null; stdout: string; stderr: string }>;
} {
  const child = spawn(process.execPath, [...nodeArgs, dataDir, aci, ...(slow ? ['--slow'] : [])], {
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  children.add(child);
  let stdout = '';
  let stderr = '';
  child.stdout?.setEncoding('utf8').on('data', (d: string) => (stdout += d));
  child.stderr?.setEncoding('utf8').on('data', (d: string) => (stderr += d));
  const done = new Promise<{
    code: number | null;
    signal: NodeJS.Signals | null;
    stdout: string;
    stderr: string;
  }>((resolve, reject) => {
    child.on('error', reject);
    child.on('close', (code, signal) => {
      children.delete(child);
      resolve({ code, signal, stdout, stderr });
    });
  });
  return { child, done };
}

async function layoutAci(root: string, name: string, fill: (rootfs: string) => void): Promise<string> {
  const layout = join(root, `${name}-layout`);
  mkdirSync(join(layout, 'rootfs'), { recursive: true });
  writeFileSync(
    join(layout, 'manifest'),
    JSON.stringify({ acKind: 'ImageManifest', acVersion: '0.8.11', name: `example.com/${name}` }),
  );
  fill(join(layout, 'rootfs'));
  const out = join(root, `${name}.aci`);
  await buildAci(layout, out, { compression: 'none' });
  return out;
}

describe('store: several processes', () => {
  let root: string;
  before(() => {
    root = mkdtempSync(join(tmpdir(), 'rocket-store-mp-'));
  });
  after(() => {
    for (const c of children) if (c.pid !== undefined) process.kill(c.pid, 'SIGKILL');
    rmSync(root, { recursive: true, force: true });
  });

  it('4 concurrent imports of one image end with one row and one blob', async () => {
    const aci = await layoutAci(root, 'same', (rootfs) =>
      writeFileSync(join(rootfs, 'data'), randomBytes(2 * 1024 * 1024)),
    );
    const dataDir = join(root, 'data-concurrent');
    Store.open(dataDir).close(); // create the DB first so the children race on the import only
    const results = await Promise.all([1, 2, 3, 4].map(() => spawnImport(dataDir, aci).done));
    for (const r of results) assert.equal(r.code, 0, r.stderr);
    const parsed = results.map((r) => JSON.parse(r.stdout) as { key: string; alreadyPresent: boolean });
    assert.equal(new Set(parsed.map((p) => p.key)).size, 1);
    assert.equal(parsed.filter((p) => !p.alreadyPresent).length, 1);
    const store = Store.open(dataDir);
    try {
      assert.equal(store.listImages().length, 1);
      const key = parsed[0]?.key as string;
      const shard = dirname(store.layout.blobPath(key));
      assert.deepEqual(readdirSync(shard), [key]);
      assert.deepEqual(readdirSync(join(store.layout.blobDir, 'sha512')), [key.slice(7, 9)]);
      assert.deepEqual(readdirSync(store.layout.tmpDir), []);
    } finally {
      store.close();
    }
  });

  it('an import killed half-way leaves a consistent store; gc reclaims its temp file', async () => {
    const aci = await layoutAci(root, 'big', (rootfs) => {
      for (let i = 0; i < 5; i++) writeFileSync(join(rootfs, `blob${i}`), randomBytes(10 * 1024 * 1024));
    });
    const dataDir = join(root, 'data-killed');
    const store = Store.open(dataDir);
    try {
      const { child, done } = spawnImport(dataDir, aci, true);
      // Wait until the import has written a few MiB of its temp file, then kill it.
      const deadline = Date.now() + 30_000;
      let killed = false;
      while (Date.now() < deadline) {
        const temps = existsSync(store.layout.tmpDir) ? readdirSync(store.layout.tmpDir) : [];
        const size = temps.reduce((n, f) => n + statSync(join(store.layout.tmpDir, f)).size, 0);
        if (size > 4 * 1024 * 1024) {
          process.kill(child.pid as number, 'SIGKILL');
          killed = true;
          break;
        }
        await sleep(20);
      }
      assert.ok(killed, 'the import was still running');
      const r = await done;
      assert.equal(r.signal, 'SIGKILL');

      assert.deepEqual(store.listImages(), [], 'no row');
      assert.equal(readdirSync(store.layout.tmpDir).length, 1, 'its temp file is left');
      // Young, but no longer locked by anyone: gc with no minimum age takes it.
      assert.equal((await store.gcTemp(0)).length, 1);
      assert.deepEqual(readdirSync(store.layout.tmpDir), []);
      assert.deepEqual(store.gcImages(0).orphans, []);

      const res = await store.importImage(aci);
      assert.equal(res.alreadyPresent, false);
      assert.ok(existsSync(store.layout.blobPath(res.key)));
      assert.equal(store.listImages().length, 1);
    } finally {
      store.close();
    }
  });
});
