/**
 * Checks stage0 makes on a built pod manifest before a pod is made, so that what would otherwise
 * fail inside the OCI runtime (with a message naming neither the volume nor the app) is refused
 * with one line naming it: a host volume whose source is missing, and an app (or event handler)
 * whose executable is not in its image.
 */
import { statSync } from 'node:fs';
import path from 'node:path';
import type { App, PodManifest } from '../appc/index.js';
import { RocketError } from '../errors.js';
import { APPC_DEFAULT_PATH } from '../stage1/oci/spec.js';
import { resolveInRoot } from '../stage1/oci/user.js';

const fail = (message: string): never => {
  throw new RocketError(message, 'invalid-argument');
};

/** Every `host` volume's source must exist on the host. */
export function checkHostVolumes(manifest: PodManifest): void {
  for (const v of manifest.volumes ?? []) {
    if (v.kind !== 'host') continue;
    const source = v.source ?? '';
    try {
      statSync(source);
    } catch (err) {
      const code = (err as NodeJS.ErrnoException).code;
      fail(
        `volume ${JSON.stringify(v.name)}: host source ${JSON.stringify(source)} ` +
          (code === 'ENOENT' || code === 'ENOTDIR'
            ? 'does not exist'
            : `cannot be used (${code ?? 'error'})`),
      );
    }
  }
}

function isExecutableFile(hostPath: string): boolean {
  try {
    const st = statSync(hostPath);
    return st.isFile() && (st.mode & 0o111) !== 0;
  } catch {
    return false;
  }
}

function under(p: string, dir: string): boolean {
  const rel = path.posix.relative(dir, p);
  return rel === '' || (!rel.startsWith('..') && !path.posix.isAbsolute(rel));
}

/**
 * Whether `exec0` is an executable file in the app's rootfs: an absolute path as it is, a relative
 * one from the working directory, a bare name along the app's PATH. A path under one of
 * `mountPaths` counts as found (a volume provides it at run time).
 */
export function findExecutable(
  rootfs: string,
  app: Pick<App, 'environment' | 'workingDirectory'>,
  exec0: string,
  mountPaths: readonly string[] = [],
): boolean {
  const candidates: string[] = [];
  if (exec0.startsWith('/')) candidates.push(exec0);
  else if (exec0.includes('/')) candidates.push(path.posix.join(app.workingDirectory ?? '/', exec0));
  else {
    const envPath = app.environment?.find((e) => e.name === 'PATH')?.value ?? APPC_DEFAULT_PATH;
    for (const dir of envPath.split(':'))
      if (dir.startsWith('/')) candidates.push(path.posix.join(dir, exec0));
  }
  for (const c of candidates) {
    if (mountPaths.some((m) => under(c, m))) return true;
    let host: string;
    try {
      host = resolveInRoot(rootfs, c);
    } catch {
      continue; // a symlink loop
    }
    if (isExecutableFile(host)) return true;
  }
  return false;
}

/**
 * The app's executable and those of its event handlers must be executable files in its rendered
 * rootfs (`rootfs`, the image with its dependencies).
 */
export function checkAppExecutables(appName: string, app: App, rootfs: string, mountPaths: string[]): void {
  const where = `app ${JSON.stringify(appName)}`;
  const paths = [...mountPaths, ...(app.mountPoints ?? []).map((m) => m.path)];
  const check = (exec: readonly string[] | undefined, what: string): void => {
    const exec0 = exec?.[0];
    if (exec0 === undefined || exec0 === '') return; // the engine refuses a missing exec itself
    if (!findExecutable(rootfs, app, exec0, paths))
      fail(`${where}: ${what} ${JSON.stringify(exec0)} is not an executable file in the app's image`);
  };
  check(app.exec, 'exec');
  for (const eh of app.eventHandlers ?? []) check(eh.exec, `${eh.name} event handler exec`);
}

/**
 * The volume and executable checks for a pod about to be prepared. `rootfsOf(i)` renders (or
 * reuses) the tree of app `i` and returns its rootfs. (A retained capability the host lacks is
 * refused when the oci engine writes the app's config, spec.ts: `--insecure-options=capabilities`
 * and the fly engine, which have no capability isolators, are known only then.)
 */
export async function checkPodBeforePrepare(
  manifest: PodManifest,
  rootfsOf: (appIndex: number) => Promise<string>,
): Promise<void> {
  checkHostVolumes(manifest);
  for (const [i, ra] of manifest.apps.entries()) {
    const app = ra.app;
    if (app === undefined) continue;
    const mountPaths = (ra.mounts ?? []).map((m) => m.path);
    checkAppExecutables(ra.name, app, await rootfsOf(i), mountPaths);
  }
}
