import { createHash } from 'node:crypto';
import {
  closeSync,
  existsSync,
  mkdirSync,
  openSync,
  readdirSync,
  readFileSync,
  renameSync,
  rmSync,
  statSync,
  writeSync,
  type Stats,
} from 'node:fs';
import { lstat, open, rm } from 'node:fs/promises';
import { dirname, isAbsolute, resolve } from 'node:path';
import type { Readable } from 'node:stream';
import { removeAbandonedSiblings } from '../aci/siblings.js';
import { parseImageManifest, type Dependency, type ImageManifest, type Label } from '../appc/index.js';
import { parseAppString } from '../discovery/app.js';
import { StoreDb, type AciInfoRow, type RemoteRow } from './db.js';
import { FileLock, withLock } from './flock.js';
import {
  DEFAULT_DATA_DIR,
  KEY_LENGTH,
  KEY_PREFIX,
  keyOfImageId,
  MIN_KEY_PREFIX_LENGTH,
  StoreLayout,
} from './layout.js';
import { flattenDependencies, type DependencyResolver, type FlatImage } from './render.js';
import { DEFAULT_MAX_IMAGE_SIZE } from './limits.js';
import type { SpooledImage } from './spool.js';
import { TreeStore, type RenderedTree } from './tree.js';
import {
  createLockedTempFile,
  errCode,
  fsyncDir,
  removeIfExists,
  storeError,
  tempName,
  writeFileAtomic,
} from './util.js';

/** One image of the store, as `rkt image list` shows it. */
export interface ImageInfo {
  key: string;
  name: string;
  labels: Label[];
  importTime: Date;
  lastUsed: Date;
  /** Imported as the latest version of its name (discovery without a version). */
  latest: boolean;
  /** Bytes of the uncompressed ACI. */
  size: number;
  /** Bytes of its last rendered tree (0 if none), as rkt records it. */
  treeStoreSize: number;
  /** size + treeStoreSize: the SIZE column of `rkt image list`. */
  totalSize: number;
}

/** The HTTP caching record of a fetched URL (rkt's `remote` table). */
export interface RemoteInfo {
  aciUrl: string;
  sigUrl: string;
  etag: string;
  blobKey: string;
  /** Cache-Control max-age, in seconds. */
  cacheMaxAge: number;
  downloadTime: Date;
}

export interface ImportOptions {
  /** Mark the image as the latest of its name (rkt: fetched by name without a version). */
  latest?: boolean;
  /** Names the input in messages (default: the path, or "image"). */
  source?: string;
  /**
   * Called once the image is read, hashed and validated but before anything is committed; a throw
   * abandons the import. Lets a fetch check the signature and the name while the bytes stream in.
   */
  accept?: (manifest: ImageManifest) => Promise<void> | void;
}

export interface ImportResult {
  key: string;
  /** The full image ID (`sha512-` + 128 hex). */
  imageId: string;
  manifest: ImageManifest;
  /** The image was already in the store: nothing was written. */
  alreadyPresent: boolean;
  warnings: string[];
}

export interface OutputDirOptions {
  rootfsOnly?: boolean;
  /** Replace an existing output (removed first, as rkt does). */
  overwrite?: boolean;
  /**
   * Make the image's character and block device nodes. By default they are skipped with a
   * warning: outside a pod, a hostile image's device node (say `brw-rw-rw-` on the host's disk)
   * would give its modes to whoever reaches the output directory.
   */
  createDevices?: boolean;
}

/** The name of the notes in cas/tmp that name the output of a render or extract at work. */
const OUTPUT_NOTE = 'output';

/** The warning's hint for a device node left out of `rkt image render|extract`. */
const SKIPPED_DEVICE_HINT = ' (--create-devices makes device nodes)';

function deviceOptions(opts: OutputDirOptions): { devices: 'create' | 'skip'; skippedDeviceHint: string } {
  return { devices: opts.createDevices === true ? 'create' : 'skip', skippedDeviceHint: SKIPPED_DEVICE_HINT };
}

export interface RemovedImage {
  key: string;
  name: string;
}

/**
 * The longest image name the store takes (bytes): a name is one file name's worth (NAME_MAX), as
 * pods and renders make paths of its parts; a longer one would be stored but never run.
 */
export const MAX_IMAGE_NAME_LENGTH = 255;

/**
 * The image store of a data dir: content-addressed uncompressed ACIs, their manifests, the SQLite
 * index, and the tree store. Safe to use from several processes at once: every change is a rename
 * or one DB transaction, ordered by per-image and per-tree flocks.
 */
export class Store {
  /** The largest image importImage takes, uncompressed (src/store/limits.ts). */
  maxImageSize = DEFAULT_MAX_IMAGE_SIZE;
  readonly layout: StoreLayout;
  readonly trees: TreeStore;
  private readonly db: StoreDb;

  private constructor(dataDir: string) {
    this.layout = new StoreLayout(resolve(dataDir));
    for (const d of this.layout.dirs) mkdirSync(d, { recursive: true, mode: 0o770 });
    this.db = new StoreDb(this.layout.dbFile);
    this.trees = new TreeStore(this.layout, {
      readBlob: (key) => this.readBlob(key),
      manifestBytes: (key) => this.manifestBytes(key),
      setTreeStoreSize: (key, size) => this.db.setTreeStoreSize(key, size),
    });
  }

  /** Opens (creating if needed) the store of a data dir. */
  static open(dataDir: string = DEFAULT_DATA_DIR): Store {
    return new Store(dataDir);
  }

  close(): void {
    this.db.close();
  }

  // ---- import ----

  /**
   * Imports an ACI (any compression): spooled to a temp file while validated and hashed, synced,
   * renamed into the blob store, its manifest written, and then one DB transaction. A process killed
   * at any point leaves no row without its blob; what it leaves behind, gc reclaims.
   */
  async importImage(source: string | Readable, opts: ImportOptions = {}): Promise<ImportResult> {
    const name = opts.source ?? (typeof source === 'string' ? source : 'image');
    // Loaded here: lookups (`rkt app add`, run) never import.
    const { spoolImage } = await import('./spool.js');
    const spooled = await spoolImage(source, this.layout.tmpDir, name, this.maxImageSize);
    try {
      const nameBytes = Buffer.byteLength(spooled.manifest.name);
      if (nameBytes > MAX_IMAGE_NAME_LENGTH)
        throw storeError(
          `${name}: image name of ${nameBytes} bytes is too long (at most ${MAX_IMAGE_NAME_LENGTH}): it could never be rendered into a pod`,
          'invalid-argument',
        );
      await opts.accept?.(spooled.manifest);
      const key = keyOfImageId(spooled.imageId);
      return await withLock(this.layout.imageLock(key), 'exclusive', () =>
        this.commitImport(key, spooled, opts.latest === true),
      );
    } finally {
      await spooled.file.close();
      await rm(spooled.tempPath, { force: true });
    }
  }

  /** Runs under the image's exclusive lock, so gc never takes the renamed blob for an orphan. */
  private commitImport(key: string, s: SpooledImage, latest: boolean): ImportResult {
    const result = { key, imageId: s.imageId, manifest: s.manifest, warnings: s.warnings };
    if (this.db.info(key) !== undefined) {
      if (latest) this.db.setLatest(key);
      return { ...result, alreadyPresent: true };
    }
    const blob = this.layout.blobPath(key);
    mkdirSync(dirname(blob), { recursive: true, mode: 0o770 });
    renameSync(s.tempPath, blob);
    fsyncDir(dirname(blob));
    writeFileAtomic(this.layout.manifestPath(key), s.manifestBytes, this.layout.tmpDir);
    const now = Date.now();
    const row: AciInfoRow = {
      blobkey: key,
      name: s.manifest.name,
      importtime: now,
      lastused: now,
      latest: latest ? 1 : 0,
      size: s.size,
      treestoresize: 0,
    };
    const inserted = this.db.insertImage(row, s.manifest.labels ?? []);
    return { ...result, alreadyPresent: !inserted };
  }

  // ---- lookups ----

  /**
   * The key of the one image whose ID starts with `prefix` (rkt ResolveKey): at least `sha512-` + 2
   * hex digits; input longer than a key is cut to key length (so a full image ID works).
   */
  resolveKey(prefix: string): string {
    if (!prefix.startsWith(KEY_PREFIX)) throw storeError('wrong key prefix', 'invalid-argument');
    if (prefix.length < MIN_KEY_PREFIX_LENGTH) throw storeError('image ID too short', 'invalid-argument');
    const wanted = prefix.slice(0, KEY_LENGTH);
    const keys = this.db.keysWithPrefix(wanted);
    if (keys.length === 0) throw storeError('no image IDs found', 'not-found');
    if (keys.length > 1)
      throw storeError(`ambiguous image ID: ${JSON.stringify(wanted)}`, 'invalid-argument');
    return keys[0] as string;
  }

  /**
   * The best image with this name and at least these labels (rkt GetACI): unless a version label is
   * asked for, images imported as latest are preferred; then the most recent import wins.
   */
  findImage(name: string, labels: LabelsArg = []): string | undefined {
    const wanted = labelList(labels);
    const versionRequested = wanted.some((l) => l.name === 'version');
    let best: AciInfoRow | undefined;
    for (const row of this.db.infosWithName(name)) {
      const have = new Map(this.db.labels(row.blobkey).map((l) => [l.name, l.value]));
      if (!wanted.every((l) => have.get(l.name) === l.value)) continue;
      if (best !== undefined && !versionRequested && best.latest !== row.latest) {
        if (row.latest === 1) best = row;
        continue;
      }
      // Rows come in import order, so on equal times the later import wins.
      if (best === undefined || row.importtime >= best.importtime) best = row;
    }
    return best?.blobkey;
  }

  /** findImage, or rkt's "cannot find aci satisfying ..." error. */
  getImage(name: string, labels: LabelsArg = []): string {
    const key = this.findImage(name, labels);
    if (key !== undefined) return key;
    const shown = `[${labelList(labels)
      .map((l) => `{${JSON.stringify(l.name)} ${JSON.stringify(l.value)}}`)
      .join(' ')}]`;
    throw storeError(
      `cannot find aci satisfying name: ${JSON.stringify(name)} and labels: ${shown} in the local store`,
      'not-found',
    );
  }

  /**
   * What `rkt image ...` arguments name (getStoreKeyFromAppOrHash): an image ID prefix
   * (`sha512-...`), or `NAME[:VERSION][,LABEL=VALUE...]`.
   */
  resolveImage(ref: string): string {
    if (/^sha512-[^-]+$/.test(ref)) return this.resolveKey(ref);
    const app = parseAppString(ref);
    return this.getImage(app.name, app.labels);
  }

  hasImage(key: string): boolean {
    return this.db.info(key) !== undefined;
  }

  imageInfo(key: string): ImageInfo | undefined {
    const row = this.db.info(key);
    return row === undefined ? undefined : this.toInfo(row);
  }

  /** Every image, in import order. */
  listImages(): ImageInfo[] {
    return this.db.infos().map((row) => this.toInfo(row));
  }

  private toInfo(row: AciInfoRow): ImageInfo {
    return {
      key: row.blobkey,
      name: row.name,
      labels: this.db.labels(row.blobkey),
      importTime: new Date(row.importtime),
      lastUsed: new Date(row.lastused),
      latest: row.latest === 1,
      size: row.size,
      treeStoreSize: row.treestoresize,
      totalSize: row.size + row.treestoresize,
    };
  }

  private requireImage(key: string): AciInfoRow {
    const row = this.db.info(key);
    if (row === undefined) throw storeError(`cannot find image with key: ${key}`, 'not-found');
    return row;
  }

  /** The manifest bytes as they were in the image. */
  manifestBytes(key: string): Buffer {
    try {
      return readFileSync(this.layout.manifestPath(key));
    } catch (err) {
      if (errCode(err) === 'ENOENT') throw storeError(`cannot find image with key: ${key}`, 'not-found', err);
      throw storeError(`cannot read the manifest of ${key}: ${String(err)}`, 'internal', err);
    }
  }

  manifest(key: string): ImageManifest {
    return parseImageManifest(this.manifestBytes(key).toString('utf8'), `image ${key}: manifest`).manifest;
  }

  /**
   * A stream of the uncompressed ACI. Marks the image used (image gc relies on it, as rkt) and opens
   * the blob under a shared lock, so gc cannot remove it between the check and the open (an open fd
   * keeps reading even if it is removed afterwards).
   */
  async readBlob(key: string): Promise<Readable> {
    return withLock(this.layout.imageLock(key), 'shared', async () => {
      if (!this.db.touch(key, Date.now()))
        throw storeError(`cannot find image with key: ${key}`, 'not-found');
      const fh = await open(this.layout.blobPath(key), 'r').catch((err: unknown) => {
        throw storeError(`cannot open the blob of ${key}: ${String(err)}`, 'internal', err);
      });
      return fh.createReadStream({ highWaterMark: 1024 * 1024 });
    });
  }

  // ---- remote (HTTP cache) ----

  getRemote(aciUrl: string): RemoteInfo | undefined {
    const row = this.db.remote(aciUrl);
    return row === undefined ? undefined : fromRemoteRow(row);
  }

  setRemote(remote: RemoteInfo): void {
    this.requireImage(remote.blobKey);
    this.db.upsertRemote({
      aciurl: remote.aciUrl,
      sigurl: remote.sigUrl,
      etag: remote.etag,
      blobkey: remote.blobKey,
      cachemaxage: remote.cacheMaxAge,
      downloadtime: remote.downloadTime.getTime(),
    });
  }

  listRemotes(): RemoteInfo[] {
    return this.db.remotes().map(fromRemoteRow);
  }

  // ---- trees and copies out ----

  /** The default dependency lookup: by imageID if the dependency names one, else by name+labels. */
  readonly storeResolver: DependencyResolver = (dep, dependent) => {
    const missing = () =>
      storeError(
        `image ${dependent.key} (${dependent.manifest.name}): dependency ${describeDependency(dep)} is not in the store`,
        'not-found',
      );
    if (dep.imageID !== undefined && dep.imageID !== '') {
      const key = keyOfImageId(dep.imageID);
      if (key.length === KEY_LENGTH) {
        if (!this.hasImage(key)) throw missing();
        return key;
      }
      try {
        return this.resolveKey(dep.imageID);
      } catch {
        throw missing();
      }
    }
    const key = this.findImage(dep.imageName, dep.labels ?? []);
    if (key === undefined) throw missing();
    return key;
  };

  /** The image and its dependencies, in rendering order (see flattenDependencies). */
  flatten(key: string, resolveDep: DependencyResolver = this.storeResolver): Promise<FlatImage[]> {
    this.requireImage(key);
    return flattenDependencies(key, (k) => this.manifest(k), resolveDep);
  }

  /** Renders (or reuses) the tree of an image with its dependencies; see TreeStore.render. */
  async renderTree(key: string, resolveDep: DependencyResolver = this.storeResolver): Promise<RenderedTree> {
    return this.trees.render(await this.flatten(key, resolveDep));
  }

  /**
   * Runs a copy out of the store into `dest` with a locked note in cas/tmp naming `dest`: if this
   * process is killed, the note is left unlocked and gcTemp removes the temp dir the copy left
   * beside `dest` (the next copy into `dest` does too).
   */
  private withOutputNote<T>(dest: string, fn: () => Promise<T>): Promise<T> {
    mkdirSync(this.layout.tmpDir, { recursive: true });
    const note = createLockedTempFile(this.layout.tmpDir, OUTPUT_NOTE);
    const done = () => {
      rmSync(note.path, { force: true });
      closeSync(note.fd);
    };
    try {
      writeSync(note.fd, dest);
    } catch (err) {
      done();
      throw err;
    }
    return fn().finally(done);
  }

  /** `rkt image render`: the image with its dependencies, as plain files in `dir`; the warnings. */
  async renderTo(key: string, dir: string, opts: OutputDirOptions = {}): Promise<string[]> {
    const images = await this.flatten(key);
    const dest = await prepareOutputDir(dir, opts.overwrite === true);
    return this.withOutputNote(dest, () =>
      this.trees.renderCopy(images, dest, opts.rootfsOnly === true, deviceOptions(opts)),
    );
  }

  /** `rkt image extract`: one image (no dependencies), manifest and rootfs, into `dir`; the warnings. */
  async extractTo(key: string, dir: string, opts: OutputDirOptions = {}): Promise<string[]> {
    this.requireImage(key);
    const dest = await prepareOutputDir(dir, opts.overwrite === true);
    return this.withOutputNote(dest, () => this.extractLocked(key, dest, opts));
  }

  private async extractLocked(key: string, dest: string, opts: OutputDirOptions): Promise<string[]> {
    const { extractAci } = await import('../aci/extract.js');
    const res = await extractAci(await this.readBlob(key), dest, {
      rootfsOnly: opts.rootfsOnly === true,
      source: `image ${key}`,
      ...deviceOptions(opts),
    });
    if (keyOfImageId(res.imageId) !== key) {
      rmSync(dest, { recursive: true, force: true });
      throw storeError(
        `image hash does not match expected (${keyOfImageId(res.imageId)} != ${key})`,
        'failed-precondition',
      );
    }
    return res.warnings;
  }

  /** `rkt image export`: the uncompressed ACI, written to a temp file and renamed to `out`. */
  async exportImage(key: string, out: string, opts: { overwrite?: boolean } = {}): Promise<void> {
    this.requireImage(key);
    if (opts.overwrite !== true && existsSync(out))
      throw storeError('output ACI file exists (try --overwrite)', 'already-exists');
    const tmp = tempName(dirname(resolve(out)), '.rocket-export');
    const fh = await open(tmp, 'wx', 0o644);
    const hash = createHash('sha512');
    try {
      for await (const chunk of await this.readBlob(key)) {
        hash.update(chunk as Buffer);
        await fh.write(chunk as Buffer);
      }
      await fh.sync();
      await fh.close();
      const got = keyOfImageId(KEY_PREFIX + hash.digest('hex'));
      if (got !== key)
        throw storeError(`image hash does not match expected (${got} != ${key})`, 'failed-precondition');
      renameSync(tmp, out);
    } catch (err) {
      await fh.close().catch(() => undefined);
      rmSync(tmp, { force: true });
      throw err;
    }
  }

  // ---- CRI image names ----

  /** Records repo tags and digests of an image (see StoreDb.setImageRefs); false if it is gone. */
  setImageRefs(key: string, refs: readonly { ref: string; kind: 'tag' | 'digest' }[]): boolean {
    return this.db.setImageRefs(key, refs);
  }

  /** The recorded names of one image, or of every image. */
  imageRefs(key?: string): { ref: string; kind: string; key: string }[] {
    return this.db.imageRefs(key).map((r) => ({ ref: r.ref, kind: r.kind, key: r.blobkey }));
  }

  /** The image a repo tag or digest names. */
  imageByRef(ref: string): string | undefined {
    return this.db.imageRef(ref)?.blobkey;
  }

  // ---- removal ----

  /**
   * Removes an image: its rows (one transaction), then its blob and manifest, then its trees. The
   * image lock is released before the trees are locked: a render holds a tree lock while it waits
   * for image locks, so taking them in the other order could deadlock.
   */
  async removeImage(key: string): Promise<RemovedImage> {
    const removed = await withLock(this.layout.imageLock(key), 'exclusive', () => {
      const row = this.requireImage(key);
      this.removeImageLocked(key);
      return { key, name: row.name };
    });
    await this.trees.removeTreesOf(key);
    return removed;
  }

  private removeImageLocked(key: string): void {
    this.db.removeImage(key);
    removeIfExists(this.layout.blobPath(key));
    removeIfExists(this.layout.manifestPath(key));
  }

  /**
   * Image gc (after TreeStore.gc): removes images unused for `gracePeriodMs`, except `inUse` keys and
   * images some process holds locked (a fetch or render at work), then orphan blobs and manifests
   * (no row) that a killed import left. Trees are not touched: gc the trees first.
   */
  gcImages(
    gracePeriodMs: number,
    inUse: ReadonlySet<string> = new Set(),
  ): { removed: RemovedImage[]; orphans: string[] } {
    const removed: RemovedImage[] = [];
    for (const row of this.db.unusedSince(Date.now() - gracePeriodMs)) {
      if (inUse.has(row.blobkey)) continue;
      const done = this.withTryLock(row.blobkey, () => {
        // Re-read under the lock: the image may have been used or removed meanwhile.
        const now = this.db.info(row.blobkey);
        if (now === undefined || now.lastused >= Date.now() - gracePeriodMs) return false;
        this.removeImageLocked(row.blobkey);
        return true;
      });
      if (done === true) removed.push({ key: row.blobkey, name: row.name });
    }
    return { removed, orphans: this.gcOrphans() };
  }

  /** Runs `fn` under the image's exclusive lock if nobody holds it; undefined if someone does. */
  private withTryLock<T>(key: string, fn: () => T): T | undefined {
    const lock = FileLock.tryAcquire(this.layout.imageLock(key), 'exclusive');
    if (lock === undefined) return undefined;
    try {
      return fn();
    } finally {
      lock.release();
    }
  }

  /** Blobs and manifests without a row (a killed import, a failed removal). */
  private gcOrphans(): string[] {
    const keys = new Set([...listKeyed(this.layout.blobDir), ...listKeyed(this.layout.manifestDir)]);
    const orphans: string[] = [];
    for (const key of keys) {
      if (this.hasImage(key)) continue;
      const done = this.withTryLock(key, () => {
        if (this.hasImage(key)) return false;
        this.removeImageLocked(key);
        return true;
      });
      if (done === true) orphans.push(key);
    }
    return orphans.sort();
  }

  /**
   * Removes every leftover in cas/tmp that no process holds (older than `minAgeMs`, by default any
   * age): whatever works in cas/tmp keeps its temp file or dir flock-ed (see lockFdAtPath), so a
   * locked one is never taken, and an unlocked one is what a killed process left.
   */
  async gcTemp(minAgeMs = 0): Promise<string[]> {
    return gcTempDir(this.layout.tmpDir, minAgeMs);
  }
}

type LabelsArg = readonly Label[] | ReadonlyMap<string, string>;

function labelList(labels: LabelsArg): Label[] {
  if (isLabelArray(labels)) return [...labels];
  return [...labels].map(([name, value]) => ({ name, value }));
}

function isLabelArray(labels: LabelsArg): labels is readonly Label[] {
  return Array.isArray(labels);
}

function fromRemoteRow(row: RemoteRow): RemoteInfo {
  return {
    aciUrl: row.aciurl,
    sigUrl: row.sigurl,
    etag: row.etag,
    blobKey: row.blobkey,
    cacheMaxAge: row.cachemaxage,
    downloadTime: new Date(row.downloadtime),
  };
}

function describeDependency(dep: Dependency): string {
  let s = JSON.stringify(dep.imageName);
  const labels = dep.labels ?? [];
  if (labels.length > 0) s += ` (labels ${labels.map((l) => `${l.name}=${l.value}`).join(',')})`;
  if (dep.imageID !== undefined && dep.imageID !== '') s += ` (imageID ${dep.imageID})`;
  return s;
}

/**
 * rkt's output-dir rule for `image extract` and `image render`: an existing output is an error
 * unless overwrite, and then it is removed first (never `/`).
 */
async function prepareOutputDir(dir: string, overwrite: boolean): Promise<string> {
  const dest = resolve(dir);
  let st: Stats | undefined;
  try {
    st = await lstat(dest);
  } catch (err) {
    if (errCode(err) !== 'ENOENT') throw storeError(`${dest}: ${String(err)}`, 'internal', err);
  }
  if (st === undefined) return dest;
  if (!overwrite) throw storeError('output directory exists (try --overwrite)', 'already-exists');
  if (dest === '/') throw storeError('this would delete your root filesystem. Refusing.', 'invalid-argument');
  await rm(dest, { recursive: true, force: true });
  return dest;
}

/** The keys stored under a diskv-style dir (`<alg>/<2 hex>/<key>`). */
function listKeyed(base: string): string[] {
  const out: string[] = [];
  for (const alg of readdirOrEmpty(base)) {
    for (const shard of readdirOrEmpty(`${base}/${alg}`)) {
      for (const key of readdirOrEmpty(`${base}/${alg}/${shard}`)) {
        if (key.startsWith(`${alg}-`)) out.push(key);
      }
    }
  }
  return out;
}

function readdirOrEmpty(dir: string): string[] {
  try {
    return readdirSync(dir);
  } catch (err) {
    if (errCode(err) === 'ENOENT' || errCode(err) === 'ENOTDIR') return [];
    throw err;
  }
}

async function gcTempDir(dir: string, minAgeMs: number): Promise<string[]> {
  const removed: string[] = [];
  const cutoff = Date.now() - minAgeMs;
  for (const name of readdirOrEmpty(dir)) {
    const path = `${dir}/${name}`;
    let st: Stats;
    try {
      st = statSync(path);
    } catch {
      continue; // gone meanwhile
    }
    // Whole milliseconds, like the cutoff: a file written this millisecond is not younger than 0.
    if (Math.floor(st.mtimeMs) > cutoff) continue;
    // Taken under its own lock: a maker that created it but has not locked it yet finds, once it
    // has, that its path is gone, and makes another (lockFdAtPath).
    let fd: number;
    try {
      fd = openSync(path, 'r');
    } catch {
      continue;
    }
    try {
      if (!FileLock.tryLockFd(fd, path, 'exclusive')) continue; // live
      if (name.startsWith(`${OUTPUT_NOTE}-`) && st.isFile()) {
        // A render or extract killed while it wrote: its temp dir beside the output it named.
        const dest = readFileSync(path, 'utf8');
        if (isAbsolute(dest)) removeAbandonedSiblings(dest);
      }
      await rm(path, { recursive: true, force: true });
      removed.push(name);
    } finally {
      closeSync(fd);
    }
  }
  return removed.sort();
}
