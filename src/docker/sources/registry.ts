/**
 * A Docker Registry HTTP API v2 / OCI distribution client: the `/v2/` ping (https, then http only
 * when allowed), Basic and Bearer auth (tokens cached per scope, one retry per request, never a
 * loop), manifests and blobs, redirects followed by hand so Authorization never leaves the
 * registry's origin. undici is imported on first use.
 */
import type { Readable } from 'node:stream';
import { createSecureContext } from 'node:tls';
import type { Dispatcher } from 'undici';
import { RocketError, errorMessage } from '../../errors.js';
import { basicAuthorization, parseWwwAuthenticate, type Challenge, type Credentials } from './auth.js';
import { parseDigest, verifyingStream } from './digest.js';
import { MANIFEST_ACCEPT, MAX_DOCUMENT_SIZE } from './manifest.js';
import { caList, extraCaPems } from '../../tls-ca.js';

export interface RegistryClientOptions {
  /** Allow plain http (after https fails) and https → http redirects. */
  allowHttp?: boolean;
  /** The flag that allows plain http, named in refusals (default docker2aci's `--insecure-allow-http`). */
  httpFlag?: string;
  /** Do not verify TLS certificates. */
  skipTlsVerify?: boolean;
  credentials?: Credentials;
  /** Extra trusted CA certificates (PEM), added to the system ones. */
  ca?: readonly (string | Buffer)[];
  /** Manifest media types to accept (default: all we can read). */
  accept?: readonly string[];
  /** Timeout for connecting, for headers, and for a stalled body. */
  timeoutMs?: number;
}

export interface FetchedDocument {
  bytes: Buffer;
  contentType: string;
  /** The `Docker-Content-Digest` header, if any. */
  headerDigest: string | undefined;
}

const MAX_REDIRECTS = 10;
const REDIRECTS = new Set([301, 302, 303, 307, 308]);

function headerValue(v: string | string[] | undefined): string {
  return (Array.isArray(v) ? v[0] : v) ?? '';
}

/** The `errors` of a registry's JSON error body, as `CODE: message`, or ''. */
function registryErrors(body: Buffer): string {
  try {
    const doc = JSON.parse(body.toString('utf8')) as { errors?: { code?: unknown; message?: unknown }[] };
    if (!Array.isArray(doc.errors)) return '';
    return doc.errors
      .map((e) => [e.code, e.message].filter((x) => typeof x === 'string').join(': '))
      .join('; ');
  } catch {
    return '';
  }
}

async function readLimited(
  body: Dispatcher.ResponseData['body'],
  limit: number,
  what: string,
): Promise<Buffer> {
  const parts: Buffer[] = [];
  let size = 0;
  for await (const chunk of body) {
    size += (chunk as Buffer).length;
    if (size > limit) {
      body.destroy();
      throw new RocketError(`${what}: larger than ${limit} bytes`);
    }
    parts.push(chunk as Buffer);
  }
  return Buffer.concat(parts);
}

export class RegistryClient {
  private undici: typeof import('undici') | undefined;
  private agent: Dispatcher | undefined;
  private base: URL | undefined;
  /** What the next request carries: a Bearer token or Basic credentials. */
  private authorization: string | undefined;
  private readonly tokens = new Map<string, string>();
  /** `host[:port]/repository`, for messages. */
  readonly name: string;

  constructor(
    readonly registry: string,
    readonly repository: string,
    private readonly opts: RegistryClientOptions = {},
  ) {
    this.name = `${registry}/${repository}`;
  }

  private get httpFlag(): string {
    return this.opts.httpFlag ?? '--insecure-allow-http';
  }

  private fail(what: string): never {
    throw new RocketError(`${this.name}: ${what}`);
  }

  private async load(): Promise<{ undici: typeof import('undici'); agent: Dispatcher }> {
    this.undici ??= await import('undici');
    if (this.agent === undefined) {
      const timeout = this.opts.timeoutMs ?? 30_000;
      const ca = caList([...extraCaPems(), ...(this.opts.ca ?? [])]);
      // One secure context for all connections: parsing the CA list per connection costs ~100 ms.
      const secureContext = ca ? createSecureContext({ ca }) : undefined;
      this.agent = new this.undici.Agent({
        connect: {
          timeout,
          rejectUnauthorized: this.opts.skipTlsVerify !== true,
          ...(secureContext ? { secureContext } : {}),
        },
        headersTimeout: timeout,
        bodyTimeout: timeout * 2,
      });
    }
    return { undici: this.undici, agent: this.agent };
  }

  private async send(url: URL, headers: Record<string, string>): Promise<Dispatcher.ResponseData> {
    const { undici, agent } = await this.load();
    try {
      return await undici.request(url, { method: 'GET', headers, dispatcher: agent });
    } catch (err) {
      const cause = (err as { cause?: unknown }).cause;
      const raw = cause instanceof Error ? `${errorMessage(err)}: ${cause.message}` : errorMessage(err);
      const detail = /wrong version number|packet length too long/.test(raw)
        ? 'TLS handshake failed (the server may speak plain http)'
        : raw.replace(/\s+/g, ' ').trim();
      throw new RocketError(`${this.name}: GET ${url.href}: ${detail}`, 1, { cause: err });
    }
  }

  /** The `/v2/` ping: https first, http only when allowed. Keeps the challenge for the first requests. */
  private async ping(): Promise<void> {
    if (this.base !== undefined) return;
    const schemes = this.opts.allowHttp === true ? ['https', 'http'] : ['https'];
    const problems: string[] = [];
    for (const scheme of schemes) {
      const base = new URL(`${scheme}://${this.registry}/`);
      let res: Dispatcher.ResponseData;
      try {
        res = await this.send(new URL('/v2/', base), {});
      } catch (err) {
        problems.push(errorMessage(err).replace(`${this.name}: `, ''));
        continue;
      }
      await res.body.dump().catch(() => undefined);
      if (res.statusCode === 200 || res.statusCode === 401) {
        this.base = base;
        if (res.statusCode === 401) await this.answerChallenge(res.headers['www-authenticate'], undefined);
        else if (this.opts.credentials !== undefined)
          this.authorization = basicAuthorization(this.opts.credentials);
        return;
      }
      problems.push(`${base.href}v2/: HTTP ${res.statusCode}, not a registry v2 API`);
    }
    const hint = this.opts.allowHttp === true ? '' : ` (plain http needs ${this.httpFlag})`;
    this.fail(`registry not reachable: ${problems.join('; ')}${hint}`);
  }

  /**
   * Sets `authorization` for a 401's challenge. Returns false when there is nothing new to try:
   * the same Bearer scope was just refused, or Basic credentials were already sent or are missing.
   */
  private async answerChallenge(
    header: string | string[] | undefined,
    refused: string | undefined,
  ): Promise<boolean> {
    const challenges: Challenge[] = header === undefined ? [] : parseWwwAuthenticate(header);
    const bearer = challenges.find((c) => c.scheme === 'bearer' && c.params.realm !== undefined);
    if (bearer !== undefined) {
      const scope = bearer.params.scope ?? `repository:${this.repository}:pull`;
      const key = `${bearer.params.realm ?? ''}\n${bearer.params.service ?? ''}\n${scope}`;
      let token = this.tokens.get(key);
      if (token === undefined || `Bearer ${token}` === refused) {
        token = await this.fetchToken(bearer, scope);
        this.tokens.set(key, token);
      }
      const next = `Bearer ${token}`;
      if (next === refused) return false;
      this.authorization = next;
      return true;
    }
    if (this.opts.credentials === undefined) return false;
    const basic = basicAuthorization(this.opts.credentials);
    if (basic === refused) return false;
    this.authorization = basic;
    return true;
  }

  private async fetchToken(challenge: Challenge, scope: string): Promise<string> {
    const realm = challenge.params.realm as string;
    let url: URL;
    try {
      url = new URL(realm);
    } catch {
      return this.fail(`invalid token realm ${JSON.stringify(realm)}`);
    }
    if (url.protocol !== 'https:' && !(url.protocol === 'http:' && this.opts.allowHttp === true)) {
      this.fail(`token realm ${realm} is not https (plain http needs ${this.httpFlag})`);
    }
    if (challenge.params.service !== undefined) url.searchParams.append('service', challenge.params.service);
    url.searchParams.append('scope', scope);
    const headers: Record<string, string> = {};
    if (this.opts.credentials !== undefined)
      headers.authorization = basicAuthorization(this.opts.credentials);
    const res = await this.send(url, headers);
    const body = await readLimited(res.body, 1 << 20, `${this.name}: token from ${realm}`);
    if (res.statusCode !== 200) {
      const detail = registryErrors(body);
      const who =
        this.opts.credentials === undefined
          ? 'no credentials'
          : `user ${JSON.stringify(this.opts.credentials.user)}`;
      this.fail(
        `unable to retrieve auth token from ${realm} (${who}): HTTP ${res.statusCode}${detail ? ` ${detail}` : ''}`,
      );
    }
    let doc: { token?: unknown; access_token?: unknown };
    try {
      doc = JSON.parse(body.toString('utf8')) as typeof doc;
    } catch {
      return this.fail(`token from ${realm}: invalid JSON`);
    }
    const token = typeof doc.token === 'string' && doc.token !== '' ? doc.token : doc.access_token;
    if (typeof token !== 'string' || token === '')
      this.fail(`token from ${realm}: neither "token" nor "access_token"`);
    return token;
  }

  /**
   * GET `path` on the registry with auth, following redirects (Authorization only to the
   * registry's own origin). Resolves with a 2xx response; anything else is an error naming `what`.
   */
  private async get(
    path: string,
    accept: string | undefined,
    what: string,
  ): Promise<Dispatcher.ResponseData> {
    await this.ping();
    const base = this.base as URL;
    let retriedAuth = false;
    for (;;) {
      let url = new URL(path, base);
      let res: Dispatcher.ResponseData | undefined;
      const sentAuth = this.authorization;
      for (let hop = 0; ; hop++) {
        const headers: Record<string, string> = {};
        if (accept !== undefined) headers.accept = accept;
        if (url.origin === base.origin && sentAuth !== undefined) headers.authorization = sentAuth;
        res = await this.send(url, headers);
        const location = headerValue(res.headers.location);
        if (!REDIRECTS.has(res.statusCode) || location === '') break;
        await res.body.dump().catch(() => undefined);
        if (hop >= MAX_REDIRECTS) this.fail(`${what}: too many redirects`);
        const next = new URL(location, url);
        if (next.protocol !== 'https:' && !(next.protocol === 'http:' && this.opts.allowHttp === true)) {
          this.fail(
            `${what}: redirect from ${url.href} to ${next.href} refused (plain http needs ${this.httpFlag})`,
          );
        }
        url = next;
      }
      if (res.statusCode >= 200 && res.statusCode < 300) return res;
      const body = await readLimited(res.body, 1 << 20, what).catch(() => Buffer.alloc(0));
      if (res.statusCode === 401 && url.origin === base.origin && !retriedAuth) {
        retriedAuth = true;
        if (await this.answerChallenge(res.headers['www-authenticate'], sentAuth)) continue;
      }
      const detail = registryErrors(body);
      const hint =
        res.statusCode === 401
          ? this.opts.credentials === undefined
            ? ' (no credentials for this registry)'
            : ' (credentials refused)'
          : '';
      this.fail(`${what}: HTTP ${res.statusCode}${detail ? ` ${detail}` : ''}${hint}`);
    }
  }

  /** A manifest or index by tag or digest, with the Accept list given in the options. */
  async getManifest(reference: string): Promise<FetchedDocument> {
    const what = `manifest ${reference}`;
    const accept = (this.opts.accept ?? MANIFEST_ACCEPT).join(', ');
    const res = await this.get(`/v2/${this.repository}/manifests/${reference}`, accept, what);
    const bytes = await readLimited(res.body, MAX_DOCUMENT_SIZE, `${this.name}: ${what}`);
    const digest = headerValue(res.headers['docker-content-digest']);
    return {
      bytes,
      contentType: headerValue(res.headers['content-type']),
      headerDigest: digest === '' ? undefined : digest,
    };
  }

  /** A blob's bytes as stored, failing at the end unless they hash to `digest`. */
  async openBlob(digest: string, size?: number): Promise<Readable> {
    const what = `blob ${digest}`;
    parseDigest(digest, `${this.name}: ${what}`);
    const res = await this.get(`/v2/${this.repository}/blobs/${digest}`, undefined, what);
    return verifyingStream(res.body, digest, `${this.name}: ${what}`, size);
  }

  /** A small blob (a config) in memory, verified. */
  async readBlob(digest: string, size?: number): Promise<Buffer> {
    const stream = await this.openBlob(digest, size);
    const parts: Buffer[] = [];
    let total = 0;
    for await (const chunk of stream) {
      total += (chunk as Buffer).length;
      if (total > MAX_DOCUMENT_SIZE) {
        stream.destroy();
        this.fail(`blob ${digest}: larger than ${MAX_DOCUMENT_SIZE} bytes`);
      }
      parts.push(chunk as Buffer);
    }
    return Buffer.concat(parts);
  }

  async close(): Promise<void> {
    const agent = this.agent;
    this.agent = undefined;
    await agent?.close();
  }
}
