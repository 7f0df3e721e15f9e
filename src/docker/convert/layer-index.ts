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

export interface LayerIndex {
  entries: IndexedEntry[];
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
  const entries: IndexedEntry[] = [];
  await readLayer(raw, source, (e) => {
    entries.push(e);
  });
  return { entries };
}
