/**
 * Docker/OCI image → ACI(s), from a ResolvedImage (src/docker/types.ts) whatever its source.
 *
 * Pass 1 indexes every layer (headers only) while it downloads into the layer cache, then builds
 * the final tree (whiteouts, opaque directories, hard-link groups). Pass 2 reads each layer once
 * more and streams the surviving entries into the squashed ACI, or every layer into its own ACI
 * with --nosquash. Memory holds a path and a byte per entry and the directories' headers
 * (layer-index.ts, tree.ts), never file headers or data.
 */
import { join } from 'node:path';
import { APPC_SPEC_VERSION, type ImageManifest } from '../../appc/index.js';
import { compareBytes } from '../../aci/tar-writer.js';
import type { OutputCompression } from '../../aci/output.js';
import type { ResolvedImage } from '../types.js';
import { prepareLayers, type BlobMode } from './blobs.js';
import { imageManifest } from './manifest.js';
import {
  imageLabels,
  layerFileName,
  lowerLayerAciName,
  squashedAciName,
  squashedFileName,
  topLayerAciName,
} from './names.js';
import { missingStdio, writeLayerAci } from './nosquash.js';
import { NO_PROGRESS, type ProgressSink } from './progress.js';
import { writeSquashed } from './squash.js';
import { FinalTree } from './tree.js';

export { defaultLayerCacheDir, type BlobMode } from './blobs.js';
export { progressFor, NO_PROGRESS, type ProgressSink } from './progress.js';

export interface ConvertOptions {
  /** Directory the ACI files go to (created if missing). */
  outDir: string;
  /** One ACI (default) or one per layer. */
  squash?: boolean;
  compression?: OutputCompression;
  /** How layer bytes are kept between the passes (default: spool to a temp dir). */
  blobs?: BlobMode;
  progress?: ProgressSink;
  debug?: (line: string) => void;
}

export interface GeneratedAci {
  /** Path of the file (outDir joined with the file name). */
  path: string;
  imageId: string;
  manifest: ImageManifest;
}

export interface ConvertResult {
  /** Bottom layer first with --nosquash; the squashed image alone otherwise. */
  acis: GeneratedAci[];
  /** The squashed image's manifest, or the top layer's. */
  manifest: ImageManifest;
  warnings: string[];
}

export async function convertImage(image: ResolvedImage, opts: ConvertOptions): Promise<ConvertResult> {
  const debug = opts.debug ?? (() => undefined);
  const compression = opts.compression ?? 'gzip';
  const { reference: ref, config, layers } = image;
  const topDigest = layers.at(-1)?.digest ?? image.configDigest;
  const inputs = {
    reference: ref,
    config,
    imageId: image.configDigest,
    manifestDigest: image.manifestDigest,
  };
  const sourceOf = (i: number) => `layer ${layers[i]?.digest ?? i}`;

  debug('Fetching layers...');
  const prepared = await prepareLayers(layers, opts.blobs ?? { kind: 'spool' }, opts.progress ?? NO_PROGRESS);
  try {
    (opts.progress ?? NO_PROGRESS).close();
    const tree = new FinalTree();
    const whitelists: string[][] = [];
    for (const [i, index] of prepared.indexes.entries()) {
      tree.apply(i, index, sourceOf(i));
      if (opts.squash === false) {
        const stdio = missingStdio(index).map((rel) => `/${rel}`);
        whitelists.push([...new Set([...tree.paths(), ...stdio])].sort(compareBytes));
      }
    }

    if (opts.squash !== false || layers.length === 0) {
      debug('Squashing layers...');
      const manifest = imageManifest(squashedAciName(ref, topDigest), inputs);
      const path = join(opts.outDir, squashedFileName(ref));
      debug('Writing squashed ACI...');
      const imageId = await writeSquashed(
        path,
        manifest,
        tree.plan(),
        layers.length,
        (i) => prepared.open(i),
        sourceOf,
        compression,
      );
      debug('ACI squashed!');
      return { acis: [{ path, imageId, manifest }], manifest, warnings: [] };
    }

    const acis: GeneratedAci[] = [];
    const warnings: string[] = [];
    const labels = imageLabels(ref, config.os, config.architecture, config.variant);
    const osArch = labels.filter((l) => l.name === 'os' || l.name === 'arch');
    for (const [i, layer] of layers.entries()) {
      debug(`Generating layer ACI ${i + 1}/${layers.length}...`);
      const top = i === layers.length - 1;
      const manifest: ImageManifest = top
        ? imageManifest(topLayerAciName(ref, layer.digest), inputs)
        : {
            acKind: 'ImageManifest',
            acVersion: APPC_SPEC_VERSION,
            name: lowerLayerAciName(ref, layer.digest),
            labels,
          };
      if (top && i > 0) {
        manifest.dependencies = layers
          .slice(0, i)
          .map((l) => ({ imageName: lowerLayerAciName(ref, l.digest), labels: osArch }));
      }
      manifest.pathWhitelist = whitelists[i];
      const path = join(opts.outDir, layerFileName(ref, layer.digest, config.os, config.architecture));
      const res = await writeLayerAci(
        path,
        manifest,
        prepared.indexes[i] as (typeof prepared.indexes)[number],
        await prepared.open(i),
        sourceOf(i),
        compression,
      );
      warnings.push(...res.warnings);
      acis.push({ path, imageId: res.imageId, manifest });
    }
    return { acis, manifest: (acis.at(-1) as GeneratedAci).manifest, warnings };
  } finally {
    prepared.cleanup();
  }
}
