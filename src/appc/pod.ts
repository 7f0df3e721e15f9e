/** Pod manifests (spec/pods.md). */
import { checkIsolators, readIsolator } from './isolators.js';
import {
  readACIdentifier,
  readACName,
  readAnnotations,
  readApp,
  readExposedPort,
  readImageId,
  readLabels,
  readVolume,
} from './fields.js';
import { parseJsonText } from './kind.js';
import { Reader, field, optional, required, requireUnique, type JsonObject } from './reader.js';
import { goJSON, podManifestObject } from './serialize.js';
import type { JsonValue, Mount, ParsedPodManifest, PodManifest, RuntimeApp, RuntimeImage } from './types.js';
import { APPC_SPEC_VERSION_STRING, readAcVersion } from './version.js';

function readRuntimeImage(r: Reader, v: JsonValue, path: string): RuntimeImage {
  const o = r.object(v, path);
  const image: RuntimeImage = {};
  const name = optional(o, 'name', path, (x, p) => readACIdentifier(r, x, p));
  if (name !== undefined) image.name = name;
  // Required in a runtime (reified) manifest, absent in a template; we accept both.
  const id = optional(o, 'id', path, (x, p) => readImageId(r, x, p));
  if (id !== undefined) image.id = id;
  const labels = readLabels(r, o, path);
  if (labels) image.labels = labels;
  return image;
}

function readMount(r: Reader, v: JsonValue, path: string): Mount {
  const o = r.object(v, path);
  // The spec requires both fields; the reference does not check them.
  const mount: Mount = {
    volume: required(r, o, 'volume', path, (x, p) => readACName(r, x, p)),
    path: required(r, o, 'path', path, (x, p) => {
      const s = r.string(x, p);
      if (s === '') r.fail(p, 'must not be empty');
      return s;
    }),
  };
  const appVolume = optional(o, 'appVolume', path, (x, p) => readVolume(r, x, p));
  if (appVolume) mount.appVolume = appVolume;
  return mount;
}

function readRuntimeApp(r: Reader, v: JsonValue, path: string): RuntimeApp {
  const o = r.object(v, path);
  const ra: RuntimeApp = {
    name: required(r, o, 'name', path, (x, p) => readACName(r, x, p)),
    image: required(r, o, 'image', path, (x, p) => readRuntimeImage(r, x, p)),
  };
  const app = optional(o, 'app', path, (x, p) => readApp(r, x, p));
  if (app) ra.app = app;
  if (optional(o, 'readOnlyRootFS', path, (x, p) => r.boolean(x, p)) === true) ra.readOnlyRootFS = true;
  const mounts = optional(o, 'mounts', path, (x, p) => r.list(x, p, (e, ep) => readMount(r, e, ep)));
  if (mounts && mounts.length > 0) ra.mounts = mounts;
  const annotations = readAnnotations(r, o, path);
  if (annotations) ra.annotations = annotations;
  return ra;
}

/**
 * A pod-level list. Unlike image lists these are not omitted by the reference when empty, so an
 * empty list stays `[]` and an absent one stays undefined (written back as `null`).
 */
function podList<T>(
  r: Reader,
  o: JsonObject,
  key: string,
  item: (v: JsonValue, path: string) => T,
): T[] | undefined {
  return optional(o, key, '', (v, p) => r.list(v, p, item));
}

/** Checks an already-parsed JSON value as a pod manifest. */
export function readPodManifest(r: Reader, doc: JsonValue): PodManifest {
  const o = r.object(doc, '');
  const acKind = required(r, o, 'acKind', '', (v, p) => r.string(v, p));
  if (acKind !== 'PodManifest') r.fail('acKind', `must be "PodManifest", got ${JSON.stringify(acKind)}`);
  // The spec requires acVersion for pods too; the reference does not check it.
  const acVersion = required(r, o, 'acVersion', '', (v, p) => readAcVersion(r, v, p));
  const apps = required(r, o, 'apps', '', (v, p) => r.list(v, p, (e, ep) => readRuntimeApp(r, e, ep)));
  requireUnique(r, apps, 'apps', (a) => a.name, 'app name');
  const m: PodManifest = { acVersion, acKind, apps };

  const volumes = podList(r, o, 'volumes', (v, p) => readVolume(r, v, p));
  requireUnique(r, volumes, 'volumes', (v) => v.name, 'volume name');
  if (volumes) m.volumes = volumes;

  const isolators = podList(r, o, 'isolators', (v, p) =>
    readIsolator(r, v, p, (n, np) => readACIdentifier(r, n, np)),
  );
  checkIsolators(r, isolators, 'isolators', 'pod');
  if (isolators) m.isolators = isolators;

  if (field(o, 'annotations') !== undefined) m.annotations = readAnnotations(r, o, '') ?? [];

  const ports = podList(r, o, 'ports', (v, p) => readExposedPort(r, v, p));
  requireUnique(r, ports, 'ports', (p) => p.name, 'port name');
  if (ports) m.ports = ports;

  const userAnnotations = optional(o, 'userAnnotations', '', (v, p) => r.stringMap(v, p));
  if (userAnnotations && Object.keys(userAnnotations).length > 0) m.userAnnotations = userAnnotations;
  const userLabels = optional(o, 'userLabels', '', (v, p) => r.stringMap(v, p));
  if (userLabels && Object.keys(userLabels).length > 0) m.userLabels = userLabels;
  return m;
}

/** Parses and validates a pod manifest; throws AppcError (`<source>: <json path>: <reason>`). */
export function parsePodManifest(text: string, source?: string): ParsedPodManifest {
  const r = new Reader(source);
  const manifest = readPodManifest(r, parseJsonText(text, source));
  return { manifest, warnings: r.warnings };
}

/**
 * Canonical JSON of a pod manifest (validated first, like the reference). `validApps`: apps the
 * caller knows to be valid as they are (read with parsePodManifest and not changed since, as `rkt
 * app add` has the pod's other apps): everything else is validated, and every app name is still
 * checked unique.
 */
export function podManifestToJSON(
  m: PodManifest,
  opts: { pretty?: boolean; validApps?: ReadonlySet<RuntimeApp> } = {},
): string {
  const obj = podManifestObject(m);
  const valid = opts.validApps;
  if (valid === undefined || valid.size === 0) readPodManifest(new Reader(), obj);
  else {
    const o = obj as JsonObject;
    const apps = o['apps'] as JsonValue[];
    const r = new Reader();
    readPodManifest(r, { ...o, apps: apps.filter((_, i) => !valid.has(m.apps[i] as RuntimeApp)) });
    requireUnique(r, m.apps, 'apps', (a) => a.name, 'app name');
  }
  return goJSON(obj, opts.pretty === true);
}

/** A new empty pod manifest at our spec version. */
export function blankPodManifest(): PodManifest {
  return { acVersion: APPC_SPEC_VERSION_STRING, acKind: 'PodManifest', apps: [] };
}
