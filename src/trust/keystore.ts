/**
 * rkt's trusted-key store (pkg/keystore), on the same directories so keys trusted by either tool
 * serve both:
 *
 *   <dir>/trustedkeys/root.d/<fingerprint>                  trusts every image
 *   <dir>/trustedkeys/prefix.d/<prefix path>/<fingerprint>  trusts names at or under the prefix
 *
 * for the system dir (`/usr/lib/rkt`, shipped by a vendor) and the local dir (`/etc/rkt`, the
 * admin's). Files hold one armored or binary public key and are named by its lowercase hex
 * fingerprint; a zero-byte file masks a key of that fingerprint read earlier.
 */
import { randomBytes } from 'node:crypto';
import type { Dirent } from 'node:fs';
import { chmod, mkdir, open, readFile, readdir, rename, stat, unlink } from 'node:fs/promises';
import { join, posix, relative, sep } from 'node:path';

import type { Key } from 'openpgp';

import { RKT_FAILURE, RocketError, errorMessage } from '../errors.js';
import { type KeyOrSignatureData, keyProblem, readPublicKeys } from './pgp.js';

export const DEFAULT_SYSTEM_CONFIG_DIR = '/usr/lib/rkt';
export const DEFAULT_LOCAL_CONFIG_DIR = '/etc/rkt';

/** Where a key is trusted: for names at or under a prefix, or for every image (root). */
export type TrustScope = { prefix: string } | { root: true };

/** A key read from the store, named by the file it came from. */
export interface TrustedKey {
  /** Lowercase hex fingerprint of the primary key, which is also the file's name. */
  fingerprint: string;
  path: string;
  key: Key;
}

export interface KeystoreDirs {
  systemDir?: string;
  localDir?: string;
}

const FILE_MODE = 0o644;
const DIR_MODE = 0o755;

/** Go's url.Parse scheme rule: a letter, then letters, digits, "+", "-" or ".", then ":". */
const URL_SCHEME = /^([A-Za-z][A-Za-z0-9+.-]*):/;

/**
 * Why `s` is not an AC Identifier as appc's NewACIdentifier (which rkt calls) judges it, or
 * undefined. That check only looks at the character set and the two ends, so separator runs such
 * as `a//b` pass; the path clean that follows makes them one directory level, as in rkt.
 */
function acIdentifierProblem(s: string): string | undefined {
  if (s === '') return 'ACIdentifier cannot be empty';
  if (/[^a-z0-9\-._~/]/.test(s)) {
    return 'ACIdentifier must contain only lower case alphanumeric characters plus "-._~/"';
  }
  if (/^[-._~/]|[-._~/]$/.test(s)) {
    return 'ACIdentifier must start and end with only lower case alphanumeric characters';
  }
  return undefined;
}

/**
 * The directory path under `prefix.d/` for a prefix or image name, the way rkt maps it:
 * NewACIdentifier validation, then Go's path.Join clean (`a//b` and `a/./b` become `a/b`).
 * Unlike rkt, a `..` that would leave `prefix.d/` is refused rather than followed.
 */
export function prefixPath(prefix: string, what = 'prefix'): string {
  const scheme = what === 'prefix' ? URL_SCHEME.exec(prefix)?.[1] : undefined;
  if (scheme !== undefined) {
    throw new RocketError(`--prefix must not contain a URL scheme, omit ${scheme}://`, RKT_FAILURE);
  }
  const problem = acIdentifierProblem(prefix);
  if (problem !== undefined) {
    throw new RocketError(`invalid ${what} ${JSON.stringify(prefix)}: ${problem}`, RKT_FAILURE);
  }
  const cleaned = posix.normalize(prefix);
  if (cleaned === '.' || cleaned === '..' || cleaned.startsWith('../')) {
    throw new RocketError(
      `invalid ${what} ${JSON.stringify(prefix)}: it leaves the prefix.d directory`,
      RKT_FAILURE,
    );
  }
  return cleaned;
}

function isNotFound(err: unknown): boolean {
  return (err as NodeJS.ErrnoException | undefined)?.code === 'ENOENT';
}

async function listDir(dir: string): Promise<Dirent[]> {
  try {
    const entries = await readdir(dir, { withFileTypes: true });
    // Go's filepath.Walk visits names in byte order; masking depends on that order.
    return entries.sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
  } catch (err) {
    if (isNotFound(err)) return [];
    throw new RocketError(`cannot list trusted keys in ${dir}: ${errorMessage(err)}`, RKT_FAILURE, {
      cause: err,
    });
  }
}

async function sizeOf(path: string): Promise<number> {
  try {
    return (await stat(path)).size;
  } catch (err) {
    throw new RocketError(`cannot read trusted key ${path}: ${errorMessage(err)}`, RKT_FAILURE, {
      cause: err,
    });
  }
}

async function readKeyFile(path: string, fileName: string): Promise<Key> {
  let data: Buffer;
  try {
    data = await readFile(path);
  } catch (err) {
    throw new RocketError(`cannot read trusted key ${path}: ${errorMessage(err)}`, RKT_FAILURE, {
      cause: err,
    });
  }
  const [key] = await readPublicKeys(data, `trusted key ${path}`);
  const fingerprint = key!.getFingerprint();
  if (fingerprint !== fileName) {
    throw new RocketError(
      `trusted key ${path}: fingerprint mismatch: the file is named ${fileName} but holds key ${fingerprint}`,
      RKT_FAILURE,
    );
  }
  return key!;
}

export class Keystore {
  readonly systemRootPath: string;
  readonly systemPrefixPath: string;
  readonly localRootPath: string;
  readonly localPrefixPath: string;
  /** Where temporary files are written before the rename: beside, never inside, the walked dirs. */
  private readonly localTrustedKeysPath: string;

  constructor({
    systemDir = DEFAULT_SYSTEM_CONFIG_DIR,
    localDir = DEFAULT_LOCAL_CONFIG_DIR,
  }: KeystoreDirs = {}) {
    this.systemRootPath = join(systemDir, 'trustedkeys', 'root.d');
    this.systemPrefixPath = join(systemDir, 'trustedkeys', 'prefix.d');
    this.localTrustedKeysPath = join(localDir, 'trustedkeys');
    this.localRootPath = join(this.localTrustedKeysPath, 'root.d');
    this.localPrefixPath = join(this.localTrustedKeysPath, 'prefix.d');
  }

  /**
   * The keys that may sign image `name` (rkt's loadKeyring): system then local root.d, then the
   * system then local prefix.d directories on the way from the first name segment down to the
   * whole name. Each file sets its fingerprint; a zero-byte file removes what was set before, so a
   * local empty file masks a vendor key. Only whole path segments match: a key for `example.com/foo`
   * does not cover `example.com/foobar` (rkt's plain string-prefix test would).
   */
  async trustedKeysFor(name: string): Promise<TrustedKey[]> {
    const segments = prefixPath(name, 'image name').split('/');
    const keys = new Map<string, TrustedKey>();
    const visit = async (dir: string, descend: string[]): Promise<void> => {
      for (const entry of await listDir(dir)) {
        const path = join(dir, entry.name);
        if (entry.isDirectory()) {
          if (entry.name === descend[0]) await visit(path, descend.slice(1));
          continue;
        }
        if ((await sizeOf(path)) === 0) {
          keys.delete(entry.name);
          continue;
        }
        const key = await readKeyFile(path, entry.name);
        keys.set(entry.name, { fingerprint: entry.name, path, key });
      }
    };
    await visit(this.systemRootPath, []);
    await visit(this.localRootPath, []);
    const [first, ...rest] = segments;
    await visit(join(this.systemPrefixPath, first!), rest);
    await visit(join(this.localPrefixPath, first!), rest);
    return [...keys.values()];
  }

  /**
   * Whether a non-empty key file exists for `prefix` or any of its parents, locally or from the
   * system (rkt's TrustedKeyPrefixExists, used to decide whether to discover keys for a name).
   * Root keys do not count, as in rkt.
   */
  async trustedKeyPrefixExists(prefix: string): Promise<boolean> {
    const segments = prefixPath(prefix).split('/');
    for (let n = segments.length; n > 0; n--) {
      const sub = segments.slice(0, n).join('/');
      for (const base of [this.localPrefixPath, this.systemPrefixPath]) {
        const dir = join(base, sub);
        for (const entry of await listDir(dir)) {
          if (!entry.isDirectory() && (await sizeOf(join(dir, entry.name))) > 0) return true;
        }
      }
    }
    return false;
  }

  /**
   * Whether a key file of this fingerprint exists in root.d or in the prefix's own directory,
   * locally or from the system (rkt's TrustedKeyPrefixWithFingerprintExists: "already in the
   * keystore"). Like rkt, an empty mask file counts as present.
   */
  async trustedKeyExists(scope: TrustScope, fingerprint: string): Promise<boolean> {
    const candidates = [join(this.localRootPath, fingerprint), join(this.systemRootPath, fingerprint)];
    if ('prefix' in scope) {
      const sub = prefixPath(scope.prefix);
      candidates.push(
        join(this.localPrefixPath, sub, fingerprint),
        join(this.systemPrefixPath, sub, fingerprint),
      );
    }
    for (const path of candidates) {
      try {
        await stat(path);
        return true;
      } catch (err) {
        if (!isNotFound(err)) {
          throw new RocketError(`cannot check trusted key ${path}: ${errorMessage(err)}`, RKT_FAILURE, {
            cause: err,
          });
        }
      }
    }
    return false;
  }

  /** The local directory that holds the keys of a scope. */
  localDirFor(scope: TrustScope): string {
    return 'prefix' in scope ? join(this.localPrefixPath, prefixPath(scope.prefix)) : this.localRootPath;
  }

  /**
   * Stores a public key (armored or binary, kept byte for byte) in the local tree as
   * `<dir>/<fingerprint of its first key>` and returns that path. The file appears whole or not
   * at all: written to a temp file beside `root.d/` and `prefix.d/` (never inside them, where a
   * leftover would break every lookup), fsynced, then renamed into place.
   */
  async storeTrustedKey(scope: TrustScope, keyData: KeyOrSignatureData): Promise<string> {
    const dir = this.localDirFor(scope);
    const bytes = typeof keyData === 'string' ? Buffer.from(keyData, 'utf8') : keyData;
    const [key] = await readPublicKeys(bytes, 'key to trust');
    const problem = await keyProblem(key!);
    if (problem !== undefined) throw new RocketError(`${problem}: not trusting it`, RKT_FAILURE);
    const fingerprint = key!.getFingerprint();
    const target = join(dir, fingerprint);
    await makeDirs(dir);
    const temp = join(this.localTrustedKeysPath, `.${fingerprint}.${randomBytes(6).toString('hex')}.tmp`);
    try {
      const handle = await open(temp, 'wx', FILE_MODE);
      try {
        await handle.writeFile(bytes);
        await handle.chmod(FILE_MODE); // the umask may have narrowed the mode given to open
        await handle.sync();
      } finally {
        await handle.close();
      }
      await rename(temp, target);
      await syncDir(dir);
    } catch (err) {
      await unlink(temp).catch(() => undefined);
      throw new RocketError(`cannot store trusted key ${target}: ${errorMessage(err)}`, RKT_FAILURE, {
        cause: err,
      });
    }
    return target;
  }
}

/** mkdir -p with every directory it creates set to 0755 whatever the umask, as rkt does. */
async function makeDirs(dir: string): Promise<void> {
  let first: string | undefined;
  try {
    first = await mkdir(dir, { recursive: true, mode: DIR_MODE });
  } catch (err) {
    throw new RocketError(`cannot create ${dir}: ${errorMessage(err)}`, RKT_FAILURE, { cause: err });
  }
  if (first === undefined) return;
  const created = [first];
  for (const part of relative(first, dir)
    .split(sep)
    .filter((p) => p !== '')) {
    created.push(join(created[created.length - 1]!, part));
  }
  for (const path of created) await chmod(path, DIR_MODE);
}

async function syncDir(dir: string): Promise<void> {
  const handle = await open(dir, 'r');
  try {
    await handle.sync();
  } finally {
    await handle.close();
  }
}
