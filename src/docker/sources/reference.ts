/**
 * Docker image references, parsed as docker2aci's `common.ParseDockerURL` does (docker/distribution's
 * `ParseNormalizedNamed`, then the index/name split of the familiar name).
 */
import { RocketError } from '../../errors.js';
import type { ImageReference } from '../types.js';

export const DOCKER_HUB_REGISTRY = 'registry-1.docker.io';
export const DOCKER_SCHEME = 'docker://';

const COMPONENT = '[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*';
const DOMAIN_COMPONENT = '(?:[a-zA-Z0-9]|[a-zA-Z0-9][a-zA-Z0-9-]*[a-zA-Z0-9])';
const DOMAIN = `(?:${DOMAIN_COMPONENT}(?:\\.${DOMAIN_COMPONENT})*|\\[[0-9a-fA-F:]+\\])(?::[0-9]+)?`;
const NAME_RE = new RegExp(`^(?:(${DOMAIN})/)?(${COMPONENT}(?:/${COMPONENT})*)$`);
const TAG_RE = /^[\w][\w.-]{0,127}$/;
const DIGEST_RE = /^[A-Za-z][A-Za-z0-9]*(?:[-_+.][A-Za-z][A-Za-z0-9]*)*:[0-9a-fA-F]{32,}$/;
const HEX64_RE = /^[a-f0-9]{64}$/;
const MAX_NAME_LENGTH = 255;

function bad(original: string, why: string): never {
  throw new RocketError(
    `invalid docker reference ${JSON.stringify(original)}: ${why}; expected syntax is "docker://[REGISTRY_HOST[:REGISTRY_PORT]/]IMAGE_NAME[:TAG|@DIGEST]"`,
  );
}

/** Whether the first path component names a registry rather than a Docker Hub namespace. */
function isDomain(component: string): boolean {
  return (
    component.includes('.') ||
    component.includes(':') ||
    component === 'localhost' ||
    component !== component.toLowerCase()
  );
}

/**
 * Parses `[docker://][REGISTRY/]NAME[:TAG][@DIGEST]`. A digest wins over a tag (the tag is then
 * dropped, as docker2aci does); neither gives the tag `latest`. Docker Hub names become
 * `registry-1.docker.io` + `library/NAME`. `original` is the argument without `docker://`, as
 * docker2aci records it.
 */
export function parseDockerReference(arg: string): ImageReference {
  const original = arg.startsWith(DOCKER_SCHEME) ? arg.slice(DOCKER_SCHEME.length) : arg;
  if (original === '') bad(arg, 'empty name');
  let rest = original;
  let digest: string | undefined;
  const at = rest.indexOf('@');
  if (at !== -1) {
    digest = rest.slice(at + 1);
    rest = rest.slice(0, at);
    if (!DIGEST_RE.test(digest)) bad(original, `invalid digest ${JSON.stringify(digest)}`);
  }
  let tag: string | undefined;
  const colon = rest.lastIndexOf(':');
  if (colon !== -1 && !rest.slice(colon + 1).includes('/')) {
    tag = rest.slice(colon + 1);
    rest = rest.slice(0, colon);
    if (!TAG_RE.test(tag)) bad(original, `invalid tag ${JSON.stringify(tag)}`);
  }
  if (rest.length > MAX_NAME_LENGTH)
    bad(original, `repository name longer than ${MAX_NAME_LENGTH} characters`);

  const slash = rest.indexOf('/');
  let registry: string;
  let repository: string;
  if (slash !== -1 && isDomain(rest.slice(0, slash))) {
    registry = rest.slice(0, slash);
    repository = rest.slice(slash + 1);
  } else {
    registry = 'docker.io';
    repository = rest;
  }
  if (repository !== repository.toLowerCase()) bad(original, 'repository name must be lowercase');
  if (!NAME_RE.test(`${registry}/${repository}`)) bad(original, 'invalid reference format');
  if (registry === 'docker.io' || registry === 'index.docker.io') {
    registry = DOCKER_HUB_REGISTRY;
    if (!repository.includes('/')) {
      if (HEX64_RE.test(repository)) bad(original, 'cannot specify 64-byte hexadecimal strings');
      repository = `library/${repository}`;
    }
  }
  if (digest !== undefined) return { registry, repository, digest, original };
  return { registry, repository, tag: tag ?? 'latest', original };
}

/** `registry/repository:tag` or `registry/repository@digest`, for messages. */
export function formatReference(ref: ImageReference): string {
  const suffix = ref.digest !== undefined ? `@${ref.digest}` : ref.tag !== undefined ? `:${ref.tag}` : '';
  const name = ref.registry === '' ? ref.repository : `${ref.registry}/${ref.repository}`;
  return name + suffix;
}
