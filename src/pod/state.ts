/**
 * Pod state on disk, as rkt keeps it (rkt.md §2.3): `<dir>/pods/<state dir>/<uuid>`, where the
 * state is the directory the pod sits in plus whether the pod directory is flock-ed exclusively.
 * Every transition is one rename(2); a rename that loses a race (ENOENT) is ignored by its caller.
 * Everything read here may be stale as soon as it is returned.
 */
import { existsSync, mkdirSync, readFileSync, readdirSync, renameSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { RocketError } from '../errors.js';
import { isLockedExclusively } from './lock.js';
import { POD_FILES } from '../pod-layout.js';

export { POD_FILES };

export const STATE_DIRS = ['embryo', 'prepare', 'prepared', 'run', 'exited-garbage', 'garbage'] as const;
export type StateDir = (typeof STATE_DIRS)[number];

/** rkt's state names (pkg/pod/pods.go). */
export type PodState =
  | 'embryo'
  | 'preparing'
  | 'aborted prepare'
  | 'prepared'
  | 'running'
  | 'deleting'
  | 'exited deleting'
  | 'exited'
  | 'exited garbage'
  | 'garbage';

export class PodsLayout {
  readonly podsDir: string;

  constructor(readonly dataDir: string) {
    this.podsDir = join(dataDir, 'pods');
  }

  stateDir(d: StateDir): string {
    return join(this.podsDir, d);
  }

  podDir(d: StateDir, uuid: string): string {
    return join(this.podsDir, d, uuid);
  }

  /** Creates `pods/` and its state dirs (idempotent). */
  ensure(): void {
    for (const d of STATE_DIRS) mkdirSync(this.stateDir(d), { recursive: true, mode: 0o750 });
  }
}

export function errnoCode(err: unknown): string | undefined {
  return (err as NodeJS.ErrnoException | undefined)?.code;
}

/** The state of a pod sitting in `dir`, from its lock (undefined if the directory has vanished). */
export function stateOf(layout: PodsLayout, d: StateDir, uuid: string): PodState | undefined {
  if (d === 'embryo') return 'embryo';
  if (d === 'prepared') return 'prepared';
  let locked: boolean;
  try {
    locked = isLockedExclusively(layout.podDir(d, uuid));
  } catch (err) {
    if (errnoCode(err) === 'ENOENT') return undefined;
    throw err;
  }
  // A pod renamed onwards and then unlocked between our open and our lock test (prepare → prepared)
  // looked unlocked here: it counts only if it is still in `d` after the test.
  if (!locked && !existsSync(layout.podDir(d, uuid))) return undefined;
  switch (d) {
    case 'prepare':
      return locked ? 'preparing' : 'aborted prepare';
    case 'run':
      return locked ? 'running' : 'exited';
    case 'exited-garbage':
      return locked ? 'exited deleting' : 'exited garbage';
    case 'garbage':
      return locked ? 'deleting' : 'garbage';
  }
}

/**
 * The marker the supervisor of a `rkt run` pod writes when its apps have all ended and the rest of
 * its teardown (unmounts, removals, cgroups; with CNI networks the DELs) goes on in the background,
 * the pod lock held (src/stage1/oci/supervisor.sh). Its text is `local` when the teardown is only
 * this machine's unmounts and removals (no CNI), empty otherwise.
 */
export const TEARDOWN_MARKER = 'stage1/tearing-down';

/** Whether a pod's background teardown, if any, is a local one (its marker says `local`). */
export function localTeardown(podDir: string): boolean {
  try {
    return readFileSync(join(podDir, TEARDOWN_MARKER), 'utf8').trim() === 'local';
  } catch {
    return false;
  }
}

/**
 * Waits (up to `timeoutMs`) for a running pod whose apps have ended to finish its teardown, so that
 * `rkt rm` and `rkt gc` right after `rkt run` find it exited as rkt's would be; returns its state
 * then. A pod without the marker is returned as it is.
 */
export async function settledStateOf(
  layout: PodsLayout,
  d: StateDir,
  uuid: string,
  timeoutMs = 30_000,
): Promise<PodState | undefined> {
  let state = stateOf(layout, d, uuid);
  if (d !== 'run' || state !== 'running' || !existsSync(join(layout.podDir(d, uuid), TEARDOWN_MARKER)))
    return state;
  const until = Date.now() + timeoutMs;
  while (state === 'running' && Date.now() < until) {
    await new Promise((r) => setTimeout(r, 10));
    state = stateOf(layout, d, uuid);
  }
  return state;
}

/** Where a pod is: its state dir and path. */
export interface PodLocation {
  uuid: string;
  stateDir: StateDir;
  path: string;
}

const UUID_RE = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/;

/** Every pod in the given state dirs (others' temp names ignored), in state-dir then uuid order. */
export function walkPods(layout: PodsLayout, dirs: readonly StateDir[] = STATE_DIRS): PodLocation[] {
  const out: PodLocation[] = [];
  for (const d of dirs) {
    let names: string[];
    try {
      names = readdirSync(layout.stateDir(d));
    } catch (err) {
      if (errnoCode(err) === 'ENOENT') continue;
      throw err;
    }
    for (const uuid of names.sort()) {
      if (UUID_RE.test(uuid)) out.push({ uuid, stateDir: d, path: layout.podDir(d, uuid) });
    }
  }
  return out;
}

/** Finds a pod where it is now (after possible renames by others), or undefined if it is gone. */
export function locatePod(layout: PodsLayout, uuid: string): PodLocation | undefined {
  // rkt's order: the earlier states first, so a pod moving forward is still found.
  for (const d of STATE_DIRS) {
    const path = layout.podDir(d, uuid);
    try {
      if (statSync(path).isDirectory()) return { uuid, stateDir: d, path };
    } catch (err) {
      if (errnoCode(err) !== 'ENOENT') throw err;
    }
  }
  return undefined;
}

/**
 * Resolves an unambiguous, case-insensitive UUID prefix (dashes optional) to a pod's UUID, with
 * rkt's messages.
 */
export function resolveUuidPrefix(layout: PodsLayout, prefix: string): string {
  const want = prefix.toLowerCase().replace(/-/g, '');
  if (want === '' || !/^[0-9a-f]+$/.test(want))
    throw new RocketError(`no matches found for ${JSON.stringify(prefix)}`, 'not-found');
  // A whole UUID matches at most its own pod: looked up where it is, without listing every pod.
  if (want.length === 32) {
    const uuid = [
      want.slice(0, 8),
      want.slice(8, 12),
      want.slice(12, 16),
      want.slice(16, 20),
      want.slice(20),
    ].join('-');
    if (UUID_RE.test(uuid) && locatePod(layout, uuid) !== undefined) return uuid;
    throw new RocketError(`no matches found for ${JSON.stringify(prefix)}`, 'not-found');
  }
  const matches = new Set<string>();
  for (const p of walkPods(layout)) if (p.uuid.replace(/-/g, '').startsWith(want)) matches.add(p.uuid);
  if (matches.size === 0)
    throw new RocketError(`no matches found for ${JSON.stringify(prefix)}`, 'not-found');
  if (matches.size > 1) throw new RocketError(`ambiguous uuid, ${matches.size} matches`, 'invalid-argument');
  return [...matches][0] as string;
}

/**
 * Moves a pod between state dirs. Returns false if it was no longer at `from` (someone else moved
 * or deleted it: the loser of a race ignores ENOENT).
 */
export function transition(layout: PodsLayout, uuid: string, from: StateDir, to: StateDir): boolean {
  try {
    renameSync(layout.podDir(from, uuid), layout.podDir(to, uuid));
    return true;
  } catch (err) {
    if (errnoCode(err) === 'ENOENT') return false;
    throw err;
  }
}

/** When gc marked the pod: the ctime of its dir, renamed into exited-garbage/ or garbage/. */
export function gcMarkedAt(p: PodLocation): Date | undefined {
  if (p.stateDir !== 'exited-garbage' && p.stateDir !== 'garbage') return undefined;
  try {
    return statSync(p.path).ctime;
  } catch {
    return undefined;
  }
}
