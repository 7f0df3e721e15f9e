/**
 * A kvm pod on rkt's built-in `default` network (ptp, host-local 172.16.28.0/24), as root, inside a
 * namespace this file made that stands in for the host (test/integration/net/fixture.ts): the guest
 * has the CNI address, and an HTTP server in the VM answers the host stand-in there and on the
 * `--port` it forwards (from the stand-in's loopback and from a client namespace behind it).
 * `rkt enter` runs commands in the app's context inside the VM (stdin, stdout, stderr and the exit
 * code relayed), the app reaches the metadata service at its AC_METADATA_URL and reads its pod's
 * identity, and `rkt status` records the engine and its accelerator: one boot for all of it.
 * Stop and gc leave no QEMU, veth, tap, iptables rule, IPAM reservation or mount.
 */
import assert from 'node:assert/strict';
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { createHash, randomBytes } from 'node:crypto';
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { REGISTRATION_SOCKET_ENV } from '../../../src/metadata/defaults.js';
import { findKernel } from '../../../src/stage1/kvm/initramfs.js';
import { which } from '../../../src/stage1/oci/runtime.js';
import { NetWorld, buildAci, httpd, rktBin, skip as netSkip, waitFor } from '../net/fixture.js';
import { qemuAlive } from './fixture.js';
import { skipUnlessCI } from '../../helpers.js';

function kvmNetSkip(): string | false {
  if (netSkip !== false) return netSkip;
  for (const p of ['qemu-system-x86_64', 'tc', 'socat', 'curl'])
    if (which(p) === undefined) return `needs ${p}`;
  try {
    findKernel();
  } catch (err) {
    return (err as Error).message;
  }
  return false;
}

const KVM = '--engine=kvm';
const PORT = 18090;

/** `rkt enter ARGS` with `input` on its stdin: its exit code and output (stdout as bytes). */
function enter(
  data: string,
  args: string[],
  input: Buffer | string = '',
): Promise<{ code: number | null; stdout: Buffer; stderr: string }> {
  return new Promise((resolve, reject) => {
    const c = spawn(rktBin, [`--dir=${data}`, 'enter', ...args], { stdio: ['pipe', 'pipe', 'pipe'] });
    const out: Buffer[] = [];
    let stderr = '';
    c.stdout.on('data', (d: Buffer) => out.push(d));
    c.stderr.setEncoding('utf8').on('data', (d: string) => (stderr += d));
    c.on('error', reject);
    c.on('close', (code) => resolve({ code, stdout: Buffer.concat(out), stderr }));
    c.stdin.end(input);
  });
}

describe('a kvm pod on a CNI network', { skip: skipUnlessCI(kvmNetSkip(), 'kvm networking tests') }, () => {
  let w: NetWorld;
  let web: string;
  // The metadata service in the host stand-in, where rkt run (this process's environment) registers.
  let socket: string;
  let service: ChildProcess;
  let serviceLog = '';
  const savedSocketEnv = process.env[REGISTRATION_SOCKET_ENV];

  before(async () => {
    w = NetWorld.create('rocket-kvm-net-');
    web = buildAci(w.work, 'web', httpd(80));
    socket = join(w.work, 'mds', 'md.sock');
    service = spawn(
      'nsenter',
      [`--net=${w.hostNs}`, rktBin, 'metadata-service', '--listen-port=0', `--socket=${socket}`],
      { stdio: ['ignore', 'ignore', 'pipe'] },
    );
    service.stderr?.setEncoding('utf8').on('data', (d: string) => (serviceLog += d));
    await waitFor(
      'the metadata service',
      () => /running on port/.test(serviceLog) || service.exitCode !== null,
    );
    assert.match(serviceLog, /running on port/);
    process.env[REGISTRATION_SOCKET_ENV] = socket;
  });
  after(async () => {
    if (savedSocketEnv === undefined) delete process.env[REGISTRATION_SOCKET_ENV];
    else process.env[REGISTRATION_SOCKET_ENV] = savedSocketEnv;
    if (service.exitCode === null) {
      const exited = new Promise((resolve) => service.once('exit', resolve));
      service.kill('SIGTERM');
      await exited;
    }
    await w.close();
  });

  /** The pods the metadata service has registered. */
  function registered(): string[] {
    const r = spawnSync('curl', ['-sS', '--unix-socket', socket, 'http://localhost/pods'], {
      encoding: 'utf8',
    });
    assert.equal(r.status, 0, r.stderr);
    return (JSON.parse(r.stdout) as { uuid: string }[]).map((p) => p.uuid);
  }

  it('answers HTTP from the VM at its addresses on two networks and on --port; enter runs in the VM; stop and gc leave nothing', async () => {
    const outside = w.client('k', '10.253.9.1', '10.253.9.2');
    w.conf('20-kvmtwo.conf', {
      cniVersion: '0.4.0',
      name: 'kvmtwo',
      type: 'ptp',
      ipam: { type: 'host-local', subnet: '10.254.9.0/24' },
    });
    const { pod, uuid } = await w.startPod(
      KVM,
      '--net=default,kvmtwo',
      `--port=http:${PORT}`,
      '--mds-register=true',
      web,
    );
    const infos = w.netInfo(uuid);
    assert.equal(infos.length, 2);
    const [info, two] = ['default', 'kvmtwo'].map((n) => infos.find((i) => i.netName === n));
    assert.ok(info !== undefined && two !== undefined);
    assert.match(info.ip, /^172\.16\.28\.\d+$/);
    assert.match(two.ip, /^10\.254\.9\.\d+$/);
    const url = `http://${info.ip}/`;
    let body: string | undefined;
    await waitFor(url, () => (body = w.get(url)) !== undefined, 180_000);
    assert.equal(body, 'hello from web\n');
    // The second network's interface has a NIC of its own in the guest.
    assert.equal(w.get(`http://${two.ip}/`), 'hello from web\n');
    const status = await w.status(uuid);
    assert.deepEqual(status['networks']?.split(', ').sort(), [
      `default:ip4=${info.ip}`,
      `kvmtwo:ip4=${two.ip}`,
    ]);
    assert.equal(status['engine'], 'kvm');
    const accel = readFileSync(join(w.data, 'kvm', `accel-${findKernel().version}`), 'utf8').trim();
    assert.equal(status['accelerator'], accel);
    const json = JSON.parse((await w.rkt('status', '--format=json', uuid)).stdout) as Record<string, unknown>;
    assert.deepEqual([json['engine'], json['accelerator']], ['kvm', accel]);

    // --port: the pipeline's portmap rules lead to the pod's address, which is the guest's.
    assert.equal(w.get(`http://127.0.0.1:${PORT}/`), 'hello from web\n');
    assert.equal(outside(`curl -sf --max-time 3 http://10.253.9.1:${PORT}/`).stdout, 'hello from web\n');

    // rkt enter: in the guest (its kernel, its eth0 with the CNI address), as the app, with the
    // command's streams and exit code; stdin relayed byte for byte.
    const e = await enter(w.data, [
      uuid,
      '/bin/sh',
      '-c',
      'cat /proc/sys/kernel/osrelease; ip -o -4 addr show; ip route show default; echo "app=$AC_APP_NAME" >&2; exit 5',
    ]);
    assert.equal(e.code, 5, e.stderr);
    assert.match(e.stdout.toString(), new RegExp(`^${findKernel().version.replace(/\./g, '\\.')}\n`));
    // The default route is the pod namespace's: rkt's default network's (kvmtwo has none).
    assert.match(e.stdout.toString(), new RegExp(`^default via ${info.hostIP.replace(/\./g, '\\.')} `, 'm'));
    for (const ip of [info.ip, two.ip])
      assert.match(e.stdout.toString(), new RegExp(` inet ${ip.replace(/\./g, '\\.')}/`));
    assert.equal(e.stderr, 'app=web\n');
    // The metadata service: the app's AC_METADATA_URL is at the host's end of the pod's first
    // network, which the guest reaches through its NIC, and the service knows it by its address.
    assert.deepEqual(registered(), [uuid]);
    const mds = await enter(w.data, [
      uuid,
      '/bin/sh',
      '-c',
      'echo "$AC_METADATA_URL"; M=$AC_METADATA_URL/acMetadata/v1; wget -Y off -q -O - "$M/pod/uuid"; echo; wget -Y off -q -O - "$M/apps/$AC_APP_NAME/image/id"',
    ]);
    assert.equal(mds.code, 0, mds.stderr);
    const [mdsUrl, mdsUuid, mdsImage] = mds.stdout.toString().split('\n');
    // The host's end of the pod's first network (in net-info.json's order).
    const first = infos[0]?.hostIP ?? '';
    assert.match(mdsUrl ?? '', new RegExp(`^http://${first.replace(/\./g, '\\.')}:\\d+/[0-9a-f]{48}$`));
    assert.equal(mdsUuid, uuid);
    const podManifest = JSON.parse(readFileSync(join(w.data, 'pods', 'run', uuid, 'pod'), 'utf8')) as {
      apps: { image: { id: string } }[];
    };
    assert.equal(mdsImage, podManifest.apps[0]?.image.id);
    const bytes = randomBytes(48 * 1024);
    const cat = await enter(w.data, ['--app=web', uuid, '/bin/cat'], bytes);
    assert.equal(cat.code, 0, cat.stderr);
    const sha = (b: Buffer): string => createHash('sha256').update(b).digest('hex');
    assert.equal(sha(cat.stdout), sha(bytes));
    // An interrupted enter (its stdin still open) ends the command in the guest with it.
    const long = spawn(
      rktBin,
      [`--dir=${w.data}`, 'enter', uuid, '/bin/sh', '-c', 'echo started; exec sleep 1000'],
      {
        stdio: ['pipe', 'pipe', 'pipe'],
      },
    );
    let longOut = '';
    long.stdout.setEncoding('utf8').on('data', (d: string) => (longOut += d));
    const longCode = new Promise<number | null>((resolve) => long.on('close', resolve));
    await waitFor('the long command to start in the guest', () => longOut === 'started\n', 60_000);
    // `100[0]` matches the sleep's command line, not grep's own. Another enter runs meanwhile.
    const sleeping = (): Promise<{ code: number | null }> =>
      enter(w.data, [uuid, '/bin/sh', '-c', 'grep -l "100[0]" /proc/[0-9]*/cmdline']);
    assert.equal((await sleeping()).code, 0);
    long.kill('SIGTERM');
    assert.equal(await longCode, 143);
    let gone = false;
    for (let i = 0; i < 100 && !gone; i++) gone = (await sleeping()).code === 1;
    assert.ok(gone, 'the command of an interrupted enter still runs in the guest');
    const none = await enter(w.data, ['--app=nosuch', uuid, '/bin/true']);
    assert.equal(none.code, 254);
    assert.match(none.stderr, /has no app "nosuch"/);
    assert.ok(existsSync(join(w.data, 'pods', 'run', uuid, 'stage1', 'kvm', 'enter-0.sock')));
    // The guest, not the pod's namespace, answers: the namespace has the taps that carry it.
    const links = w.sh(`nsenter --net=${join(w.data, 'pods', 'run', uuid, 'ns-net')} ip -o link show`);
    assert.match(links, /: tap0: /);
    assert.match(links, /: tap1: /);
    const qemu = Number(readFileSync(join(w.data, 'pods', 'run', uuid, 'stage1', 'kvm', 'qemu.pid'), 'utf8'));

    const stop = await w.rkt('stop', uuid);
    assert.equal(stop.code, 0, stop.stderr);
    const r = await pod.done;
    assert.equal(r.code, 0, r.stderr);
    assert.doesNotMatch(r.stderr, /CNI DEL/, r.stderr);
    // The plan unregistered the pod once QEMU ended.
    assert.deepEqual(registered(), []);
    assert.equal(qemuAlive(qemu, uuid), false);
    assert.deepEqual(
      w.leftovers(uuid).filter((l) => !l.startsWith('pod dir in run')),
      [],
    );
    await w.gc();
    assert.deepEqual(w.leftovers(uuid), []);
  });
});
