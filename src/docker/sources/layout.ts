/**
 * OCI image layouts (`index.json` + `blobs/<alg>/<hex>`), as a directory or inside an OCI archive:
 * the image chosen by its `org.opencontainers.image.ref.name`, nested indexes resolved to one
 * platform, every blob verified.
 */
import { RocketError } from '../../errors.js';
import type { ImageConfig, ImageReference, LayerDescriptor, ResolvedImage } from '../types.js';
import type { FileSource } from './archive.js';
import { parseDigest, verifyBytes, verifyingStream } from './digest.js';
import {
  MAX_DOCUMENT_SIZE,
  parseConfig,
  parseManifest,
  selectPlatform,
  type Descriptor,
  type Platform,
} from './manifest.js';

export const REF_NAME = 'org.opencontainers.image.ref.name';
const MAX_INDEX_DEPTH = 8;

function blobPath(digest: string, what: string): string {
  const { algorithm, hex } = parseDigest(digest, what);
  return `blobs/${algorithm}/${hex}`;
}

async function readBlob(src: FileSource, d: Descriptor, what: string): Promise<Buffer> {
  const path = blobPath(d.digest, what);
  if (!(await src.exists(path))) throw new RocketError(`${what}: blob ${d.digest} missing from ${src.name}`);
  const bytes = await src.readSmall(path, MAX_DOCUMENT_SIZE);
  verifyBytes(bytes, d.digest, `${what}: blob ${d.digest}`);
  return bytes;
}

/** Reference names in an index, for messages. */
function refNames(manifests: readonly Descriptor[]): string {
  const names = manifests.map((m) => m.annotations?.[REF_NAME] ?? m.digest);
  return names.join(', ');
}

/** The index.json entry that `ref` names (exact ref name, or the tag of a full `name:tag` ref name). */
function chooseEntry(manifests: readonly Descriptor[], ref: string | undefined, what: string): Descriptor {
  if (manifests.length === 0) throw new RocketError(`${what}: index.json lists no images`);
  if (ref === undefined || ref === '') {
    if (manifests.length === 1) return manifests[0] as Descriptor;
    throw new RocketError(
      `${what}: several images found, choose one with ${what}:REF; references: ${refNames(manifests)}`,
    );
  }
  const found =
    manifests.find((m) => m.annotations?.[REF_NAME] === ref) ??
    manifests.find((m) => m.digest === ref) ??
    manifests.find((m) => {
      const name = m.annotations?.[REF_NAME] ?? '';
      const colon = name.lastIndexOf(':');
      return colon > name.lastIndexOf('/') && name.slice(colon + 1) === ref;
    });
  if (found === undefined)
    throw new RocketError(
      `${what}: no image with reference ${JSON.stringify(ref)}; references: ${refNames(manifests)}`,
    );
  return found;
}

export interface LayoutImage {
  manifestDigest: string;
  configDigest: string;
  config: ImageConfig;
  layers: LayerDescriptor[];
  /** The ref name annotation of the chosen index.json entry. */
  refName: string | undefined;
}

/** Resolves `ref` in the layout `src` to one image for `platform`. */
export async function resolveLayout(
  src: FileSource,
  ref: string | undefined,
  platform: Platform,
  what: string,
): Promise<LayoutImage> {
  if (!(await src.exists('index.json')))
    throw new RocketError(`${what}: not an OCI image layout (no index.json)`);
  const top = parseManifest(await src.readSmall('index.json', MAX_DOCUMENT_SIZE), '', `${what}: index.json`);
  if (top.kind !== 'index') throw new RocketError(`${what}: index.json is not an image index`);
  const entry = chooseEntry(top.manifests, ref, what);
  let current = entry;
  for (let depth = 0; depth < MAX_INDEX_DEPTH; depth++) {
    const bytes = await readBlob(src, current, what);
    const parsed = parseManifest(bytes, current.mediaType, `${what}: manifest ${current.digest}`);
    if (parsed.kind === 'index') {
      current = selectPlatform(parsed.manifests, platform, `${what}: index ${current.digest}`);
      continue;
    }
    if (parsed.kind === 'schema1')
      throw new RocketError(`${what}: schema1 manifest ${current.digest} in an OCI layout`);
    const configBytes = await readBlob(src, parsed.config, `${what}: config`);
    const layers = parsed.layers.map((l): LayerDescriptor => {
      const path = blobPath(l.digest, what);
      return {
        digest: l.digest,
        mediaType: l.mediaType,
        ...(l.size !== undefined ? { size: l.size } : {}),
        open: async () => {
          if (!(await src.exists(path))) throw new RocketError(`${what}: layer blob ${l.digest} missing`);
          return verifyingStream(await src.open(path), l.digest, `${what}: layer ${l.digest}`, l.size);
        },
      };
    });
    return {
      manifestDigest: current.digest,
      configDigest: parsed.config.digest,
      config: parseConfig(configBytes, `${what}: config ${parsed.config.digest}`),
      layers,
      refName: entry.annotations?.[REF_NAME],
    };
  }
  throw new RocketError(`${what}: indexes nested deeper than ${MAX_INDEX_DEPTH}`);
}

/** The reference an image from a layout gets: a full ref name is parsed, a bare tag names the layout file. */
export function layoutReference(
  original: string,
  repository: string,
  refName: string | undefined,
  parse: (s: string) => ImageReference,
): ImageReference {
  if (refName !== undefined && (refName.includes('/') || refName.includes(':'))) {
    try {
      const r = parse(refName);
      return { ...r, registry: '', original };
    } catch {
      // not a docker reference: fall through
    }
  }
  return {
    registry: '',
    repository,
    ...(refName !== undefined && refName !== '' ? { tag: refName } : {}),
    original,
  };
}

export function toResolved(
  reference: ImageReference,
  image: LayoutImage,
  close: () => Promise<void>,
): ResolvedImage {
  return {
    reference,
    manifestDigest: image.manifestDigest,
    configDigest: image.configDigest,
    config: image.config,
    layers: image.layers,
    close,
  };
}
