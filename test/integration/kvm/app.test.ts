/**
 * `rkt app` on the kvm engine, as root through bin/rkt: one test, each boot under TCG takes
 * seconds. A sandbox boots its VM with no app; two apps are added (their rootfs mounted in QEMU's
 * mount namespace under the 9p share while the VM runs) and started by console lines to the guest's
 * init, sharing an empty volume, on the guest's kernel; the second (it ignores SIGTERM) is stopped
 * and removed while the first runs on (`rkt app exec` reaches an added app in the guest); `rkt
 * attach` talks to a third, added with stream endpoints (its image's event handlers run); the pod
 * stops, and gc leaves no QEMU process and no mount.
 */
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { release } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { findKernel } from '../../../src/stage1/kvm/initramfs.js';
import { Rkt, buildAci, rktBin, waitFor } from '../fly/fixture.js';
import { killVms, kvmSkip, qemuAlive, sh } from './fixture.js';
import { skipUnlessCI } from '../../helpers.js';
import { appState } from '../../../src/pod-layout.js';

const skip = kvmSkip();

describe('rkt app with the kvm engine', { skip: skipUnlessCI(skip, 'kvm engine integration tests') }, () => {
  let rkt: Rkt;
  let image: string;

  before(() => {
    rkt = new Rkt('rocket-kvm-app-');
    image = buildAci(rkt.work, 'vm', { exec: ['/bin/sh', '-c', 'exit 0'] });
  });

  after(() => {
    killVms(rkt.data);
    rkt.cleanup();
  });

  it('adds and starts two apps in a running VM, stops and removes one; rkt stop and gc leave nothing', async () => {
    const env = { RKT_STOP_TIMEOUT: '1' };
    const ok = async (...args: string[]): Promise<string> => {
      const r = await rkt.start(['--insecure-options=image', ...args], env).done;
      assert.equal(r.code, 0, `rkt ${args.join(' ')}: ${r.stderr}`);
      return r.stdout;
    };
    const uuidFile = join(rkt.work, 'uuid');
    const pod = rkt.start(
      [
        'app',
        'sandbox',
        '--engine=kvm',
        '--net=none',
        '--volume=data,kind=empty',
        `--uuid-file-save=${uuidFile}`,
      ],
      env,
    );
    await waitFor('the uuid file', () => existsSync(uuidFile) && readFileSync(uuidFile, 'utf8') !== '');
    const uuid = readFileSync(uuidFile, 'utf8').trim();
    rkt.remember(uuid);
    const R = join(rkt.data, 'pods', 'run', uuid);
    await waitFor('QEMU', () => existsSync(join(R, 'stage1', 'kvm', 'qemu.pid')));
    const qemu = Number(readFileSync(join(R, 'stage1', 'kvm', 'qemu.pid'), 'utf8'));
    assert.equal(await ok('app', 'list', '--no-legend', uuid), '');

    const mount = ['--mount', 'volume=data,target=/data'];
    await ok(
      'app',
      'add',
      uuid,
      image,
      '--name=first',
      ...mount,
      ...sh(
        'trap "exit 0" TERM; echo "kernel-$(uname -r)"; echo from-first >/data/f.tmp; mv /data/f.tmp /data/f; while :; do sleep 0.1; done',
      ),
    );
    await ok('app', 'start', uuid, '--app=first');
    await ok(
      'app',
      'add',
      uuid,
      image,
      '--name=second',
      ...mount,
      ...sh(
        'trap "" TERM; while [ ! -e /data/f ]; do sleep 0.1; done; echo "second-read-$(cat /data/f)"; while :; do sleep 0.1; done',
      ),
    );
    assert.equal(await ok('app', 'list', '--no-legend', uuid), 'first\trunning\nsecond\tcreated\n');
    await ok('app', 'start', uuid, '--app=second');
    assert.equal(await ok('app', 'list', '--no-legend', uuid), 'first\trunning\nsecond\trunning\n');
    const log = (app: string): string => {
      try {
        return readFileSync(join(R, 'logs', app, 'stdout.log'), 'utf8');
      } catch {
        return '';
      }
    };
    await waitFor('the second app', () => log('second').includes('second-read-from-first'), 60_000);
    // rkt app exec: a command in an added app's context (its environment, its volume) in the guest.
    const exec = await rkt.start(
      ['app', 'exec', '--app=second', uuid, '/bin/sh', '-c', 'echo "$AC_APP_NAME:$(cat /data/f)"; exit 4'],
      env,
    ).done;
    assert.deepEqual([exec.code, exec.stdout], [4, 'second:from-first\n'], exec.stderr);
    const guest = findKernel().version;
    assert.notEqual(guest, release());
    assert.match(await ok('logs', '--app=first', uuid), new RegExp(`kernel-${guest.replace(/\./g, '\\.')}`));

    // The second ignores SIGTERM: KILLed after the stop timeout; the first runs on.
    await ok('app', 'stop', uuid, '--app=second');
    const st = JSON.parse(await ok('app', 'status', uuid, '--app=second', '--format=json')) as {
      state: string;
      exit_code: number;
    };
    assert.equal(st.state, 'exited');
    assert.equal(st.exit_code, 137);
    assert.equal(await ok('app', 'list', '--no-legend', uuid), 'first\trunning\nsecond\texited\n');

    await ok('app', 'rm', uuid, '--app=second');
    assert.equal(await ok('app', 'list', '--no-legend', uuid), 'first\trunning\n');
    const manifest = JSON.parse(await ok('cat-manifest', uuid)) as { apps: { name: string }[] };
    assert.deepEqual(
      manifest.apps.map((a) => a.name),
      ['first'],
    );
    for (const f of [
      join(R, 'apps', 'second'),
      join(R, 'overlay', 'second'),
      join(R, 'stage1', 'kvm', 'conf', 'app', 'second.env'),
    ])
      assert.ok(!existsSync(f), `${f} left`);

    // rkt attach: the app's endpoints are FIFOs in the guest, reached through an enter channel; the
    // attach ends when the app's output does (the app ended).
    /** `rkt attach ARGS` with `input` on its stdin (a pipe), to its end. */
    const attach = (args: string[], input: string) =>
      new Promise<{ code: number | null; stdout: string; stderr: string }>((resolve, reject) => {
        const c = spawn(rktBin, [`--dir=${rkt.data}`, 'attach', ...args], {
          stdio: ['pipe', 'pipe', 'pipe'],
        });
        let stdout = '';
        let stderr = '';
        c.stdout.setEncoding('utf8').on('data', (d: string) => (stdout += d));
        c.stderr.setEncoding('utf8').on('data', (d: string) => (stderr += d));
        c.on('error', reject);
        c.on('close', (code) => resolve({ code, stdout, stderr }));
        c.stdin.end(input);
      });
    // A tty app: a 24x80 pty of its own in the guest, its input and output reached by attach.
    await ok(
      'app',
      'add',
      uuid,
      image,
      '--name=term',
      '--stdin=tty',
      '--stdout=tty',
      '--stderr=tty',
      ...sh('read -r l; echo "got-$l"; [ -t 0 ] && [ -t 2 ] && echo "tty-$(stty size)"; exit 0'),
    );
    await ok('app', 'start', uuid, '--app=term');
    assert.equal(await ok('attach', '--app=term', '--mode=list', uuid), 'tty-in\ntty-out\n');
    const term = await attach(['--app=term', uuid], 'hello\n');
    assert.equal(term.code, 0, term.stderr);
    // The pty echoes the line typed, then the app's answers (a terminal's CR LF).
    assert.match(term.stdout, /got-hello\r\ntty-24 80\r\n/);
    const termCode = join(R, 'stage1', 'rootfs', 'rkt', 'status', 'term');
    await waitFor('the term app to end', () => appState(R, 'term') === 'exited');
    assert.equal(readFileSync(termCode, 'utf8').trim(), '0');
    await ok('app', 'rm', uuid, '--app=term');
    assert.equal(await ok('app', 'list', '--no-legend', uuid), 'first\trunning\n');
    // A stream app (stdin and stdout; stderr in the log). Its image has event handlers: they run in the added app's context too, their output in its log.
    const hooks = buildAci(rkt.work, 'hooks', {
      exec: ['/bin/sh', '-c', 'exit 0'],
      eventHandlers: [
        { name: 'pre-start', exec: ['/bin/sh', '-c', 'echo "pre-$AC_APP_NAME"'] },
        { name: 'post-stop', exec: ['/bin/sh', '-c', 'echo "post-$AC_APP_NAME"'] },
      ],
    });
    await ok(
      'app',
      'add',
      uuid,
      hooks,
      '--name=talk',
      '--stdin=stream',
      '--stdout=stream',
      ...sh(
        'while read -r l; do echo "got-$l"; if [ "$l" = bye ]; then echo talk-done >&2; exit 0; fi; done',
      ),
    );
    await ok('app', 'start', uuid, '--app=talk');
    assert.equal(await ok('attach', '--app=talk', '--mode=list', uuid), 'stdin\nstdout\n');
    const attached = await attach(['--app=talk', uuid], 'hello\nbye\n');
    assert.deepEqual([attached.code, attached.stdout], [0, 'got-hello\ngot-bye\n'], attached.stderr);
    // stderr was not a stream: it went to the log.
    const talkCode = join(R, 'stage1', 'rootfs', 'rkt', 'status', 'talk');
    await waitFor('the talk app to end', () => appState(R, 'talk') === 'exited');
    assert.equal(readFileSync(talkCode, 'utf8').trim(), '0');
    const talk = await rkt.run('logs', '--app=talk', uuid);
    assert.match(talk.stdout + talk.stderr, /talk-done/);
    assert.match(talk.stdout, /^pre-talk$/m);
    assert.match(talk.stdout, /^post-talk$/m);
    await ok('app', 'rm', uuid, '--app=talk');
    assert.ok(qemuAlive(qemu, uuid));

    assert.equal(await ok('stop', uuid), `"${uuid}"\n`);
    const r = await pod.done;
    assert.equal(r.code, 0, r.stderr);
    assert.equal(qemuAlive(qemu, uuid), false);
    assert.equal((await rkt.status(uuid))['state'], 'exited');
    await ok('gc', '--grace-period=0s');
    assert.ok(!existsSync(R));
    assert.deepEqual(rkt.hostMounts(), []);
  });
});
