/**
 * appc user and group resolution against an app's rootfs (appc spec/ace.md, "user"/"group"):
 * 1. a name in the image's own /etc/passwd or /etc/group (names may be all digits, and win);
 * 2. a number;
 * 3. an absolute path: the owner uid (user) or group gid (group) of that file in the rootfs.
 * Every path is resolved inside the rootfs, symlinks included, so an image cannot point us at a host
 * file.
 */
import { lstatSync, readFileSync, readlinkSync } from 'node:fs';
import path from 'node:path';
import { RocketError } from '../../errors.js';

export interface ResolvedUser {
  uid: number;
  gid: number;
  additionalGids: number[];
}

const MAX_SYMLINKS = 40;

/**
 * The host path of `inner` (an absolute path inside `root`) with every symlink followed as if
 * `root` were `/`: an absolute link target restarts at root and `..` never climbs above it.
 * Missing components are left as they are (the caller's stat reports them).
 */
export function resolveInRoot(root: string, inner: string): string {
  const pending = inner.split('/').filter((c) => c !== '' && c !== '.');
  const done: string[] = [];
  let links = 0;
  while (pending.length > 0) {
    const c = pending.shift() as string;
    if (c === '..') {
      done.pop();
      continue;
    }
    if (c === '.') continue;
    const host = path.join(root, ...done, c);
    let isLink: boolean;
    try {
      isLink = lstatSync(host).isSymbolicLink();
    } catch {
      done.push(c, ...pending.filter((p) => p !== '.'));
      break;
    }
    if (!isLink) {
      done.push(c);
      continue;
    }
    if (++links > MAX_SYMLINKS) throw new Error(`too many levels of symbolic links in ${inner}`);
    const target = readlinkSync(host);
    if (target.startsWith('/')) done.length = 0;
    pending.unshift(...target.split('/').filter((x) => x !== '' && x !== '.'));
  }
  return path.join(root, ...done.filter((c) => c !== '..'));
}

/** Rows of a colon-separated database (/etc/passwd, /etc/group), or [] when it does not exist. */
function readDatabase(root: string, file: string): string[][] {
  let text: string;
  try {
    text = readFileSync(resolveInRoot(root, file), 'utf8');
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return [];
    throw err;
  }
  return text
    .split('\n')
    .filter((l) => l.trim() !== '' && !l.startsWith('#'))
    .map((l) => l.split(':'));
}

function parseId(s: string | undefined): number | undefined {
  if (s === undefined || !/^[0-9]+$/.test(s)) return undefined;
  const n = Number(s);
  return n <= 0xffffffff ? n : undefined;
}

function resolveOne(root: string, value: string, field: 'user' | 'group', appName: string): number {
  const where = `app ${JSON.stringify(appName)}: ${field} ${JSON.stringify(value)}`;
  if (value === '') throw new RocketError(`${where}: must not be empty`);
  if (value.startsWith('/')) {
    let st;
    try {
      st = lstatSync(resolveInRoot(root, value));
    } catch (err) {
      throw new RocketError(`${where}: cannot stat ${value} in the app's rootfs: ${(err as Error).message}`);
    }
    return field === 'user' ? st.uid : st.gid;
  }
  const db = readDatabase(root, field === 'user' ? '/etc/passwd' : '/etc/group');
  const row = db.find((r) => r[0] === value);
  if (row !== undefined) {
    const id = parseId(row[2]);
    if (id === undefined)
      throw new RocketError(
        `${where}: malformed entry in the image's /etc/${field === 'user' ? 'passwd' : 'group'}`,
      );
    return id;
  }
  const id = parseId(value);
  if (id !== undefined) return id;
  throw new RocketError(
    `${where}: no such ${field} in the image's /etc/${field === 'user' ? 'passwd' : 'group'}, and not a number or a path`,
  );
}

/**
 * Resolves an app's `user`, `group` and supplementary gids against its rootfs; errors name the
 * app and the field.
 */
export function resolveAppUser(
  rootfs: string,
  app: { user: string; group: string; supplementaryGIDs?: number[] },
  appName: string,
): ResolvedUser {
  const uid = resolveOne(rootfs, app.user, 'user', appName);
  const gid = resolveOne(rootfs, app.group, 'group', appName);
  return { uid, gid, additionalGids: [...new Set(app.supplementaryGIDs ?? [])] };
}
