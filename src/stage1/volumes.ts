/** The volumes an app of a pod mounts, as both engines bind them (appc-spec.md §G: mounts by name). */
import path from 'node:path';
import type { App, PodManifest, Volume } from '../appc/index.js';
import { RKT_FAILURE, RocketError } from '../errors.js';
import { POD_FILES } from '../pod-layout.js';

export interface AppVolume {
  /** The volume's name. */
  name: string;
  /** Host path: the volume's source (host) or its dir under the pod's shared volumes (empty). */
  source: string;
  /** Path inside the app's rootfs. */
  inner: string;
  recursive: boolean;
  /** The volume's readOnly, or its mount point's. */
  readOnly: boolean;
}

export function appVolumes(manifest: PodManifest, appIndex: number, runDir: string, app: App): AppVolume[] {
  const ra = manifest.apps[appIndex];
  const out: AppVolume[] = [];
  for (const m of ra?.mounts ?? []) {
    const vol: Volume | undefined = m.appVolume ?? manifest.volumes?.find((v) => v.name === m.volume);
    if (vol === undefined)
      throw new RocketError(
        `app ${JSON.stringify(ra?.name)}: no volume ${JSON.stringify(m.volume)}`,
        RKT_FAILURE,
      );
    const mp = app.mountPoints?.find((p) => p.name === m.volume);
    const source =
      vol.kind === 'host' ? (vol.source ?? '') : path.join(runDir, POD_FILES.sharedVolumes, vol.name);
    out.push({
      name: vol.name,
      source,
      inner: m.path,
      recursive: vol.recursive === true,
      readOnly: vol.readOnly === true || mp?.readOnly === true,
    });
  }
  return out;
}
