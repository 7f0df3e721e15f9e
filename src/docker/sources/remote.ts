/** An image from a registry: manifest (index → platform), config, and lazily opened, verified layers. */
import { RocketError } from '../../errors.js';
import type { ImageReference, LayerDescriptor, ResolvedImage } from '../types.js';
import { type Credentials } from './auth.js';
import { digestOf, parseDigest } from './digest.js';
import {
  MEDIA,
  parseConfig,
  parseManifest,
  schema1PayloadOf,
  selectPlatform,
  type Platform,
} from './manifest.js';
import { formatReference } from './reference.js';
import { RegistryClient, type FetchedDocument, type RegistryClientOptions } from './registry.js';

const MAX_INDEX_DEPTH = 8;

/** The manifest's digest: of its bytes, or for signed schema1 of its JWS payload. */
function manifestDigestOf(doc: FetchedDocument, algorithm: string): string {
  const type = doc.contentType.split(';')[0]?.trim() ?? '';
  const bytes = type === MEDIA.dockerSchema1Signed ? schema1PayloadOf(doc.bytes) : doc.bytes;
  return digestOf(bytes, algorithm);
}

export interface RemoteOptions extends Omit<RegistryClientOptions, 'credentials'> {
  platform: Platform;
  credentials: Credentials | undefined;
}

export async function resolveRemote(ref: ImageReference, opts: RemoteOptions): Promise<ResolvedImage> {
  const client = new RegistryClient(ref.registry, ref.repository, {
    ...opts,
    ...(opts.credentials !== undefined ? { credentials: opts.credentials } : {}),
  });
  try {
    return await resolveWith(client, ref, opts.platform);
  } catch (err) {
    await client.close();
    throw err;
  }
}

async function resolveWith(
  client: RegistryClient,
  ref: ImageReference,
  platform: Platform,
): Promise<ResolvedImage> {
  const name = formatReference(ref);
  let wanted = ref.digest ?? ref.tag ?? 'latest';
  let mediaType = '';
  for (let depth = 0; depth < MAX_INDEX_DEPTH; depth++) {
    const doc = await client.getManifest(wanted);
    const byDigest = wanted.includes(':');
    const algorithm = byDigest ? parseDigest(wanted, name).algorithm : 'sha256';
    const digest = manifestDigestOf(doc, algorithm);
    if (byDigest && digest !== wanted) {
      throw new RocketError(`${name}: manifest ${wanted}: digest mismatch: got ${digest}`);
    }
    const contentType = doc.contentType !== '' ? doc.contentType : mediaType;
    const parsed = parseManifest(doc.bytes, contentType, `${name}: manifest ${wanted}`);
    if (parsed.kind === 'index') {
      const chosen = selectPlatform(parsed.manifests, platform, `${name}: index ${digest}`);
      wanted = chosen.digest;
      mediaType = chosen.mediaType;
      continue;
    }
    if (parsed.kind === 'schema1') {
      const layers = parsed.layers.map((l) => layer(client, l.digest, l.mediaType, undefined));
      return {
        reference: ref,
        manifestDigest: digest,
        // Schema1 has no config blob: the top v1 layer id stands for the image id, as in docker2aci.
        configDigest: `sha256:${parsed.topId}`,
        config: parsed.config,
        layers,
        close: () => client.close(),
      };
    }
    const configBytes = await client.readBlob(parsed.config.digest, parsed.config.size);
    return {
      reference: ref,
      manifestDigest: digest,
      configDigest: parsed.config.digest,
      config: parseConfig(configBytes, `${name}: config ${parsed.config.digest}`),
      layers: parsed.layers.map((l) => layer(client, l.digest, l.mediaType, l.size)),
      close: () => client.close(),
    };
  }
  throw new RocketError(`${name}: indexes nested deeper than ${MAX_INDEX_DEPTH}`);
}

function layer(
  client: RegistryClient,
  digest: string,
  mediaType: string,
  size: number | undefined,
): LayerDescriptor {
  return {
    digest,
    mediaType,
    ...(size !== undefined ? { size } : {}),
    open: () => client.openBlob(digest, size),
  };
}
