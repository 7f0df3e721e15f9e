/**
 * `docker save` / skopeo docker-archive files driven by `manifest.json` (one or several images,
 * chosen with `-image NAME[:TAG]`). Layer entries may be symlinks or hard links inside the archive
 * (skopeo's legacy `<id>/layer.tar`). Layers are verified against the config's diff_ids (or the
 * `blobs/sha256/<hex>` name Docker 25+ uses); the config against its `<hex>.json` name.
 */
import { createHash } from 'node:crypto';
import { basename } from 'node:path';
import { RocketError } from '../../errors.js';
import type { ImageReference, LayerDescriptor, ResolvedImage } from '../types.js';
import type { FileSource } from './archive.js';
import { parseDigest, sha256Of, verifyBytes, verifyingStream } from './digest.js';
import { MAX_DOCUMENT_SIZE, MEDIA, parseConfig, parseJson } from './manifest.js';
import { parseDockerReference } from './reference.js';

interface ArchiveManifestEntry {
  Config: string;
  RepoTags: string[];
  Layers: string[];
}

const LAYER_MEDIA_TYPE = 'application/vnd.docker.image.rootfs.diff.tar';

function entries(doc: unknown, what: string): ArchiveManifestEntry[] {
  if (!Array.isArray(doc)) throw new RocketError(`${what}: manifest.json is not a list`);
  return doc.map((e: unknown, i) => {
    const r = e as Partial<Record<keyof ArchiveManifestEntry, unknown>> | null;
    if (r === null || typeof r !== 'object' || typeof r.Config !== 'string' || !Array.isArray(r.Layers)) {
      throw new RocketError(`${what}: manifest.json entry ${i} lacks Config or Layers`);
    }
    if (!r.Layers.every((l): l is string => typeof l === 'string'))
      throw new RocketError(`${what}: manifest.json entry ${i}: bad Layers`);
    const tags = Array.isArray(r.RepoTags)
      ? r.RepoTags.filter((t): t is string => typeof t === 'string')
      : [];
    return { Config: r.Config, RepoTags: tags, Layers: r.Layers };
  });
}

function sameRepo(a: ImageReference, b: ImageReference): boolean {
  return a.registry === b.registry && a.repository === b.repository;
}

/** The entry `-image` names (tag `latest`, or the repository's only tag when it has no `latest`). */
function choose(
  list: readonly ArchiveManifestEntry[],
  image: string | undefined,
  what: string,
): { entry: ArchiveManifestEntry; tag: ImageReference | undefined } {
  const tagged = list.flatMap((entry) =>
    entry.RepoTags.map((t) => ({ entry, ref: parseDockerReference(t), text: t })),
  );
  if (image === undefined || image === '') {
    if (list.length === 1) {
      const only = list[0] as ArchiveManifestEntry;
      const first = tagged.find((t) => t.entry === only);
      return { entry: only, tag: first?.ref };
    }
    const names = tagged.map((t) => t.text).join('\n');
    throw new RocketError(`${what}: several images found, use option --image with one of:\n\n${names}`);
  }
  const want = parseDockerReference(image);
  const explicitTag = /:[\w][\w.-]*$/.test(image.slice(image.lastIndexOf('/') + 1));
  const repo = tagged.filter((t) => sameRepo(t.ref, want));
  const found =
    repo.find((t) => t.ref.tag === want.tag) ?? (!explicitTag && repo.length === 1 ? repo[0] : undefined);
  if (found === undefined) {
    throw new RocketError(
      repo.length === 0
        ? `${what}: image ${JSON.stringify(image)} not found; images: ${tagged.map((t) => t.text).join(', ')}`
        : `${what}: tag ${JSON.stringify(want.tag ?? '')} not found for ${image}`,
    );
  }
  return { entry: found.entry, tag: found.ref };
}

/** The digest a layer file must have, from its name or the config's diff_ids; else by hashing it once. */
async function layerDigest(
  src: FileSource,
  path: string,
  diffId: string | undefined,
  what: string,
): Promise<string> {
  const m = /(?:^|\/)blobs\/sha256\/([a-f0-9]{64})$/.exec(path);
  if (m !== null) return `sha256:${m[1] as string}`;
  if (diffId !== undefined) {
    parseDigest(diffId, what);
    return diffId;
  }
  const hash = createHash('sha256');
  for await (const chunk of await src.open(path)) hash.update(chunk as Buffer);
  return `sha256:${hash.digest('hex')}`;
}

export async function resolveDockerArchive(
  src: FileSource,
  arg: string,
  image: string | undefined,
): Promise<ResolvedImage> {
  const what = src.name;
  if (!(await src.exists('manifest.json'))) {
    const legacy = await src.exists('repositories');
    throw new RocketError(
      legacy
        ? `${what}: docker archive without manifest.json (saved by Docker before 1.10) is not supported`
        : `${what}: not a docker archive (no manifest.json)`,
    );
  }
  const list = entries(
    parseJson(await src.readSmall('manifest.json', MAX_DOCUMENT_SIZE), `${what}: manifest.json`),
    what,
  );
  const { entry, tag } = choose(list, image, what);

  const configBytes = await src.readSmall(entry.Config, MAX_DOCUMENT_SIZE);
  const configDigest = sha256Of(configBytes);
  const named = /(?:^|\/)(?:blobs\/sha256\/)?([a-f0-9]{64})(?:\.json)?$/.exec(entry.Config);
  if (named !== null)
    verifyBytes(configBytes, `sha256:${named[1] as string}`, `${what}: config ${entry.Config}`);
  const config = parseConfig(configBytes, `${what}: config ${entry.Config}`);
  const diffIds = config.rootfs?.diff_ids ?? [];
  if (diffIds.length !== 0 && diffIds.length !== entry.Layers.length) {
    throw new RocketError(
      `${what}: ${entry.Layers.length} layers but ${diffIds.length} diff_ids in the config`,
    );
  }

  const layers: LayerDescriptor[] = [];
  const manifestLayers: { mediaType: string; size: number; digest: string }[] = [];
  for (const [i, path] of entry.Layers.entries()) {
    const digest = await layerDigest(src, path, diffIds[i], `${what}: layer ${path}`);
    const size = await src.size(path);
    manifestLayers.push({ mediaType: LAYER_MEDIA_TYPE, size, digest });
    layers.push({
      digest,
      mediaType: LAYER_MEDIA_TYPE,
      size,
      open: async () => verifyingStream(await src.open(path), digest, `${what}: layer ${path}`, size),
    });
  }
  // An archive has no manifest: hash the schema2 manifest that describes it (as skopeo would make).
  const manifest = {
    schemaVersion: 2,
    mediaType: MEDIA.dockerManifest,
    config: { mediaType: MEDIA.dockerConfig, size: configBytes.length, digest: configDigest },
    layers: manifestLayers,
  };
  const reference: ImageReference =
    image !== undefined && image !== '' && tag !== undefined
      ? { ...tag, original: arg }
      : tag !== undefined
        ? {
            registry: '',
            repository: tag.repository,
            ...(tag.tag !== undefined ? { tag: tag.tag } : {}),
            original: arg,
          }
        : { registry: '', repository: basename(arg).replace(/\.tar$/, ''), original: arg };
  return {
    reference,
    manifestDigest: sha256Of(Buffer.from(JSON.stringify(manifest))),
    configDigest,
    config,
    layers,
    close: () => src.close(),
  };
}
