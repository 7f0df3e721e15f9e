/**
 * Isolation between stores: two `--dir`s side by side. While store B's pods run (one on crun, one on
 * runc) and B keeps an exited pod and its images, store A runs pods, kills one, and runs `gc`,
 * `gc --mark-only`, `image gc` and `image rm` in a loop. B's pods must keep running with their
 * cgroups, runtime state, namespace files and pod dirs as they were, and B's lists must not change.
 */
import assert from 'node:assert/strict';
import { existsSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { podCgroupDirs } from '../../../src/stage1/oci/engine.js';
import { which } from '../../../src/stage1/oci/runtime.js';
import { skipUnlessCI } from '../../helpers.js';
import { Rkt, buildAci, podTestSkip, waitFor, type Running } from '../fly/fixture.js';

const skip =
  podTestSkip() !== false
    ? podTestSkip()
    : ['crun', 'runc'].some((r) => which(r) === undefined)
      ? 'needs crun and runc'
      : false;

const IDLE = ['--exec', '/bin/sh', '--', '-c', 'trap "exit 0" TERM; echo up; while :; do sleep 1; done'];

/** What the host holds for a pod: its cgroup dirs and the runtimes' state entries. */
function hostState(uuid: string): string[] {
  const out = podCgroupDirs(`rkt-${uuid}`).map((d) => `cgroup ${d}`);
  for (const rt of ['/run/crun', '/run/runc'])
    for (const n of existsSync(rt) ? readdirSync(rt) : [])
      if (n.startsWith(`rkt-${uuid}`)) out.push(`state ${rt}/${n}`);
  return out.sort();
}

describe('two stores side by side', { skip: skipUnlessCI(skip) }, () => {
  let a: Rkt;
  let b: Rkt;
  let imgA: string;
  let imgB: string;

  before(() => {
    a = new Rkt('rocket-iso-a-');
    b = new Rkt('rocket-iso-b-');
    imgA = buildAci(a.work, 'a', { exec: ['/bin/true'] });
    imgB = buildAci(b.work, 'b', { exec: ['/bin/true'] });
  });
  after(() => {
    a?.cleanup();
    b?.cleanup();
  });

  it(
    "gc, image gc and image rm on one never touch the other's pods, cgroups or runtime state",
    { timeout: 300_000 },
    async () => {
      // B: an exited pod, and two running ones.
      const exited = await b.runPod(['--net=none', imgB]);
      assert.equal(exited.code, 0, exited.stderr);
      const running: { pod: Running; uuid: string }[] = [];
      for (const rt of ['crun', 'runc']) {
        const p = await b.startPod(['--net=none', `--stage1-name=oci-${rt}`, imgB, ...IDLE]);
        await waitFor(`B's ${rt} app`, () => p.pod.stdout().includes('up'));
        running.push(p);
      }
      const podDirs = (r: Rkt) =>
        ['run', 'exited-garbage', 'garbage', 'prepared']
          .flatMap((s) =>
            existsSync(join(r.data, 'pods', s))
              ? readdirSync(join(r.data, 'pods', s)).map((u) => `${s}/${u}`)
              : [],
          )
          .sort();
      const beforeDirs = podDirs(b);
      const beforeHost = running.map((p) => hostState(p.uuid));
      for (const h of beforeHost)
        assert.ok(
          h.some((l) => l.startsWith('cgroup ')) && h.some((l) => l.startsWith('state ')),
          h.join(', '),
        );
      const beforeList = (await b.run('list', '--no-legend', '--full')).stdout;
      const beforeImages = (await b.run('image', 'list', '--no-legend', '--full', '--fields=id,name')).stdout;
      const mountsB = b.hostMounts().length;
      assert.ok(mountsB > 0, "B's running pods have mounts");

      // A: pods that end, one whose rkt is killed, and every collecting verb, again and again.
      for (let i = 0; i < 4; i++) {
        const r = await a.runPod(['--net=none', `--stage1-name=oci-${i % 2 === 0 ? 'crun' : 'runc'}`, imgA]);
        assert.equal(r.code, 0, r.stderr);
        const killed = await a.startPod(['--net=none', imgA, ...IDLE]);
        await waitFor("A's app", () => killed.pod.stdout().includes('up'));
        killed.pod.child.kill('SIGKILL');
        // The pod outlives its killed rkt (and holds its output pipes): wait for rkt alone.
        await killed.pod.exited;
        const stop = await a.run('stop', '--force', killed.uuid);
        assert.ok(stop.code === 0 || /not running|exited/.test(stop.stderr), stop.stderr);
        for (const args of [
          ['gc', '--mark-only'],
          ['gc', '--grace-period=0s', '--expire-prepared=0s'],
          ['gc', '--grace-period=0s', '--expire-prepared=0s'],
          ['image', 'gc', '--grace-period=0s'],
        ]) {
          const g = await a.run(...args);
          assert.equal(g.code, 0, `${args.join(' ')}: ${g.stderr}`);
        }
        const rm = await a.run('image', 'rm', 'example.com/a');
        assert.ok(rm.code === 0 || rm.code === 254, rm.stderr);
        // Every round: B's pods still run, on the same cgroups and runtime state.
        for (const [k, p] of running.entries()) {
          assert.equal(p.pod.child.exitCode, null, `B's pod ${p.uuid} ended`);
          assert.deepEqual(hostState(p.uuid), beforeHost[k]);
        }
      }

      assert.deepEqual(podDirs(b), beforeDirs);
      assert.equal((await b.run('list', '--no-legend', '--full')).stdout, beforeList);
      assert.equal(
        (await b.run('image', 'list', '--no-legend', '--full', '--fields=id,name')).stdout,
        beforeImages,
      );
      assert.equal(b.hostMounts().length, mountsB);
      for (const p of running) assert.equal((await b.status(p.uuid))['state'], 'running');
      // A is clean: its pods are gone, and with them their host state.
      assert.deepEqual(podDirs(a), []);
      assert.deepEqual(a.hostMounts(), []);

      for (const p of running) {
        p.pod.child.kill('SIGTERM');
        const r = await p.pod.done;
        assert.equal(r.code, 0, r.stderr);
      }
    },
  );
});
