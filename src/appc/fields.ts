/**
 * Readers for the pieces shared by image and pod manifests (spec/aci.md and spec/pods.md). Each one
 * checks a parsed JSON value and returns the typed, normalised object; errors name the JSON path.
 *
 * Normalisation mirrors what the reference writes back: absent and empty optional lists are the
 * same (undefined), a port's count defaults to 1, an empty volume's mode/uid/gid get their
 * defaults, `false` flags that the reference omits are dropped.
 */
import { isIP } from 'node:net';
import { FULL_IMAGE_ID_LENGTH, parseImageId, isFullImageId } from './hash.js';
import { checkIsolators, readIsolator } from './isolators.js';
import { acIdentifierProblem, acNameProblem } from './names.js';
import {
  Reader,
  at,
  field,
  index,
  optional,
  optionalList,
  required,
  requireUnique,
  type JsonObject,
} from './reader.js';
import type {
  Annotation,
  App,
  Dependency,
  EnvironmentVariable,
  EventHandler,
  ExposedPort,
  JsonValue,
  Label,
  MountPoint,
  Port,
  Volume,
} from './types.js';
import { httpUrlProblem, isEnvName, rfc3339Problem, validateOsArch } from './values.js';

const MAX_ID = 4294967295;

export function readACIdentifier(r: Reader, v: JsonValue, path: string): string {
  const s = r.string(v, path);
  const problem = acIdentifierProblem(s);
  if (problem !== undefined) r.fail(path, problem);
  return s;
}

export function readACName(r: Reader, v: JsonValue, path: string): string {
  const s = r.string(v, path);
  const problem = acNameProblem(s);
  if (problem !== undefined) r.fail(path, problem);
  return s;
}

function readAbsolutePath(r: Reader, v: JsonValue, path: string): string {
  const s = r.string(v, path);
  if (!s.startsWith('/')) r.fail(path, `must be an absolute path, got ${JSON.stringify(s)}`);
  return s;
}

function readNonEmptyString(r: Reader, v: JsonValue, path: string): string {
  const s = r.string(v, path);
  if (s === '') r.fail(path, 'must not be empty');
  return s;
}

function readNameValue(
  r: Reader,
  v: JsonValue,
  path: string,
  readName: (v: JsonValue, p: string) => string,
): { name: string; value: string } {
  const o = r.object(v, path);
  return {
    name: required(r, o, 'name', path, readName),
    value: required(r, o, 'value', path, (x, p) => r.string(x, p)),
  };
}

/** Labels: AC Identifier names, unique, `name` forbidden, os/arch from the known table. */
export function readLabels(r: Reader, o: JsonObject, path: string, key = 'labels'): Label[] | undefined {
  const listPath = at(path, key);
  const labels = optionalList(r, o, key, path, (v, p) =>
    readNameValue(r, v, p, (x, xp) => readACIdentifier(r, x, xp)),
  );
  labels?.forEach((l, i) => {
    if (l.name === 'name') r.fail(at(index(listPath, i), 'name'), '"name" is not allowed as a label name');
  });
  requireUnique(r, labels, listPath, (l) => l.name, 'label');
  const get = (n: string): string | undefined => labels?.find((l) => l.name === n)?.value;
  const problem = validateOsArch(get('os'), get('arch'));
  if (problem !== undefined) r.fail(listPath, problem);
  return labels;
}

/**
 * Annotations: AC Identifier names (the spec says AC Name for pods, but the reference and real
 * manifests use namespaced names there too), unique; `created` must be RFC 3339 and
 * `homepage`/`documentation` http(s) URLs.
 */
export function readAnnotations(
  r: Reader,
  o: JsonObject,
  path: string,
  key = 'annotations',
): Annotation[] | undefined {
  const listPath = at(path, key);
  const annotations = optionalList(r, o, key, path, (v, p) =>
    readNameValue(r, v, p, (x, xp) => readACIdentifier(r, x, xp)),
  );
  requireUnique(r, annotations, listPath, (a) => a.name, 'annotation');
  annotations?.forEach((a, i) => {
    let problem: string | undefined;
    if (a.name === 'created') problem = rfc3339Problem(a.value);
    else if (a.name === 'homepage' || a.name === 'documentation') problem = httpUrlProblem(a.value);
    if (problem !== undefined) r.fail(at(index(listPath, i), 'value'), problem);
  });
  return annotations;
}

/** An optional string→string map; empty is the same as absent. */
function readStringMap(
  r: Reader,
  o: JsonObject,
  key: string,
  path: string,
): Record<string, string> | undefined {
  const m = optional(o, key, path, (v, p) => r.stringMap(v, p));
  return m === undefined || Object.keys(m).length === 0 ? undefined : m;
}

function readExec(r: Reader, v: JsonValue, path: string): string[] {
  return r.list(v, path, (e, p) => r.string(e, p));
}

function readEventHandler(r: Reader, v: JsonValue, path: string): EventHandler {
  const o = r.object(v, path);
  const name = required(r, o, 'name', path, (x, p) => r.string(x, p));
  if (name !== 'pre-start' && name !== 'post-stop') {
    r.fail(at(path, 'name'), `must be "pre-start" or "post-stop", got ${JSON.stringify(name)}`);
  }
  // The reference lets `exec` be missing; a handler that runs nothing is a mistake, so we require it.
  return { name, exec: required(r, o, 'exec', path, (x, p) => readExec(r, x, p)) };
}

function readEnvironmentVariable(r: Reader, v: JsonValue, path: string): EnvironmentVariable {
  return readNameValue(r, v, path, (x, p) => {
    const name = r.string(x, p);
    if (!isEnvName(name)) r.fail(p, `${JSON.stringify(name)} is not a valid environment variable name`);
    return name;
  });
}

export function readMountPoint(r: Reader, v: JsonValue, path: string): MountPoint {
  const o = r.object(v, path);
  const mp: MountPoint = {
    name: required(r, o, 'name', path, (x, p) => readACName(r, x, p)),
    path: required(r, o, 'path', path, (x, p) => readNonEmptyString(r, x, p)),
  };
  if (optional(o, 'readOnly', path, (x, p) => r.boolean(x, p)) === true) mp.readOnly = true;
  return mp;
}

/** Port range checks shared by the JSON and string forms. Returns the reason, or undefined. */
export function portProblem(
  port: number,
  count: number,
): { key: 'port' | 'count'; reason: string } | undefined {
  if (port < 1 || port > 65535) return { key: 'port', reason: `must be in the range 1-65535, got ${port}` };
  if (count < 1) return { key: 'count', reason: `must be at least 1, got ${count}` };
  if (port + count > 65536) return { key: 'count', reason: `port range ${port}+${count} ends beyond 65535` };
  return undefined;
}

export function readPort(r: Reader, v: JsonValue, path: string): Port {
  const o = r.object(v, path);
  const name = required(r, o, 'name', path, (x, p) => readACName(r, x, p));
  // The spec requires `protocol`; the reference does not check it.
  const protocol = required(r, o, 'protocol', path, (x, p) => readNonEmptyString(r, x, p));
  const port = required(r, o, 'port', path, (x, p) => r.integer(x, p, 0, 65535));
  // 0 or missing means 1, as the reference normalises it.
  const count = optional(o, 'count', path, (x, p) => r.integer(x, p, 0, 65535)) || 1;
  const problem = portProblem(port, count);
  if (problem !== undefined) r.fail(at(path, problem.key), problem.reason);
  const socketActivated = optional(o, 'socketActivated', path, (x, p) => r.boolean(x, p)) ?? false;
  return { name, protocol, port, count, socketActivated };
}

export function readApp(r: Reader, v: JsonValue, path: string): App {
  const o = r.object(v, path);
  const exec = optional(o, 'exec', path, (x, p) => readExec(r, x, p));
  const user = required(r, o, 'user', path, (x, p) => readNonEmptyString(r, x, p));
  const group = required(r, o, 'group', path, (x, p) => readNonEmptyString(r, x, p));
  const app: App = { user, group };
  if (exec !== undefined) app.exec = exec;

  const eventHandlers = optionalList(r, o, 'eventHandlers', path, (x, p) => readEventHandler(r, x, p));
  requireUnique(r, eventHandlers, at(path, 'eventHandlers'), (e) => e.name, 'eventHandler');
  if (eventHandlers) app.eventHandlers = eventHandlers;

  // The spec's own example spells it `supplementaryGids`; the reference matches keys without case.
  const gidsKey =
    field(o, 'supplementaryGIDs') === undefined && field(o, 'supplementaryGids') !== undefined
      ? 'supplementaryGids'
      : 'supplementaryGIDs';
  const gids = optionalList(r, o, gidsKey, path, (x, p) => r.integer(x, p, 0, MAX_ID));
  if (gids) app.supplementaryGIDs = gids;

  const wd = optional(o, 'workingDirectory', path, (x, p) => r.string(x, p));
  if (wd !== undefined && wd !== '') {
    if (!wd.startsWith('/'))
      r.fail(at(path, 'workingDirectory'), `must be an absolute path, got ${JSON.stringify(wd)}`);
    app.workingDirectory = wd;
  }

  const environment = optionalList(r, o, 'environment', path, (x, p) => readEnvironmentVariable(r, x, p));
  requireUnique(r, environment, at(path, 'environment'), (e) => e.name, 'environment variable');
  if (environment) app.environment = environment;

  // Mount point and port names are keys (pod mounts and exposed ports refer to them), so unique.
  const mountPoints = optionalList(r, o, 'mountPoints', path, (x, p) => readMountPoint(r, x, p));
  requireUnique(r, mountPoints, at(path, 'mountPoints'), (m) => m.name, 'mountPoint');
  if (mountPoints) app.mountPoints = mountPoints;

  const ports = optionalList(r, o, 'ports', path, (x, p) => readPort(r, x, p));
  requireUnique(r, ports, at(path, 'ports'), (m) => m.name, 'port');
  if (ports) app.ports = ports;

  const isolators = optionalList(r, o, 'isolators', path, (x, p) =>
    readIsolator(r, x, p, (n, np) => readACIdentifier(r, n, np)),
  );
  checkIsolators(r, isolators, at(path, 'isolators'), 'app');
  if (isolators) app.isolators = isolators;

  const userAnnotations = readStringMap(r, o, 'userAnnotations', path);
  if (userAnnotations) app.userAnnotations = userAnnotations;
  const userLabels = readStringMap(r, o, 'userLabels', path);
  if (userLabels) app.userLabels = userLabels;
  return app;
}

/** An image ID; anything but a full SHA-512 digest is accepted with a warning. */
export function readImageId(r: Reader, v: JsonValue, path: string): string {
  const s = r.string(v, path);
  try {
    parseImageId(s);
  } catch (err) {
    r.fail(path, (err as Error).message);
  }
  // The reference only asks for a non-empty value, and the spec's own example writes `sha512-...`,
  // so a short value passes with a warning. A value as long as a digest claims to be one, and the
  // spec's image ID is a hex digest: it must be 128 lowercase hex digits.
  if (s.length >= FULL_IMAGE_ID_LENGTH && !isFullImageId(s))
    r.fail(path, `image ID ${JSON.stringify(s)} is not a sha512 digest of 128 lowercase hex digits`);
  if (!isFullImageId(s)) r.warn(path, `image ID ${JSON.stringify(s)} is not a full sha512 digest`);
  return s;
}

export function readDependency(r: Reader, v: JsonValue, path: string): Dependency {
  const o = r.object(v, path);
  const dep: Dependency = {
    imageName: required(r, o, 'imageName', path, (x, p) => readACIdentifier(r, x, p)),
  };
  const imageID = optional(o, 'imageID', path, (x, p) => readImageId(r, x, p));
  if (imageID !== undefined) dep.imageID = imageID;
  const labels = readLabels(r, o, path);
  if (labels) dep.labels = labels;
  // The reference omits a zero size when writing, so 0 reads as "not given".
  const size = optional(o, 'size', path, (x, p) => r.integer(x, p, 0, Number.MAX_SAFE_INTEGER));
  if (size) dep.size = size;
  return dep;
}

/** Volume checks shared by the JSON and string forms; returns the offending key and reason. */
export function volumeProblem(v: Volume): { key: string; reason: string } | undefined {
  if (v.kind === 'host') {
    if (v.source === undefined || v.source === '')
      return { key: 'source', reason: 'is required for a host volume' };
    if (!v.source.startsWith('/'))
      return { key: 'source', reason: `must be an absolute path, got ${JSON.stringify(v.source)}` };
    for (const key of ['mode', 'uid', 'gid'] as const) {
      if (v[key] !== undefined) return { key, reason: 'is not allowed on a host volume' };
    }
    return undefined;
  }
  if (v.kind === 'empty') {
    if (v.source !== undefined) return { key: 'source', reason: 'is not allowed on an empty volume' };
    // The spec says the mode is octal; the reference does not check it.
    if (v.mode !== undefined && !/^[0-7]{1,4}$/.test(v.mode)) {
      return {
        key: 'mode',
        reason: `must be an octal mode string like "0755", got ${JSON.stringify(v.mode)}`,
      };
    }
    return undefined;
  }
  return { key: 'kind', reason: `must be "host" or "empty", got ${JSON.stringify(v.kind)}` };
}

/** Fills an empty volume's defaults (mode "0755", uid 0, gid 0) as the reference does on parse. */
export function withVolumeDefaults(v: Volume): Volume {
  if (v.kind !== 'empty') return v;
  return { ...v, mode: v.mode ?? '0755', uid: v.uid ?? 0, gid: v.gid ?? 0 };
}

export function readVolume(r: Reader, v: JsonValue, path: string): Volume {
  const o = r.object(v, path);
  const name = required(r, o, 'name', path, (x, p) => readACName(r, x, p));
  const kind = required(r, o, 'kind', path, (x, p) => r.string(x, p));
  const vol: Volume = { name, kind: kind as Volume['kind'] };
  const source = optional(o, 'source', path, (x, p) => r.string(x, p));
  if (source !== undefined && source !== '') vol.source = source;
  const readOnly = optional(o, 'readOnly', path, (x, p) => r.boolean(x, p));
  if (readOnly !== undefined) vol.readOnly = readOnly;
  const recursive = optional(o, 'recursive', path, (x, p) => r.boolean(x, p));
  if (recursive !== undefined) vol.recursive = recursive;
  const mode = optional(o, 'mode', path, (x, p) => r.string(x, p));
  if (mode !== undefined) vol.mode = mode;
  const uid = optional(o, 'uid', path, (x, p) => r.integer(x, p, 0, MAX_ID));
  if (uid !== undefined) vol.uid = uid;
  const gid = optional(o, 'gid', path, (x, p) => r.integer(x, p, 0, MAX_ID));
  if (gid !== undefined) vol.gid = gid;
  const problem = volumeProblem(vol);
  if (problem !== undefined) r.fail(at(path, problem.key), problem.reason);
  if (vol.kind === 'empty' && vol.recursive !== undefined)
    r.warn(at(path, 'recursive'), 'has no effect on an empty volume');
  return withVolumeDefaults(vol);
}

export function readExposedPort(r: Reader, v: JsonValue, path: string): ExposedPort {
  const o = r.object(v, path);
  const ep: ExposedPort = {
    name: required(r, o, 'name', path, (x, p) => readACName(r, x, p)),
    hostPort: required(r, o, 'hostPort', path, (x, p) => r.integer(x, p, 0, 65535)),
  };
  const hostIP = optional(o, 'hostIP', path, (x, p) => r.string(x, p));
  if (hostIP !== undefined && hostIP !== '') {
    if (isIP(hostIP) === 0) r.fail(at(path, 'hostIP'), `${JSON.stringify(hostIP)} is not an IP address`);
    ep.hostIP = hostIP;
  }
  const podPort = optional(o, 'podPort', path, (x, p) => readPort(r, x, p));
  if (podPort !== undefined) ep.podPort = podPort;
  return ep;
}

export { readAbsolutePath };
