/**
 * The registry client against an in-process fake on 127.0.0.1: token flow (access_token only, a
 * scope with commas), no auth loop, redirects that must lose Authorization, digest verification.
 */
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { Readable } from 'node:stream';
import { after, before, describe, test } from 'node:test';
import { resolveImage } from '../../../src/docker/sources/index.js';
import { verifyingStream } from '../../../src/docker/sources/digest.js';
import { RocketError } from '../../../src/errors.js';

const sha = (b: Buffer | string): string => 'sha256:' + createHash('sha256').update(b).digest('hex');

interface Fake {
  server: Server;
  port: number;
  requests: { url: string; auth: string | undefined }[];
}

function listen(handler: (req: IncomingMessage, res: ServerResponse) => void): Promise<Fake> {
  const requests: Fake['requests'] = [];
  const server = createServer((req, res) => {
    requests.push({ url: req.url ?? '', auth: req.headers.authorization });
    handler(req, res);
  });
  return new Promise((resolve) =>
    server.listen(0, '127.0.0.1', () =>
      resolve({ server, port: (server.address() as AddressInfo).port, requests }),
    ),
  );
}

async function drain(stream: Readable): Promise<Buffer> {
  const parts: Buffer[] = [];
  for await (const c of stream) parts.push(c as Buffer);
  return Buffer.concat(parts);
}

describe('verifyingStream', () => {
  test('passes matching bytes through', async () => {
    const data = Buffer.from('hello');
    assert.deepEqual(await drain(verifyingStream(Readable.from([data]), sha(data), 'blob')), data);
  });
  test('a mismatch errors at the end and destroys the source', async () => {
    const source = Readable.from([Buffer.from('hello'), Buffer.from(' world')]);
    const s = verifyingStream(source, sha('something else'), 'test blob');
    await assert.rejects(
      drain(s),
      (e: unknown) =>
        e instanceof RocketError && /test blob: digest mismatch: expected sha256:/.test(e.message),
    );
    assert.equal(source.destroyed, true);
  });
  test('more bytes than the descriptor size is an error before the end', async () => {
    const data = Buffer.alloc(100);
    await assert.rejects(
      drain(verifyingStream(Readable.from([data]), sha(data), 'b', 10)),
      /more than the 10 bytes/,
    );
  });
  test('an unsupported digest is refused', () => {
    assert.throws(() => verifyingStream(Readable.from([]), 'md5:abcd', 'b'), /unsupported digest/);
  });
});

describe('registry client against a fake registry', () => {
  const layer = Buffer.from('layer bytes');
  const config = Buffer.from(JSON.stringify({ architecture: 'amd64', os: 'linux', config: { Cmd: ['sh'] } }));
  const manifest = Buffer.from(
    JSON.stringify({
      schemaVersion: 2,
      mediaType: 'application/vnd.oci.image.manifest.v1+json',
      config: {
        mediaType: 'application/vnd.oci.image.config.v1+json',
        digest: sha(config),
        size: config.length,
      },
      layers: [
        { mediaType: 'application/vnd.oci.image.layer.v1.tar', digest: sha(layer), size: layer.length },
        { mediaType: 'application/vnd.oci.image.layer.v1.tar', digest: sha('corrupt'), size: layer.length },
      ],
    }),
  );
  let registry: Fake;
  let cdn: Fake;
  let tokenServer: Fake;
  const tokenToGive = 'good-token';

  before(async () => {
    cdn = await listen((_req, res) => res.end(layer));
    tokenServer = await listen((req, res) => {
      res.setHeader('content-type', 'application/json');
      res.end(JSON.stringify({ access_token: req.url?.includes('loop') ? 'never-accepted' : tokenToGive }));
    });
    registry = await listen((req, res) => {
      const url = req.url ?? '';
      res.setHeader('docker-distribution-api-version', 'registry/2.0');
      const scope = url.includes('/loop/') ? 'repository:loop:pull' : 'repository:test/img:pull,push';
      if (req.headers.authorization !== 'Bearer good-token' || url.includes('/loop/')) {
        res.statusCode = 401;
        res.setHeader(
          'www-authenticate',
          `Bearer realm="http://127.0.0.1:${tokenServer.port}/token",service="fake",scope="${scope}"`,
        );
        res.end('{"errors":[{"code":"UNAUTHORIZED","message":"authentication required"}]}');
        return;
      }
      if (url.startsWith('/v2/test/img/manifests/')) {
        res.setHeader('content-type', 'application/vnd.oci.image.manifest.v1+json');
        res.end(manifest);
      } else if (url === `/v2/test/img/blobs/${sha(config)}`) {
        res.end(config);
      } else if (url === `/v2/test/img/blobs/${sha(layer)}`) {
        res.statusCode = 307;
        res.setHeader('location', `http://127.0.0.1:${cdn.port}/blob`);
        res.end();
      } else if (url === `/v2/test/img/blobs/${sha('corrupt')}`) {
        res.end(layer);
      } else {
        res.statusCode = 404;
        res.end('{"errors":[{"code":"MANIFEST_UNKNOWN","message":"manifest unknown"}]}');
      }
    });
  });
  after(() => {
    for (const f of [registry, cdn, tokenServer]) f.server.close();
  });

  test('Bearer token via access_token, scope with commas kept, redirect without Authorization, digest errors', async () => {
    const img = await resolveImage(`docker://127.0.0.1:${registry.port}/test/img:v1`, {
      insecure: { http: true },
      dockerConfig: false,
    });
    try {
      assert.equal(img.manifestDigest, sha(manifest));
      assert.equal(img.configDigest, sha(config));
      assert.deepEqual(img.config.config?.Cmd, ['sh']);
      assert.deepEqual(await drain(await (img.layers[0] as (typeof img.layers)[0]).open()), layer);
      assert.equal(cdn.requests.length, 1);
      assert.equal(cdn.requests[0]?.auth, undefined, 'Authorization must not follow a cross-origin redirect');
      const tokenScopes = tokenServer.requests.map((r) =>
        new URL(r.url, 'http://x').searchParams.get('scope'),
      );
      assert.ok(tokenScopes.includes('repository:test/img:pull,push'));
      await assert.rejects(
        async () => drain(await (img.layers[1] as (typeof img.layers)[0]).open()),
        (e: unknown) =>
          e instanceof RocketError && e.message.includes(`blob ${sha('corrupt')}: digest mismatch`),
      );
    } finally {
      await img.close();
    }
  });

  test('a token the registry keeps refusing ends in an error, not a loop', async () => {
    const before = registry.requests.length;
    await assert.rejects(
      resolveImage(`docker://127.0.0.1:${registry.port}/loop/img`, {
        insecure: { http: true },
        dockerConfig: false,
      }),
      (e: unknown) => e instanceof RocketError && /manifest latest: HTTP 401 UNAUTHORIZED/.test(e.message),
    );
    assert.ok(registry.requests.length - before <= 4, `${registry.requests.length - before} requests`);
  });

  test('plain http needs insecure.http', async () => {
    await assert.rejects(
      resolveImage(`docker://127.0.0.1:${registry.port}/test/img`, { dockerConfig: false }),
      (e: unknown) =>
        e instanceof RocketError && /registry not reachable: .*--insecure-allow-http/.test(e.message),
    );
  });

  test('--image with docker:// is refused as docker2aci does', async () => {
    await assert.rejects(
      resolveImage('docker://busybox', { image: 'x' }),
      /flag --image works only with files\./,
    );
  });
});
