/**
 * ACI names, labels and output file names of converted Docker/OCI images, as docker2aci (v2.2 path,
 * schema2 and OCI manifests) makes them: shared/reference/docker2aci.md §2.
 */
import { isAbsolute } from 'node:path';
import { appcOsArchFromNode, sanitizeACIdentifier, type Label } from '../../appc/index.js';
import { RocketError } from '../../errors.js';
import type { ImageReference } from '../types.js';

/** `index/name`, or `name` alone when the image has no registry (files without `-image`). */
function repoPath(ref: ImageReference): string {
  return ref.registry === '' ? ref.repository : `${ref.registry}/${ref.repository}`;
}

function sanitized(s: string): string {
  const out = sanitizeACIdentifier(s);
  if (out === undefined) throw new RocketError(`cannot make an ACI name of ${JSON.stringify(s)}`);
  return out;
}

/** The top layer's ACI name: `Sanitize(index/name-<digest>)`, e.g. `127.0.0.1_5000/test/busybox-sha256_<hex>`. */
export function topLayerAciName(ref: ImageReference, topLayerDigest: string): string {
  return sanitized(`${repoPath(ref)}-${topLayerDigest}`);
}

/** A lower layer's ACI name: the same with the digest's `:` turned into `-` first. */
export function lowerLayerAciName(ref: ImageReference, layerDigest: string): string {
  return sanitized(`${repoPath(ref)}-${layerDigest.replace(/:/g, '-')}`);
}

/** The squashed image's name: the top layer's name cut at its last `-` (the digest never has one). */
export function squashedAciName(ref: ImageReference, topLayerDigest: string): string {
  const top = topLayerAciName(ref, topLayerDigest);
  const cut = top.lastIndexOf('-');
  return cut > 0 ? top.slice(0, cut) : top;
}

/**
 * Go os/arch (as in an image config) → appc labels, through appc's table (§2). docker2aci never
 * passes the variant, so linux/arm is always armv6l; we honour variant v7 (armv7l), which is what
 * an arm/v7 image needs. Undefined for a pair the table does not have.
 */
export function appcOsArch(
  goos: string,
  goarch: string,
  variant?: string,
): { os: string; arch: string } | undefined {
  const table: Record<string, Record<string, string>> = {
    linux: {
      amd64: 'amd64',
      '386': 'i386',
      arm64: 'aarch64',
      arm: variant === 'v7' || variant === '7' ? 'armv7l' : 'armv6l',
      ppc64: 'ppc64',
      ppc64le: 'ppc64le',
      s390x: 's390x',
    },
    freebsd: { amd64: 'amd64', '386': 'i386', arm: 'arm' },
    darwin: { amd64: 'x86_64', '386': 'i386' },
  };
  const arch = table[goos]?.[goarch];
  return arch === undefined ? undefined : { os: goos, arch };
}

/** The converting host's appc os/arch (docker2aci's fallback when the config's pair is unknown). */
export function hostOsArch(): { os: string; arch: string } {
  try {
    return appcOsArchFromNode(process.platform, process.arch);
  } catch {
    return { os: 'linux', arch: 'amd64' };
  }
}

/** Go's names of the host's os/arch (for file names when the config has none). */
function hostGoOsArch(): { os: string; arch: string } {
  const arch = ({ x64: 'amd64', ia32: '386' } as Record<string, string>)[process.arch] ?? process.arch;
  return { os: process.platform, arch };
}

/**
 * The image's labels: `version` = tag (absent when pulled by digest), then `os` and `arch` from the
 * config through appc's table, or the host's when the config's pair has no appc name (§2 quirk).
 * Sorted by name, as docker2aci's manifests are (arch, os, version).
 */
export function imageLabels(ref: ImageReference, goos?: string, goarch?: string, variant?: string): Label[] {
  const osArch =
    (goos !== undefined && goarch !== undefined && appcOsArch(goos, goarch, variant)) || hostOsArch();
  const labels: Label[] = [
    { name: 'arch', value: osArch.arch },
    { name: 'os', value: osArch.os },
  ];
  if (ref.tag !== undefined && ref.tag !== '') labels.push({ name: 'version', value: ref.tag });
  return labels;
}

/** `<repository with / as ->-<tag>.aci`, or without `-<tag>` when pulled by digest. */
export function squashedFileName(ref: ImageReference): string {
  const base = ref.repository.replace(/\//g, '-');
  return safeFileName(ref.tag !== undefined && ref.tag !== '' ? `${base}-${ref.tag}.aci` : `${base}.aci`);
}

/**
 * A non-squashed layer's file: `<index>/<name>-<digest>-<tag>-<goos>-<goarch>.aci`, slashes and
 * all (the directories are created); no index part without a registry, no tag part by digest.
 */
export function layerFileName(
  ref: ImageReference,
  layerDigest: string,
  goos: string | undefined,
  goarch: string | undefined,
): string {
  const host = hostGoOsArch();
  const parts = [`${repoPath(ref)}-${layerDigest}`];
  if (ref.tag !== undefined && ref.tag !== '') parts.push(ref.tag);
  parts.push(goos ?? host.os, goarch ?? host.arch);
  return safeFileName(`${parts.join('-')}.aci`);
}

/** Refuses a file name that would leave the output directory. */
function safeFileName(name: string): string {
  if (isAbsolute(name) || name.split('/').some((p) => p === '' || p === '.' || p === '..')) {
    throw new RocketError(`unsafe output file name ${JSON.stringify(name)}`);
  }
  return name;
}
