/**
 * Pass 1 of a conversion: what each layer tar holds (names, types, hard link targets, directory
 * headers), read without keeping any file data. Indexes are independent of each other, so layers can
 * be indexed in parallel while they download; `FinalTree` then applies them in order.
 */
import type { Readable } from 'node:stream';
import { cleanName, openDecompressed, type TarHeader } from '../../aci/index.js';
import { ByteSource } from '../../aci/byte-source.js';
import { readTar } from '../../aci/tar-reader.js';
import { BLOCK } from '../../aci/tar-format.js';
import { RocketError } from '../../errors.js';

export const WHITEOUT_PREFIX = '.wh.';
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

/**
 * What pass 1 keeps of a layer, compact because it grows with the number of entries (a 1 GB image
 * has ~30k): one byte (kind and type) and one path per entry, by ordinal; the headers of
 * directories (the final tree needs the uppermost one) and of hard links (their targets) only.
 * File headers are not kept: pass 2 reads them again with the data.
 */
export class LayerIndex {
  private codes = new Uint8Array(256);
  private readonly rels: string[] = [];
  private readonly links = new Map<number, IndexedLink>();
  private readonly dirs = new Map<number, TarHeader>();

  /** Entries indexed (ordinals run from 0 to size - 1). */
  get size(): number {
    return this.rels.length;
  }

  add(e: IndexedEntry): void {
    const ordinal = this.rels.length;
    if (e.ordinal !== ordinal) throw new Error(`layer index: entry ${e.ordinal} added at ${ordinal}`);
    if (ordinal === this.codes.length) {
      const grown = new Uint8Array(ordinal * 2);
      grown.set(this.codes);
      this.codes = grown;
    }
    const type = e.kind === 'entry' ? TYPES.indexOf(e.header.type) : 0;
    this.codes[ordinal] = KINDS.indexOf(e.kind) | (type << 3);
    this.rels.push(e.kind === 'root' || e.kind === 'ignored' ? '' : e.rel);
    if (e.kind !== 'entry') return;
    if (e.header.type === 'directory') this.dirs.set(ordinal, e.header);
    else if (e.linkRel !== undefined) {
      this.links.set(ordinal, { linkRel: e.linkRel, name: e.header.name, linkname: e.header.linkname });
    }
  }

  kind(ordinal: number): Kind {
    return KINDS[(this.codes[ordinal] as number) & 7] as Kind;
  }

  /** An entry's type (only meaningful for kind `entry`). */
  type(ordinal: number): TarHeader['type'] {
    return TYPES[(this.codes[ordinal] as number) >> 3] as TarHeader['type'];
  }

  /** The path an entry names, a whiteout deletes or an opaque marker hides (`''` otherwise). */
  rel(ordinal: number): string {
    return this.rels[ordinal] as string;
  }

  /** A directory entry's header. */
  dirHeader(ordinal: number): TarHeader | undefined {
    return this.dirs.get(ordinal);
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
 */
export async function readLayer(
  raw: Readable,
  source: string,
  onEntry: (e: IndexedEntry, body: AsyncIterable<Buffer>) => Promise<void> | void,
): Promise<void> {
  const { stream } = await openDecompressed(raw, source);
  try {
    let ordinal = 0;
    await readTar(
      new ByteSource(paddedToBlocks(stream)),
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
    stream.destroy();
  }
}

/**
 * The stream, then zeros up to a whole block plus an end-of-archive marker. `umoci insert` writes
 * layers whose last entry lacks its padding and the end blocks (Go's reader accepts the latter);
 * after a complete tar the extra zeros are drained unread.
 */
async function* paddedToBlocks(stream: Readable): AsyncGenerator<Buffer> {
  let total = 0;
  for await (const chunk of stream as AsyncIterable<Buffer>) {
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
