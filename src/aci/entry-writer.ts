import {
  chmodSync,
  closeSync,
  constants,
  ftruncateSync,
  lchownSync,
  linkSync,
  lstatSync,
  lutimesSync,
  mkdirSync,
  openSync,
  rmSync,
  symlinkSync,
  unlinkSync,
} from 'node:fs';
import type { Stats } from 'node:fs';
import { RocketError } from '../errors.js';
import { errText } from './compression.js';
import { lsetxattr, makedev, mknod, S_IFBLK, S_IFCHR, S_IFIFO } from './syscalls.js';
import { writeSparseSync } from './sparse-write.js';
import type { TarHeader } from './tar-format.js';

export interface EntryWriterOptions {
  /** Names the archive in messages; `EntryWriter.source` may change it between archives. */
  source: string;
  /** Apply the entries' uid/gid. */
  chown: boolean;
  /** Apply SCHILY.xattr records (default true); failures are warnings. */
  xattrs?: boolean;
  /**
   * How a non-directory in an entry's way is removed: `unlink` (default) or `remove` (rmSync). A
   * directory in the way of a non-directory is removed recursively either way; nothing is followed.
   */
  clearWith?: 'unlink' | 'remove';
  /**
   * How a failing lstat (other than ENOENT) is reported: `path` (default) as
   * `<path>: cannot stat: ...`, `entry` as `<source>: entry "<name>": lstat failed: ...`.
   */
  statErrors?: 'path' | 'entry';
  /** Ends "hard link target "<x>" ..." when the target is not on disk (default `does not exist`). */
  missingLinkTarget?: string;
  /**
   * Order of the deferred directory modes and times in `finish`: `reverse` (default) applies them
   * in reverse order of placement; `deepest-first` sorts them by depth and skips a path that is no
   * longer a directory. The root's (`placeRoot`) comes last either way.
   */
  dirOrder?: 'reverse' | 'deepest-first';
  /**
   * Character and block device entries: `create` (default) makes them with mknod; `skip` leaves
   * them out with a warning (a copy out of the store, where a hostile image's device node would
   * hand its modes on a host device to whoever can reach the directory). Fifos are always made.
   */
  devices?: 'create' | 'skip';
  /** Appended to the warning for a skipped device node (how to ask for it). */
  skippedDeviceHint?: string;
  /** Told the byte count of each chunk of file data once it is written. */
  onData?: (bytes: number) => void;
}

interface DeferredDir {
  path: string;
  mode: number;
  mtime: number;
  /** Path components below the root (0 for the root itself). */
  depth: number;
}

/**
 * Places tar entries below a root directory without ever writing outside it: each parent directory
 * is checked with lstat below the root, so a symlink (planted by an archive or already there) is
 * never followed: a parent that is one is refused; an entry that names an existing symlink replaces
 * the link; files are created O_EXCL|O_NOFOLLOW; hard link targets are paths below the root
 * resolved the same way. Directory modes and times are deferred to `finish`, once nothing more is
 * written into them. Paths (`rel`) are cleaned archive paths relative to the root; checking them
 * (ArchiveChecker) is the caller's job.
 */
export class EntryWriter {
  source: string;
  readonly warnings = new Set<string>();
  /** Directories (relative to root) known to be real directories: no lstat per entry per level. */
  private readonly knownDirs = new Set<string>();
  private readonly deferred: DeferredDir[] = [];
  private readonly isRoot = process.getuid?.() === 0;

  constructor(
    readonly root: string,
    private readonly opts: EntryWriterOptions,
  ) {
    this.source = opts.source;
  }

  /** Writes one entry at `rel`; `linkRel` is a hard link's target, relative to the root. */
  async place(rel: string, h: TarHeader, body: AsyncIterable<Buffer>, linkRel?: string): Promise<void> {
    this.ensureParents(h, rel, true);
    const path = this.abs(rel);
    const existing = this.lstat(h, path);
    const keptDir = existing !== undefined && this.clear(h, path, existing);
    switch (h.type) {
      case 'directory':
        if (!keptDir) this.fsCall(h, 'mkdir', () => mkdirSync(path, 0o700));
        this.knownDirs.add(rel);
        this.metadata(h, path);
        this.deferred.push({ path, mode: h.mode, mtime: h.mtime, depth: rel.split('/').length });
        return;
      case 'file':
        await this.writeFile(h, path, body);
        break;
      case 'symlink':
        this.fsCall(h, 'symlink', () => symlinkSync(h.linkname, path));
        break;
      case 'link':
        this.hardLink(h, path, linkRel ?? '');
        return; // a hard link shares its target's metadata
      case 'char-device':
      case 'block-device':
      case 'fifo':
        if (!this.makeNode(h, path)) return;
        break;
      case 'unsupported':
        throw this.fail(h, `unsupported entry type '${h.typeflag}'`);
    }
    this.metadata(h, path);
    if (h.type !== 'symlink') this.fsCall(h, 'chmod', () => chmodSync(path, h.mode));
    this.fsCall(h, 'utimes', () => lutimesSync(path, h.mtime, h.mtime));
  }

  /** A directory entry (such as `rootfs`) whose metadata applies to the root itself. */
  placeRoot(h: TarHeader): void {
    this.metadata(h, this.root);
    this.deferred.unshift({ path: this.root, mode: h.mode, mtime: h.mtime, depth: 0 });
  }

  /** Applies the deferred directory modes and times (see `dirOrder`). */
  finish(): void {
    if (this.opts.dirOrder === 'deepest-first') {
      // A read-only parent must not stop its children's.
      this.deferred.sort((a, b) => b.depth - a.depth);
      for (const d of this.deferred) {
        if (lstatOrUndefined(d.path)?.isDirectory() !== true) continue; // replaced by a later entry
        chmodSync(d.path, d.mode);
        lutimesSync(d.path, d.mtime, d.mtime);
      }
      return;
    }
    for (let i = this.deferred.length - 1; i >= 0; i--) {
      const d = this.deferred[i] as DeferredDir;
      chmodSync(d.path, d.mode);
      lutimesSync(d.path, d.mtime, d.mtime);
    }
  }

  private fail(h: TarHeader, reason: string): RocketError {
    return new RocketError(`${this.source}: entry ${JSON.stringify(h.name)}: ${reason}`);
  }

  private abs(rel: string): string {
    return rel === '' ? this.root : `${this.root}/${rel}`;
  }

  private lstat(h: TarHeader, path: string): Stats | undefined {
    if (this.opts.statErrors !== 'entry') return statOrUndefined(path);
    return this.fsCall(h, 'lstat', () => lstatOrUndefined(path));
  }

  /**
   * Makes sure every parent of `rel` is a real directory below root, creating missing ones (mode
   * 0755) when `create`; refuses a parent that is a symlink or anything else.
   */
  private ensureParents(h: TarHeader, rel: string, create: boolean): void {
    for (let i = rel.indexOf('/'); i !== -1; i = rel.indexOf('/', i + 1)) {
      const parent = rel.slice(0, i);
      if (this.knownDirs.has(parent)) continue;
      const st = this.lstat(h, this.abs(parent));
      if (st === undefined) {
        if (!create) throw this.fail(h, `parent ${JSON.stringify(parent)} does not exist`);
        this.fsCall(h, 'mkdir', () => mkdirSync(this.abs(parent), 0o755));
        this.fsCall(h, 'chmod', () => chmodSync(this.abs(parent), 0o755));
      } else if (st.isSymbolicLink()) {
        throw this.fail(h, `parent ${JSON.stringify(parent)} is a symlink (refusing to write through it)`);
      } else if (!st.isDirectory()) {
        throw this.fail(h, `parent ${JSON.stringify(parent)} is not a directory`);
      }
      this.knownDirs.add(parent);
    }
  }

  /** Removes what is at `path` so a new entry can take its place; keeps a directory for a directory. */
  private clear(h: TarHeader, path: string, existing: Stats): boolean {
    if (existing.isDirectory()) {
      if (h.type === 'directory') return true;
      this.fsCall(h, 'remove', () => rmSync(path, { recursive: true }));
      this.knownDirs.clear();
    } else if (this.opts.clearWith === 'remove') {
      this.fsCall(h, 'remove', () => rmSync(path, { recursive: true }));
    } else {
      this.fsCall(h, 'unlink', () => unlinkSync(path));
    }
    return false;
  }

  private async writeFile(h: TarHeader, path: string, body: AsyncIterable<Buffer>): Promise<void> {
    const flags = constants.O_WRONLY | constants.O_CREAT | constants.O_EXCL | constants.O_NOFOLLOW;
    const fd = this.fsCall(h, 'open', () => openSync(path, flags, 0o600));
    try {
      // Sparse: zero blocks are left as holes, and the length set at the end.
      let pos = 0;
      for await (const chunk of body) {
        const at = pos;
        this.fsCall(h, 'write', () => writeSparseSync(fd, chunk, at));
        pos += chunk.length;
        this.opts.onData?.(chunk.length);
      }
      this.fsCall(h, 'truncate', () => ftruncateSync(fd, pos));
    } finally {
      closeSync(fd);
    }
  }

  private hardLink(h: TarHeader, path: string, targetRel: string): void {
    this.ensureParents(h, targetRel, false);
    const target = this.abs(targetRel);
    const st = this.lstat(h, target);
    const name = JSON.stringify(h.linkname);
    if (st === undefined) {
      throw this.fail(h, `hard link target ${name} ${this.opts.missingLinkTarget ?? 'does not exist'}`);
    }
    if (st.isDirectory()) throw this.fail(h, `hard link target ${name} is a directory`);
    this.fsCall(h, 'link', () => linkSync(target, path));
  }

  /** mknod for devices and fifos; without privilege a device is skipped with a warning. */
  private makeNode(h: TarHeader, path: string): boolean {
    if (h.type !== 'fifo' && this.opts.devices === 'skip') {
      const what = h.type === 'char-device' ? 'character' : 'block';
      this.warnings.add(
        `${this.source}: entry ${JSON.stringify(h.name)}: ${what} device ${h.devmajor}:${h.devminor} not created${this.opts.skippedDeviceHint ?? ''}`,
      );
      return false;
    }
    const kind = h.type === 'fifo' ? S_IFIFO : h.type === 'char-device' ? S_IFCHR : S_IFBLK;
    const dev = h.type === 'fifo' ? 0n : makedev(h.devmajor, h.devminor);
    try {
      mknod(path, kind | (h.mode & 0o777), dev);
      return true;
    } catch (err) {
      if (!this.isRoot && h.type !== 'fifo' && (err as NodeJS.ErrnoException).code === 'EPERM') {
        this.warnings.add(`${this.source}: entry ${JSON.stringify(h.name)}: device node skipped (not root)`);
        return false;
      }
      throw this.fail(h, `mknod failed: ${errText(err)}`);
    }
  }

  /** Owner first (chown clears setuid bits and file capabilities), then xattrs. */
  private metadata(h: TarHeader, path: string): void {
    if (this.opts.chown) this.fsCall(h, 'lchown', () => lchownSync(path, h.uid, h.gid));
    if (this.opts.xattrs === false) return;
    for (const [name, value] of h.xattrs) {
      try {
        lsetxattr(path, name, value);
      } catch (err) {
        this.warnings.add(
          `${this.source}: entry ${JSON.stringify(h.name)}: xattr ${name} not set: ${errText(err)}`,
        );
      }
    }
  }

  private fsCall<T>(h: TarHeader, op: string, fn: () => T): T {
    try {
      return fn();
    } catch (err) {
      if (err instanceof RocketError) throw err;
      throw this.fail(h, `${op} failed: ${errText(err)}`);
    }
  }
}

/** lstat, undefined for a missing path; other errors are thrown as they are. */
export function lstatOrUndefined(path: string): Stats | undefined {
  try {
    return lstatSync(path);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    throw err;
  }
}

/** lstat, undefined for a missing path; other errors become `<path>: cannot stat: ...`. */
export function statOrUndefined(path: string): Stats | undefined {
  try {
    return lstatOrUndefined(path);
  } catch (err) {
    throw new RocketError(`${path}: cannot stat: ${errText(err)}`);
  }
}
