import {
  closeSync,
  constants,
  lstatSync,
  openSync,
  readdirSync,
  readFileSync,
  readlinkSync,
  readSync,
} from 'node:fs';
import type { Stats } from 'node:fs';
import { join, relative, resolve, sep } from 'node:path';
import { imageManifestToJSON } from '../appc/index.js';
import { RocketError } from '../errors.js';
import { errText } from './compression.js';
import { AciOutput, refuseExisting, requireAciExtension, type OutputOptions } from './output.js';
import { MANIFEST, ROOTFS } from './paths.js';
import { lgetxattrs, splitDev } from './syscalls.js';
import { BLOCK, padding } from './tar-format.js';
import { compareBytes, encodeHeader, END_OF_ARCHIVE, type WriteHeader } from './tar-writer.js';
import { validateLayout } from './validate.js';

export interface BuildOptions extends OutputOptions {
  /** Record every entry as 0:0 root/root (actool's --owner-root). */
  ownerRoot?: boolean;
  /** Store extended attributes as PAX SCHILY.xattr records (default true; REF stores none). */
  xattrs?: boolean;
}

export interface BuildResult {
  imageId: string;
  warnings: string[];
}

/** Host-specific labels that are not image content. */
const SKIPPED_XATTRS = new Set(['security.selinux']);

/**
 * Builds an ACI from an image layout, deterministically: the same tree gives the same bytes and
 * image ID. Entries as REF's `actool build` writes them (see tar-writer.ts), in REF's order:
 * `rootfs`, its contents in a depth-first walk with names sorted bytewise, then the canonical
 * re-serialized manifest, last, 0644 root:root. Differences from REF: xattrs are kept (PAX), hard
 * links are matched by device and inode (REF: inode only), and the manifest entry's mtime is the
 * manifest file's (REF: now), so that builds are reproducible.
 */
export async function buildAci(
  layoutDir: string,
  outPath: string,
  opts: BuildOptions = {},
): Promise<BuildResult> {
  requireAciExtension(outPath);
  const { manifest, manifestMtime, warnings } = await validateLayout(layoutDir);
  const rootfs = join(layoutDir, ROOTFS);
  const rel = relative(resolve(rootfs), resolve(outPath));
  if (rel === '' || (!rel.startsWith(`..${sep}`) && rel !== '..' && !rel.startsWith(sep))) {
    throw new RocketError(`${outPath}: the output may not be inside the layout's rootfs`);
  }
  refuseExisting(outPath, opts.overwrite);
  const out = new AciOutput(outPath, opts);
  try {
    const walker = new TreeWalker(out, opts);
    await walker.walk(rootfs, ROOTFS, lstatPath(rootfs));
    const body = Buffer.from(imageManifestToJSON(manifest), 'utf8');
    await walker.entry(
      {
        name: MANIFEST,
        type: 'file',
        mode: 0o644,
        uid: 0,
        gid: 0,
        uname: 'root',
        gname: 'root',
        size: body.length,
        mtime: roundSeconds(manifestMtime),
        linkname: '',
        devmajor: 0,
        devminor: 0,
      },
      body,
    );
    await out.write(END_OF_ARCHIVE);
    return { imageId: await out.commit(), warnings };
  } catch (err) {
    await out.abort();
    throw err;
  }
}

/** Go rounds ModTime to the nearest second when the tar format is unspecified (REF does so). */
function roundSeconds(seconds: number): number {
  return Math.round(seconds);
}

function lstatPath(path: string): Stats {
  try {
    return lstatSync(path);
  } catch (err) {
    throw new RocketError(`${path}: cannot stat: ${errText(err)}`);
  }
}

class TreeWalker {
  /** `dev:ino` of multiply-linked non-directories → the archive name written first. */
  private readonly links = new Map<string, string>();
  private readonly names: OwnerNames;

  constructor(
    private readonly out: AciOutput,
    private readonly opts: BuildOptions,
  ) {
    this.names = opts.ownerRoot === true ? ROOT_NAMES : hostOwnerNames();
  }

  /** Writes the entry for `path` (named `name` in the archive) and, for a directory, its subtree. */
  async walk(path: string, name: string, st: Stats): Promise<void> {
    const type = fileType(st);
    if (type === undefined) return; // sockets (and anything stranger) are skipped, as REF does
    const h: WriteHeader = {
      name,
      type,
      mode: st.mode & 0o7777,
      uid: this.opts.ownerRoot === true ? 0 : st.uid,
      gid: this.opts.ownerRoot === true ? 0 : st.gid,
      uname: '',
      gname: '',
      size: type === 'file' ? st.size : 0,
      mtime: roundSeconds(st.mtimeMs / 1000),
      linkname: type === 'symlink' ? readlinkSync(path) : '',
      devmajor: 0,
      devminor: 0,
    };
    h.uname = this.names.user(h.uid);
    h.gname = this.names.group(h.gid);
    if (type === 'char-device' || type === 'block-device') {
      ({ major: h.devmajor, minor: h.devminor } = splitDev(st.rdev));
    }
    if (type !== 'directory' && st.nlink > 1) {
      const big = lstatSync(path, { bigint: true });
      const key = `${big.dev}:${big.ino}`;
      const first = this.links.get(key);
      if (first !== undefined) {
        h.type = 'link';
        h.linkname = first;
        h.size = 0;
      } else {
        this.links.set(key, name);
      }
    }
    if (this.opts.xattrs !== false) {
      const xattrs = lgetxattrs(path);
      for (const k of SKIPPED_XATTRS) xattrs.delete(k);
      if (xattrs.size > 0) h.xattrs = xattrs;
    }

    if (h.type === 'file') await this.fileEntry(h, path);
    else await this.entry(h);

    if (type === 'directory') {
      let children: string[];
      try {
        children = readdirSync(path);
      } catch (err) {
        throw new RocketError(`${path}: cannot read directory: ${errText(err)}`);
      }
      children.sort(compareBytes);
      for (const child of children) {
        const childPath = join(path, child);
        await this.walk(childPath, `${name}/${child}`, lstatPath(childPath));
      }
    }
  }

  async entry(h: WriteHeader, body?: Buffer): Promise<void> {
    await this.out.write(encodeHeader(h));
    if (body !== undefined && body.length > 0) {
      await this.out.write(body);
      await this.out.write(ZEROS.subarray(0, padding(body.length)));
    }
  }

  /** Header, then the file's bytes read straight into the output blocks; exactly `h.size` of them. */
  private async fileEntry(h: WriteHeader, path: string): Promise<void> {
    let fd: number;
    try {
      fd = openSync(path, constants.O_RDONLY | constants.O_NOFOLLOW);
    } catch (err) {
      throw new RocketError(`${path}: cannot open: ${errText(err)}`);
    }
    try {
      await this.out.write(encodeHeader(h));
      let left = h.size;
      while (left > 0) {
        const buf = await this.out.reserve(left);
        const n = readSync(fd, buf, 0, buf.length, null);
        if (n === 0) throw new RocketError(`${path}: file shrank while being archived`);
        await this.out.commitReserved(n);
        left -= n;
      }
      await this.out.write(ZEROS.subarray(0, padding(h.size)));
    } finally {
      closeSync(fd);
    }
  }
}

const ZEROS = Buffer.alloc(BLOCK);

function fileType(st: Stats): WriteHeader['type'] | undefined {
  if (st.isFile()) return 'file';
  if (st.isDirectory()) return 'directory';
  if (st.isSymbolicLink()) return 'symlink';
  if (st.isCharacterDevice()) return 'char-device';
  if (st.isBlockDevice()) return 'block-device';
  if (st.isFIFO()) return 'fifo';
  return undefined;
}

interface OwnerNames {
  user(uid: number): string;
  group(gid: number): string;
}

const ROOT_NAMES: OwnerNames = { user: () => 'root', group: () => 'root' };

/** uid/gid → name from the host's /etc/passwd and /etc/group, as Go's os/user gives REF. */
function hostOwnerNames(): OwnerNames {
  let users: Map<number, string> | undefined;
  let groups: Map<number, string> | undefined;
  return {
    user: (uid) => (users ??= idNames('/etc/passwd')).get(uid) ?? '',
    group: (gid) => (groups ??= idNames('/etc/group')).get(gid) ?? '',
  };
}

function idNames(file: string): Map<number, string> {
  const out = new Map<number, string>();
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch {
    return out;
  }
  for (const line of text.split('\n')) {
    const [name, , id] = line.split(':');
    if (name === undefined || id === undefined || name === '' || name.startsWith('#')) continue;
    const n = Number(id);
    if (Number.isInteger(n) && !out.has(n)) out.set(n, name);
  }
  return out;
}
