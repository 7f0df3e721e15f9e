/**
 * Image config → appc image manifest, as docker2aci's GenerateManifestV22 does (reference §3, §4),
 * except that `appc.io/docker/imageid` is the image ID (the config digest), not the top layer's
 * digest, and that we write acVersion 0.8.11 (the spec we implement; docker2aci vendors 0.8.10).
 */
import { posix } from 'node:path';
import {
  APPC_SPEC_VERSION,
  sanitizeACName,
  type Annotation,
  type App,
  type EnvironmentVariable,
  type ImageManifest,
  type MountPoint,
  type Port,
} from '../../appc/index.js';
import { RocketError } from '../../errors.js';
import type { ImageConfig, ImageReference } from '../types.js';
import { imageLabels } from './names.js';

export const ANNOTATION_PREFIX = 'appc.io/docker/';

/** `user`/`group` from Docker's `User`: "" → 0/0, "x" → x/x, "u:g" → u/g (no /etc/passwd lookup). */
export function userGroup(user: string | undefined): { user: string; group: string } {
  const u = user ?? '';
  if (u === '') return { user: '0', group: '0' };
  const colon = u.indexOf(':');
  if (colon === -1) return { user: u, group: u };
  const [name = '', group = ''] = u.split(':');
  // docker2aci would write "" (an invalid manifest); an empty part means root, as in Docker.
  return { user: name === '' ? '0' : name, group: group === '' ? '0' : group };
}

/** `K=V` entries split at the first `=`; entries without `=` dropped; a later duplicate replaces in place. */
export function environment(env: readonly string[] | null | undefined): EnvironmentVariable[] {
  const out: EnvironmentVariable[] = [];
  const index = new Map<string, number>();
  for (const e of env ?? []) {
    const eq = e.indexOf('=');
    if (eq === -1) continue;
    const name = e.slice(0, eq);
    const value = e.slice(eq + 1);
    const at = index.get(name);
    if (at !== undefined) (out[at] as EnvironmentVariable).value = value;
    else {
      index.set(name, out.length);
      out.push({ name, value });
    }
  }
  return out;
}

/**
 * Volumes → mountPoints named `SanitizeACName(path.Join("volume", path))`; names that collide get
 * `-1`, `-2`, ... (docker2aci decides which is "later" by Go map order; we go by path order, so the
 * result is stable), then the list is sorted by name.
 */
export function mountPoints(volumes: Readonly<Record<string, object>> | null | undefined): MountPoint[] {
  const used = new Set<string>();
  const out: MountPoint[] = [];
  for (const path of Object.keys(volumes ?? {}).sort()) {
    const base = sanitizeACName(posix.join('volume', path)) ?? 'volume';
    let name = base;
    for (let n = 1; used.has(name); n++) name = `${base}-${n}`;
    used.add(name);
    out.push({ name, path, readOnly: false });
  }
  return out.sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
}

/**
 * ExposedPorts keys → ports: `8080/tcp` → `8080-tcp`/tcp/8080, `80` → `80`/tcp/80 (the name is the
 * sanitized key, so no `-tcp` is added). A port that is not a number is an error. Sorted by name.
 */
export function ports(exposed: Readonly<Record<string, object>> | null | undefined): Port[] {
  const out: Port[] = [];
  for (const key of Object.keys(exposed ?? {})) {
    const slash = key.indexOf('/');
    const number = slash === -1 ? key : key.slice(0, slash);
    const protocol = slash === -1 ? 'tcp' : key.slice(slash + 1);
    if (!/^[0-9]+$/.test(number) || Number(number) < 1 || Number(number) > 65535) {
      throw new RocketError(`invalid port ${JSON.stringify(key)}`);
    }
    const name = sanitizeACName(key);
    if (name === undefined || protocol === '') {
      throw new RocketError(`invalid port ${JSON.stringify(key)}`);
    }
    out.push({ name, protocol, port: Number(number), count: 1, socketActivated: false });
  }
  return out.sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
}

/** The app section; undefined when the config has no `config` object (as docker2aci). */
export function appOf(config: ImageConfig): App | undefined {
  const c = config.config;
  if (c === undefined || c === null) return undefined;
  const app: App = userGroup(c.User);
  const exec = [...(c.Entrypoint ?? []), ...(c.Cmd ?? [])];
  if (exec.length > 0) app.exec = exec;
  const env = environment(c.Env);
  if (env.length > 0) app.environment = env;
  if (c.WorkingDir !== undefined && c.WorkingDir !== '') app.workingDirectory = c.WorkingDir;
  const mps = mountPoints(c.Volumes);
  if (mps.length > 0) app.mountPoints = mps;
  const ps = ports(c.ExposedPorts);
  if (ps.length > 0) app.ports = ps;
  return app;
}

/** Go's json.Marshal of a string list: `<`, `>`, `&`, U+2028 and U+2029 escaped. */
export function goJsonStringList(list: readonly string[]): string {
  return JSON.stringify(list).replace(/[<>&\u2028\u2029]/g, (c) => {
    return `\\u${c.charCodeAt(0).toString(16).padStart(4, '0')}`;
  });
}

export interface AnnotationInputs {
  reference: ImageReference;
  config: ImageConfig;
  /** The image ID: the config digest (docker2aci wrongly writes the top layer's digest). */
  imageId: string;
  manifestDigest: string;
}

/** The v2.2 annotations in docker2aci's order, each only when non-empty (§4). */
export function annotations(a: AnnotationInputs): Annotation[] {
  const c = a.config.config ?? undefined;
  const list: [string, string | undefined][] = [
    ['author', a.config.author],
    ['created', a.config.created],
    [`${ANNOTATION_PREFIX}originalname`, a.reference.registry === '' ? undefined : a.reference.original],
    [`${ANNOTATION_PREFIX}registryurl`, a.reference.registry],
    [`${ANNOTATION_PREFIX}repository`, a.reference.repository],
    [`${ANNOTATION_PREFIX}imageid`, a.imageId],
    [`${ANNOTATION_PREFIX}manifesthash`, a.manifestDigest],
    [`${ANNOTATION_PREFIX}entrypoint`, nonEmptyList(c?.Entrypoint)],
    [`${ANNOTATION_PREFIX}cmd`, nonEmptyList(c?.Cmd)],
  ];
  return list
    .filter((e): e is [string, string] => e[1] !== undefined && e[1] !== '')
    .map(([name, value]) => ({ name, value }));
}

function nonEmptyList(list: readonly string[] | null | undefined): string | undefined {
  return list === undefined || list === null || list.length === 0 ? undefined : goJsonStringList(list);
}

/** The squashed image's (and the top layer's) manifest, without dependencies and pathWhitelist. */
export function imageManifest(name: string, a: AnnotationInputs): ImageManifest {
  const m: ImageManifest = {
    acKind: 'ImageManifest',
    acVersion: APPC_SPEC_VERSION,
    name,
    labels: imageLabels(a.reference, a.config.os, a.config.architecture, a.config.variant),
  };
  const app = appOf(a.config);
  if (app !== undefined) m.app = app;
  const ann = annotations(a);
  if (ann.length > 0) m.annotations = ann;
  return m;
}
