/**
 * What the fly engine mounts into its app's rootfs, in order (rkt's fly stage1): `/dev`, `/proc`
 * and `/sys` of the host, recursively; a tmpfs on `/tmp`; `/etc/resolv.conf` and `/etc/hosts`
 * (the host's, read-only, or the pod's own from `--dns*`/`--hosts-entry`); then the pod's volumes
 * (not recursive unless the volume says `recursive=true`, read-only as the volume or mount point
 * says). Every target is resolved inside the rootfs at stage0, symlinks included, so an image
 * cannot make the plan create or mount anything outside its rootfs.
 */
import path from 'node:path';
import type { App, PodManifest } from '../../appc/index.js';
import { RKT_FAILURE, RocketError } from '../../errors.js';
import { resolveInRoot } from '../oci/user.js';
import { appVolumes, type AppVolume } from '../volumes.js';

export type FlyMount =
  | { kind: 'rbind'; source: string; target: string }
  | { kind: 'tmpfs'; target: string }
  | { kind: 'bind'; source: string; target: string; recursive: boolean; readOnly: boolean };

/**
 * The host path, under `mountRoot` (the rootfs as the plan will see it), of `inner` resolved inside
 * `treeRoot` (the same tree, readable now: the overlay's lower dir or the copy).
 */
export function targetIn(treeRoot: string, mountRoot: string, inner: string): string {
  const resolved = resolveInRoot(treeRoot, inner);
  const rel = path.relative(treeRoot, resolved);
  if (rel.startsWith('..') || path.isAbsolute(rel))
    throw new RocketError(`mount target ${JSON.stringify(inner)} resolves outside the rootfs`, RKT_FAILURE);
  return rel === '' ? mountRoot : path.join(mountRoot, rel);
}

/** The app's volumes as host sources and in-rootfs paths (before resolution); host sources must be absolute. */
export function flyVolumes(manifest: PodManifest, runDir: string, app: App): AppVolume[] {
  const vols = appVolumes(manifest, 0, runDir, app);
  for (const v of vols)
    if (!v.source.startsWith('/'))
      throw new RocketError(
        `volume ${JSON.stringify(v.name)}: source must be an absolute path, got ${JSON.stringify(v.source)}`,
        RKT_FAILURE,
      );
  return vols;
}

export interface FlyMountInput {
  manifest: PodManifest;
  app: App;
  runDir: string;
  /** The rootfs's tree as it is now (overlay lower dir, or the copy). */
  treeRoot: string;
  /** Where the plan mounts the rootfs (under run/). */
  mountRoot: string;
  /** Host path of the resolv.conf to bind, or undefined for none (`--dns=none`). */
  resolvConf?: string;
  /** Host path of the hosts file to bind. */
  hosts: string;
}

export function flyMounts(input: FlyMountInput): FlyMount[] {
  const at = (inner: string): string => targetIn(input.treeRoot, input.mountRoot, inner);
  const ro = (source: string, inner: string): FlyMount => ({
    kind: 'bind',
    source,
    target: at(inner),
    recursive: false,
    readOnly: true,
  });
  const mounts: FlyMount[] = [
    ...['/dev', '/proc', '/sys'].map((d): FlyMount => ({ kind: 'rbind', source: d, target: at(d) })),
    { kind: 'tmpfs', target: at('/tmp') },
  ];
  if (input.resolvConf !== undefined) mounts.push(ro(input.resolvConf, '/etc/resolv.conf'));
  mounts.push(ro(input.hosts, '/etc/hosts'));
  for (const v of flyVolumes(input.manifest, input.runDir, input.app))
    mounts.push({
      kind: 'bind',
      source: v.source,
      target: at(v.inner),
      recursive: v.recursive,
      readOnly: v.readOnly,
    });
  return mounts;
}
