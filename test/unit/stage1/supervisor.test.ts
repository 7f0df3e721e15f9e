// The pod supervisor (src/stage1/oci/supervisor.sh) against a fake runtime: a sh script that
// "runs" a container as itself (the behaviour named in the bundle's `behaviour` file), records its
// pid in its state dir for `kill`, and marks the app started as the poststart hook does. No root,
// no namespaces, no overlay, no loggers: the settings files say so.
import assert from 'node:assert/strict';
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import {
  chmodSync,
  closeSync,
  constants,
  existsSync,
  mkdirSync,
  mkdtempSync,
  openSync,
  readdirSync,
  readFileSync,
  readSync,
  readlinkSync,
  rmSync,
  writeFileSync,
} from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { after, describe, it } from 'node:test';
import {
  appEnv,
  podEnv,
  sendCommand,
  supervisorPid,
  supervisorPlan,
  type SupervisorPod,
} from '../../../src/stage1/oci/engine.js';
import { isLockedExclusively } from '../../../src/pod/lock.js';
import { waitFor } from '../../helpers.js';

// Args: [--root ST] run --bundle B ID | kill ID SIG | delete -f ID
// The supervisor's app subshells ignore TERM; a runtime resets that in the container before the app
// starts (and so before the started marker, after which the supervisor may TERM it). sh cannot reset
// a signal ignored at its entry, so the fake first passes through perl.
const FAKE_RUNTIME = `#!/bin/sh
[ -n "\${FAKE_TERM_DEFAULT-}" ] || FAKE_TERM_DEFAULT=1 exec perl -e '$SIG{TERM} = "DEFAULT"; exec @ARGV' "$0" "$@"
[ "$1" = --root ] && { ST=$2; shift 2; }
cmd=$1; shift
case $cmd in
run)
  B=$2 ID=$3
  mkdir -p "$ST/$ID"
  echo $$ >"$ST/$ID/pid"
  read -r app <"$B/app"; read -r R <"$B/pod"
  read -r what <"$B/behaviour"
  # TERM ignored before the started marker, after which the supervisor may send it.
  [ "$what" = ignore-term ] && trap '' TERM
  : >"$R/stage1/rootfs/rkt/status/$app-started"
  read -r p <"$R/pid" && kill -USR1 "$p"
  case $what in
  exit*) exit "\${what#exit }" ;;
  wait|ignore-term) exec sleep 1000 ;;
  esac ;;
kill) [ "$1" = --all ] && shift; read -r p <"$ST/$1/pid" && kill -s "$2" "$p" ;;
delete) rm -rf "$ST/$2" ;;
esac
`;

const work = mkdtempSync(path.join(tmpdir(), 'rocket-sup-'));
const fake = path.join(work, 'fake-runtime');
writeFileSync(fake, FAKE_RUNTIME);
chmodSync(fake, 0o755);
const children = new Set<ChildProcess>();
let seq = 0;

after(() => {
  for (const c of children) if (c.pid !== undefined) process.kill(-c.pid, 'SIGKILL');
  rmSync(work, { recursive: true, force: true });
});

interface Pod {
  P: string;
  R: string;
  S: string;
  child: ChildProcess;
  out: () => string;
  done: Promise<number>;
}

interface FakeApp {
  name: string;
  behaviour: string;
}

/** Writes app `a`'s bundle (its behaviour) and settings into the pod dir `dir`, run dir R. */
function writeApp(dir: string, R: string, a: FakeApp): void {
  const bundle = path.join(dir, 'apps', a.name);
  mkdirSync(bundle, { recursive: true });
  writeFileSync(path.join(bundle, 'behaviour'), a.behaviour + '\n');
  writeFileSync(path.join(bundle, 'app'), a.name + '\n');
  writeFileSync(path.join(bundle, 'pod'), R + '\n');
  mkdirSync(path.join(dir, 'stage1', 'sup', 'app'), { recursive: true });
  writeFileSync(
    path.join(dir, 'stage1', 'sup', 'app', `${a.name}.env`),
    appEnv(
      { name: a.name, id: `c-${a.name}`, bundle: path.join(R, 'apps', a.name), pre: [], post: [] },
      { notify: false, listen: { args: '', redirects: '' } },
    ),
  );
}

/** Prepares a pod with `apps` and starts the supervisor on it (in its own process group). */
function startPod(apps: FakeApp[], mutable: boolean, env: NodeJS.ProcessEnv = {}, busybox?: string): Pod {
  const id = `u${++seq}`;
  const P = path.join(work, 'prepared', id);
  const R = path.join(work, 'run', id);
  mkdirSync(path.join(work, 'run'), { recursive: true });
  mkdirSync(path.join(P, 'stage1', 'rootfs', 'rkt', 'status'), { recursive: true });
  mkdirSync(path.join(P, 'stage1', 'sup', 'app'), { recursive: true });
  for (const a of apps) writeApp(P, R, a);
  const pod: SupervisorPod = {
    R,
    rt: {
      name: 'crun',
      path: fake,
      stateRoot: path.join(work, 'state'),
      hybridWrapper: false,
      prefix: [fake],
      describe: () => 'fake',
    },
    apps: apps.map((a) => ({
      name: a.name,
      id: `c-${a.name}`,
      bundle: path.join(R, 'apps', a.name),
      pre: [],
      post: [],
    })),
    ns: { ipc: path.join(R, 'ns-ipc'), uts: path.join(R, 'ns-uts') },
    hostname: 'h',
    cgroupParent: `rocket-test-none-${id}`,
    io: { relayApps: [], listenCount: 0, notify: () => false, listen: () => ({ args: '', redirects: '' }) },
    mutable,
    ...(busybox !== undefined ? { busybox } : {}),
  };
  // No namespaces here (they need root).
  writeFileSync(path.join(P, 'stage1', 'sup', 'pod.env'), podEnv(pod) + "NS_CREATE='' NS_FILES=''\n");
  const plan = path.join(work, `rkt-plan.${id}`);
  writeFileSync(plan, supervisorPlan(P, R));
  const child = spawn('/bin/sh', [plan], {
    detached: true,
    stdio: ['ignore', 'pipe', 'pipe'],
    env: { ...process.env, ...env },
  });
  children.add(child);
  let out = '';
  child.stdout?.setEncoding('utf8').on('data', (d: string) => (out += d));
  child.stderr?.setEncoding('utf8').on('data', (d: string) => (out += d));
  const done = new Promise<number>((resolve) =>
    child.on('close', (code, signal) => {
      children.delete(child);
      resolve(code ?? (signal !== null ? 128 : 1));
    }),
  );
  return { P, R, S: path.join(R, 'stage1', 'rootfs', 'rkt', 'status'), child, out: () => out, done };
}

/** Live processes of process group `pgid` (zombies have ended). */
function groupMembers(pgid: number): string[] {
  const out: string[] = [];
  for (const e of readdirSync('/proc')) {
    if (!/^\d+$/.test(e)) continue;
    try {
      const stat = readFileSync(`/proc/${e}/stat`, 'utf8');
      const f = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
      if (Number(f[2]) === pgid && f[0] !== 'Z' && f[0] !== 'X') out.push(e);
    } catch {
      // gone
    }
  }
  return out;
}

const running = (pod: Pod): Promise<void> =>
  waitFor('the supervisor', () => existsSync(path.join(pod.R, 'stage1', 'ctl')));
const started = (pod: Pod, app: string): Promise<void> =>
  waitFor(`app ${app} to start`, () => existsSync(path.join(pod.S, `${app}-started`)));
/** rkt's readiness marker: a symlink to `ready` (which does not exist); returns its path. */
const ready = async (pod: Pod): Promise<string> => {
  const marker = path.join(pod.R, 'stage1', 'rootfs', 'rkt', 'supervisor-status');
  await waitFor('readiness', () => {
    try {
      return readlinkSync(marker) === 'ready';
    } catch {
      return false;
    }
  });
  return marker;
};
const code = (pod: Pod, app: string): string | undefined => {
  try {
    return readFileSync(path.join(pod.S, app), 'utf8').trim();
  } catch {
    return undefined;
  }
};

/**
 * A pod of `rkt run` gives its exit status before its teardown, which a background subshell does
 * holding the pod lock, the pod marked `local` (no CNI): its end is the lock's release.
 */
async function tornDown(R: string): Promise<void> {
  assert.equal(readFileSync(path.join(R, 'stage1', 'tearing-down'), 'utf8'), 'local\n');
  await waitFor('the teardown to end', () => !isLockedExclusively(R));
}

describe('pod supervisor (fake runtime)', () => {
  it('rkt run: the first failure stops the others; the pod ends with its code; nothing is left', async () => {
    const pod = startPod(
      [
        { name: 'a', behaviour: 'wait' },
        { name: 'b', behaviour: 'exit 3' },
      ],
      false,
    );
    assert.equal(await pod.done, 3, pod.out());
    assert.equal(code(pod, 'b'), '3');
    assert.equal(code(pod, 'a'), '143', 'a got the TERM');
    assert.ok(!existsSync(pod.P) && existsSync(path.join(pod.R, 'pid')));
    await tornDown(pod.R);
    assert.deepEqual(
      readdirSync(path.join(work, 'state')).filter((c) => c.startsWith('c-')),
      [],
    );
    assert.deepEqual(groupMembers(pod.child.pid as number), []);
  });

  it("an app's exit-code file made but not written yet is not its end (it would end the pod with 0)", async () => {
    const pod = startPod([{ name: 'a', behaviour: 'wait' }], false, { RKT_STOP_TIMEOUT: '600' });
    await started(pod, 'a');
    // What the app's subshell's `echo "$rc" >"$S/a"` leaves for a moment: the file, empty. A wake-up
    // then (the FIFO is read in order: the start after it is read only if the supervisor is still
    // there) must not take it for an end.
    writeFileSync(path.join(pod.S, 'a'), '');
    writeApp(pod.R, pod.R, { name: 'b', behaviour: 'wait' });
    assert.ok(sendCommand(pod.R, 'wake'));
    assert.ok(sendCommand(pod.R, 'start b'));
    await started(pod, 'b');
    // (a is still running here, unlike an app whose subshell writes the file: gone again, it is
    // stopped as a running app.)
    rmSync(path.join(pod.S, 'a'));
    assert.ok(sendCommand(pod.R, 'stop 1'));
    assert.equal(await pod.done, 0, pod.out());
    assert.equal(code(pod, 'a'), '143');
    assert.equal(code(pod, 'b'), '143');
    await tornDown(pod.R);
    assert.deepEqual(groupMembers(pod.child.pid as number), []);
  });

  it('stop over the FIFO: TERM, then KILL after the timeout of this stop', async () => {
    const pod = startPod([{ name: 'stubborn', behaviour: 'ignore-term' }], false, {
      RKT_STOP_TIMEOUT: '600',
    });
    await started(pod, 'stubborn');
    assert.equal(supervisorPid(pod.R), pod.child.pid);
    assert.ok(sendCommand(pod.R, 'stop 1'));
    assert.equal(await pod.done, 137, pod.out());
    assert.equal(code(pod, 'stubborn'), '137');
    assert.equal(supervisorPid(pod.R), undefined);
    assert.equal(sendCommand(pod.R, 'stop'), false, 'nobody reads the FIFO any more');
    await tornDown(pod.R);
    assert.deepEqual(groupMembers(pod.child.pid as number), []);
  });

  it('a sandbox lives with no app, runs apps added later independently, and ends on stop', async () => {
    const pod = startPod([], true, { RKT_STOP_TIMEOUT: '600' });
    await running(pod);
    await ready(pod);
    writeApp(pod.R, pod.R, { name: 'x', behaviour: 'exit 5' });
    writeApp(pod.R, pod.R, { name: 'y', behaviour: 'ignore-term' });
    assert.ok(sendCommand(pod.R, 'start x'));
    assert.ok(sendCommand(pod.R, 'start y'));
    await waitFor('x to end', () => code(pod, 'x') === '5');
    await started(pod, 'y');
    // x failed: y keeps running, and so does the pod.
    assert.equal(code(pod, 'y'), undefined);
    assert.equal(supervisorPid(pod.R), pod.child.pid);
    // y ignores TERM: its own stop timeout KILLs it.
    assert.ok(sendCommand(pod.R, 'stop-app y 1'));
    await waitFor('y to end', () => code(pod, 'y') === '137');
    assert.ok(sendCommand(pod.R, 'rm x'));
    writeApp(pod.R, pod.R, { name: 'z', behaviour: 'wait' });
    assert.ok(sendCommand(pod.R, 'start z'));
    await started(pod, 'z');
    assert.ok(sendCommand(pod.R, 'stop'));
    assert.equal(await pod.done, 0, pod.out());
    assert.equal(code(pod, 'z'), '143');
    assert.deepEqual(groupMembers(pod.child.pid as number), []);
  });

  it("writes an added app's end to its wake FIFO (what `rkt app start` waits on)", async () => {
    const pod = startPod([], true, { RKT_STOP_TIMEOUT: '600' });
    await running(pod);
    writeApp(pod.R, pod.R, { name: 'w', behaviour: 'exit 4' });
    const wake = path.join(pod.R, 'stage1', 'sup', 'app', 'w.wait');
    assert.equal(spawnSync('mkfifo', [wake]).status, 0);
    // Held read-write and non-blocking, as the launcher holds it (there with blocking reads).
    const fd = openSync(wake, constants.O_RDWR | constants.O_NONBLOCK);
    try {
      assert.ok(sendCommand(pod.R, 'start w'));
      const buf = Buffer.alloc(64);
      let got = '';
      await waitFor('a line on the wake FIFO', () => {
        try {
          got += buf.toString('utf8', 0, readSync(fd, buf));
        } catch (err) {
          if ((err as NodeJS.ErrnoException).code !== 'EAGAIN') throw err;
        }
        return got.endsWith('\n');
      });
      assert.equal(got, 'exited\n');
      assert.equal(code(pod, 'w'), '4', 'the exit code is there before the line');
    } finally {
      closeSync(fd);
    }
    assert.ok(sendCommand(pod.R, 'stop'));
    assert.equal(await pod.done, 0, pod.out());
  });

  it('with a busybox (BB), its mv renames the pod and its ln marks it ready', async () => {
    // A stand-in busybox: records its applet and arguments, then runs the host's program.
    const log = path.join(work, 'bb.log');
    const bb = path.join(work, 'busybox');
    writeFileSync(bb, `#!/bin/sh\necho "$*" >>${log}\na=$1; shift; exec "$a" "$@"\n`, { mode: 0o755 });
    const pod = startPod([{ name: 'a', behaviour: 'wait' }], false, {}, bb);
    await started(pod, 'a');
    const marker = await ready(pod);
    assert.ok(sendCommand(pod.R, 'stop 1'));
    assert.equal(await pod.done, 0, pod.out());
    await tornDown(pod.R);
    assert.deepEqual(readFileSync(log, 'utf8').split('\n').slice(0, -1), [
      `mv ${pod.P} ${pod.R}`,
      `ln -sfn ready ${marker}`,
    ]);
  });

  it('refuses a second start of a pod (the lock and the rename)', async () => {
    const pod = startPod([{ name: 'a', behaviour: 'wait' }], false);
    await started(pod, 'a');
    const again = spawn('/bin/sh', ['-c', supervisorPlan(pod.P, pod.R).replace('rm -f "$0"\n', '')], {
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let err = '';
    again.stderr.setEncoding('utf8').on('data', (d: string) => (err += d));
    const rc = await new Promise<number | null>((resolve) => again.on('close', resolve));
    assert.equal(rc, 254);
    assert.match(err, /is not prepared \(already running\?\)/);
    process.kill(pod.child.pid as number, 'SIGTERM');
    assert.equal(await pod.done, 0, pod.out());
  });
});

describe('pod settings: the namespaces and the hostname', () => {
  const pod = (mutable: boolean): SupervisorPod => ({
    R: '/pods/run/u',
    rt: {
      name: 'crun',
      path: '/bin/crun',
      hybridWrapper: false,
      prefix: ['/bin/crun'],
      describe: () => 'crun',
    },
    apps: [],
    ns: { network: '/pods/run/u/ns-net', ipc: '/pods/run/u/ns-ipc', uts: '/pods/run/u/ns-uts' },
    hostname: 'rkt-host',
    cgroupParent: 'rkt-u',
    io: { relayApps: [], listenCount: 0, notify: () => false, listen: () => ({ args: '', redirects: '' }) },
    mutable,
  });
  const nsCreate = (env: string): string => {
    const line = env.split('\n').find((l) => l.startsWith('NS_CREATE=')) ?? '';
    const r = spawnSync('sh', ['-c', `${line}; printf %s "$NS_CREATE"`], { encoding: 'utf8' });
    return r.stdout;
  };

  it('a pod of rkt run: unshare execs ip itself, the hostname is left to the runtime', () => {
    const cmd = nsCreate(podEnv(pod(false)));
    assert.match(cmd, / --uts=\/pods\/run\/u\/ns-uts ip link set lo up$/);
    assert.doesNotMatch(cmd, /rkt-host|hostname| sh /);
  });

  it('a sandbox: the hostname is set in the new UTS namespace (it may have no app yet)', () => {
    const cmd = nsCreate(podEnv(pod(true)));
    assert.match(cmd, /\/proc\/sys\/kernel\/hostname/);
    assert.match(cmd, / rkt-host$/);
  });
});
