/** ACI archives: compression detection, image IDs, validation, safe extraction, build, manifest patching. */
export {
  detectFileType,
  sniffFile,
  openDecompressed,
  type Compression,
  type Decompressed,
  type FileType,
} from './compression.js';
export {
  readAci,
  imageIdOf,
  readManifestBytes,
  StopReading,
  IMAGE_ID_PREFIX,
  type EntryHandler,
  type ReadAciOptions,
  type ReadAciResult,
  type TarEntry,
} from './read.js';
export type { EntryType, TarHeader } from './tar-format.js';
export { cleanName, ArchiveChecker, type EntryRole } from './paths.js';
export {
  validateArchive,
  validateLayout,
  parseManifestBytes,
  type ArchiveValidation,
  type LayoutValidation,
} from './validate.js';
export { buildAci, type BuildOptions, type BuildResult } from './build.js';
export type { OutputCompression, OutputOptions } from './output.js';
export { extractAci, type ExtractOptions, type ExtractResult } from './extract.js';
export { EntryWriter, type EntryWriterOptions } from './entry-writer.js';
export { rewriteManifest, type RewriteOptions } from './rewrite.js';
export {
  mknod,
  makedev,
  splitDev,
  lsetxattr,
  lgetxattrs,
  SyscallError,
  S_IFBLK,
  S_IFCHR,
  S_IFIFO,
} from './syscalls.js';
