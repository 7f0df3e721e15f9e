import { requireNative } from '../native.js';

/**
 * libc calls Node lacks (mknod, extended attributes), through koffi. Loaded on first use so that
 * commands that never touch devices or xattrs do not pay for the FFI.
 */
interface Libc {
  mknod(path: string, mode: number, dev: bigint): number;
  lsetxattr(path: string, name: string, value: Buffer, size: number, flags: number): number;
  lgetxattr(path: string, name: string, value: Buffer | null, size: number): number | bigint;
  llistxattr(path: string, list: Buffer | null, size: number): number | bigint;
  errno(): number;
}

let libc: Libc | undefined;

function load(): Libc {
  if (libc !== undefined) return libc;
  // koffi is a native module; a plain require keeps the load synchronous and lazy.
  const koffi = requireNative<typeof import('koffi')>('koffi');
  const lib = koffi.load('libc.so.6');
  libc = {
    mknod: lib.func('int mknod(const char *path, uint32_t mode, uint64_t dev)') as Libc['mknod'],
    lsetxattr: lib.func(
      'int lsetxattr(const char *path, const char *name, const void *value, size_t size, int flags)',
    ) as Libc['lsetxattr'],
    lgetxattr: lib.func(
      'int64_t lgetxattr(const char *path, const char *name, void *value, size_t size)',
    ) as Libc['lgetxattr'],
    llistxattr: lib.func(
      'int64_t llistxattr(const char *path, void *list, size_t size)',
    ) as Libc['llistxattr'],
    errno: () => koffi.errno(),
  };
  return libc;
}

const ERRNO_NAMES: Record<number, string> = {
  1: 'EPERM',
  2: 'ENOENT',
  13: 'EACCES',
  17: 'EEXIST',
  20: 'ENOTDIR',
  22: 'EINVAL',
  28: 'ENOSPC',
  34: 'ERANGE',
  61: 'ENODATA',
  95: 'ENOTSUP',
};

/** A failed libc call, shaped like Node's errors (`code`, `errno`, `syscall`, `path`). */
export class SyscallError extends Error {
  readonly code: string;
  constructor(
    readonly syscall: string,
    readonly errno: number,
    readonly path: string,
  ) {
    const code = ERRNO_NAMES[errno] ?? `errno ${errno}`;
    super(`${syscall} ${path}: ${code}`);
    this.code = code;
  }
}

export const S_IFIFO = 0o010000;
export const S_IFCHR = 0o020000;
export const S_IFBLK = 0o060000;

/** glibc's makedev. */
export function makedev(major: number, minor: number): bigint {
  const ma = BigInt(major);
  const mi = BigInt(minor);
  return ((ma & 0xfffn) << 8n) | ((ma & ~0xfffn) << 32n) | (mi & 0xffn) | ((mi & ~0xffn) << 12n);
}

/** glibc's major/minor of a device number. */
export function splitDev(dev: number | bigint): { major: number; minor: number } {
  const d = BigInt(dev);
  return {
    major: Number(((d >> 8n) & 0xfffn) | ((d >> 32n) & ~0xfffn)),
    minor: Number((d & 0xffn) | ((d >> 12n) & ~0xffn)),
  };
}

export function mknod(path: string, mode: number, dev: bigint): void {
  const c = load();
  if (c.mknod(path, mode, dev) !== 0) throw new SyscallError('mknod', c.errno(), path);
}

export function lsetxattr(path: string, name: string, value: Buffer): void {
  const c = load();
  if (c.lsetxattr(path, name, value, value.length, 0) !== 0)
    throw new SyscallError('lsetxattr', c.errno(), path);
}

/** All extended attributes of a path (not following a final symlink); an empty map if none. */
export function lgetxattrs(path: string): Map<string, Buffer> {
  const c = load();
  const out = new Map<string, Buffer>();
  const listSize = Number(c.llistxattr(path, null, 0));
  if (listSize < 0) {
    const errno = c.errno();
    if (errno === 95) return out; // the filesystem has no xattrs
    throw new SyscallError('llistxattr', errno, path);
  }
  if (listSize === 0) return out;
  const list = Buffer.alloc(listSize);
  const n = Number(c.llistxattr(path, list, listSize));
  if (n < 0) throw new SyscallError('llistxattr', c.errno(), path);
  for (const name of list.toString('utf8', 0, n).split('\0')) {
    if (name === '') continue;
    const size = Number(c.lgetxattr(path, name, null, 0));
    if (size < 0) {
      const errno = c.errno();
      if (errno === 61) continue; // removed meanwhile
      throw new SyscallError('lgetxattr', errno, path);
    }
    const value = Buffer.alloc(size);
    const got = Number(c.lgetxattr(path, name, value, size));
    if (got < 0) throw new SyscallError('lgetxattr', c.errno(), path);
    out.set(name, value.subarray(0, got));
  }
  return out;
}
