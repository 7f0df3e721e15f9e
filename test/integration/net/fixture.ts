/**
 * The world of the networking tests: a network namespace the test makes (a file bind mount under
 * its temp dir) stands in for the host. rkt runs inside it (`nsenter --net`), so its veths,
 * bridges, routes, iptables rules and ip_forward live there: tests never touch the machine's own
 * network, never collide with each other's subnets, and all traffic goes to loopback or to
 * addresses inside namespaces the test made. Closing the world gc's its pods and deletes the
 * namespace with everything in it.
 */
import assert from 'node:assert/strict';
import { spawnSync, type ChildProcess } from 'node:child_process';
import {
  existsSync,
  mkdirSync,
  mkdtempSync,
  readFileSync,
  readdirSync,
  rmSync,
  writeFileSync,
} from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { readNetInfo, type NetInfo } from '../../../src/net/info.js';
import { unmountUnder } from '../../../src/pod/index.js';
import { podCgroupDirs } from '../../../src/stage1/oci/engine.js';
import { which } from '../../../src/stage1/oci/runtime.js';
import {
  projectRoot,
  waitFor,
  startCollected,
  type Running,
  type RunResult as Result,
} from '../../helpers.js';
import { buildBusyboxAci, busybox } from '../busybox-aci.js';
export { waitFor, type Running, type RunResult as Result } from '../../helpers.js';

export const rktBin = join(projectRoot, 'bin', 'rkt');

export const skip: string | false =
  process.getuid?.() !== 0
    ? 'needs root'
    : busybox === undefined
      ? 'needs busybox-static'
      : !existsSync('/usr/lib/cni/ptp')
        ? 'needs containernetworking-plugins'
        : ['iptables', 'nsenter', 'unshare', 'flock', 'ip', 'curl'].find((p) => which(p) === undefined) !==
            undefined
          ? 'needs iptables, util-linux, iproute2 and curl'
          : false;

const APPLETS = ['sh', 'httpd', 'wget', 'cat', 'sleep', 'echo', 'ip', 'hostname', 'grep', 'true'];

/** A busybox ACI whose app is `app` (exec, ports...), built by bin/actool. */
export function buildAci(work: string, name: string, app: object): string {
  return buildBusyboxAci(work, name, {
    applets: APPLETS,
    dirs: ['tmp', 'proc', 'sys', 'dev'],
    files: { 'www/index.html': `hello from ${name}\n` },
    app,
  });
}

/** An app that serves /www over HTTP on `port` (busybox httpd, in the foreground). */
export const httpd = (port: number): object => ({
  exec: ['/bin/httpd', '-f', '-p', String(port), '-h', '/www'],
  ports: [{ name: 'http', protocol: 'tcp', port }],
});

export class NetWorld {
  readonly data: string;
  readonly localConfig: string;
  readonly systemConfig: string;
  /** The namespace standing in for the host. */
  readonly hostNs: string;
  private readonly children = new Set<ChildProcess>();
  private readonly pods = new Set<string>();

  private constructor(readonly work: string) {
    this.data = join(work, 'data');
    this.localConfig = join(work, 'local');
    this.systemConfig = join(work, 'system');
    this.hostNs = join(work, 'hostns');
    mkdirSync(join(this.localConfig, 'net.d'), { recursive: true });
    mkdirSync(this.systemConfig);
  }

  static create(prefix: string): NetWorld {
    const w = new NetWorld(mkdtempSync(join(tmpdir(), prefix)));
    writeFileSync(w.hostNs, '');
    const r = spawnSync('unshare', [`--net=${w.hostNs}`, 'ip', 'link', 'set', 'lo', 'up'], {
      encoding: 'utf8',
    });
    assert.equal(r.status, 0, r.stderr);
    return w;
  }

  /** A shell command in the host stand-in; throws unless it succeeds. */
  sh(script: string): string {
    const r = spawnSync('nsenter', [`--net=${this.hostNs}`, 'sh', '-c', script], { encoding: 'utf8' });
    assert.equal(r.status, 0, `${script}: ${r.stderr}`);
    return r.stdout;
  }

  /** `sh` that may fail. */
  trySh(script: string): Result {
    const r = spawnSync('nsenter', [`--net=${this.hostNs}`, 'sh', '-c', script], { encoding: 'utf8' });
    return { code: r.status ?? 1, stdout: r.stdout, stderr: r.stderr };
  }

  /** An HTTP GET from the host stand-in (curl, 3 s at most); the body or undefined. */
  get(url: string): string | undefined {
    const r = this.trySh(`curl -sf --max-time 3 ${url}`);
    return r.code === 0 ? r.stdout : undefined;
  }

  /**
   * Another namespace the test makes, linked to the host stand-in by a veth pair (`rktt-<tag>h`
   * there, with `hostAddr`; `rktt-<tag>c` here, with `addr`, both /24): a client outside the host.
   * Returns a shell runner for it.
   */
  client(tag: string, hostAddr: string, addr: string): (script: string) => Result {
    const ns = join(this.work, `client-${tag}`);
    writeFileSync(ns, '');
    const r = spawnSync('unshare', [`--net=${ns}`, 'ip', 'link', 'set', 'lo', 'up'], { encoding: 'utf8' });
    assert.equal(r.status, 0, r.stderr);
    const [h, c] = [`rktt-${tag}h`, `rktt-${tag}c`];
    this.sh(
      `ip link add ${h} type veth peer name ${c} netns ${ns} && ip addr add ${hostAddr}/24 dev ${h} && ip link set ${h} up`,
    );
    const inClient = (script: string): Result => {
      const x = spawnSync('nsenter', [`--net=${ns}`, 'sh', '-c', script], { encoding: 'utf8' });
      return { code: x.status ?? 1, stdout: x.stdout, stderr: x.stderr };
    };
    const up = inClient(
      `ip addr add ${addr}/24 dev ${c} && ip link set ${c} up && ip route add default via ${hostAddr}`,
    );
    assert.equal(up.code, 0, up.stderr);
    return inClient;
  }

  /** Waits until `url` answers from the host stand-in; on a timeout, says what the pod and host show. */
  async waitHttp(url: string, pod: Running, uuid: string): Promise<string> {
    let body: string | undefined;
    try {
      await waitFor(url, () => (body = this.get(url)) !== undefined);
    } catch (err) {
      const inside = await this.rkt('enter', uuid, '/bin/sh', '-c', 'ip addr; ip route; cat /proc/net/tcp');
      throw new Error(
        `${(err as Error).message}\nrkt run stderr: ${pod.stderr()}\nin the pod: ${inside.stdout}${inside.stderr}\n` +
          this.trySh('ip route; ip -br addr; iptables-save -t nat').stdout,
        { cause: err },
      );
    }
    return body as string;
  }

  /** Writes a netconf into the local config's net.d. */
  conf(fileName: string, conf: object): void {
    writeFileSync(join(this.localConfig, 'net.d', fileName), JSON.stringify(conf));
  }

  /** bin/rkt in the host stand-in, with this world's data and config dirs. */
  start(args: readonly string[]): Running {
    return startCollected(
      'nsenter',
      [
        `--net=${this.hostNs}`,
        rktBin,
        `--dir=${this.data}`,
        `--local-config=${this.localConfig}`,
        `--system-config=${this.systemConfig}`,
        ...args,
      ],
      { env: { ...process.env, RKT_STOP_TIMEOUT: '3' }, children: this.children },
    );
  }

  rkt(...args: string[]): Promise<Result> {
    return this.start(args).done;
  }

  /** `rkt run` in the background; resolves once the pod runs, with its UUID. */
  async startPod(...args: string[]): Promise<{ pod: Running; uuid: string }> {
    const uuidFile = join(this.work, `uuid-${Date.now()}-${Math.random()}`);
    const pod = this.start(['--insecure-options=image', 'run', `--uuid-file-save=${uuidFile}`, ...args]);
    let exited = false;
    void pod.done.then(() => (exited = true));
    await waitFor(
      'the uuid file',
      () => exited || (existsSync(uuidFile) && readFileSync(uuidFile, 'utf8') !== ''),
    );
    assert.ok(!exited, `rkt run ended early: ${pod.stderr()}`);
    const uuid = readFileSync(uuidFile, 'utf8').trim();
    this.pods.add(uuid);
    await waitFor('the pod to run', () => exited || existsSync(join(this.data, 'pods', 'run', uuid, 'pid')));
    assert.ok(!exited, `rkt run ended early: ${pod.stderr()}`);
    return { pod, uuid };
  }

  /** Notes a pod made some other way, so that close() removes its cgroups. */
  track(uuid: string): void {
    this.pods.add(uuid);
  }

  netInfo(uuid: string): NetInfo[] {
    return readNetInfo(join(this.data, 'pods', 'run', uuid));
  }

  /** `rkt status` as key=value pairs. */
  async status(uuid: string): Promise<Record<string, string>> {
    const r = await this.rkt('status', uuid);
    assert.equal(r.code, 0, r.stderr);
    return Object.fromEntries(
      r.stdout
        .trim()
        .split('\n')
        .map((l) => [l.slice(0, l.indexOf('=')), l.slice(l.indexOf('=') + 1)]),
    );
  }

  /** Waits until `rkt status` says `state`. */
  async waitState(uuid: string, state: string, ms = 20_000): Promise<void> {
    const end = Date.now() + ms;
    while ((await this.status(uuid))['state'] !== state) {
      if (Date.now() > end) throw new Error(`timed out waiting for pod ${uuid} to be ${state}`);
      await sleep(100);
    }
  }

  /** What a pod left in the host stand-in and the data dir; empty when nothing. */
  leftovers(uuid: string): string[] {
    const out: string[] = [];
    const nat = this.sh('iptables-save');
    for (const l of nat.split('\n')) if (l.includes(uuid)) out.push(`iptables: ${l}`);
    const veths = this.sh('ip -o link show type veth')
      .split('\n')
      .filter((l) => l !== '' && !/^\d+: rktt-/.test(l));
    if (veths.length > 0) out.push(`veth: ${veths.join('\n')}`);
    const ipam = join(this.data, 'cni', 'networks');
    for (const net of existsSync(ipam) ? readdirSync(ipam) : [])
      for (const f of readdirSync(join(ipam, net))) {
        if (f === 'lock' || f.startsWith('last_reserved_ip')) continue;
        if (readFileSync(join(ipam, net, f), 'utf8').includes(uuid)) out.push(`IPAM reservation ${net}/${f}`);
      }
    for (const l of readFileSync('/proc/self/mountinfo', 'utf8').split('\n'))
      if (l.includes(uuid)) out.push(`mount: ${l}`);
    for (const state of ['prepared', 'run', 'exited-garbage', 'garbage'])
      if (existsSync(join(this.data, 'pods', state, uuid))) out.push(`pod dir in ${state}`);
    return out;
  }

  /**
   * Waits for the end of a pod's teardown: once `rkt run` has returned its status, supervisor.sh's
   * subshell runs the CNI DELs holding the pod lock (docs/stage1.md, "Networking"). Returns what
   * the teardown wrote (stage1/teardown.log; '' when none).
   */
  async teardown(uuid: string): Promise<string> {
    const dir = join(this.data, 'pods', 'run', uuid);
    await waitFor(
      `pod ${uuid}'s teardown`,
      () => !existsSync(dir) || spawnSync('flock', ['-n', '-s', dir, 'true']).status === 0,
    );
    const log = join(dir, 'stage1', 'teardown.log');
    return existsSync(log) ? readFileSync(log, 'utf8') : '';
  }

  /** gc, once every pod whose teardown has begun has finished it (a running pod is left be). */
  async gc(): Promise<void> {
    const run = join(this.data, 'pods', 'run');
    for (const uuid of existsSync(run) ? readdirSync(run) : [])
      if (existsSync(join(run, uuid, 'stage1', 'teardown.log'))) await this.teardown(uuid);
    const r = await this.rkt('gc', '--grace-period=0s', '--expire-prepared=0s');
    assert.equal(r.code, 0, r.stderr);
    assert.doesNotMatch(r.stderr, /CNI DEL|problem performing/, r.stderr);
  }

  /** Every pod of this world's data dir, by UUID, with its state dir. */
  private allPods(): [string, string][] {
    const out: [string, string][] = [];
    for (const state of ['prepare', 'prepared', 'run', 'exited-garbage', 'garbage']) {
      const d = join(this.data, 'pods', state);
      for (const uuid of existsSync(d) ? readdirSync(d) : []) out.push([uuid, state]);
    }
    return out;
  }

  /**
   * Stops every pod this world started (rkt stop --force, then SIGKILL of a supervisor that
   * outlives it), gc's them, and removes the namespace and the temp dir.
   */
  async close(): Promise<void> {
    const inNs = (...args: string[]) =>
      spawnSync('nsenter', [`--net=${this.hostNs}`, rktBin, `--dir=${this.data}`, ...args], {
        stdio: 'ignore',
      });
    for (const [uuid] of this.allPods()) this.pods.add(uuid);
    for (const [uuid, state] of this.allPods()) {
      if (state !== 'run') continue;
      inNs('stop', '--force', uuid);
      const pidFile = join(this.data, 'pods', 'run', uuid, 'pid');
      const pid = existsSync(pidFile) ? Number(readFileSync(pidFile, 'utf8')) : NaN;
      const alive = (): boolean => {
        try {
          process.kill(pid, 0);
          return readFileSync(`/proc/${pid}/cmdline`, 'utf8').includes('rkt-plan');
        } catch {
          return false;
        }
      };
      const end = Date.now() + 10_000;
      while (Number.isInteger(pid) && alive() && Date.now() < end) await sleep(100);
      if (Number.isInteger(pid) && alive()) process.kill(pid, 'SIGKILL');
    }
    for (const c of this.children) if (c.pid !== undefined && c.exitCode === null) c.kill('SIGKILL');
    // Pods whose teardown (the CNI DELs after the status) still runs: gc after it.
    const run = join(this.data, 'pods', 'run');
    for (const uuid of existsSync(run) ? readdirSync(run) : [])
      if (existsSync(join(run, uuid, 'stage1', 'teardown.log')))
        await this.teardown(uuid).catch(() => undefined);
    for (let i = 0; i < 2; i++) inNs('gc', '--grace-period=0s', '--expire-prepared=0s');
    unmountUnder(this.work);
    for (const uuid of this.pods) for (const d of podCgroupDirs(`rkt-${uuid}`)) spawnSync('rmdir', [d]);
    rmSync(this.work, { recursive: true, force: true });
  }
}
