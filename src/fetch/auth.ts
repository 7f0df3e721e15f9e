/**
 * rkt's `auth.d` configuration: `*.json` files directly inside `<config dir>/auth.d/` of the system,
 * local and user config dirs. Each `rktKind: "auth"` file gives credentials for some domains; a
 * later dir overrides an earlier one per domain, and one dir may not name a domain twice. The
 * resulting Authorization header is sent only to hosts that are one of those domains.
 */
import { lstatSync, readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { RKT_FAILURE, RocketError, errorMessage } from '../errors.js';

/** Authorization header value per domain (`host` or `host:port`). */
export type AuthHeaders = ReadonlyMap<string, string>;

function fail(message: string): never {
  throw new RocketError(message, RKT_FAILURE);
}

function isObject(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

function stringField(obj: Record<string, unknown>, field: string): string {
  const v = obj[field];
  return typeof v === 'string' ? v : '';
}

/** The header one auth entry yields, or undefined for types we recognise but cannot sign (aws). */
function headerFor(type: string, credentials: unknown): string | undefined {
  const creds = isObject(credentials) ? credentials : {};
  switch (type) {
    case 'basic': {
      const user = stringField(creds, 'user');
      const password = stringField(creds, 'password');
      if (user === '') fail('no user specified');
      if (password === '') fail('no password specified');
      return 'Basic ' + Buffer.from(`${user}:${password}`).toString('base64');
    }
    case 'oauth': {
      const token = stringField(creds, 'token');
      if (token === '') fail('no oauth bearer token specified');
      return 'Bearer ' + token;
    }
    case 'aws':
      // rkt signs requests for aws entries (AWS v4); Rocket does not sign, so such entries add no
      // header and are skipped rather than fatal.
      return undefined;
    default:
      return fail(`unknown auth type: ${JSON.stringify(type)}`);
  }
}

/** Parses one auth.d file's text into `into` (domains already set from this dir are an error). */
export function parseAuthFile(text: string, into: Map<string, string>, seen: Set<string>): void {
  let doc: unknown;
  try {
    doc = JSON.parse(text);
  } catch (err) {
    fail(errorMessage(err));
  }
  if (!isObject(doc)) fail('not a JSON object');
  const kind = stringField(doc, 'rktKind');
  const version = stringField(doc, 'rktVersion');
  if (kind === '') fail('no rktKind specified');
  if (version === '') fail('no rktVersion specified');
  if (kind === 'dockerAuth') return; // docker registries: used by docker:// only
  if (kind !== 'auth') fail(`expected configuration files of kinds "auth", "dockerAuth", but got ${kind}`);
  if (version !== 'v1') fail(`no parser available for configuration of kind "auth" and version "${version}"`);
  const domains = Array.isArray(doc.domains) ? doc.domains.filter((d) => typeof d === 'string') : [];
  if (domains.length === 0) fail('no domains specified');
  const type = stringField(doc, 'type');
  if (type === '') fail('no auth type specified');
  const header = headerFor(type, doc.credentials);
  for (const domain of domains) {
    if (seen.has(domain)) fail(`auth for domain ${JSON.stringify(domain)} is already specified`);
    seen.add(domain);
    if (header === undefined) into.delete(domain);
    else into.set(domain, header);
  }
}

/** The `*.json` regular files directly in `dir`, in lexical order (none when it is missing). */
export function jsonFilesIn(dir: string): string[] {
  let names: string[];
  try {
    names = readdirSync(dir);
  } catch {
    return [];
  }
  // rkt walks in lexical order and does not recurse or follow symlinks.
  return names
    .sort()
    .filter((n) => n.endsWith('.json'))
    .map((n) => join(dir, n))
    .filter((p) => {
      try {
        return lstatSync(p, { throwIfNoEntry: false })?.isFile() === true;
      } catch {
        return false;
      }
    });
}

/** Reads `auth.d` of each config dir in order (later ones override per domain). */
export function loadAuthHeaders(configDirs: readonly string[]): AuthHeaders {
  const headers = new Map<string, string>();
  for (const dir of configDirs) {
    if (dir === '') continue;
    const seen = new Set<string>();
    for (const path of jsonFilesIn(join(dir, 'auth.d'))) {
      try {
        parseAuthFile(readFileSync(path, 'utf8'), headers, seen);
      } catch (err) {
        fail(`cannot get configuration: failed to parse ${JSON.stringify(path)}: ${errorMessage(err)}`);
      }
    }
  }
  return headers;
}

/** Docker registry credentials, rkt's `dockerAuth` kind: registry host → user and password. */
export type DockerCredentials = Record<string, { user: string; password: string }>;

function parseDockerAuthFile(text: string, into: DockerCredentials, seen: Set<string>): void {
  const doc: unknown = JSON.parse(text);
  if (!isObject(doc) || stringField(doc, 'rktKind') !== 'dockerAuth') return;
  const version = stringField(doc, 'rktVersion');
  if (version !== 'v1')
    fail(`no parser available for configuration of kind "dockerAuth" and version "${version}"`);
  const registries = Array.isArray(doc.registries) ? doc.registries.filter((r) => typeof r === 'string') : [];
  if (registries.length === 0) fail('no registries specified');
  const creds = doc.credentials;
  const user = isObject(creds) ? stringField(creds, 'user') : '';
  const password = isObject(creds) ? stringField(creds, 'password') : '';
  if (user === '' || password === '') fail('no user or password specified');
  for (const registry of registries) {
    if (seen.has(registry))
      fail(`credentials for docker registry ${JSON.stringify(registry)} are already specified`);
    seen.add(registry);
    into[registry] = { user, password };
  }
}

/** Reads the `dockerAuth` files of each config dir's `auth.d` (later dirs override per registry). */
export function loadDockerCredentials(configDirs: readonly string[]): DockerCredentials {
  const creds: DockerCredentials = {};
  for (const dir of configDirs) {
    if (dir === '') continue;
    const seen = new Set<string>();
    for (const path of jsonFilesIn(join(dir, 'auth.d'))) {
      try {
        parseDockerAuthFile(readFileSync(path, 'utf8'), creds, seen);
      } catch (err) {
        fail(`cannot get configuration: failed to parse ${JSON.stringify(path)}: ${errorMessage(err)}`);
      }
    }
  }
  return creds;
}

/** The Authorization header for a URL: its `host:port` entry, else its host name's. */
export function authorizationFor(url: URL, headers: AuthHeaders): string | undefined {
  return headers.get(url.host) ?? headers.get(url.hostname);
}
