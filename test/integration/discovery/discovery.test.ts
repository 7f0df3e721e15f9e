/** Discovery over real loopback HTTP and HTTPS (own CA), through undici. */
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import {
  DiscoveryClient,
  DiscoveryError,
  discoverACIEndpoints,
  discoverPublicKeys,
  newApp,
  type DiscoveryOptions,
} from '../../../src/discovery/index.js';
import { tempDir } from '../../helpers.js';
import { closedPort, makeCA, startServer, type TestCA } from './servers.js';

const PAGE =
  '<!DOCTYPE html><html><head>' +
  '<meta name="ac-discovery" content="127.0.0.1 https://storage.example/{name}-{version}.{ext}">' +
  '<meta name="ac-discovery-pubkeys" content="127.0.0.1 https://keys.example/pubkeys.gpg">' +
  '</head></html>';

const app = newApp('127.0.0.1/org/app', [['version', '1.0']]);
const EP = {
  aci: 'https://storage.example/127.0.0.1/org/app-1.0.aci',
  asc: 'https://storage.example/127.0.0.1/org/app-1.0.aci.asc',
};

async function attemptsOf(p: Promise<unknown>): Promise<readonly { prefix: string; error: string }[]> {
  const err = await p.then(
    () => undefined,
    (e: unknown) => e,
  );
  assert.ok(err instanceof DiscoveryError, `expected a DiscoveryError, got ${String(err)}`);
  return err.attempts;
}

let ca: TestCA;
let cleanup: () => Promise<void>;
before(async () => {
  const dir = await tempDir('rocket-discovery-');
  cleanup = dir.cleanup;
  ca = makeCA(dir.path);
});
after(() => cleanup());

describe('plain HTTP server', () => {
  test('walk-up with insecure, attempts worded like the reference', async () => {
    const server = await startServer({
      both: { '/org/app': { reset: true }, '/org': '<html>no tags</html>', '/': PAGE },
    });
    try {
      const opts: DiscoveryOptions = { port: server.port, insecure: { http: true, tls: true } };
      const found = await discoverACIEndpoints(app, opts);
      assert.deepEqual(found.endpoints, [EP]);
      assert.deepEqual(found.attempts, [
        {
          prefix: '127.0.0.1/org/app',
          error: `Get "http://127.0.0.1:${server.port}/org/app?ac-discovery=1": EOF`,
        },
      ]);
      const keys = await discoverPublicKeys(app, opts);
      assert.deepEqual(keys.publicKeys, ['https://keys.example/pubkeys.gpg']);
      assert.ok(server.requests.every((r) => r.url.endsWith('?ac-discovery=1')));
    } finally {
      await server.close();
    }
  });

  test('refused without insecure: HTTPS against an HTTP server', async () => {
    const server = await startServer({ both: { '/': PAGE } });
    try {
      const attempts = await attemptsOf(discoverACIEndpoints(app, { port: server.port }));
      assert.equal(attempts.length, 3);
      assert.equal(
        attempts[2]?.error,
        `Get "https://127.0.0.1:${server.port}?ac-discovery=1": http: server gave HTTP response to HTTPS client`,
      );
      assert.equal(server.requests.length, 0);
    } finally {
      await server.close();
    }
  });

  test('connection refused', async () => {
    const port = await closedPort();
    const attempts = await attemptsOf(
      discoverPublicKeys(newApp('127.0.0.1/x'), { port, insecure: { http: true } }),
    );
    assert.deepEqual(attempts, [
      {
        prefix: '127.0.0.1/x',
        error: `Get "http://127.0.0.1:${port}/x?ac-discovery=1": dial tcp 127.0.0.1:${port}: connect: connection refused`,
      },
      {
        prefix: '127.0.0.1',
        error: `Get "http://127.0.0.1:${port}?ac-discovery=1": dial tcp 127.0.0.1:${port}: connect: connection refused`,
      },
    ]);
  });
});

describe('HTTPS server with its own CA', () => {
  test('found when the CA is trusted', async () => {
    const server = await startServer({ https: { '/org': PAGE } }, ca);
    try {
      const found = await discoverACIEndpoints(app, { port: server.port, ca: ca.ca });
      assert.deepEqual(found.endpoints, [EP]);
      assert.deepEqual(found.attempts, [{ prefix: '127.0.0.1/org/app', error: 'expected a 200 OK got 404' }]);
      assert.ok(server.requests.every((r) => r.scheme === 'https'));
    } finally {
      await server.close();
    }
  });

  test('refused without the CA; accepted with insecure tls', async () => {
    const server = await startServer({ https: { '/': PAGE } }, ca);
    try {
      const attempts = await attemptsOf(discoverACIEndpoints(newApp('127.0.0.1/x'), { port: server.port }));
      assert.deepEqual(
        attempts.map((a) => a.error),
        [
          `Get "https://127.0.0.1:${server.port}/x?ac-discovery=1": x509: certificate signed by unknown authority`,
          `Get "https://127.0.0.1:${server.port}?ac-discovery=1": x509: certificate signed by unknown authority`,
        ],
      );
      assert.equal(server.requests.length, 0);
      const found = await discoverACIEndpoints(newApp('127.0.0.1/x'), {
        port: server.port,
        insecure: { tls: true },
      });
      assert.equal(found.endpoints.length, 1);
    } finally {
      await server.close();
    }
  });

  test('https→http fallback only with insecure http', async () => {
    const server = await startServer({ http: { '/org/app': PAGE } }, ca);
    try {
      const opts = { port: server.port, ca: ca.ca };
      await attemptsOf(discoverACIEndpoints(app, opts));
      assert.ok(server.requests.every((r) => r.scheme === 'https'));
      server.requests.length = 0;
      const found = await discoverACIEndpoints(app, { ...opts, insecure: { http: true } });
      assert.deepEqual(found.endpoints, [EP]);
      assert.deepEqual(found.attempts, []);
      assert.deepEqual(
        server.requests.map((r) => r.scheme),
        ['https', 'http'],
      );
    } finally {
      await server.close();
    }
  });

  test('redirects are followed; host headers are sent; each level fetched once per client', async () => {
    const server = await startServer(
      { https: { '/org/app': { status: 302, location: '/elsewhere' }, '/elsewhere': PAGE } },
      ca,
    );
    try {
      const host = `127.0.0.1:${server.port}`;
      const client = new DiscoveryClient({
        port: server.port,
        ca: ca.ca,
        hostHeaders: new Map([[host, { authorization: 'Basic YmFyOmJheg==' }]]),
      });
      try {
        assert.deepEqual((await client.aciEndpoints(app)).endpoints, [EP]);
        assert.deepEqual((await client.publicKeys(app)).publicKeys, ['https://keys.example/pubkeys.gpg']);
      } finally {
        await client.close();
      }
      assert.deepEqual(
        server.requests.map((r) => [r.url, r.headers.authorization]),
        [
          ['/org/app?ac-discovery=1', 'Basic YmFyOmJheg=='],
          ['/elsewhere', 'Basic YmFyOmJheg=='],
        ],
      );
    } finally {
      await server.close();
    }
  });
});
