/**
 * The pod log end to end, as root through bin/rkt: a two-app pod whose apps take turns (through a
 * shared volume) on stdout and stderr comes back from `rkt logs` in the order written, while `rkt
 * run` still shows every line; `--follow` ends with the pod; rotation bounds the files; gc removes
 * the log with the pod.
 */
import assert from 'node:assert/strict';
import { existsSync, mkdirSync, readdirSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { PodFixture, podSkip, sh, waitFor } from '../systemd/fixture.js';
import { forEachOciRuntime, skipUnlessCI } from '../../helpers.js';

describe('rkt logs', { skip: skipUnlessCI(podSkip) }, () => {
  forEachOciRuntime(() => {
    let f: PodFixture;
    let bb: string;
    before(() => {
      f = new PodFixture('rocket-logs-');
      bb = f.buildAci('busybox', { exec: ['/bin/true'] });
    });
    after(() => f.cleanup());

    it('interleaves the lines of a two-app pod by time, and rkt run still shows them', async () => {
      // a and b hand the turn to each other through files in a shared volume; every line is at
      // least 50 ms after the one before it, in whichever app or stream.
      const a =
        'for i in 1 2 3; do echo a-out-$i; sleep 0.05; echo a-err-$i >&2; sleep 0.05; : >/data/b$i; ' +
        'while [ ! -e /data/a$i ]; do sleep 0.02; done; sleep 0.05; done';
      const b =
        'for i in 1 2 3; do while [ ! -e /data/b$i ]; do sleep 0.02; done; sleep 0.05; echo b-out-$i; : >/data/a$i; done';
      const mount = ['--mount', 'volume=data,target=/data'];
      const run = f.runArgs(
        '--volume=data,kind=empty',
        bb,
        '--name=a',
        ...mount,
        ...sh(a),
        '---',
        bb,
        '--name=b',
        ...mount,
        ...sh(b),
      );
      const r = await f.start(run.args).done;
      assert.equal(r.code, 0, r.stderr);
      const uuid = run.uuid() as string;
      // Passed through to rkt run's own stdout and stderr.
      assert.match(r.stdout, /a-out-1\n[^]*b-out-1\n[^]*a-out-3\n[^]*b-out-3\n/);
      assert.match(r.stderr, /a-err-1\n[^]*a-err-3\n/);

      const logs = await f.rkt('logs', uuid);
      assert.equal(logs.code, 0, logs.stderr);
      assert.deepEqual(logs.stdout.trimEnd().split('\n'), [
        'a: a-out-1',
        'a: a-err-1',
        'b: b-out-1',
        'a: a-out-2',
        'a: a-err-2',
        'b: b-out-2',
        'a: a-out-3',
        'a: a-err-3',
        'b: b-out-3',
      ]);
      const onlyA = await f.rkt('logs', '--app=a', '--lines=2', '--timestamps', uuid);
      assert.equal(onlyA.code, 0, onlyA.stderr);
      const lines = onlyA.stdout.trimEnd().split('\n');
      assert.equal(lines.length, 2);
      assert.match(lines[0] as string, /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z a-out-3$/);
      assert.match(lines[1] as string, /Z a-err-3$/);
      const t0 = Date.parse((lines[0] as string).split(' ')[0] as string);
      assert.ok(Math.abs(Date.now() - t0) < 60_000, 'the time stamps are wall-clock times');
      const future = await f.rkt('logs', '--since=2999-01-01', uuid);
      assert.deepEqual([future.code, future.stdout], [0, '']);
      const recent = await f.rkt('logs', '--since=1h', '--app=b', uuid);
      assert.equal(recent.stdout, 'b-out-1\nb-out-2\nb-out-3\n');
      const unknownApp = await f.rkt('logs', '--app=zz', uuid);
      assert.equal(unknownApp.code, 254);
      assert.match(unknownApp.stderr, /no app "zz"/);
    });

    it('--follow prints lines as they come and ends when the pod exits', async () => {
      // The app prints one line, then waits for the test's go-ahead (a file in a host volume), so
      // the follower is known to run while the pod does.
      const flag = join(f.work, 'follow-flag');
      mkdirSync(flag);
      const run = f.runArgs(
        `--volume=flag,kind=host,source=${flag}`,
        bb,
        '--mount',
        'volume=flag,target=/flag',
        ...sh(
          'echo tick-1; while [ ! -e /flag/go ]; do sleep 0.05; done; for i in 2 3 4 5; do echo tick-$i; done',
        ),
      );
      const pod = f.start(run.args);
      await waitFor('the pod to run', () => {
        const u = run.uuid();
        return u !== undefined && existsSync(join(f.podDir(u), 'pid'));
      });
      const uuid = run.uuid() as string;
      const follow = f.start([`--dir=${f.data}`, 'logs', '--follow', uuid]);
      await waitFor('a first line followed', () => follow.stdout().includes('tick-1'));
      assert.equal(follow.stdout(), 'busybox: tick-1\n', 'followed while the pod runs');
      assert.equal(follow.child.exitCode, null, 'the follower waits for the pod');
      writeFileSync(join(flag, 'go'), '');
      const [p, l] = await Promise.all([pod.done, follow.done]);
      assert.equal(p.code, 0, p.stderr);
      assert.equal(l.code, 0, l.stderr);
      assert.equal(l.stdout, [1, 2, 3, 4, 5].map((i) => `busybox: tick-${i}\n`).join(''));
    });

    it('rotates at RKT_LOG_MAX_SIZE, keeps one generation, and gc removes the log', async () => {
      const run = f.runArgs(
        bb,
        ...sh('i=0; while [ $i -lt 300 ]; do i=$((i+1)); echo "line $i of the rotation test"; done'),
      );
      const r = await f.start(run.args, { RKT_LOG_MAX_SIZE: '2K' }).done;
      assert.equal(r.code, 0, r.stderr);
      assert.equal(r.stdout.trimEnd().split('\n').length, 300, 'rkt run shows every line');
      const uuid = run.uuid() as string;
      const dir = join(f.podDir(uuid), 'logs', 'busybox');
      assert.deepEqual(
        readdirSync(dir)
          .filter((n) => n.startsWith('stdout.log'))
          .sort(),
        ['stdout.log', 'stdout.log.1'],
      );
      for (const n of ['stdout.log', 'stdout.log.1']) assert.ok(statSync(join(dir, n)).size < 2048 + 80, n);
      const logs = await f.rkt('logs', '--app=busybox', uuid);
      const got = logs.stdout.trimEnd().split('\n');
      assert.ok(got.length > 20 && got.length < 100, `${got.length} lines kept`);
      const first = Number(/^line (\d+) /.exec(got[0] as string)?.[1]);
      assert.deepEqual(
        got,
        Array.from({ length: 301 - first }, (_, k) => `line ${first + k} of the rotation test`),
      );
      for (let i = 0; i < 2; i++) await f.rkt('gc', '--grace-period=0s');
      assert.ok(!existsSync(join(f.data, 'pods', 'exited-garbage', uuid)), 'gc removed the pod and its log');
      const gone = await f.rkt('logs', uuid);
      assert.equal(gone.code, 254);
    });
  });
});
