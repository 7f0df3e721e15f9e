/**
 * What stage0 and the engines both know of a pod directory (rkt's layout): its files, the sandbox
 * annotation, where an app's rendered tree is recorded. A module of its own, so src/stage1 can use
 * it without importing src/pod.
 */
import { existsSync, readFileSync, statSync } from 'node:fs';
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

/** An app's state in a sandbox, from the supervisor's status files. */
export type AppState = 'created' | 'running' | 'exited';

/**
 * App `app`'s state in the pod at `podDir`. The supervisor's `echo RC >FILE` makes the exit code's
 * file, then writes it: the app counts as exited once the code is in it (a reader woken by the
 * file's creation would otherwise read an empty file as exit code 0).
 */
export function appState(podDir: string, app: string): AppState {
  const s = join(podDir, POD_FILES.appStatusDir);
  if ((statSync(join(s, app), { throwIfNoEntry: false })?.size ?? 0) > 0) return 'exited';
  if (existsSync(join(s, `${app}-started`))) return 'running';
  return 'created';
}

/** The exit code an engine recorded for an app, if any. */
export function appExitCode(podDir: string, app: string): number | undefined {
  try {
    const text = readFileSync(join(podDir, POD_FILES.appStatusDir, app), 'utf8').trim();
    return /^-?\d+$/.test(text) ? Number(text) : undefined;
  } catch {
    return undefined;
  }
}
