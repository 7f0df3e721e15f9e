/**
 * What the CRI integration tests share: bin/rkt cri-service started (directly or under a command
 * such as `unshare --net --`) and waited for until it listens, stopped by SIGTERM with exit 0, a
 * busybox ACI fetched into its data dir, unary calls through a generated client, and the clean-up
 * of the pods a test left (stopped, gc'd, unmounted, cgroups removed, the work dir removed).
 */
import assert from 'node:assert/strict';
import { spawnSync, type ChildProcess } from 'node:child_process';
import { rmSync } from 'node:fs';
import { join } from 'node:path';
import type * as grpc from '@grpc/grpc-js';
import { unmountUnder } from '../../../src/pod/index.js';
import { podCgroupDirs } from '../../../src/stage1/oci/engine.js';
import { which } from '../../../src/stage1/oci/runtime.js';
import { projectRoot, startCollected, waitFor, type Running } from '../../helpers.js';
import { podTestsMissing } from '../busybox-aci.js';

export const rktBin = join(projectRoot, 'bin', 'rkt');

type Unary = (req: object, cb: (err: grpc.ServiceError | null, res: unknown) => void) => void;

/** Calls a unary method of a generated client. */
export function unary<T>(client: grpc.Client, method: string, req: object = {}): Promise<T> {
  return new Promise((resolve, reject) => {
    const fn = ((client as unknown as Record<string, Unary>)[method] as Unary).bind(client);
    fn(req, (err, res) => (err === null ? resolve(res as T) : reject(err)));
  });
}

/** The call fails with `code`, a one-line detail matching `detail`. */
export async function rejects(p: Promise<unknown>, code: grpc.status, detail?: RegExp): Promise<void> {
  await assert.rejects(p, (e: grpc.ServiceError) => {
    assert.equal(e.code, code, e.details);
    if (detail !== undefined) assert.match(e.details, detail);
    assert.ok(!e.details.includes('\n'), `one line: ${e.details}`);
    return true;
  });
}

/** The pod UUID of a sandbox id (the UUID without dashes). */
export const uuidOf = (id: string): string =>
  `${id.slice(0, 8)}-${id.slice(8, 12)}-${id.slice(12, 16)}-${id.slice(16, 20)}-${id.slice(20)}`;

/**
 * Starts `rkt --dir=DATA cri-service --listen=unix://SOCK ARGS...`, behind `wrapper` (e.g.
 * `['unshare', '--net', '--']`) if given, and waits until it says it listens.
 */
export async function startCriService(opts: {
  data: string;
  sock: string;
  args?: string[];
  wrapper?: string[];
  env?: NodeJS.ProcessEnv;
  children?: Set<ChildProcess>;
}): Promise<Running> {
  const argv = [
    ...(opts.wrapper ?? []),
    rktBin,
    `--dir=${opts.data}`,
    'cri-service',
    `--listen=unix://${opts.sock}`,
    ...(opts.args ?? []),
  ];
  const [cmd = rktBin, ...args] = argv;
  const proc = startCollected(cmd, args, {
    ...(opts.env !== undefined ? { env: opts.env } : {}),
    ...(opts.children !== undefined ? { children: opts.children } : {}),
  });
  let ended = false;
  void proc.exited.then(() => (ended = true));
  await waitFor('cri-service listening', () => ended || proc.stderr().includes('Listening on'));
  assert.ok(!ended, `cri-service ended: ${proc.stderr()}`);
  return proc;
}

/** SIGTERM; the service must exit 0. */
export async function stopCriService(proc: Running): Promise<void> {
  proc.child.kill('SIGTERM');
  const r = await proc.done;
  assert.equal(r.code, 0, r.stderr);
}

/** Fetches an ACI into the data dir; its image id. */
export function fetchAci(data: string, aci: string): string {
  const r = spawnSync(rktBin, [`--dir=${data}`, '--insecure-options=image', 'fetch', aci], {
    encoding: 'utf8',
  });
  assert.equal(r.status, 0, r.stderr);
  const id = r.stdout.trim();
  assert.match(id, /^sha512-/);
  return id;
}

/**
 * After a suite: the processes of `children` still running are killed; the pods of `sandboxes` a
 * failed test left are stopped (the supervisor TERMs and KILLs the apps, then ends) and collected
 * by rkt itself; then what is left under `work` is unmounted, the pods' cgroups and `work` removed.
 */
export async function cleanUp(
  work: string,
  data: string,
  sandboxes: Iterable<string>,
  children: Set<ChildProcess>,
): Promise<void> {
  for (const c of children) if (c.pid !== undefined && c.exitCode === null) c.kill('SIGKILL');
  const ids = [...sandboxes];
  for (const id of ids)
    for (const force of [[], ['--force']])
      spawnSync(rktBin, [`--dir=${data}`, 'stop', ...force, uuidOf(id)], { stdio: 'ignore' });
  for (const id of ids)
    await waitFor(`pod ${uuidOf(id)} to end`, () => {
      const s = spawnSync(rktBin, [`--dir=${data}`, 'status', uuidOf(id)], { encoding: 'utf8' });
      return !/^state=running$/m.test(s.stdout);
    }).catch(() => undefined);
  for (let i = 0; i < 2; i++)
    spawnSync(rktBin, [`--dir=${data}`, 'gc', '--grace-period=0s', '--expire-prepared=0s'], {
      stdio: 'ignore',
    });
  unmountUnder(work);
  for (const id of ids) for (const d of podCgroupDirs(`rkt-${uuidOf(id)}`)) spawnSync('rmdir', [d]);
  rmSync(work, { recursive: true, force: true });
}

/**
 * Why the CRI pod tests with OCI runtime `runtime` cannot run here, or false: what the pod tests
 * need (busybox-aci.ts), the runtime, and each of `tools` ([program, reason]).
 */
export function criPodTestsMissing(runtime: string, tools: [string, string][]): string | false {
  if (podTestsMissing !== false) return podTestsMissing;
  if (which(runtime) === undefined) return `${runtime} is not installed`;
  return tools.find(([program]) => which(program) === undefined)?.[1] ?? false;
}
