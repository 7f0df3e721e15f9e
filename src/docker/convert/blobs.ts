/**
 * Getting each layer's bytes once: pass 1 (the index) runs while the blob downloads, and the blob
 * lands in a layer cache keyed by its digest, from which pass 2 (writing ACIs) reads it. The next
 * conversion of an image sharing layers (an updated tag, another tag of the same base) finds them
 * there and downloads only what changed.
 *
 * Modes:
 * - `cache`: blobs kept in `<dir>/<algorithm>/<hex>` (verified before they are renamed into place);
 * - `spool`: the same in a temp dir removed after the conversion (no persistent cache);
 * - `reopen`: nothing is copied, each pass opens the source again (for local files: layouts and
 *   archives, where a copy would only cost time and space).
 */
import { randomBytes } from 'node:crypto';
import {
  createReadStream,
  createWriteStream,
  existsSync,
  mkdirSync,
  mkdtempSync,
  renameSync,
  rmSync,
} from 'node:fs';
import { availableParallelism, homedir, tmpdir } from 'node:os';
import { join } from 'node:path';
import { PassThrough, type Readable } from 'node:stream';
import { finished } from 'node:stream/promises';
import { RocketError } from '../../errors.js';
import type { LayerDescriptor } from '../types.js';
import { indexLayer, LAYER_CHUNK, type LayerIndex } from './layer-index.js';
import { downloadLabel, NO_PROGRESS, type ProgressSink } from './progress.js';

export type BlobMode = { kind: 'cache'; dir: string } | { kind: 'spool' } | { kind: 'reopen' };

/** `$XDG_CACHE_HOME/rocket/docker-layers`, or `~/.cache/rocket/docker-layers`. */
export function defaultLayerCacheDir(): string {
  const xdg = process.env.XDG_CACHE_HOME;
  const base = xdg !== undefined && xdg !== '' ? xdg : join(homedir(), '.cache');
  return join(base, 'rocket', 'docker-layers');
}

export interface PreparedLayers {
  indexes: LayerIndex[];
  /** Opens layer `i`'s (possibly compressed) bytes again for pass 2. */
  open(i: number): Promise<Readable>;
  /** Which layers were found in the cache (not downloaded). */
  cached: boolean[];
  /** Removes the spool dir, if any. */
  cleanup(): void;
}

const DIGEST = /^(sha256|sha512):([a-f0-9]{64}|[a-f0-9]{128})$/;

/**
 * Parallel downloads, as docker2aci fetches all layers at once (bounded here): at most 4, and no
 * more than the cores (at least 2), since each also decompresses and indexes its layer, and each
 * holds its own buffers.
 */
const CONCURRENCY = Math.min(4, Math.max(2, availableParallelism()));

export async function prepareLayers(
  layers: readonly LayerDescriptor[],
  mode: BlobMode,
  progress: ProgressSink = NO_PROGRESS,
): Promise<PreparedLayers> {
  const dir =
    mode.kind === 'cache'
      ? mode.dir
      : mode.kind === 'spool'
        ? mkdtempSync(join(tmpdir(), 'docker2aci-'))
        : '';
  const cleanup = () => {
    if (mode.kind === 'spool') rmSync(dir, { recursive: true, force: true });
  };
  try {
    const indexes: LayerIndex[] = new Array<LayerIndex>(layers.length);
    const cached = layers.map(() => false);
    const paths: string[] = [];
    let next = 0;
    const worker = async () => {
      for (let i = next++; i < layers.length; i = next++) {
        const layer = layers[i] as LayerDescriptor;
        const source = `layer ${layer.digest}`;
        if (mode.kind === 'reopen') {
          indexes[i] = await indexLayer(await layer.open(), source);
          continue;
        }
        const path = blobPath(dir, layer.digest);
        paths[i] = path;
        if (existsSync(path)) {
          cached[i] = true;
          indexes[i] = await indexLayer(createReadStream(path, { highWaterMark: LAYER_CHUNK }), source);
        } else {
          indexes[i] = await download(layer, path, source, progress);
        }
      }
    };
    await Promise.all(Array.from({ length: Math.min(CONCURRENCY, layers.length) }, worker));
    return {
      indexes,
      cached,
      open: async (i) => {
        const path = paths[i];
        if (path !== undefined) return createReadStream(path, { highWaterMark: LAYER_CHUNK });
        return (layers[i] as LayerDescriptor).open();
      },
      cleanup,
    };
  } catch (err) {
    cleanup();
    throw err;
  }
}

function blobPath(dir: string, digest: string): string {
  const m = DIGEST.exec(digest);
  if (m === null) throw new RocketError(`unsupported layer digest ${JSON.stringify(digest)}`);
  return join(dir, m[1] as string, m[2] as string);
}

/**
 * Streams a layer into `path` (via a temp file, renamed once the whole stream has ended) while
 * indexing it: one read of the source, verified before anything is kept. The digest is checked by
 * the source itself (`LayerDescriptor.open` errors at the end of a stream whose bytes do not hash
 * to it), so it is not hashed a second time here: on a mismatch the stream errors, both sides fail
 * and the temp file is removed.
 */
async function download(
  layer: LayerDescriptor,
  path: string,
  source: string,
  progress: ProgressSink,
): Promise<LayerIndex> {
  mkdirSync(join(path, '..'), { recursive: true });
  const temp = `${path}.${randomBytes(6).toString('hex')}.tmp`;
  const raw = await layer.open();
  const bar = progress.bar(downloadLabel(layer.digest), layer.size);
  const file = createWriteStream(temp, { flags: 'wx', highWaterMark: 1 << 20 });
  const toIndex = new PassThrough({ highWaterMark: 1 << 20 });
  raw.on('data', (chunk: Buffer) => bar.add(chunk.length));
  raw.once('error', (err) => {
    toIndex.destroy(err);
    file.destroy(err);
  });
  raw.pipe(file);
  raw.pipe(toIndex);
  try {
    const [index] = await Promise.all([indexLayer(toIndex, source), finished(file)]);
    renameSync(temp, path);
    bar.done();
    return index;
  } catch (err) {
    raw.destroy();
    file.destroy();
    // The write stream opens its file asynchronously: removed only once the stream has closed, or
    // an open that completes after the failure would leave the temp file in the cache.
    if (!file.closed) await new Promise<void>((resolve) => file.once('close', () => resolve()));
    rmSync(temp, { force: true });
    throw err;
  }
}
