/**
 * Pass 1 of a conversion: what each layer tar holds (names, types, hard link targets, directory
 * headers), read without keeping any file data. Indexes are independent of each other, so layers can
 * be indexed in parallel while they download; `FinalTree` then applies them in order.
 */
import type { Readable } from 'node:stream';
import { cleanName, openDecompressed, type TarHeader } from '../../aci/index.js';
import { decompressedChunks } from '../../aci/compression.js';
import { ByteSource } from '../../aci/byte-source.js';
import { readTar } from '../../aci/tar-reader.js';
import { BLOCK } from '../../aci/tar-format.js';
import { RocketError } from '../../errors.js';

export const WHITEOUT_PREFIX = '.wh.';

/**
 * The size of a layer's reads, of gunzip's output buffers and of the queues between them. Each is a
 * fresh buffer; with 1 MiB ones several MiB waited in the queues long enough to be promoted, and
 * died in the old generation (tens of MB of them between two full collections, and a full
 * collection every ~130 ms). Smaller chunks die young.
 */
export const LAYER_CHUNK = 128 * 1024;
export const OPAQUE_MARKER = '.wh..wh..opq';

/** One tar entry as the conversion sees it. `ordinal` is its position in the layer tar. */
export type IndexedEntry =
  | { kind: 'root'; ordinal: number }
  /** `.wh.<name>`: `rel` is the path it deletes from lower layers. */
  | { kind: 'whiteout'; ordinal: number; rel: string }
  /** `<dir>/.wh..wh..opq`: `rel` is the directory whose lower contents are hidden. */
  | { kind: 'opaque'; ordinal: number; rel: string }
  /** Other `.wh..wh.*` names (aufs bookkeeping): dropped. */
  | { kind: 'ignored'; ordinal: number }
  | {
      kind: 'entry';
      ordinal: number;
      rel: string;
      header: TarHeader;
      /** A hard link's target, cleaned and relative to the root. */
      linkRel?: string;
    };

const KINDS = ['root', 'whiteout', 'opaque', 'ignored', 'entry'] as const;
type Kind = (typeof KINDS)[number];
const TYPES: readonly TarHeader['type'][] = [
  'file',
  'link',
  'symlink',
  'char-device',
  'block-device',
  'directory',
  'fifo',
  'unsupported',
];

/** A hard link as the index keeps it: the target, and the names as stored (for messages). */
export interface IndexedLink {
  linkRel: string;
  name: string;
  linkname: string;
}

/** A typed array that grows (doubling) as values are set past its end. */
class Growing<T extends Float64Array | Int32Array | Uint8Array> {
  constructor(
    public a: T,
    private readonly make: (n: number) => T,
  ) {}

  set(i: number, v: number): void {
    if (i >= this.a.length) {
      const grown = this.make(Math.max(i + 1, this.a.length * 2));
      grown.set(this.a);
      this.a = grown;
    }
    this.a[i] = v;
  }
}

/** Directory header fields kept per directory (numbers; owner names and xattrs apart). */
const DIR_FIELDS = 6; // mode, uid, gid, mtime, devmajor, devminor
const NO_XATTRS: ReadonlyMap<string, Buffer> = new Map();

/**
 * What pass 1 keeps of a layer, compact because it grows with the number of entries (a 1 GB image
 * has ~30k): a byte (kind and type) and a path per entry, by ordinal; for directories their header
 * fields, packed in numbers (the final tree needs the uppermost one); for hard links their targets.
 * File headers are not kept: pass 2 reads them again with the data.
 */
export class LayerIndex {
  private readonly codes = new Growing(new Uint8Array(256), (n) => new Uint8Array(n));
  private readonly rels: string[] = [];
  private readonly links = new Map<number, IndexedLink>();
  /** Ordinal → directory slot + 1 (0: not a directory). */
  private readonly dirSlot = new Growing(new Int32Array(256), (n) => new Int32Array(n));
  private readonly dirFields = new Growing(new Float64Array(64 * DIR_FIELDS), (n) => new Float64Array(n));
  /** Directory slot → owner number (an index of `owners`). */
  private readonly dirOwner = new Growing(new Int32Array(64), (n) => new Int32Array(n));
  private readonly owners: [string, string][] = [];
  private readonly ownerNumbers = new Map<string, number>();
  private readonly dirXattrs = new Map<number, Map<string, Buffer>>();
  private dirs = 0;

  /** Entries indexed (ordinals run from 0 to size - 1). */
  get size(): number {
    return this.rels.length;
  }

  add(e: IndexedEntry): void {
    const ordinal = this.rels.length;
    if (e.ordinal !== ordinal) throw new Error(`layer index: entry ${e.ordinal} added at ${ordinal}`);
    const type = e.kind === 'entry' ? TYPES.indexOf(e.header.type) : 0;
    this.codes.set(ordinal, KINDS.indexOf(e.kind) | (type << 3));
    this.rels.push(e.kind === 'root' || e.kind === 'ignored' ? '' : e.rel);
    if (e.kind !== 'entry') return;
    const h = e.header;
    if (h.type === 'directory') this.addDir(ordinal, h);
    else if (e.linkRel !== undefined) {
      this.links.set(ordinal, { linkRel: e.linkRel, name: h.name, linkname: h.linkname });
    }
  }

  private addDir(ordinal: number, h: TarHeader): void {
    const slot = this.dirs++;
    this.dirSlot.set(ordinal, slot + 1);
    const base = slot * DIR_FIELDS;
    [h.mode, h.uid, h.gid, h.mtime, h.devmajor, h.devminor].forEach((v, i) =>
      this.dirFields.set(base + i, v),
    );
    const key = `${h.uname}\0${h.gname}`;
    let owner = this.ownerNumbers.get(key);
    if (owner === undefined) {
      owner = this.owners.length;
      this.owners.push([h.uname, h.gname]);
      this.ownerNumbers.set(key, owner);
    }
    this.dirOwner.set(slot, owner);
    if (h.xattrs.size > 0) this.dirXattrs.set(slot, h.xattrs);
  }

  kind(ordinal: number): Kind {
    return KINDS[(this.codes.a[ordinal] as number) & 7] as Kind;
  }

  /** An entry's type (only meaningful for kind `entry`). */
  type(ordinal: number): TarHeader['type'] {
    return TYPES[(this.codes.a[ordinal] as number) >> 3] as TarHeader['type'];
  }

  /** The path an entry names, a whiteout deletes or an opaque marker hides (`''` otherwise). */
  rel(ordinal: number): string {
    return this.rels[ordinal] as string;
  }

  /** Whether the entry is a directory. */
  isDir(ordinal: number): boolean {
    return ordinal < this.dirSlot.a.length && (this.dirSlot.a[ordinal] as number) > 0;
  }

  /**
   * A directory entry's header, rebuilt from what was kept: every field the ACI's header takes
   * (the name is the cleaned path).
   */
  dirHeader(ordinal: number): TarHeader | undefined {
    if (!this.isDir(ordinal)) return undefined;
    const slot = (this.dirSlot.a[ordinal] as number) - 1;
    const f = this.dirFields.a;
    const base = slot * DIR_FIELDS;
    const [uname, gname] = this.owners[this.dirOwner.a[slot] as number] as [string, string];
    return {
      name: this.rel(ordinal),
      type: 'directory',
      typeflag: '5',
      mode: f[base] as number,
      uid: f[base + 1] as number,
      gid: f[base + 2] as number,
      uname,
      gname,
      size: 0,
      mtime: f[base + 3] as number,
      linkname: '',
      devmajor: f[base + 4] as number,
      devminor: f[base + 5] as number,
      xattrs: this.dirXattrs.get(slot) ?? (NO_XATTRS as Map<string, Buffer>),
    };
  }

  /** A hard link entry's target. */
  link(ordinal: number): IndexedLink | undefined {
    return this.links.get(ordinal);
  }

  /** Whether the layer has an entry (of kind `entry`) at `rel`. */
  hasEntry(rel: string): boolean {
    for (let o = 0; o < this.rels.length; o++) {
      if (this.rels[o] === rel && this.kind(o) === 'entry') return true;
    }
    return false;
  }
}

/** A path in a layer, cleaned and relative to the root (`''` for the root); `..` is refused. */
export function layerPath(source: string, name: string): string {
  if (name.split('/').includes('..')) {
    throw new RocketError(`${source}: entry ${JSON.stringify(name)}: path contains ".."`);
  }
  const cleaned = cleanName(name.replace(/^\/+/, ''));
  return cleaned === '.' ? '' : cleaned;
}

/** Classifies one layer entry (whiteouts, opaque markers, the root, normal entries). */
export function classify(source: string, ordinal: number, h: TarHeader): IndexedEntry {
  const rel = layerPath(source, h.name);
  if (rel === '') return { kind: 'root', ordinal };
  const slash = rel.lastIndexOf('/');
  const dir = slash === -1 ? '' : rel.slice(0, slash);
  const base = rel.slice(slash + 1);
  if (base === OPAQUE_MARKER) return { kind: 'opaque', ordinal, rel: dir };
  if (base.startsWith(`${WHITEOUT_PREFIX}${WHITEOUT_PREFIX}`)) return { kind: 'ignored', ordinal };
  if (base.startsWith(WHITEOUT_PREFIX)) {
    const target = base.slice(WHITEOUT_PREFIX.length);
    if (target === '' || target === '.' || target === '..') return { kind: 'ignored', ordinal };
    return { kind: 'whiteout', ordinal, rel: dir === '' ? target : `${dir}/${target}` };
  }
  if (h.type === 'unsupported') {
    throw new RocketError(
      `${source}: entry ${JSON.stringify(h.name)}: unsupported entry type '${h.typeflag}'`,
    );
  }
  if (rel === 'dev' && h.type !== 'directory') {
    throw new RocketError('invalid layer: "/dev" is not a directory');
  }
  if (h.type === 'link') {
    const linkRel = layerPath(source, h.linkname);
    if (linkRel === '')
      throw new RocketError(`${source}: entry ${JSON.stringify(h.name)}: hard link to the root`);
    return { kind: 'entry', ordinal, rel, header: h, linkRel };
  }
  return { kind: 'entry', ordinal, rel, header: h };
}

/**
 * Reads every entry of a layer (any compression: sniffed, never taken from the media type) and
 * hands it to `onEntry` with its classification. Data the handler does not read is skipped.
 *
 * `inflateHere` (pass 2): gzip is inflated on this thread into one reused buffer
 * (decompressedChunks), so a body chunk is valid only until the handler reads on; the handler must
 * copy what it keeps (AciWriter copies every chunk into its own blocks before it asks for the
 * next). Pass 1 leaves inflating to the thread pool, as it indexes layers while they download, one
 * per core.
 */
export async function readLayer(
  raw: Readable,
  source: string,
  onEntry: (e: IndexedEntry, body: AsyncIterable<Buffer>) => Promise<void> | void,
  inflateHere = false,
): Promise<void> {
  let stream: Readable | undefined;
  let src: ByteSource;
  if (inflateHere) {
    const { chunks, reused } = await decompressedChunks(raw, source, LAYER_CHUNK);
    src = new ByteSource(paddedToBlocks(chunks), undefined, reused);
  } else {
    ({ stream } = await openDecompressed(raw, source, LAYER_CHUNK));
    src = new ByteSource(paddedToBlocks(stream));
  }
  try {
    let ordinal = 0;
    await readTar(
      src,
      async (entry, body) => {
        await onEntry(classify(source, ordinal++, entry.header), body);
      },
      { source },
    );
  } catch (err) {
    if (err instanceof RocketError) throw err;
    throw new RocketError(`${source}: ${err instanceof Error ? err.message : String(err)}`, 1, {
      cause: err,
    });
  } finally {
    if (stream !== undefined) stream.destroy();
    else await src.cancel();
  }
}

/**
 * The stream, then zeros up to a whole block plus an end-of-archive marker. `umoci insert` writes
 * layers whose last entry lacks its padding and the end blocks (Go's reader accepts the latter);
 * after a complete tar the extra zeros are drained unread.
 */
async function* paddedToBlocks(stream: AsyncIterable<Buffer>): AsyncGenerator<Buffer> {
  let total = 0;
  for await (const chunk of stream) {
    total += chunk.length;
    yield chunk;
  }
  yield Buffer.alloc(((BLOCK - (total % BLOCK)) % BLOCK) + 2 * BLOCK);
}

/** Pass 1 over one layer: the index (headers only, no file data). */
export async function indexLayer(raw: Readable, source: string): Promise<LayerIndex> {
  const index = new LayerIndex();
  await readLayer(raw, source, (e) => {
    index.add(e);
  });
  return index;
}
