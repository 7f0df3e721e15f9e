/**
 * Fetching one discovery page: `https://PREFIX?ac-discovery=1`, redirects followed, and with
 * `insecure.http` a retry over `http://` when HTTPS fails or answers other than 200 (the reference
 * `httpsOrHTTP`). Errors read like the reference's Go errors (`Get "URL": …`, `expected a 200 OK
 * got 404`) because `actool discover` prints them. undici is loaded only when a page is fetched.
 */
import { caList, extraCaPems } from '../tls-ca.js';
import type { Dispatcher } from 'undici';
import { readACMeta, type ACMeta } from './meta.js';

export interface InsecureDiscovery {
  /** Retry over plain http:// when HTTPS fails or is not 200 (rkt `--insecure-options=http`). */
  readonly http?: boolean;
  /** Accept any TLS certificate and host name (rkt `--insecure-options=tls`). */
  readonly tls?: boolean;
}

export type HeaderSet = Readonly<Record<string, string>>;

export interface TransportResponse {
  readonly status: number;
  /** The Location header of a redirect. */
  readonly location?: string;
  readonly body: AsyncIterable<Uint8Array>;
  /** Drops the unread body so the connection can be reused. */
  discard(): Promise<void>;
}

/** One GET without following redirects; a rejection is a transport failure (no response). */
export interface DiscoveryTransport {
  get(url: URL, headers: HeaderSet, skipTlsVerify: boolean): Promise<TransportResponse>;
  close(): Promise<void>;
}

export interface TransportOptions {
  /**
   * Extra trusted CA certificates (PEM), added to Node's bundled roots. When absent, the file named
   * by SSL_CERT_FILE (which the reference's Go runtime reads) is added if set.
   */
  readonly ca?: string | Buffer | readonly (string | Buffer)[];
  /** Connect, response-headers and body-idle timeout; default 20 s like the reference's dial timeout. */
  readonly timeoutMs?: number;
}

export interface PageOptions {
  readonly port?: number;
  readonly insecure?: InsecureDiscovery;
  /**
   * Headers (e.g. Authorization from rkt's auth.d) per host, looked up by `host:port`, then by host
   * name; applied to every request, redirects included, so credentials go only to their own host.
   */
  readonly hostHeaders?: ReadonlyMap<string, HeaderSet>;
}

export interface DiscoveryPage {
  /** The URL that was asked for (before redirects). */
  readonly url: string;
  readonly metas: ACMeta[];
}

/** A failed fetch of a discovery page; the message is what `discover … walk` lines show. */
export class DiscoveryFetchError extends Error {
  override readonly name = 'DiscoveryFetchError';
}

/** Go's http.Client stops after 10 redirects and then returns the last (3xx) response. */
const MAX_REDIRECTS = 10;
const REDIRECT_STATUSES = new Set([301, 302, 303, 307, 308]);

/** `https://PREFIX?ac-discovery=1`, with the port appended to the host when given. */
export function discoveryURL(scheme: 'https' | 'http', prefix: string, port?: number): URL {
  const url = new URL(`${scheme}://${prefix}`);
  if (port) url.port = String(port);
  url.search = 'ac-discovery=1';
  return url;
}

/** The URL text as the reference prints it: no `/` is added for a bare host. */
function printedURL(scheme: string, prefix: string, port?: number): string {
  const slash = prefix.indexOf('/');
  const host = slash < 0 ? prefix : prefix.slice(0, slash);
  const path = slash < 0 ? '' : prefix.slice(slash);
  return `${scheme}://${host}${port ? `:${port}` : ''}${path}?ac-discovery=1`;
}

function headersFor(url: URL, hostHeaders: ReadonlyMap<string, HeaderSet> | undefined): HeaderSet {
  return hostHeaders?.get(url.host) ?? hostHeaders?.get(url.hostname) ?? {};
}

const UNKNOWN_AUTHORITY = new Set([
  'UNABLE_TO_VERIFY_LEAF_SIGNATURE',
  'UNABLE_TO_GET_ISSUER_CERT',
  'UNABLE_TO_GET_ISSUER_CERT_LOCALLY',
  'SELF_SIGNED_CERT_IN_CHAIN',
  'DEPTH_ZERO_SELF_SIGNED_CERT',
  'CERT_UNTRUSTED',
]);

function errorCode(err: unknown): string | undefined {
  if (typeof err !== 'object' || err === null) return undefined;
  const code = (err as { code?: unknown }).code;
  if (typeof code === 'string') return code;
  return errorCode((err as { cause?: unknown }).cause);
}

/** Node/undici failures in the words Go's net/http uses, so walk lines match the reference. */
export function goNetReason(err: unknown, url: URL): string {
  const code = errorCode(err);
  const message = (err instanceof Error ? err.message : String(err)).trim();
  const port = url.port || (url.protocol === 'https:' ? '443' : '80');
  const addr = `${url.hostname}:${port}`;
  if (code !== undefined && UNKNOWN_AUTHORITY.has(code)) {
    return 'x509: certificate signed by unknown authority';
  }
  // Plain HTTP answering a TLS handshake (OpenSSL's words vary with the record it got).
  if (/wrong version number|packet length too long|http request/i.test(message)) {
    return 'http: server gave HTTP response to HTTPS client';
  }
  switch (code) {
    case 'ECONNREFUSED':
      return `dial tcp ${addr}: connect: connection refused`;
    case 'ECONNRESET':
      return `read tcp ${addr}: read: connection reset by peer`;
    case 'UND_ERR_SOCKET':
      return 'EOF';
    case 'ENOTFOUND':
      return `dial tcp: lookup ${url.hostname}: no such host`;
    case 'ETIMEDOUT':
    case 'UND_ERR_CONNECT_TIMEOUT':
      return `dial tcp ${addr}: i/o timeout`;
    case 'UND_ERR_HEADERS_TIMEOUT':
      return 'net/http: timeout awaiting response headers';
    case 'CERT_HAS_EXPIRED':
    case 'CERT_NOT_YET_VALID':
      return 'x509: certificate has expired or is not yet valid';
    case 'ERR_TLS_CERT_ALTNAME_INVALID':
      return `x509: certificate is not valid for ${url.hostname}`;
  }
  return message;
}

/** A transport on undici (imported on first use), one connection pool per TLS policy. */
export function createUndiciTransport(opts: TransportOptions = {}): DiscoveryTransport {
  const timeout = opts.timeoutMs ?? 20_000;
  const extraCA = opts.ca === undefined ? extraCaPems() : Array.isArray(opts.ca) ? opts.ca : [opts.ca];
  const ca = caList(extraCA as (string | Buffer)[]);
  const agents = new Map<boolean, Dispatcher>();
  let undici: Promise<typeof import('undici')> | undefined;

  async function agentFor(skipTlsVerify: boolean): Promise<Dispatcher> {
    const existing = agents.get(skipTlsVerify);
    if (existing) return existing;
    undici ??= import('undici');
    const { Agent } = await undici;
    const agent = new Agent({
      connect: { timeout, rejectUnauthorized: !skipTlsVerify, ...(ca ? { ca } : {}) },
      headersTimeout: timeout,
      bodyTimeout: timeout,
    });
    agents.set(skipTlsVerify, agent);
    return agent;
  }

  return {
    async get(url, headers, skipTlsVerify) {
      const dispatcher = await agentFor(skipTlsVerify);
      const { request } = await (undici ??= import('undici'));
      const res = await request(url, { method: 'GET', headers: { ...headers }, dispatcher });
      const location = res.headers.location;
      return {
        status: res.statusCode,
        location: Array.isArray(location) ? location[0] : location,
        body: res.body,
        discard: () => res.body.dump().catch(() => undefined),
      };
    },
    async close() {
      const all = [...agents.values()];
      agents.clear();
      await Promise.all(all.map((a) => a.close()));
    },
  };
}

/** One GET with redirects followed; resolves to the final response, rejects with Go-worded errors. */
async function getFollowingRedirects(
  transport: DiscoveryTransport,
  start: URL,
  printed: string,
  opts: PageOptions,
  skipTlsVerify: boolean,
): Promise<TransportResponse> {
  let url = start;
  let shown = printed;
  for (let redirects = 0; ; redirects++) {
    let res: TransportResponse;
    try {
      res = await transport.get(url, headersFor(url, opts.hostHeaders), skipTlsVerify);
    } catch (err) {
      throw new DiscoveryFetchError(`Get ${JSON.stringify(shown)}: ${goNetReason(err, url)}`);
    }
    if (!REDIRECT_STATUSES.has(res.status) || res.location === undefined || redirects === MAX_REDIRECTS) {
      return res;
    }
    await res.discard();
    const next = new URL(res.location, url);
    shown = next.href;
    if (next.protocol !== 'https:' && next.protocol !== 'http:') {
      throw new DiscoveryFetchError(
        `Get ${JSON.stringify(shown)}: unsupported protocol scheme "${next.protocol.slice(0, -1)}"`,
      );
    }
    // A redirect must not take a secure lookup to plain http unless http is allowed.
    if (url.protocol === 'https:' && next.protocol === 'http:' && !opts.insecure?.http) {
      throw new DiscoveryFetchError(`Get ${JSON.stringify(shown)}: redirect from https to http refused`);
    }
    url = next;
  }
}

/**
 * Fetches and scans the discovery page of `prefix`. HTTPS first; with `insecure.http` a failed or
 * non-200 HTTPS answer is retried over http and the http outcome decides.
 */
export async function fetchDiscoveryPage(
  transport: DiscoveryTransport,
  prefix: string,
  opts: PageOptions = {},
): Promise<DiscoveryPage> {
  const skipTlsVerify = opts.insecure?.tls ?? false;
  const attempt = async (scheme: 'https' | 'http'): Promise<{ url: string; res: TransportResponse }> => {
    let start: URL;
    const shown = printedURL(scheme, prefix, opts.port);
    try {
      start = discoveryURL(scheme, prefix, opts.port);
    } catch {
      throw new DiscoveryFetchError(`parse ${JSON.stringify(shown)}: invalid URL`);
    }
    return { url: shown, res: await getFollowingRedirects(transport, start, shown, opts, skipTlsVerify) };
  };

  let outcome: { url: string; res: TransportResponse } | DiscoveryFetchError;
  try {
    outcome = await attempt('https');
  } catch (err) {
    if (!(err instanceof DiscoveryFetchError)) throw err;
    outcome = err;
  }
  if (opts.insecure?.http && (outcome instanceof Error || outcome.res.status !== 200)) {
    if (!(outcome instanceof Error)) await outcome.res.discard();
    outcome = await attempt('http');
  }
  if (outcome instanceof Error) throw outcome;
  if (outcome.res.status !== 200) {
    await outcome.res.discard();
    throw new DiscoveryFetchError(`expected a 200 OK got ${outcome.res.status}`);
  }
  return { url: outcome.url, metas: await readACMeta(outcome.res.body) };
}
