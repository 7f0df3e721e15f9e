/**
 * Pass 2, squashed: one ACI from all layers, each layer read once more bottom to top, writing only
 * the entries that survive in the final tree (FinalTree.plan). Nothing but paths and directory
 * headers is held in memory; file headers and data stream from the layer into the output.
 *
 * Order in the archive: `manifest`, `rootfs` (as docker2aci), then the survivors in layer order. A
 * final directory's header (the uppermost one) is written where the lowest layer names it, so
 * parents precede their children. A hard-link group is written where its content was written: the
 * first surviving path gets the data, the others are links to it, so a link whose target an upper
 * layer deleted still has its content (docker2aci does the same in two passes over rendered layers).
 */
import type { Readable } from 'node:stream';
import type { ImageManifest } from '../../appc/index.js';
import type { OutputCompression } from '../../aci/output.js';
import { AciWriter, rootfsHeader, STDIO_SYMLINKS, stdioSymlinkHeader } from './aci-writer.js';
import { readLayer } from './layer-index.js';
import type { FinalPlan } from './tree.js';

export async function writeSquashed(
  path: string,
  manifest: ImageManifest,
  plan: FinalPlan,
  layerCount: number,
  open: (i: number) => Promise<Readable>,
  sourceOf: (i: number) => string,
  compression: OutputCompression,
): Promise<string> {
  const w = new AciWriter(path, compression);
  try {
    await w.manifest(manifest);
    await w.rootfs();
    const dirsWritten = new Set<string>();
    for (let i = 0; i < layerCount; i++) {
      await readLayer(
        await open(i),
        sourceOf(i),
        async (e, body) => {
          if (e.kind !== 'entry') return;
          const h = e.header;
          if (h.type === 'directory') {
            const final = plan.dir(e.rel);
            if (final !== undefined && !dirsWritten.has(e.rel)) {
              dirsWritten.add(e.rel);
              await w.entry(rootfsHeader(final, e.rel));
            }
            return;
          }
          const emission = plan.emission(i, e.ordinal);
          if (emission === undefined) return;
          const [first, ...others] = emission;
          await w.entry(rootfsHeader(h, first), body);
          for (const other of others) {
            await w.entry(rootfsHeader({ ...h, type: 'link', size: 0 }, other, first));
          }
        },
        true,
      );
    }
    for (const [rel, target] of STDIO_SYMLINKS) {
      if (!plan.has(rel)) await w.entry(stdioSymlinkHeader(rel, target));
    }
    return await w.commit();
  } catch (err) {
    await w.abort();
    throw err;
  }
}
