/**
 * What stage0 and the engines both know of a pod directory (rkt's layout): its files, the sandbox
 * annotation, where an app's rendered tree is recorded. A module of its own, so src/stage1 can use
 * it without importing src/pod.
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';

/** Files in a pod directory (rkt.md §2.2). */
export const POD_FILES = {
  manifest: 'pod',
  created: 'pod-created',
  pid: 'pid',
  ppid: 'ppid',
  stage1TreeStoreId: 'stage1TreeStoreID',
  appsInfo: 'appsinfo',
  sharedVolumes: 'sharedVolumes',
  /** Written by the engine: exit codes at `stage1/rootfs/rkt/status/<app>` (rkt's location). */
  appStatusDir: join('stage1', 'rootfs', 'rkt', 'status'),
} as const;

/** rkt's annotation: whether apps may be added and removed later (`rkt app add`): a sandbox's. */
export const MUTABLE_ANNOTATION = 'coreos.com/rkt/stage1/mutable';

/** The ID of an app's rendered tree in the store's tree store (`appsinfo/<app>/treeStoreID`). */
export function appTreeStoreId(podDir: string, app: string): string | undefined {
  try {
    return readFileSync(join(podDir, POD_FILES.appsInfo, app, 'treeStoreID'), 'utf8').trim();
  } catch {
    return undefined;
  }
}
