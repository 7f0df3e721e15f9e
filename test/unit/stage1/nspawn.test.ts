// The nspawn engine's pure parts (engine choice, its scripts). Root-free.
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { describe, it } from 'node:test';
import { engineChoice } from '../../../src/stage1/engines.js';
import {
  launchExecLine,
  launchScript,
  nspawnEnterScript,
  nspawnPlanScript,
} from '../../../src/stage1/nspawn/plan.js';

const args = (over: { engine?: string; stage1?: Record<string, string> }) => ({
  engine: over.engine,
  stage1: over.stage1 ?? {},
});

/** The words of a shell command line, as sh splits them (each quoted value whole). */
function words(line: string): string[] {
  const r = spawnSync('/bin/sh', ['-c', `printf '%s\\0' ${line}`], { encoding: 'utf8' });
  assert.equal(r.status, 0, r.stderr);
  return r.stdout.split('\0').slice(0, -1);
}

/** The script's line that starts with `prefix`, without it. */
function lineOf(script: string, prefix: string): string {
  const l = script.split('\n').find((x) => x.startsWith(prefix));
  assert.ok(l !== undefined, `no line starting with ${prefix} in:\n${script}`);
  return l.slice(prefix.length);
}

/** `sh -n`: the script parses. */
function parses(script: string): void {
  const r = spawnSync('/bin/sh', ['-n'], { input: script, encoding: 'utf8' });
  assert.equal(r.status, 0, r.stderr);
}

describe('nspawn engine choice', () => {
  it('picks nspawn from --engine, rkt stage1-coreos names and stage1 file names with the word nspawn', () => {
    for (const a of [
      args({ engine: 'nspawn' }),
      args({ stage1: { name: 'coreos.com/rkt/stage1-coreos:1.30.0' } }),
      args({ stage1: { name: 'coreos.com/rkt/stage1-coreos' } }),
      args({ stage1: { path: '/usr/lib/rkt/stage1-images/stage1-nspawn.aci' } }),
      args({ stage1: { fromDir: 'stage1-nspawn.aci' } }),
    ])
      assert.deepEqual(engineChoice(a), { name: 'nspawn' });
  });
  it('keeps rkt default stage1 file (stage1-coreos.aci) on the default engine', () => {
    assert.deepEqual(engineChoice(args({ stage1: { path: '/x/stage1-coreos.aci' } })), { name: 'oci' });
  });
});

describe('nspawn scripts', () => {
  const user = { uid: 1234, gid: 4321, groups: [27, 4321] };
  it('launch.sh mounts, marks the start, and execs the app chrooted with its quoted argv', () => {
    const s = launchScript({
      app: 'web',
      rootfs: '/opt/stage2/web/rootfs',
      copy: false,
      readOnlyRootfs: true,
      mounts: [
        { kind: 'rbind', source: '/proc', target: '/opt/stage2/web/rootfs/proc' },
        {
          kind: 'bind',
          source: '/rkt/volumes/data',
          target: '/opt/stage2/web/rootfs/data',
          recursive: true,
          readOnly: true,
        },
      ],
      env: ['PATH=/bin', "QUOTE=it's"],
      user,
      workingDir: '/home/web',
      workingDirOutside: '/opt/stage2/web/rootfs/home/web',
      exec: ['/bin/echo', 'a b', '$(x)'],
      started: '/pods/run/u/stage1/rootfs/rkt/status/web-started',
      limits: [{ dir: '/rkt/cgroup/memory/web', values: [['memory.limit_in_bytes', '16000000']] }],
      isolation: {
        capabilities: [10, 25],
        noNewPrivileges: true,
        oomScoreAdj: -200,
        seccomp: '/pods/run/u/apps/web/seccomp.bpf',
      },
    });
    parses(s);
    assert.ok(s.includes('&& mount --rbind /proc /opt/stage2/web/rootfs/proc ||'));
    assert.ok(
      s.includes(
        'mkdir -p /rkt/cgroup/memory/web && echo 16000000 >/rkt/cgroup/memory/web/memory.limit_in_bytes && echo $$ >/rkt/cgroup/memory/web/cgroup.procs ||',
      ),
    );
    assert.ok(s.includes('mount -o remount,bind,ro /opt/stage2/web/rootfs/data '));
    assert.ok(s.includes('mount -o remount,bind,ro /opt/stage2/web/rootfs '));
    assert.deepEqual(words(lineOf(s, ': >')), ['/pods/run/u/stage1/rootfs/rkt/status/web-started']);
    assert.ok(s.includes('\nkill -s USR1 1 '));
    assert.deepEqual(words(lineOf(s, 'exec ')), [
      'env',
      '-i',
      '--default-signal',
      'perl',
      '/rkt/launch.pl',
      process.arch === 'arm64' ? '167,91,147,149,159' : '157,126,117,119,116',
      '/opt/stage2/web/rootfs',
      '/home/web',
      '1234',
      '4321',
      '27,4321',
      '10,25',
      '1',
      '/pods/run/u/apps/web/seccomp.bpf',
      'PATH=/bin',
      "QUOTE=it's",
      '--',
      '/bin/echo',
      'a b',
      '$(x)',
    ]);
    assert.match(s, /\necho -200 >\/proc\/self\/oom_score_adj \|\| fail /);
  });
  it('launch.pl is given the system call numbers of x86_64 and arm64, and refuses another arch', () => {
    const p = { env: [], user, rootfs: '/r', workingDir: '/', exec: ['/bin/true'] };
    assert.match(launchExecLine(p, 'x64'), / \/rkt\/launch\.pl 157,126,117,119,116 /);
    assert.match(launchExecLine(p, 'arm64'), / \/rkt\/launch\.pl 167,91,147,149,159 /);
    assert.throws(() => launchExecLine(p, 'riscv64'), /does not know the system calls of riscv64/);
  });
  it('an event handler does not mark the app started', () => {
    const s = launchScript({
      app: 'web',
      rootfs: '/opt/stage2/web/rootfs',
      copy: true,
      readOnlyRootfs: false,
      mounts: [],
      env: [],
      user: { uid: 0, gid: 0, groups: [] },
      workingDir: '/',
      workingDirOutside: '/opt/stage2/web/rootfs',
      exec: ['/bin/true'],
    });
    parses(s);
    assert.doesNotMatch(s, /USR1|oom_score_adj/);
    // No groups, no capability, no filter: empty words.
    assert.deepEqual(words(lineOf(s, 'exec ')).slice(10, 15), ['', '', '0', '', '--']);
  });
  it('the plan locks, runs nspawn with the lock as fd 3, unregisters and tears down CNI only when asked', () => {
    const base = {
      P: '/d/pods/prepared/u',
      R: '/d/pods/run/u',
      uuid: 'u',
      cgroup: 'rkt-u',
      moveToCgroup: true,
      limitDirs: ['/sys/fs/cgroup/memory/rkt-u', '/sys/fs/cgroup/cpu/rkt-u'],
      nspawn: ['systemd-nspawn', '--machine=rkt-u', '--', '/bin/sh', '/rkt/supervisor.sh', "it's"],
    };
    const cni = nspawnPlanScript({ ...base, cni: true, cniTeardown: 'net/teardown.sh' });
    parses(cni);
    assert.match(cni, /flock -x -n 3/);
    assert.deepEqual(
      words(
        lineOf(cni, 'LISTEN_FDS=1 ')
          .replace(/^.*' rkt-nspawn "\$CG" /s, '')
          .replace(/ <&4 4<&- &$/, ''),
      ),
      [
        '/sys/fs/cgroup/memory/rkt-u /sys/fs/cgroup/cpu/rkt-u',
        '1',
        'systemd-nspawn',
        '--machine=rkt-u',
        '--',
        '/bin/sh',
        '/rkt/supervisor.sh',
        "it's",
      ],
    );
    assert.match(cni, /teardown\.sh/);
    const none = nspawnPlanScript({ ...base, cni: false, moveToCgroup: false });
    parses(none);
    assert.doesNotMatch(none, /teardown\.sh/);
    // The metadata service's unregister runs on the host once nspawn ended, before the teardown.
    const mds = nspawnPlanScript({
      ...base,
      cni: true,
      cniTeardown: 'net/teardown.sh',
      mdsUnregister: 'curl -X DELETE x >/dev/null 2>&1',
    });
    parses(mds);
    const lines = mds.split('\n');
    const at = (re: RegExp): number => lines.findIndex((l) => re.test(l));
    assert.ok(at(/^while \[ -z "\$rc" \]/) < at(/^curl -X DELETE x/), mds);
    assert.ok(at(/^curl -X DELETE x/) < at(/teardown\.sh/), mds);
    assert.doesNotMatch(none, /curl/);
    // On a systemd host machined places nspawn: it stays where it is.
    assert.deepEqual(
      words(
        lineOf(none, 'LISTEN_FDS=1 ')
          .replace(/^.*' rkt-nspawn "\$CG" /s, '')
          .replace(/ <&4 4<&- &$/, ''),
      ).slice(0, 3),
      ['/sys/fs/cgroup/memory/rkt-u /sys/fs/cgroup/cpu/rkt-u', '', 'systemd-nspawn'],
    );
    // A sandbox: its propagation dir, a shared mount of its own on the host, made before nspawn
    // starts in a slave namespace, unmounted after nspawn ended; a pod of rkt run has none.
    const sb = nspawnPlanScript({ ...base, cni: false, incoming: 'stage1/incoming' });
    parses(sb);
    const sl = sb.split('\n');
    const idx = (re: RegExp): number => sl.findIndex((l) => re.test(l));
    assert.ok(idx(/mount --make-private "\$I" && mount --make-shared "\$I"/) >= 0, sb);
    assert.ok(idx(/make-shared/) < idx(/^unshare --mount --propagation slave /), sb);
    assert.ok(idx(/^while \[ -z "\$rc" \]/) < idx(/^umount --recursive --lazy "\$I"/), sb);
    assert.match(none, /^unshare --mount --propagation private /m);
    assert.doesNotMatch(none, /make-shared|umount/);
    const enter = nspawnEnterScript(42, user, ['A=b c'], ['/bin/sh', '-c', 'echo $x']);
    parses(enter);
    assert.deepEqual(words(lineOf(enter, 'exec ')).slice(7), [
      'nsenter',
      '--target=42',
      '--mount',
      '--uts',
      '--ipc',
      '--net',
      '--pid',
      '--root',
      '--wd',
      '--setuid=1234',
      '--',
      '/bin/sh',
      '-c',
      'echo $x',
    ]);
  });
});
