/**
 * The thing discovery looks for: an image name (AC Identifier) plus labels, parsed from the command
 * line form `NAME[:VERSION][,LABEL=VALUE...]` the way the reference `NewAppFromString` does.
 */
import { isACIdentifier } from '../appc/index.js';
import { RocketError } from '../errors.js';

export interface DiscoveryApp {
  readonly name: string;
  /** In the order given; `version` from `NAME:VERSION` comes first. */
  readonly labels: ReadonlyMap<string, string>;
}

/** What discovery fills in when the user gave no version (a fetch hint, not a label to enforce). */
export const DEFAULT_VERSION = 'latest';

/**
 * Why `s` is not an AC Identifier (reference wording), or undefined. The rule itself is src/appc's
 * (the spec's), so separator runs such as `a--b`, which the reference lets through, are refused.
 */
export function acIdentifierProblem(s: string): string | undefined {
  if (s === '') return 'ACIdentifier cannot be empty';
  if (/[^a-z0-9\-._~/]/.test(s)) {
    return 'ACIdentifier must contain only lower case alphanumeric characters plus "-._~/"';
  }
  if (/^[-._~/]|[-._~/]$/.test(s)) {
    return 'ACIdentifier must start and end with only lower case alphanumeric characters';
  }
  if (!isACIdentifier(s)) return 'ACIdentifier must not contain consecutive "-._~/" separators';
  return undefined;
}

function checkIdentifier(s: string): string {
  const problem = acIdentifierProblem(s);
  if (problem !== undefined) throw new RocketError(problem);
  return s;
}

/** Builds an app from a name and labels, validating both as the reference `NewApp` does. */
export function newApp(name: string, labels: Iterable<readonly [string, string]> = []): DiscoveryApp {
  const map = new Map<string, string>();
  for (const [key, value] of labels) map.set(checkIdentifier(key), value);
  return { name: checkIdentifier(name), labels: map };
}

/**
 * Parses `NAME[:VERSION][,LABEL=VALUE...]`. The colon may appear once, right after the name, and
 * stands for `version=`; values may hold any character except `,`. Every label (including `name`
 * and `version`) may be given once.
 */
export function parseAppString(app: string): DiscoveryApp {
  const firstComma = app.indexOf(',');
  const firstColon = app.indexOf(':');
  if (firstComma > -1 && firstColon > firstComma) {
    throw new RocketError('malformed app string - colon may appear only right after the app name');
  }
  if (app.split(':').length > 2) {
    throw new RocketError('malformed app string - colon may appear at most once');
  }
  const prepared = 'name=' + app.replace(':', ',version=');
  const values = new Map<string, string[]>();
  for (const part of prepared.split(',')) {
    const eq = part.indexOf('=');
    if (eq < 0) {
      throw new RocketError(
        `malformed string ${JSON.stringify(prepared)} - has a label without a value: ${part}`,
      );
    }
    const key = part.slice(0, eq);
    const seen = values.get(key);
    if (seen) seen.push(part.slice(eq + 1));
    else values.set(key, [part.slice(eq + 1)]);
  }
  for (const [key, vals] of values) {
    if (vals.length > 1) {
      throw new RocketError(
        `label ${key} with multiple values [${vals.map((v) => JSON.stringify(v)).join(' ')}]`,
      );
    }
  }
  const name = values.get('name')?.[0] ?? '';
  values.delete('name');
  return newApp(
    name,
    [...values].map(([key, vals]) => [key, vals[0] ?? ''] as const),
  );
}

/** The reference's `App.String()`: `NAME,LABEL=VALUE...`, which parseAppString reads back. */
export function appToString(app: DiscoveryApp): string {
  let out = app.name;
  for (const [key, value] of app.labels) out += `,${key}=${value}`;
  return out;
}

/** A copy of `app` whose labels missing or empty in it are set from `defaults`. */
export function withDefaultLabels(
  app: DiscoveryApp,
  defaults: Iterable<readonly [string, string]>,
): DiscoveryApp {
  const labels = new Map(app.labels);
  for (const [key, value] of defaults) {
    if ((labels.get(key) ?? '') === '') labels.set(key, value);
  }
  return { name: app.name, labels };
}

/**
 * Sets `version=latest` when the version is missing or empty, as discovery does before rendering
 * templates; `versionDefaulted` tells the caller not to enforce that label on the fetched image.
 */
export function withDefaultVersion(app: DiscoveryApp): { app: DiscoveryApp; versionDefaulted: boolean } {
  const versionDefaulted = (app.labels.get('version') ?? '') === '';
  return {
    app: versionDefaulted ? withDefaultLabels(app, [['version', DEFAULT_VERSION]]) : app,
    versionDefaulted,
  };
}

const GO_ARCH: Readonly<Record<string, string>> = {
  x64: 'amd64',
  ia32: '386',
  arm: 'arm',
  arm64: 'arm64',
  ppc64: 'ppc64le',
  ppc: 'ppc',
  s390x: 's390x',
  mips: 'mips',
  mipsel: 'mipsle',
  riscv64: 'riscv64',
  loong64: 'loong64',
};

const GO_OS: Readonly<Record<string, string>> = { win32: 'windows', sunos: 'solaris' };

/**
 * The host's Go GOOS, which `actool discover` puts in `{os}` by default. These are Go names, not
 * appc label values (rkt maps them, e.g. arm64 → aarch64).
 */
export function hostGoOS(platform: string = process.platform): string {
  return GO_OS[platform] ?? platform;
}

/** The host's Go GOARCH (Node's `x64` is Go's `amd64`; Node only runs little-endian ppc64). */
export function hostGoArch(arch: string = process.arch): string {
  return GO_ARCH[arch] ?? arch;
}
