/**
 * The kill suite: `rkt fetch`, `image render`, `run` (oci engine, crun and runc) and `gc`/`image gc`
 * killed with SIGKILL at points a seeded generator picks, in a loop bounded in time. After each kill
 * the store and the host must be consistent once gc has run: every listed image renders, no blob
 * or manifest is left without its image, no temp file is held, and no pod, mount, cgroup, runtime
 * state or namespace file outlives gc.
 */
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { existsSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { podCgroupDirs } from '../../../src/stage1/oci/engine.js';
import { which } from '../../../src/stage1/oci/runtime.js';
import { Store } from '../../../src/store/index.js';
import { skipUnlessCI } from '../../helpers.js';
import { buildBusyboxAci } from '../busybox-aci.js';
import { Rkt, podTestSkip, type Result } from '../fly/fixture.js';

const skip =
  podTestSkip() !== false
    ? podTestSkip()
    : ['crun', 'runc'].some((r) => which(r) === undefined)
      ? 'needs crun and runc'
      : false;

/** The loop's time budget, and its seed (the same kill points on every run, as far as timing allows). */
const BUDGET_MS = 60_000;
const SEED = 0x16c0de;

/** mulberry32: a small seeded generator of numbers in [0, 1). */
function generator(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

type Op = 'fetch' | 'render' | 'run' | 'gc' | 'image gc';

describe('kill -9 at random points, then a consistency check', { skip: skipUnlessCI(skip) }, () => {
  let rkt: Rkt;
  const acis: string[] = [];
  const uuids = new Set<string>();
  const tally: Record<Op, { tried: number; killed: number }> = {
    fetch: { tried: 0, killed: 0 },
    render: { tried: 0, killed: 0 },
    run: { tried: 0, killed: 0 },
    gc: { tried: 0, killed: 0 },
    'image gc': { tried: 0, killed: 0 },
  };

  before(() => {
    rkt = new Rkt('rocket-kill-');
    // Images of different sizes (incompressible filler), so kills land before, during and after
    // the copy into the store.
    for (const [i, size] of [16 << 10, 2 << 20, 8 << 20].entries()) {
      acis.push(
        buildBusyboxAci(rkt.work, `kill${i}`, {
          applets: ['sh', 'true'],
          files: { filler: randomBytes(size / 2).toString('hex') },
          app: { exec: ['/bin/true'] },
        }),
      );
    }
  });
  after(() => {
    rkt?.cleanup();
    for (const uuid of uuids) for (const d of podCgroupDirs(`rkt-${uuid}`)) spawnSync('rmdir', [d]);
  });

  /** Image IDs that `rkt image list` shows. */
  async function listed(): Promise<string[]> {
    const r = await rkt.run('image', 'list', '--no-legend', '--full', '--fields=id');
    assert.equal(r.code, 0, r.stderr);
    return r.stdout
      .split('\n')
      .map((l) => l.trim())
      .filter((l) => l !== '');
  }

  function podUuids(): string[] {
    const pods = join(rkt.data, 'pods');
    const out: string[] = [];
    for (const state of existsSync(pods) ? readdirSync(pods) : [])
      for (const uuid of readdirSync(join(pods, state))) out.push(`${state}/${uuid}`);
    return out;
  }

  /** Runs the gc verbs until pods are gone (apps are /bin/true, so every pod ends by itself). */
  async function collect(): Promise<void> {
    for (let i = 0; i < 3; i++) {
      for (const p of podUuids()) uuids.add(p.slice(p.indexOf('/') + 1));
      const gc = await rkt.run('gc', '--grace-period=0s', '--expire-prepared=0s');
      assert.equal(gc.code, 0, gc.stderr);
      if (podUuids().length === 0) break;
    }
    // The default grace period keeps the images (so there is something to render) and still
    // removes what killed imports left.
    const igc = await rkt.run('image', 'gc');
    assert.equal(igc.code, 0, igc.stderr);
  }

  async function check(what: string): Promise<void> {
    await collect();
    assert.deepEqual(podUuids(), [], `${what}: pods left after gc`);
    const ids = await listed();
    for (const id of ids) {
      const out = join(rkt.work, 'render-check');
      const r = await rkt.run('image', 'render', '--overwrite', id, out);
      assert.equal(r.code, 0, `${what}: listed image ${id} does not render: ${r.stderr}`);
      assert.ok(
        existsSync(join(out, 'rootfs', 'bin', 'busybox')),
        `${what}: ${id} rendered without its files`,
      );
      rmSync(out, { recursive: true, force: true });
    }
    // No blob or manifest without a listed image (image gc removes the orphans of killed imports).
    const cas = join(rkt.data, 'cas');
    for (const kind of ['blob', 'imageManifest']) {
      for (const alg of existsSync(join(cas, kind)) ? readdirSync(join(cas, kind)) : [])
        for (const shard of readdirSync(join(cas, kind, alg)))
          for (const key of readdirSync(join(cas, kind, alg, shard)))
            assert.ok(
              ids.some((id) => key.startsWith(id) || id.startsWith(key)),
              `${what}: orphan ${kind} ${key}`,
            );
    }
    // No temp file that a live process holds: gc may take every one (its age rule aside).
    const store = Store.open(rkt.data);
    try {
      await store.gcTemp(0);
    } finally {
      store.close();
    }
    const trees = join(cas, 'tree');
    assert.deepEqual(
      (existsSync(trees) ? readdirSync(trees) : []).filter((n) => n.startsWith('.tmp-')),
      [],
      `${what}: render temp dirs left`,
    );
    const tmp = join(cas, 'tmp');
    assert.deepEqual(existsSync(tmp) ? readdirSync(tmp) : [], [], `${what}: temp files held after the kill`);
    // Nothing of any pod on the host.
    assert.deepEqual(rkt.hostMounts(), [], `${what}: mounts left`);
    for (const uuid of uuids) {
      assert.deepEqual(podCgroupDirs(`rkt-${uuid}`), [], `${what}: cgroup of ${uuid} left`);
      for (const rt of ['/run/crun', '/run/runc'])
        assert.deepEqual(
          (existsSync(rt) ? readdirSync(rt) : []).filter((n) => n.startsWith(`rkt-${uuid}`)),
          [],
          `${what}: ${rt} state of ${uuid} left`,
        );
    }
  }

  it('keeps the store and the host consistent', { timeout: BUDGET_MS * 4 }, async (t) => {
    const random = generator(SEED);
    const pick = <T>(xs: readonly T[]): T => xs[Math.floor(random() * xs.length)] as T;
    // One image to start with, so render has something.
    const first = await rkt.run('--insecure-options=image', 'fetch', acis[0] as string);
    assert.equal(first.code, 0, first.stderr);
    await check('the first fetch');

    const end = Date.now() + BUDGET_MS;
    let round = 0;
    while (Date.now() < end) {
      round++;
      const op = pick<Op>(['fetch', 'render', 'run', 'run', 'gc', 'image gc']);
      const aci = pick(acis);
      let args: string[];
      if (op === 'fetch') args = ['--insecure-options=image', 'fetch', aci];
      else if (op === 'render') {
        const ids = await listed();
        if (ids.length === 0) {
          const again = await rkt.run('--insecure-options=image', 'fetch', aci);
          assert.equal(again.code, 0, again.stderr);
          ids.push(again.stdout.trim());
        }
        const out = join(rkt.work, `render-${round}`);
        args = ['image', 'render', pick(ids), out];
      } else if (op === 'run')
        args = [
          '--insecure-options=image',
          'run',
          '--net=none',
          `--stage1-name=oci-${pick(['crun', 'runc'])}`,
          `--uuid-file-save=${join(rkt.work, `uuid-${round}`)}`,
          aci,
        ];
      else if (op === 'gc') args = ['gc', '--grace-period=0s'];
      else args = ['image', 'gc', '--grace-period=0s'];
      // The kill point: a time into the command, up to about as long as the command takes.
      const delay = Math.floor(random() * (op === 'run' ? 1500 : 600));
      tally[op].tried++;
      const running = rkt.start(args);
      const killer = setTimeout(() => {
        if (running.child.exitCode === null && running.child.signalCode === null) {
          tally[op].killed++;
          running.child.kill('SIGKILL');
        }
      }, delay);
      const r: Result = await running.done;
      clearTimeout(killer);
      const uuidFile = join(rkt.work, `uuid-${round}`);
      if (existsSync(uuidFile)) uuids.add(readFileSync(uuidFile, 'utf8').trim());
      if (r.code !== 128) assert.ok(r.code === 0, `${op} failed without a kill: ${r.stderr}`);
      rmSync(join(rkt.work, `render-${round}`), { recursive: true, force: true });
      await check(`round ${round} (${op}, killed after ${delay} ms)`);
    }
    const kills = Object.values(tally).reduce((n, v) => n + v.killed, 0);
    t.diagnostic(`kill suite: ${round} rounds, ${kills} kills: ${JSON.stringify(tally)}`);
    assert.ok(kills >= 5, `only ${kills} kills landed`);
  });
});
