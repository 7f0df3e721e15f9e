/**
 * The reified pod manifest (appc-spec §D) of a pod, from the command line (as rkt's stage0
 * `generatePodManifest` and `generateRuntimeApp` build it) or from `--pod-manifest=FILE`.
 *
 * Every app gets a full `app` section: the image's, copied, with the command line's overrides
 * applied. Since a pod's `app` replaces the image's wholesale (the spec's rule), this is how an
 * override of one field keeps the others. Mount points of the image's app are matched by name to
 * the pod's volumes and written out as `mounts`; a mount point with no volume gets an implicit
 * `empty` volume (rkt does these two in stage1; we reify them so an engine reads one manifest).
 */
import { readFileSync } from 'node:fs';
import { posix } from 'node:path';
import {
  APPC_SPEC_VERSION,
  AppcError,
  LINUX_CAPABILITIES_REMOVE_SET,
  LINUX_CAPABILITIES_RETAIN_SET,
  LINUX_SECCOMP_REMOVE_SET,
  LINUX_SECCOMP_RETAIN_SET,
  parsePodManifest,
  podManifestToJSON,
  type App,
  type EnvironmentVariable,
  type ImageManifest,
  type Isolator,
  type Mount,
  type PodManifest,
  type RuntimeApp,
  type Volume,
} from '../appc/index.js';
import { RocketError, errorMessage } from '../errors.js';
import { appNameFromImage, checkAppNameLength, type AppArgs, type PodArgs } from './args.js';
import { parseExposedPort } from '../net/ports.js';
import { MUTABLE_ANNOTATION } from '../pod-layout.js';

export { MUTABLE_ANNOTATION };

/** How images are found: `resolve` fetches or looks up an app's image and returns its store key. */
export interface ImageSource {
  resolve(app: { image: string; signature?: string }): Promise<string>;
  manifest(key: string): ImageManifest;
}

export interface BuiltManifest {
  manifest: PodManifest;
  /** The store key of each app's image, in app order. */
  imageKeys: string[];
  warnings: string[];
}

const fail = (message: string): never => {
  throw new RocketError(message, 'invalid-argument');
};

function setEnv(env: EnvironmentVariable[], name: string, value: string, override: boolean): void {
  const existing = env.find((e) => e.name === name);
  if (existing === undefined) env.push({ name, value });
  else if (override) existing.value = value;
}

/** Replaces the isolators named `names` with `iso` (or appends it). */
function replaceIsolators(
  isolators: Isolator[],
  iso: Isolator,
  names: readonly string[] = [iso.name],
): Isolator[] {
  return [...isolators.filter((i) => !names.includes(i.name)), iso];
}

/** rkt's `MergeMounts`: the app's mounts, then the pod-wide ones, the first per target path kept. */
export function mergeMounts(podMounts: readonly Mount[], appMounts: readonly Mount[]): Mount[] {
  const seen = new Set<string>();
  const out: Mount[] = [];
  for (const m of [...appMounts, ...podMounts]) {
    const clean = posix.normalize(m.path);
    if (seen.has(clean)) continue;
    seen.add(clean);
    out.push({ ...m });
  }
  return out;
}

/** The runtime app for one command-line app over its image manifest (rkt's generateRuntimeApp). */
export function runtimeApp(
  args: AppArgs,
  imageKey: string,
  im: ImageManifest,
  pod: Pick<PodArgs, 'mounts' | 'inheritEnv' | 'setEnv' | 'setEnvFile'>,
  hostEnv: NodeJS.ProcessEnv = process.env,
): RuntimeApp {
  const name = args.name ?? appNameFromImage(im.name);
  if (args.name === undefined) checkAppNameLength(name, `image ${JSON.stringify(im.name)}`);
  if (im.app === undefined && args.exec === undefined)
    fail(`error: image ${imageKey} has no app section and --exec argument is not provided`);
  const app: App =
    im.app === undefined
      ? { user: String(process.getuid?.() ?? 0), group: String(process.getgid?.() ?? 0) }
      : structuredClone<App>(im.app);
  if (args.exec !== undefined) app.exec = [args.exec];
  if (args.args !== undefined) app.exec = [...(app.exec ?? []), ...args.args];
  if (args.workingDir !== undefined) app.workingDirectory = args.workingDir;
  let isolators = app.isolators ?? [];
  if (args.memory !== undefined) isolators = replaceIsolators(isolators, args.memory);
  if (args.cpu !== undefined) isolators = replaceIsolators(isolators, args.cpu);
  if (args.cpuShares !== undefined) isolators = replaceIsolators(isolators, args.cpuShares);
  if (args.oomScoreAdj !== undefined) isolators = replaceIsolators(isolators, args.oomScoreAdj);
  const caps = args.capsRetain ?? args.capsRemove;
  if (caps !== undefined)
    isolators = replaceIsolators(isolators, caps, [
      LINUX_CAPABILITIES_RETAIN_SET,
      LINUX_CAPABILITIES_REMOVE_SET,
    ]);
  if (args.seccomp !== undefined)
    isolators = replaceIsolators(isolators, args.seccomp, [
      LINUX_SECCOMP_RETAIN_SET,
      LINUX_SECCOMP_REMOVE_SET,
    ]);
  if (isolators.length > 0) app.isolators = isolators;
  if (args.user !== undefined) app.user = args.user;
  if (args.group !== undefined) app.group = args.group;
  if (args.supplementaryGIDs !== undefined) app.supplementaryGIDs = args.supplementaryGIDs;
  if (args.userAnnotations !== undefined) app.userAnnotations = { ...args.userAnnotations };
  if (args.userLabels !== undefined) app.userLabels = { ...args.userLabels };

  // Environment, lowest priority first (rkt.md §1.3): host (with --inherit-env; never overriding
  // the image's), image, --set-env-file, --set-env, --environment.
  const env = app.environment ?? [];
  if (pod.inheritEnv) {
    for (const [k, v] of Object.entries(hostEnv)) if (v !== undefined) setEnv(env, k, v, false);
  }
  for (const [k, v] of pod.setEnvFile) setEnv(env, k, v, true);
  for (const [k, v] of pod.setEnv) setEnv(env, k, v, true);
  for (const [k, v] of args.environment) setEnv(env, k, v, true);
  if (env.length > 0) app.environment = env;

  const ra: RuntimeApp = {
    name,
    image: { name: im.name, id: imageKey, ...(im.labels !== undefined ? { labels: im.labels } : {}) },
    app,
  };
  const mounts = mergeMounts(pod.mounts, args.mounts);
  if (mounts.length > 0) ra.mounts = mounts;
  if (args.readOnlyRootFS !== undefined) ra.readOnlyRootFS = args.readOnlyRootFS;
  const annotations = Object.entries(args.annotations).map(([n, value]) => ({ name: n, value }));
  if (annotations.length > 0) ra.annotations = annotations;
  return ra;
}

/**
 * Matches every app's mount points to volumes by name (rkt's stage1 GenerateMounts): a mount point
 * already targeted by a mount is left alone; otherwise a volume of the same name is mounted there,
 * or an implicit `empty` volume is created (with rkt's warning).
 */
export function matchMountPoints(m: PodManifest): string[] {
  const warnings: string[] = [];
  const volumes = m.volumes ?? [];
  for (const ra of m.apps) {
    const mounts = ra.mounts ?? [];
    const targeted = new Set(mounts.map((x) => posix.normalize(x.path)));
    for (const mp of ra.app?.mountPoints ?? []) {
      if (targeted.has(posix.normalize(mp.path))) continue;
      if (!volumes.some((v) => v.name === mp.name)) {
        warnings.push(
          `warning: no volume specified for mount point ${JSON.stringify(mp.name)}, implicitly creating an "empty" volume. This volume will be removed when the pod is garbage-collected.`,
        );
        const implicit: Volume = { name: mp.name, kind: 'empty', mode: '0755', uid: 0, gid: 0 };
        if (mp.readOnly === true) implicit.readOnly = true;
        volumes.push(implicit);
      }
      mounts.push({ volume: mp.name, path: mp.path });
      targeted.add(posix.normalize(mp.path));
    }
    if (mounts.length > 0) ra.mounts = mounts;
  }
  if (volumes.length > 0) m.volumes = volumes;
  return warnings;
}

/** Builds the pod manifest from the command line, resolving (and fetching) every image. */
export async function buildPodManifest(
  args: PodArgs,
  images: ImageSource,
  hostEnv: NodeJS.ProcessEnv = process.env,
): Promise<BuiltManifest> {
  if (args.podManifest !== undefined) return loadPodManifestFile(args.podManifest, images);
  if (args.apps.length === 0) fail('must provide at least one image');
  const manifest: PodManifest = { acVersion: APPC_SPEC_VERSION, acKind: 'PodManifest', apps: [] };
  const imageKeys: string[] = [];
  for (const app of args.apps) {
    const key = await images.resolve(app);
    const im = images.manifest(key);
    const ra = runtimeApp(app, key, im, args, hostEnv);
    if (manifest.apps.some((a) => a.name === ra.name)) fail(`error: multiple apps with name ${ra.name}`);
    manifest.apps.push(ra);
    imageKeys.push(key);
  }
  if (args.volumes.length > 0) manifest.volumes = args.volumes.map((v) => ({ ...v }));
  if (args.ports.length > 0) manifest.ports = args.ports.map(parseExposedPort);
  const warnings = matchMountPoints(manifest);
  manifest.annotations = [{ name: MUTABLE_ANNOTATION, value: 'false' }];
  return { manifest: validated(manifest), imageKeys, warnings };
}

/**
 * `rkt app sandbox`: a pod with no app yet (apps come with `rkt app add`), its pod flags applied,
 * marked mutable.
 */
export function buildSandboxManifest(args: PodArgs): BuiltManifest {
  const manifest: PodManifest = { acVersion: APPC_SPEC_VERSION, acKind: 'PodManifest', apps: [] };
  if (args.volumes.length > 0) manifest.volumes = args.volumes.map((v) => ({ ...v }));
  if (args.ports.length > 0) manifest.ports = args.ports.map(parseExposedPort);
  if ((args.sandboxPorts ?? []).length > 0)
    manifest.ports = [...(manifest.ports ?? []), ...(args.sandboxPorts ?? [])];
  if ((args.sandboxIsolators ?? []).length > 0) manifest.isolators = [...(args.sandboxIsolators ?? [])];
  manifest.annotations = [{ name: MUTABLE_ANNOTATION, value: 'true' }];
  return { manifest: validated(manifest), imageKeys: [], warnings: [] };
}

/** Runs the manifest through the appc validator (so what is written always parses back). */
function validated(m: PodManifest): PodManifest {
  try {
    podManifestToJSON(m);
  } catch (err) {
    fail(`invalid pod manifest: ${errorMessage(err)}`);
  }
  return m;
}

/**
 * `--pod-manifest=FILE`: parsed and validated; every app's image must be given by ID (or name) and
 * be in the store already, as rkt requires.
 */
export async function loadPodManifestFile(path: string, images: ImageSource): Promise<BuiltManifest> {
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch (err) {
    return fail(`error reading pod manifest: ${errorMessage(err)}`);
  }
  let manifest: PodManifest;
  let warnings: string[];
  try {
    ({ manifest, warnings } = parsePodManifest(text, path));
  } catch (err) {
    if (err instanceof AppcError) return fail(`error unmarshaling pod manifest: ${err.message}`);
    throw err;
  }
  // Store keys are sha512 truncated to 256 bits, as rkt's: not worth a warning here.
  warnings = warnings.filter((w) => !w.includes('is not a full sha512 digest'));
  if (manifest.apps.length === 0) fail('pod manifest has no apps');
  const imageKeys: string[] = [];
  for (const [i, ra] of manifest.apps.entries()) checkAppNameLength(ra.name, `${path}: apps[${i}].name`);
  for (const ra of manifest.apps) {
    const ref = ra.image.id ?? ra.image.name;
    if (ref === undefined) return fail(`app ${JSON.stringify(ra.name)}: image has neither id nor name`);
    const key = await images.resolve({ image: ref });
    const im = images.manifest(key);
    ra.image = { ...ra.image, id: key, name: ra.image.name ?? im.name };
    if (ra.app === undefined) {
      if (im.app === undefined)
        return fail(`error: image ${key} has no app section and the pod manifest gives none for ${ra.name}`);
      ra.app = structuredClone<App>(im.app);
    }
    imageKeys.push(key);
  }
  warnings.push(...matchMountPoints(manifest));
  return { manifest: validated(manifest), imageKeys, warnings };
}
