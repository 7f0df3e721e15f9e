/**
 * Shared by the fly, export, interactive and wait-ready integration tests: a busybox-static ACI built
 * by bin/actool, and a runner for bin/rkt with its own data dir that cleans up every pod, mount and
 * cgroup it made.
 */
import assert from 'node:assert/strict';
import { spawnSync, type ChildProcess } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, readdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
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
export { busybox } from '../busybox-aci.js';
export { waitFor, type Running, type RunResult as Result } from '../../helpers.js';

export const rktBin = join(projectRoot, 'bin', 'rkt');
export const actoolBin = join(projectRoot, 'bin', 'actool');

/** Why pod tests cannot run here, or false. */
export function podTestSkip(...programs: string[]): string | false {
  if (process.getuid?.() !== 0) return 'needs root';
  if (busybox === undefined) return 'needs busybox-static';
  for (const p of ['flock', 'unshare', 'nsenter', 'setpriv', ...programs])
    if (which(p) === undefined) return `needs ${p}`;
  return false;
}

const APPLETS = [
  'sh',
  'cat',
  'id',
  'head',
  'tail',
  'sleep',
  'true',
  'grep',
  'echo',
  'ls',
  'rm',
  'mkdir',
  'readlink',
  'touch',
  'tty',
  'stty',
  'pwd',
  'env',
];

/** An ACI of busybox-static with /etc/passwd (root, alice 1234) and /etc/group (root, staff 4321). */
export function buildAci(work: string, name: string, app: object): string {
  return buildBusyboxAci(work, name, {
    applets: APPLETS,
    dirs: ['tmp', 'home/alice'],
    files: {
      'etc/passwd': 'root:x:0:0:root:/:/bin/sh\nalice:x:1234:4321::/home/alice:/bin/sh\n',
      'etc/group': 'root:x:0:\nstaff:x:4321:\n',
      'var/old/keep': 'from the image\n',
      'etc/motd': 'from the image\n',
    },
    app,
  });
}

/** bin/rkt with its own data dir under a temp work dir; `cleanup` removes every trace. */
export class Rkt {
  readonly work: string;
  readonly data: string;
  private readonly children = new Set<ChildProcess>();
  private readonly uuids = new Set<string>();

  constructor(prefix: string) {
    this.work = mkdtempSync(join(tmpdir(), prefix));
    this.data = join(this.work, 'data');
  }

  start(args: string[], env: NodeJS.ProcessEnv = {}): Running {
    return startCollected(rktBin, [`--dir=${this.data}`, ...args], {
      env: { ...process.env, RKT_STOP_TIMEOUT: '5', ...env },
      children: this.children,
    });
  }

  run(...args: string[]): Promise<Result> {
    return this.start(args).done;
  }

  /** `rkt run --insecure-options=image --uuid-file-save=F ARGS`: the pod and its UUID once it runs. */
  async startPod(args: string[]): Promise<{ pod: Running; uuid: string }> {
    const uuidFile = join(this.work, `uuid-${Date.now()}-${Math.random()}`);
    const pod = this.start(['--insecure-options=image', 'run', `--uuid-file-save=${uuidFile}`, ...args]);
    await waitFor('the uuid file', () => existsSync(uuidFile) && readFileSync(uuidFile, 'utf8') !== '');
    const uuid = readFileSync(uuidFile, 'utf8').trim();
    this.uuids.add(uuid);
    await waitFor('the pod to run', () => existsSync(join(this.data, 'pods', 'run', uuid, 'pid')));
    return { pod, uuid };
  }

  /** `rkt run` to the end; the result and the pod's UUID. */
  async runPod(args: string[]): Promise<Result & { uuid: string }> {
    const uuidFile = join(this.work, `uuid-${Date.now()}-${Math.random()}`);
    const r = await this.run('--insecure-options=image', 'run', `--uuid-file-save=${uuidFile}`, ...args);
    const uuid = existsSync(uuidFile) ? readFileSync(uuidFile, 'utf8').trim() : '';
    if (uuid !== '') this.uuids.add(uuid);
    return { ...r, uuid };
  }

  remember(uuid: string): void {
    this.uuids.add(uuid);
  }

  async status(uuid: string): Promise<Record<string, string>> {
    const r = await this.run('status', uuid);
    assert.equal(r.code, 0, r.stderr);
    return Object.fromEntries(
      r.stdout
        .trim()
        .split('\n')
        .map((l) => [l.slice(0, l.indexOf('=')), l.slice(l.indexOf('=') + 1)]),
    );
  }

  /** Mount points under the data dir in this (the host's) mount namespace. */
  hostMounts(): string[] {
    return readFileSync('/proc/self/mountinfo', 'utf8')
      .split('\n')
      .filter((l) => l.includes(this.data));
  }

  cleanup(): void {
    for (const c of this.children) if (c.pid !== undefined) process.kill(c.pid, 'SIGKILL');
    const pods = join(this.data, 'pods');
    for (const state of existsSync(pods) ? readdirSync(pods) : [])
      for (const uuid of readdirSync(join(pods, state))) this.uuids.add(uuid);
    for (let i = 0; i < 2; i++)
      spawnSync(rktBin, [`--dir=${this.data}`, 'gc', '--grace-period=0s', '--expire-prepared=0s'], {
        stdio: 'ignore',
      });
    unmountUnder(this.work);
    for (const uuid of this.uuids) for (const d of podCgroupDirs(`rkt-${uuid}`)) spawnSync('rmdir', [d]);
    rmSync(this.work, { recursive: true, force: true });
  }
}
