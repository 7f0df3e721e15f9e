/**
 * appc (App Container spec 0.8.11) schema layer: the data types, validation with exact JSON paths,
 * canonical serialization, and the building blocks the CLIs need.
 */
export { APPC_SPEC_VERSION_STRING as APPC_SPEC_VERSION } from './version.js';

export { AppcError } from './errors.js';
export type * from './types.js';
export { parseImageManifest, imageManifestToJSON, blankImageManifest } from './image.js';
export { parsePodManifest, podManifestToJSON, blankPodManifest } from './pod.js';
export { manifestKind } from './kind.js';
export {
  isACIdentifier,
  isACName,
  acIdentifierProblem,
  acNameProblem,
  sanitizeACIdentifier,
  sanitizeACName,
} from './names.js';
export { parseSemver, formatSemver, compareSemver, isZeroSemver, type SemVer } from './semver.js';
export { parseImageId, isFullImageId, formatImageId, shortImageId, type ImageId } from './hash.js';
export { parseQuantity, Quantity, type QuantityStyle } from './quantity.js';
export { parseUUID, formatUUID, uuidBytes } from './uuid.js';
export {
  isRFC3339,
  rfc3339Problem,
  httpUrlProblem,
  ENV_NAME,
  isEnvName,
  VALID_OS_ARCH,
  validateOsArch,
  appcArchFromNode,
  appcOsArchFromNode,
  DEFAULT_CAPABILITIES,
  type NodeArchHints,
} from './values.js';
export { parseVolumeString, volumeToString, parseMountPointString, parsePortString } from './strings.js';
export {
  KNOWN_ISOLATOR_NAMES,
  isKnownIsolator,
  decodeIsolator,
  makeIsolator,
  resourceIsolator,
  capabilitiesRetainSet,
  capabilitiesRemoveSet,
  noNewPrivileges,
  seccompRemoveSet,
  seccompRetainSet,
  selinuxContext,
  apparmorProfile,
  oomScoreAdj,
  cpuShares,
  sysctl,
  RESOURCE_CPU,
  RESOURCE_MEMORY,
  RESOURCE_BLOCK_BANDWIDTH,
  RESOURCE_BLOCK_IOPS,
  RESOURCE_NETWORK_BANDWIDTH,
  LINUX_CAPABILITIES_RETAIN_SET,
  LINUX_CAPABILITIES_REMOVE_SET,
  LINUX_NO_NEW_PRIVILEGES,
  LINUX_SECCOMP_REMOVE_SET,
  LINUX_SECCOMP_RETAIN_SET,
  LINUX_SELINUX_CONTEXT,
  LINUX_APPARMOR_PROFILE,
  LINUX_OOM_SCORE_ADJ,
  LINUX_CPU_SHARES,
  UNIX_SYSCTL,
  type IsolatorValue,
  type ResourceIsolatorName,
} from './isolators.js';
