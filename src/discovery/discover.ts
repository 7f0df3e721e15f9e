/**
 * Meta discovery (spec/discovery.md): fetch the app name's discovery page and walk up its path
 * (`a.com/p/s` → `a.com/p` → `a.com`) until a level yields what is wanted. ACI endpoints and public
 * keys are walked separately, each stopping at its own first successful level; every level that
 * could not be fetched is recorded as a failed attempt (a page without matching tags is not a
 * failure, it just does not stop the walk).
 */
import { RocketError } from '../errors.js';
import { withDefaultVersion, type DiscoveryApp } from './app.js';
import {
  DiscoveryFetchError,
  createUndiciTransport,
  fetchDiscoveryPage,
  type DiscoveryPage,
  type DiscoveryTransport,
  type PageOptions,
  type TransportOptions,
} from './http.js';
import { aciEndpointsFromMeta, publicKeysFromMeta, type ACIEndpoint } from './template.js';

export interface DiscoveryOptions extends PageOptions, TransportOptions {
  /** Replaces the undici transport (tests, or a caller sharing connections); not closed by us. */
  readonly transport?: DiscoveryTransport;
}

export interface FailedAttempt {
  readonly prefix: string;
  readonly error: string;
}

export interface DiscoveredEndpoints {
  readonly endpoints: readonly ACIEndpoint[];
  readonly attempts: readonly FailedAttempt[];
  /** The version label was missing and `latest` was used. */
  readonly versionDefaulted: boolean;
}

export interface DiscoveredPublicKeys {
  readonly publicKeys: readonly string[];
  readonly attempts: readonly FailedAttempt[];
}

/** Nothing found at any level; `attempts` lists the levels that could not be fetched. */
export class DiscoveryError extends RocketError {
  readonly attempts: readonly FailedAttempt[];

  constructor(attempts: readonly FailedAttempt[]) {
    super('discovery failed');
    this.name = 'DiscoveryError';
    this.attempts = attempts;
  }
}

/** `a.com/p/s` → [`a.com/p/s`, `a.com/p`, `a.com`]. */
export function walkPrefixes(name: string): string[] {
  const parts = name.split('/');
  return parts.map((_, i) => parts.slice(0, parts.length - i).join('/'));
}

/**
 * Runs discoveries with one transport and one page cache, so looking up endpoints and then keys
 * fetches each level once. Close it when done (it owns its connections unless given a transport).
 */
export class DiscoveryClient {
  private readonly transport: DiscoveryTransport;
  private readonly ownsTransport: boolean;
  private readonly pages = new Map<string, Promise<DiscoveryPage>>();

  constructor(private readonly opts: DiscoveryOptions = {}) {
    this.ownsTransport = opts.transport === undefined;
    this.transport = opts.transport ?? createUndiciTransport(opts);
  }

  private page(prefix: string): Promise<DiscoveryPage> {
    let page = this.pages.get(prefix);
    if (!page) {
      page = fetchDiscoveryPage(this.transport, prefix, this.opts);
      this.pages.set(prefix, page);
    }
    return page;
  }

  private async walk<T>(
    app: DiscoveryApp,
    pick: (page: DiscoveryPage) => T[],
  ): Promise<{ found: T[]; attempts: FailedAttempt[] }> {
    const attempts: FailedAttempt[] = [];
    for (const prefix of walkPrefixes(app.name)) {
      let page: DiscoveryPage;
      try {
        page = await this.page(prefix);
      } catch (err) {
        if (!(err instanceof DiscoveryFetchError)) throw err;
        attempts.push({ prefix, error: err.message });
        continue;
      }
      const found = pick(page);
      if (found.length > 0) return { found, attempts };
    }
    throw new DiscoveryError(attempts);
  }

  /** The image/signature URLs for `app` (`version` defaults to `latest`); throws DiscoveryError. */
  async aciEndpoints(app: DiscoveryApp): Promise<DiscoveredEndpoints> {
    const { app: versioned, versionDefaulted } = withDefaultVersion(app);
    const { found, attempts } = await this.walk(versioned, (page) =>
      aciEndpointsFromMeta(versioned, page.metas),
    );
    return { endpoints: found, attempts, versionDefaulted };
  }

  /** The public key URLs that apply to `app`; throws DiscoveryError. */
  async publicKeys(app: DiscoveryApp): Promise<DiscoveredPublicKeys> {
    const { found, attempts } = await this.walk(app, (page) => publicKeysFromMeta(app, page.metas));
    return { publicKeys: found, attempts };
  }

  async close(): Promise<void> {
    this.pages.clear();
    if (this.ownsTransport) await this.transport.close();
  }
}

async function withClient<T>(
  opts: DiscoveryOptions,
  fn: (client: DiscoveryClient) => Promise<T>,
): Promise<T> {
  const client = new DiscoveryClient(opts);
  try {
    return await fn(client);
  } finally {
    await client.close();
  }
}

export function discoverACIEndpoints(
  app: DiscoveryApp,
  opts: DiscoveryOptions = {},
): Promise<DiscoveredEndpoints> {
  return withClient(opts, (c) => c.aciEndpoints(app));
}

export function discoverPublicKeys(
  app: DiscoveryApp,
  opts: DiscoveryOptions = {},
): Promise<DiscoveredPublicKeys> {
  return withClient(opts, (c) => c.publicKeys(app));
}
