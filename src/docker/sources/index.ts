/**
 * Where Docker/OCI images come from: `docker://` registries, docker-archive files, OCI layouts and
 * OCI archives. `resolveImage` turns a docker2aci argument into one image for one platform (see
 * ../types.ts); every blob it hands out is verified against its digest.
 */
import { readFile, stat } from 'node:fs/promises';
import { basename } from 'node:path';
import { RocketError, errorMessage } from '../../errors.js';
import type { ResolvedImage } from '../types.js';
import { DirFileSource, TarFileSource, isDirectoryPath, type FileSource } from './archive.js';
import { lookupCredentials, type Credentials } from './auth.js';
import { resolveDockerArchive } from './docker-archive.js';
import { layoutReference, resolveLayout, toResolved } from './layout.js';
import { DEFAULT_PLATFORM, type Platform } from './manifest.js';
import { DOCKER_SCHEME, parseDockerReference } from './reference.js';
import { resolveRemote } from './remote.js';

export { parseDockerReference, formatReference, DOCKER_HUB_REGISTRY } from './reference.js';
export { parseWwwAuthenticate, lookupCredentials, type Challenge, type Credentials } from './auth.js';
export { selectPlatform, formatPlatform, DEFAULT_PLATFORM, type Platform } from './manifest.js';

export interface SourceOptions {
  /** Platform to pick from a manifest list / OCI index (default linux/amd64). */
  platform?: Platform;
  /** docker2aci's -insecure-allow-http / -insecure-skip-verify; rkt's --insecure-options=http,tls. */
  insecure?: { http?: boolean; tls?: boolean };
  /** The flag that allows plain http, named in refusals (default docker2aci's `--insecure-allow-http`). */
  httpFlag?: string;
  /** rkt's `dockerAuth` config: registry host → credentials. Wins over the docker config. */
  credentials?: Readonly<Record<string, Credentials>>;
  /** Directory of a docker `config.json` (default `$DOCKER_CONFIG`, else `~/.docker`); `false`: none. */
  dockerConfig?: string | false;
  /** Extra trusted CA certificates: PEM text or buffers, or paths of PEM files. */
  ca?: string | Buffer | readonly (string | Buffer)[];
  /** Where to spool a compressed archive's files (default: the system temp dir). */
  tmpDir?: string;
  /** docker2aci's `-image NAME[:TAG]`: the image inside a docker archive (or the ref of a layout). */
  image?: string;
}

export type SourceKind = 'docker' | 'oci' | 'oci-archive' | 'docker-archive';

/** What an argument names: the kind, and the path and ref for files. */
export async function classifyArgument(
  arg: string,
): Promise<{ kind: SourceKind; path: string; ref?: string }> {
  if (arg.startsWith(DOCKER_SCHEME)) return { kind: 'docker', path: arg.slice(DOCKER_SCHEME.length) };
  for (const kind of ['oci', 'oci-archive', 'docker-archive'] as const) {
    const prefix = `${kind}:`;
    if (!arg.startsWith(prefix)) continue;
    const rest = arg.slice(prefix.length);
    // A path that exists as given wins; otherwise the last `:` starts the ref.
    const colon = rest.lastIndexOf(':');
    const exists = kind === 'oci' ? await isDirectoryPath(rest) : await readable(rest);
    if (exists || colon <= 0) return { kind, path: rest };
    return { kind, path: rest.slice(0, colon), ref: rest.slice(colon + 1) };
  }
  return { kind: 'docker-archive', path: arg };
}

function readable(path: string): Promise<boolean> {
  return stat(path).then(
    (s) => s.isFile(),
    () => false,
  );
}

async function caList(ca: SourceOptions['ca']): Promise<Buffer[]> {
  if (ca === undefined) return [];
  const items = typeof ca === 'string' || Buffer.isBuffer(ca) ? [ca] : ca;
  return Promise.all(
    items.map(async (c) => {
      if (Buffer.isBuffer(c)) return c;
      if (c.includes('-----BEGIN')) return Buffer.from(c);
      try {
        return await readFile(c);
      } catch (err) {
        throw new RocketError(`cannot read CA file ${c}: ${errorMessage(err)}`);
      }
    }),
  );
}

async function openArchive(path: string, tmpDir: string | undefined): Promise<FileSource> {
  return TarFileSource.open(path, tmpDir);
}

/**
 * Resolves `arg` (`docker://[REGISTRY/]NAME[:TAG|@DIGEST]`, `oci:DIR[:REF]`, `oci-archive:FILE[:REF]`,
 * `docker-archive:FILE[:NAME[:TAG]]` or a docker-archive path) to one image. The caller must
 * `close()` the result.
 */
export async function resolveImage(arg: string, opts: SourceOptions = {}): Promise<ResolvedImage> {
  const platform = opts.platform ?? DEFAULT_PLATFORM;
  const { kind, path, ref } = await classifyArgument(arg);
  if (kind === 'docker') {
    if (opts.image !== undefined && opts.image !== '')
      throw new RocketError('flag --image works only with files.');
    const reference = parseDockerReference(arg);
    const credentials = await lookupCredentials(reference.registry, {
      ...(opts.credentials !== undefined ? { explicit: opts.credentials } : {}),
      ...(opts.dockerConfig !== undefined ? { dockerConfigDir: opts.dockerConfig } : {}),
    });
    return resolveRemote(reference, {
      platform,
      credentials,
      allowHttp: opts.insecure?.http === true,
      ...(opts.httpFlag !== undefined ? { httpFlag: opts.httpFlag } : {}),
      skipTlsVerify: opts.insecure?.tls === true,
      ca: await caList(opts.ca),
    });
  }
  const selector = ref ?? opts.image;
  if (kind === 'docker-archive') {
    const src = await openArchive(path, opts.tmpDir);
    return closeOnError(src, () => resolveDockerArchive(src, arg, selector));
  }
  const src = kind === 'oci' ? await openLayoutDir(path) : await openArchive(path, opts.tmpDir);
  return closeOnError(src, async () => {
    const image = await resolveLayout(src, selector, platform, `${kind}:${path}`);
    const reference = layoutReference(
      arg,
      basename(path).replace(/\.tar$/, ''),
      image.refName,
      parseDockerReference,
    );
    return toResolved(reference, image, () => src.close());
  });
}

async function openLayoutDir(path: string): Promise<FileSource> {
  if (!(await isDirectoryPath(path))) throw new RocketError(`oci:${path}: not a directory`);
  return new DirFileSource(path);
}

async function closeOnError(src: FileSource, f: () => Promise<ResolvedImage>): Promise<ResolvedImage> {
  try {
    return await f();
  } catch (err) {
    await src.close();
    throw err;
  }
}
