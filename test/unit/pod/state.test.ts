import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync, mkdirSync, utimesSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { RocketError } from '../../../src/errors.js';
import {
  DirLock,
  PodsLayout,
  gcPods,
  getPod,
  getSettledPod,
  inLocalTeardown,
  listPods,
  listSettledPods,
  mountsUnder,
  podsInUse,
  removePod,
  resolveUuidPrefix,
  settlePod,
  stateOf,
  type GcOutput,
  type PodGcHook,
  type PodInfo,
} from '../../../src/pod/index.js';
import { tempDir } from '../../helpers.js';

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** Holds an exclusive flock on `dir` in a child process tree: flock(1) forks `sleep` with the fd. */
async function holdLock(
  dir: string,
  closeInChild = false,
): Promise<{ flock: ChildProcess; sleepPid: () => number }> {
  const args = closeInChild
    ? ['-o', '-x', dir, 'sleep', '60']
    : ['-x', dir, 'sh', '-c', 'echo $$; exec sleep 60'];
  // Its own process group: the suite's end kills the whole tree (a `sleep` outlives a killed flock).
  const flock = spawn('flock', args, { stdio: ['ignore', 'pipe', 'inherit'], detached: true });
  let pid = 0;
  flock.stdout?.setEncoding('utf8').on('data', (d: string) => (pid = Number(d.trim())));
  for (let i = 0; i < 200 && !isLocked(dir); i++) await sleep(10);
  assert.ok(isLocked(dir), 'child took the lock');
  return { flock, sleepPid: () => pid };
}

function isLocked(dir: string): boolean {
  const l = DirLock.tryAcquire(dir, 'shared');
  if (l === undefined) return true;
  l.release();
  return false;
}

function makePod(
  layout: PodsLayout,
  state: 'prepare' | 'prepared' | 'run' | 'exited-garbage' | 'garbage',
  uuid: string,
  apps: string[] = [],
): string {
  const dir = layout.podDir(state, uuid);
  mkdirSync(dir, { recursive: true });
  writeFileSync(join(dir, 'pod-created'), '');
  const manifest = {
    acVersion: '0.8.11',
    acKind: 'PodManifest',
    apps: apps.map((name, i) => ({
      name,
      image: { name: 'example.com/x', id: 'sha512-' + String(i).repeat(64) },
    })),
  };
  writeFileSync(join(dir, 'pod'), JSON.stringify(manifest));
  for (const [i, a] of apps.entries()) {
    mkdirSync(join(dir, 'appsinfo', a), { recursive: true });
    writeFileSync(join(dir, 'appsinfo', a, 'treeStoreID'), `deps-sha512-${i}${state}`);
  }
  return dir;
}

/** A pod in `state` with the teardown marker holding `marker` (none if undefined). */
function teardownPod(layout: PodsLayout, state: 'prepared' | 'run', uuid: string, marker?: string): string {
  const dir = makePod(layout, state, uuid, ['app']);
  if (marker !== undefined) {
    mkdirSync(join(dir, 'stage1'), { recursive: true });
    writeFileSync(join(dir, 'stage1', 'tearing-down'), marker);
  }
  return dir;
}

/**
 * Locks `dir` in a child kept in `children` (flock alone holds it, so its KILL releases it; its cat
 * ends at the end of our pipe); returns the release.
 */
async function lockInChild(dir: string, children: ChildProcess[]): Promise<() => void> {
  const h = spawn('flock', ['-o', '-x', dir, 'cat'], { stdio: ['pipe', 'ignore', 'ignore'] });
  children.push(h);
  for (let i = 0; i < 200 && !isLocked(dir); i++) await sleep(10);
  assert.ok(isLocked(dir));
  return () => {
    h.kill('SIGKILL');
    h.stdin?.end();
  };
}

const U1 = 'aaaaaaaa-1111-4111-8111-111111111111';
const U2 = 'aaaabbbb-2222-4222-8222-222222222222';
const U3 = 'cccccccc-3333-4333-8333-333333333333';

describe('pod state machine', () => {
  let tmp: { path: string; cleanup: () => Promise<void> };
  let layout: PodsLayout;
  const children: ChildProcess[] = [];
  before(async () => {
    tmp = await tempDir('rocket-pod-state-');
    layout = new PodsLayout(tmp.path);
    layout.ensure();
  });
  after(async () => {
    for (const c of children) {
      if (c.pid === undefined) continue;
      if (c.exitCode === null) c.kill('SIGKILL');
      try {
        process.kill(-c.pid, 'SIGKILL');
      } catch {
        // not a group leader, or the group is gone
      }
    }
    await tmp.cleanup();
  });

  it('resolves unambiguous UUID prefixes with rkt messages', () => {
    makePod(layout, 'prepared', U1);
    makePod(layout, 'prepared', U2);
    assert.equal(resolveUuidPrefix(layout, 'aaaaaaaa'), U1);
    assert.equal(resolveUuidPrefix(layout, 'AAAABBBB-2'), U2);
    assert.throws(() => resolveUuidPrefix(layout, 'aaaa'), { message: 'ambiguous uuid, 2 matches' });
    assert.throws(
      () => resolveUuidPrefix(layout, 'ffff'),
      (e: unknown) =>
        e instanceof RocketError && e.message === 'no matches found for "ffff"' && e.kind === 'not-found',
    );
  });

  it('running while the lock is held by the process tree, exited after SIGKILL', async () => {
    const dir = makePod(layout, 'run', U3, ['app']);
    // flock(1) keeps the fd in its child: killing flock alone leaves the pod running.
    const h = await holdLock(dir);
    children.push(h.flock);
    for (let i = 0; i < 100 && h.sleepPid() === 0; i++) await sleep(10);
    assert.equal(stateOf(layout, 'run', U3), 'running');
    h.flock.kill('SIGKILL');
    await sleep(50);
    assert.equal(stateOf(layout, 'run', U3), 'running', 'the child still holds the inherited fd');
    assert.ok(podsInUse(tmp.path).images.has('sha512-' + '0'.repeat(64)));
    process.kill(h.sleepPid(), 'SIGKILL');
    for (let i = 0; i < 100 && stateOf(layout, 'run', U3) === 'running'; i++) await sleep(10);
    assert.equal(stateOf(layout, 'run', U3), 'exited');
    assert.equal(getPod(tmp.path, 'cccc').state, 'exited');
  });

  it('getSettledPod waits for a local teardown (marker `local`), not for a CNI one', async () => {
    const local = 'eeeeeeee-5555-4555-8555-555555555555';
    const cni = 'ffffffff-6666-4666-8666-666666666666';
    const holders = [];
    for (const [uuid, text] of [
      [local, 'local\n'],
      [cni, ''],
    ] as const) {
      const dir = makePod(layout, 'run', uuid, ['app']);
      mkdirSync(join(dir, 'stage1'), { recursive: true });
      writeFileSync(join(dir, 'stage1', 'tearing-down'), text);
      // -o: only flock holds the lock (its cat does not), so its KILL releases it; the cat ends
      // at the end of its stdin, our pipe.
      const h = spawn('flock', ['-o', '-x', dir, 'cat'], { stdio: ['pipe', 'ignore', 'ignore'] });
      children.push(h);
      for (let i = 0; i < 200 && !isLocked(dir); i++) await sleep(10);
      assert.ok(isLocked(dir));
      holders.push(h);
    }
    // A CNI teardown (empty marker): the pod is running meanwhile, returned at once.
    assert.equal((await getSettledPod(tmp.path, cni)).state, 'running');
    // A local one: the state is read only once the lock is gone (released after the call began).
    const settled = getSettledPod(tmp.path, local);
    assert.equal(stateOf(layout, 'run', local), 'running');
    for (const h of holders) {
      h.kill('SIGKILL');
      h.stdin?.end();
    }
    assert.equal((await settled).state, 'exited');
  });

  it('preparing vs aborted prepare', async () => {
    const uuid = 'dddddddd-4444-4444-8444-444444444444';
    const dir = makePod(layout, 'prepare', uuid);
    const h = await holdLock(dir, true);
    children.push(h.flock);
    assert.equal(stateOf(layout, 'prepare', uuid), 'preparing');
    h.flock.kill('SIGKILL');
    for (let i = 0; i < 100 && stateOf(layout, 'prepare', uuid) === 'preparing'; i++) await sleep(10);
    assert.equal(stateOf(layout, 'prepare', uuid), 'aborted prepare');
  });

  it('in-use trees cover prepare, prepared, run and exited-garbage', () => {
    const trees = podsInUse(tmp.path).trees;
    assert.ok(trees.has('deps-sha512-0run'));
    makePod(layout, 'garbage', 'eeeeeeee-5555-4555-8555-555555555555', ['g']);
    assert.ok(!podsInUse(tmp.path).trees.has('deps-sha512-0garbage'));
  });

  it('gc marks, respects the grace period, calls engine hooks, deletes', async () => {
    const lines: string[] = [];
    const out: GcOutput = { stdout: (l) => lines.push('out ' + l), stderr: (l) => lines.push('err ' + l) };
    const seen: string[] = [];
    const hook: PodGcHook = { name: 'test', gc: (p) => void seen.push(`${p.uuid} ${p.state}`) };
    // mark only: the exited pod and the aborted prepare move; nothing is deleted
    let res = await gcPods(tmp.path, {
      gracePeriodMs: 0,
      expirePreparedMs: 0,
      markOnly: true,
      out,
      hooks: [hook],
    });
    assert.deepEqual(res.deleted, []);
    assert.ok(lines.includes(`err moving pod "${U3}" to garbage`));
    assert.ok(lines.includes('err moving failed prepare "dddddddd-4444-4444-8444-444444444444" to garbage'));
    assert.equal(getPod(tmp.path, U3).state, 'exited garbage');
    // a long grace period keeps exited garbage; expire-prepared 24h keeps prepared pods
    lines.length = 0;
    res = await gcPods(tmp.path, {
      gracePeriodMs: 3_600_000,
      expirePreparedMs: 86_400_000,
      markOnly: false,
      out,
      hooks: [hook],
    });
    assert.ok(lines.includes(`err pod "${U3}" not removed: still within grace period (1h0m0s)`));
    assert.equal(listPods(tmp.path).filter((p) => p.state === 'prepared').length, 2);
    assert.ok(!res.deleted.includes(U3));
    // garbage is deleted at once, after the hook ran
    assert.ok(res.deleted.includes('dddddddd-4444-4444-8444-444444444444'));
    assert.ok(seen.includes('dddddddd-4444-4444-8444-444444444444 deleting'));
    // grace 0 and expire 0: everything goes
    res = await gcPods(tmp.path, {
      gracePeriodMs: 0,
      expirePreparedMs: 0,
      markOnly: false,
      out,
      hooks: [hook],
    });
    assert.ok(res.deleted.includes(U3));
    assert.ok(seen.includes(`${U3} exited deleting`));
    assert.deepEqual(listPods(tmp.path), []);
  });

  it('rm refuses running pods and removes exited ones', async () => {
    const uuid = 'ffffffff-6666-4666-8666-666666666666';
    const dir = makePod(layout, 'run', uuid, ['a']);
    const h = await holdLock(dir, true);
    children.push(h.flock);
    await assert.rejects(removePod(tmp.path, uuid, { hooks: [] }), {
      message: `pod "${uuid}" is currently running`,
    });
    h.flock.kill('SIGKILL');
    for (let i = 0; i < 100 && stateOf(layout, 'run', uuid) === 'running'; i++) await sleep(10);
    await removePod(tmp.path, uuid, { hooks: [] });
    assert.deepEqual(listPods(tmp.path), []);
  });

  it('rm with background: hooks run first, then the pod dir goes from garbage/, locked until removed', async () => {
    const uuid = '12345678-8888-4888-8888-888888888888';
    const dir = makePod(layout, 'exited-garbage', uuid, ['a']);
    const seen: string[] = [];
    let removal: Promise<void> | undefined;
    await removePod(tmp.path, uuid, {
      hooks: [{ name: 'h', gc: (pod) => void seen.push(pod.path) }],
      background: (p) => {
        removal = p;
      },
    });
    assert.deepEqual(seen, [dir]);
    assert.ok(!existsSync(dir), 'no longer in exited-garbage');
    const trash = layout.podDir('garbage', uuid);
    assert.ok(removal !== undefined);
    // The removal runs on the thread pool, after this continuation: the dir is there, locked (gc
    // skips it).
    assert.ok(existsSync(trash));
    assert.ok(isLocked(trash));
    await removal;
    assert.ok(!existsSync(trash));
    assert.deepEqual(listPods(tmp.path), []);
  });

  it('times: created from pod-created mtime', () => {
    const uuid = '12345678-7777-4777-8777-777777777777';
    const dir = makePod(layout, 'prepared', uuid);
    const t = new Date('2020-01-02T03:04:05Z');
    utimesSync(join(dir, 'pod-created'), t, t);
    assert.equal(getPod(tmp.path, '1234').created?.getTime(), t.getTime());
  });

  it('inLocalTeardown: a running pod in run/ whose marker says local, and no other', async () => {
    const local = '10000000-0000-4000-8000-000000000001';
    const cni = '10000000-0000-4000-8000-000000000002';
    const none = '10000000-0000-4000-8000-000000000003';
    const exited = '10000000-0000-4000-8000-000000000004';
    const prepared = '10000000-0000-4000-8000-000000000005';
    const release = [
      await lockInChild(teardownPod(layout, 'run', local, 'local\n'), children),
      await lockInChild(teardownPod(layout, 'run', cni, ''), children),
      await lockInChild(teardownPod(layout, 'run', none), children),
    ];
    teardownPod(layout, 'run', exited, 'local\n');
    teardownPod(layout, 'prepared', prepared, 'local\n');
    try {
      const seen = new Map(listPods(tmp.path).map((p) => [p.uuid, p]));
      const verdict = (uuid: string) => {
        const p = seen.get(uuid);
        assert.ok(p !== undefined, uuid);
        return inLocalTeardown(p);
      };
      assert.equal(seen.get(local)?.state, 'running');
      assert.equal(verdict(local), true);
      assert.equal(verdict(cni), false, 'a CNI teardown (empty marker)');
      assert.equal(verdict(none), false, 'no marker');
      assert.equal(seen.get(exited)?.state, 'exited');
      assert.equal(verdict(exited), false, 'exited: its marker is stale');
      assert.equal(verdict(prepared), false, 'not in run/');
    } finally {
      for (const r of release) r();
    }
  });

  it('inLocalTeardown looks at the pod dir only for a running pod in run/', () => {
    let reads = 0;
    const dir = teardownPod(layout, 'run', '20000000-0000-4000-8000-000000000001', 'local\n');
    const info = (stateDir: PodInfo['stateDir'], state: PodInfo['state']): PodInfo => ({
      uuid: '20000000-0000-4000-8000-000000000001',
      stateDir,
      state,
      get path() {
        reads++;
        return dir;
      },
    });
    assert.equal(inLocalTeardown(info('run', 'exited')), false);
    assert.equal(inLocalTeardown(info('prepared', 'prepared')), false);
    assert.equal(inLocalTeardown(info('exited-garbage', 'exited garbage')), false);
    assert.equal(reads, 0);
    assert.equal(inLocalTeardown(info('run', 'running')), true);
    assert.equal(reads, 1);
  });

  it('settlePod and listSettledPods: the pod read again once its local teardown ended', async () => {
    const local = '30000000-0000-4000-8000-000000000001';
    const cni = '30000000-0000-4000-8000-000000000002';
    const releaseLocal = await lockInChild(teardownPod(layout, 'run', local, 'local\n'), children);
    const releaseCni = await lockInChild(teardownPod(layout, 'run', cni, ''), children);
    try {
      const l = getPod(tmp.path, local);
      const c = getPod(tmp.path, cni);
      // Not in a local teardown: the same object, at once.
      assert.equal(await settlePod(layout, c), c);
      // In one: read only once the lock is gone (released after the call began).
      const settled = settlePod(layout, l);
      const listed = listSettledPods(tmp.path);
      assert.equal(stateOf(layout, 'run', local), 'running');
      releaseLocal();
      assert.equal((await settled)?.state, 'exited');
      const states = new Map((await listed).map((p) => [p.uuid, p.state]));
      assert.equal(states.get(local), 'exited');
      assert.equal(states.get(cni), 'running');
    } finally {
      releaseLocal();
      releaseCni();
    }
  });
});

describe('mount sweep', () => {
  it('finds mounts under a pod dir, deepest first, unescaping mountinfo', () => {
    const info = [
      '22 1 0:21 / / rw - ext4 /dev/sda rw',
      '30 22 0:40 / /var/lib/rkt/pods/run/x/stage1/rootfs rw - overlay overlay rw',
      '31 30 0:41 / /var/lib/rkt/pods/run/x/stage1/rootfs/opt/stage2/a/rootfs/my\\040dir rw - tmpfs tmpfs rw',
      '32 22 0:42 / /var/lib/rkt/pods/run/xy rw - tmpfs tmpfs rw',
    ].join('\n');
    assert.deepEqual(mountsUnder(info, '/var/lib/rkt/pods/run/x'), [
      '/var/lib/rkt/pods/run/x/stage1/rootfs/opt/stage2/a/rootfs/my dir',
      '/var/lib/rkt/pods/run/x/stage1/rootfs',
    ]);
  });
});
