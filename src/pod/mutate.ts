/**
 * Changing a running sandbox's pod manifest (`rkt app add`, `rkt app rm`): serialised by a flock on
 * `pod.lck` in the pod dir (rkt's), every step's manifest written to a temp file and renamed.
 */
import { mkdirSync, readFileSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { parsePodManifest, podManifestToJSON, type PodManifest, type RuntimeApp } from '../appc/index.js';
import { RocketError, errorMessage } from '../errors.js';
import { FileLock } from '../store/flock.js';
import type { Store } from '../store/index.js';
import { matchMountPoints } from './manifest.js';
import { createSharedVolumes, manifestFileId, writeFileAtomic, writePodSummary } from './pod.js';
import { POD_FILES } from './state.js';
import { imageNameOf, readPodSummary } from './summary.js';

export const POD_MUTATION_LOCK = 'pod.lck';

/** Runs `fn` holding the pod's mutation lock. */
export async function withPodMutationLock<T>(podDir: string, fn: () => Promise<T> | T): Promise<T> {
  const lock = await FileLock.acquire(join(podDir, POD_MUTATION_LOCK), 'exclusive');
  try {
    return await fn();
  } finally {
    lock.release();
  }
}

export function readPodManifest(podDir: string): PodManifest {
  const file = join(podDir, POD_FILES.manifest);
  return parsePodManifest(readFileSync(file, 'utf8'), file).manifest;
}

/**
 * Adds app `ra` (image `key`) to the pod's manifest: renders its tree, records it in
 * `appsinfo/<app>/`, makes the `empty` volumes its mount points need, then rewrites the manifest.
 * A duplicate name fails with nothing changed; so does a failure before the manifest is written.
 * `known` is the manifest as the caller read it (PodInfo's `manifest` and `manifestId`): used (and
 * changed) instead of reading the file again if the file is still the one it was read from.
 */
export async function addAppToManifest(
  podDir: string,
  store: Store,
  key: string,
  ra: RuntimeApp,
  known?: { manifest?: PodManifest; manifestId?: string },
): Promise<{ manifest: PodManifest; warnings: string[] }> {
  const manifest =
    known?.manifest !== undefined &&
    known.manifestId !== undefined &&
    manifestFileId(podDir) === known.manifestId
      ? known.manifest
      : readPodManifest(podDir);
  if (manifest.apps.some((a) => a.name === ra.name))
    throw new RocketError(
      `error: an app named ${JSON.stringify(ra.name)} already exists in the pod`,
      'already-exists',
    );
  // The apps already there were validated when the manifest was read: only the new one is (and
  // any whose mounts matchMountPoints changed), with the pod's own fields and the names.
  const mountCounts = new Map(manifest.apps.map((a) => [a, a.mounts?.length ?? 0]));
  manifest.apps.push(ra);
  const warnings = matchMountPoints(manifest);
  const validApps = new Set(manifest.apps.filter((a) => mountCounts.get(a) === (a.mounts?.length ?? 0)));
  let json: string;
  try {
    json = podManifestToJSON(manifest, { validApps });
  } catch (err) {
    throw new RocketError(`invalid pod manifest: ${errorMessage(err)}`, 'invalid-argument');
  }
  const info = join(podDir, POD_FILES.appsInfo, ra.name);
  let imageManifest: Buffer;
  try {
    const tree = await store.renderTree(key);
    mkdirSync(info, { recursive: true });
    imageManifest = store.manifestBytes(key);
    writeFileAtomic(join(info, 'manifest'), imageManifest);
    writeFileAtomic(join(info, 'treeStoreID'), tree.treeStoreId);
    createSharedVolumes(podDir, manifest);
  } catch (err) {
    rmSync(info, { recursive: true, force: true });
    throw err;
  }
  // The summary being replaced, if it is the manifest's: its image names carry over.
  const images = readPodSummary(podDir)?.images;
  writeFileAtomic(join(podDir, POD_FILES.manifest), json);
  if (images !== undefined) {
    const name = imageNameOfBytes(imageManifest);
    if (name !== undefined) images[ra.name] = name;
  }
  writePodSummary(podDir, { manifest, ...(images !== undefined ? { images } : {}) });
  return { manifest, warnings };
}

function imageNameOfBytes(bytes: Buffer): string | undefined {
  try {
    return imageNameOf(bytes.toString('utf8'));
  } catch {
    return undefined;
  }
}

/** Removes app `name` from the pod's manifest and its `appsinfo/` entry. */
export function removeAppFromManifest(podDir: string, name: string): void {
  const manifest = readPodManifest(podDir);
  manifest.apps = manifest.apps.filter((a) => a.name !== name);
  const images = readPodSummary(podDir)?.images;
  writeFileAtomic(join(podDir, POD_FILES.manifest), podManifestToJSON(manifest));
  rmSync(join(podDir, POD_FILES.appsInfo, name), { recursive: true, force: true });
  writePodSummary(podDir, { manifest, ...(images !== undefined ? { images } : {}) });
}
