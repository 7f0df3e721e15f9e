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
  readdirSync,
  realpathSync,
  renameSync,
  rmSync,
  symlinkSync,
  unlinkSync,
  writeSync,
} from 'node:fs';
import type { Stats } from 'node:fs';
import { resolve } from 'node:path';
import type { Readable } from 'node:stream';
import type { ImageManifest } from '../appc/index.js';
import { RocketError } from '../errors.js';
import { errText } from './compression.js';
import { tempSibling } from './output.js';
import { ArchiveChecker, ROOTFS } from './paths.js';
import { readAci, readManifestBody } from './read.js';
import { lsetxattr, makedev, mknod, S_IFBLK, S_IFCHR, S_IFIFO } from './syscalls.js';
import type { TarHeader } from './tar-format.js';
import { parseManifestBytes } from './validate.js';

export interface ExtractOptions {
  /** Extract only the rootfs contents, into `destDir` itself (no `manifest` file). */
  rootfsOnly?: boolean;
  /**
   * If `destDir` exists and is not empty, extract into it, replacing what entries name (a symlink
   * is replaced, never followed). Otherwise a non-empty destination is refused.
   */
  overwrite?: boolean;
  /** Apply the entries' uid/gid (default: when running as root). */
  preserveOwnership?: boolean;
  /** Apply SCHILY.xattr records (default true); failures are warnings. */
  xattrs?: boolean;
  /** Refuse the image (and leave nothing) unless its image ID is this. */
  expectedImageId?: string;
  /** Names the image in messages (default: the path). */
  source?: string;
}

export interface ExtractResult {
  imageId: string;
  manifest: ImageManifest;
  manifestBytes: Buffer;
  warnings: string[];
}

/**
 * Extracts an ACI safely. Every entry passes the archive rules (ArchiveChecker), and on disk:
 * each parent directory is checked with lstat below the destination, so a symlink (planted by
 * this archive or already there) is never followed: a parent that is one is refused; an entry
 * that names an existing symlink replaces the link; hard link targets are archive paths inside
 * rootfs resolved the same way. Into a new or empty destination the image is extracted into a temp
 * directory next to it and renamed into place only when it is complete, valid, and has the
 * expected image ID; a refused image leaves nothing behind.
 */
export async function extractAci(
  input: string | Readable,
  destDir: string,
  opts: ExtractOptions = {},
): Promise<ExtractResult> {
  const source = opts.source ?? (typeof input === 'string' ? input : 'image');
  const dest = resolve(destDir);
  const existing = statOrUndefined(dest);
  let inPlace = false;
  if (existing !== undefined) {
    if (!existing.isDirectory()) throw new RocketError(`${dest}: destination exists and is not a directory`);
    if (readdirSync(dest).length > 0) {
      if (opts.overwrite !== true) throw new RocketError(`${dest}: destination is not empty (use overwrite)`);
      inPlace = true;
    }
  }
  const root = inPlace ? realpathSync(dest) : tempSibling(dest);
  if (!inPlace) mkdirSync(root, { mode: 0o700 });
  const ex = new Extractor(root, source, opts);
  try {
    const result = await ex.run(input);
    if (opts.expectedImageId !== undefined && result.imageId !== opts.expectedImageId) {
      throw new RocketError(
        `${source}: image ID mismatch: expected ${opts.expectedImageId}, got ${result.imageId}`,
      );
    }
    if (!inPlace) renameSync(root, dest);
    return result;
  } catch (err) {
    if (!inPlace) rmSync(root, { recursive: true, force: true });
    throw err;
  }
}

function once(data: Buffer): AsyncIterable<Buffer> {
  return (async function* () {
    yield await Promise.resolve(data);
  })();
}

function statOrUndefined(path: string): Stats | undefined {
  try {
    return lstatSync(path);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    throw new RocketError(`${path}: cannot stat: ${errText(err)}`);
  }
}

interface DeferredDir {
  path: string;
  mode: number;
  mtime: number;
}

class Extractor {
  private readonly checker: ArchiveChecker;
  /** Directories (relative to root) known to be real directories: no lstat per entry per level. */
  private readonly knownDirs = new Set<string>();
  private readonly deferred: DeferredDir[] = [];
  private readonly warnings = new Set<string>();
  private readonly chown: boolean;
  private readonly isRoot = process.getuid?.() === 0;

  constructor(
    private readonly root: string,
    private readonly source: string,
    private readonly opts: ExtractOptions,
  ) {
    this.checker = new ArchiveChecker(source);
    this.chown = opts.preserveOwnership ?? this.isRoot;
  }

  async run(input: string | Readable): Promise<ExtractResult> {
    let manifestBytes: Buffer | undefined;
    const rootfsOnly = this.opts.rootfsOnly === true;
    const { imageId } = await readAci(
      input,
      async (entry, body) => {
        const h = entry.header;
        const role = this.checker.check(h);
        switch (role.kind) {
          case 'root':
            return;
          case 'manifest':
            manifestBytes = await readManifestBody(this.source, h.type, h.size, body);
            if (!rootfsOnly) await this.place('manifest', h, once(manifestBytes));
            return;
          case 'rootfs':
            if (rootfsOnly) this.rootMetadata(h);
            else await this.place(ROOTFS, h, body);
            return;
          case 'rootfs-entry': {
            const rel = rootfsOnly ? role.rel : `${ROOTFS}/${role.rel}`;
            const link =
              role.linkRel === undefined
                ? undefined
                : rootfsOnly
                  ? role.linkRel
                  : `${ROOTFS}/${role.linkRel}`;
            await this.place(rel, h, body, link);
            return;
          }
        }
      },
      { source: this.source },
    );
    this.checker.finish();
    if (manifestBytes === undefined || imageId === undefined) {
      throw new RocketError(`${this.source}: no image manifest found in archive`);
    }
    const { manifest, warnings } = parseManifestBytes(manifestBytes, this.source);
    for (let i = this.deferred.length - 1; i >= 0; i--) {
      const d = this.deferred[i] as DeferredDir;
      chmodSync(d.path, d.mode);
      lutimesSync(d.path, d.mtime, d.mtime);
    }
    if (!rootfsOnly) chmodSync(this.root, 0o755);
    return { imageId, manifest, manifestBytes, warnings: [...warnings, ...this.warnings] };
  }

  private fail(h: TarHeader, reason: string): RocketError {
    return new RocketError(`${this.source}: entry ${JSON.stringify(h.name)}: ${reason}`);
  }

  private abs(rel: string): string {
    return rel === '' ? this.root : `${this.root}/${rel}`;
  }

  /**
   * Makes sure every parent of `rel` is a real directory below root, creating missing ones (mode
   * 0755) when `create`; refuses a parent that is a symlink or anything else.
   */
  private ensureParents(h: TarHeader, rel: string, create: boolean): void {
    let i = rel.indexOf('/');
    while (i !== -1) {
      const parent = rel.slice(0, i);
      if (!this.knownDirs.has(parent)) {
        const st = statOrUndefined(this.abs(parent));
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
      i = rel.indexOf('/', i + 1);
    }
  }

  /** Removes what is at `path` so a new entry can take its place; keeps a directory for a directory. */
  private clear(h: TarHeader, path: string, existing: Stats): boolean {
    if (existing.isDirectory()) {
      if (h.type === 'directory') return true;
      this.fsCall(h, 'remove', () => rmSync(path, { recursive: true }));
      this.knownDirs.clear();
      return false;
    }
    this.fsCall(h, 'unlink', () => unlinkSync(path));
    return false;
  }

  private async place(
    rel: string,
    h: TarHeader,
    body: AsyncIterable<Buffer>,
    linkRel?: string,
  ): Promise<void> {
    this.ensureParents(h, rel, true);
    const path = this.abs(rel);
    const existing = statOrUndefined(path);
    const keptDir = existing !== undefined && this.clear(h, path, existing);
    switch (h.type) {
      case 'directory':
        if (!keptDir) this.fsCall(h, 'mkdir', () => mkdirSync(path, 0o700));
        this.knownDirs.add(rel);
        this.metadata(h, path);
        this.deferred.push({ path, mode: h.mode, mtime: h.mtime });
        return;
      case 'file':
        await this.writeFile(h, path, body);
        break;
      case 'symlink':
        this.fsCall(h, 'symlink', () => symlinkSync(h.linkname, path));
        break;
      case 'link':
        this.hardLink(h, path, linkRel as string);
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
      }
    } finally {
      closeSync(fd);
    }
  }

  private hardLink(h: TarHeader, path: string, targetRel: string): void {
    this.ensureParents(h, targetRel, false);
    const target = this.abs(targetRel);
    const st = statOrUndefined(target);
    if (st === undefined) throw this.fail(h, `hard link target ${JSON.stringify(h.linkname)} does not exist`);
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
      if (!this.isRoot && h.type !== 'fifo' && (err as NodeJS.ErrnoException).code === 'EPERM') {
        this.warnings.add(`${this.source}: entry ${JSON.stringify(h.name)}: device node skipped (not root)`);
        return false;
      }
      throw this.fail(h, `mknod failed: ${errText(err)}`);
    }
  }

  /** Owner first (chown clears setuid bits and file capabilities), then xattrs. */
  private metadata(h: TarHeader, path: string): void {
    if (this.chown) this.fsCall(h, 'lchown', () => lchownSync(path, h.uid, h.gid));
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

  /** The `rootfs` entry's metadata applies to the destination itself when only rootfs is extracted. */
  private rootMetadata(h: TarHeader): void {
    this.metadata(h, this.root);
    this.deferred.unshift({ path: this.root, mode: h.mode, mtime: h.mtime });
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
