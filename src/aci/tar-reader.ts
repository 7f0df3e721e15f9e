import type { ByteSource } from './byte-source.js';
import {
  BLOCK,
  padding,
  parsePaxRecords,
  XATTR_PAX_PREFIX,
  type EntryType,
  type TarHeader,
} from './tar-format.js';

/** Upper bound for PAX and GNU long-name bodies (Go's limit too). */
const MAX_SPECIAL_SIZE = 1024 * 1024;

export interface TarEntry {
  header: TarHeader;
  /** Offset of the entry's first block (its PAX/GNU preamble if any) in the tar stream. */
  offset: number;
  /**
   * With `keepRaw`: every block from the preamble through the main header, verbatim; `paxLocal` is
   * the local PAX records (so a writer can rebuild them) and `preambleHadSize` says one was `size`.
   */
  raw?: { preamble: Buffer[]; header: Buffer; paxLocal: Map<string, Buffer> };
}

/** Called per entry; the body must be consumed or abandoned before the promise settles. */
export type EntryHandler = (entry: TarEntry, body: AsyncIterable<Buffer>) => Promise<void> | void;

export interface ReadTarOptions {
  /** Names the archive in error messages. */
  source: string;
  keepRaw?: boolean;
  /**
   * GNU sparse entries (old GNU 'S' headers, PAX sparse formats 0.0, 0.1 and 1.0), as Go's
   * archive/tar reads them: `expand` gives a regular file of the real size whose body has the holes
   * as zeros (see ZERO_FILL); by default (and always with keepRaw, which copies entries byte for
   * byte) they come as `unsupported` entries with their stored bytes.
   */
  sparse?: 'expand';
}

/** Holes of an expanded sparse entry are yielded as slices of this buffer (never written to). */
export const ZERO_FILL = Buffer.alloc(1024 * 1024);

/** A sparse entry's data segments: [offset, length] in the real file, sorted, non-overlapping. */
type SparseMap = [number, number][];

/** Thrown by a handler to stop reading early without an error (the source is then not drained). */
export class StopReading extends Error {
  constructor() {
    super('stop reading');
  }
}

/**
 * Reads tar entries from `src` until the end-of-archive block (or the end of the data, which Go
 * and GNU tar accept too), then drains the rest of the source so a hash over it is complete.
 * Returns false if a handler stopped early.
 */
export async function readTar(
  src: ByteSource,
  onEntry: EntryHandler,
  opts: ReadTarOptions,
): Promise<boolean> {
  const fail = (what: string, at: number) => new Error(`${opts.source}: ${what} at byte ${at}`);
  let globalPax = new Map<string, Buffer>();
  let localPax: Map<string, Buffer> | undefined;
  let longName: string | undefined;
  let longLink: string | undefined;
  let preamble: Buffer[] = [];
  let entryOffset = src.position;
  for (;;) {
    const at = src.position;
    const block = await src.read(BLOCK);
    if (block.length === 0) break;
    if (block.length < BLOCK) throw fail('truncated tar header', at);
    if (isZeroBlock(block)) break;
    verifyChecksum(block, () => fail('invalid tar header checksum', at));
    const flag = String.fromCharCode(block[156] ?? 0);
    if (flag === 'x' || flag === 'g' || flag === 'L' || flag === 'K') {
      const size = readNumber(block, 124, 12);
      if (size < 0 || size > MAX_SPECIAL_SIZE) throw fail(`tar ${flag} header too large`, at);
      const body = await src.read(size);
      if (body.length < size) throw fail('truncated tar archive', at);
      const pad = padding(size);
      if ((await src.skip(pad)) < pad) throw fail('truncated tar archive', at);
      if (opts.keepRaw === true) preamble.push(Buffer.from(block), Buffer.from(body), Buffer.alloc(pad));
      if (flag === 'L' || flag === 'K') {
        const nul = body.indexOf(0);
        const text = body.toString('utf8', 0, nul === -1 ? body.length : nul);
        if (flag === 'L') longName = text;
        else longLink = text;
        continue;
      }
      let records: Map<string, Buffer>;
      try {
        records = parsePaxRecords(body);
      } catch (err) {
        throw fail((err as Error).message, at);
      }
      if (flag === 'g') globalPax = new Map([...globalPax, ...records]);
      else localPax = new Map([...(localPax ?? []), ...records]);
      continue;
    }

    const pax = new Map([...globalPax, ...(localPax ?? [])]);
    let header: TarHeader;
    let sparse: SparseInfo | undefined;
    try {
      header = decodeHeader(block, flag, pax, longName, longLink);
      if (opts.sparse === 'expand' && opts.keepRaw !== true)
        sparse = await sparseInfo(block, flag, pax, header, src);
    } catch (err) {
      throw fail((err as Error).message, at);
    }
    const storedSize = header.size;
    if (sparse !== undefined) {
      header = {
        ...header,
        type: 'file',
        typeflag: '0',
        size: sparse.realSize,
        name: sparse.name ?? header.name,
      };
    }
    const entry: TarEntry = { header, offset: entryOffset };
    if (opts.keepRaw === true) {
      entry.raw = { preamble, header: Buffer.from(block), paxLocal: localPax ?? new Map<string, Buffer>() };
    }
    localPax = undefined;
    longName = longLink = undefined;
    preamble = [];

    const dataSize =
      sparse !== undefined
        ? storedSize - sparse.mapBytes
        : header.type === 'file' || header.type === 'unsupported'
          ? header.size
          : 0;
    const short = () => fail(`truncated data of entry "${header.name}"`, at);
    if (dataSize < 0) throw short();
    const body =
      sparse !== undefined
        ? new SparseBody(src, dataSize, sparse, short, () =>
            fail(`bad sparse map of entry "${header.name}"`, at),
          )
        : new EntryBody(src, dataSize, short);
    let stopped = false;
    try {
      await onEntry(entry, body);
    } catch (err) {
      if (err instanceof StopReading) stopped = true;
      else throw err;
    }
    if (stopped) return false;
    // Whatever the handler left unread is skipped (a sparse entry's padding counts its map too).
    const rest = body.remaining + padding(sparse !== undefined ? storedSize : dataSize);
    if ((await src.skip(rest)) < rest) throw short();
    entryOffset = src.position;
  }
  await src.drain();
  return true;
}

/**
 * An entry's data. Iterating it more than once continues where the last iteration stopped, and
 * breaking out of a loop does not lose the stream position (readTar skips what is left).
 */
class EntryBody implements AsyncIterable<Buffer> {
  constructor(
    private readonly src: ByteSource,
    public remaining: number,
    private readonly onShort: () => Error,
  ) {}

  [Symbol.asyncIterator](): AsyncIterator<Buffer> {
    return {
      next: async (): Promise<IteratorResult<Buffer>> => {
        if (this.remaining === 0) return { done: true, value: undefined };
        const chunk = await this.src.readSome(this.remaining);
        if (chunk.length === 0) throw this.onShort();
        this.remaining -= chunk.length;
        return { done: false, value: chunk };
      },
      return: (): Promise<IteratorResult<Buffer>> => Promise.resolve({ done: true, value: undefined }),
    };
  }
}

interface SparseInfo {
  map: SparseMap;
  realSize: number;
  /** The real name (PAX GNU.sparse.name), if given. */
  name?: string;
  /** Bytes of the stored data taken by the map itself (format 1.0), before the segments. */
  mapBytes: number;
}

/**
 * The sparse map of an entry, or undefined if it is not sparse: old GNU ('S', map in the header and
 * its extension blocks, which are read here), or PAX 0.0/0.1 (records) and 1.0 (map at the start of
 * the data, read here). Checked as Go does: offsets and lengths non-negative, sorted, not
 * overlapping, within the real size.
 */
async function sparseInfo(
  b: Buffer,
  flag: string,
  pax: Map<string, Buffer>,
  header: TarHeader,
  src: ByteSource,
): Promise<SparseInfo | undefined> {
  const text = (key: string) => pax.get(key)?.toString('utf8');
  const int = (v: string | undefined, what: string): number => {
    if (v === undefined || !/^[0-9]+$/.test(v)) throw new Error(`invalid sparse ${what}`);
    const n = Number(v);
    if (!Number.isSafeInteger(n)) throw new Error(`invalid sparse ${what}`);
    return n;
  };
  let map: SparseMap = [];
  let realSize: number;
  let mapBytes = 0;
  const name = text('GNU.sparse.name');
  if (flag === 'S') {
    const entries = (block: Buffer, off: number, count: number) => {
      for (let i = 0; i < count; i++) {
        const o = off + i * 24;
        if (block[o] === 0) return; // unused slots are empty
        map.push([readNumber(block, o, 12), readNumber(block, o + 12, 12)]);
      }
    };
    entries(b, 386, 4);
    let extended = b[482] !== 0;
    while (extended) {
      const ext = await src.read(BLOCK);
      if (ext.length < BLOCK) throw new Error('truncated sparse header');
      entries(ext, 0, 21);
      extended = ext[504] !== 0;
    }
    realSize = readNumber(b, 483, 12);
  } else if (text('GNU.sparse.major') === '1' && text('GNU.sparse.minor') === '0') {
    // The map opens the data: decimal numbers, one a line (count, then offset and length pairs),
    // padded to a block; read a block at a time.
    let buf = Buffer.alloc(0);
    const next = async (): Promise<number> => {
      for (;;) {
        const nl = buf.indexOf(0x0a);
        if (nl !== -1) {
          const v = int(buf.toString('latin1', 0, nl), 'map');
          buf = buf.subarray(nl + 1);
          return v;
        }
        if (mapBytes + BLOCK > header.size || buf.length > 64) throw new Error('invalid sparse map');
        const more = await src.read(BLOCK);
        if (more.length < BLOCK) throw new Error('truncated sparse map');
        mapBytes += BLOCK;
        buf = Buffer.concat([buf, more]);
      }
    };
    const count = await next();
    if (count > 1_000_000) throw new Error('invalid sparse map');
    for (let i = 0; i < count; i++) map.push([await next(), await next()]);
    realSize = int(text('GNU.sparse.realsize'), 'size');
  } else if (text('GNU.sparse.map') !== undefined) {
    // 0.1 (and 0.0, whose repeated offset/numbytes records parsePaxRecords gathers into a map)
    const mapText = text('GNU.sparse.map') ?? '';
    const parts = mapText === '' ? [] : mapText.split(',');
    if (parts.length % 2 !== 0) throw new Error('invalid sparse map');
    for (let i = 0; i < parts.length; i += 2) map.push([int(parts[i], 'map'), int(parts[i + 1], 'map')]);
    realSize = int(text('GNU.sparse.size') ?? text('GNU.sparse.realsize'), 'size');
  } else {
    return undefined;
  }
  let end = 0;
  let stored = 0;
  for (const [off, len] of map) {
    if (off < end || off + len > realSize) throw new Error('invalid sparse map');
    end = off + len;
    stored += len;
  }
  if (mapBytes + stored !== header.size) throw new Error('sparse map does not match the entry size');
  map = map.filter(([, len]) => len > 0);
  return { map, realSize, mapBytes, ...(name !== undefined ? { name } : {}) };
}

/**
 * A sparse entry's data as the real file: each hole as ZERO_FILL slices, each segment read from the
 * archive. `remaining` counts the stored bytes not read yet (readTar skips them).
 */
class SparseBody implements AsyncIterable<Buffer> {
  private segment = 0;
  /** Position in the real file. */
  private pos = 0;

  constructor(
    private readonly src: ByteSource,
    public remaining: number,
    private readonly info: SparseInfo,
    private readonly onShort: () => Error,
    private readonly onBad: () => Error,
  ) {}

  [Symbol.asyncIterator](): AsyncIterator<Buffer> {
    return {
      next: async (): Promise<IteratorResult<Buffer>> => {
        const seg = this.info.map[this.segment];
        const holeEnd = seg === undefined ? this.info.realSize : seg[0];
        if (this.pos < holeEnd) {
          const n = Math.min(holeEnd - this.pos, ZERO_FILL.length);
          this.pos += n;
          return { done: false, value: ZERO_FILL.subarray(0, n) };
        }
        if (seg === undefined) {
          if (this.remaining !== 0) throw this.onBad();
          return { done: true, value: undefined };
        }
        const segEnd = seg[0] + seg[1];
        const chunk = await this.src.readSome(Math.min(segEnd - this.pos, this.remaining));
        if (chunk.length === 0) throw this.onShort();
        this.remaining -= chunk.length;
        this.pos += chunk.length;
        if (this.pos === segEnd) this.segment++;
        return { done: false, value: chunk };
      },
      return: (): Promise<IteratorResult<Buffer>> => Promise.resolve({ done: true, value: undefined }),
    };
  }
}

function isZeroBlock(b: Buffer): boolean {
  for (let i = 0; i < BLOCK; i += 4) if (b.readUInt32LE(i) !== 0) return false;
  return true;
}

function verifyChecksum(b: Buffer, fail: () => Error): void {
  const stored = readNumber(b, 148, 8);
  let unsigned = 0;
  let signed = 0;
  for (let i = 0; i < BLOCK; i++) {
    const c = i >= 148 && i < 156 ? 0x20 : (b[i] as number);
    unsigned += c;
    signed += c >= 0x80 ? c - 0x100 : c;
  }
  if (stored !== unsigned && stored !== signed) throw fail();
}

/** A numeric field: octal text (NUL/space padded) or GNU base-256 (high bit set). */
export function readNumber(b: Buffer, off: number, len: number): number {
  const first = b[off] ?? 0;
  if ((first & 0x80) !== 0) {
    const negative = (first & 0x40) !== 0;
    let v = 0;
    for (let i = 0; i < len; i++) {
      let c = b[off + i] as number;
      if (i === 0) c &= 0x7f;
      if (negative) c ^= 0xff;
      v = v * 256 + c;
    }
    if (negative) v = -(v + 1);
    if (!Number.isSafeInteger(v)) throw new Error('tar numeric field out of range');
    return v;
  }
  let s = b.toString('latin1', off, off + len);
  const nul = s.indexOf('\0');
  if (nul !== -1) s = s.slice(0, nul);
  s = s.trim();
  if (s === '') return 0;
  if (!/^[0-7]+$/.test(s)) throw new Error('invalid tar numeric field');
  return parseInt(s, 8);
}

function readString(b: Buffer, off: number, len: number): string {
  const end = b.indexOf(0, off);
  return b.toString('utf8', off, end === -1 || end > off + len ? off + len : end);
}

function decodeHeader(
  b: Buffer,
  flag: string,
  pax: Map<string, Buffer>,
  longName: string | undefined,
  longLink: string | undefined,
): TarHeader {
  const magic = b.toString('latin1', 257, 263);
  const version = b.toString('latin1', 263, 265);
  const ustar = magic === 'ustar\0' && version === '00';
  let name = readString(b, 0, 100);
  if (ustar && b[345] !== 0) name = `${readString(b, 345, 155)}/${name}`;
  let linkname = readString(b, 157, 100);
  if (longName !== undefined) name = longName;
  if (longLink !== undefined) linkname = longLink;

  const text = (key: string) => pax.get(key)?.toString('utf8');
  const paxNumber = (key: string, current: number): number => {
    const v = text(key);
    if (v === undefined) return current;
    if (!/^-?[0-9]+$/.test(v)) throw new Error(`invalid PAX ${key} record`);
    return Number(v);
  };
  name = text('path') ?? name;
  linkname = text('linkpath') ?? linkname;
  let mtime = readNumber(b, 136, 12);
  const paxMtime = text('mtime');
  if (paxMtime !== undefined) {
    if (!/^-?[0-9]+(\.[0-9]*)?$/.test(paxMtime)) throw new Error('invalid PAX mtime record');
    mtime = Number(paxMtime);
  }
  const xattrs = new Map<string, Buffer>();
  let sparse = false;
  for (const [key, value] of pax) {
    if (key.startsWith(XATTR_PAX_PREFIX)) xattrs.set(key.slice(XATTR_PAX_PREFIX.length), value);
    else if (key.startsWith('GNU.sparse.')) sparse = true;
  }
  let type = entryType(flag, name);
  if (sparse) type = 'unsupported';
  return {
    name,
    type,
    typeflag: flag === '\0' ? '0' : flag,
    mode: readNumber(b, 100, 8) & 0o7777,
    uid: paxNumber('uid', readNumber(b, 108, 8)),
    gid: paxNumber('gid', readNumber(b, 116, 8)),
    uname: text('uname') ?? readString(b, 265, 32),
    gname: text('gname') ?? readString(b, 297, 32),
    size: paxNumber('size', readNumber(b, 124, 12)),
    mtime,
    linkname,
    devmajor: readNumber(b, 329, 8),
    devminor: readNumber(b, 337, 8),
    xattrs,
  };
}

function entryType(flag: string, name: string): EntryType {
  switch (flag) {
    case '\0':
      // Pre-POSIX archives mark directories by a trailing slash only.
      return name.endsWith('/') ? 'directory' : 'file';
    case '0':
    case '7':
      return 'file';
    case '1':
      return 'link';
    case '2':
      return 'symlink';
    case '3':
      return 'char-device';
    case '4':
      return 'block-device';
    case '5':
      return 'directory';
    case '6':
      return 'fifo';
    default:
      return 'unsupported';
  }
}
