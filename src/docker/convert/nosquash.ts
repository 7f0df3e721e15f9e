/**
 * Pass 2, not squashed (`--nosquash`): one ACI per layer, as docker2aci's v2.2 path writes them:
 * `rootfs`, the layer's entries below it (whiteouts and opaque markers left out), the stdio
 * symlinks the layer lacks, then `manifest` last, whose pathWhitelist lists every path of the image
 * as it stands after this layer, so rendering the layers (dependencies + whitelists) deletes what
 * whiteouts and opaque directories deleted.
 */
import type { Readable } from 'node:stream';
import type { ImageManifest } from '../../appc/index.js';
import type { OutputCompression } from '../../aci/output.js';
import { AciWriter, rootfsHeader, STDIO_SYMLINKS, stdioSymlinkHeader } from './aci-writer.js';
import { readLayer, type LayerIndex } from './layer-index.js';

export interface LayerWriteResult {
  imageId: string;
  warnings: string[];
}

/** The stdio symlinks a layer's whitelist gains (those the layer does not have itself). */
export function missingStdio(index: LayerIndex): string[] {
  return STDIO_SYMLINKS.map(([rel]) => rel).filter((rel) => !index.hasEntry(rel));
}

export async function writeLayerAci(
  path: string,
  manifest: ImageManifest,
  index: LayerIndex,
  raw: Readable,
  source: string,
  compression: OutputCompression,
): Promise<LayerWriteResult> {
  const warnings: string[] = [];
  // A path named twice in one layer: the last entry wins, as when the tar is extracted.
  const last = new Map<string, number>();
  for (let o = 0; o < index.size; o++) if (index.kind(o) === 'entry') last.set(index.rel(o), o);
  const written = new Set<string>();
  const w = new AciWriter(path, compression);
  try {
    await w.rootfs();
    await readLayer(
      raw,
      source,
      async (e, body) => {
        if (e.kind !== 'entry' || last.get(e.rel) !== e.ordinal) return;
        if (e.linkRel !== undefined && !written.has(e.linkRel)) {
          // A link to a file of a lower layer cannot be expressed inside this layer's archive.
          warnings.push(`${source}: hard link ${JSON.stringify(e.rel)} to a lower layer's file left out`);
          return;
        }
        await w.entry(rootfsHeader(e.header, e.rel, e.linkRel), body);
        if (e.header.type !== 'directory') written.add(e.rel);
      },
      true,
    );
    for (const [rel, target] of STDIO_SYMLINKS) {
      if (!index.hasEntry(rel)) await w.entry(stdioSymlinkHeader(rel, target));
    }
    await w.manifest(manifest);
    return { imageId: await w.commit(), warnings };
  } catch (err) {
    await w.abort();
    throw err;
  }
}
