/**
 * The nspawn engine end to end as root, through bin/rkt: pods under systemd-nspawn with the pod
 * supervisor as the container's init and each app chrooted into its rootfs; one and two apps, exit
 * codes, output on stdout and in `rkt logs`, status and list, enter, stop (rkt stop, SIGTERM,
 * --force), and gc after SIGKILL leaving no mount, process or cgroup. Also: the same image gives
 * the same output under oci, fly and nspawn.
 */
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, readFileSync, readdirSync, readlinkSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { ALL_CAPABILITIES, DEFAULT_CAPABILITIES } from '../../../src/appc/values.js';
import { podCgroupDirs } from '../../../src/stage1/oci/engine.js';
import { hostBoundingSet } from '../../../src/stage1/oci/spec.js';
import { Rkt, buildAci, podTestSkip, rktBin, waitFor } from '../fly/fixture.js';
import { buildBusyboxAci } from '../busybox-aci.js';
import { skipUnlessCI } from '../../helpers.js';

const skip = podTestSkip('systemd-nspawn');

const NSPAWN = '--engine=nspawn';
const sh = (script: string): string[] => ['--exec', '/bin/sh', '--', '-c', script];

/** Host processes that still refer to the pod: its supervisor, nspawn or anything in its dir. */
function podProcesses(uuid: string): string[] {
  const out: string[] = [];
  for (const e of readdirSync('/proc')) {
    if (!/^\d+$/.test(e)) continue;
    try {
      const cmd = readFileSync(`/proc/${e}/cmdline`, 'utf8').split('\0').join(' ');
      if (cmd.includes(uuid)) out.push(`${e} ${cmd}`);
    } catch {
      // gone
    }
  }
  return out;
}

describe(
  'rkt run with the nspawn engine',
  { skip: skipUnlessCI(skip, 'nspawn engine integration tests') },
  () => {
    let rkt: Rkt;
    let alice: string;
    let root: string;
    let guard: string;

    before(() => {
      rkt = new Rkt('rocket-nspawn-');
      alice = buildAci(rkt.work, 'alice', {
        user: 'alice',
        group: 'staff',
        supplementaryGIDs: [27, 4321],
        workingDirectory: '/home/alice',
        environment: [{ name: 'GREETING', value: 'hello nspawn' }],
        exec: ['/bin/sh', '-c', 'exit 0'],
      });
      root = buildAci(rkt.work, 'root', { exec: ['/bin/sh', '-c', 'exit 0'] });
      guard = buildAci(rkt.work, 'guard', {
        exec: ['/bin/sh', '-c', 'exit 0'],
        isolators: [
          { name: 'os/linux/no-new-privileges', value: true },
          { name: 'os/linux/oom-score-adj', value: 500 },
        ],
      });
    });

    after(() => {
      // A pod a failed test left running outlives a SIGKILL of its rkt run (its container holds the
      // lock): stop it first, so that gc can take it.
      const run = join(rkt.data, 'pods', 'run');
      for (const uuid of existsSync(run) ? readdirSync(run) : []) {
        spawnSync(rktBin, [`--dir=${rkt.data}`, 'stop', '--force', uuid], { stdio: 'ignore' });
        // Until the lock is free (nspawn and the plan notice the container's end), 5 s at most.
        for (let i = 0; i < 100; i++) {
          if (spawnSync('flock', ['-n', join(run, uuid), 'true']).status === 0) break;
          spawnSync('sleep', ['0.05']);
        }
      }
      rkt.cleanup();
    });

    it('runs one app with its exit code, its output on stdout and in rkt logs, status and list', async () => {
      const r = await rkt.runPod([
        NSPAWN,
        '--net=none',
        root,
        ...sh('echo out-line; echo err-line >&2; exit 7'),
      ]);
      assert.equal(r.code, 7, r.stderr);
      assert.match(r.stdout, /^out-line$/m);
      assert.match(r.stderr, /^err-line$/m);
      const s = await rkt.status(r.uuid);
      assert.equal(s['state'], 'exited');
      assert.equal(s['app-root'], '7');
      const logs = await rkt.run('logs', r.uuid);
      assert.equal(logs.code, 0, logs.stderr);
      assert.match(logs.stdout, /^root: out-line$/m);
      assert.match(logs.stdout, /^root: err-line$/m);
      const list = await rkt.run('list', '--no-legend');
      assert.equal(list.code, 0, list.stderr);
      assert.match(
        list.stdout,
        new RegExp(`^${r.uuid.slice(0, 8)}\\s+root\\s+example.com/root:1.0\\s+exited`, 'm'),
      );
      const state = JSON.parse(
        readFileSync(join(rkt.data, 'pods', 'run', r.uuid, 'stage1', 'engine.json'), 'utf8'),
      ) as { engine: string };
      assert.equal(state.engine, 'nspawn');
      assert.deepEqual(rkt.hostMounts(), []);
      assert.deepEqual(podCgroupDirs(`rkt-${r.uuid}`), []);
    });

    it('runs the app chrooted in a container whose init is the supervisor, with its own namespaces', async () => {
      const r = await rkt.runPod([
        '--stage1-name=coreos.com/rkt/stage1-coreos:1.30.0',
        '--net=none',
        root,
        ...sh(
          'tr "\\0" " " </proc/1/cmdline; echo; hostname; ls /; [ -e /proc/$$/fd/3 ] && echo fd3-open; for n in pid mnt uts ipc net; do readlink /proc/self/ns/$n; done',
        ),
      ]);
      assert.equal(r.code, 0, r.stderr);
      const lines = r.stdout.trim().split('\n');
      assert.match(lines[0] ?? '', /^\/bin\/sh \/rkt\/supervisor\.sh /);
      assert.equal(lines[1], `rkt-${r.uuid}`);
      // The image's root, not the stage1 tree (no /opt, no /rkt).
      assert.ok(lines.includes('var') && !lines.includes('opt') && !lines.includes('rkt'), r.stdout);
      // No fd of the supervisor's (the pod lock: a directory outside the app's root) reaches the app.
      assert.ok(!lines.includes('fd3-open'), r.stdout);
      const ns = lines.slice(-5);
      for (const [i, n] of ['pid', 'mnt', 'uts', 'ipc', 'net'].entries())
        assert.notEqual(ns[i], readlinkSync(`/proc/self/ns/${n}`), `${n} namespace shared with the host`);
    });

    it('is chosen by --stage1-path=…/stage1-nspawn.aci and remembered from prepare for run-prepared', async () => {
      const byPath = await rkt.runPod([
        '--stage1-path=/usr/lib/rkt/stage1-images/stage1-nspawn.aci',
        '--net=none',
        root,
        ...sh('tr "\\0" " " </proc/1/cmdline'),
      ]);
      assert.equal(byPath.code, 0, byPath.stderr);
      assert.match(byPath.stdout, /^\/bin\/sh \/rkt\/supervisor\.sh /);
      const p = await rkt.run('--insecure-options=image', 'prepare', NSPAWN, root, ...sh('exit 6'));
      assert.equal(p.code, 0, p.stderr);
      const uuid = p.stdout.trim();
      rkt.remember(uuid);
      const r = await rkt.run('run-prepared', '--net=none', uuid);
      assert.equal(r.code, 6, r.stderr);
      const state = JSON.parse(
        readFileSync(join(rkt.data, 'pods', 'run', uuid, 'stage1', 'engine.json'), 'utf8'),
      ) as { engine: string };
      assert.equal(state.engine, 'nspawn');
    });

    it("runs as the image's user and groups, in its working directory, with its environment", async () => {
      const r = await rkt.runPod([
        NSPAWN,
        '--net=none',
        alice,
        ...sh('id; pwd; echo "$GREETING/$AC_APP_NAME"'),
      ]);
      assert.equal(r.code, 0, r.stderr);
      assert.match(r.stdout, /^uid=1234\(alice\) gid=4321\(staff\) groups=27,4321\(staff\)$/m);
      assert.match(r.stdout, /^\/home\/alice$/m);
      assert.match(r.stdout, /^hello nspawn\/alice$/m);
    });

    it('runs a pod of two apps sharing an empty volume; the failing app gives the pod its code', async () => {
      const mount = ['--mount', 'volume=data,target=/data'];
      const r = await rkt.runPod([
        NSPAWN,
        '--net=none',
        '--volume=data,kind=empty',
        root,
        '--name=writer',
        ...mount,
        ...sh('echo shared-hello >/data/f'),
        '---',
        root,
        '--name=reader',
        ...mount,
        ...sh('while [ ! -s /data/f ]; do sleep 0.05; done; cat /data/f; exit 5'),
      ]);
      assert.equal(r.code, 5, r.stderr);
      assert.match(r.stdout, /^shared-hello$/m);
      const s = await rkt.status(r.uuid);
      assert.equal(s['app-writer'], '0');
      assert.equal(s['app-reader'], '5');
    });

    it('kills a greedy app over --memory=16M and stops the other; --cpu is a CFS quota on the app', async () => {
      const greedy = await rkt.runPod([
        NSPAWN,
        '--net=none',
        root,
        '--memory=16M',
        ...sh('head -c 256m /dev/zero | tail >/dev/null; exit $?'),
        '---',
        root,
        '--name=other',
        ...sh('trap "exit 0" TERM; while :; do sleep 0.05; done'),
      ]);
      assert.equal(greedy.code, 137, greedy.stderr);
      const { pod, uuid } = await rkt.startPod([
        NSPAWN,
        '--net=none',
        root,
        '--cpu=250m',
        ...sh('trap "exit 0" TERM; echo ready; while :; do sleep 0.05; done'),
      ]);
      await waitFor('the app', () => /^ready$/m.test(pod.stdout()));
      const dir = join('/sys/fs/cgroup/cpu', `rkt-${uuid}`, 'root');
      if (existsSync('/sys/fs/cgroup/cpu/cgroup.procs')) {
        const period = Number(readFileSync(join(dir, 'cpu.cfs_period_us'), 'utf8'));
        assert.equal(Number(readFileSync(join(dir, 'cpu.cfs_quota_us'), 'utf8')), period / 4);
      }
      const s = await rkt.run('stop', uuid);
      assert.equal(s.code, 0, s.stderr);
      assert.equal((await pod.done).code, 0);
      assert.deepEqual(podCgroupDirs(`rkt-${uuid}`), []);
    });

    it('mounts host volumes read-write and read-only; --readonly-rootfs', async () => {
      const rw = join(rkt.work, 'vol-rw');
      const ro = join(rkt.work, 'vol-ro');
      mkdirSync(rw);
      mkdirSync(ro);
      writeFileSync(join(ro, 'file'), 'read me\n');
      const r = await rkt.runPod([
        NSPAWN,
        '--net=none',
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
            'touch /rootfs-file 2>/dev/null && echo rootfs-writable; exit 0',
        ),
      ]);
      assert.equal(r.code, 0, r.stderr);
      assert.equal(readFileSync(join(rw, 'out'), 'utf8'), 'written\n');
      assert.match(r.stdout, /^read me$/m);
      assert.doesNotMatch(r.stdout, /ro-writable/);
      assert.doesNotMatch(r.stdout, /rootfs-writable/);
    });

    it("runs pre-start and post-stop handlers in order, in the app's rootfs with its volumes", async () => {
      const handlers = buildAci(rkt.work, 'handlers', {
        exec: ['/bin/sh', '-c', 'echo main >>/log/order'],
        mountPoints: [{ name: 'log', path: '/log' }],
        eventHandlers: [
          { name: 'pre-start', exec: ['/bin/sh', '-c', 'echo pre >>/log/order'] },
          { name: 'post-stop', exec: ['/bin/sh', '-c', 'echo post >>/log/order'] },
        ],
      });
      const log = join(rkt.work, 'handler-log');
      mkdirSync(log);
      const r = await rkt.runPod([NSPAWN, '--net=none', `--volume=log,kind=host,source=${log}`, handlers]);
      assert.equal(r.code, 0, r.stderr);
      assert.equal(readFileSync(join(log, 'order'), 'utf8'), 'pre\nmain\npost\n');
    });

    it('enters a running app, shows the pod running, stops it with rkt stop', async () => {
      const { pod, uuid } = await rkt.startPod([
        NSPAWN,
        '--net=none',
        alice,
        ...sh('trap "echo got-term; exit 0" TERM; echo ready; while :; do sleep 0.05; done'),
        '---',
        root,
        '--name=second',
        ...sh('trap "exit 0" TERM; echo second-ready; while :; do sleep 0.05; done'),
      ]);
      await waitFor('the apps', () => /^ready$/m.test(pod.stdout()) && /^second-ready$/m.test(pod.stdout()));
      assert.equal((await rkt.status(uuid))['state'], 'running');
      const list = await rkt.run('list', '--no-legend');
      assert.match(list.stdout, new RegExp(`^${uuid.slice(0, 8)}\\s+alice\\s+\\S+\\s+running`, 'm'));
      const noApp = await rkt.run('enter', uuid, '/bin/true');
      assert.equal(noApp.code, 254);
      assert.match(noApp.stderr, /several apps/);
      const e = await rkt.run(
        'enter',
        '--app=alice',
        uuid,
        '/bin/sh',
        '-c',
        'echo entered; id -u; pwd; hostname',
      );
      assert.equal(e.code, 0, e.stderr);
      assert.match(e.stdout, new RegExp(`^entered\\n1234\\n/home/alice\\nrkt-${uuid}$`, 'm'));
      const s = await rkt.run('stop', uuid);
      assert.equal(s.code, 0, s.stderr);
      assert.equal(s.stdout, `"${uuid}"\n`);
      const r = await pod.done;
      assert.equal(r.code, 0, r.stderr);
      assert.match(r.stdout, /^got-term$/m);
      const st = await rkt.status(uuid);
      assert.equal(st['state'], 'exited');
      assert.equal(st['app-alice'], '0');
      assert.equal(st['app-second'], '0');
      assert.deepEqual(podProcesses(uuid), []);
    });

    it(
      'ends when the app ends, killing what the app left behind in its process group',
      { timeout: 60_000 },
      async () => {
        const r = await rkt.runPod([NSPAWN, '--net=none', root, ...sh('sleep 1000 & echo bg; exit 2')]);
        assert.equal(r.code, 2, r.stderr);
        assert.match(r.stdout, /^bg$/m);
        assert.deepEqual(podProcesses(r.uuid), []);
      },
    );

    it('rkt stop KILLs an app that ignores SIGTERM after the stop timeout', { timeout: 60_000 }, async () => {
      const { pod, uuid } = await rkt.startPod([
        NSPAWN,
        '--net=none',
        root,
        ...sh('trap "" TERM; echo up; sleep 1000'),
      ]);
      await waitFor('the app', () => /^up$/m.test(pod.stdout()));
      const s = await rkt.start(['stop', uuid], { RKT_STOP_TIMEOUT: '1' }).done;
      assert.equal(s.code, 0, s.stderr);
      const r = await pod.done;
      assert.equal(r.code, 137, r.stderr);
      assert.equal((await rkt.status(uuid))['app-root'], '137');
      assert.deepEqual(podProcesses(uuid), []);
    });

    it('stops gracefully on SIGTERM to rkt run', async () => {
      const { pod, uuid } = await rkt.startPod([
        NSPAWN,
        '--net=none',
        root,
        ...sh('trap "echo got-term; exit 0" TERM; echo ready; while :; do sleep 0.05; done'),
      ]);
      await waitFor('the app', () => /^ready$/m.test(pod.stdout()));
      pod.child.kill('SIGTERM');
      const r = await pod.done;
      assert.equal(r.code, 0, r.stderr);
      assert.match(r.stdout, /^got-term$/m);
      assert.equal((await rkt.status(uuid))['app-root'], '0');
    });

    it('after SIGKILL of rkt run: running while the app runs, then exited with its code; gc leaves nothing', async () => {
      const flag = join(rkt.work, 'go');
      mkdirSync(flag);
      const { pod, uuid } = await rkt.startPod([
        NSPAWN,
        '--net=none',
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
      await waitFor('the pod to exit', () => {
        const s = spawnSync(rktBin, [`--dir=${rkt.data}`, 'status', uuid], { encoding: 'utf8' });
        st = Object.fromEntries(
          s.stdout
            .trim()
            .split('\n')
            .map((l) => [l.slice(0, l.indexOf('=')), l.slice(l.indexOf('=') + 1)]),
        );
        return st['state'] === 'exited';
      });
      assert.equal(st['app-root'], '4');
      const gc = await rkt.run('gc', '--grace-period=0s');
      assert.equal(gc.code, 0, gc.stderr);
      assert.deepEqual(rkt.hostMounts(), []);
      for (const state of ['run', 'exited-garbage', 'garbage'])
        assert.ok(!existsSync(join(rkt.data, 'pods', state, uuid)), `pod dir left in ${state}`);
      assert.deepEqual(podCgroupDirs(`rkt-${uuid}`), []);
      assert.deepEqual(podProcesses(uuid), []);
    });

    it('after SIGKILL of rkt run and of nspawn: the container runs on; stop --force and gc leave nothing', async () => {
      const { pod, uuid } = await rkt.startPod([
        NSPAWN,
        '--net=none',
        root,
        ...sh('echo ready; while :; do sleep 0.05; done'),
      ]);
      await waitFor('the app', () => /^ready$/m.test(pod.stdout()));
      const podDir = join(rkt.data, 'pods', 'run', uuid);
      const nspawn = Number(readFileSync(join(podDir, 'stage1', 'nspawn-pid'), 'utf8'));
      pod.child.kill('SIGKILL');
      process.kill(nspawn, 'SIGKILL');
      await pod.exited;
      await waitFor('nspawn to end', () => !existsSync(`/proc/${nspawn}`));
      // The supervisor (the container's init) holds the lock.
      assert.equal((await rkt.status(uuid))['state'], 'running');
      const s = await rkt.run('stop', '--force', uuid);
      assert.equal(s.code, 0, s.stderr);
      await waitFor('the pod to exit', () => podProcesses(uuid).length === 0);
      const gc = await rkt.run('gc', '--grace-period=0s');
      assert.equal(gc.code, 0, gc.stderr);
      assert.deepEqual(rkt.hostMounts(), []);
      assert.ok(!existsSync(join(rkt.data, 'pods', 'run', uuid)));
      assert.ok(!existsSync(join(rkt.data, 'pods', 'exited-garbage', uuid)));
      assert.deepEqual(podCgroupDirs(`rkt-${uuid}`), []);
    });

    it('gives each app the capabilities, no_new_privs, oom score and seccomp filter of its isolators', async () => {
      const status = 'grep -E "^(Cap|NoNewPrivs|Seccomp)" /proc/self/status; cat /proc/self/oom_score_adj';
      const field = (out: string, name: string): string =>
        new RegExp(`^${name}:\\s*(\\S+)$`, 'm').exec(out)?.[1] ?? `no ${name} in ${out}`;
      const mask = (caps: readonly string[]): string =>
        ALL_CAPABILITIES.reduce((m, c, i) => (caps.includes(c) ? m | (1n << BigInt(i)) : m), 0n)
          .toString(16)
          .padStart(16, '0');
      // A retain set, beyond nspawn's own bounding set (CAP_SYS_TIME): a root app holds exactly it.
      const retain = await rkt.runPod([
        NSPAWN,
        '--net=none',
        root,
        '--caps-retain=CAP_NET_BIND_SERVICE,CAP_SYS_TIME',
        ...sh(status),
      ]);
      assert.equal(retain.code, 0, retain.stderr);
      assert.equal(field(retain.stdout, 'CapBnd'), '0000000002000400', retain.stdout);
      assert.equal(field(retain.stdout, 'CapEff'), '0000000002000400', retain.stdout);
      assert.equal(field(retain.stdout, 'CapPrm'), '0000000002000400', retain.stdout);
      assert.equal(field(retain.stdout, 'CapInh'), '0000000000000000', retain.stdout);
      assert.equal(field(retain.stdout, 'NoNewPrivs'), '0', retain.stdout);
      assert.equal(field(retain.stdout, 'Seccomp'), '2', retain.stdout);
      // A remove set on a non-root app: rkt's default set less those, none effective, and
      // no_new_privs (a non-root app under a seccomp filter); a syscall removed with an errno
      // fails with it, the others work.
      const remove = await rkt.runPod([
        NSPAWN,
        '--net=none',
        alice,
        '--caps-remove=CAP_CHOWN,CAP_NET_RAW',
        '--seccomp=mode=remove,errno=EPERM,mkdir,mkdirat',
        // (Without the filter alice's mkdir in root's /tmp would fail with EACCES.)
        ...sh(`${status}; mkdir /tmp/d; echo mkdir=$?; ls /home >/dev/null; echo ls=$?`),
      ]);
      assert.equal(remove.code, 0, remove.stderr);
      const expected = DEFAULT_CAPABILITIES.filter(
        (c) => c !== 'CAP_CHOWN' && c !== 'CAP_NET_RAW' && hostBoundingSet().includes(c),
      );
      assert.equal(field(remove.stdout, 'CapBnd'), mask(expected), remove.stdout);
      assert.equal(field(remove.stdout, 'CapEff'), '0000000000000000', remove.stdout);
      assert.equal(field(remove.stdout, 'NoNewPrivs'), '1', remove.stdout);
      assert.match(remove.stdout, /^mkdir=1$/m);
      assert.match(remove.stderr, /Operation not permitted/);
      assert.match(remove.stdout, /^ls=0$/m);
      // Without an errno a removed syscall kills the process (SIGSYS), as under the oci engine.
      const kill = await rkt.runPod([
        NSPAWN,
        '--net=none',
        root,
        '--seccomp=mode=remove,mkdir,mkdirat',
        ...sh('mkdir /tmp/d; echo mkdir=$?'),
      ]);
      assert.equal(kill.code, 0, kill.stderr);
      assert.match(kill.stdout, /^mkdir=159$/m);
      // The image's isolators: no_new_privs and the oom score; rkt's default filter is one more
      // filter than with --insecure-options=seccomp.
      const guarded = await rkt.runPod([NSPAWN, '--net=none', guard, ...sh(status)]);
      assert.equal(guarded.code, 0, guarded.stderr);
      assert.equal(field(guarded.stdout, 'NoNewPrivs'), '1', guarded.stdout);
      assert.match(guarded.stdout, /^500$/m);
      const open = await rkt.runPod([
        '--insecure-options=image,seccomp',
        NSPAWN,
        '--net=none',
        guard,
        ...sh(status),
      ]);
      assert.equal(open.code, 0, open.stderr);
      assert.equal(
        Number(field(guarded.stdout, 'Seccomp_filters')),
        Number(field(open.stdout, 'Seccomp_filters')) + 1,
        `${guarded.stdout}\n${open.stdout}`,
      );
    });

    it('is ready (rkt status --wait-ready) only once an app that supports sd_notify sent READY=1', async () => {
      const flag = join(rkt.work, 'notify-flag');
      mkdirSync(flag);
      const notifier = buildBusyboxAci(rkt.work, 'notifier', {
        applets: ['sh', 'sleep', 'ln', 'logger', 'printf', 'test'],
        dirs: ['tmp', 'flag'],
        app: {
          exec: [
            '/bin/sh',
            '-c',
            // busybox logger writes a syslog datagram to /dev/log: its second line is READY=1.
            'test -S "$NOTIFY_SOCKET" || exit 7; : >/flag/waiting; while [ ! -e /flag/go ]; do sleep 0.05; done; ' +
              'ln -s "$NOTIFY_SOCKET" /tmp/log && ln -sf /tmp/log /dev/log && logger "$(printf \'not yet\\nREADY=1\')"; ' +
              'trap "exit 0" TERM; while :; do sleep 0.05; done',
          ],
          mountPoints: [{ name: 'flag', path: '/flag' }],
        },
        annotations: [{ name: 'appc.io/executor/supports-systemd-notify', value: 'true' }],
      });
      const { pod, uuid } = await rkt.startPod([
        NSPAWN,
        '--net=none',
        `--volume=flag,kind=host,source=${flag}`,
        notifier,
        '---',
        root,
        ...sh('test -z "$NOTIFY_SOCKET" || exit 8; trap "exit 0" TERM; while :; do sleep 0.05; done'),
      ]);
      const R = join(rkt.data, 'pods', 'run', uuid);
      const status = join(R, 'stage1', 'rootfs', 'rkt', 'status');
      await waitFor(
        'both apps to start and the notifier to wait',
        () =>
          existsSync(join(status, 'notifier-started')) &&
          existsSync(join(status, 'root-started')) &&
          existsSync(join(flag, 'waiting')),
      );
      assert.ok(!existsSync(join(R, 'stage1', 'rootfs', 'rkt', 'supervisor-status')), 'ready too early');
      writeFileSync(join(flag, 'go'), '');
      const ready = await rkt.run('status', '--wait-ready=60s', uuid);
      assert.equal(ready.code, 0, ready.stderr);
      assert.ok(existsSync(join(status, 'notifier-ready')));
      assert.equal((await rkt.run('stop', uuid)).code, 0);
      const r = await pod.done;
      assert.equal(r.code, 0, r.stderr);
    });

    it('gives the same output as the oci and fly engines for the same image', async () => {
      const script = 'id; pwd; echo "$GREETING/$AC_APP_NAME"; cat /etc/motd; ls /home; exit 3';
      const outs: string[] = [];
      for (const engine of [['--engine=oci', '--net=none'], ['--engine=fly'], [NSPAWN, '--net=none']]) {
        const r = await rkt.runPod([...engine, alice, ...sh(script)]);
        assert.equal(r.code, 3, `${engine.join(' ')}: ${r.stderr}`);
        outs.push(r.stdout);
      }
      assert.match(outs[0] ?? '', /^uid=1234\(alice\)/m);
      assert.equal(outs[1], outs[0]);
      assert.equal(outs[2], outs[0]);
    });
  },
);
