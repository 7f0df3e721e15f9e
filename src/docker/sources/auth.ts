/**
 * Registry credentials and challenges: `WWW-Authenticate` parsing (RFC 7235, any number of
 * challenges and parameters, quoted commas kept), and credential lookup from rkt's `dockerAuth`
 * map and from a docker `config.json` (`auths`, `credHelpers`, `credsStore`) or the old `.dockercfg`.
 */
import { execFile } from 'node:child_process';
import { readFile } from 'node:fs/promises';
import { homedir } from 'node:os';
import { join } from 'node:path';
import { RocketError } from '../../errors.js';
import { DOCKER_HUB_REGISTRY } from './reference.js';

export interface Credentials {
  readonly user: string;
  readonly password: string;
}

export interface Challenge {
  /** Lower case: `basic`, `bearer`, ... */
  scheme: string;
  /** Parameter names in lower case. */
  params: Record<string, string>;
}

const TOKEN_CHAR = /[!#$%&'*+\-.^_`|~0-9A-Za-z]/;

/** Every challenge of one or more `WWW-Authenticate` header values. */
export function parseWwwAuthenticate(header: string | readonly string[]): Challenge[] {
  const text = typeof header === 'string' ? header : header.join(', ');
  const out: Challenge[] = [];
  let i = 0;
  const skipSpace = (): void => {
    while (i < text.length && (text[i] === ' ' || text[i] === '\t')) i++;
  };
  const token = (): string => {
    const start = i;
    while (i < text.length && TOKEN_CHAR.test(text[i] as string)) i++;
    return text.slice(start, i);
  };
  const value = (): string => {
    if (text[i] !== '"') return token();
    i++;
    let v = '';
    while (i < text.length && text[i] !== '"') {
      if (text[i] === '\\' && i + 1 < text.length) i++;
      v += text[i];
      i++;
    }
    i++;
    return v;
  };
  /** Whether a `name=` (a parameter, not a new scheme or token68) starts at i. */
  const paramAhead = (): boolean => {
    const save = i;
    const name = token();
    skipSpace();
    const isParam = name !== '' && text[i] === '=' && text[i + 1] !== '=';
    i = save;
    return isParam;
  };
  while (i < text.length) {
    while (i < text.length && (text[i] === ',' || text[i] === ' ' || text[i] === '\t')) i++;
    const scheme = token();
    if (scheme === '') {
      i++;
      continue;
    }
    const challenge: Challenge = { scheme: scheme.toLowerCase(), params: {} };
    out.push(challenge);
    skipSpace();
    if (i < text.length && text[i] !== ',' && !paramAhead()) {
      // A token68 (e.g. `Basic abc==`): registries do not send one, so it is skipped.
      while (i < text.length && text[i] !== ',') i++;
      continue;
    }
    for (;;) {
      while (i < text.length && (text[i] === ',' || text[i] === ' ' || text[i] === '\t')) i++;
      if (i >= text.length || !paramAhead()) break;
      const name = token().toLowerCase();
      skipSpace();
      i++; // '='
      skipSpace();
      challenge.params[name] = value();
    }
  }
  return out;
}

/** `https://host:port/v1/` → `host:port`, for matching config keys. */
export function normalizeHost(key: string): string {
  let k = key.trim();
  const scheme = k.indexOf('://');
  if (scheme !== -1) k = k.slice(scheme + 3);
  const slash = k.indexOf('/');
  if (slash !== -1) k = k.slice(0, slash);
  return k.toLowerCase();
}

const DOCKER_HUB_KEYS = ['index.docker.io', 'docker.io', 'registry-1.docker.io', 'registry.hub.docker.com'];

function keysFor(registry: string): string[] {
  const host = normalizeHost(registry);
  return host === DOCKER_HUB_REGISTRY || DOCKER_HUB_KEYS.includes(host) ? DOCKER_HUB_KEYS : [host];
}

function isRecord(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

function fromAuthEntry(entry: unknown, file: string): Credentials | undefined {
  if (!isRecord(entry)) return undefined;
  if (typeof entry.auth === 'string' && entry.auth !== '') {
    const decoded = Buffer.from(entry.auth, 'base64').toString('utf8');
    const colon = decoded.indexOf(':');
    if (colon === -1) throw new RocketError(`${file}: invalid "auth" entry (not base64 of user:password)`);
    return { user: decoded.slice(0, colon), password: decoded.slice(colon + 1) };
  }
  if (typeof entry.username === 'string' && typeof entry.password === 'string') {
    return { user: entry.username, password: entry.password };
  }
  return undefined;
}

function findIn(map: unknown, keys: readonly string[], file: string): Credentials | undefined {
  if (!isRecord(map)) return undefined;
  for (const [k, v] of Object.entries(map)) {
    if (keys.includes(normalizeHost(k))) {
      const found = fromAuthEntry(v, file);
      if (found !== undefined) return found;
    }
  }
  return undefined;
}

function helperFor(map: unknown, keys: readonly string[]): string | undefined {
  if (!isRecord(map)) return undefined;
  for (const [k, v] of Object.entries(map))
    if (keys.includes(normalizeHost(k)) && typeof v === 'string') return v;
  return undefined;
}

/** `docker-credential-<helper> get`, as docker does; a missing helper or unknown host gives nothing. */
async function fromHelper(helper: string, serverUrl: string): Promise<Credentials | undefined> {
  const out = await new Promise<string | undefined>((resolve) => {
    const child = execFile(`docker-credential-${helper}`, ['get'], { timeout: 30_000 }, (err, stdout) =>
      resolve(err ? undefined : stdout),
    );
    // A helper that exits without reading its stdin fails the write with EPIPE; its exit
    // status already answers (no credentials), so the stream's error is not one of ours.
    child.stdin?.on('error', () => undefined);
    child.stdin?.end(serverUrl);
  });
  if (out === undefined) return undefined;
  try {
    const doc = JSON.parse(out) as unknown;
    if (isRecord(doc) && typeof doc.Username === 'string' && typeof doc.Secret === 'string') {
      return { user: doc.Username, password: doc.Secret };
    }
  } catch {
    // not JSON: no credentials
  }
  return undefined;
}

async function readJson(file: string): Promise<unknown> {
  let text: string;
  try {
    text = await readFile(file, 'utf8');
  } catch {
    return undefined;
  }
  try {
    return JSON.parse(text) as unknown;
  } catch (err) {
    throw new RocketError(`${file}: invalid JSON: ${(err as Error).message}`);
  }
}

export interface CredentialSources {
  /** rkt's `dockerAuth` config: registry host → credentials. Wins over the docker config. */
  explicit?: Readonly<Record<string, Credentials>>;
  /** Directory of a docker `config.json`; default `$DOCKER_CONFIG`, else `~/.docker`. `false`: do not read one. */
  dockerConfigDir?: string | false;
}

/** Credentials for `registry` (host[:port]), or undefined. A missing config file is not an error. */
export async function lookupCredentials(
  registry: string,
  sources: CredentialSources,
): Promise<Credentials | undefined> {
  const keys = keysFor(registry);
  for (const [k, v] of Object.entries(sources.explicit ?? {})) if (keys.includes(normalizeHost(k))) return v;
  if (sources.dockerConfigDir === false) return undefined;
  const env = process.env.DOCKER_CONFIG;
  const dir = sources.dockerConfigDir ?? (env !== undefined && env !== '' ? env : join(homedir(), '.docker'));
  const file = join(dir, 'config.json');
  const config = await readJson(file);
  if (isRecord(config)) {
    const serverUrl = keys === DOCKER_HUB_KEYS ? 'https://index.docker.io/v1/' : (keys[0] as string);
    const helper = helperFor(config.credHelpers, keys);
    if (helper !== undefined) return fromHelper(helper, serverUrl);
    const found = findIn(config.auths, keys, file);
    if (found !== undefined) return found;
    if (typeof config.credsStore === 'string' && config.credsStore !== '')
      return fromHelper(config.credsStore, serverUrl);
    return undefined;
  }
  const legacy = join(homedir(), '.dockercfg');
  return findIn(await readJson(legacy), keys, legacy);
}

export function basicAuthorization(c: Credentials): string {
  return 'Basic ' + Buffer.from(`${c.user}:${c.password}`).toString('base64');
}
