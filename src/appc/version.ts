import type { Reader } from './reader.js';
import { isZeroSemver, parseSemver } from './semver.js';
import type { JsonValue } from './types.js';

/** The spec version this implementation follows and writes into new manifests. */
export const APPC_SPEC_VERSION_STRING = '0.8.11';
const OUR_MAJOR = 0;

/**
 * Reads acVersion: SemVer 2.0, not 0.0.0. Manifests of any version in our major series are accepted
 * silently; another major gets a warning (the reference warns only about an older major, which for
 * 0.x cannot happen, and says nothing about newer ones).
 */
export function readAcVersion(r: Reader, v: JsonValue, path: string): string {
  const s = r.string(v, path);
  const sv = parseSemver(s);
  if (sv === undefined) r.fail(path, `${JSON.stringify(s)} is not a SemVer 2.0 version`);
  if (isZeroSemver(sv)) r.fail(path, 'SemVer cannot be zero');
  if (sv.major < OUR_MAJOR)
    r.warn(path, `acVersion ${s} is older than the supported major version ${OUR_MAJOR}`);
  if (sv.major > OUR_MAJOR)
    r.warn(path, `acVersion ${s} is newer than the supported version ${APPC_SPEC_VERSION_STRING}`);
  return s;
}
