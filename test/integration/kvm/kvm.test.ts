/**
 * The kvm engine end to end as root, through bin/rkt: each pod boots its own VM (QEMU, the guest
 * kernel of findKernel, TCG where /dev/kvm cannot boot it). Small on purpose: every boot under TCG
 * takes seconds. A four-app pod runs on the guest's kernel, shares an empty volume, runs the image's
 * event handlers and a read-only rootfs, and returns an app's exit code to `rkt run` and `rkt
 * status`, its output to `rkt logs`; `rkt stop` powers a running VM off; gc leaves no QEMU process
 * and no mount.
 */
import assert from 'node:assert/strict';
import { existsSync, readFileSync } from 'node:fs';
import { release } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { findKernel } from '../../../src/stage1/kvm/initramfs.js';
import { which } from '../../../src/stage1/oci/runtime.js';
import { spawn } from 'node:child_process';
import { Rkt, buildAci, rktBin, waitFor } from '../fly/fixture.js';
import { killVms, kvmSkip, qemuAlive, sh } from './fixture.js';
import { skipUnlessCI } from '../../helpers.js';

const skip = kvmSkip();
const KVM = '--stage1-name=coreos.com/rkt/stage1-kvm:1.30.0';

describe('rkt run with the kvm engine', { skip: skipUnlessCI(skip, 'kvm engine integration tests') }, () => {
  let rkt: Rkt;
  let image: string;

  before(() => {
    rkt = new Rkt('rocket-kvm-');
    image = buildAci(rkt.work, 'vm', { exec: ['/bin/sh', '-c', 'exit 0'] });
  });

  after(() => {
    killVms(rkt.data);
    rkt.cleanup();
  });

  it('runs an image as the oci, fly and nspawn engines do: its user, groups, working directory and environment', async () => {
    const alice = buildAci(rkt.work, 'alice', {
      user: 'alice',
      group: 'staff',
      supplementaryGIDs: [27, 4321],
      workingDirectory: '/home/alice',
      environment: [{ name: 'GREETING', value: 'hello vm' }],
      exec: ['/bin/sh', '-c', 'id; pwd; echo "$GREETING/$AC_APP_NAME"; cat /etc/motd; exit 0'],
    });
    const outputs: string[] = [];
    const engines = [['--engine=oci', '--net=none'], ['--engine=fly'], [KVM, '--net=none']];
    if (which('systemd-nspawn') !== undefined) engines.push(['--engine=nspawn', '--net=none']);
    const recorded: string[] = [];
    for (const engine of engines) {
      const r = await rkt.runPod([...engine, alice]);
      assert.equal(r.code, 0, `${engine[0]}: ${r.stderr}`);
      outputs.push(r.stdout);
      // `rkt status` ends with the engine that ran the pod (and oci's runtime, kvm's accelerator).
      const s = await rkt.status(r.uuid);
      recorded.push([s['engine'], s['runtime'] ?? s['accelerator'] ?? ''].join(' ').trim());
    }
    assert.match(recorded[0] ?? '', /^oci (crun|runc)$/);
    assert.equal(recorded[1], 'fly');
    assert.match(recorded[2] ?? '', /^kvm (kvm|tcg)$/);
    if (recorded.length > 3) assert.equal(recorded[3], 'nspawn');
    assert.match(
      outputs[0] ?? '',
      /^uid=1234\(alice\) gid=4321\(staff\) groups=27,4321\(staff\)\n\/home\/alice\n/,
    );
    for (const [i, out] of outputs.entries()) assert.equal(out, outputs[0], engines[i]?.[0]);
  });

  it("runs four apps on the guest's kernel, sharing an empty volume, in their cgroups, with event handlers and a read-only rootfs; an app's code comes back", async () => {
    const mount = ['--mount', 'volume=data,target=/data'];
    // Event handlers in the app's context: pre-start before the app, post-stop after it, leaving
    // marks in the shared volume; a failing pre-start fails its app, which does not run.
    const hooks = buildAci(rkt.work, 'hooks', {
      exec: ['/bin/sh', '-c', 'exit 0'],
      eventHandlers: [
        {
          name: 'pre-start',
          exec: ['/bin/sh', '-c', 'echo "pre-$AC_APP_NAME-$(id -u)"; echo pre >/data/pre'],
        },
        { name: 'post-stop', exec: ['/bin/sh', '-c', 'echo "post-$AC_APP_NAME"; echo post >/data/post'] },
      ],
    });
    const failing = buildAci(rkt.work, 'failing', {
      exec: ['/bin/sh', '-c', 'echo must-not-run'],
      eventHandlers: [
        // Fails once the reader is done (so its failure, which stops the pod, comes last).
        {
          name: 'pre-start',
          exec: ['/bin/sh', '-c', 'while [ ! -e /data/done ]; do sleep 0.1; done; exit 3'],
        },
        { name: 'post-stop', exec: ['/bin/sh', '-c', 'echo post-after-failed'] },
      ],
    });
    const r = await rkt.runPod([
      KVM,
      '--net=none',
      '--volume=data,kind=empty',
      '--hosts-entry=10.1.2.3=example.test',
      image,
      '--name=writer',
      '--memory=512M',
      '--cpu=250m',
      ...mount,
      ...sh(
        'echo "kernel-$(uname -r)"; echo "host-$(cat /proc/sys/kernel/hostname)"; grep MemTotal /proc/meminfo; ' +
          'grep -E "example|127.0.1.1" /etc/hosts; ' +
          'cg=$(sed -n "s/^0:://p" /proc/self/cgroup); echo "cgroup-$cg"; ' +
          'echo "memory.max-$(cat /sys/fs/cgroup$cg/memory.max)"; echo "cpu.max-$(cat /sys/fs/cgroup$cg/cpu.max)"; ' +
          'echo shared-hello >/data/f',
      ),
      '---',
      image,
      '--name=reader',
      '--memory=16M',
      ...mount,
      ...sh(
        // dd's 64 MB buffer is beyond the app's 16 MB, not the VM's: the cgroup's OOM kills it.
        'dd if=/dev/zero of=/dev/null bs=64M count=1 2>/dev/null; echo "dd-$?"; ' +
          'while [ ! -s /data/f ] || [ ! -s /data/post ]; do sleep 0.1; done; ' +
          'echo "read-$(cat /data/f)"; echo "marks-$(cat /data/pre)-$(cat /data/post)"; : >/data/done',
      ),
      '---',
      hooks,
      '--name=plain',
      '--readonly-rootfs=true',
      ...mount,
      ...sh(
        'echo "plain-cgroup-$(cat /proc/self/cgroup)"; echo "plain-saw-$(cat /data/pre)"; ' +
          'if touch /ro-test 2>/dev/null; then echo ro-root-writable; else echo ro-root-refused; fi; ' +
          'echo v >/data/ro && echo ro-volume-ok; touch /tmp/t && echo ro-tmp-ok',
      ),
      '---',
      failing,
      '--name=failing',
      ...mount,
    ]);
    assert.equal(r.code, 3, r.stderr);
    const guest = findKernel().version;
    assert.notEqual(guest, release());
    assert.match(r.stdout, new RegExp(`^kernel-${guest.replace(/\./g, '\\.')}$`, 'm'));
    assert.match(r.stdout, /^read-shared-hello$/m);
    assert.match(r.stdout, new RegExp(`^host-rkt-${r.uuid}$`, 'm'));
    // The pod's hosts file, bound over the image's.
    assert.match(r.stdout, new RegExp(`^127\\.0\\.1\\.1\\trkt-${r.uuid}$`, 'm'));
    assert.match(r.stdout, /^10\.1\.2\.3\texample\.test$/m);
    // The apps' memory limits (512 MB and 16 MB) are added to the VM's 128 MB (the kernel keeps some).
    const memTotal = Number(/^MemTotal:\s+(\d+) kB$/m.exec(r.stdout)?.[1]);
    assert.ok(memTotal > 500_000 && memTotal <= 656 * 1024, r.stdout);
    // Inside, the limits are the app's own cgroup (seen read-only at its /sys/fs/cgroup); an app
    // without limits stays in the root cgroup.
    assert.match(r.stdout, /^cgroup-\/writer$/m);
    // --memory=512M is 512 * 10^6 bytes.
    assert.match(r.stdout, /^memory\.max-512000000$/m);
    assert.match(r.stdout, /^cpu\.max-25000 100000$/m);
    assert.match(r.stdout, /^dd-137$/m);
    assert.match(r.stdout, /^plain-cgroup-0::\/$/m);
    // --readonly-rootfs: / refuses writes; the volume and /tmp take them.
    assert.match(r.stdout, /^ro-root-refused$/m);
    assert.match(r.stdout, /^ro-volume-ok$/m);
    assert.match(r.stdout, /^ro-tmp-ok$/m);
    // The handlers ran in the app's context (its name, its user), before and after it.
    assert.match(r.stdout, /^pre-plain-0$/m);
    assert.match(r.stdout, /^plain-saw-pre$/m);
    assert.match(r.stdout, /^post-plain$/m);
    assert.match(r.stdout, /^marks-pre-post$/m);
    // A failing pre-start: the app's code, the app never ran, its post-stop did.
    assert.doesNotMatch(r.stdout, /must-not-run/);
    assert.match(r.stdout, /^post-after-failed$/m);
    const s = await rkt.status(r.uuid);
    assert.equal(s['state'], 'exited');
    assert.equal(s['app-writer'], '0');
    assert.equal(s['app-reader'], '0');
    assert.equal(s['app-plain'], '0');
    assert.equal(s['app-failing'], '3');
    // The accelerator is recorded: the probe's result for this kernel.
    const state = JSON.parse(
      readFileSync(join(rkt.data, 'pods', 'run', r.uuid, 'stage1', 'engine.json'), 'utf8'),
    ) as { engine: string; accel: string };
    assert.equal(state.engine, 'kvm');
    assert.equal(state.accel, readFileSync(join(rkt.data, 'kvm', `accel-${guest}`), 'utf8').trim());
    assert.deepEqual(rkt.hostMounts(), []);
    // The guest's loggers wrote each app's output to the pod's log.
    const logs = await rkt.run('logs', r.uuid);
    assert.equal(logs.code, 0, logs.stderr);
    assert.match(logs.stdout, /^reader: read-shared-hello$/m);
    assert.match(logs.stdout, /^plain: pre-plain-0$/m);
    assert.match(logs.stdout, new RegExp(`^writer: kernel-${guest.replace(/\./g, '\\.')}$`, 'm'));
  });

  it('rkt status --wait-ready waits for the app in the VM; enter from a terminal; rkt stop powers it off; gc leaves no QEMU process and no mount', async () => {
    const { pod, uuid } = await rkt.startPod([
      KVM,
      '--net=none',
      image,
      ...sh('trap "echo got-term; exit 0" TERM; echo vm-ready; while :; do sleep 0.1; done'),
    ]);
    // An enter as soon as QEMU listens, while the guest boots: it waits for the guest.
    const sock = join(rkt.data, 'pods', 'run', uuid, 'stage1', 'kvm', 'enter-0.sock');
    await waitFor('QEMU to listen for enter', () => existsSync(sock), 60_000);
    const early = await rkt.run('enter', uuid, '/bin/sh', '-c', 'echo early-enter');
    assert.deepEqual([early.code, early.stdout], [0, 'early-enter\n'], early.stderr);
    // --wait-ready: the guest marks the pod ready once its app has started.
    const ready = await rkt.run('status', '--wait-ready=180s', uuid);
    assert.equal(ready.code, 0, ready.stderr);
    assert.match(ready.stdout, /^state=running$/m);
    assert.equal(
      readFileSync(
        join(rkt.data, 'pods', 'run', uuid, 'stage1', 'rootfs', 'rkt', 'supervisor-status'),
        'utf8',
      ),
      'ready\n',
    );
    // rkt enter from a terminal (the host's util-linux script gives it one of 30x100): the command
    // runs on a pseudo-terminal of that size in the guest; its code comes back.
    const t = await new Promise<{ code: number | null; out: string }>((resolve, reject) => {
      const c = spawn(
        'script',
        [
          '-q',
          '-e',
          '-c',
          `stty rows 30 cols 100; ${rktBin} --dir=${rkt.data} enter ${uuid} /bin/sh -c '[ -t 0 ] && [ -t 1 ] && echo in-a-tty; stty size; exit 3'`,
          '/dev/null',
        ],
        { stdio: ['pipe', 'pipe', 'inherit'] },
      );
      let out = '';
      c.stdout.setEncoding('utf8').on('data', (d: string) => (out += d));
      c.on('error', reject);
      // Its stdin stays open until it ends (an end of input would be a ^D on the terminal).
      c.on('close', (code) => resolve({ code, out }));
    });
    assert.equal(t.code, 3, t.out);
    assert.match(t.out, /in-a-tty\r?\n30 100\r?\n/);
    await waitFor('the app in the VM', () => pod.stdout().includes('vm-ready'), 180_000);
    const qemu = Number(
      readFileSync(join(rkt.data, 'pods', 'run', uuid, 'stage1', 'kvm', 'qemu.pid'), 'utf8'),
    );
    assert.ok(qemuAlive(qemu, uuid));
    assert.equal((await rkt.status(uuid))['state'], 'running');
    const stop = await rkt.run('stop', uuid);
    assert.equal(stop.code, 0, stop.stderr);
    const r = await pod.done;
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stdout, /^got-term$/m);
    assert.equal(qemuAlive(qemu, uuid), false);
    const gc = await rkt.run('gc', '--grace-period=0s');
    assert.equal(gc.code, 0, gc.stderr);
    assert.equal((await rkt.run('status', uuid)).code, 254);
    assert.deepEqual(rkt.hostMounts(), []);
  });

  it('keeps a VM whose plan was SIGKILLed running (QEMU holds the lock); rkt stop reaches its console', async () => {
    const { pod, uuid } = await rkt.startPod([
      KVM,
      '--net=none',
      image,
      ...sh('trap "echo got-term; exit 0" TERM; echo vm-ready; while :; do sleep 0.1; done'),
    ]);
    await waitFor('the app in the VM', () => pod.stdout().includes('vm-ready'), 180_000);
    const dir = join(rkt.data, 'pods', 'run', uuid);
    const qemu = Number(readFileSync(join(dir, 'stage1', 'kvm', 'qemu.pid'), 'utf8'));
    process.kill(Number(readFileSync(join(dir, 'pid'), 'utf8')), 'SIGKILL');
    await pod.exited;
    assert.ok(qemuAlive(qemu, uuid));
    assert.equal((await rkt.status(uuid))['state'], 'running');
    const stop = await rkt.run('stop', uuid);
    assert.equal(stop.code, 0, stop.stderr);
    // QEMU holds rkt run's stdout: it closes when QEMU ends.
    const r = await pod.done;
    assert.match(r.stdout, /^got-term$/m);
    await waitFor('QEMU to be reaped', () => !qemuAlive(qemu, uuid));
    const s = await rkt.status(uuid);
    assert.equal(s['state'], 'exited');
    assert.equal(s['app-vm'], '0');
    const gc = await rkt.run('gc', '--grace-period=0s');
    assert.equal(gc.code, 0, gc.stderr);
    assert.deepEqual(rkt.hostMounts(), []);
  });
});
