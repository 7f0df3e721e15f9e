/**
 * Canonical JSON: the key order and omissions of the reference's Go structs, compact like Go's
 * json.Marshal (or indented by 4 spaces like actool's --pretty-print), with Go's escaping of
 * `<`, `>`, `&`, U+2028 and U+2029 so bytes match what actool writes.
 */
import type {
  App,
  Dependency,
  ExposedPort,
  ImageManifest,
  JsonValue,
  Mount,
  MountPoint,
  PodManifest,
  Port,
  RuntimeApp,
  Volume,
} from './types.js';

type Out = { [key: string]: JsonValue | undefined };

/** Drops undefined keys; JSON.stringify would too, but explicit keeps the objects honest. */
function compact(o: Out): { [key: string]: JsonValue } {
  const out: { [key: string]: JsonValue } = {};
  for (const [k, v] of Object.entries(o)) if (v !== undefined) out[k] = v;
  return out;
}

function nonEmpty<T>(list: T[] | undefined): T[] | undefined {
  return list === undefined || list.length === 0 ? undefined : list;
}

function nonEmptyMap(m: Record<string, string> | undefined): Record<string, string> | undefined {
  return m === undefined || Object.keys(m).length === 0 ? undefined : m;
}

const nameValue = (l: { name: string; value: string }): JsonValue => ({ name: l.name, value: l.value });

function portJSON(p: Port): JsonValue {
  return {
    name: p.name,
    protocol: p.protocol,
    port: p.port,
    count: p.count || 1,
    socketActivated: p.socketActivated,
  };
}

function mountPointJSON(m: MountPoint): JsonValue {
  return compact({ name: m.name, path: m.path, readOnly: m.readOnly === true ? true : undefined });
}

export function appJSON(a: App): JsonValue {
  return compact({
    // Not omitted when empty in the reference: an app without exec is written as `"exec":null`.
    exec: a.exec ?? null,
    eventHandlers: nonEmpty(a.eventHandlers)?.map((e) => ({ name: e.name, exec: e.exec })),
    user: a.user,
    group: a.group,
    supplementaryGIDs: nonEmpty(a.supplementaryGIDs),
    workingDirectory: a.workingDirectory === '' ? undefined : a.workingDirectory,
    environment: nonEmpty(a.environment)?.map(nameValue),
    mountPoints: nonEmpty(a.mountPoints)?.map(mountPointJSON),
    ports: nonEmpty(a.ports)?.map(portJSON),
    isolators: nonEmpty(a.isolators)?.map((i) => ({ name: i.name, value: i.value })),
    userAnnotations: nonEmptyMap(a.userAnnotations),
    userLabels: nonEmptyMap(a.userLabels),
  });
}

function dependencyJSON(d: Dependency): JsonValue {
  return compact({
    imageName: d.imageName,
    imageID: d.imageID,
    labels: nonEmpty(d.labels)?.map(nameValue),
    size: d.size === 0 ? undefined : d.size,
  });
}

export function imageManifestObject(m: ImageManifest): JsonValue {
  return compact({
    acKind: m.acKind,
    acVersion: m.acVersion,
    name: m.name,
    labels: nonEmpty(m.labels)?.map(nameValue),
    app: m.app === undefined ? undefined : appJSON(m.app),
    annotations: nonEmpty(m.annotations)?.map(nameValue),
    dependencies: nonEmpty(m.dependencies)?.map(dependencyJSON),
    pathWhitelist: nonEmpty(m.pathWhitelist),
  });
}

export function volumeJSON(v: Volume): JsonValue {
  return compact({
    name: v.name,
    kind: v.kind,
    source: v.source === '' ? undefined : v.source,
    readOnly: v.readOnly,
    recursive: v.recursive,
    mode: v.mode,
    uid: v.uid,
    gid: v.gid,
  });
}

function mountJSON(m: Mount): JsonValue {
  return compact({
    volume: m.volume,
    path: m.path,
    appVolume: m.appVolume === undefined ? undefined : volumeJSON(m.appVolume),
  });
}

function runtimeAppJSON(a: RuntimeApp): JsonValue {
  return compact({
    name: a.name,
    // `id` is left out when absent (a pod template); the reference cannot write such a manifest at all.
    image: compact({ name: a.image.name, id: a.image.id, labels: nonEmpty(a.image.labels)?.map(nameValue) }),
    app: a.app === undefined ? undefined : appJSON(a.app),
    readOnlyRootFS: a.readOnlyRootFS === true ? true : undefined,
    mounts: nonEmpty(a.mounts)?.map(mountJSON),
    annotations: nonEmpty(a.annotations)?.map(nameValue),
  });
}

function exposedPortJSON(p: ExposedPort): JsonValue {
  return compact({
    name: p.name,
    hostPort: p.hostPort,
    hostIP: p.hostIP === '' ? undefined : p.hostIP,
    podPort: p.podPort === undefined ? undefined : portJSON(p.podPort),
  });
}

export function podManifestObject(m: PodManifest): JsonValue {
  // The reference does not omit these four lists: absent ones are written as `null`.
  return compact({
    acVersion: m.acVersion,
    acKind: m.acKind,
    apps: m.apps.map(runtimeAppJSON),
    volumes: m.volumes?.map(volumeJSON) ?? null,
    isolators: m.isolators?.map((i) => ({ name: i.name, value: i.value })) ?? null,
    annotations: m.annotations?.map(nameValue) ?? null,
    ports: m.ports?.map(exposedPortJSON) ?? null,
    userAnnotations: nonEmptyMap(m.userAnnotations),
    userLabels: nonEmptyMap(m.userLabels),
  });
}

const GO_ESCAPES: Record<string, string> = {
  '<': '\\u003c',
  '>': '\\u003e',
  '&': '\\u0026',
  '\u2028': '\\u2028',
  '\u2029': '\\u2029',
};

/** JSON text as Go writes it; these characters can only occur inside strings, so a global replace is safe. */
export function goJSON(value: JsonValue, pretty: boolean): string {
  return JSON.stringify(value, null, pretty ? 4 : undefined).replace(
    /[<>&\u2028\u2029]/g,
    (c) => GO_ESCAPES[c] ?? c,
  );
}
