/**
 * The fly engine end to end as root, through bin/rkt: host namespaces but a private mount namespace,
 * the image's user and working directory, exit codes, stop, enter, volumes, and no mount left on
 * the host, during the run or after gc.
 */
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, readFileSync, readlinkSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { Rkt, buildAci, podTestSkip, waitFor } from './fixture.js';
import { skipUnlessCI } from '../../helpers.js';

const skip = podTestSkip();

const FLY = '--stage1-name=coreos.com/rkt/stage1-fly:1.30.0';
const sh = (script: string): string[] => ['--exec', '/bin/sh', '--', '-c', script];
const lines = (s: string): string[] => s.trim().split('\n');

describe('rkt run with the fly engine', { skip: skipUnlessCI(skip, 'fly engine integration tests') }, () => {
  let rkt: Rkt;
  let alice: string;
  let root: string;

  before(() => {
    rkt = new Rkt('rocket-fly-');
    alice = buildAci(rkt.work, 'alice', {
      user: 'alice',
      group: 'staff',
      supplementaryGIDs: [27, 4321],
      workingDirectory: '/home/alice',
      environment: [{ name: 'GREETING', value: 'hello fly' }],
      exec: ['/bin/sh', '-c', 'exit 0'],
    });
    root = buildAci(rkt.work, 'root', { exec: ['/bin/sh', '-c', 'exit 0'] });
  });

  after(() => rkt.cleanup());

  it('shares the host network, pid and uts namespaces but not the mount namespace', async () => {
    const r = await rkt.runPod([
      FLY,
      root,
      ...sh('for n in net pid uts ipc mnt; do readlink /proc/self/ns/$n; done'),
    ]);
    assert.equal(r.code, 0, r.stderr);
    const [net, pid, uts, ipc, mnt] = lines(r.stdout).slice(-5);
    assert.equal(net, readlinkSync('/proc/self/ns/net'));
    assert.equal(pid, readlinkSync('/proc/self/ns/pid'));
    assert.equal(uts, readlinkSync('/proc/self/ns/uts'));
    assert.equal(ipc, readlinkSync('/proc/self/ns/ipc'));
    assert.notEqual(mnt, readlinkSync('/proc/self/ns/mnt'));
  });

  it("runs as the image's user and groups, in its working directory, with its environment", async () => {
    const r = await rkt.runPod([FLY, alice, ...sh('id; pwd; echo "$GREETING/$AC_APP_NAME"; ls /; exit 0')]);
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stdout, /^uid=1234\(alice\) gid=4321\(staff\) groups=27,4321\(staff\)$/m);
    assert.match(r.stdout, /^\/home\/alice$/m);
    assert.match(r.stdout, /^hello fly\/alice$/m);
    for (const d of ['dev', 'proc', 'sys', 'tmp']) assert.match(r.stdout, new RegExp(`^${d}$`, 'm'));
  });

  it('exits with the app code and records it for rkt status; the host saw no mount', async () => {
    const r = await rkt.runPod([FLY, root, ...sh('exit 7')]);
    assert.equal(r.code, 7, r.stderr);
    const s = await rkt.status(r.uuid);
    assert.equal(s['state'], 'exited');
    assert.equal(s['app-root'], '7');
    assert.deepEqual(rkt.hostMounts(), []);
  });

  it('mounts volumes, /tmp as a tmpfs and the host resolv.conf; --readonly-rootfs', async () => {
    const rw = join(rkt.work, 'vol-rw');
    const ro = join(rkt.work, 'vol-ro');
    mkdirSync(rw);
    mkdirSync(ro);
    writeFileSync(join(ro, 'file'), 'read me\n');
    const r = await rkt.runPod([
      FLY,
      `--volume=rw,kind=host,source=${rw}`,
      `--volume=ro,kind=host,source=${ro},readOnly=true`,
      root,
      '--readonly-rootfs=true',
      '--mount',
      'volume=rw,target=/data/rw',
      '--mount',
      'volume=ro,target=/data/ro',
      ...sh(
        'echo written >/data/rw/out; cat /data/ro/file; touch /data/ro/x 2>/dev/null && echo ro-writable; ' +
          'touch /rootfs-file 2>/dev/null && echo rootfs-writable; echo t >/tmp/t && cat /tmp/t; ' +
          'grep " /tmp " /proc/self/mounts | cut -d" " -f3; cat /etc/resolv.conf',
      ),
    ]);
    assert.equal(r.code, 0, r.stderr);
    assert.equal(readFileSync(join(rw, 'out'), 'utf8'), 'written\n');
    assert.match(r.stdout, /^read me$/m);
    assert.doesNotMatch(r.stdout, /ro-writable/);
    assert.doesNotMatch(r.stdout, /rootfs-writable/);
    assert.match(r.stdout, /^t$/m);
    assert.match(r.stdout, /^tmpfs$/m);
    if (existsSync('/etc/resolv.conf'))
      assert.ok(r.stdout.includes(readFileSync('/etc/resolv.conf', 'utf8')));
  });

  it('a recursive read-only host volume is read-only in every submount', async () => {
    const host = join(rkt.work, 'vol-rro');
    mkdirSync(join(host, 'sub'), { recursive: true });
    const m = spawnSync('mount', ['-t', 'tmpfs', '-o', 'size=1m', 'tmpfs', join(host, 'sub')]);
    assert.equal(m.status, 0, String(m.stderr));
    try {
      const tryWrite = (f: string) =>
        `if echo x >${f} 2>/dev/null; then echo wrote ${f}; else echo refused ${f}; fi`;
      const r = await rkt.runPod([
        FLY,
        `--volume=v,kind=host,source=${host},readOnly=true,recursive=true`,
        root,
        '--mount',
        'volume=v,target=/v',
        ...sh(`${tryWrite('/v/top')}; ${tryWrite('/v/sub/below')}`),
      ]);
      assert.equal(r.code, 0, r.stderr);
      assert.match(r.stdout, /^refused \/v\/top$/m);
      assert.match(r.stdout, /^refused \/v\/sub\/below$/m);
      assert.equal(existsSync(join(host, 'sub', 'below')), false);
    } finally {
      spawnSync('umount', [join(host, 'sub')]);
    }
  });

  it('is running until rkt stop; enter runs as the app in its root; gc leaves no mount', async () => {
    const { pod, uuid } = await rkt.startPod([
      FLY,
      alice,
      ...sh('trap "echo got-term; exit 0" TERM; echo started; while :; do sleep 0.05; done'),
    ]);
    await waitFor('the app', () => pod.stdout().includes('started'));
    const s = await rkt.status(uuid);
    assert.equal(s['state'], 'running');
    assert.deepEqual(rkt.hostMounts(), [], 'the pod mounts only in its own mount namespace');

    const e = await rkt.run(
      'enter',
      uuid,
      '/bin/sh',
      '-c',
      'id -u; pwd; echo "$GREETING"; readlink /proc/self/ns/net',
    );
    assert.equal(e.code, 0, e.stderr);
    assert.deepEqual(lines(e.stdout), [
      '1234',
      '/home/alice',
      'hello fly',
      readlinkSync('/proc/self/ns/net'),
    ]);
    const wrongApp = await rkt.run('enter', '--app=other', uuid, '/bin/true');
    assert.equal(wrongApp.code, 254);

    const stop = await rkt.run('stop', uuid);
    assert.equal(stop.code, 0, stop.stderr);
    const r = await pod.done;
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stdout, /got-term/);
    const st = await rkt.status(uuid);
    assert.equal(st['state'], 'exited');
    assert.equal(st['app-alice'], '0');

    const gc = await rkt.run('gc', '--grace-period=0s');
    assert.equal(gc.code, 0, gc.stderr);
    assert.deepEqual(rkt.hostMounts(), []);
    for (const state of ['run', 'exited-garbage', 'garbage'])
      assert.ok(!existsSync(join(rkt.data, 'pods', state, uuid)), `pod dir left in ${state}`);
  });

  it('rkt stop --force kills the app; SIGTERM to rkt run stops it gracefully', async () => {
    const forced = await rkt.startPod([
      FLY,
      root,
      ...sh('trap "" TERM; echo started; while :; do sleep 0.05; done'),
    ]);
    await waitFor('the app', () => forced.pod.stdout().includes('started'));
    assert.equal((await rkt.run('stop', '--force', forced.uuid)).code, 0);
    assert.equal((await forced.pod.done).code, 137);

    const graceful = await rkt.startPod([
      FLY,
      root,
      ...sh('trap "echo got-term; exit 0" TERM; echo started; while :; do sleep 0.05; done'),
    ]);
    await waitFor('the app', () => graceful.pod.stdout().includes('started'));
    graceful.pod.child.kill('SIGTERM');
    const r = await graceful.pod.done;
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stdout, /got-term/);
  });

  it('after SIGKILL of the supervisor: running while the app runs, then exited with its code', async () => {
    const flag = join(rkt.work, 'go');
    mkdirSync(flag);
    const { pod, uuid } = await rkt.startPod([
      FLY,
      `--volume=flag,kind=host,source=${flag}`,
      root,
      '--mount',
      'volume=flag,target=/flag',
      ...sh(': >/flag/started; while [ ! -e /flag/go ]; do sleep 0.05; done; exit 4'),
    ]);
    await waitFor('the app', () => existsSync(join(flag, 'started')));
    pod.child.kill('SIGKILL');
    await pod.exited;
    assert.equal((await rkt.status(uuid))['state'], 'running');
    writeFileSync(join(flag, 'go'), '');
    let st: Record<string, string> = {};
    const end = Date.now() + 20_000;
    while (Date.now() < end && st['state'] !== 'exited') st = await rkt.status(uuid);
    assert.equal(st['state'], 'exited');
    assert.equal(st['app-root'], '4');
  });

  it('refuses pods it cannot run with 254: two apps, --net=none', async () => {
    const two = await rkt.runPod([FLY, root, '---', alice]);
    assert.equal(two.code, 254);
    assert.match(two.stderr, /exactly one app/);
    const none = await rkt.runPod([FLY, '--net=none', root]);
    assert.equal(none.code, 254);
    assert.match(none.stderr, /host's network namespace/);
  });

  it('is chosen by --stage1-path=…/stage1-fly.aci and remembered from prepare for run-prepared', async () => {
    const byPath = await rkt.runPod([
      '--stage1-path=/usr/lib/rkt/stage1-images/stage1-fly.aci',
      root,
      ...sh('readlink /proc/self/ns/net'),
    ]);
    assert.equal(byPath.code, 0, byPath.stderr);
    assert.match(byPath.stdout, new RegExp(readlinkSync('/proc/self/ns/net').replace(/[[\]]/g, '\\$&')));
    const p = await rkt.run('--insecure-options=image', 'prepare', '--engine=fly', root, ...sh('exit 4'));
    assert.equal(p.code, 0, p.stderr);
    const uuid = p.stdout.trim();
    rkt.remember(uuid);
    const r = await rkt.run('run-prepared', uuid);
    assert.equal(r.code, 4, r.stderr);
    const state = JSON.parse(
      readFileSync(join(rkt.data, 'pods', 'run', uuid, 'stage1', 'engine.json'), 'utf8'),
    ) as {
      engine: string;
    };
    assert.equal(state.engine, 'fly');
  });
});
