/**
 * `rkt status --wait-ready[=DURATION]` as root: it waits for `stage1/rootfs/rkt/supervisor-status`
 * (rkt's symlink to `ready`, or a file containing `ready`), which the fly engine writes right before
 * it execs the app; it gives up at the deadline, or at once when the pod ended without it.
 */
import assert from 'node:assert/strict';
import { mkdirSync, symlinkSync, unlinkSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { Rkt, buildAci, podTestSkip, waitFor } from '../fly/fixture.js';
import { skipUnlessCI } from '../../helpers.js';

const skip = podTestSkip();

const sh = (script: string): string[] => ['--exec', '/bin/sh', '--', '-c', script];

describe(
  'rkt status --wait-ready',
  { skip: skipUnlessCI(skip, 'rkt status --wait-ready integration tests') },
  () => {
    let rkt: Rkt;
    let img: string;

    before(() => {
      rkt = new Rkt('rocket-wait-ready-');
      img = buildAci(rkt.work, 'img', { exec: ['/bin/sh', '-c', 'exit 0'] });
    });

    after(() => rkt.cleanup());

    async function prepare(...args: string[]): Promise<string> {
      const p = await rkt.run('--insecure-options=image', 'prepare', ...args);
      assert.equal(p.code, 0, p.stderr);
      const uuid = p.stdout.trim();
      rkt.remember(uuid);
      return uuid;
    }

    it('waits for a fly pod started after it, and returns while the app runs', async () => {
      const uuid = await prepare('--engine=fly', img, ...sh('echo started; exec sleep 30'));
      const waiting = rkt.start(['status', '--wait-ready=20s', uuid]);
      const pod = rkt.start(['run-prepared', uuid]);
      const w = await waiting.done;
      assert.equal(w.code, 0, w.stderr);
      assert.match(w.stdout, /^state=running$/m);
      await waitFor('the app', () => pod.stdout().includes('started'));
      assert.equal((await rkt.run('stop', '--force', uuid)).code, 0);
      await pod.done;
    });

    it('gives up at once on a pod that ended before it was ready', async () => {
      const r = await rkt.runPod(['--engine=fly', img, '--working-dir=/no/such/dir', ...sh('exit 0')]);
      assert.equal(r.code, 254, r.stderr);
      assert.match(r.stderr, /working directory \/no\/such\/dir does not exist/);
      const started = Date.now();
      const w = await rkt.run('status', '--wait-ready=20s', r.uuid);
      assert.equal(w.code, 254);
      assert.match(w.stderr, /ended without reporting ready/);
      assert.ok(Date.now() - started < 10_000);
    });

    it('times out, and reads a hand-written marker as a file or as a symlink', async () => {
      const uuid = await prepare(img);
      const timeout = await rkt.run('status', '--wait-ready=300ms', uuid);
      assert.equal(timeout.code, 254);
      assert.match(timeout.stderr, /error waiting for pod readiness: context deadline exceeded/);

      const dir = join(rkt.data, 'pods', 'prepared', uuid, 'stage1', 'rootfs', 'rkt');
      mkdirSync(dir, { recursive: true });
      const marker = join(dir, 'supervisor-status');
      writeFileSync(marker, 'not yet\n');
      assert.equal((await rkt.run('status', '--wait-ready=300ms', uuid)).code, 254);
      writeFileSync(marker, 'ready\n');
      const file = await rkt.run('status', '--wait-ready=5s', uuid);
      assert.equal(file.code, 0, file.stderr);
      assert.match(file.stdout, /^state=prepared$/m);
      unlinkSync(marker);
      symlinkSync('ready', marker);
      const link = await rkt.run('status', '--wait-ready', uuid);
      assert.equal(link.code, 0, link.stderr);
    });
  },
);
