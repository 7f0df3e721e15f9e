import { createReadStream } from 'node:fs';
import { open } from 'node:fs/promises';
import { Readable, Transform, type TransformCallback } from 'node:stream';
import { constants as zlibConstants, createGunzip, Gunzip } from 'node:zlib';
import { RocketError } from '../errors.js';

/** What the first bytes of a file say it is. `text` and `unknown` are not images. */
export type FileType = 'gzip' | 'bzip2' | 'xz' | 'zstd' | 'tar' | 'text' | 'unknown';
export type Compression = 'gzip' | 'bzip2' | 'xz' | 'zstd' | 'none';

/** Bytes read to sniff a type (REF reads 512). */
export const SNIFF_LENGTH = 512;
/** Chunk size for reads and inflation: big chunks keep per-chunk overhead out of the profile. */
export const IO_CHUNK = 1024 * 1024;

const GZIP_MAGIC = Buffer.from([0x1f, 0x8b]);
const BZIP2_MAGIC = Buffer.from('BZh', 'latin1');
const XZ_MAGIC = Buffer.from([0xfd, 0x37, 0x7a, 0x58, 0x5a, 0x00]);
const ZSTD_MAGIC = Buffer.from([0x28, 0xb5, 0x2f, 0xfd]);
const TAR_MAGIC = Buffer.from('ustar', 'latin1');
const TAR_MAGIC_OFFSET = 257;

/**
 * Sniffs a file type from its first bytes, never from its name. zstd is our extension (appc allows
 * only gzip, bzip2 and xz). `text` follows Go's http.DetectContentType closely enough for
 * `actool validate` to tell a manifest from an image.
 */
export function detectFileType(head: Uint8Array): FileType {
  const b = Buffer.from(head.buffer, head.byteOffset, head.byteLength);
  if (startsWith(b, GZIP_MAGIC)) return 'gzip';
  if (startsWith(b, BZIP2_MAGIC)) return 'bzip2';
  if (startsWith(b, XZ_MAGIC)) return 'xz';
  if (startsWith(b, ZSTD_MAGIC)) return 'zstd';
  // REF requires more than 262 bytes, i.e. the whole magic plus at least one byte after it.
  if (
    b.length > TAR_MAGIC_OFFSET + TAR_MAGIC.length &&
    b.subarray(TAR_MAGIC_OFFSET, TAR_MAGIC_OFFSET + TAR_MAGIC.length).equals(TAR_MAGIC)
  ) {
    return 'tar';
  }
  return looksLikeText(b) ? 'text' : 'unknown';
}

function startsWith(b: Buffer, magic: Buffer): boolean {
  return b.length >= magic.length && b.subarray(0, magic.length).equals(magic);
}

/** Text = no control bytes that text never has, and valid UTF-8 (a cut sequence at the end is fine). */
function looksLikeText(b: Buffer): boolean {
  if (b.length === 0) return false;
  for (const c of b) {
    if (c <= 0x08 || c === 0x0b || (c >= 0x0e && c <= 0x1a) || (c >= 0x1c && c <= 0x1f)) return false;
  }
  let end = b.length;
  // Trim an incomplete trailing UTF-8 sequence so a 512-byte cut does not look binary.
  for (let i = Math.max(0, end - 3); i < end; i++) {
    const c = b[i] ?? 0;
    const need = c >= 0xf0 ? 4 : c >= 0xe0 ? 3 : c >= 0xc0 ? 2 : 1;
    if (need > 1 && i + need > end) {
      end = i;
      break;
    }
  }
  return new TextDecoder('utf-8', { fatal: false }).decode(b.subarray(0, end)).indexOf('\ufffd') === -1;
}

export function compressionOf(type: FileType, source: string): Compression {
  switch (type) {
    case 'gzip':
    case 'bzip2':
    case 'xz':
    case 'zstd':
      return type;
    case 'tar':
      return 'none';
    default:
      throw new RocketError(`${source}: unknown image filetype`);
  }
}

/** Reads the first bytes of a file to sniff its type. */
export async function sniffFile(path: string): Promise<FileType> {
  const fh = await openForRead(path);
  try {
    const head = Buffer.alloc(SNIFF_LENGTH);
    const { bytesRead } = await fh.read(head, 0, SNIFF_LENGTH, 0);
    return detectFileType(head.subarray(0, bytesRead));
  } finally {
    await fh.close();
  }
}

async function openForRead(path: string) {
  try {
    return await open(path, 'r');
  } catch (err) {
    throw new RocketError(`${path}: cannot open: ${(err as NodeJS.ErrnoException).code ?? String(err)}`, 1, {
      cause: err,
    });
  }
}

export interface Decompressed {
  compression: Compression;
  /** The decompressed tar byte stream. */
  stream: Readable;
}

/**
 * Opens an image (a path or an already-open byte stream) and returns its decompressed byte stream.
 * `source` names the input in error messages. `chunk` is the size of the reads of a path, of
 * gzip's output buffers and of what is buffered between them and the reader (default IO_CHUNK):
 * a long-running reader that copies the bytes out at once (docker2aci) passes a smaller one, as
 * every chunk is a fresh buffer, and the more of them wait in the queues, the more outlive young
 * collections and pile up, dead, until a full one.
 */
export async function openDecompressed(
  input: string | Readable,
  source?: string,
  chunk = IO_CHUNK,
): Promise<Decompressed> {
  const name = source ?? (typeof input === 'string' ? input : 'image');
  let raw: Readable;
  let head: Buffer;
  if (typeof input === 'string') {
    const fh = await openForRead(input);
    try {
      head = Buffer.alloc(SNIFF_LENGTH);
      const { bytesRead } = await fh.read(head, 0, SNIFF_LENGTH, 0);
      head = head.subarray(0, bytesRead);
    } finally {
      await fh.close();
    }
    raw = createReadStream(input, { highWaterMark: chunk });
  } else {
    ({ head, stream: raw } = await peek(input, SNIFF_LENGTH));
  }
  const compression = compressionOf(detectFileType(head), name);
  const stream = await decompressor(compression, raw, name, chunk);
  return { compression, stream };
}

/**
 * Like `openDecompressed` for a stream, but the bytes come as an async iterable whose chunks may all
 * be views of one buffer, filled again each time the iterator is resumed (`reused`): a consumer must
 * be done with a chunk, and copy out whatever it keeps, before it asks for the next. For gzip
 * (`reused` true) the stream is inflated on this thread into that one buffer, where a gunzip
 * stream inflates on the thread pool into a fresh buffer per `chunk` bytes of output; a long
 * conversion (docker2aci's pass 2) then allocates no buffer per MiB of tar, and the other cores
 * are left to the compression of the output. Other compressions, or a Node release without the
 * zlib fields used here, give the stream's own chunks (`reused` false).
 */
export async function decompressedChunks(
  input: Readable,
  source: string,
  chunk = IO_CHUNK,
): Promise<{ compression: Compression; chunks: AsyncIterable<Buffer>; reused: boolean }> {
  const { head, stream: raw } = await peek(input, SNIFF_LENGTH);
  const compression = compressionOf(detectFileType(head), source);
  if (compression === 'gzip') {
    const gunzip = new Gunzip({ chunkSize: 64 });
    if (hasSyncHandle(gunzip))
      return { compression, chunks: inflateInto(gunzip, raw, source, chunk), reused: true };
    gunzip.close();
  }
  const stream = await decompressor(compression, raw, source, chunk);
  return { compression, chunks: stream as AsyncIterable<Buffer>, reused: false };
}

/** The fields of Node's zlib streams that its synchronous path uses (lib/zlib.js, Node 10 to 22). */
interface SyncZlib {
  _handle: {
    writeSync(
      flush: number,
      input: Buffer,
      inOff: number,
      inLen: number,
      out: Buffer,
      outOff: number,
      outLen: number,
    ): void;
    onerror: (message: string, errno: number) => void;
  };
  /** After each write: [output space left, input left]. */
  _writeState: Uint32Array;
}

function hasSyncHandle(z: object): z is SyncZlib {
  const f = z as Partial<SyncZlib>;
  return (
    typeof f._handle === 'object' &&
    typeof f._handle.writeSync === 'function' &&
    f._writeState instanceof Uint32Array &&
    f._writeState.length >= 2
  );
}

const EMPTY = Buffer.alloc(0);

/**
 * Inflates `raw` (gzip, one member or several, as Node's gunzip reads them) into one buffer of
 * `size` bytes, yielding a view of what each write produced. The whole of `raw` is read, also after
 * the gzip data ends (what follows it is ignored, as gunzip does), so a source that checks its
 * digest at its end still does.
 */
async function* inflateInto(
  gunzip: Gunzip & SyncZlib,
  raw: Readable,
  name: string,
  size: number,
): AsyncGenerator<Buffer> {
  const handle = gunzip._handle;
  const state = gunzip._writeState;
  let failure: string | undefined;
  handle.onerror = (message) => {
    failure = message;
  };
  const out = Buffer.allocUnsafe(size);
  /** One write of `input` from `off`: how much it produced, and the output space and input left. */
  const write = (flush: number, input: Buffer, off: number) => {
    handle.writeSync(flush, input, off, input.length - off, out, 0, size);
    if (failure !== undefined) throw new RocketError(`${name}: cannot decompress (gzip): ${failure}`);
    const [availOut = 0, availIn = 0] = state;
    return { produced: size - availOut, availOut, availIn };
  };
  let ended = false;
  try {
    for await (const c of raw) {
      const input = c as Buffer;
      if (ended || input.length === 0) continue;
      for (let off = 0; ;) {
        const r = write(zlibConstants.Z_NO_FLUSH, input, off);
        if (r.produced > 0) yield out.subarray(0, r.produced);
        off = input.length - r.availIn;
        // A full buffer: more output may be pending. Else zlib took all of the input, or stopped at
        // the end of the gzip data (input left over: the stream has ended, as for Node's gunzip).
        if (r.availOut === 0) continue;
        if (r.availIn > 0) ended = true;
        break;
      }
    }
    while (!ended) {
      const r = write(zlibConstants.Z_FINISH, EMPTY, 0);
      if (r.produced > 0) yield out.subarray(0, r.produced);
      if (r.availOut !== 0) ended = true;
    }
  } catch (err) {
    throw err instanceof RocketError
      ? err
      : new RocketError(`${name}: cannot decompress (gzip): ${errText(err)}`, 1, { cause: err });
  } finally {
    gunzip.close();
    if (!raw.destroyed) raw.destroy();
  }
}

async function decompressor(
  compression: Compression,
  raw: Readable,
  name: string,
  chunk: number,
): Promise<Readable> {
  const wrap = (err: unknown): RocketError =>
    err instanceof RocketError
      ? err
      : new RocketError(`${name}: cannot decompress (${compression}): ${errText(err)}`, 1, { cause: err });
  let out: Readable;
  switch (compression) {
    case 'none':
      return raw;
    case 'gzip':
      out = raw.pipe(createGunzip({ chunkSize: chunk }));
      break;
    case 'bzip2': {
      const { default: bz2 } = await import('unbzip2-stream');
      out = raw.pipe(bz2());
      break;
    }
    case 'xz': {
      // A CommonJS module flagged __esModule: where the class lands depends on the loader.
      type XzModule = typeof import('xz-decompress');
      const mod = (await import('xz-decompress')) as XzModule & { default?: XzModule };
      const Xz = mod.default?.XzReadableStream ?? mod.XzReadableStream;
      const web = new Xz(Readable.toWeb(raw) as unknown as ReadableStream<Uint8Array>);
      out = Readable.fromWeb(web as unknown as import('node:stream/web').ReadableStream<Uint8Array>);
      break;
    }
    case 'zstd':
      out = raw.pipe(await zstdTransform());
      break;
  }
  // Errors of the source and of the decompressor surface on the returned stream, with the file named.
  raw.once('error', (err) => out.destroy(wrap(err)));
  const forward = new Transform({
    readableHighWaterMark: chunk,
    writableHighWaterMark: chunk,
    transform(chunk: Buffer, _enc, cb: TransformCallback) {
      cb(null, chunk);
    },
  });
  out.once('error', (err) => forward.destroy(wrap(err)));
  forward.once('close', () => {
    if (!raw.destroyed) raw.destroy();
    if (!out.destroyed) out.destroy();
  });
  return out.pipe(forward);
}

async function zstdTransform(): Promise<Transform> {
  const { Decompress } = await import('fzstd');
  let pending: Uint8Array[] = [];
  const dec = new Decompress((data) => {
    pending.push(data);
  });
  const flush = (t: Transform) => {
    for (const d of pending) t.push(Buffer.from(d.buffer, d.byteOffset, d.byteLength));
    pending = [];
  };
  return new Transform({
    transform(chunk: Buffer, _enc, cb: TransformCallback) {
      try {
        dec.push(chunk);
        flush(this);
        cb();
      } catch (err) {
        cb(err as Error);
      }
    },
    flush(cb: TransformCallback) {
      try {
        dec.push(new Uint8Array(0), true);
        flush(this);
        cb();
      } catch (err) {
        cb(err as Error);
      }
    },
  });
}

/** Reads at least `n` bytes (or all there is) from a stream; returns them and a stream that replays them. */
async function peek(input: Readable, n: number): Promise<{ head: Buffer; stream: Readable }> {
  const chunks: Buffer[] = [];
  let got = 0;
  const it = input[Symbol.asyncIterator]() as AsyncIterator<Buffer>;
  while (got < n) {
    const r = await it.next();
    if (r.done === true) break;
    const c = Buffer.isBuffer(r.value) ? r.value : Buffer.from(r.value);
    chunks.push(c);
    got += c.length;
  }
  const head = Buffer.concat(chunks);
  async function* replay(): AsyncGenerator<Buffer> {
    if (head.length > 0) yield head;
    for (;;) {
      const r = await it.next();
      if (r.done === true) return;
      yield Buffer.isBuffer(r.value) ? r.value : Buffer.from(r.value);
    }
  }
  return {
    head: head.subarray(0, Math.min(head.length, n)),
    stream: Readable.from(replay(), { objectMode: false }),
  };
}

export function errText(err: unknown): string {
  if (err instanceof Error) {
    const code = (err as NodeJS.ErrnoException).code;
    return code !== undefined && !err.message.includes(code) ? `${code}: ${err.message}` : err.message;
  }
  return String(err);
}
