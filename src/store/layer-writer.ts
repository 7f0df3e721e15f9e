import {
  chmodSync,
  closeSync,
  constants,
  lchownSync,
  linkSync,
  lstatSync,
  lutimesSync,
  mkdirSync,
  openSync,
  rmSync,
  symlinkSync,
  writeSync,
  type Stats,
} from 'node:fs';
import type { TarHeader } from '../aci/index.js';
// The libc wrappers src/aci uses for its own extraction (not re-exported by its index).
import { lsetxattr, makedev, mknod, S_IFBLK, S_IFCHR, S_IFIFO } from '../aci/index.js';
import { RocketError } from '../errors.js';
import { describeError, errCode } from './util.js';

interface DeferredDir {
  path: string;
  mode: number;
  mtime: number;
  depth: number;
}

function lstatOrUndefined(path: string): Stats | undefined {
  try {
    return lstatSync(path);
  } catch (err) {
    if (errCode(err) === 'ENOENT') return undefined;
    throw err;
  }
}

/**
 * Writes tar entries of several layers into one rootfs, with src/aci's extraction rules: every
 * parent is checked with lstat below the root, so a symlink is never followed (a symlink where an
 * entry goes is replaced, a symlink parent is refused); files are created O_EXCL|O_NOFOLLOW; hard
 * link targets are paths below the root. Directory modes and times are applied at the end, once
 * nothing more is written into them.
 */
export class LayerWriter {
  /** Paths (relative to the root) known to be real directories, to spare an lstat per level. */
  private readonly knownDirs = new Set<string>(['']);
  private readonly deferred: DeferredDir[] = [];
  readonly warnings = new Set<string>();
  /** Bytes of file data written. */
  size = 0;
  source = 'image';

  constructor(
    private readonly root: string,
    private readonly chown: boolean,
  ) {}

  private abs(rel: string): string {
    return rel === '' ? this.root : `${this.root}/${rel}`;
  }

  private fail(h: TarHeader, reason: string): RocketError {
    return new RocketError(`${this.source}: entry ${JSON.stringify(h.name)}: ${reason}`);
  }

  private fsCall<T>(h: TarHeader, op: string, fn: () => T): T {
    try {
      return fn();
    } catch (err) {
      if (err instanceof RocketError) throw err;
      throw this.fail(h, `${op} failed: ${describeError(err)}`);
    }
  }

  /** Creates missing parents (0755) and refuses a parent that is not a real directory. */
  private ensureParents(h: TarHeader, rel: string, create: boolean): void {
    for (let i = rel.indexOf('/'); i !== -1; i = rel.indexOf('/', i + 1)) {
      const parent = rel.slice(0, i);
      if (this.knownDirs.has(parent)) continue;
      const st = this.fsCall(h, 'lstat', () => lstatOrUndefined(this.abs(parent)));
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

  /** Makes room for an entry: keeps a directory for a directory, removes anything else unfollowed. */
  private clear(h: TarHeader, path: string): boolean {
    const existing = this.fsCall(h, 'lstat', () => lstatOrUndefined(path));
    if (existing === undefined) return false;
    if (existing.isDirectory() && h.type === 'directory') return true;
    this.fsCall(h, 'remove', () => rmSync(path, { recursive: true }));
    if (existing.isDirectory()) this.knownDirs.clear();
    this.knownDirs.add('');
    return false;
  }

  /** The metadata of the `rootfs` entry, for the root itself. */
  placeRoot(h: TarHeader): void {
    this.metadata(h, this.root);
    this.deferred.push({ path: this.root, mode: h.mode, mtime: h.mtime, depth: 0 });
  }

  async place(rel: string, h: TarHeader, body: AsyncIterable<Buffer>, linkRel?: string): Promise<void> {
    this.ensureParents(h, rel, true);
    const path = this.abs(rel);
    const keptDir = this.clear(h, path);
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

  private async writeFile(h: TarHeader, path: string, body: AsyncIterable<Buffer>): Promise<void> {
    const flags = constants.O_WRONLY | constants.O_CREAT | constants.O_EXCL | constants.O_NOFOLLOW;
    const fd = this.fsCall(h, 'open', () => openSync(path, flags, 0o600));
    try {
      for await (const chunk of body) {
        let off = 0;
        while (off < chunk.length) off += this.fsCall(h, 'write', () => writeSync(fd, chunk, off));
        this.size += chunk.length;
      }
    } finally {
      closeSync(fd);
    }
  }

  private hardLink(h: TarHeader, path: string, targetRel: string): void {
    this.ensureParents(h, targetRel, false);
    const target = this.abs(targetRel);
    const st = this.fsCall(h, 'lstat', () => lstatOrUndefined(target));
    if (st === undefined)
      throw this.fail(h, `hard link target ${JSON.stringify(h.linkname)} was not rendered`);
    if (st.isDirectory()) throw this.fail(h, `hard link target ${JSON.stringify(h.linkname)} is a directory`);
    this.fsCall(h, 'link', () => linkSync(target, path));
  }

  /** mknod for devices and fifos; without privilege a device is skipped with a warning. */
  private makeNode(h: TarHeader, path: string): boolean {
    const kind = h.type === 'fifo' ? S_IFIFO : h.type === 'char-device' ? S_IFCHR : S_IFBLK;
    const dev = h.type === 'fifo' ? 0n : makedev(h.devmajor, h.devminor);
    try {
      mknod(path, kind | (h.mode & 0o777), dev);
      return true;
    } catch (err) {
      if (process.getuid?.() !== 0 && h.type !== 'fifo' && errCode(err) === 'EPERM') {
        this.warnings.add(`${this.source}: entry ${JSON.stringify(h.name)}: device node skipped (not root)`);
        return false;
      }
      throw this.fail(h, `mknod failed: ${describeError(err)}`);
    }
  }

  /** Owner first (chown clears setuid bits and file capabilities), then xattrs. */
  private metadata(h: TarHeader, path: string): void {
    if (this.chown) this.fsCall(h, 'lchown', () => lchownSync(path, h.uid, h.gid));
    for (const [name, value] of h.xattrs) {
      try {
        lsetxattr(path, name, value);
      } catch (err) {
        this.warnings.add(
          `${this.source}: entry ${JSON.stringify(h.name)}: xattr ${name} not set: ${describeError(err)}`,
        );
      }
    }
  }

  /** Directory modes and times, deepest first: a read-only parent must not stop its children's. */
  finish(): void {
    this.deferred.sort((a, b) => b.depth - a.depth);
    for (const d of this.deferred) {
      if (lstatOrUndefined(d.path)?.isDirectory() !== true) continue; // replaced by a later entry
      chmodSync(d.path, d.mode);
      lutimesSync(d.path, d.mtime, d.mtime);
    }
  }
}
