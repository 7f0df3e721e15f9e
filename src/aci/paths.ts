import { RocketError } from '../errors.js';
import type { EntryType, TarHeader } from './tar-format.js';

export const MANIFEST = 'manifest';
export const ROOTFS = 'rootfs';

/** Go's path.Clean: `./a//b/` → `a/b`, `a/../b` → `b`, `` → `.`. */
export function cleanName(name: string): string {
  const rooted = name.startsWith('/');
  const out: string[] = [];
  for (const part of name.split('/')) {
    if (part === '' || part === '.') continue;
    if (part === '..') {
      if (out.length > 0 && out[out.length - 1] !== '..') out.pop();
      else if (!rooted) out.push('..');
      continue;
    }
    out.push(part);
  }
  const joined = out.join('/');
  if (rooted) return `/${joined}`;
  return joined === '' ? '.' : joined;
}

/** What an archive entry is, once its name is checked. */
export type EntryRole =
  | { kind: 'root' }
  | { kind: 'manifest' }
  | { kind: 'rootfs' }
  /** `rel` is the path below rootfs (`usr/bin/x`), `linkRel` the same for a hard link target. */
  | { kind: 'rootfs-entry'; rel: string; linkRel?: string };

/** Seen entries: explicit ones by type, directories implied by deeper entries as 'implied'. */
type Seen = EntryType | 'implied';

/**
 * The archive rules of appc plus ours, checked one entry at a time so that validation and
 * extraction refuse exactly the same archives:
 * - names are cleaned (`./rootfs/a/` = `rootfs/a`); absolute names and `..` components are refused
 *   (REF accepts a `..` that stays inside after cleaning; we refuse any);
 * - the top level holds exactly `manifest` (a regular file) and `rootfs` (a directory);
 *   STRICTER THAN REF: REF accepts any top-level name that merely starts with "rootfs"
 *   (`rootfsfoo`) and does not notice a duplicate `manifest` (it concatenates the bodies);
 * - no duplicates after cleaning, including `rootfs` and `manifest`;
 * - STRICTER THAN REF: no entry below a non-directory entry of the same archive (`rootfs/a` a
 *   symlink, then `rootfs/a/x`), and no non-directory where earlier entries implied a directory;
 * - hard link targets are archive paths inside rootfs naming an earlier non-directory entry
 *   (REF does not check link targets at all);
 * - unsupported entry types (GNU sparse, volume labels, ...) are refused.
 */
export class ArchiveChecker {
  private readonly seen = new Map<string, Seen>();
  private manifestSeen = false;
  private rootfsSeen = false;

  constructor(private readonly source: string) {}

  private fail(name: string, reason: string): RocketError {
    return new RocketError(`${this.source}: entry ${JSON.stringify(name)}: ${reason}`);
  }

  check(h: TarHeader): EntryRole {
    const name = h.name;
    const cleaned = this.checkedName(name, name);
    if (cleaned === '.') {
      if (h.type !== 'directory') throw this.fail(name, 'not a directory');
      return { kind: 'root' };
    }
    if (cleaned === MANIFEST) {
      if (this.manifestSeen) throw this.fail(name, 'duplicate entry "manifest"');
      if (h.type !== 'file') throw this.fail(name, 'manifest is not a regular file');
      this.manifestSeen = true;
      return { kind: 'manifest' };
    }
    if (cleaned === ROOTFS) {
      if (this.rootfsSeen) throw this.fail(name, 'duplicate entry "rootfs"');
      if (h.type !== 'directory') throw this.fail(name, 'rootfs is not a directory');
      this.rootfsSeen = true;
      return { kind: 'rootfs' };
    }
    if (!cleaned.startsWith(`${ROOTFS}/`)) {
      throw this.fail(name, 'unrecognized file path (only "manifest" and "rootfs" may be at the top level)');
    }
    if (h.type === 'unsupported') throw this.fail(name, `unsupported entry type '${h.typeflag}'`);

    const previous = this.seen.get(cleaned);
    if (previous !== undefined && previous !== 'implied') throw this.fail(name, 'duplicate entry');
    if (previous === 'implied' && h.type !== 'directory') {
      throw this.fail(name, 'conflicts with a directory implied by earlier entries');
    }
    this.checkParents(name, cleaned);

    let linkRel: string | undefined;
    if (h.type === 'link') {
      const target = this.checkedName(name, h.linkname, 'hard link target');
      if (!target.startsWith(`${ROOTFS}/`)) {
        throw this.fail(name, `hard link target ${JSON.stringify(h.linkname)} is outside rootfs`);
      }
      const t = this.seen.get(target);
      if (t === undefined || t === 'implied') {
        throw this.fail(name, `hard link target ${JSON.stringify(h.linkname)} is not an earlier entry`);
      }
      if (t === 'directory')
        throw this.fail(name, `hard link target ${JSON.stringify(h.linkname)} is a directory`);
      if (target === cleaned) throw this.fail(name, 'hard link to itself');
      linkRel = target.slice(ROOTFS.length + 1);
    }
    this.seen.set(cleaned, h.type);
    const rel = cleaned.slice(ROOTFS.length + 1);
    return linkRel === undefined ? { kind: 'rootfs-entry', rel } : { kind: 'rootfs-entry', rel, linkRel };
  }

  /** Refuses absolute and `..` names; returns the cleaned name. */
  private checkedName(entry: string, path: string, what = 'path'): string {
    if (path === '') throw this.fail(entry, `empty ${what}`);
    if (path.startsWith('/')) throw this.fail(entry, `${what} ${JSON.stringify(path)} is absolute`);
    if (path.split('/').includes('..')) {
      const cleaned = cleanName(path);
      const escapes =
        cleaned === '..' ||
        cleaned.startsWith('../') ||
        (path.split('/').find((p) => p !== '' && p !== '.') === ROOTFS && !cleaned.startsWith(`${ROOTFS}/`));
      throw this.fail(
        entry,
        escapes
          ? `${what === 'path' ? 'path' : `${what} ${JSON.stringify(path)}`} escapes the archive`
          : `${what} ${JSON.stringify(path)} contains ".."`,
      );
    }
    return cleanName(path);
  }

  private checkParents(name: string, cleaned: string): void {
    let i = cleaned.indexOf('/', ROOTFS.length + 1);
    while (i !== -1) {
      const parent = cleaned.slice(0, i);
      const t = this.seen.get(parent);
      if (t === undefined) this.seen.set(parent, 'implied');
      else if (t !== 'directory' && t !== 'implied') {
        throw this.fail(
          name,
          `parent ${JSON.stringify(parent)} is ${t === 'symlink' ? 'a symlink' : 'not a directory'}`,
        );
      }
      i = cleaned.indexOf('/', i + 1);
    }
  }

  /** After the last entry: both top-level entries must have been there. */
  finish(): void {
    if (!this.manifestSeen) throw new RocketError(`${this.source}: no image manifest found in archive`);
    if (!this.rootfsSeen) throw new RocketError(`${this.source}: no rootfs found in archive`);
  }
}
