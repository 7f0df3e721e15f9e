/**
 * The image store: content-addressed uncompressed ACIs under rkt's data dir layout, a SQLite index,
 * and the tree store of rendered images (dependencies flattened, pathWhitelist applied).
 */
export {
  Store,
  type ImageInfo,
  type ImportOptions,
  type ImportResult,
  type OutputDirOptions,
  type RemoteInfo,
  type RemovedImage,
} from './store.js';
export { TreeStore, type RenderedTree } from './tree.js';
export {
  flattenDependencies,
  renderImages,
  treeStoreIdOf,
  whitelistOf,
  type DependencyResolver,
  type FlatImage,
  type ManifestLookup,
  type RenderResult,
} from './render.js';
export {
  DEFAULT_DATA_DIR,
  KEY_LENGTH,
  KEY_PREFIX,
  MIN_KEY_PREFIX_LENGTH,
  StoreLayout,
  isStoreKey,
  keyOfImageId,
} from './layout.js';
export { FileLock, withLock, syncFilesystem, type LockMode } from './flock.js';
export { SCHEMA_VERSION } from './db.js';
export { createLockedTempDir, createLockedTempFile, lockFdAtPath } from './util.js';
export {
  DEFAULT_MAX_IMAGE_SIZE,
  formatSize,
  maxImageSizeFromConfig,
  parseSize,
  resolveMaxImageSize,
} from './limits.js';
