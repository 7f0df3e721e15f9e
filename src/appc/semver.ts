/** SemVer 2.0.0 (used by acVersion). */

export interface SemVer {
  major: number;
  minor: number;
  patch: number;
  prerelease?: string;
  build?: string;
}

// The official SemVer 2.0.0 grammar: no leading zeros, no `v` prefix, exactly three numbers.
const SEMVER =
  /^(0|[1-9]\d*)\.(0|[1-9]\d*)\.(0|[1-9]\d*)(?:-((?:0|[1-9]\d*|\d*[a-zA-Z-][0-9a-zA-Z-]*)(?:\.(?:0|[1-9]\d*|\d*[a-zA-Z-][0-9a-zA-Z-]*))*))?(?:\+([0-9a-zA-Z-]+(?:\.[0-9a-zA-Z-]+)*))?$/;

/** Parses a SemVer string; undefined when malformed. `0.0.0` parses (callers decide if zero is ok). */
export function parseSemver(s: string): SemVer | undefined {
  const m = SEMVER.exec(s);
  if (m === null) return undefined;
  const v: SemVer = { major: Number(m[1]), minor: Number(m[2]), patch: Number(m[3]) };
  if (!Number.isSafeInteger(v.major) || !Number.isSafeInteger(v.minor) || !Number.isSafeInteger(v.patch)) {
    return undefined;
  }
  if (m[4] !== undefined) v.prerelease = m[4];
  if (m[5] !== undefined) v.build = m[5];
  return v;
}

export function formatSemver(v: SemVer): string {
  let s = `${v.major}.${v.minor}.${v.patch}`;
  if (v.prerelease !== undefined) s += `-${v.prerelease}`;
  if (v.build !== undefined) s += `+${v.build}`;
  return s;
}

export function isZeroSemver(v: SemVer): boolean {
  return (
    v.major === 0 && v.minor === 0 && v.patch === 0 && v.prerelease === undefined && v.build === undefined
  );
}

/** SemVer precedence: negative, zero or positive; build metadata is ignored. */
export function compareSemver(a: SemVer, b: SemVer): number {
  for (const k of ['major', 'minor', 'patch'] as const) {
    if (a[k] !== b[k]) return a[k] - b[k];
  }
  if (a.prerelease === b.prerelease) return 0;
  if (a.prerelease === undefined) return 1;
  if (b.prerelease === undefined) return -1;
  const pa = a.prerelease.split('.');
  const pb = b.prerelease.split('.');
  for (let i = 0; i < Math.min(pa.length, pb.length); i++) {
    const c = comparePrereleasePart(pa[i] ?? '', pb[i] ?? '');
    if (c !== 0) return c;
  }
  return pa.length - pb.length;
}

function comparePrereleasePart(x: string, y: string): number {
  const xn = /^\d+$/.test(x);
  const yn = /^\d+$/.test(y);
  if (xn && yn) return Number(x) - Number(y);
  if (xn) return -1;
  if (yn) return 1;
  return x < y ? -1 : x > y ? 1 : 0;
}
