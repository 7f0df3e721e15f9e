/**
 * HTTP(S) downloads for fetch, on node:http/https (undici's client asserted on servers that close
 * the connection while a slow consumer holds the body back): keep-alive agents per client,
 * redirects followed by hand so credentials are chosen per host, the system CA store plus
 * SSL_CERT_FILE (as discovery does; NODE_EXTRA_CA_CERTS works through Node's default store when
 * SSL_CERT_FILE is unset), and rkt's status handling (200, 304 with If-None-Match, 202 to defer a
 * signature).
 */
import { Agent as HttpAgent, request as httpRequest, type IncomingMessage } from 'node:http';
import { Agent as HttpsAgent, request as httpsRequest } from 'node:https';
import type { Readable } from 'node:stream';
import { goNetReason } from '../discovery/index.js';
import { RKT_FAILURE, RocketError } from '../errors.js';
import { authorizationFor, type AuthHeaders } from './auth.js';
import { parseMaxAge } from './policy.js';
import { caList, extraCaPems } from '../tls-ca.js';

export interface HttpOptions {
  /** Accept any certificate and host name (--insecure-options=tls). */
  skipTlsVerify: boolean;
  /** Allow plain http, also when an https URL redirects to it (--insecure-options=http). */
  allowHttp: boolean;
  auth: AuthHeaders;
  /** Connect and idle timeout; the body may take as long as it keeps flowing. */
  timeoutMs?: number;
}

export interface HttpResponse {
  /** 200, 304 (not modified: body empty) or 202 (accepted: try again later). */
  status: 200 | 202 | 304;
  url: URL;
  etag: string;
  maxAge: number;
  /** Content-Length, when the server sent one. */
  length: number | undefined;
  body: Readable;
}

const MAX_REDIRECTS = 10;
const REDIRECTS = new Set([301, 302, 303, 307, 308]);

function fail(message: string): never {
  throw new RocketError(message, RKT_FAILURE);
}

function headerValue(v: string | string[] | undefined): string {
  return (Array.isArray(v) ? v[0] : v) ?? '';
}

export class HttpClient {
  private agents: { http: HttpAgent; https: HttpsAgent } | undefined;

  constructor(private readonly opts: HttpOptions) {}

  private agentsFor(): { http: HttpAgent; https: HttpsAgent } {
    if (this.agents === undefined) {
      const ca = caList(extraCaPems());
      this.agents = {
        http: new HttpAgent({ keepAlive: true }),
        https: new HttpsAgent({
          keepAlive: true,
          rejectUnauthorized: !this.opts.skipTlsVerify,
          ...(ca ? { ca } : {}),
        }),
      };
    }
    return this.agents;
  }

  private checkScheme(url: URL, from?: URL): void {
    if (url.protocol === 'https:') return;
    if (url.protocol !== 'http:') fail(`unsupported URL scheme ${JSON.stringify(url.protocol.slice(0, -1))}`);
    if (this.opts.allowHttp) return;
    if (from !== undefined) fail(`redirect from ${from.href} to plain http ${url.href} refused`);
    fail(`${url.href}: plain http requires --insecure-options=http`);
  }

  /** One GET without following redirects; the socket times out when idle for `timeoutMs`. */
  private request(url: URL, headers: Record<string, string>): Promise<IncomingMessage> {
    const agents = this.agentsFor();
    const timeout = this.opts.timeoutMs ?? 30_000;
    return new Promise((resolve, reject) => {
      const options = { method: 'GET', headers, timeout };
      const req =
        url.protocol === 'https:'
          ? httpsRequest(url, { ...options, agent: agents.https }, resolve)
          : httpRequest(url, { ...options, agent: agents.http }, resolve);
      req.on('timeout', () => req.destroy(new Error('i/o timeout')));
      req.on('error', reject);
      req.end();
    });
  }

  /**
   * GETs `url`, following redirects. Statuses other than 200, 202 and 304 are errors naming the
   * URL; the caller must consume or destroy `body`.
   */
  async get(start: URL, etag = ''): Promise<HttpResponse> {
    let url = start;
    this.checkScheme(url);
    for (let redirects = 0; ; redirects++) {
      const headers: Record<string, string> = {};
      const auth = authorizationFor(url, this.opts.auth);
      if (auth !== undefined) headers.authorization = auth;
      if (etag !== '') headers['if-none-match'] = etag;
      let res: IncomingMessage;
      try {
        res = await this.request(url, headers);
      } catch (err) {
        return fail(`Get ${JSON.stringify(url.href)}: ${goNetReason(err, url)}`);
      }
      const status = res.statusCode ?? 0;
      const location = headerValue(res.headers.location);
      if (REDIRECTS.has(status) && location !== '' && redirects < MAX_REDIRECTS) {
        res.resume();
        const next = new URL(location, url);
        this.checkScheme(next, url);
        url = next;
        continue;
      }
      if (status !== 200 && status !== 202 && status !== 304) {
        res.resume();
        fail(`${url.href}: bad HTTP status code: ${status}`);
      }
      const lengthHeader = headerValue(res.headers['content-length']);
      const length = Number(lengthHeader);
      return {
        status,
        url,
        etag: headerValue(res.headers.etag),
        maxAge: parseMaxAge(headerValue(res.headers['cache-control'])),
        length: lengthHeader !== '' && Number.isFinite(length) ? length : undefined,
        body: res,
      };
    }
  }

  /** A small document (signature, key) held in memory; more than `limit` bytes is an error. */
  async getSmall(url: URL, limit = 1 << 20): Promise<{ status: 200 | 202; bytes: Buffer }> {
    const res = await this.get(url);
    if (res.status === 304) fail(`${url.href}: unexpected 304 Not Modified`);
    const parts: Buffer[] = [];
    let size = 0;
    for await (const chunk of res.body) {
      size += (chunk as Buffer).length;
      if (size > limit) {
        res.body.destroy();
        fail(`${url.href}: larger than ${limit} bytes`);
      }
      parts.push(chunk as Buffer);
    }
    return { status: res.status, bytes: Buffer.concat(parts) };
  }

  close(): Promise<void> {
    this.agents?.http.destroy();
    this.agents?.https.destroy();
    this.agents = undefined;
    return Promise.resolve();
  }
}
