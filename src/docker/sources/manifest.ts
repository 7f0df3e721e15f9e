/**
 * Image manifests and indexes (Docker schema2, Docker manifest lists, OCI manifests and indexes,
 * Docker schema1), and the choice of one platform from an index.
 */
import { RocketError } from '../../errors.js';
import type { ImageConfig } from '../types.js';
import { parseDigest } from './digest.js';

export const MEDIA = {
  dockerManifest: 'application/vnd.docker.distribution.manifest.v2+json',
  dockerList: 'application/vnd.docker.distribution.manifest.list.v2+json',
  dockerConfig: 'application/vnd.docker.container.image.v1+json',
  dockerLayer: 'application/vnd.docker.image.rootfs.diff.tar.gzip',
  dockerSchema1Signed: 'application/vnd.docker.distribution.manifest.v1+prettyjws',
  dockerSchema1: 'application/vnd.docker.distribution.manifest.v1+json',
  ociManifest: 'application/vnd.oci.image.manifest.v1+json',
  ociIndex: 'application/vnd.oci.image.index.v1+json',
  ociConfig: 'application/vnd.oci.image.config.v1+json',
  ociLayerTar: 'application/vnd.oci.image.layer.v1.tar',
} as const;

/** What a registry client accepts, most wanted first. */
export const MANIFEST_ACCEPT = [
  MEDIA.ociIndex,
  MEDIA.dockerList,
  MEDIA.ociManifest,
  MEDIA.dockerManifest,
  MEDIA.dockerSchema1Signed,
  MEDIA.dockerSchema1,
] as const;

/** Largest manifest, index or config held in memory. */
export const MAX_DOCUMENT_SIZE = 8 * 1024 * 1024;

export interface Platform {
  os: string;
  architecture: string;
  variant?: string;
}

export const DEFAULT_PLATFORM: Platform = { os: 'linux', architecture: 'amd64' };

export interface Descriptor {
  mediaType: string;
  digest: string;
  size?: number;
  platform?: Platform;
  annotations?: Record<string, string>;
}

export type ParsedManifest =
  | { kind: 'index'; manifests: Descriptor[] }
  | { kind: 'image'; config: Descriptor; layers: Descriptor[] }
  | { kind: 'schema1'; layers: Descriptor[]; config: ImageConfig; topId: string };

function isRecord(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

export function parseJson(bytes: Uint8Array, what: string): unknown {
  try {
    return JSON.parse(Buffer.from(bytes).toString('utf8')) as unknown;
  } catch (err) {
    throw new RocketError(`${what}: invalid JSON: ${(err as Error).message}`);
  }
}

function descriptor(v: unknown, what: string): Descriptor {
  if (!isRecord(v) || typeof v.digest !== 'string')
    throw new RocketError(`${what}: descriptor without a digest`);
  parseDigest(v.digest, what);
  const d: Descriptor = { mediaType: typeof v.mediaType === 'string' ? v.mediaType : '', digest: v.digest };
  if (typeof v.size === 'number' && Number.isSafeInteger(v.size) && v.size >= 0) d.size = v.size;
  if (
    isRecord(v.platform) &&
    typeof v.platform.os === 'string' &&
    typeof v.platform.architecture === 'string'
  ) {
    d.platform = { os: v.platform.os, architecture: v.platform.architecture };
    if (typeof v.platform.variant === 'string' && v.platform.variant !== '')
      d.platform.variant = v.platform.variant;
  }
  if (isRecord(v.annotations)) {
    const a: Record<string, string> = {};
    for (const [k, val] of Object.entries(v.annotations)) if (typeof val === 'string') a[k] = val;
    d.annotations = a;
  }
  return d;
}

/**
 * Parses a manifest or index. `contentType` (from HTTP or a descriptor) decides when it is
 * specific; otherwise the document's own `mediaType` and shape do.
 */
export function parseManifest(bytes: Uint8Array, contentType: string, what: string): ParsedManifest {
  const doc = parseJson(bytes, what);
  if (!isRecord(doc)) throw new RocketError(`${what}: not a JSON object`);
  const type = contentType.split(';')[0]?.trim().toLowerCase() ?? '';
  const mediaType = typeof doc.mediaType === 'string' ? doc.mediaType : '';
  const kind =
    type === MEDIA.ociIndex || type === MEDIA.dockerList
      ? 'index'
      : type === MEDIA.ociManifest || type === MEDIA.dockerManifest
        ? 'image'
        : mediaType === MEDIA.ociIndex || mediaType === MEDIA.dockerList || Array.isArray(doc.manifests)
          ? 'index'
          : doc.schemaVersion === 1
            ? 'schema1'
            : 'image';
  if (kind === 'index') {
    if (!Array.isArray(doc.manifests)) throw new RocketError(`${what}: index without "manifests"`);
    return { kind, manifests: doc.manifests.map((m, i) => descriptor(m, `${what}: manifests[${i}]`)) };
  }
  if (kind === 'schema1') return parseSchema1(doc, what);
  if (doc.schemaVersion !== 2)
    throw new RocketError(`${what}: unsupported manifest schemaVersion ${String(doc.schemaVersion)}`);
  if (!Array.isArray(doc.layers)) throw new RocketError(`${what}: manifest without "layers"`);
  return {
    kind,
    config: descriptor(doc.config, `${what}: config`),
    layers: doc.layers.map((l, i) => descriptor(l, `${what}: layers[${i}]`)),
  };
}

/**
 * Docker schema1: layers are listed top first, with a v1 JSON per layer (the top one carries the
 * config). Empty "throwaway" layers and repeated consecutive ids are dropped, as docker2aci dedups.
 */
function parseSchema1(doc: Record<string, unknown>, what: string): ParsedManifest {
  const fsLayers = doc.fsLayers;
  const history = doc.history;
  if (
    !Array.isArray(fsLayers) ||
    !Array.isArray(history) ||
    fsLayers.length !== history.length ||
    fsLayers.length === 0
  ) {
    throw new RocketError(`${what}: schema1 manifest with mismatched fsLayers and history`);
  }
  const v1 = history.map((h, i) => {
    const text = isRecord(h) && typeof h.v1Compatibility === 'string' ? h.v1Compatibility : undefined;
    const parsed = text === undefined ? undefined : parseJson(Buffer.from(text), `${what}: history[${i}]`);
    if (!isRecord(parsed) || typeof parsed.id !== 'string')
      throw new RocketError(`${what}: history[${i}] without an id`);
    return parsed;
  });
  const layers: Descriptor[] = [];
  let lastId = '';
  for (let i = fsLayers.length - 1; i >= 0; i--) {
    const layer: unknown = fsLayers[i];
    const info = v1[i] as Record<string, unknown>;
    if (info.id === lastId || info.throwaway === true) continue;
    lastId = info.id as string;
    if (!isRecord(layer) || typeof layer.blobSum !== 'string')
      throw new RocketError(`${what}: fsLayers[${i}] without a blobSum`);
    parseDigest(layer.blobSum, what);
    layers.push({ mediaType: MEDIA.dockerLayer, digest: layer.blobSum });
  }
  const top = v1[0] as Record<string, unknown>;
  const config = (
    isRecord(top.config) ? top.config : isRecord(top.container_config) ? top.container_config : null
  ) as ImageConfig['config'];
  const image: ImageConfig = {
    config,
    ...(typeof top.architecture === 'string' ? { architecture: top.architecture } : {}),
    ...(typeof top.os === 'string' ? { os: top.os } : {}),
    ...(typeof top.created === 'string' ? { created: top.created } : {}),
    ...(typeof top.author === 'string' ? { author: top.author } : {}),
  };
  return { kind: 'schema1', layers, config: image, topId: top.id as string };
}

/**
 * The digest a registry gives a signed schema1 manifest: that of the JWS payload, the bytes
 * without the `signatures` member (formatLength bytes + formatTail, from the protected header).
 */
export function schema1PayloadOf(bytes: Uint8Array): Uint8Array {
  const doc = parseJson(bytes, 'schema1 manifest');
  if (!isRecord(doc) || !Array.isArray(doc.signatures) || doc.signatures.length === 0) return bytes;
  const sig: unknown = doc.signatures[0];
  if (!isRecord(sig) || typeof sig.protected !== 'string') return bytes;
  const header = parseJson(Buffer.from(sig.protected, 'base64url'), 'schema1 signature');
  if (!isRecord(header) || typeof header.formatLength !== 'number' || typeof header.formatTail !== 'string')
    return bytes;
  return Buffer.concat([
    Buffer.from(bytes).subarray(0, header.formatLength),
    Buffer.from(header.formatTail, 'base64url'),
  ]);
}

export function parseConfig(bytes: Uint8Array, what: string): ImageConfig {
  const doc = parseJson(bytes, what);
  if (!isRecord(doc)) throw new RocketError(`${what}: not a JSON object`);
  return doc;
}

const ARCH_ALIASES: Readonly<Record<string, string>> = {
  x86_64: 'amd64',
  aarch64: 'arm64',
  i386: '386',
  armhf: 'arm',
};

function normalizeArch(arch: string): string {
  return ARCH_ALIASES[arch] ?? arch;
}

/** arm64 is v8 and amd64 v1 unless said otherwise. */
function normalizeVariant(arch: string, variant: string | undefined): string {
  if (variant !== undefined && variant !== '') return variant;
  return arch === 'arm64' ? 'v8' : arch === 'amd64' ? 'v1' : '';
}

export function formatPlatform(p: Platform): string {
  return `${p.os}/${p.architecture}${p.variant !== undefined && p.variant !== '' ? `/${p.variant}` : ''}`;
}

/**
 * The index entry for `want`: same os and architecture; the variant must match when asked for.
 * Without one, an entry with the default variant wins over others. Entries without a platform
 * (or `unknown/unknown`, buildx attestations) are never chosen. The error lists what there is.
 */
export function selectPlatform(manifests: readonly Descriptor[], want: Platform, what: string): Descriptor {
  const arch = normalizeArch(want.architecture);
  const candidates = manifests.filter(
    (m) =>
      m.platform !== undefined &&
      m.platform.os === want.os &&
      normalizeArch(m.platform.architecture) === arch,
  );
  const wantVariant =
    want.variant !== undefined && want.variant !== '' ? normalizeVariant(arch, want.variant) : undefined;
  const found =
    wantVariant !== undefined
      ? candidates.find((m) => normalizeVariant(arch, m.platform?.variant) === wantVariant)
      : (candidates.find(
          (m) => normalizeVariant(arch, m.platform?.variant) === normalizeVariant(arch, undefined),
        ) ?? candidates[0]);
  if (found !== undefined) return found;
  const available = manifests
    .filter((m) => m.platform !== undefined && m.platform.os !== 'unknown')
    .map((m) => formatPlatform(m.platform as Platform));
  throw new RocketError(
    `${what}: no image for platform ${formatPlatform(want)}; available: ${available.length > 0 ? available.join(', ') : 'none'}`,
  );
}
