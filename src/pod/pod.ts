/**
 * Pods on disk: prepare (embryo → prepare, locked → trees rendered → prepared), reading a pod's
 * manifest, times and exit codes, `rm`, and the sets of trees and images pods still use.
 *
 * The contract with an engine (stage1) is in `PodRuntimeView` below and in README/issue notes:
 * the engine receives the pod dir, already in `run/` and locked exclusively by a `DirLock` whose fd
 * it must hand to the pod's process tree (and keep open there) for as long as any app runs.
 */
import { randomUUID } from 'node:crypto';
import {
  chmodSync,
  chownSync,
  closeSync,
  fstatSync,
  mkdirSync,
  openSync,
  readFileSync,
  renameSync,
  rmSync,
  statSync,
  writeFileSync,
  type BigIntStats,
} from 'node:fs';
import { dirname, join } from 'node:path';
import { parsePodManifest, podManifestToJSON, type PodManifest } from '../appc/index.js';
import { RocketError, errorMessage } from '../errors.js';
import { FileLock } from '../store/flock.js';
import type { RenderedTree, Store } from '../store/index.js';
import { DirLock } from './lock.js';
import { appExitCode, appTreeStoreId } from '../pod-layout.js';

export { appExitCode };
import {
  imageNameOf,
  podSummaryText,
  podSummaryTextFor,
  readPodSummary,
  POD_SUMMARY_FILE,
  type ListedManifest,
} from './summary.js';

export { appTreeStoreId };
import type { BuiltManifest } from './manifest.js';
import {
  POD_FILES,
  PodsLayout,
  errnoCode,
  localTeardown,
  locatePod,
  resolveUuidPrefix,
  settledStateOf,
  stateOf,
  transition,
  walkPods,
  type PodLocation,
  type PodState,
  type StateDir,
} from './state.js';

let tempCount = 0;

/**
 * Writes `data` to `path` through a temp file in the same dir, renamed into place: readers see the
 * old file or the whole new one. Not fsynced: a pod does not outlive a crash of the machine (its
 * mounts and processes are gone), and stage0's start time counts every fsync. The temp name is
 * this process's (pid and a counter: no two live processes share a pid, and a dead one's leftover
 * is truncated), not random: the first random UUID costs a millisecond of crypto set-up.
 */
export function writeFileAtomic(path: string, data: string | Buffer, mode = 0o640): void {
  const tmp = join(dirname(path), `.${process.pid}.${tempCount++}.tmp`);
  const fd = openSync(tmp, 'w', mode);
  try {
    writeFileSync(fd, data);
  } finally {
    closeSync(fd);
  }
  renameSync(tmp, path);
}

export interface PrepareOptions {
  dataDir: string;
  store: Store;
  built: BuiltManifest;
  /** `--uuid-file-save`: written as soon as the UUID exists, so a failed prepare can be removed. */
  uuidFileSave?: string;
  /**
   * End in `run/` still locked (for `rkt run`): the lock is returned and the caller (the engine)
   * owns it. Otherwise the pod ends in `prepared/` and is unlocked.
   */
  keepLockedInRun?: boolean;
  /** Test hook: called after the manifest is written, before trees are rendered. */
  afterManifest?: (dir: string) => void | Promise<void>;
  /** More files for the pod dir (name → content), written with the manifest (prepare-options.ts). */
  extraFiles?: Record<string, string>;
  /**
   * Called with the pod dir (still in `prepare/`, locked) once everything above is written, before
   * the pod becomes prepared: `rkt prepare` writes the files of its Node-free run there
   * (run-pipeline.ts, prepareFastRun).
   */
  beforePrepared?: (dir: string, uuid: string) => void | Promise<void>;
}

export interface PreparedPod {
  uuid: string;
  /** The pod dir where it ended (`pods/prepared/<uuid>` or `pods/run/<uuid>`). */
  dir: string;
  /** Only with keepLockedInRun. */
  lock?: DirLock;
  warnings: string[];
}

/**
 * Writes the pod's list summary (summary.ts) for the manifest just written to `dir`/pod: read back
 * from the file, or, with `inHand`, from the manifest the caller wrote (and the apps' image names
 * it knows, see podSummaryTextFor). Best effort: without it (or with a stale one) listings read
 * the manifest.
 */
export function writePodSummary(
  dir: string,
  inHand?: { manifest: PodManifest; images?: Record<string, string> },
): void {
  try {
    const text =
      inHand === undefined
        ? podSummaryText(dir)
        : podSummaryTextFor(dir, inHand.manifest, statSync(join(dir, POD_FILES.manifest)), inHand.images);
    const file = join(dir, POD_SUMMARY_FILE);
    // The old one removed first: a rename over it would have ext4 write the new file out at once
    // (its replace-by-rename heuristic, auto_da_alloc), a millisecond or more of each `app add`.
    // Meanwhile a listing finds none and reads the manifest.
    rmSync(file, { force: true });
    writeFileAtomic(file, text);
  } catch {
    // listings fall back to the manifest
  }
}

/** Takes the store's prepareLock shared, so `rkt image gc` cannot remove trees meanwhile. */
async function withPrepareLock<T>(store: Store, fn: () => Promise<T>): Promise<T> {
  mkdirSync(store.layout.locksDir, { recursive: true });
  const lock = await FileLock.acquire(join(store.layout.locksDir, 'prepareLock'), 'shared');
  try {
    return await fn();
  } finally {
    lock.release();
  }
}

/** Creates the directory of an `empty` volume as its mode, uid and gid ask (chown as root only). */
export function createSharedVolumes(dir: string, manifest: PodManifest): void {
  for (const v of manifest.volumes ?? []) {
    if (v.kind !== 'empty') continue;
    const path = join(dir, POD_FILES.sharedVolumes, v.name);
    const mode = parseInt(v.mode ?? '0755', 8);
    mkdirSync(path, { recursive: true });
    try {
      // mkdir applies the umask; the mode asked for is set exactly.
      chmodSync(path, mode);
      if (process.getuid?.() === 0) chownSync(path, v.uid ?? 0, v.gid ?? 0);
    } catch (err) {
      throw new RocketError(
        `cannot set up volume ${JSON.stringify(v.name)}: ${errorMessage(err)}`,
        'failed-precondition',
      );
    }
  }
}

/**
 * rkt prepare: render every app's tree (or find it rendered) and check the apps against them, then
 * embryo (locked at once) → prepare → write `pod-created`, `pod`, record each tree in
 * `appsinfo/<app>/{manifest,treeStoreID}`, create `sharedVolumes/` →
 * prepared (unlocked), or run (still locked) with `keepLockedInRun`. A failure leaves the pod in
 * `prepare/` unlocked: an aborted prepare, for `gc`/`rm` to remove.
 */
export async function preparePod(opts: PrepareOptions): Promise<PreparedPod> {
  // The store's prepare lock (shared) is held from the first render until every tree is recorded
  // in appsinfo, so that `rkt image gc` cannot remove a tree meanwhile. Each tree is rendered (or
  // found) once: the checks and the pod use the same trees.
  return withPrepareLock(opts.store, async () => {
    const { manifest, imageKeys } = opts.built;
    const trees: RenderedTree[] = [];
    for (const i of manifest.apps.keys()) trees.push(await opts.store.renderTree(imageKeys[i] as string));
    // What would fail inside the runtime, naming neither volume nor app, is refused before a pod
    // is made (checks.ts).
    const { checkPodBeforePrepare } = await import('./checks.js');
    await checkPodBeforePrepare(manifest, (i) => Promise.resolve((trees[i] as RenderedTree).rootfs));
    return makePod(opts, trees);
  });
}

async function makePod(opts: PrepareOptions, trees: readonly RenderedTree[]): Promise<PreparedPod> {
  const layout = new PodsLayout(opts.dataDir);
  layout.ensure();
  const uuid = randomUUID();
  const embryo = layout.podDir('embryo', uuid);
  mkdirSync(embryo, { mode: 0o750 });
  const lock = DirLock.tryAcquire(embryo, 'exclusive');
  if (lock === undefined) throw new RocketError(`cannot lock new pod ${uuid}`, 'internal');
  let keepLock = false;
  try {
    if (opts.uuidFileSave !== undefined && opts.uuidFileSave !== '')
      writeFileAtomic(opts.uuidFileSave, uuid, 0o644);
    if (!transition(layout, uuid, 'embryo', 'prepare'))
      throw new RocketError(`pod ${uuid} vanished`, 'not-found');
    const dir = layout.podDir('prepare', uuid);
    writeFileSync(join(dir, POD_FILES.created), '', { mode: 0o640 });
    const { manifest, imageKeys } = opts.built;
    writeFileAtomic(join(dir, POD_FILES.manifest), podManifestToJSON(manifest));
    for (const [name, content] of Object.entries(opts.extraFiles ?? {}))
      writeFileAtomic(join(dir, name), content);
    await opts.afterManifest?.(dir);
    for (const [i, ra] of manifest.apps.entries()) {
      const key = imageKeys[i] as string;
      const info = join(dir, POD_FILES.appsInfo, ra.name);
      mkdirSync(info, { recursive: true });
      writeFileAtomic(join(info, 'manifest'), opts.store.manifestBytes(key));
      writeFileAtomic(join(info, 'treeStoreID'), (trees[i] as RenderedTree).treeStoreId);
    }
    createSharedVolumes(dir, manifest);
    writePodSummary(dir);
    await opts.beforePrepared?.(dir, uuid);
    const to: StateDir = opts.keepLockedInRun === true ? 'run' : 'prepared';
    if (!transition(layout, uuid, 'prepare', to)) throw new RocketError(`pod ${uuid} vanished`, 'not-found');
    keepLock = opts.keepLockedInRun === true;
    return {
      uuid,
      dir: layout.podDir(to, uuid),
      ...(keepLock ? { lock } : {}),
      warnings: opts.built.warnings,
    };
  } finally {
    if (!keepLock) lock.release();
  }
}

/** One pod as read from disk (possibly stale as soon as returned). */
export interface PodInfo extends PodLocation {
  state: PodState;
  manifest?: PodManifest;
  /**
   * The manifest file's identity when it was read (`manifestFileId`): the same identity later
   * means the same manifest, as a pod manifest is only ever replaced by a rename.
   */
  manifestId?: string;
  manifestError?: string;
  /**
   * Only from `listPods(dir, { summaries: true })`: the listing's view of the manifest, from the
   * pod's list summary, instead of `manifest`; and the apps' image names it recorded.
   */
  listed?: ListedManifest;
  imageNames?: Record<string, string>;
  /** mtime of `pod-created`. */
  created?: Date;
  /** ctime of `pid` (or `ppid`), written by the engine. */
  started?: Date;
  pid?: number;
}

function statTime(path: string, which: 'mtime' | 'ctime'): Date | undefined {
  // No exception for an absent file: a listing asks this of every pod.
  const st = statSync(path, { throwIfNoEntry: false });
  return st === undefined ? undefined : which === 'mtime' ? st.mtime : st.ctime;
}

function readPid(dir: string): { pid?: number; started?: Date } {
  for (const f of [POD_FILES.pid, POD_FILES.ppid]) {
    const path = join(dir, f);
    try {
      // stat first: most pods in a listing have no pid (prepared) or no ppid, and a thrown ENOENT
      // costs more than the stat.
      const st = statSync(path, { throwIfNoEntry: false });
      if (st === undefined) continue;
      const text = readFileSync(path, 'utf8').trim();
      const pid = /^\d+$/.test(text) ? Number(text) : undefined;
      return { ...(pid !== undefined ? { pid } : {}), started: st.ctime };
    } catch (err) {
      if (errnoCode(err) !== 'ENOENT' && errnoCode(err) !== 'ENOTDIR') throw err;
    }
  }
  return {};
}

function statIdentity(st: BigIntStats): string {
  return `${st.dev}:${st.ino}:${st.ctimeNs}:${st.size}`;
}

/** The identity of a pod's manifest file now (see `PodInfo.manifestId`); undefined if it is gone. */
export function manifestFileId(podDir: string): string | undefined {
  const st = statSync(join(podDir, POD_FILES.manifest), { bigint: true, throwIfNoEntry: false });
  return st === undefined ? undefined : statIdentity(st);
}

/**
 * Reads a pod found at `loc`; undefined if it vanished meanwhile. With `summaries`, the manifest
 * is read only when the pod has no up-to-date list summary (`listed` is set instead).
 */
export function readPod(
  layout: PodsLayout,
  loc: PodLocation,
  opts: { summaries?: boolean } = {},
): PodInfo | undefined {
  const state = stateOf(layout, loc.stateDir, loc.uuid);
  if (state === undefined) return undefined;
  const info: PodInfo = { ...loc, state };
  const summary = opts.summaries === true ? readPodSummary(loc.path) : undefined;
  if (summary !== undefined) {
    info.listed = summary.pod;
    info.imageNames = summary.images;
  } else {
    try {
      const file = join(loc.path, POD_FILES.manifest);
      const fd = openSync(file, 'r');
      try {
        const id = statIdentity(fstatSync(fd, { bigint: true }));
        info.manifest = parsePodManifest(readFileSync(fd, 'utf8'), file).manifest;
        info.manifestId = id;
      } finally {
        closeSync(fd);
      }
    } catch (err) {
      if (errnoCode(err) !== 'ENOENT') info.manifestError = errorMessage(err);
    }
  }
  const created = statTime(join(loc.path, POD_FILES.created), 'mtime');
  if (created !== undefined) info.created = created;
  Object.assign(info, readPid(loc.path));
  return info;
}

/**
 * Every pod (rkt's `WalkPods` with IncludeMostDirs: all state dirs but embryo). `summaries`: read
 * each pod's list summary where it is up to date instead of its manifest (`rkt list`).
 */
export function listPods(dataDir: string, opts: { summaries?: boolean } = {}): PodInfo[] {
  const layout = new PodsLayout(dataDir);
  const out: PodInfo[] = [];
  for (const loc of walkPods(layout, ['prepare', 'prepared', 'run', 'exited-garbage', 'garbage'])) {
    const p = readPod(layout, loc, opts);
    if (p !== undefined) out.push(p);
  }
  return out;
}

/** A pod by unambiguous UUID prefix, with rkt's `no matches found` / `ambiguous uuid` errors. */
export function getPod(dataDir: string, uuidPrefix: string): PodInfo {
  const layout = new PodsLayout(dataDir);
  const uuid = resolveUuidPrefix(layout, uuidPrefix);
  const loc = locatePod(layout, uuid);
  const p = loc === undefined ? undefined : readPod(layout, loc);
  if (p === undefined)
    throw new RocketError(`no matches found for ${JSON.stringify(uuidPrefix)}`, 'not-found');
  return p;
}

/**
 * Whether a pod that was read as running is in its supervisor's local background teardown: a `rkt
 * run` pod whose apps have ended and whose marker (TEARDOWN_MARKER) says `local`. Only a pod in the
 * run dir whose state is running has its marker read, so `rkt list` reads at most one marker per
 * running pod.
 */
export function inLocalTeardown(p: PodInfo): boolean {
  return p.stateDir === 'run' && p.state === 'running' && localTeardown(p.path);
}

/**
 * The pod as it is once its local teardown (see inLocalTeardown), if any, has ended: `p` itself
 * when it is in none, otherwise the pod read again at the same place (undefined if it is gone).
 */
export async function settlePod(
  layout: PodsLayout,
  p: PodInfo,
  opts: { summaries?: boolean } = {},
): Promise<PodInfo | undefined> {
  if (!inLocalTeardown(p)) return p;
  await settledStateOf(layout, 'run', p.uuid);
  return readPod(layout, { uuid: p.uuid, stateDir: p.stateDir, path: p.path }, opts);
}

/**
 * getPod, once a local background teardown (a `rkt run` pod without CNI networks, whose supervisor
 * gave its exit status before unmounting) has ended: right after `rkt run`, the pod is exited, as
 * rkt's is. (A CNI teardown, which may take long, is not waited for: the pod is running meanwhile.)
 */
export async function getSettledPod(dataDir: string, uuidPrefix: string): Promise<PodInfo> {
  const p = getPod(dataDir, uuidPrefix);
  if (!inLocalTeardown(p)) return p;
  await settledStateOf(new PodsLayout(dataDir), 'run', p.uuid);
  return getPod(dataDir, p.uuid);
}

/**
 * listPods, each pod in a local background teardown (see getSettledPod) read again once that has
 * ended: `rkt list` right after `rkt run` shows the pod exited.
 */
export async function listSettledPods(
  dataDir: string,
  opts: { summaries?: boolean } = {},
): Promise<PodInfo[]> {
  const layout = new PodsLayout(dataDir);
  const out: PodInfo[] = [];
  for (const p of listPods(dataDir, opts)) {
    const settled = await settlePod(layout, p, opts);
    if (settled !== undefined) out.push(settled);
  }
  return out;
}

/** The image name the pod recorded for an app (`name:version`), from appsinfo. */
export function appImageName(podDir: string, app: string): string | undefined {
  try {
    return imageNameOf(readFileSync(join(podDir, POD_FILES.appsInfo, app, 'manifest'), 'utf8'));
  } catch {
    return undefined;
  }
}

/** What pods still use, for `rkt image gc`. */
export interface PodsInUse {
  /** Trees of pods in prepare, prepared, run and exited-garbage (and their stage1TreeStoreID). */
  trees: Set<string>;
  /**
   * Images of the apps of pods that are preparing, prepared or running. (rkt keeps only running
   * pods' images; we also keep prepared pods', so `run-prepared` never finds its image gone.)
   */
  images: Set<string>;
}

export function podsInUse(dataDir: string): PodsInUse {
  const layout = new PodsLayout(dataDir);
  const trees = new Set<string>();
  const images = new Set<string>();
  for (const loc of walkPods(layout, ['prepare', 'prepared', 'run', 'exited-garbage'])) {
    try {
      const s1 = readFileSync(join(loc.path, POD_FILES.stage1TreeStoreId), 'utf8').trim();
      if (s1 !== '') trees.add(s1);
    } catch {
      // absent: our engines have no stage1 image
    }
    let manifest: PodManifest | undefined;
    try {
      manifest = parsePodManifest(readFileSync(join(loc.path, POD_FILES.manifest), 'utf8')).manifest;
    } catch {
      manifest = undefined;
    }
    for (const ra of manifest?.apps ?? []) {
      const id = appTreeStoreId(loc.path, ra.name);
      if (id !== undefined && id !== '') trees.add(id);
    }
    if (loc.stateDir === 'exited-garbage') continue;
    if (loc.stateDir === 'run' && stateOf(layout, 'run', loc.uuid) !== 'running') continue;
    for (const ra of manifest?.apps ?? []) if (ra.image.id !== undefined) images.add(ra.image.id);
  }
  return { trees, images };
}
