/**
 * `rkt metadata-service` as a process, as root: its registration socket, and answering "pods"
 * made here by hand (a pod dir locked as a running pod's, a network namespace with a veth) from
 * their own addresses only. The service and the pods' namespaces live inside a network namespace
 * this file makes, standing in for the host, so no traffic touches the machine's own network.
 * Pods started by rkt are in pods.test.ts.
 */
import assert from 'node:assert/strict';
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import {
  existsSync,
  readFileSync,
  mkdirSync,
  mkdtempSync,
  renameSync,
  rmSync,
  statSync,
  symlinkSync,
  writeFileSync,
} from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { after, before, describe, it } from 'node:test';
import { metadataRegistration } from '../../../src/metadata/client.js';
import { unmountUnder } from '../../../src/pod/index.js';
import { which } from '../../../src/stage1/oci/runtime.js';
import { projectRoot, skipUnlessCI } from '../../helpers.js';
import { PROBE_APPLETS, PROBE_CONTENT, PROBE_SCRIPT, parseProbe, type ProbeAnswer } from './probe.js';

const rktBin = join(projectRoot, 'bin', 'rkt');
const busybox = ['/bin/busybox', '/usr/bin/busybox'].find((p) => existsSync(p));
const skip =
  process.getuid?.() !== 0
    ? 'needs root'
    : busybox === undefined
      ? 'needs busybox-static'
      : ['ip', 'nsenter', 'unshare', 'flock', 'curl'].find((p) => which(p) === undefined) !== undefined
        ? 'needs iproute2, util-linux and curl'
        : false;

const TEXT = 'text/plain; charset=us-ascii';
const JSON_TYPE = 'application/json';
const IMAGE_ID = 'sha512-' + 'c0ffee00'.repeat(16);

interface FakePod {
  uuid: string;
  ns: string;
  ip: string;
  url: string;
  lock?: ChildProcess;
}

describe('rkt metadata-service', { skip: skipUnlessCI(skip, 'metadata service tests') }, () => {
  let work: string;
  let world: string;
  let data: string;
  let socket: string;
  let bin: string;
  let service: ChildProcess;
  let serviceLog = '';
  let serviceExit: Promise<number | null>;
  const pods: FakePod[] = [];

  /** A command in the host stand-in; throws unless it succeeds. */
  const inWorld = (...argv: string[]): string => {
    const r = spawnSync('nsenter', [`--net=${world}`, ...argv], { encoding: 'utf8' });
    assert.equal(r.status, 0, `${argv.join(' ')}: ${r.stderr}`);
    return r.stdout;
  };

  /** The probe script in a pod's namespace, with busybox's applets first in PATH. */
  function probe(pod: FakePod, env: Record<string, string> = {}): Map<string, ProbeAnswer> {
    // An absolute nsenter: the PATH given is the probe's.
    const r = spawnSync(which('nsenter') as string, [`--net=${pod.ns}`, `${bin}/sh`, '-c', PROBE_SCRIPT], {
      encoding: 'utf8',
      env: { PATH: bin, BASE: pod.url, APP: 'app', ...env },
      timeout: 30_000,
    });
    assert.equal(r.status, 0, r.stderr);
    return parseProbe(r.stdout);
  }

  /** A pod dir in prepared/, a namespace with a veth to the host stand-in, and its registration. */
  function makePod(n: number): FakePod {
    const uuid = `5e0d1c2b-3a49-4867-8596-a4b3c2d1e0f${n}`;
    const hostIP = `10.177.81.${4 * n + 1}`;
    const ip = `10.177.81.${4 * n + 2}`;
    const ns = join(work, `pod${n}.ns`);
    writeFileSync(ns, '');
    const u = spawnSync('unshare', [`--net=${ns}`, 'ip', 'link', 'set', 'lo', 'up'], { encoding: 'utf8' });
    assert.equal(u.status, 0, u.stderr);
    inWorld('ip', 'link', 'add', `mdh${n}`, 'type', 'veth', 'peer', 'name', 'eth0', 'netns', ns);
    inWorld('ip', 'addr', 'add', `${hostIP}/30`, 'dev', `mdh${n}`);
    inWorld('ip', 'link', 'set', `mdh${n}`, 'up');
    for (const cmd of [
      ['addr', 'add', `${ip}/30`, 'dev', 'eth0'],
      ['link', 'set', 'eth0', 'up'],
      ['route', 'add', 'default', 'via', hostIP],
    ]) {
      const r = spawnSync('nsenter', [`--net=${ns}`, 'ip', ...cmd], { encoding: 'utf8' });
      assert.equal(r.status, 0, r.stderr);
    }
    const dir = join(data, 'pods', 'prepared', uuid);
    mkdirSync(join(dir, 'appsinfo', 'app'), { recursive: true });
    writeFileSync(
      join(dir, 'pod'),
      JSON.stringify({
        acVersion: '0.8.11',
        acKind: 'PodManifest',
        apps: [
          {
            name: 'app',
            image: { name: 'example.com/app', id: IMAGE_ID },
            annotations: [{ name: 'n', value: `${n}` }],
          },
        ],
        volumes: [],
        isolators: null,
        annotations: [{ name: 'pod-number', value: `${n}` }],
        ports: [],
      }),
    );
    writeFileSync(
      join(dir, 'appsinfo', 'app', 'manifest'),
      JSON.stringify({ acKind: 'ImageManifest', acVersion: '0.8.11', name: 'example.com/app' }),
    );
    writeFileSync(
      join(dir, 'net-info.json'),
      JSON.stringify([{ netName: 'md-test', ifName: 'eth0', ip, mask: '255.255.255.252', hostIP }]),
    );
    const { url } = register(dir, uuid);
    assert.match(url, new RegExp(`^http://${hostIP.replace(/\./g, '\\.')}:\\d+/[0-9a-f]{48}$`));
    const pod: FakePod = { uuid, ns, ip, url };
    pods.push(pod);
    return pod;
  }

  /** What stage0 does once the pod's networks are up: the URL the engine puts in the apps' configs. */
  function register(dir: string, uuid: string): { url: string; unregister: string } {
    const pending = metadataRegistration({
      dataDir: data,
      uuid,
      podDir: dir,
      net: 'cni',
      mode: true,
      socket,
    });
    assert.ok(pending !== undefined);
    const { url, unregister } = pending.register();
    return { url, unregister };
  }

  /** What the plan does: into run/, locked by a process that stands for the pod's apps. */
  async function startPod(pod: FakePod): Promise<void> {
    const dir = join(data, 'pods', 'run', pod.uuid);
    renameSync(join(data, 'pods', 'prepared', pod.uuid), dir);
    const lock = spawn('sh', ['-c', 'exec 9<"$0" && flock -x 9 && echo locked && exec sleep 600', dir], {
      stdio: ['ignore', 'pipe', 'inherit'],
    });
    pod.lock = lock;
    await new Promise<void>((resolve) => lock.stdout?.once('data', () => resolve()));
  }

  async function stopPod(pod: FakePod): Promise<void> {
    const lock = pod.lock;
    assert.ok(lock?.pid !== undefined);
    const gone = new Promise((resolve) => lock.once('exit', resolve));
    process.kill(lock.pid, 'SIGKILL');
    await gone;
  }

  /** Waits for the service's stderr (read only while the test is not blocked in spawnSync). */
  async function logShows(re: RegExp): Promise<void> {
    const end = Date.now() + 5000;
    while (!re.test(serviceLog)) {
      if (Date.now() > end) assert.match(serviceLog, re);
      await sleep(20);
    }
  }

  function registered(): string[] {
    const r = spawnSync('curl', ['-sS', '--unix-socket', socket, 'http://localhost/pods'], {
      encoding: 'utf8',
    });
    assert.equal(r.status, 0, r.stderr);
    return (JSON.parse(r.stdout) as { uuid: string }[]).map((p) => p.uuid);
  }

  before(async () => {
    work = mkdtempSync(join(tmpdir(), 'rocket-mds-'));
    data = join(work, 'data');
    for (const s of ['prepared', 'run']) mkdirSync(join(data, 'pods', s), { recursive: true });
    socket = join(work, 'run', 'md.sock');
    bin = join(work, 'bin');
    mkdirSync(bin);
    for (const a of PROBE_APPLETS) symlinkSync(busybox as string, join(bin, a));
    world = join(work, 'world.ns');
    writeFileSync(world, '');
    const u = spawnSync('unshare', [`--net=${world}`, 'ip', 'link', 'set', 'lo', 'up'], { encoding: 'utf8' });
    assert.equal(u.status, 0, u.stderr);
    service = spawn(
      'nsenter',
      [`--net=${world}`, rktBin, 'metadata-service', '--listen-port=0', `--socket=${socket}`],
      {
        stdio: ['ignore', 'ignore', 'pipe'],
      },
    );
    service.stderr?.setEncoding('utf8').on('data', (d: string) => (serviceLog += d));
    serviceExit = new Promise((resolve) => service.once('exit', (code) => resolve(code)));
    const end = Date.now() + 20_000;
    while (!/running on port \d+/.test(serviceLog)) {
      if (Date.now() > end || service.exitCode !== null)
        throw new Error(`the service did not start: ${serviceLog}`);
      await sleep(20);
    }
  });

  after(() => {
    for (const p of pods) if (p.lock?.pid !== undefined && p.lock.exitCode === null) p.lock.kill('SIGKILL');
    if (service.exitCode === null) service.kill('SIGKILL');
    unmountUnder(work);
    rmSync(work, { recursive: true, force: true });
  });

  it('makes its registration socket 0600 in a 0700 directory', () => {
    assert.equal(statSync(socket).mode & 0o777, 0o600);
    assert.equal(statSync(join(work, 'run')).mode & 0o777, 0o700);
  });

  it('refuses a second service on the same socket, and a bad port', () => {
    const r = spawnSync(rktBin, ['metadata-service', '--listen-port=0', `--socket=${socket}`], {
      encoding: 'utf8',
    });
    assert.equal(r.status, 254);
    assert.match(r.stderr, /already running/);
    const p = spawnSync(
      rktBin,
      ['metadata-service', '--listen-port=99999', `--socket=${join(work, 'x.sock')}`],
      {
        encoding: 'utf8',
      },
    );
    assert.equal(p.status, 254);
    assert.match(p.stderr, /invalid --listen-port/);
  });

  it('replaces the stale socket a SIGKILLed service left', async () => {
    const sock = join(work, 'stale', 'md.sock');
    /** A service of its own in the host stand-in, once it says it runs. */
    const start = async (): Promise<{ child: ChildProcess; exit: Promise<number | null> }> => {
      const child = spawn(
        'nsenter',
        [`--net=${world}`, rktBin, 'metadata-service', '--listen-port=0', `--socket=${sock}`],
        { stdio: ['ignore', 'ignore', 'pipe'] },
      );
      const exit = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
      let log = '';
      child.stderr?.setEncoding('utf8').on('data', (d: string) => (log += d));
      const end = Date.now() + 20_000;
      while (!/running on port \d+/.test(log)) {
        if (Date.now() > end || child.exitCode !== null) {
          child.kill('SIGKILL');
          throw new Error(`the service did not start: ${log}`);
        }
        await sleep(20);
      }
      return { child, exit };
    };
    const first = await start();
    first.child.kill('SIGKILL');
    await first.exit;
    assert.ok(existsSync(sock), 'a killed service leaves its socket');
    const second = await start();
    try {
      const r = spawnSync('curl', ['-sS', '--unix-socket', sock, 'http://localhost/pods'], {
        encoding: 'utf8',
      });
      assert.equal(r.status, 0, r.stderr);
      assert.deepEqual(JSON.parse(r.stdout), []);
    } finally {
      second.child.kill('SIGTERM');
    }
    assert.equal(await second.exit, 0);
    assert.ok(!existsSync(sock));
  });

  it('answers each pod from its own address only, and verifies signatures by signer', async () => {
    const a = makePod(1);
    const b = makePod(2);
    assert.deepEqual(registered().sort(), [a.uuid, b.uuid].sort());
    // Registered but not started: nothing is answered yet.
    assert.equal(probe(a).get('uuid')?.status, 401);
    await startPod(a);
    await startPod(b);

    const ra = probe(a);
    const want: [string, number, string, string | undefined][] = [
      ['uuid', 200, TEXT, a.uuid],
      ['podann', 200, JSON_TYPE, '[{"name":"pod-number","value":"1"}]'],
      ['appann', 200, JSON_TYPE, '[{"name":"n","value":"1"}]'],
      ['imgman', 200, JSON_TYPE, '{"acKind":"ImageManifest","acVersion":"0.8.11","name":"example.com/app"}'],
      ['imgid', 200, TEXT, IMAGE_ID],
      ['noapp', 404, '', undefined],
      ['verify-own', 200, TEXT, ''],
      ['verify-tampered', 403, '', undefined],
      ['verify-garbage', 400, '', undefined],
    ];
    for (const [name, status, type, body] of want) {
      const got = ra.get(name);
      assert.equal(got?.status, status, `${name}: ${JSON.stringify(got)}`);
      if (status === 200) assert.equal(got?.contentType, type, name);
      if (body !== undefined) assert.equal(got?.body, body, name);
    }
    assert.equal(ra.get('manifest')?.contentType, JSON_TYPE);
    assert.equal(ra.get('manifest')?.body, readFileSync(join(data, 'pods', 'run', a.uuid, 'pod'), 'utf8'));
    const sigA = ra.get('sign')?.body ?? '';
    assert.match(sigA, /^[A-Za-z0-9+/]{86}==$/);

    // B checks A's signature, cannot pass it off as its own, and cannot use A's token.
    const rb = probe(b, { PEER_UUID: a.uuid, PEER_SIG: sigA, PEER_URL: a.url });
    assert.equal(rb.get('uuid')?.body, b.uuid);
    assert.equal(rb.get('podann')?.body, '[{"name":"pod-number","value":"2"}]');
    assert.equal(rb.get('verify-peer')?.status, 200);
    assert.equal(rb.get('verify-peer-as-me')?.status, 403);
    assert.equal(rb.get('stolen-manifest')?.status, 403);
    assert.equal(rb.get('stolen-sign')?.status, 403);
    assert.notEqual(
      rb.get('sign')?.body,
      sigA,
      `both signed ${JSON.stringify(PROBE_CONTENT)} with their own key`,
    );
  });

  it('forgets a pod once it stops running, and its signatures with it', async () => {
    const [a, b] = pods as [FakePod, FakePod];
    const sigA = probe(a).get('sign')?.body ?? '';
    await stopPod(a);
    assert.equal(probe(a).get('uuid')?.status, 401);
    assert.equal(probe(b, { PEER_UUID: a.uuid, PEER_SIG: sigA }).get('verify-peer')?.status, 403);
    assert.deepEqual(registered(), [b.uuid]);
    await logShows(new RegExp(`forgot pod ${a.uuid}`));
  });

  it('unregisters a pod with the command its plan runs at teardown', () => {
    const b = pods[1] as FakePod;
    const dir = join(data, 'pods', 'run', b.uuid);
    const reg = register(dir, b.uuid);
    const r = spawnSync('sh', ['-c', reg.unregister], { encoding: 'utf8' });
    assert.equal(r.status, 0, r.stderr);
    assert.deepEqual(registered(), []);
    assert.equal(probe({ ...b, url: reg.url }).get('uuid')?.status, 401);
  });

  it('answers 413 to a body over 1 MiB', () => {
    const r = spawnSync(
      'curl',
      [
        '-sS',
        '--unix-socket',
        socket,
        '-X',
        'PUT',
        '--data-binary',
        '@-',
        '-w',
        '%{http_code}',
        'http://localhost/pods/x',
      ],
      { input: Buffer.alloc(1.5 * 1024 * 1024), encoding: 'utf8' },
    );
    assert.equal(r.status, 0, r.stderr);
    assert.match(r.stdout, /request too large\n413$/);
  });

  it('exits 0 on SIGTERM and removes its socket', async () => {
    service.kill('SIGTERM');
    assert.equal(await serviceExit, 0);
    assert.ok(!existsSync(socket));
    assert.match(serviceLog, /exiting/);
    assert.doesNotMatch(serviceLog, /[0-9a-f]{48}/, 'tokens are not logged');
  });
});
