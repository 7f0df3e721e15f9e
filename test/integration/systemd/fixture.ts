/**
 * Pods for the logs and systemd integration tests: busybox ACIs built by bin/actool, `rkt run`
 * through bin/rkt with its own --dir, and a cleanup that removes every pod, mount and cgroup made.
 */
import { spawnSync, type ChildProcess } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { unmountUnder } from '../../../src/pod/index.js';
import { podCgroupDirs } from '../../../src/stage1/oci/engine.js';
import { which } from '../../../src/stage1/oci/runtime.js';
import { projectRoot, startCollected, type Running, type RunResult as Result } from '../../helpers.js';
import { buildBusyboxAci, busybox } from '../busybox-aci.js';
export { waitFor, type Running, type RunResult as Result } from '../../helpers.js';

export const rktBin = join(projectRoot, 'bin', 'rkt');
const APPLETS = ['sh', 'cat', 'echo', 'sleep', 'true', 'ls', 'readlink', 'ln', 'logger', 'seq', 'test'];

export const podSkip: string | false =
  process.getuid?.() !== 0
    ? 'needs root'
    : busybox === undefined
      ? 'needs busybox-static'
      : which('flock') === undefined || which('mawk') === undefined
        ? 'needs flock and mawk'
        : which('crun') === undefined && which('runc') === undefined
          ? 'needs crun or runc'
          : false;

export class PodFixture {
  readonly work: string;
  readonly data: string;
  private readonly children = new Set<ChildProcess>();
  private readonly uuids = new Set<string>();

  constructor(prefix: string) {
    this.work = mkdtempSync(join(tmpdir(), prefix));
    this.data = join(this.work, 'data');
  }

  /** A busybox ACI running `app` (exec, ports...), with image annotations. */
  buildAci(name: string, app: object, annotations: { name: string; value: string }[] = []): string {
    return buildBusyboxAci(this.work, name, {
      applets: APPLETS,
      dirs: ['tmp', 'proc', 'sys', 'dev', 'run'],
      app,
      annotations,
    });
  }

  /** Runs `cmd args` (default bin/rkt); output collected. */
  start(args: string[], env: NodeJS.ProcessEnv = {}, cmd = rktBin): Running {
    return startCollected(cmd, args, {
      env: { ...process.env, RKT_STOP_TIMEOUT: '5', ...env },
      children: this.children,
    });
  }

  rkt(...args: string[]): Promise<Result> {
    return this.start([`--dir=${this.data}`, ...args]).done;
  }

  /** `rkt run` arguments with a uuid file; returns them and a reader of the UUID. */
  runArgs(...args: string[]): { args: string[]; uuid: () => string | undefined } {
    const file = join(this.work, `uuid-${Date.now()}-${Math.random()}`);
    return {
      args: [
        `--dir=${this.data}`,
        '--insecure-options=image',
        'run',
        '--net=none',
        `--uuid-file-save=${file}`,
        ...args,
      ],
      uuid: () => {
        if (!existsSync(file)) return undefined;
        const u = readFileSync(file, 'utf8').trim();
        if (u === '') return undefined;
        this.uuids.add(u);
        return u;
      },
    };
  }

  podDir(uuid: string, state = 'run'): string {
    return join(this.data, 'pods', state, uuid);
  }

  cleanup(): void {
    for (const c of this.children) if (c.pid !== undefined) process.kill(c.pid, 'SIGKILL');
    for (let i = 0; i < 2; i++)
      spawnSync(rktBin, [`--dir=${this.data}`, 'gc', '--grace-period=0s', '--expire-prepared=0s'], {
        stdio: 'ignore',
      });
    unmountUnder(this.work);
    for (const uuid of this.uuids) for (const d of podCgroupDirs(`rkt-${uuid}`)) spawnSync('rmdir', [d]);
    rmSync(this.work, { recursive: true, force: true });
  }
}

export const sh = (script: string): string[] => ['--exec', '/bin/sh', '--', '-c', script];
