/**
 * `rkt gc` and `rkt rm` (rkt.md §2.4): mark exited pods and aborted prepares, expire prepared pods,
 * then delete garbage. Deleting a pod takes its exclusive lock (skipped if anyone holds it), calls
 * every registered engine hook (networks, cgroups, namespace files), unmounts whatever is still
 * mounted under the pod dir (as root), and removes the dir.
 */
import { launcherGone } from './launcher.js';
import { renameSync, rmSync, statSync } from 'node:fs';
import { rm } from 'node:fs/promises';
import { RocketError, errorMessage } from '../errors.js';
import { mountsUnder, unescapeMountPath, unmountUnder } from '../host/mounts.js';

export { mountsUnder, unescapeMountPath, unmountUnder };
import { DirLock } from './lock.js';
import { readPod, type PodInfo } from './pod.js';
import {
  PodsLayout,
  errnoCode,
  locatePod,
  settledStateOf,
  stateOf,
  transition,
  walkPods,
  type StateDir,
} from './state.js';

/**
 * A cleanup for a pod about to be deleted; called with the pod's exclusive lock held. The
 * network's and every engine's (engine-gc.ts) run first, then any registered here.
 */
export interface PodGcHook {
  readonly name: string;
  gc(pod: PodInfo): void | Promise<void>;
}

const hooks: PodGcHook[] = [];

/** Registers a further cleanup; a hook of the same name is replaced. */
export function registerPodGcHook(hook: PodGcHook): void {
  const i = hooks.findIndex((h) => h.name === hook.name);
  if (i >= 0) hooks.splice(i, 1, hook);
  else hooks.push(hook);
}

async function defaultHooks(): Promise<PodGcHook[]> {
  const { ENGINE_GC_HOOKS } = await import('./engine-gc.js');
  return [...ENGINE_GC_HOOKS, ...hooks];
}

/** Where gc writes: rkt prints progress to stderr (prefixed by the verb) and removals to stdout. */
export interface GcOutput {
  stdout(line: string): void;
  stderr(line: string): void;
}

export const SILENT: GcOutput = { stdout: () => undefined, stderr: () => undefined };

export interface GcOptions {
  gracePeriodMs: number;
  expirePreparedMs: number;
  markOnly: boolean;
  out?: GcOutput;
  /** Hooks to call (default: the network's, the engines' and the registered ones). */
  hooks?: readonly PodGcHook[];
  now?: () => number;
}

/**
 * How a pod's files go once its hooks have run: with `background` (a long-lived caller, the CRI
 * service), the pod dir is renamed into garbage/ and removed off the main thread, its lock held
 * until then (gc skips it meanwhile, and deletes what a killed process left there); the removal's
 * promise is handed to `background`. Otherwise removed before deletePod returns.
 */
export interface DeleteOptions {
  hooks?: readonly PodGcHook[];
  out?: GcOutput;
  background?: (removal: Promise<void>) => void;
}

/**
 * Deletes a pod in exited-garbage or garbage. Returns false if it is locked (being deleted or still
 * in use) or already gone; throws if removal fails.
 */
export async function deletePod(
  layout: PodsLayout,
  uuid: string,
  from: 'exited-garbage' | 'garbage',
  opts: DeleteOptions = {},
): Promise<boolean> {
  const path = layout.podDir(from, uuid);
  let lock: DirLock | undefined;
  try {
    lock = DirLock.tryAcquire(path, 'exclusive');
  } catch (err) {
    if (errnoCode(err) === 'ENOENT') return false;
    throw err;
  }
  if (lock === undefined) return false;
  const out = opts.out ?? SILENT;
  let held = false;
  try {
    const pod = readPod(layout, { uuid, stateDir: from, path });
    if (pod !== undefined) {
      for (const hook of opts.hooks ?? (await defaultHooks())) {
        try {
          await hook.gc(pod);
        } catch (err) {
          out.stderr(`problem performing ${hook.name} GC on ${JSON.stringify(uuid)}: ${errorMessage(err)}`);
        }
      }
    }
    unmountUnder(path);
    if (opts.background !== undefined) {
      let dir = path;
      if (from !== 'garbage') {
        const trash = layout.podDir('garbage', uuid);
        try {
          renameSync(path, trash);
          dir = trash;
        } catch {
          // removed where it is
        }
      }
      const kept = lock;
      held = true;
      opts.background(rm(dir, { recursive: true, force: true }).finally(() => kept.release()));
      return true;
    }
    rmSync(path, { recursive: true, force: true });
    return true;
  } finally {
    if (!held) lock.release();
  }
}

/**
 * Age from the ctime, in whole milliseconds like `now`: file times are finer than Date.now(), so a
 * pod marked in this very millisecond would otherwise be younger than zero and escape a zero grace
 * period.
 */
function ageMs(path: string, now: number): number | undefined {
  try {
    return now - Math.floor(statSync(path).ctimeMs);
  } catch {
    return undefined;
  }
}

const goDuration = (ms: number): string => {
  // rkt prints Go durations; whole hours/minutes/seconds as Go formats them (e.g. 30m0s, 24h0m0s).
  if (ms === 0) return '0s';
  const h = Math.floor(ms / 3_600_000);
  const m = Math.floor((ms % 3_600_000) / 60_000);
  const s = (ms % 60_000) / 1000;
  return h > 0 ? `${h}h${m}m${s}s` : m > 0 ? `${m}m${s}s` : `${s}s`;
};

export interface GcResult {
  marked: string[];
  deleted: string[];
  failed: string[];
}

/** One `rkt gc` pass. */
export async function gcPods(dataDir: string, opts: GcOptions): Promise<GcResult> {
  const layout = new PodsLayout(dataDir);
  layout.ensure();
  const out = opts.out ?? SILENT;
  const now = opts.now ?? Date.now;
  const res: GcResult = { marked: [], deleted: [], failed: [] };
  const move = (uuid: string, from: StateDir, to: StateDir) => {
    try {
      if (transition(layout, uuid, from, to)) res.marked.push(uuid);
    } catch (err) {
      out.stderr(`rename error: ${errorMessage(err)}`);
    }
  };
  // 1. exited pods → exited-garbage
  for (const p of walkPods(layout, ['run'])) {
    if ((await settledStateOf(layout, 'run', p.uuid)) !== 'exited') continue;
    out.stderr(`moving pod ${JSON.stringify(p.uuid)} to garbage`);
    move(p.uuid, 'run', 'exited-garbage');
  }
  // 2. aborted prepares → garbage
  for (const p of walkPods(layout, ['prepare'])) {
    if (stateOf(layout, 'prepare', p.uuid) !== 'aborted prepare') continue;
    out.stderr(`moving failed prepare ${JSON.stringify(p.uuid)} to garbage`);
    move(p.uuid, 'prepare', 'garbage');
  }
  // 2b. pods `rkt run` prepared whose launcher died before running them (src/pod/launcher.ts)
  for (const p of walkPods(layout, ['prepared'])) {
    if (!launcherGone(p.path)) continue;
    out.stderr(`moving abandoned prepared pod ${JSON.stringify(p.uuid)} to garbage`);
    move(p.uuid, 'prepared', 'garbage');
  }
  if (opts.markOnly) return res;
  // 3. expired prepared pods → garbage
  for (const p of walkPods(layout, ['prepared'])) {
    const age = ageMs(p.path, now());
    if (age === undefined || age < opts.expirePreparedMs) continue;
    out.stderr(`moving expired prepared pod ${JSON.stringify(p.uuid)} to garbage`);
    move(p.uuid, 'prepared', 'garbage');
  }
  // 4. exited garbage past the grace period (counted from the mark: the rename sets the ctime)
  const remove = async (uuid: string, from: 'exited-garbage' | 'garbage') => {
    out.stdout(`Garbage collecting pod ${JSON.stringify(uuid)}`);
    try {
      if (await deletePod(layout, uuid, from, { ...(opts.hooks ? { hooks: opts.hooks } : {}), out }))
        res.deleted.push(uuid);
    } catch (err) {
      res.failed.push(uuid);
      out.stderr(`unable to remove pod ${JSON.stringify(uuid)}: ${errorMessage(err)}`);
    }
  };
  for (const p of walkPods(layout, ['exited-garbage'])) {
    const age = ageMs(p.path, now());
    if (age === undefined) continue;
    if (age >= opts.gracePeriodMs) await remove(p.uuid, 'exited-garbage');
    else
      out.stderr(
        `pod ${JSON.stringify(p.uuid)} not removed: still within grace period (${goDuration(opts.gracePeriodMs)})`,
      );
  }
  // 5. garbage, at once
  for (const p of walkPods(layout, ['garbage'])) await remove(p.uuid, 'garbage');
  return res;
}

/**
 * `rkt rm` of one pod (by full UUID): refuses running, preparing and deleting pods; moves prepared
 * and aborted pods to garbage and exited ones to exited-garbage; then deletes at once.
 */
export async function removePod(dataDir: string, uuid: string, opts: DeleteOptions = {}): Promise<void> {
  const layout = new PodsLayout(dataDir);
  layout.ensure();
  const out = opts.out ?? SILENT;
  const loc = locatePod(layout, uuid);
  const state = loc === undefined ? undefined : await settledStateOf(layout, loc.stateDir, uuid);
  const q = JSON.stringify(uuid);
  const refuse = (why: string): never => {
    throw new RocketError(`pod ${q} is currently ${why}`, 'failed-precondition');
  };
  let from: 'exited-garbage' | 'garbage';
  switch (state) {
    case undefined:
      throw new RocketError(`no matches found for ${q}`, 'not-found');
    case 'running':
      return refuse('running');
    case 'embryo':
    case 'preparing':
      return refuse('being prepared');
    case 'deleting':
    case 'exited deleting':
      return refuse('being deleted');
    case 'aborted prepare':
      out.stderr(`moving failed prepare ${q} to garbage`);
      transition(layout, uuid, 'prepare', 'garbage');
      from = 'garbage';
      break;
    case 'prepared':
      out.stderr(`moving expired prepared pod ${q} to garbage`);
      transition(layout, uuid, 'prepared', 'garbage');
      from = 'garbage';
      break;
    case 'exited':
      transition(layout, uuid, 'run', 'exited-garbage');
      from = 'exited-garbage';
      break;
    case 'exited garbage':
      from = 'exited-garbage';
      break;
    case 'garbage':
      from = 'garbage';
      break;
  }
  if (!(await deletePod(layout, uuid, from, opts)))
    throw new RocketError(`unable to acquire exclusive lock on pod ${q}`, 'unavailable');
}
