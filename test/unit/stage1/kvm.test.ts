/**
 * The kvm engine's pure parts: choosing it, the initramfs's cpio writer and module order, and the
 * QEMU command line. The VM itself is exercised by test/integration/kvm.
 */
import assert from 'node:assert/strict';
import { spawn, spawnSync } from 'node:child_process';
import {
  closeSync,
  constants,
  existsSync,
  mkdirSync,
  mkdtempSync,
  openSync,
  readSync,
  rmSync,
  writeFileSync,
} from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { after, describe, it } from 'node:test';
import { engineChoice } from '../../../src/stage1/engines.js';
import type { PodManifest } from '../../../src/appc/index.js';
import {
  appCgroupLimits,
  attachScript,
  enterScript,
  hostTscKhz,
  innerScript,
  planScript,
  prefixLength,
  qemuArgs,
  vmSize,
} from '../../../src/stage1/kvm/engine.js';
import {
  kernelRoots,
  moduleDepends,
  moduleLoadOrder,
  newcArchive,
} from '../../../src/stage1/kvm/initramfs.js';
import { which } from '../../../src/stage1/oci/runtime.js';
import { RocketError } from '../../../src/errors.js';

const tmp = mkdtempSync(path.join(tmpdir(), 'rocket-kvm-unit-'));
after(() => rmSync(tmp, { recursive: true, force: true }));

describe('kvm engine', () => {
  it('is chosen by --engine, rkt stage1-kvm names and stage1 file names with the word kvm', () => {
    for (const a of [
      { engine: 'kvm', stage1: {} },
      { stage1: { name: 'coreos.com/rkt/stage1-kvm:1.30.0' } },
      { stage1: { name: 'coreos.com/rkt/stage1-kvm' } },
      { stage1: { path: '/usr/lib/rkt/stage1-images/stage1-kvm.aci' } },
      { stage1: { fromDir: 'stage1-kvm.aci' } },
    ])
      assert.deepEqual(engineChoice(a), { name: 'kvm' });
    assert.notDeepEqual(engineChoice({ stage1: { name: 'oci' } }), { name: 'kvm' });
  });

  it('writes newc cpio entries (header, name and data padded to 4 bytes) and the trailer', () => {
    const a = newcArchive([
      { name: 'init', mode: 0o100755, data: Buffer.from('#!/bin/sh\n') },
      { name: 'dev/console', mode: 0o020600, rdev: [5, 1] },
    ]);
    const text = a.toString('latin1');
    assert.equal(text.slice(0, 6), '070701');
    // mode, then filesize (7th field), rdevmajor/minor (10th, 11th) of the device node.
    assert.equal(text.slice(14, 22), (0o100755).toString(16).padStart(8, '0'));
    assert.equal(parseInt(text.slice(6 + 6 * 8, 6 + 7 * 8), 16), 10);
    const second = text.indexOf('070701', 6);
    assert.equal(second % 4, 0);
    assert.equal(parseInt(text.slice(second + 6 + 9 * 8, second + 6 + 10 * 8), 16), 5);
    assert.equal(parseInt(text.slice(second + 6 + 10 * 8, second + 6 + 11 * 8), 16), 1);
    assert.match(text, /TRAILER!!!\0/);
    assert.equal(a.length % 4, 0);
  });

  it('orders modules after their dependencies, from each .ko depends= field', () => {
    const dir = path.join(tmp, 'modules');
    const ko = (rel: string, deps: string): void => {
      mkdirSync(path.dirname(path.join(dir, 'kernel', rel)), { recursive: true });
      writeFileSync(
        path.join(dir, 'kernel', rel),
        Buffer.from(`\x7fELF\0license=GPL\0depends=${deps}\0vermagic=x\0`),
      );
    };
    ko('fs/9p/9p.ko', 'netfs,9pnet,fscache');
    ko('net/9p/9pnet.ko', '');
    ko('net/9p/9pnet_virtio.ko', 'virtio_ring,9pnet,virtio');
    ko('fs/netfs/netfs.ko', '');
    ko('fs/fscache/fscache.ko', 'netfs');
    assert.deepEqual(moduleDepends(Buffer.from('\0depends=a,b-c\0')), ['a', 'b_c']);
    const order = moduleLoadOrder(dir, ['9pnet_virtio', '9p']).map((f) => path.basename(f));
    // virtio_ring and virtio are built in here (no .ko): skipped.
    assert.deepEqual(order, ['9pnet.ko', '9pnet_virtio.ko', 'netfs.ko', 'fscache.ko', '9p.ko']);
  });

  it('turns masks into prefix lengths and reads the host clock rate', () => {
    assert.equal(prefixLength('255.255.255.0'), 24);
    assert.equal(prefixLength('255.255.240.0'), 20);
    assert.equal(prefixLength('/64'), 64);
    assert.equal(hostTscKhz('processor\t: 0\ncpu MHz\t\t: 2596.142\n'), 2596142);
    assert.equal(hostTscKhz('processor\t: 0\n'), undefined);
  });

  it('boots a microvm straight from the kernel; TCG gets the clock rate, a NIC only with a network', () => {
    const tcg = qemuArgs({ accel: 'tcg', kernel: '/k', initrd: '/i', share: '/pod', name: 'rkt-u' });
    assert.equal(tcg[tcg.indexOf('-M') + 1], 'microvm,pit=on,pic=on,rtc=on');
    assert.match(tcg[tcg.indexOf('-accel') + 1] ?? '', /^tcg,tb-size=\d+$/);
    assert.equal(tcg[tcg.indexOf('-kernel') + 1], '/k');
    assert.ok(tcg.includes('-no-reboot'));
    assert.match(tcg[tcg.indexOf('-append') + 1] ?? '', /^console=ttyS0 .*quiet/);
    assert.match(tcg[tcg.indexOf('-fsdev') + 1] ?? '', /^local,id=pod,path=\/pod,security_model=passthrough/);
    assert.ok(!tcg.includes('-netdev'));
    assert.ok(!tcg.includes('virtio-serial-device'));
    const kvm = qemuArgs({
      accel: 'kvm',
      kernel: '/k',
      initrd: '/i',
      name: 'rkt-u',
      macs: ['02:00:00:00:00:01', '02:00:00:00:00:02'],
      ports: [{ name: 'rkt.enter', socket: 'enter.sock' }],
    });
    assert.doesNotMatch(kvm[kvm.indexOf('-append') + 1] ?? '', /tsc_early_khz/);
    assert.equal(kvm[kvm.indexOf('-cpu') + 1], 'host');
    assert.ok(!kvm.includes('-fsdev'));
    assert.equal(
      kvm[kvm.indexOf('-device', kvm.indexOf('-netdev')) + 1],
      'virtio-net-device,netdev=net0,mac=02:00:00:00:00:01',
    );
    // One NIC per CNI interface, each on its own tap.
    assert.deepEqual(
      kvm.filter((a) => a.startsWith('tap,') || a.startsWith('virtio-net-device,')),
      [
        'tap,id=net0,ifname=tap0,script=no,downscript=no',
        'virtio-net-device,netdev=net0,mac=02:00:00:00:00:01',
        'tap,id=net1,ifname=tap1,script=no,downscript=no',
        'virtio-net-device,netdev=net1,mac=02:00:00:00:00:02',
      ],
    );
    // One virtio-serial bus; each port a unix socket QEMU listens on without waiting for a client.
    const at = kvm.indexOf('virtio-serial-device');
    assert.deepEqual(kvm.slice(at - 1, at + 5), [
      '-device',
      'virtio-serial-device',
      '-chardev',
      'socket,id=port0,path=enter.sock,server=on,wait=off',
      '-device',
      'virtserialport,chardev=port0,name=rkt.enter',
    ]);
  });

  /** A pod of apps a (64Mi, 500m), b (2 CPUs) and THIRD, with the pod's memory limit of 32Mi. */
  const app = (isolators: object[]) => ({ exec: ['/x'], user: '0', group: '0', isolators });
  const limitedPod = (third: object[]): PodManifest =>
    ({
      acKind: 'PodManifest',
      acVersion: '0.8.11',
      apps: [
        {
          name: 'a',
          app: app([
            { name: 'resource/memory', value: { limit: '64Mi' } },
            { name: 'resource/cpu', value: { limit: '500m' } },
          ]),
        },
        { name: 'b', app: app([{ name: 'resource/cpu', value: { limit: '2' } }]) },
        { name: 'c', app: app(third) },
      ],
      isolators: [{ name: 'resource/memory', value: { limit: '32Mi' } }],
    }) as unknown as PodManifest;

  it('sizes the VM from the memory and cpu limits: 128 MB plus each app, CPUs rounded up', () => {
    const manifest = limitedPod([]);
    // a: min(64, 32) = 32 MB; b and c: the pod's 32 MB; cpu 0.5 + 2 = 2.5 -> 3, capped by the host.
    assert.deepEqual(vmSize(manifest, 8), { memoryMb: 128 + 96, cpus: 3 });
    assert.deepEqual(vmSize(manifest, 2), { memoryMb: 224, cpus: 2 });
    const bare = {
      ...manifest,
      apps: [{ name: 'c', app: app([]) }],
      isolators: [],
    } as unknown as PodManifest;
    assert.deepEqual(vmSize(bare, 8), { memoryMb: 128, cpus: 1 });
  });

  it("gives each app's cgroup in the guest the smaller of its and the pod's limits: bytes and a cpu.max quota", () => {
    const manifest = limitedPod([{ name: 'resource/cpu', value: { limit: '1m' } }]);
    assert.deepEqual(appCgroupLimits(manifest, 0), { MEM: String(32 * 1024 * 1024), CPU: '50000' });
    assert.deepEqual(appCgroupLimits(manifest, 1), { MEM: String(32 * 1024 * 1024), CPU: '200000' });
    // The kernel's smallest quota is 1 ms.
    assert.deepEqual(appCgroupLimits(manifest, 2), { MEM: String(32 * 1024 * 1024), CPU: '1000' });
    assert.deepEqual(appCgroupLimits({ ...manifest, isolators: [] }, 1), {
      CPU: '200000',
    });
    assert.deepEqual(
      appCgroupLimits(
        { ...manifest, apps: [{ name: 'd', app: app([]) }], isolators: [] } as unknown as PodManifest,
        0,
      ),
      {},
    );
  });

  it('shares with the guest only conf (read-only), status, logs, apps and out; takes only a numeric code', () => {
    const inner = innerScript('/d/run/u', [], ['qemu-system-x86_64']);
    assert.doesNotMatch(inner, /tuntap/);
    const twoNets = innerScript(
      '/d/run/u',
      [],
      ['qemu-system-x86_64'],
      [{ ifName: 'eth0' }, { ifName: 'eth1' }],
    );
    assert.match(twoNets, /ip tuntap add dev tap0 .* redirect dev tap0 .* redirect dev eth0 /);
    assert.match(
      twoNets,
      /ip tuntap add dev tap1 .*dev eth1 parent ffff: .* redirect dev tap1 .* redirect dev eth1 /,
    );
    assert.match(inner, /mount --rbind \/d\/run\/u\/apps \/d\/run\/u\/stage1\/kvm\/share\/apps /);
    assert.match(inner, /mount --bind \/d\/run\/u\/logs \/d\/run\/u\/stage1\/kvm\/share\/logs /);
    assert.match(inner, /mount --bind \/d\/run\/u\/stage1\/kvm\/conf \/d\/run\/u\/stage1\/kvm\/share\/conf /);
    assert.match(inner, /mount -o remount,bind,ro \/d\/run\/u\/stage1\/kvm\/share\/conf /);
    assert.match(inner, /\ncd \/d\/run\/u\/stage1\/kvm \|\| fail .*\nexec qemu-system-x86_64\n$/);
    const plan = planScript({ P: '/d/prepared/u', R: '/d/run/u', uuid: 'u', inner, cni: false });
    assert.match(plan, /read -r rc <"\$R"\/stage1\/kvm\/share\/out\/exit/);
    assert.match(plan, /case \$rc in "" \| \*\[!0-9\]\* \| \?\?\?\?\*\) rc=254 ;; esac/);
    assert.doesNotMatch(plan, /teardown/);
    assert.match(
      planScript({ P: '/p', R: '/r', uuid: 'u', inner, cni: true }),
      /nsenter --net="\$R"\/ns-net -- setsid /,
    );
  });

  it('--readonly-rootfs: the rootfs (a copy bound onto itself) remounted read-only after its mounts, the guest mount points made first', () => {
    const app = {
      name: 'ro',
      rootfs: '/d/run/u/apps/ro/rootfs',
      mounts: [{ source: '/vol', target: '/d/run/u/apps/ro/rootfs/data', readOnly: false, recursive: false }],
      readOnly: { guestDirs: ['/d/run/u/apps/ro/rootfs/proc', '/d/run/u/apps/ro/rootfs/tmp'] },
      env: '',
    };
    const lines = innerScript('/d/run/u', [app], ['qemu-system-x86_64']).split('\n');
    const self = lines.findIndex((l) =>
      l.startsWith('mount --bind /d/run/u/apps/ro/rootfs /d/run/u/apps/ro/rootfs '),
    );
    const vol = lines.findIndex((l) => l.includes('mount --bind /vol /d/run/u/apps/ro/rootfs/data '));
    const ro = lines.findIndex((l) =>
      l.startsWith(
        'mkdir -p /d/run/u/apps/ro/rootfs/proc /d/run/u/apps/ro/rootfs/tmp && mount -o remount,bind,ro /d/run/u/apps/ro/rootfs ',
      ),
    );
    assert.ok(self >= 0 && self < vol && vol < ro, lines.join('\n'));
    // Without the flag: no self-bind, no remount of the rootfs.
    const rw = innerScript('/d/run/u', [{ ...app, readOnly: undefined }], ['qemu-system-x86_64']);
    assert.doesNotMatch(rw, /remount,bind,ro \/d\/run\/u\/apps\/ro\/rootfs /);
    assert.doesNotMatch(rw, /mount --bind \/d\/run\/u\/apps\/ro\/rootfs /);
  });

  it("attach's plan is enter's session with an attach request naming the streams", () => {
    const script = attachScript({
      podPath: '/d/run/u',
      uuid: 'u',
      app: 'talk',
      streams: ['stdin', 'stdout'],
    });
    assert.match(script, /^# rkt attach plan \(kvm engine\)/);
    assert.match(script, /\necho 'attach talk stdin,stdout' >&7\n/);
    assert.match(script, /the VM ended the attach session without an exit code/);
  });

  it(
    "enter's plan: one session on the first free channel (a fake guest here), stdin up, output and exit code down",
    { skip: which('socat') === undefined ? 'needs socat' : false },
    async () => {
      const pod = path.join(tmp, 'enter-pod');
      const K = path.join(pod, 'stage1', 'kvm');
      mkdirSync(path.join(K, 'conf'), { recursive: true });
      assert.equal(spawnSync('mkfifo', [path.join(K, 'ctl')]).status, 0);
      const b64 = (t: string): string => Buffer.from(t).toString('base64');
      const seen: string[] = [];
      // The guest's agent: takes the request and the stdin chunks, answers with output lines.
      const server = createServer((c) => {
        let buf = '';
        let stdin = '';
        c.setEncoding('utf8').on('data', (d: string) => {
          buf += d;
          let nl;
          while ((nl = buf.indexOf('\n')) >= 0) {
            const line = buf.slice(0, nl);
            buf = buf.slice(nl + 1);
            seen.push(line.split(' ')[0] ?? '');
            if (line.startsWith('run '))
              seen.push(Buffer.from(line.split(' ')[2] ?? '', 'base64').toString());
            if (line.startsWith('i ')) stdin += Buffer.from(line.slice(2), 'base64').toString();
            // The marker a booting guest would look for, there while the session lasts.
            if (line === 'c') seen.push(String(existsSync(path.join(K, 'conf', 'enter-1'))));
            if (line === 'c') c.write(`o ${b64(`got ${stdin}`)}\ne ${b64('warn\n')}\nx 42\n`);
          }
        });
      });
      // Channel 0 is busy (its lock held by another session, until our cat ends): the plan takes 1.
      const idle = createServer((c) => seen.push(`channel 0 used: ${c.remoteAddress ?? ''}`));
      await new Promise<void>((r) => idle.listen(path.join(K, 'enter-0.sock'), r));
      const lock = path.join(K, 'enter-0.lock');
      const busy = spawn('flock', ['-x', lock, 'cat'], { stdio: ['pipe', 'ignore', 'ignore'] });
      const busyDone = new Promise((r) => busy.on('close', r));
      while (spawnSync('flock', ['-x', '-n', lock, 'true']).status === 0)
        await new Promise((r) => setImmediate(r));
      await new Promise<void>((r) => server.listen(path.join(K, 'enter-1.sock'), r));
      // The console FIFO, held open as QEMU and the run plan hold it.
      const fd = openSync(path.join(K, 'ctl'), constants.O_RDWR | constants.O_NONBLOCK);
      try {
        const script = path.join(tmp, 'enter-plan');
        writeFileSync(
          script,
          enterScript({ podPath: pod, uuid: 'u', app: 'web', command: ['/bin/echo', "it's"] }),
        );
        const r = await new Promise<{ code: number | null; out: string; err: string }>((resolve) => {
          const p = spawn('/bin/sh', [script], { stdio: ['pipe', 'pipe', 'pipe'] });
          let out = '';
          let err = '';
          p.stdout.setEncoding('utf8').on('data', (d: string) => (out += d));
          p.stderr.setEncoding('utf8').on('data', (d: string) => (err += d));
          p.on('close', (code) => resolve({ code, out, err }));
          p.stdin.end('hello');
        });
        assert.deepEqual(r, { code: 42, out: 'got hello', err: 'warn\n' });
        assert.deepEqual(seen, ['run', "/bin/echo 'it'\\''s'", 'i', 'c', 'true']);
        assert.equal(existsSync(path.join(K, 'conf', 'enter-1')), false);
        // The guest was woken on its console, and the plan removed itself.
        const line = Buffer.alloc(64);
        const n = readSync(fd, line);
        assert.equal(line.subarray(0, n).toString(), 'enter 1\n');
        assert.equal(spawnSync('test', ['-e', script]).status, 1);
      } finally {
        busy.stdin.end();
        await busyDone;
        closeSync(fd);
        server.close();
        idle.close();
      }
    },
  );
});

describe('kvm: the guest kernel named in stage1.d/kvm.json', () => {
  const dirs = mkdtempSync(path.join(tmpdir(), 'rocket-kvmconf-'));
  after(() => rmSync(dirs, { recursive: true, force: true }));
  const local = path.join(dirs, 'etc');
  const system = path.join(dirs, 'usr');
  const conf = (dir: string, text: string): void => {
    mkdirSync(path.join(dir, 'stage1.d'), { recursive: true });
    writeFileSync(path.join(dir, 'stage1.d', 'kvm.json'), text);
  };

  it('RKT_KVM_KERNEL_ROOT, then the local config, then the system config, then the defaults', () => {
    const defaults = ['/var/lib/rkt/kvm/kernel', '/'];
    assert.deepEqual(kernelRoots({}, { local, system }), defaults);
    conf(system, '{"kernelRoot": "/srv/sys-kernel"}');
    assert.deepEqual(kernelRoots({}, { local, system }), ['/srv/sys-kernel']);
    conf(local, '{"kernelRoot": "/srv/kernel"}');
    assert.deepEqual(kernelRoots({}, { local, system }), ['/srv/kernel']);
    assert.deepEqual(kernelRoots({ RKT_KVM_KERNEL_ROOT: '/env' }, { local, system }), ['/env']);
    assert.deepEqual(kernelRoots({}), defaults);
  });

  it('a bad file is one line naming it and the field', () => {
    conf(local, '{"kernelRoot": "relative/dir"}');
    assert.throws(
      () => kernelRoots({}, { local, system }),
      (e: unknown) =>
        e instanceof RocketError &&
        e.message === `${path.join(local, 'stage1.d', 'kvm.json')}: kernelRoot: must be an absolute path`,
    );
    conf(local, '{"kernelRoot": ');
    assert.throws(() => kernelRoots({}, { local, system }), /kvm\.json: not valid JSON$/);
  });
});
