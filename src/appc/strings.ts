/**
 * The comma-separated string forms the CLIs take (`actool patch-manifest --mounts/--ports`,
 * `rkt run --volume`): `NAME,key=value,...`. As in the reference, the first item is the name, every
 * other item needs `=`, keys may not repeat and unknown keys are errors. Errors are AppcErrors whose
 * message starts with the offending string.
 */
import { AppcError } from './errors.js';
import { portProblem, volumeProblem, withVolumeDefaults } from './fields.js';
import { acNameProblem } from './names.js';
import type { MountPoint, Port, Volume } from './types.js';

function fail(input: string, reason: string): never {
  throw new AppcError(`${JSON.stringify(input)}: ${reason}`);
}

/** Splits `name,k=v,...` into an ordered key→value map with `name` first. */
function parseParams(input: string, allowed: readonly string[]): Map<string, string> {
  const params = new Map<string, string>();
  input.split(',').forEach((part, i) => {
    const item = i === 0 ? `name=${part}` : part;
    const eq = item.indexOf('=');
    if (eq < 0) fail(input, `item ${JSON.stringify(part)} has no value`);
    const key = item.slice(0, eq);
    if (!allowed.includes(key)) fail(input, `unknown parameter ${JSON.stringify(key)}`);
    if (params.has(key)) fail(input, `parameter ${JSON.stringify(key)} given more than once`);
    params.set(key, item.slice(eq + 1));
  });
  const name = params.get('name') ?? '';
  const problem = acNameProblem(name);
  if (problem !== undefined) fail(input, problem);
  return params;
}

/** Go's strconv.ParseBool, which the reference uses for these flags. */
function parseBool(input: string, key: string, s: string): boolean {
  if (['1', 't', 'T', 'true', 'TRUE', 'True'].includes(s)) return true;
  if (['0', 'f', 'F', 'false', 'FALSE', 'False'].includes(s)) return false;
  return fail(input, `${key}: ${JSON.stringify(s)} is not a boolean`);
}

function parseUint16(input: string, key: string, s: string): number {
  if (!/^\d+$/.test(s) || Number(s) > 65535)
    fail(input, `${key}: ${JSON.stringify(s)} is not a number in 0-65535`);
  return Number(s);
}

function parseId(input: string, key: string, s: string): number {
  if (!/^\d+$/.test(s) || Number(s) > 4294967295)
    fail(input, `${key}: ${JSON.stringify(s)} is not a valid id`);
  return Number(s);
}

/** `NAME,kind=host,source=/p[,readOnly=B][,recursive=B]` or `NAME,kind=empty[,readOnly=B][,mode=0755][,uid=N][,gid=N]`. */
export function parseVolumeString(input: string): Volume {
  const p = parseParams(input, ['name', 'kind', 'source', 'readOnly', 'recursive', 'mode', 'uid', 'gid']);
  const vol: Volume = { name: p.get('name') ?? '', kind: (p.get('kind') ?? '') as Volume['kind'] };
  const source = p.get('source');
  if (source !== undefined && source !== '') vol.source = source;
  const readOnly = p.get('readOnly');
  if (readOnly !== undefined) vol.readOnly = parseBool(input, 'readOnly', readOnly);
  const recursive = p.get('recursive');
  if (recursive !== undefined) vol.recursive = parseBool(input, 'recursive', recursive);
  const mode = p.get('mode');
  if (mode !== undefined) vol.mode = mode;
  const uid = p.get('uid');
  if (uid !== undefined) vol.uid = parseId(input, 'uid', uid);
  const gid = p.get('gid');
  if (gid !== undefined) vol.gid = parseId(input, 'gid', gid);
  const problem = volumeProblem(vol);
  if (problem !== undefined) fail(input, `${problem.key} ${problem.reason}`);
  return withVolumeDefaults(vol);
}

/** The string form of a volume, as the reference prints it (empty-volume defaults left out). */
export function volumeToString(v: Volume): string {
  let s = `${v.name},kind=${v.kind}`;
  if (v.source !== undefined && v.source !== '') s += `,source=${v.source}`;
  if (v.readOnly !== undefined) s += `,readOnly=${v.readOnly}`;
  if (v.recursive !== undefined) s += `,recursive=${v.recursive}`;
  if (v.kind === 'empty') {
    if (v.mode !== undefined && v.mode !== '0755') s += `,mode=${v.mode}`;
    if (v.uid !== undefined && v.uid !== 0) s += `,uid=${v.uid}`;
    if (v.gid !== undefined && v.gid !== 0) s += `,gid=${v.gid}`;
  }
  return s;
}

/** `NAME,path=/p[,readOnly=B]` (actool patch-manifest --mounts). */
export function parseMountPointString(input: string): MountPoint {
  const p = parseParams(input, ['name', 'path', 'readOnly']);
  const path = p.get('path') ?? '';
  if (path === '') fail(input, 'path must be set');
  const mp: MountPoint = { name: p.get('name') ?? '', path };
  const readOnly = p.get('readOnly');
  if (readOnly !== undefined && parseBool(input, 'readOnly', readOnly)) mp.readOnly = true;
  return mp;
}

/** `NAME,protocol=tcp,port=80[,count=N][,socketActivated=B]` (actool patch-manifest --ports). */
export function parsePortString(input: string): Port {
  const p = parseParams(input, ['name', 'protocol', 'port', 'count', 'socketActivated']);
  const protocol = p.get('protocol') ?? '';
  if (protocol === '') fail(input, 'protocol must be set');
  const portText = p.get('port');
  if (portText === undefined) fail(input, 'port must be set');
  const port = parseUint16(input, 'port', portText);
  const countText = p.get('count');
  const count = (countText === undefined ? 0 : parseUint16(input, 'count', countText)) || 1;
  const problem = portProblem(port, count);
  if (problem !== undefined) fail(input, `${problem.key} ${problem.reason}`);
  const sa = p.get('socketActivated');
  return {
    name: p.get('name') ?? '',
    protocol,
    port,
    count,
    socketActivated: sa === undefined ? false : parseBool(input, 'socketActivated', sa),
  };
}
