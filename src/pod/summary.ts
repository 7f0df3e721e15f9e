/**
 * `list-summary.json` in a pod dir: what `rkt list` prints of the pod manifest (app names, image
 * IDs, mounts, user annotations and labels) and of each app's image manifest (`name:version`), so a
 * listing reads one small file a pod instead of parsing and validating the whole pod manifest and
 * every app's image manifest.
 *
 * Written (temp file, rename) after every write of the pod manifest (prepare, `rkt app add|rm`),
 * from the manifest the writer has in hand (`podSummaryTextFor`): `app add` and `app rm` carry the
 * apps' image names over from the summary they replace when it was up to date, and read only the
 * added app's.
 * It records the identity of the manifest it was made from (inode, size, mtime: the manifest is
 * always replaced by a rename, so a new one has a new inode); a reader stats the manifest and uses
 * the summary only if that identity still matches (a run template's copy: size and mtime, see
 * copyManifestIdentity). Absent, unreadable or stale: the reader falls
 * back to the manifest itself. So a writer that does not know of the summary cannot make a listing
 * wrong, only slower.
 */
import { closeSync, fstatSync, openSync, readFileSync, statSync, type Stats } from 'node:fs';
import { join } from 'node:path';
import { parsePodManifest, type PodManifest, type RuntimeApp, type Volume } from '../appc/index.js';
import { POD_FILES } from '../pod-layout.js';

export const POD_SUMMARY_FILE = 'list-summary.json';

/** The part of a runtime app a listing uses (a RuntimeApp is one). */
export interface ListedApp {
  name: string;
  image: { id?: string };
  mounts?: { volume: string; path: string; appVolume?: Pick<Volume, 'source' | 'readOnly'> }[];
  app?: { userAnnotations?: Record<string, string>; userLabels?: Record<string, string> };
}

/** The part of a pod manifest a listing uses (a PodManifest is one). */
export interface ListedManifest {
  apps: ListedApp[];
  volumes?: { name: string; source?: string; readOnly?: boolean }[];
  userAnnotations?: Record<string, string>;
  userLabels?: Record<string, string>;
}

interface SummaryFile {
  /** manifestIdentity() of the `pod` file this was made from. */
  manifest: string;
  pod: ListedManifest;
  /** app name → image `name[:version]` from appsinfo/<app>/manifest (absent: unreadable). */
  images: Record<string, string>;
}

/** Identity of a manifest file as stat(2) sees it. */
export function manifestIdentity(st: Stats): string {
  return `${st.ino}:${st.size}:${st.mtimeMs}`;
}

/**
 * Identity of a manifest in a run template (run-template.ts), whose copies (`cp -a`, one per pod
 * the launcher starts from it) keep its size and mtime but get a new inode. A writer replaces the
 * manifest by a rename with a file written later, so a rewritten manifest still shows as changed.
 */
export function copyManifestIdentity(st: Stats): string {
  return `copy:${st.size}:${st.mtimeMs}`;
}

function listedApp(ra: RuntimeApp): ListedApp {
  const a: ListedApp = { name: ra.name, image: ra.image.id === undefined ? {} : { id: ra.image.id } };
  if (ra.mounts !== undefined && ra.mounts.length > 0)
    a.mounts = ra.mounts.map((m) => ({
      volume: m.volume,
      path: m.path,
      ...(m.appVolume === undefined
        ? {}
        : {
            appVolume: {
              ...(m.appVolume.source === undefined ? {} : { source: m.appVolume.source }),
              ...(m.appVolume.readOnly === undefined ? {} : { readOnly: m.appVolume.readOnly }),
            },
          }),
    }));
  const ua = ra.app?.userAnnotations;
  const ul = ra.app?.userLabels;
  if (ua !== undefined || ul !== undefined)
    a.app = {
      ...(ua === undefined ? {} : { userAnnotations: ua }),
      ...(ul === undefined ? {} : { userLabels: ul }),
    };
  return a;
}

/** The listing's view of a manifest. */
export function listedManifest(m: PodManifest): ListedManifest {
  const out: ListedManifest = { apps: m.apps.map(listedApp) };
  if (m.volumes !== undefined && m.volumes.length > 0)
    out.volumes = m.volumes.map((v) => ({
      name: v.name,
      ...(v.source === undefined ? {} : { source: v.source }),
      ...(v.readOnly === undefined ? {} : { readOnly: v.readOnly }),
    }));
  if (m.userAnnotations !== undefined) out.userAnnotations = m.userAnnotations;
  if (m.userLabels !== undefined) out.userLabels = m.userLabels;
  return out;
}

/** `name:version` (or `name`) of an image manifest's JSON text; undefined if it has no name. */
export function imageNameOf(text: string): string | undefined {
  const m = JSON.parse(text) as { name?: unknown; labels?: unknown };
  if (typeof m.name !== 'string') return undefined;
  const labels = Array.isArray(m.labels) ? (m.labels as { name?: unknown; value?: unknown }[]) : [];
  const version = labels.find((l) => l?.name === 'version')?.value;
  return typeof version === 'string' ? `${m.name}:${version}` : m.name;
}

/**
 * The summary's content for the manifest now at `podDir`/pod (read back, so the summary says what
 * a reader of that file would see), with the apps' image names as recorded in appsinfo.
 */
export function podSummaryText(podDir: string): string {
  const file = join(podDir, POD_FILES.manifest);
  const fd = openSync(file, 'r');
  let st: Stats;
  let text: string;
  try {
    st = fstatSync(fd);
    text = readFileSync(fd, 'utf8');
  } finally {
    closeSync(fd);
  }
  return podSummaryTextFor(podDir, parsePodManifest(text, file).manifest, st);
}

/**
 * The summary's content for `manifest`, which the caller has just written to `podDir`/pod (`st`:
 * that file's stat, taken after the write): no read or parse of the manifest. `knownImages`: the
 * image names of apps the caller already knows (an up-to-date summary's, and an added app's); the
 * others are read from appsinfo.
 */
export function podSummaryTextFor(
  podDir: string,
  manifest: PodManifest,
  st: Stats,
  knownImages: Record<string, string> = {},
): string {
  const images: Record<string, string> = {};
  for (const ra of manifest.apps) {
    const known = Object.hasOwn(knownImages, ra.name) ? knownImages[ra.name] : undefined;
    if (known !== undefined) {
      images[ra.name] = known;
      continue;
    }
    try {
      const name = imageNameOf(readFileSync(join(podDir, POD_FILES.appsInfo, ra.name, 'manifest'), 'utf8'));
      if (name !== undefined) images[ra.name] = name;
    } catch {
      // unreadable: listed as rkt lists it, `--`
    }
  }
  const summary: SummaryFile = { manifest: manifestIdentity(st), pod: listedManifest(manifest), images };
  return JSON.stringify(summary);
}

const isObject = (v: unknown): v is Record<string, unknown> => typeof v === 'object' && v !== null;

/**
 * The summary of the pod at `podDir` if it matches the manifest there now; undefined if absent,
 * malformed or stale (the caller reads the manifest).
 */
export function readPodSummary(
  podDir: string,
): { pod: ListedManifest; images: Record<string, string> } | undefined {
  const st = statSync(join(podDir, POD_FILES.manifest), { throwIfNoEntry: false });
  if (st === undefined) return undefined;
  let value: unknown;
  try {
    value = JSON.parse(readFileSync(join(podDir, POD_SUMMARY_FILE), 'utf8'));
  } catch {
    return undefined;
  }
  if (
    !isObject(value) ||
    (value['manifest'] !== manifestIdentity(st) && value['manifest'] !== copyManifestIdentity(st))
  )
    return undefined;
  const pod = value['pod'];
  const images = value['images'];
  if (!isObject(pod) || !Array.isArray(pod['apps']) || !isObject(images)) return undefined;
  if (
    !(pod['apps'] as unknown[]).every(
      (a) => isObject(a) && typeof a['name'] === 'string' && isObject(a['image']),
    )
  )
    return undefined;
  return { pod: pod as unknown as ListedManifest, images: images as Record<string, string> };
}
