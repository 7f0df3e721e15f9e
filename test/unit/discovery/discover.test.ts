/**
 * The walk and the https/http policy with a fake transport: the reference discovery_test.go and
 * http_test.go vectors, plus redirects, headers and the error wording.
 */
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import { describe, test } from 'node:test';
import {
  DiscoveryClient,
  DiscoveryError,
  discoverACIEndpoints,
  discoverPublicKeys,
  fetchDiscoveryPage,
  goNetReason,
  newApp,
  walkPrefixes,
  type DiscoveryTransport,
  type HeaderSet,
  type InsecureDiscovery,
  type TransportResponse,
} from '../../../src/discovery/index.js';
import { projectRoot } from '../../helpers.js';

const page = (n: string): string => readFileSync(join(projectRoot, 'test/fixtures/discovery', n), 'utf8');

type Reply = { status: number; body?: string; location?: string } | Error;

interface FakeTransport extends DiscoveryTransport {
  readonly requests: { url: string; headers: HeaderSet; skipTlsVerify: boolean }[];
}

function fakeTransport(reply: (url: URL, headers: HeaderSet) => Reply): FakeTransport {
  const requests: FakeTransport['requests'] = [];
  return {
    requests,
    get(url, headers, skipTlsVerify): Promise<TransportResponse> {
      requests.push({ url: url.href, headers, skipTlsVerify });
      const r = reply(url, headers);
      if (r instanceof Error) return Promise.reject(r);
      const body = Buffer.from(r.body ?? '');
      return Promise.resolve({
        status: r.status,
        location: r.location,
        body: Readable.from([body]),
        discard: () => Promise.resolve(),
      });
    },
    close: () => Promise.resolve(),
  };
}

/** The reference's fakeHTTPGet: a page per path (any scheme), 404 elsewhere, optional header check. */
function pagesByPath(pages: Record<string, string>, header?: HeaderSet): FakeTransport {
  return fakeTransport((url, headers) => {
    if (header && JSON.stringify(headers) !== JSON.stringify(header)) return new Error('wrong header');
    const file = pages[url.pathname === '/' ? '' : url.pathname];
    return file ? { status: 200, body: page(file) } : { status: 404 };
  });
}

const LABELS: [string, string][] = [
  ['version', '1.0.0'],
  ['os', 'linux'],
  ['arch', 'amd64'],
];
const MYAPP_EP = {
  aci: 'https://storage.example.com/example.com/myapp-1.0.0-linux-amd64.aci',
  asc: 'https://storage.example.com/example.com/myapp-1.0.0-linux-amd64.aci.asc',
};
const KEYS = ['https://example.com/pubkeys.gpg'];
const AUTH = { Authorization: 'Basic YmFyOmJheg==' };

interface WalkCase {
  what: string;
  pages: Record<string, string>;
  app: [string, [string, string][]];
  endpoints?: { aci: string; asc: string }[];
  keys?: string[];
  auth?: boolean;
}

const walkCases: WalkCase[] = [
  {
    what: 'endpoints and keys at the app level',
    pages: { '/myapp': 'meta01.html' },
    app: ['example.com/myapp', LABELS],
    endpoints: [MYAPP_EP],
    keys: KEYS,
  },
  {
    what: 'walking up to the root',
    pages: { '': 'meta01.html' },
    app: ['example.com/myapp/foobar', LABELS],
    endpoints: [
      {
        aci: 'https://storage.example.com/example.com/myapp/foobar-1.0.0-linux-amd64.aci',
        asc: 'https://storage.example.com/example.com/myapp/foobar-1.0.0-linux-amd64.aci.asc',
      },
    ],
    keys: KEYS,
  },
  {
    what: 'no tags on any walked path',
    pages: { '/path/out/of/myapp': 'meta01.html' },
    app: ['example.com/myapp/foobar/bazzer', LABELS],
  },
  {
    what: 'endpoints at /, keys at /myapp',
    pages: { '': 'meta02.html', '/myapp': 'meta03.html' },
    app: ['example.com/myapp', LABELS],
    endpoints: [MYAPP_EP],
    keys: KEYS,
  },
  {
    what: 'keys at /, endpoints at /myapp',
    pages: { '': 'meta03.html', '/myapp': 'meta02.html' },
    app: ['example.com/myapp', LABELS],
    endpoints: [MYAPP_EP],
    keys: KEYS,
  },
  {
    what: 'only endpoints anywhere',
    pages: { '': 'meta02.html' },
    app: ['example.com/myapp', LABELS],
    endpoints: [MYAPP_EP],
  },
  {
    what: 'only keys anywhere',
    pages: { '': 'meta03.html' },
    app: ['example.com/myapp', LABELS],
    keys: KEYS,
  },
  {
    what: 'the deeper level wins for endpoints',
    pages: { '': 'meta04.html', '/myapp': 'meta02.html' },
    app: ['example.com/myapp', LABELS],
    endpoints: [MYAPP_EP],
    keys: KEYS,
  },
  {
    what: 'a template with missing labels is skipped',
    pages: { '/myapp': 'meta05.html' },
    app: ['example.com/myapp', [['version', '1.0.0']]],
    endpoints: [
      {
        aci: 'https://storage.example.com/example.com/myapp-1.0.0.aci',
        asc: 'https://storage.example.com/example.com/myapp-1.0.0.aci.asc',
      },
    ],
    keys: KEYS,
  },
  {
    what: 'version defaults to latest',
    pages: { '/myapp': 'meta05.html' },
    app: ['example.com/myapp', []],
    endpoints: [
      {
        aci: 'https://storage.example.com/example.com/myapp-latest.aci',
        asc: 'https://storage.example.com/example.com/myapp-latest.aci.asc',
      },
    ],
    keys: KEYS,
  },
  {
    what: 'a label called name is ignored',
    pages: { '/myapp': 'meta05.html' },
    app: [
      'example.com/myapp',
      [
        ['name', 'labelcalledname'],
        ['version', '1.0.0'],
      ],
    ],
    endpoints: [
      {
        aci: 'https://storage.example.com/example.com/myapp-1.0.0.aci',
        asc: 'https://storage.example.com/example.com/myapp-1.0.0.aci.asc',
      },
    ],
    keys: KEYS,
  },
  {
    what: 'several endpoints',
    pages: { '/myapp': 'meta06.html' },
    app: ['example.com/myapp', LABELS],
    endpoints: [
      MYAPP_EP,
      {
        aci: 'https://storage.example.com/example.com/myapp-1.0.0.aci',
        asc: 'https://storage.example.com/example.com/myapp-1.0.0.aci.asc',
      },
      {
        aci: 'hdfs://storage.example.com/example.com/myapp-1.0.0-linux-amd64.aci',
        asc: 'hdfs://storage.example.com/example.com/myapp-1.0.0-linux-amd64.aci.asc',
      },
    ],
    keys: KEYS,
  },
  {
    what: 'an auth header for the host',
    pages: { '/myapp': 'meta01.html' },
    app: ['example.com/myapp', LABELS],
    endpoints: [MYAPP_EP],
    keys: KEYS,
    auth: true,
  },
];

const insecureModes: InsecureDiscovery[] = [{}, { tls: true }, { http: true }, { tls: true, http: true }];

describe('walk (reference discovery_test.go)', () => {
  for (const c of walkCases) {
    for (const insecure of insecureModes) {
      test(`${c.what} ${JSON.stringify(insecure)}`, async () => {
        const transport = pagesByPath(c.pages, c.auth ? AUTH : undefined);
        const hostHeaders = c.auth ? new Map([['example.com', AUTH]]) : undefined;
        const app = newApp(...c.app);
        const opts = { transport, insecure, hostHeaders };
        if (c.endpoints) {
          assert.deepEqual((await discoverACIEndpoints(app, opts)).endpoints, c.endpoints);
        } else {
          await assert.rejects(discoverACIEndpoints(app, opts), DiscoveryError);
        }
        if (c.keys) {
          assert.deepEqual((await discoverPublicKeys(app, opts)).publicKeys, c.keys);
        } else {
          await assert.rejects(discoverPublicKeys(app, opts), DiscoveryError);
        }
        assert.ok(transport.requests.every((r) => r.skipTlsVerify === (insecure.tls ?? false)));
      });
    }
  }
});

describe('walk details', () => {
  test('walkPrefixes', () => {
    assert.deepEqual(walkPrefixes('a.com/p/s'), ['a.com/p/s', 'a.com/p', 'a.com']);
    assert.deepEqual(walkPrefixes('a.com'), ['a.com']);
  });

  test('records failed levels, not levels without tags; reports versionDefaulted', async () => {
    const transport = fakeTransport((url) => {
      if (url.pathname === '/a/b/c') return new Error('boom');
      if (url.pathname === '/a/b') return { status: 200, body: '<html></html>' };
      if (url.pathname === '/a') return { status: 404 };
      return {
        status: 200,
        body: '<meta name=ac-discovery content="x.com https://s/{name}-{version}.{ext}">',
      };
    });
    const found = await discoverACIEndpoints(newApp('x.com/a/b/c'), { transport });
    assert.deepEqual(found.attempts, [
      { prefix: 'x.com/a/b/c', error: 'Get "https://x.com/a/b/c?ac-discovery=1": boom' },
      { prefix: 'x.com/a', error: 'expected a 200 OK got 404' },
    ]);
    assert.equal(found.versionDefaulted, true);
    assert.deepEqual(found.endpoints, [
      { aci: 'https://s/x.com/a/b/c-latest.aci', asc: 'https://s/x.com/a/b/c-latest.aci.asc' },
    ]);
  });

  test('a failed discovery carries its attempts', async () => {
    const transport = fakeTransport(() => ({ status: 500 }));
    const err = await discoverPublicKeys(newApp('x.com/a'), { transport }).then(
      () => undefined,
      (e: unknown) => e,
    );
    assert.ok(err instanceof DiscoveryError);
    assert.equal(err.message, 'discovery failed');
    assert.equal(err.exitCode, 1);
    assert.deepEqual(err.attempts, [
      { prefix: 'x.com/a', error: 'expected a 200 OK got 500' },
      { prefix: 'x.com', error: 'expected a 200 OK got 500' },
    ]);
  });

  test('a client fetches each level once for endpoints and keys', async () => {
    const transport = pagesByPath({ '': 'meta01.html' });
    const client = new DiscoveryClient({ transport });
    const app = newApp('example.com/myapp/x', LABELS);
    await client.aciEndpoints(app);
    await client.publicKeys(app);
    await client.close();
    assert.equal(transport.requests.length, 3);
  });

  test('the port goes on the host', async () => {
    const transport = pagesByPath({ '/myapp': 'meta01.html' });
    await discoverACIEndpoints(newApp('example.com/myapp', LABELS), { transport, port: 8443 });
    assert.equal(transport.requests[0]?.url, 'https://example.com:8443/myapp?ac-discovery=1');
  });
});

describe('https or http (reference http_test.go)', () => {
  const ok = page('meta01.html');
  /** The reference's fakeHTTPOrHTTPSGet. */
  const server = (httpOK: boolean, httpsOK: boolean, errorCode: number, header?: HeaderSet): FakeTransport =>
    fakeTransport((url, headers) => {
      if (header && JSON.stringify(headers) !== JSON.stringify(header)) return new Error('wrong header');
      if ((url.protocol === 'https:' && httpsOK) || (url.protocol === 'http:' && httpOK))
        return { status: 200, body: ok };
      if (errorCode > 0) return { status: errorCode };
      return new Error('failed as requested');
    });
  const cases: [string, InsecureDiscovery, FakeTransport, string | undefined, HeaderSet?][] = [
    ['good-server', {}, server(true, true, 0), 'https://good-server?ac-discovery=1'],
    ['good-server-no-tls', { tls: true }, server(true, true, 0), 'https://good-server-no-tls?ac-discovery=1'],
    ['file-not-found', {}, server(false, false, 404), undefined],
    ['file-not-found-no-tls', { tls: true }, server(false, false, 404), undefined],
    ['completely-broken-server', {}, server(false, false, 0), undefined],
    ['file-only-on-http', {}, server(true, false, 404), undefined],
    [
      'file-only-on-http',
      { http: true },
      server(true, false, 404),
      'http://file-only-on-http?ac-discovery=1',
    ],
    [
      'https-server-is-down',
      { http: true },
      server(true, false, 0),
      'http://https-server-is-down?ac-discovery=1',
    ],
    ['coreos.com', {}, server(false, true, 0, AUTH), 'https://coreos.com?ac-discovery=1', AUTH],
  ];
  for (const [name, insecure, transport, url, header] of cases) {
    test(`${name} ${JSON.stringify(insecure)}`, async () => {
      const hostHeaders = header ? new Map([[name, header]]) : undefined;
      const result = fetchDiscoveryPage(transport, name, { insecure, hostHeaders });
      if (url === undefined) {
        await assert.rejects(result);
      } else {
        const p = await result;
        assert.equal(p.url, url);
        assert.equal(p.metas.length, 2);
      }
    });
  }

  test('without insecure http, a 404 over https is final', async () => {
    const transport = server(true, false, 404);
    await assert.rejects(fetchDiscoveryPage(transport, 'h'), { message: 'expected a 200 OK got 404' });
    assert.deepEqual(
      transport.requests.map((r) => r.url),
      ['https://h/?ac-discovery=1'],
    );
  });

  test('with insecure http, the http outcome is reported', async () => {
    const transport = fakeTransport((url) =>
      url.protocol === 'https:' ? new Error('tls broke') : new Error('refused'),
    );
    await assert.rejects(fetchDiscoveryPage(transport, 'h/p', { insecure: { http: true } }), {
      message: 'Get "http://h/p?ac-discovery=1": refused',
    });
  });
});

describe('redirects', () => {
  test('followed, relative or absolute, with per-host headers', async () => {
    const transport = fakeTransport((url) => {
      if (url.pathname === '/app') return { status: 301, location: '/moved' };
      if (url.pathname === '/moved') return { status: 307, location: 'https://other.com/final' };
      return { status: 200, body: '<meta name=ac-discovery-pubkeys content="a.com k">' };
    });
    const hostHeaders = new Map([
      ['a.com', { Authorization: 'A' }],
      ['other.com', { Authorization: 'B' }],
    ]);
    const p = await fetchDiscoveryPage(transport, 'a.com/app', { hostHeaders });
    assert.equal(p.url, 'https://a.com/app?ac-discovery=1');
    assert.deepEqual(
      transport.requests.map((r) => [r.url, r.headers.Authorization]),
      [
        ['https://a.com/app?ac-discovery=1', 'A'],
        ['https://a.com/moved', 'A'],
        ['https://other.com/final', 'B'],
      ],
    );
  });

  test('after 10 redirects the last 3xx is the answer', async () => {
    const transport = fakeTransport(() => ({ status: 302, location: '/loop' }));
    await assert.rejects(fetchDiscoveryPage(transport, 'a.com/x'), { message: 'expected a 200 OK got 302' });
    assert.equal(transport.requests.length, 11);
  });

  test('https to http only with insecure http', async () => {
    const reply = (url: URL): Reply =>
      url.protocol === 'https:' ? { status: 302, location: 'http://a.com/plain' } : { status: 200, body: '' };
    await assert.rejects(fetchDiscoveryPage(fakeTransport(reply), 'a.com'), {
      message: 'Get "http://a.com/plain": redirect from https to http refused',
    });
    const t = fakeTransport(reply);
    await fetchDiscoveryPage(t, 'a.com', { insecure: { http: true } });
    assert.equal(t.requests.at(-1)?.url, 'http://a.com/plain');
  });

  test('other schemes refused', async () => {
    const transport = fakeTransport(() => ({ status: 302, location: 'ftp://a.com/x' }));
    await assert.rejects(fetchDiscoveryPage(transport, 'a.com'), {
      message: 'Get "ftp://a.com/x": unsupported protocol scheme "ftp"',
    });
  });
});

describe('goNetReason', () => {
  const url = new URL('https://127.0.0.1:8443/x');
  const withCode = (code: string, message = code): Error => Object.assign(new Error(message), { code });
  test('maps node and undici errors to Go wording', () => {
    assert.equal(
      goNetReason(withCode('ECONNREFUSED'), url),
      'dial tcp 127.0.0.1:8443: connect: connection refused',
    );
    assert.equal(goNetReason(withCode('UND_ERR_SOCKET'), url), 'EOF');
    assert.equal(
      goNetReason(withCode('DEPTH_ZERO_SELF_SIGNED_CERT'), url),
      'x509: certificate signed by unknown authority',
    );
    assert.equal(
      goNetReason(withCode('UNABLE_TO_VERIFY_LEAF_SIGNATURE'), url),
      'x509: certificate signed by unknown authority',
    );
    assert.equal(
      goNetReason(withCode('ENOTFOUND'), new URL('https://nx.example/')),
      'dial tcp: lookup nx.example: no such host',
    );
    assert.equal(
      goNetReason(withCode('EPROTO', 'ssl3_get_record:wrong version number'), url),
      'http: server gave HTTP response to HTTPS client',
    );
    assert.equal(
      goNetReason(new Error('x', { cause: withCode('ECONNREFUSED') }), new URL('http://h/')),
      'dial tcp h:80: connect: connection refused',
    );
    assert.equal(goNetReason(new Error('plain'), url), 'plain');
  });
});
