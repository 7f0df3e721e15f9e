import { randomBytes } from 'node:crypto';
import { existsSync, mkdirSync, readdirSync, readFileSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { Readable } from 'node:stream';
import { lockedTempSiblingDir, removeAbandonedSiblings } from '../aci/siblings.js';
import { FileLock, syncFilesystem } from './flock.js';
import {
  StoreLayout,
  TREE_HASH,
  TREE_ID_PREFIX,
  TREE_IMAGE,
  TREE_MANIFEST,
  TREE_RENDERED,
  TREE_ROOTFS,
  TREE_TEMP_PREFIX,
} from './layout.js';
import { renderImages, treeStoreIdOf, type FlatImage } from './render.js';
import { hashTree } from './tree-hash.js';
import { errCode, fsyncDir, removeIfExists, storeError } from './util.js';

export interface RenderedTree {
  treeStoreId: string;
  /** cas/tree/<id> */
  path: string;
  /** cas/tree/<id>/rootfs: the lower dir pods mount. */
  rootfs: string;
  /** An existing complete tree was reused. */
  reused: boolean;
  warnings: string[];
}

/** What the tree store needs from the image store. */
export interface TreeImageAccess {
  readBlob(key: string): Promise<Readable>;
  manifestBytes(key: string): Buffer;
  setTreeStoreSize(key: string, size: number): void;
}

/**
 * Rendered trees (`cas/tree/<id>/{rootfs/, manifest, image, rendered}`), one per flattened
 * dependency list. A tree is rendered into a hidden temp dir, synced, renamed into place, and only
 * then marked `rendered`; a tree without the marker is partial and is rendered again. A per-tree
 * flock (cas/treestorelocks/<id>) makes concurrent renders produce one tree.
 */
export class TreeStore {
  constructor(
    private readonly layout: StoreLayout,
    private readonly images: TreeImageAccess,
  ) {}

  /** The IDs of every tree on disk, complete or not (temp dirs excluded). */
  ids(): string[] {
    return readdirSync(this.layout.treeDir)
      .filter((n) => n.startsWith(TREE_ID_PREFIX))
      .sort();
  }

  isRendered(id: string): boolean {
    return existsSync(join(this.layout.treePath(id), TREE_RENDERED));
  }

  /** The key of the image a tree was rendered for (its `image` file). */
  imageOf(id: string): string | undefined {
    try {
      return readFileSync(join(this.layout.treePath(id), TREE_IMAGE), 'utf8');
    } catch {
      return undefined;
    }
  }

  /**
   * Checks a rendered tree against the hash written when it was rendered (`rkt image verify`).
   * `expected` is undefined for a tree rendered before hashes were kept.
   */
  async verify(id: string): Promise<{ expected: string | undefined; actual: string }> {
    const lock = await FileLock.acquire(this.layout.treeLock(id), 'shared');
    try {
      const path = this.layout.treePath(id);
      let expected: string | undefined;
      try {
        expected = readFileSync(join(path, TREE_HASH), 'utf8').trim();
      } catch (err) {
        if (errCode(err) !== 'ENOENT') throw err;
      }
      return { expected, actual: hashTree(join(path, TREE_ROOTFS)) };
    } finally {
      lock.release();
    }
  }

  private result(id: string, reused: boolean, warnings: string[]): RenderedTree {
    const path = this.layout.treePath(id);
    return { treeStoreId: id, path, rootfs: join(path, TREE_ROOTFS), reused, warnings };
  }

  /** Renders the tree of a flattened image list (see flattenDependencies), or reuses a complete one. */
  async render(images: readonly FlatImage[]): Promise<RenderedTree> {
    const top = images[0];
    if (top === undefined) throw storeError('image list empty', 'invalid-argument');
    const id = treeStoreIdOf(images);
    const lock = await FileLock.acquire(this.layout.treeLock(id), 'exclusive');
    try {
      if (this.isRendered(id)) return this.result(id, true, []);
      this.removeLocked(id); // a partial tree from an interrupted render or removal
      const tmp = join(
        this.layout.treeDir,
        `${TREE_TEMP_PREFIX}${id}.${process.pid}.${randomBytes(4).toString('hex')}`,
      );
      mkdirSync(tmp, 0o755);
      let size: number;
      let warnings: string[];
      try {
        ({ size, warnings } = await renderImages(images, tmp, (k) => this.images.readBlob(k)));
        writeFileSync(join(tmp, TREE_MANIFEST), this.images.manifestBytes(top.key), { mode: 0o644 });
        writeFileSync(join(tmp, TREE_IMAGE), top.key, { mode: 0o644 });
        writeFileSync(join(tmp, TREE_HASH), hashTree(join(tmp, TREE_ROOTFS)), { mode: 0o644 });
        syncFilesystem(tmp);
        renameSync(tmp, this.layout.treePath(id));
      } catch (err) {
        rmSync(tmp, { recursive: true, force: true });
        throw err;
      }
      writeFileSync(join(this.layout.treePath(id), TREE_RENDERED), '', { mode: 0o644 });
      fsyncDir(this.layout.treePath(id));
      fsyncDir(this.layout.treeDir);
      this.images.setTreeStoreSize(top.key, size);
      return this.result(id, false, warnings);
    } finally {
      lock.release();
    }
  }

  /**
   * Renders into `dest` (which must not exist) with no tree reuse, for `rkt image render`: into a
   * temp sibling, then renamed. With rootfsOnly, `dest` is the rootfs itself.
   */
  async renderCopy(
    images: readonly FlatImage[],
    dest: string,
    rootfsOnly: boolean,
    devices: { devices: 'create' | 'skip'; skippedDeviceHint?: string } = { devices: 'create' },
  ): Promise<string[]> {
    const top = images[0];
    if (top === undefined) throw storeError('image list empty', 'invalid-argument');
    // A locked temp sibling: one that a killed render left is unlocked, and removed by the next
    // render into the same place (and by image gc).
    removeAbandonedSiblings(dest);
    const temp = lockedTempSiblingDir(dest, 0o755);
    const tmp = temp.path;
    try {
      const { warnings } = await renderImages(images, tmp, (k) => this.images.readBlob(k), devices);
      if (rootfsOnly) {
        renameSync(join(tmp, TREE_ROOTFS), dest);
      } else {
        writeFileSync(join(tmp, TREE_MANIFEST), this.images.manifestBytes(top.key), { mode: 0o644 });
        renameSync(tmp, dest);
      }
      return warnings;
    } finally {
      rmSync(tmp, { recursive: true, force: true });
      temp.release();
    }
  }

  /**
   * Removes a tree (held locked by the caller): the `rendered` marker first and synced, so an
   * interrupted removal leaves a tree that is known partial, never one that looks complete.
   */
  private removeLocked(id: string): boolean {
    const path = this.layout.treePath(id);
    if (!existsSync(path)) return false;
    if (removeIfExists(join(path, TREE_RENDERED))) fsyncDir(path);
    const key = this.imageOf(id);
    rmSync(path, { recursive: true, force: true });
    if (key !== undefined) this.images.setTreeStoreSize(key, 0);
    return true;
  }

  /** Removes a tree, waiting for a render of it to finish. */
  async remove(id: string): Promise<boolean> {
    const lock = await FileLock.acquire(this.layout.treeLock(id), 'exclusive');
    try {
      return this.removeLocked(id);
    } finally {
      lock.release();
    }
  }

  /** Removes every tree rendered for image `key`; returns their IDs. */
  async removeTreesOf(key: string): Promise<string[]> {
    const removed: string[] = [];
    for (const id of this.ids()) {
      if (this.imageOf(id) === key && (await this.remove(id))) removed.push(id);
    }
    return removed;
  }

  /**
   * Tree gc (`rkt image gc` step 1): removes every tree not in `inUse` that no process holds locked,
   * and temp dirs of renders whose process is gone. Returns the removed tree IDs.
   */
  gc(inUse: ReadonlySet<string>): string[] {
    const removed: string[] = [];
    for (const name of readdirSync(this.layout.treeDir).sort()) {
      if (name.startsWith(TREE_TEMP_PREFIX)) {
        const id = name.slice(TREE_TEMP_PREFIX.length).split('.')[0] ?? '';
        this.withTryLock(id, () => rmSync(join(this.layout.treeDir, name), { recursive: true, force: true }));
      } else if (name.startsWith(TREE_ID_PREFIX) && !inUse.has(name)) {
        if (this.withTryLock(name, () => this.removeLocked(name)) === true) removed.push(name);
      }
    }
    return removed;
  }

  private withTryLock<T>(id: string, fn: () => T): T | undefined {
    let lock: FileLock | undefined;
    try {
      lock = FileLock.tryAcquire(this.layout.treeLock(id), 'exclusive');
    } catch (err) {
      if (errCode(err) === 'ENOENT') return undefined;
      throw err;
    }
    if (lock === undefined) return undefined;
    try {
      return fn();
    } finally {
      lock.release();
    }
  }
}
