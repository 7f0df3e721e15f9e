import { join } from 'node:path';

/** rkt's default data dir (`--dir`). */
export const DEFAULT_DATA_DIR = '/var/lib/rkt';

/** Store keys are `sha512-` + the first half of the digest in hex, as rkt (shorter paths). */
export const KEY_PREFIX = 'sha512-';
export const KEY_LENGTH = KEY_PREFIX.length + 64;
/** The shortest image ID prefix rkt resolves: `sha512-` + 2 hex digits. */
export const MIN_KEY_PREFIX_LENGTH = KEY_PREFIX.length + 2;

/** The tree store ID prefix: trees are named by their flattened dependency list. */
export const TREE_ID_PREFIX = 'deps-';
/** Files inside a tree dir besides rootfs/ (rkt's names). */
export const TREE_RENDERED = 'rendered';
export const TREE_IMAGE = 'image';
export const TREE_MANIFEST = 'manifest';
export const TREE_ROOTFS = 'rootfs';
/** The hash of the rendered rootfs (tree-hash.ts), written at render time. */
export const TREE_HASH = 'hash';
/** Prefix of a tree being rendered (hidden, so a listing of tree IDs skips it). */
export const TREE_TEMP_PREFIX = '.tmp-';

/**
 * rkt's data dir layout (Documentation: dist/init/systemd/tmpfiles.d, store/imagestore). The one
 * deliberate difference is the DB: rkt's cznic/ql `cas/db/ql.db` cannot be read from Node, so ours is
 * SQLite at `cas/db/rocket.sqlite`; a data dir used by rkt keeps its ql.db untouched beside it.
 */
export class StoreLayout {
  readonly cas: string;
  readonly dbDir: string;
  readonly dbFile: string;
  readonly blobDir: string;
  readonly manifestDir: string;
  readonly treeDir: string;
  readonly tmpDir: string;
  readonly imageLockDir: string;
  readonly treeLockDir: string;
  readonly locksDir: string;
  /** Verified Docker layer blobs by digest, so a changed docker:// image re-downloads only new layers. */
  readonly dockerLayerCacheDir: string;

  constructor(readonly dataDir: string) {
    this.cas = join(dataDir, 'cas');
    this.dbDir = join(this.cas, 'db');
    this.dbFile = join(this.dbDir, 'rocket.sqlite');
    this.blobDir = join(this.cas, 'blob');
    this.manifestDir = join(this.cas, 'imageManifest');
    this.treeDir = join(this.cas, 'tree');
    this.tmpDir = join(this.cas, 'tmp');
    this.imageLockDir = join(this.cas, 'imagelocks');
    this.treeLockDir = join(this.cas, 'treestorelocks');
    this.locksDir = join(dataDir, 'locks');
    this.dockerLayerCacheDir = join(this.cas, 'docker-layers');
  }

  /** Every directory the store writes to. */
  get dirs(): string[] {
    return [
      this.dbDir,
      this.blobDir,
      this.manifestDir,
      this.treeDir,
      this.tmpDir,
      this.imageLockDir,
      this.treeLockDir,
      this.locksDir,
    ];
  }

  /** diskv's block transform as rkt configures it: `<alg>/<first 2 hex>/<key>`. */
  private keyed(base: string, key: string): string {
    const [alg, hex] = splitKey(key);
    return join(base, alg, hex.slice(0, 2), key);
  }

  blobPath(key: string): string {
    return this.keyed(this.blobDir, key);
  }

  manifestPath(key: string): string {
    return this.keyed(this.manifestDir, key);
  }

  imageLock(key: string): string {
    return join(this.imageLockDir, key);
  }

  treePath(id: string): string {
    return join(this.treeDir, id);
  }

  treeRootfs(id: string): string {
    return join(this.treeDir, id, TREE_ROOTFS);
  }

  treeLock(id: string): string {
    return join(this.treeLockDir, id);
  }
}

function splitKey(key: string): [string, string] {
  const dash = key.indexOf('-');
  return [key.slice(0, dash), key.slice(dash + 1)];
}

/** The store key of a full image ID (or of a key: idempotent). */
export function keyOfImageId(imageId: string): string {
  return imageId.slice(0, KEY_LENGTH);
}

/** A well-formed store key: `sha512-` + 64 lowercase hex digits. */
export function isStoreKey(s: string): boolean {
  return /^sha512-[0-9a-f]{64}$/.test(s);
}
