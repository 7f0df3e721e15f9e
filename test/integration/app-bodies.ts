/**
 * Test bodies shared by the engines' `rkt app` tests (run/app.test.ts for oci on crun and runc,
 * nspawn/app.test.ts): the same steps, given each file's sandbox and helpers.
 */
import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { waitFor, type Running, type RunResult } from '../helpers.js';
import { appState } from '../../src/pod-layout.js';

export interface AppWorld {
  rktBin: string;
  /** A temp dir of the test's. */
  work: string;
  data: string;
  env: NodeJS.ProcessEnv;
  children: Set<ChildProcess>;
  /** Two busybox images with sh. */
  first: string;
  second: string;
  rkt: (...args: string[]) => Promise<RunResult>;
  ok: (...args: string[]) => Promise<string>;
  appState: (uuid: string, app: string) => Promise<Record<string, unknown>>;
  /** A running sandbox of the engine under test (`--net=none`, stop timeout 1 s). */
  sandbox: () => Promise<{ pod: Running; uuid: string }>;
  /** After gc: no mount, pod dir, cgroup or process of the pod left. */
  nothingLeft: (uuid: string) => Promise<void>;
}

/**
 * A tty app and a stream app in a sandbox: what attach refuses, a line typed into the tty answered
 * and `exit 3` ending the attach, a line into the streams answered on stdout and stderr, an
 * input-only attach, the attach ending when its app is stopped; the pod stopped, gc leaving nothing.
 */
export async function attachTestBody(w: AppWorld): Promise<void> {
  const { ok, rkt } = w;
  const { pod, uuid } = await w.sandbox();
  const io = (mode: string): string[] => ['--stdin', '--stdout', '--stderr'].map((f) => `${f}=${mode}`);
  await ok('app', 'add', uuid, w.first, '--name=term', ...io('tty'), '--exec', '/bin/sh', '--', '-i');
  await ok(
    'app',
    'add',
    uuid,
    w.second,
    '--name=pipe',
    ...io('stream'),
    '--exec',
    '/bin/sh',
    '--',
    '-c',
    'while read l; do echo "out:$l"; echo "err:$l" >&2; done',
  );
  assert.equal(await ok('attach', uuid, '--app=term', '--mode=list'), 'tty-in\ntty-out\n');
  assert.equal(await ok('attach', uuid, '--app=pipe', '--mode=list'), 'stdin\nstdout\nstderr\n');
  const refused = async (why: RegExp, ...args: string[]): Promise<void> => {
    const r = await rkt('attach', uuid, ...args);
    assert.equal(r.code, 254, r.stderr);
    assert.match(r.stderr, why);
    assert.equal(r.stderr.trim().split('\n').length, 1, r.stderr);
  };
  await refused(/app "term" is not running/, '--app=term');
  await ok('app', 'start', uuid, '--app=term');
  await ok('app', 'start', uuid, '--app=pipe');
  await refused(/several apps to attach to \(term, pipe\)/);
  await refused(/has a tty/, '--app=term', '--mode=stdout');
  await refused(/has no tty-in endpoint/, '--app=pipe', '--mode=tty');
  await refused(/unknown mode "bogus"/, '--app=pipe', '--mode=bogus');

  /** `rkt attach` with its stdin a pipe the test writes to. */
  const attach = (...args: string[]) => {
    const child = spawn(w.rktBin, [`--dir=${w.data}`, 'attach', uuid, ...args], {
      stdio: ['pipe', 'pipe', 'pipe'],
      env: w.env,
    });
    w.children.add(child);
    let out = '';
    let err = '';
    child.stdout.setEncoding('utf8').on('data', (d: string) => (out += d));
    child.stderr.setEncoding('utf8').on('data', (d: string) => (err += d));
    const done = new Promise<number | null>((resolve) => child.on('close', (code) => resolve(code)));
    return { child, done, out: () => out, err: () => err };
  };

  // The tty: the shell answers a line typed in (its echo shows the quotes, the answer not), with
  // job control (the pty is its controlling terminal); `exit 3` ends the app and with it the attach,
  // which gets all the app wrote before: its last line (`the-last-2`, the echo shows `$((1+1))`)
  // after 2000 others written at once.
  const t = attach('--app=term');
  t.child.stdin.write('echo hel""lo\n');
  await waitFor('the answer', () => /^hello\r?$/m.test(t.out()) || t.child.exitCode !== null);
  assert.match(t.out(), /echo hel""lo/);
  assert.match(t.out(), /^hello\r?$/m, t.err());
  assert.doesNotMatch(t.out(), /job control turned off/);
  t.child.stdin.write(
    'i=0; while [ $i -lt 2000 ]; do echo "line $i"; i=$((i+1)); done; echo "the-last-$((1+1))"; exit 3\n',
  );
  assert.equal(await t.done, 0, t.err());
  assert.match(t.out(), /^line 1999\r?\nthe-last-2\r?$/m, t.out().slice(-200));
  await waitFor('term to exit', () => appState(join(w.data, 'pods', 'run', uuid), 'term') === 'exited');
  assert.equal((await w.appState(uuid, 'term'))['exit_code'], 3);

  // The streams (auto: all three): a line in, its two answers out, each on its own stream.
  const s = attach('--app=pipe');
  s.child.stdin.write('abc\n');
  await waitFor(
    'the answers',
    () => (s.out().includes('out:abc') && s.err().includes('err:abc')) || s.child.exitCode !== null,
  );
  assert.equal(s.out(), 'out:abc\n');
  assert.equal(s.err(), 'err:abc\n');
  // Input only: ends at the end of its stdin; what it wrote reaches the app.
  const i = attach('--app=pipe', '--mode=stdin');
  i.child.stdin.end('def\n');
  assert.equal(await i.done, 0, i.err());
  await waitFor('the second answer', () => s.out().includes('out:def') || s.child.exitCode !== null);
  assert.equal(s.out(), 'out:abc\nout:def\n');
  // The app stopped (KILL after the timeout: its shell waits in read): the attach ends.
  await ok('app', 'stop', uuid, '--app=pipe');
  assert.equal(await s.done, 0, s.err());

  assert.equal(await ok('stop', uuid), `"${uuid}"\n`);
  const res = await pod.done;
  assert.equal(res.code, 0, res.stderr);
  await ok('gc', '--grace-period=0s');
  await w.nothingLeft(uuid);
}

/**
 * An app added to a running sandbox with `--mnt-volume` host volumes (one read-only) reads a file
 * the test wrote on the host and writes one the host sees; the pod stopped, gc leaves nothing.
 */
export async function mntVolumeTestBody(w: AppWorld): Promise<void> {
  const { ok } = w;
  const vol = mkdtempSync(join(w.work, 'vol-'));
  writeFileSync(join(vol, 'from-host'), 'written on the host\n');
  const { pod, uuid } = await w.sandbox();
  await ok(
    'app',
    'add',
    uuid,
    w.first,
    '--name=late',
    `--mnt-volume=name=data,kind=host,source=${vol},target=/data`,
    `--mnt-volume=name=ro,kind=host,source=${vol},target=/ro,readOnly=true`,
    '--exec',
    '/bin/sh',
    '--',
    '-c',
    'cat /data/from-host >/data/seen; echo x >/ro/no 2>/dev/null || echo read-only >/data/ro; echo from the app >/data/from-app.tmp; mv /data/from-app.tmp /data/from-app; trap "exit 0" TERM; while :; do sleep 0.05; done',
  );
  await ok('app', 'start', uuid, '--app=late');
  await waitFor('the app to write', () => existsSync(join(vol, 'from-app')));
  assert.equal(readFileSync(join(vol, 'from-app'), 'utf8'), 'from the app\n');
  assert.equal(readFileSync(join(vol, 'seen'), 'utf8'), 'written on the host\n');
  assert.equal(readFileSync(join(vol, 'ro'), 'utf8'), 'read-only\n');
  assert.ok(!existsSync(join(vol, 'no')));
  assert.equal(await ok('stop', uuid), `"${uuid}"\n`);
  const res = await pod.done;
  assert.equal(res.code, 0, res.stderr);
  await ok('gc', '--grace-period=0s');
  await w.nothingLeft(uuid);
  assert.equal(readFileSync(join(vol, 'from-host'), 'utf8'), 'written on the host\n');
}
