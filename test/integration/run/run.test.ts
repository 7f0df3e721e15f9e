/**
 * `rkt run` end to end as root, through bin/rkt (the launcher and its exec plan), with crun and
 * with runc (`--stage1-name=oci-crun|oci-runc`). A busybox ACI is built here by bin/actool.
 */
import assert from 'node:assert/strict';
import { spawnSync, type ChildProcess } from 'node:child_process';
import {
  existsSync,
  mkdirSync,
  mkdtempSync,
  readdirSync,
  readFileSync,
  rmSync,
  writeFileSync,
} from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { unmountUnder } from '../../../src/pod/index.js';
import { podCgroupDirs } from '../../../src/stage1/oci/engine.js';
import { which } from '../../../src/stage1/oci/runtime.js';
import {
  projectRoot,
  type Running,
  type RunResult as Result,
  skipUnlessCI,
  startCollected,
  waitFor,
} from '../../helpers.js';
import { buildBusyboxAci, podTestsMissing } from '../busybox-aci.js';

const rktBin = join(projectRoot, 'bin', 'rkt');
const skip = podTestsMissing;

const APPLETS = ['sh', 'cat', 'id', 'hostname', 'head', 'tail', 'sleep', 'true', 'grep', 'echo', 'ls'];

const children = new Set<ChildProcess>();

/** `rkt run ARGS` with the pod's stop timeout (`RKT_STOP_TIMEOUT` of the run), 5 s unless given. */
function start(args: string[], stopTimeout = '5'): Running {
  return startCollected(rktBin, args, { env: { ...process.env, RKT_STOP_TIMEOUT: stopTimeout }, children });
}

function buildAci(work: string, name: string, app: object): string {
  return buildBusyboxAci(work, name, {
    applets: APPLETS,
    dirs: ['tmp', 'proc', 'sys', 'dev'],
    files: {
      'etc/passwd': 'root:x:0:0:root:/:/bin/sh\nalice:x:1234:4321::/:/bin/sh\n',
      'etc/group': 'root:x:0:\nstaff:x:4321:\n',
    },
    app,
  });
}

/** `pid args` of every live process in session `sid`. */
function sessionMembers(sid: number): string[] {
  const out: string[] = [];
  for (const e of readdirSync('/proc')) {
    if (!/^\d+$/.test(e)) continue;
    try {
      const stat = readFileSync(`/proc/${e}/stat`, 'utf8');
      const f = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
      // A zombie has ended (its parent, pid 1 for an orphan, has yet to reap it).
      if (Number(f[3]) !== sid || f[0] === 'Z' || f[0] === 'X') continue;
      out.push(`${e} ${readFileSync(`/proc/${e}/cmdline`, 'utf8').split('\0').join(' ').trim()}`);
    } catch {
      // gone
    }
  }
  return out;
}

describe('rkt run (oci engine)', { skip: skipUnlessCI(skip, 'rkt run integration tests') }, () => {
  let work: string;
  let data: string;
  let bb: string;
  let handlers: string;
  const podsSeen = new Set<string>();

  before(() => {
    work = mkdtempSync(join(tmpdir(), 'rocket-run-'));
    data = join(work, 'data');
    bb = buildAci(work, 'busybox', { exec: ['/bin/sh', '-c', 'exit 0'] });
    handlers = buildAci(work, 'handlers', {
      exec: ['/bin/sh', '-c', 'echo main >>/data/log'],
      eventHandlers: [
        { name: 'pre-start', exec: ['/bin/sh', '-c', 'echo pre >>/data/log'] },
        { name: 'post-stop', exec: ['/bin/sh', '-c', 'echo post >>/data/log'] },
      ],
    });
  });

  after(() => {
    for (const c of children) if (c.pid !== undefined) process.kill(c.pid, 'SIGKILL');
    for (let i = 0; i < 2; i++)
      spawnSync(rktBin, [`--dir=${data}`, 'gc', '--grace-period=0s', '--expire-prepared=0s'], {
        stdio: 'ignore',
      });
    unmountUnder(work);
    for (const uuid of podsSeen) for (const d of podCgroupDirs(`rkt-${uuid}`)) spawnSync('rmdir', [d]);
    rmSync(work, { recursive: true, force: true });
  });

  const rkt = (...args: string[]): Promise<Result> => start([`--dir=${data}`, ...args]).done;
  const runArgs = (engine: string, ...args: string[]): string[] => [
    `--dir=${data}`,
    '--insecure-options=image',
    'run',
    `--stage1-name=${engine}`,
    '--net=none',
    ...args,
  ];
  async function status(uuid: string): Promise<Record<string, string>> {
    const r = await rkt('status', uuid);
    assert.equal(r.code, 0, r.stderr);
    return Object.fromEntries(
      r.stdout
        .trim()
        .split('\n')
        .map((l) => [l.slice(0, l.indexOf('=')), l.slice(l.indexOf('=') + 1)]),
    );
  }
  /** Starts a pod in the background and waits until it is running; returns its UUID. */
  const startPod = (engine: string, ...args: string[]): Promise<{ pod: Running; uuid: string }> =>
    startPodStopTimeout('5', engine, ...args);
  async function startPodStopTimeout(
    stopTimeout: string,
    engine: string,
    ...args: string[]
  ): Promise<{ pod: Running; uuid: string }> {
    const uuidFile = join(work, `uuid-${Date.now()}-${Math.random()}`);
    const pod = start(runArgs(engine, `--uuid-file-save=${uuidFile}`, ...args), stopTimeout);
    await waitFor('the uuid file', () => existsSync(uuidFile) && readFileSync(uuidFile, 'utf8') !== '');
    const uuid = readFileSync(uuidFile, 'utf8').trim();
    podsSeen.add(uuid);
    await waitFor('the pod to run', () => existsSync(join(data, 'pods', 'run', uuid, 'pid')));
    return { pod, uuid };
  }
  const sh = (script: string): string[] => ['--exec', '/bin/sh', '--', '-c', script];

  for (const [label, engine] of [
    ['crun', 'oci-crun'],
    ['runc', 'oci-runc'],
  ] as const) {
    describe(label, { skip: which(label) === undefined ? `${label} is not installed` : false }, () => {
      it('propagates the exit code and records it for rkt status', async () => {
        const uuidFile = join(work, `uuid-exit-${label}`);
        const r = await start(runArgs(engine, `--uuid-file-save=${uuidFile}`, bb, ...sh('exit 3'))).done;
        assert.equal(r.code, 3, r.stderr);
        const uuid = readFileSync(uuidFile, 'utf8').trim();
        podsSeen.add(uuid);
        const s = await status(uuid);
        assert.equal(s['state'], 'exited');
        assert.equal(s['app-busybox'], '3');
        // After rkt's lines, the engine and runtime (docs/commands.md), in the text and the JSON of
        // `status` and `list`.
        assert.deepEqual([s['engine'], s['runtime']], ['oci', label]);
        const sj = await rkt('status', '--format=json', uuid);
        assert.equal(sj.code, 0, sj.stderr);
        const sjo = JSON.parse(sj.stdout) as Record<string, unknown>;
        assert.deepEqual([sjo['engine'], sjo['runtime']], ['oci', label]);
        const lj = await rkt('list', '--format=json');
        assert.equal(lj.code, 0, lj.stderr);
        const mine = (JSON.parse(lj.stdout) as Record<string, unknown>[]).find((p) => p['name'] === uuid);
        assert.deepEqual([mine?.['engine'], mine?.['runtime'], mine?.['state']], ['oci', label, 'exited']);
      });

      it('gives the exit status before its teardown, which list, status, rm and gc right after wait for', async () => {
        for (const verb of ['list', 'status', 'rm', 'gc'] as const) {
          const uuidFile = join(work, `uuid-teardown-${label}-${verb}`);
          const r = await start(runArgs(engine, `--uuid-file-save=${uuidFile}`, bb, ...sh('exit 5'))).done;
          assert.equal(r.code, 5, r.stderr);
          const uuid = readFileSync(uuidFile, 'utf8').trim();
          podsSeen.add(uuid);
          // The supervisor marked its teardown (no CNI: a local one) before it gave the status.
          const marker = join(data, 'pods', 'run', uuid, 'stage1', 'tearing-down');
          assert.equal(readFileSync(marker, 'utf8'), 'local\n');
          if (verb === 'list') {
            const l = await rkt('list', '--no-legend', '--full');
            assert.equal(l.code, 0, l.stderr);
            const row = l.stdout.split('\n').find((x) => x.startsWith(uuid));
            assert.match(row ?? '', /\texited\t/, l.stdout);
          } else if (verb === 'status') {
            const s = await status(uuid);
            assert.equal(s['state'], 'exited');
            assert.equal(s['app-busybox'], '5');
          } else {
            const x = verb === 'rm' ? await rkt('rm', uuid) : await rkt('gc', '--grace-period=0s');
            assert.equal(x.code, 0, x.stderr);
            assert.equal(existsSync(join(data, 'pods', 'run', uuid)), false, verb);
          }
          // The teardown had ended: no mount of the pod is left, nor its cgroups.
          assert.ok(!readFileSync('/proc/self/mountinfo', 'utf8').includes(uuid), `${verb}: mounts left`);
          assert.deepEqual(podCgroupDirs(`rkt-${uuid}`), [], verb);
        }
      });

      it("passes the app's stdout and stderr through to rkt run's", async () => {
        const r = await start(runArgs(engine, bb, ...sh('echo to-out; echo to-err >&2'))).done;
        assert.equal(r.code, 0, r.stderr);
        assert.match(r.stdout, /^to-out$/m);
        assert.match(r.stderr, /^to-err$/m);
      });

      it("keeps the launcher's GLIBC_TUNABLES to Node: --inherit-env passes the user's, never the launcher's", async () => {
        const env: NodeJS.ProcessEnv = { ...process.env, RKT_STOP_TIMEOUT: '5' };
        delete env['GLIBC_TUNABLES'];
        const own = await startCollected(rktBin, runArgs(engine, '--inherit-env', bb, ...sh('export -p')), {
          env,
          children,
        }).done;
        assert.equal(own.code, 0, own.stderr);
        assert.match(own.stdout, /RKT_STOP_TIMEOUT/);
        assert.doesNotMatch(own.stdout, /GLIBC_TUNABLES|ROCKET_TUNABLES/);
        const user = await startCollected(rktBin, runArgs(engine, '--inherit-env', bb, ...sh('export -p')), {
          env: { ...env, GLIBC_TUNABLES: 'glibc.malloc.hugetlb=0' },
          children,
        }).done;
        assert.equal(user.code, 0, user.stderr);
        assert.match(user.stdout, /GLIBC_TUNABLES=.?glibc\.malloc\.hugetlb=0/);
        assert.doesNotMatch(user.stdout, /ROCKET_TUNABLES/);
      });

      it('runs a prepared pod (run-prepared)', async () => {
        const p = await rkt('--insecure-options=image', 'prepare', bb, ...sh('exit 5'));
        assert.equal(p.code, 0, p.stderr);
        const uuid = p.stdout.trim();
        podsSeen.add(uuid);
        // `status --wait` on the prepared pod waits for it to be run and to exit, as rkt's does.
        const waiting = startCollected(rktBin, [`--dir=${data}`, 'status', '--wait', uuid]);
        const r = await rkt('run-prepared', `--stage1-name=${engine}`, '--net=none', uuid);
        assert.equal(r.code, 5, r.stderr);
        const w = await waiting.done;
        assert.equal(w.code, 0, w.stderr);
        assert.match(w.stdout, /^state=exited\n(.*\n)*app-busybox=5\n/);
      });

      it("a unit's lifecycle: run --uuid-file-save, gc --mark-only, status and rm --uuid-file", async () => {
        // What docs/systemd/etcd.service does between two starts of the service.
        const saved = join(work, `unit-${engine}.uuid`);
        const r = await start(runArgs(engine, `--uuid-file-save=${saved}`, bb, ...sh('exit 3'))).done;
        assert.equal(r.code, 3, r.stderr);
        const uuid = readFileSync(saved, 'utf8');
        podsSeen.add(uuid);
        const mark = await rkt('gc', '--mark-only');
        assert.equal(mark.code, 0, mark.stderr);
        assert.match(mark.stderr, new RegExp(`moving pod "${uuid}" to garbage`));
        // A plain gc keeps a pod marked less than its grace period (30 minutes) ago.
        const gc = await rkt('gc');
        assert.equal(gc.code, 0, gc.stderr);
        assert.doesNotMatch(gc.stdout, new RegExp(uuid));
        assert.ok(existsSync(join(data, 'pods', 'exited-garbage', uuid)));
        const st = await rkt('status', `--uuid-file=${saved}`);
        assert.equal(st.code, 0, st.stderr);
        assert.match(st.stdout, /^state=exited garbage\n(.*\n)*exited=true\napp-busybox=3\n/);
        const rm = await rkt('rm', `--uuid-file=${saved}`);
        assert.equal(rm.code, 0, rm.stderr);
        assert.equal(rm.stdout, `"${uuid}"\n`);
        for (const state of ['run', 'exited-garbage', 'garbage'])
          assert.ok(!existsSync(join(data, 'pods', state, uuid)), state);
      });

      it('--hostname, --hosts-entry and --dns* reach the pod (hostname, /etc/hosts, /etc/resolv.conf)', async () => {
        const r = await start(
          runArgs(
            engine,
            '--hostname=myhost',
            '--hosts-entry=10.1.2.3=example.test',
            '--dns=10.9.9.9',
            '--dns-search=ex.test',
            '--dns-opt=ndots:2',
            bb,
            ...sh('hostname; cat /etc/hosts /etc/resolv.conf'),
          ),
        ).done;
        assert.equal(r.code, 0, r.stderr);
        const lines = r.stdout.split('\n');
        assert.equal(lines[0], 'myhost');
        assert.ok(
          lines.some((l) => /^127\.0\.1\.1\s+myhost$/.test(l)),
          r.stdout,
        );
        assert.ok(
          lines.some((l) => /^10\.1\.2\.3\s+example\.test$/.test(l)),
          r.stdout,
        );
        for (const l of ['nameserver 10.9.9.9', 'search ex.test', 'options ndots:2'])
          assert.ok(lines.includes(l), `${l}: ${r.stdout}`);
      });

      it('--readonly-rootfs, --supplementary-gids, --oom-score-adj; --user-annotation and --user-label in the JSON', async () => {
        const saved = join(work, `app-flags-${engine}.uuid`);
        const r = await start(
          runArgs(
            engine,
            `--uuid-file-save=${saved}`,
            '--volume=data,kind=empty',
            bb,
            '--readonly-rootfs=true',
            '--mount=volume=data,target=/data',
            '--supplementary-gids=5,6',
            '--oom-score-adj=500',
            '--user-annotation=team=x',
            '--user-label=tier=web',
            ...sh(
              'if (: >/x) 2>/dev/null; then echo rootfs-writable; else echo rootfs-ro; fi; ' +
                ': >/data/f && echo volume-writable; id -G; cat /proc/self/oom_score_adj',
            ),
          ),
        ).done;
        assert.equal(r.code, 0, r.stderr);
        assert.deepEqual(r.stdout.trimEnd().split('\n'), ['rootfs-ro', 'volume-writable', '0 5 6', '500']);
        const uuid = readFileSync(saved, 'utf8');
        podsSeen.add(uuid);
        const st = await rkt('status', '--format=json', uuid);
        assert.equal(st.code, 0, st.stderr);
        const app = (JSON.parse(st.stdout) as { apps: Record<string, unknown>[] }).apps[0];
        assert.deepEqual(app?.['user_annotations'], { team: 'x' });
        assert.deepEqual(app?.['user_labels'], { tier: 'web' });
      });

      it('shares an empty volume between two apps', async () => {
        const mount = ['--mount', 'volume=data,target=/data'];
        const r = await start(
          runArgs(
            engine,
            '--volume=data,kind=empty',
            bb,
            '--name=writer',
            ...mount,
            ...sh('echo shared-hello >/data/f'),
            '---',
            bb,
            '--name=reader',
            ...mount,
            ...sh(
              'i=0; while [ ! -s /data/f ]; do i=$((i+1)); [ $i -gt 200 ] && exit 9; sleep 0.05; done; cat /data/f',
            ),
          ),
        ).done;
        assert.equal(r.code, 0, r.stderr);
        assert.match(r.stdout, /^shared-hello$/m);
      });

      it('stops the pod gracefully on SIGTERM', async () => {
        const { pod, uuid } = await startPod(
          engine,
          bb,
          ...sh('trap "echo got-term; exit 0" TERM; echo ready; while :; do sleep 0.05; done'),
          '---',
          bb,
          '--name=second',
          ...sh('trap "exit 0" TERM; echo second-ready; while :; do sleep 0.05; done'),
        );
        // Both apps' handlers in place: a pid 1 without one never sees a TERM from outside.
        await waitFor(
          'the apps',
          () => /^ready$/m.test(pod.stdout()) && /^second-ready$/m.test(pod.stdout()),
        );
        pod.child.kill('SIGTERM');
        const r = await pod.done;
        assert.equal(r.code, 0, r.stderr);
        assert.match(r.stdout, /got-term/);
        const s = await status(uuid);
        assert.equal(s['state'], 'exited');
        assert.equal(s['app-busybox'], '0');
        assert.equal(s['app-second'], '0');
      });

      it('kills a greedy app over --memory=16M, and stops the other app of the pod', async () => {
        const r = await start(
          runArgs(
            engine,
            bb,
            '--memory=16M',
            ...sh('head -c 256m /dev/zero | tail >/dev/null; exit $?'),
            '---',
            bb,
            '--name=other',
            ...sh('trap "exit 0" TERM; while :; do sleep 0.05; done'),
          ),
        ).done;
        assert.equal(r.code, 137, r.stderr);
      });

      it('shows a retained capability in CapBnd', async () => {
        const r = await start(
          runArgs(engine, bb, '--cap-retain=CAP_NET_BIND_SERVICE', ...sh('grep CapBnd /proc/self/status')),
        ).done;
        assert.equal(r.code, 0, r.stderr);
        assert.match(r.stdout, /CapBnd:\s+0000000000000400/);
      });

      it('--caps-remove takes one capability out of the default set', async () => {
        const capBnd = async (...flags: string[]): Promise<bigint> => {
          const r = await start(runArgs(engine, bb, ...flags, ...sh('grep CapBnd /proc/self/status'))).done;
          assert.equal(r.code, 0, r.stderr);
          const m = /CapBnd:\s+([0-9a-f]+)/.exec(r.stdout);
          assert.ok(m !== null, r.stdout);
          return BigInt(`0x${m[1] as string}`);
        };
        const KILL = 1n << 5n;
        const all = await capBnd();
        assert.equal(all & KILL, KILL, "CAP_KILL is in rkt's default set");
        assert.equal(await capBnd('--caps-remove=CAP_KILL'), all & ~KILL);
      });

      it('runs on a copy of the tree with --no-overlay', async () => {
        const r = await start(
          runArgs(engine, '--no-overlay', bb, ...sh('echo written >/etc/new && cat /etc/new')),
        ).done;
        assert.equal(r.code, 0, r.stderr);
        assert.match(r.stdout, /^written$/m);
      });

      it('runs as --user and --group given by name', async () => {
        const r = await start(runArgs(engine, bb, '--user=alice', '--group=staff', ...sh('id'))).done;
        assert.equal(r.code, 0, r.stderr);
        assert.match(r.stdout, /uid=1234\(alice\) gid=4321\(staff\)/);
      });

      it('runs pre-start and post-stop handlers in order', async () => {
        const vol = join(work, `handlers-${label}`);
        mkdirSync(vol);
        const r = await start(
          runArgs(
            engine,
            `--volume=data,kind=host,source=${vol}`,
            handlers,
            '--mount',
            'volume=data,target=/data',
          ),
        ).done;
        assert.equal(r.code, 0, r.stderr);
        assert.equal(readFileSync(join(vol, 'log'), 'utf8'), 'pre\nmain\npost\n');
      });

      it('a recursive read-only host volume is read-only in every submount', async () => {
        // A host dir with a tmpfs mounted below it (the test's own, unmounted after).
        const host = join(work, `rro-${label}`);
        mkdirSync(join(host, 'sub'), { recursive: true });
        const m = spawnSync('mount', ['-t', 'tmpfs', '-o', 'size=1m', 'tmpfs', join(host, 'sub')]);
        assert.equal(m.status, 0, String(m.stderr));
        try {
          const tryWrite = (f: string) =>
            `if echo x >${f} 2>/dev/null; then echo wrote ${f}; else echo refused ${f}; fi`;
          const r = await start(
            runArgs(
              engine,
              `--volume=v,kind=host,source=${host},readOnly=true,recursive=true`,
              bb,
              '--mount',
              'volume=v,target=/v',
              ...sh(`${tryWrite('/v/top')}; ${tryWrite('/v/sub/below')}`),
            ),
          ).done;
          assert.equal(r.code, 0, r.stderr);
          assert.match(r.stdout, /^refused \/v\/top$/m);
          assert.match(r.stdout, /^refused \/v\/sub\/below$/m);
          assert.equal(existsSync(join(host, 'sub', 'below')), false);
          assert.equal(existsSync(join(host, 'top')), false);
        } finally {
          spawnSync('umount', [join(host, 'sub')]);
        }
      });

      it('enters a running app, shows it running, stops it with rkt stop', async () => {
        const { pod, uuid } = await startPod(
          engine,
          bb,
          ...sh('trap "exit 0" TERM; echo ready; while :; do sleep 0.05; done'),
        );
        await waitFor('the app', () => pod.stdout().includes('ready'));
        assert.equal((await status(uuid))['state'], 'running');
        // The command's own flags reach it as written (they once came through as `--xy`).
        const dashes = await rkt('enter', uuid, '/bin/echo', '-n', '-xy');
        assert.equal(dashes.code, 0, dashes.stderr);
        assert.equal(dashes.stdout, '-xy');
        const e = await rkt('enter', uuid, '/bin/sh', '-c', 'echo entered; hostname');
        assert.equal(e.code, 0, e.stderr);
        assert.match(e.stdout, new RegExp(`^entered\\nrkt-${uuid}$`, 'm'));
        const s = await rkt('stop', uuid);
        assert.equal(s.code, 0, s.stderr);
        const r = await pod.done;
        assert.equal(r.code, 0, r.stderr);
        const st = await status(uuid);
        assert.equal(st['state'], 'exited');
        assert.equal(st['app-busybox'], '0');
      });

      it(
        'rkt stop ends an app that ignores SIGTERM; a second stop says it is already stopped',
        { timeout: 60_000 },
        async () => {
          // `sleep` is pid 1 of its container: the default action of SIGTERM does nothing there.
          // The pod's stop timeout is 600 s, beyond this test's 60 s: only the stop's own 1 s ends it.
          const { pod, uuid } = await startPodStopTimeout(
            '600',
            engine,
            bb,
            '--exec',
            '/bin/sleep',
            '--',
            '1000',
          );
          const started = join(
            data,
            'pods',
            'run',
            uuid,
            'stage1',
            'rootfs',
            'rkt',
            'status',
            'busybox-started',
          );
          await waitFor('the app to start', () => existsSync(started));
          // This stop's own timeout.
          const s = await startCollected(rktBin, [`--dir=${data}`, 'stop', uuid], {
            env: { ...process.env, RKT_STOP_TIMEOUT: '1' },
          }).done;
          assert.equal(s.code, 0, s.stderr);
          assert.equal(s.stdout, `"${uuid}"\n`);
          const r = await pod.done;
          assert.equal(r.code, 137, r.stderr);
          const st = await status(uuid);
          assert.equal(st['state'], 'exited');
          assert.equal(st['app-busybox'], '137');
          // As a unit's `ExecStop=-rkt stop --uuid-file=...` would ask it.
          const uuidFile = join(work, `stopped-${engine}.uuid`);
          writeFileSync(uuidFile, uuid);
          const again = await rkt('stop', `--uuid-file=${uuidFile}`);
          assert.equal(again.code, 0, again.stderr);
          assert.equal(again.stdout, `pod "${uuid}" is already stopped\n`);
          assert.equal(again.stderr, '');
        },
      );

      it('leaves no process behind when an app fails and the others are stopped', async () => {
        // setsid: the pod's processes are those of the session whose id is the supervisor's pid.
        const uuidFile = join(work, `uuid-session-${label}`);
        const pod = startCollected(
          'setsid',
          [
            rktBin,
            ...runArgs(
              engine,
              `--uuid-file-save=${uuidFile}`,
              bb,
              ...sh('exit 3'),
              '---',
              bb,
              '--name=other',
              ...sh('trap "exit 0" TERM; while :; do sleep 0.05; done'),
            ),
          ],
          { env: { ...process.env, RKT_STOP_TIMEOUT: '5' }, children },
        );
        const r = await pod.done;
        assert.equal(r.code, 3, r.stderr);
        // The supervisor's teardown goes on after the exit status, the pod lock held; `rkt status`
        // waits for it (the pod is exited then): nothing of the pod's session is left after it.
        const uuid = readFileSync(uuidFile, 'utf8').trim();
        podsSeen.add(uuid);
        assert.equal((await status(uuid))['state'], 'exited');
        assert.deepEqual(sessionMembers(pod.child.pid as number), []);
      });

      it('after SIGKILL of the supervisor: still running, then exited, and gc leaves nothing', async () => {
        const flag = join(work, `go-${label}`);
        mkdirSync(flag);
        const { pod, uuid } = await startPod(
          engine,
          `--volume=flag,kind=host,source=${flag}`,
          bb,
          '--mount',
          'volume=flag,target=/flag',
          ...sh(': >/flag/started; while [ ! -e /flag/go ]; do sleep 0.05; done; exit 4'),
        );
        await waitFor('the app', () => existsSync(join(flag, 'started')));
        const pid = Number(readFileSync(join(data, 'pods', 'run', uuid, 'pid'), 'utf8'));
        assert.equal(pid, pod.child.pid);
        process.kill(pid, 'SIGKILL');
        await pod.exited;
        assert.equal((await status(uuid))['state'], 'running');
        writeFileSync(join(flag, 'go'), '');
        let st: Record<string, string> = {};
        await waitFor('the pod to exit', () => {
          const r = spawnSync(rktBin, [`--dir=${data}`, 'status', uuid], { encoding: 'utf8' });
          st = Object.fromEntries(
            r.stdout
              .trim()
              .split('\n')
              .map((l) => l.split('=', 2) as [string, string]),
          );
          return st['state'] === 'exited';
        });
        assert.equal(st['app-busybox'], '4');
        await pod.done;
        const podDir = join(data, 'pods', 'run', uuid);
        assert.ok(existsSync(join(podDir, 'ns-net')), 'the killed supervisor left its namespace files');
        const gc = await rkt('gc', '--grace-period=0s');
        assert.equal(gc.code, 0, gc.stderr);
        const mountinfo = readFileSync('/proc/self/mountinfo', 'utf8');
        assert.ok(!mountinfo.includes(data), `mounts left under ${data}:\n${mountinfo}`);
        for (const state of ['run', 'exited-garbage', 'garbage'])
          assert.ok(!existsSync(join(data, 'pods', state, uuid)), `pod dir left in ${state}`);
        assert.deepEqual(podCgroupDirs(`rkt-${uuid}`), []);
        const list = spawnSync(label, ['list', '-q'], { encoding: 'utf8' });
        assert.ok(!list.stdout.includes(uuid), `${label} still knows the pod's containers`);
      });
    });
  }
});
