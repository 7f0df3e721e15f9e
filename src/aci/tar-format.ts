/**
 * Tar header fields shared by our reader and writer. We read USTAR, PAX (local and global records,
 * binary `SCHILY.xattr.*` values kept as bytes) and GNU (long names, base-256 numbers), and write
 * what Go's archive/tar writes for the same header, so our builds can be compared with REF's.
 *
 * Why not tar-stream here: its PAX decoder turns record values into UTF-8 strings (binary xattrs such
 * as `security.capability` come out mangled), it parses past the end-of-archive blocks (Go and GNU
 * tar stop there), its packer cannot write Go's field layout (for byte comparisons with REF), and
 * patch-manifest needs to copy the other entries' header blocks byte for byte.
 */
export const BLOCK = 512;

export type EntryType =
  'file' | 'directory' | 'symlink' | 'link' | 'char-device' | 'block-device' | 'fifo' | 'unsupported';

export interface TarHeader {
  /** Name as stored (after PAX `path` / GNU long name), not cleaned. */
  name: string;
  type: EntryType;
  /** The raw typeflag character, for messages about unsupported entries. */
  typeflag: string;
  /** Permission bits plus setuid/setgid/sticky (no file-type bits). */
  mode: number;
  uid: number;
  gid: number;
  uname: string;
  gname: string;
  /** Bytes of data that follow the header (0 for header-only types). */
  size: number;
  /** Seconds since the epoch; PAX may give a fraction. */
  mtime: number;
  /** Hard link target (an archive path) or symlink target (as stored). */
  linkname: string;
  devmajor: number;
  devminor: number;
  /** `SCHILY.xattr.<name>` records, values as raw bytes. */
  xattrs: Map<string, Buffer>;
}

export const TYPEFLAG: Record<Exclude<EntryType, 'unsupported'>, string> = {
  file: '0',
  link: '1',
  symlink: '2',
  'char-device': '3',
  'block-device': '4',
  directory: '5',
  fifo: '6',
};

export const XATTR_PAX_PREFIX = 'SCHILY.xattr.';

/** Bytes of zero padding after `size` bytes of data. */
export function padding(size: number): number {
  const r = size % BLOCK;
  return r === 0 ? 0 : BLOCK - r;
}

/** One PAX record, `"%d %s=%s\n"` where the length counts itself. */
export function paxRecord(key: string, value: Buffer | string): Buffer {
  const v = typeof value === 'string' ? Buffer.from(value, 'utf8') : value;
  const k = Buffer.from(key, 'utf8');
  const base = k.length + v.length + 3;
  let size = base + String(base).length;
  if (String(size).length + base !== size) size = base + String(size).length;
  return Buffer.concat([Buffer.from(`${size} `, 'latin1'), k, Buffer.from('='), v, Buffer.from('\n')]);
}

/** Parses a PAX extended header body; throws a plain Error on malformed records. */
export function parsePaxRecords(body: Buffer): Map<string, Buffer> {
  const out = new Map<string, Buffer>();
  let off = 0;
  while (off < body.length) {
    // A NUL where a record should start ends the records (some writers pad with zeros).
    if (body[off] === 0) break;
    const sp = body.indexOf(0x20, off);
    if (sp === -1 || sp - off > 20) throw new Error('invalid PAX record length');
    const lenText = body.toString('latin1', off, sp);
    if (!/^[0-9]+$/.test(lenText)) throw new Error('invalid PAX record length');
    const len = Number(lenText);
    const end = off + len;
    if (len <= sp - off + 1 || end > body.length || body[end - 1] !== 0x0a) {
      throw new Error('invalid PAX record');
    }
    const eq = body.indexOf(0x3d, sp + 1);
    if (eq === -1 || eq >= end - 1 || eq === sp + 1) throw new Error('invalid PAX record');
    const key = body.toString('utf8', sp + 1, eq);
    const value = Buffer.from(body.subarray(eq + 1, end - 1));
    if (key === 'GNU.sparse.offset' || key === 'GNU.sparse.numbytes') {
      // Sparse format 0.0 repeats these two, in order: gathered into a 0.1-style map, as Go does.
      const map = out.get('GNU.sparse.map');
      out.set('GNU.sparse.map', map === undefined ? value : Buffer.concat([map, Buffer.from(','), value]));
    } else {
      out.set(key, value);
    }
    off = end;
  }
  return out;
}
