import {
  BLOCK,
  padding,
  paxRecord,
  TYPEFLAG,
  XATTR_PAX_PREFIX,
  type EntryType,
  type TarHeader,
} from './tar-format.js';

/** A header to encode: TarHeader's fields, mtime in whole seconds, xattrs optional. */
export type WriteHeader = Omit<TarHeader, 'type' | 'typeflag' | 'xattrs'> & {
  type: Exclude<EntryType, 'unsupported'>;
  xattrs?: Map<string, Buffer>;
};

/**
 * Encodes one entry's header blocks the way Go's archive/tar Writer does with an unspecified format:
 * plain USTAR when every field fits (long ASCII names split into prefix/name), otherwise a PAX
 * extended header (records sorted by key, header named `dir/PaxHeaders.0/file`) before a USTAR-style
 * main header. Extended attributes always need PAX (`SCHILY.xattr.<name>` records).
 */
export function encodeHeader(h: WriteHeader): Buffer {
  const pax = new Map<string, Buffer | string>();
  let ustar = true;
  const text = (value: string, size: number, key: string, splittable = false) => {
    if (isASCII(value) && Buffer.byteLength(value) <= size) return;
    if (!(splittable && splitUSTARPath(value) !== undefined)) ustar = false;
    pax.set(key, value);
  };
  const numeric = (value: number, size: number, key: string) => {
    if (fitsInOctal(size, value)) return;
    ustar = false;
    pax.set(key, String(value));
  };
  text(h.name, 100, 'path', true);
  text(h.linkname, 100, 'linkpath');
  text(h.uname, 32, 'uname');
  text(h.gname, 32, 'gname');
  numeric(h.uid, 8, 'uid');
  numeric(h.gid, 8, 'gid');
  numeric(h.size, 12, 'size');
  numeric(h.mtime, 12, 'mtime');
  if (h.xattrs !== undefined && h.xattrs.size > 0) {
    ustar = false;
    for (const [k, v] of h.xattrs) pax.set(XATTR_PAX_PREFIX + k, v);
  }

  if (ustar) {
    const block = mainHeader(h, true);
    return block;
  }
  const keys = [...pax.keys()].sort(compareBytes);
  const data = Buffer.concat(keys.map((k) => paxRecord(k, pax.get(k) as Buffer | string)));
  const slash = h.name.lastIndexOf('/');
  const paxName = cleanJoin(h.name.slice(0, slash + 1), 'PaxHeaders.0', h.name.slice(slash + 1));
  const paxBlock = Buffer.alloc(BLOCK);
  putString(paxBlock, 0, 100, toASCII(paxName).slice(0, 100).replace(/\/+$/, ''));
  putOctal(paxBlock, 100, 8, 0);
  putOctal(paxBlock, 108, 8, 0);
  putOctal(paxBlock, 116, 8, 0);
  putOctal(paxBlock, 124, 12, data.length);
  putOctal(paxBlock, 136, 12, 0);
  paxBlock[156] = 'x'.charCodeAt(0);
  paxBlock.write('ustar\x0000', 257, 'latin1');
  putChecksum(paxBlock);
  return Buffer.concat([paxBlock, data, Buffer.alloc(padding(data.length)), mainHeader(h, false)]);
}

function mainHeader(h: WriteHeader, ustar: boolean): Buffer {
  const b = Buffer.alloc(BLOCK);
  let name = h.name;
  let prefix = '';
  if (ustar) {
    const split = splitUSTARPath(h.name);
    if (split !== undefined) [prefix, name] = split;
  }
  putString(b, 0, 100, toASCII(name));
  putOctal(b, 100, 8, h.mode);
  putOctal(b, 108, 8, h.uid);
  putOctal(b, 116, 8, h.gid);
  putOctal(b, 124, 12, h.size);
  putOctal(b, 136, 12, h.mtime);
  b[156] = TYPEFLAG[h.type].charCodeAt(0);
  putString(b, 157, 100, toASCII(h.linkname));
  b.write('ustar\x0000', 257, 'latin1');
  putString(b, 265, 32, toASCII(h.uname));
  putString(b, 297, 32, toASCII(h.gname));
  putOctal(b, 329, 8, h.devmajor);
  putOctal(b, 337, 8, h.devminor);
  if (prefix !== '') putString(b, 345, 155, prefix);
  putChecksum(b);
  return b;
}

/** Go's formatOctal: zero-padded digits and a NUL; a value that does not fit is written as 0. */
function putOctal(b: Buffer, off: number, len: number, value: number): void {
  const v = fitsInOctal(len, value) ? value : 0;
  b.write(v.toString(8).padStart(len - 1, '0'), off, len - 1, 'latin1');
  b[off + len - 1] = 0;
}

function fitsInOctal(len: number, value: number): boolean {
  return Number.isInteger(value) && value >= 0 && value < 8 ** (len - 1);
}

/** Go's formatString: truncates; a name cut right after a `/` loses its trailing slashes. */
function putString(b: Buffer, off: number, len: number, s: string): void {
  const bytes = Buffer.from(s, 'latin1');
  bytes.copy(b, off, 0, Math.min(len, bytes.length));
  if (bytes.length > len && b[off + len - 1] === 0x2f) {
    const n = s.slice(0, len - 1).replace(/\/+$/, '').length;
    b.fill(0, off + n, off + len);
  }
}

/** Fills in a header block's checksum field (Go's format: six octal digits, NUL, space). */
export function putChecksum(b: Buffer): void {
  b.fill(0x20, 148, 156);
  let sum = 0;
  for (let i = 0; i < BLOCK; i++) sum += b[i] as number;
  b.write(sum.toString(8).padStart(6, '0'), 148, 6, 'latin1');
  b[154] = 0;
  b[155] = 0x20;
}

/** Go's splitUSTARPath: [prefix, name] for an ASCII name longer than 100 that can be split at a `/`. */
function splitUSTARPath(name: string): [string, string] | undefined {
  let length = name.length;
  if (length <= 100 || !isASCII(name)) return undefined;
  if (length > 156) length = 156;
  else if (name[length - 1] === '/') length--;
  const i = name.lastIndexOf('/', length - 1);
  const nlen = name.length - i - 1;
  if (i <= 0 || nlen > 100 || nlen === 0 || i > 155) return undefined;
  return [name.slice(0, i), name.slice(i + 1)];
}

// eslint-disable-next-line no-control-regex
const NON_ASCII = /[^\x01-\x7f]/;

function isASCII(s: string): boolean {
  return !NON_ASCII.test(s);
}

function toASCII(s: string): string {
  // eslint-disable-next-line no-control-regex
  return isASCII(s) ? s : s.replace(/[^\x01-\x7f]/gu, '');
}

function cleanJoin(dir: string, ...parts: string[]): string {
  const joined = [dir, ...parts].filter((p) => p !== '').join('/');
  return joined.replace(/\/+/g, '/').replace(/\/$/, '');
}

/** Byte-wise comparison of UTF-8 strings, as Go's sort.Strings orders them. */
export function compareBytes(a: string, b: string): number {
  if (isASCII(a) && isASCII(b)) return a < b ? -1 : a > b ? 1 : 0;
  return Buffer.compare(Buffer.from(a, 'utf8'), Buffer.from(b, 'utf8'));
}

/** The two zero blocks that end an archive (Go writes exactly these, no record padding). */
export const END_OF_ARCHIVE = Buffer.alloc(2 * BLOCK);
