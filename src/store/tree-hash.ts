/**
 * The hash of a rendered tree, as rkt's tree store keeps one (`cas/tree/<id>/hash`) to check later
 * that nothing changed the tree on disk (`rkt image verify`). It covers every entry under the
 * rootfs in sorted path order: its path, type, permission bits, owner, group, the target of a
 * symlink, the device number of a device, and the content of a regular file. Times are left out
 * (reading a file changes its atime).
 */
import { createHash, type Hash } from 'node:crypto';
import { closeSync, lstatSync, openSync, readSync, readdirSync, readlinkSync } from 'node:fs';
import { join } from 'node:path';

const CHUNK = 1 << 20;

function typeOf(st: ReturnType<typeof lstatSync> & object): string {
  if (st.isFile()) return 'f';
  if (st.isDirectory()) return 'd';
  if (st.isSymbolicLink()) return 'l';
  if (st.isCharacterDevice()) return 'c';
  if (st.isBlockDevice()) return 'b';
  if (st.isFIFO()) return 'p';
  return 's';
}

function hashFile(h: Hash, path: string, buf: Buffer): void {
  const fd = openSync(path, 'r');
  try {
    for (;;) {
      const n = readSync(fd, buf, 0, buf.length, null);
      if (n === 0) break;
      h.update(buf.subarray(0, n));
    }
  } finally {
    closeSync(fd);
  }
}

function walk(h: Hash, root: string, rel: string, buf: Buffer): void {
  const path = rel === '' ? root : join(root, rel);
  const st = lstatSync(path);
  const type = typeOf(st);
  const mode = (st.mode & 0o7777).toString(8);
  let header = `${JSON.stringify(rel === '' ? '.' : rel)} ${type} ${mode} ${st.uid} ${st.gid}`;
  if (type === 'l') header += ` ${JSON.stringify(readlinkSync(path))}`;
  if (type === 'c' || type === 'b') header += ` ${st.rdev}`;
  if (type === 'f') header += ` ${st.size}`;
  h.update(header + '\n');
  if (type === 'f') hashFile(h, path, buf);
  if (type === 'd') {
    for (const name of readdirSync(path).sort()) walk(h, root, rel === '' ? name : join(rel, name), buf);
  }
}

/** `sha512-<hex>` of the tree at `rootfs`. */
export function hashTree(rootfs: string): string {
  const h = createHash('sha512');
  walk(h, rootfs, '', Buffer.allocUnsafe(CHUNK));
  return 'sha512-' + h.digest('hex');
}
