/**
 * The CRI ImageService over the image store: docker registry images pulled through our docker
 * source (with the request's credentials and the service's registry mirrors), converted to one
 * squashed ACI each as `rkt fetch docker://` does, and named by every repo tag and repo digest they
 * were pulled under (the store's `imageref` table). An image's CRI id is its store key.
 */
import { mkdtemp, rm } from 'node:fs/promises';
import { lstat, readdir } from 'node:fs/promises';
import { join } from 'node:path';
import * as grpc from '@grpc/grpc-js';
import { errorMessage } from '../errors.js';
import { ApiError } from '../api/errors.js';
import type { Credentials } from '../docker/sources/index.js';
import { DOCKER_HUB_REGISTRY, parseDockerReference } from '../docker/sources/index.js';
import type { ImageReference, ResolvedImage } from '../docker/types.js';
import { KEY_PREFIX, MIN_KEY_PREFIX_LENGTH, type Store } from '../store/index.js';

/** A registry mirror: pulls of REGISTRY/... go to this host, over http or https. */
export interface Mirror {
  host: string;
  http: boolean;
}

/** `--registry-mirror=REGISTRY=URL` → [REGISTRY, mirror]; throws a one-line message when bad. */
export function parseMirror(arg: string): [string, Mirror] {
  const eq = arg.indexOf('=');
  const registry = eq > 0 ? arg.slice(0, eq) : '';
  const where = `--registry-mirror ${JSON.stringify(arg)}`;
  if (registry === '' || eq === arg.length - 1) throw new Error(`${where}: expected REGISTRY=URL`);
  let url: URL;
  try {
    url = new URL(arg.slice(eq + 1));
  } catch {
    throw new Error(`${where}: ${JSON.stringify(arg.slice(eq + 1))} is not a URL`);
  }
  if (url.protocol !== 'http:' && url.protocol !== 'https:')
    throw new Error(`${where}: the URL must be http:// or https://`);
  if ((url.pathname !== '/' && url.pathname !== '') || url.search !== '' || url.username !== '')
    throw new Error(`${where}: the URL must be SCHEME://HOST[:PORT] only`);
  return [registry, { host: url.host, http: url.protocol === 'http:' }];
}

/** Registries on the loopback, which may speak plain http (Docker's default insecure registries). */
function isLoopback(registry: string): boolean {
  const host = registry.replace(/:\d+$/, '').replace(/^\[(.*)\]$/, '$1');
  return host === 'localhost' || host === '::1' || /^127\.\d+\.\d+\.\d+$/.test(host);
}

/** Docker Hub is `docker.io` in CRI names (as kubelet and containerd spell it). */
function registryName(registry: string): string {
  return registry === DOCKER_HUB_REGISTRY ? 'docker.io' : registry;
}

function repoName(ref: ImageReference): string {
  return `${registryName(ref.registry)}/${ref.repository}`;
}

/** A reference as CRI names it: `REGISTRY/REPO:TAG` or `REGISTRY/REPO@DIGEST`. */
export function criRefName(ref: ImageReference): string {
  return ref.digest !== undefined
    ? `${repoName(ref)}@${ref.digest}`
    : `${repoName(ref)}:${ref.tag ?? 'latest'}`;
}

/** An image name as the request gave it, parsed; InvalidArgument naming it when it is not one. */
export function parseImageName(name: string): ImageReference {
  if (name === '') throw new ApiError(grpc.status.INVALID_ARGUMENT, 'image: no image name given');
  if (name.startsWith('docker://'))
    throw new ApiError(
      grpc.status.INVALID_ARGUMENT,
      `image ${JSON.stringify(name)}: give the name without docker://`,
    );
  try {
    return parseDockerReference(name);
  } catch (err) {
    throw new ApiError(grpc.status.INVALID_ARGUMENT, `image ${JSON.stringify(name)}: ${errorMessage(err)}`);
  }
}

/** The CRI AuthConfig fields we read. */
export interface AuthConfig {
  username?: string;
  password?: string;
  auth?: string;
  identity_token?: string;
  registry_token?: string;
}

/** Credentials from an AuthConfig: username/password, or `auth` (base64 of USER:PASSWORD). */
export function credentialsOf(auth: AuthConfig | null | undefined, image: string): Credentials | undefined {
  if (auth === null || auth === undefined) return undefined;
  if ((auth.identity_token ?? '') !== '' || (auth.registry_token ?? '') !== '')
    throw new ApiError(
      grpc.status.INVALID_ARGUMENT,
      `image ${JSON.stringify(image)}: auth: identity_token and registry_token are not supported; give username and password`,
    );
  if ((auth.username ?? '') !== '') return { user: auth.username ?? '', password: auth.password ?? '' };
  if ((auth.auth ?? '') !== '') {
    const text = Buffer.from(auth.auth ?? '', 'base64').toString('utf8');
    const colon = text.indexOf(':');
    if (colon <= 0)
      throw new ApiError(
        grpc.status.INVALID_ARGUMENT,
        `image ${JSON.stringify(image)}: auth: not base64 of USER:PASSWORD`,
      );
    return { user: text.slice(0, colon), password: text.slice(colon + 1) };
  }
  return undefined;
}

/** The CRI Image message (fields as in api.proto). */
export interface CriImage {
  id: string;
  repo_tags: string[];
  repo_digests: string[];
  size: string;
  uid: { value: string } | null;
  username: string;
  spec: { image: string; annotations: Record<string, string> };
  pinned: boolean;
}

export interface ImageServiceOptions {
  store: Store;
  mirrors: ReadonlyMap<string, Mirror>;
  /** Diagnostics (stderr). */
  log?: (line: string) => void;
}

/** The gRPC code of a pull that failed at the registry. */
function pullErrorCode(message: string): grpc.status {
  if (/\b(401|403)\b|unauthori[sz]ed|denied|credentials/i.test(message)) return grpc.status.PERMISSION_DENIED;
  if (/\b404\b|not found|MANIFEST_UNKNOWN|NAME_UNKNOWN/i.test(message)) return grpc.status.NOT_FOUND;
  if (/not reachable|ECONNREFUSED|timeout|TLS/i.test(message)) return grpc.status.UNAVAILABLE;
  return grpc.status.UNKNOWN;
}

export class CriImages {
  /** Pulls at work per repo digest: a second pull of the same manifest waits for the first. */
  private readonly pulling = new Map<string, Promise<unknown>>();

  constructor(private readonly opts: ImageServiceOptions) {}

  /** Runs `fn` after every earlier call with the same key has settled. */
  private async serialized<T>(key: string, fn: () => Promise<T>): Promise<T> {
    const before = this.pulling.get(key) ?? Promise.resolve();
    const mine = before.then(fn, fn);
    const settled = mine.catch(() => undefined);
    this.pulling.set(key, settled);
    try {
      return await mine;
    } finally {
      if (this.pulling.get(key) === settled) this.pulling.delete(key);
    }
  }

  private get store(): Store {
    return this.opts.store;
  }

  /**
   * The store key an ImageSpec names: an image id (or an unambiguous id prefix), a repo tag or a
   * repo digest; undefined when there is no such image. Bad names are InvalidArgument.
   */
  resolve(name: string): string | undefined {
    if (name.startsWith(KEY_PREFIX)) {
      if (name.length < MIN_KEY_PREFIX_LENGTH)
        throw new ApiError(grpc.status.INVALID_ARGUMENT, `image ${JSON.stringify(name)}: image id too short`);
      try {
        return this.store.resolveKey(name);
      } catch (err) {
        if (/ambiguous/.test(errorMessage(err)))
          throw new ApiError(
            grpc.status.INVALID_ARGUMENT,
            `image ${JSON.stringify(name)}: ${errorMessage(err)}`,
          );
        return undefined;
      }
    }
    const key = this.store.imageByRef(criRefName(parseImageName(name)));
    return key !== undefined && this.store.hasImage(key) ? key : undefined;
  }

  image(key: string): CriImage | undefined {
    const info = this.store.imageInfo(key);
    if (info === undefined) return undefined;
    const refs = this.store.imageRefs(key);
    let user = '';
    try {
      user = this.store.manifest(key).app?.user ?? '';
    } catch {
      // A manifest removed under us: the image is going away; answer without a user.
    }
    const numeric = /^\d+$/.test(user);
    return {
      id: key,
      repo_tags: refs.filter((r) => r.kind === 'tag').map((r) => r.ref),
      repo_digests: refs.filter((r) => r.kind === 'digest').map((r) => r.ref),
      size: String(info.size),
      uid: numeric ? { value: user } : null,
      username: numeric ? '' : user,
      spec: { image: key, annotations: {} },
      pinned: false,
    };
  }

  /** Images a ListImages filter (an ImageSpec, maybe empty) selects. */
  list(filter: string): CriImage[] {
    const keys =
      filter === ''
        ? this.store.listImages().map((i) => i.key)
        : [this.resolve(filter)].filter((k): k is string => k !== undefined);
    return keys.map((k) => this.image(k)).filter((i): i is CriImage => i !== undefined);
  }

  /** ImageStatus: the image, and with `verbose` what the store knows of it. */
  status(name: string, verbose: boolean): { image: CriImage | null; info: Record<string, string> } {
    const key = this.resolve(name);
    const image = key === undefined ? undefined : this.image(key);
    if (key === undefined || image === undefined) return { image: null, info: {} };
    if (!verbose) return { image, info: {} };
    const info = this.store.imageInfo(key);
    const manifest = this.store.manifest(key);
    return {
      image,
      info: {
        info: JSON.stringify({
          aciName: manifest.name,
          labels: manifest.labels ?? [],
          annotations: manifest.annotations ?? [],
          user: manifest.app?.user ?? '',
          group: manifest.app?.group ?? '',
          importTime: info?.importTime.toISOString(),
          lastUsed: info?.lastUsed.toISOString(),
        }),
      },
    };
  }

  /** RemoveImage: the whole image with all its names; nothing to do when it is not there. */
  async remove(name: string): Promise<void> {
    const key = this.resolve(name);
    if (key === undefined) return;
    try {
      await this.store.removeImage(key);
    } catch (err) {
      if (this.store.hasImage(key)) throw err;
    }
  }

  /** PullImage: returns the image's id. */
  async pull(name: string, auth: AuthConfig | null | undefined): Promise<string> {
    const ref = parseImageName(name);
    const credentials = credentialsOf(auth, name);
    const mirror =
      this.opts.mirrors.get(registryName(ref.registry)) ?? this.opts.mirrors.get(ref.registry) ?? undefined;
    const { resolveRemote } = await import('../docker/sources/remote.js');
    const { DEFAULT_PLATFORM } = await import('../docker/sources/manifest.js');
    const store = this.store;
    let image: ResolvedImage;
    try {
      image = await resolveRemote(mirror === undefined ? ref : { ...ref, registry: mirror.host }, {
        platform: DEFAULT_PLATFORM,
        credentials,
        allowHttp: mirror === undefined ? isLoopback(ref.registry) : mirror.http,
      });
    } catch (err) {
      const message = errorMessage(err);
      throw new ApiError(pullErrorCode(message), `image ${JSON.stringify(name)}: ${message}`);
    }
    const refs: { ref: string; kind: 'tag' | 'digest' }[] = [
      { ref: `${repoName(ref)}@${image.manifestDigest}`, kind: 'digest' },
    ];
    if (ref.digest === undefined) refs.unshift({ ref: criRefName(ref), kind: 'tag' });
    const digestRef = refs[refs.length - 1]?.ref ?? '';
    try {
      // Converted ACIs carry the tag they were pulled by, so the same manifest under another tag
      // would be another ACI: it is converted once, and later pulls only add their names.
      return await this.serialized(digestRef, async () => {
        const known = store.imageByRef(digestRef);
        if (known !== undefined && store.setImageRefs(known, refs)) return known;
        return this.convertAndImport(name, ref, image, refs);
      });
    } catch (err) {
      if (err instanceof ApiError) throw err;
      const message = errorMessage(err);
      throw new ApiError(pullErrorCode(message), `image ${JSON.stringify(name)}: ${message}`);
    } finally {
      await image.close();
    }
  }

  private async convertAndImport(
    name: string,
    ref: ImageReference,
    image: ResolvedImage,
    refs: readonly { ref: string; kind: 'tag' | 'digest' }[],
  ): Promise<string> {
    const store = this.store;
    const { convertImage, NO_PROGRESS } = await import('../docker/convert/index.js');
    const outDir = await mkdtemp(join(store.layout.tmpDir, 'cri-pull-'));
    try {
      const converted = await convertImage(
        { ...image, reference: { ...image.reference, registry: ref.registry } },
        {
          outDir,
          squash: true,
          compression: 'none',
          blobs: { kind: 'cache', dir: store.layout.dockerLayerCacheDir },
          progress: NO_PROGRESS,
        },
      );
      const aci = converted.acis[0];
      if (aci === undefined) throw new Error(`converting ${name} produced no image`);
      const result = await store.importImage(aci.path, { source: name });
      if (!store.setImageRefs(result.key, refs))
        throw new ApiError(grpc.status.ABORTED, `image ${JSON.stringify(name)}: removed while it was pulled`);
      return result.key;
    } finally {
      await rm(outDir, { recursive: true, force: true });
    }
  }

  /** ImageFsInfo: bytes and inodes used under the store (cas/), now. */
  async fsInfo(): Promise<{ mountpoint: string; usedBytes: number; inodes: number; timestamp: string }> {
    const root = this.store.layout.cas;
    let usedBytes = 0;
    let inodes = 0;
    const seen = new Set<string>();
    const walk = async (dir: string): Promise<void> => {
      let names: string[];
      try {
        names = await readdir(dir);
      } catch {
        return;
      }
      for (const n of names) {
        const p = join(dir, n);
        let st;
        try {
          st = await lstat(p, { bigint: false });
        } catch {
          continue;
        }
        const id = `${st.dev}:${st.ino}`;
        if (!seen.has(id)) {
          seen.add(id);
          inodes++;
          usedBytes += st.blocks * 512;
        }
        if (st.isDirectory()) await walk(p);
      }
    };
    await walk(root);
    const timestamp = (BigInt(Date.now()) * 1_000_000n).toString();
    return { mountpoint: root, usedBytes, inodes, timestamp };
  }
}
