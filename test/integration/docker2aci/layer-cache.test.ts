/**
 * An updated image downloads only its changed layers: a registry on 127.0.0.1 that counts every
 * blob GET serves an image, then a new version of it that shares its first layer. bin/docker2aci
 * (its layer cache under this process's own XDG_CACHE_HOME) and `rkt fetch docker://` (its layer
 * cache in the store) each fetch both versions; the second fetch must GET only the new layer and
 * the new config, and the result must hold the new file.
 */
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { existsSync, mkdirSync, readFileSync, readdirSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { gzipSync } from 'node:zlib';
import { pack } from 'tar-stream';
import { extractAci } from '../../../src/aci/index.js';
import { projectRoot, run, tempDir, xdgDirs } from '../../helpers.js';

const docker2aci = join(projectRoot, 'bin', 'docker2aci');
const rkt = join(projectRoot, 'bin', 'rkt');
const sha256 = (b: Buffer): string => 'sha256:' + createHash('sha256').update(b).digest('hex');

/** A layer tar with `files` (path → content), uncompressed. */
async function layerTar(files: Record<string, string>): Promise<Buffer> {
  const p = pack();
  const chunks: Buffer[] = [];
  p.on('data', (c: unknown) => chunks.push(c as Buffer));
  const ended = new Promise<void>((resolve, reject) => {
    p.on('end', resolve);
    p.on('error', reject);
  });
  for (const [name, content] of Object.entries(files)) {
    await new Promise<void>((resolve, reject) =>
      p.entry({ name, mode: 0o644, mtime: new Date(0) }, content, (e) => (e ? reject(e) : resolve())),
    );
  }
  p.finalize();
  await ended;
  return Buffer.concat(chunks);
}

interface Image {
  manifest: Buffer;
  blobs: Map<string, Buffer>;
  layers: string[];
  config: string;
}

async function image(layers: Record<string, string>[], cmd: string): Promise<Image> {
  const blobs = new Map<string, Buffer>();
  const descs: { mediaType: string; digest: string; size: number }[] = [];
  const diffIds: string[] = [];
  for (const files of layers) {
    const tar = await layerTar(files);
    const gz = gzipSync(tar);
    blobs.set(sha256(gz), gz);
    diffIds.push(sha256(tar));
    descs.push({
      mediaType: 'application/vnd.docker.image.rootfs.diff.tar.gzip',
      digest: sha256(gz),
      size: gz.length,
    });
  }
  const config = Buffer.from(
    JSON.stringify({
      architecture: 'amd64',
      os: 'linux',
      config: { Cmd: [cmd] },
      rootfs: { type: 'layers', diff_ids: diffIds },
    }),
  );
  blobs.set(sha256(config), config);
  const manifest = Buffer.from(
    JSON.stringify({
      schemaVersion: 2,
      mediaType: 'application/vnd.docker.distribution.manifest.v2+json',
      config: {
        mediaType: 'application/vnd.docker.container.image.v1+json',
        digest: sha256(config),
        size: config.length,
      },
      layers: descs,
    }),
  );
  return { manifest, blobs, layers: descs.map((d) => d.digest), config: sha256(config) };
}

/** A registry serving `current` as test/app:latest, recording the digest of every blob GET. */
class CountingRegistry {
  current: Image | undefined;
  blobGets: string[] = [];
  /** Blobs served with one byte changed (gzip's MTIME field: still a valid gzip of the same tar). */
  corrupt = new Set<string>();
  private server: Server | undefined;
  port = 0;

  async start(): Promise<void> {
    this.server = createServer((req, res) => {
      const url = req.url ?? '';
      res.setHeader('docker-distribution-api-version', 'registry/2.0');
      const img = this.current as Image;
      if (url === '/v2/' || url === '/v2') {
        res.end('{}');
        return;
      }
      if (
        url === '/v2/test/app/manifests/latest' ||
        url === `/v2/test/app/manifests/${sha256(img.manifest)}`
      ) {
        res.setHeader('content-type', 'application/vnd.docker.distribution.manifest.v2+json');
        res.setHeader('docker-content-digest', sha256(img.manifest));
        res.setHeader('content-length', img.manifest.length);
        res.end(req.method === 'HEAD' ? undefined : img.manifest);
        return;
      }
      const blob = /^\/v2\/test\/app\/blobs\/(sha256:[0-9a-f]{64})$/.exec(url);
      let bytes = blob !== null ? img.blobs.get(blob[1] as string) : undefined;
      if (blob !== null && bytes !== undefined) {
        if (this.corrupt.has(blob[1] as string)) {
          bytes = Buffer.from(bytes);
          bytes[4] = (bytes[4] ?? 0) ^ 0x01;
        }
        if (req.method === 'GET') this.blobGets.push(blob[1] as string);
        res.setHeader('content-length', bytes.length);
        res.end(req.method === 'HEAD' ? undefined : bytes);
        return;
      }
      res.statusCode = 404;
      res.end('{"errors":[{"code":"NOT_FOUND"}]}');
    });
    await new Promise<void>((resolve) => (this.server as Server).listen(0, '127.0.0.1', resolve));
    this.port = (this.server.address() as AddressInfo).port;
  }

  stop(): Promise<void> {
    return new Promise((resolve) => (this.server ? this.server.close(() => resolve()) : resolve()));
  }
}

describe('an updated docker image downloads only its changed layers', () => {
  const registry = new CountingRegistry();
  let work: Awaited<ReturnType<typeof tempDir>>;
  let v1: Image;
  let v2: Image;
  before(async () => {
    work = await tempDir('rocket-layer-cache-');
    const base = { 'etc/base': 'the shared base layer\n'.repeat(100) };
    v1 = await image([base, { 'etc/version': 'one\n' }], '/one');
    v2 = await image([base, { 'etc/version': 'two\n' }], '/two');
    assert.equal(v1.layers[0], v2.layers[0]);
    assert.notEqual(v1.layers[1], v2.layers[1]);
    await registry.start();
  });
  after(async () => {
    await registry.stop();
    await work?.cleanup();
  });

  test('docker2aci, with this test process’s own XDG_CACHE_HOME', async () => {
    const cacheHome = xdgDirs.cache;
    assert.equal(process.env.XDG_CACHE_HOME, cacheHome);
    const ref = `docker://127.0.0.1:${registry.port}/test/app:latest`;
    const convert = async (out: string): Promise<void> => {
      mkdirSync(out);
      const r = await run(docker2aci, ['-insecure-allow-http', '-o', out, ref]);
      assert.equal(r.code, 0, r.stderr);
    };

    registry.current = v1;
    registry.blobGets = [];
    await convert(join(work.path, 'd1'));
    assert.deepEqual([...registry.blobGets].sort(), [v1.config, ...v1.layers].sort());
    const cache = join(cacheHome, 'rocket', 'docker-layers');
    assert.ok(existsSync(cache) && readdirSync(cache).length > 0, `no layer cache in ${cache}`);

    registry.current = v2;
    registry.blobGets = [];
    const out = join(work.path, 'd2');
    await convert(out);
    assert.deepEqual([...registry.blobGets].sort(), [v2.config, v2.layers[1] as string].sort());
    const acis = readdirSync(out).filter((f) => f.endsWith('.aci'));
    assert.equal(acis.length, 1, acis.join(', '));
    const tree = join(work.path, 'd2-tree');
    await extractAci(join(out, acis[0] as string), tree, {});
    assert.equal(readFileSync(join(tree, 'rootfs/etc/version'), 'utf8'), 'two\n');
    assert.equal(readFileSync(join(tree, 'rootfs/etc/base'), 'utf8'), 'the shared base layer\n'.repeat(100));
  });

  test('docker2aci refuses a layer whose bytes do not hash to its digest, and caches nothing', async () => {
    const ref = `docker://127.0.0.1:${registry.port}/test/app:latest`;
    const v3 = await image(
      [{ 'etc/base': 'the shared base layer\n'.repeat(100) }, { 'etc/bad': 'x\n' }],
      '/bad',
    );
    const bad = v3.layers[1] as string;
    registry.current = v3;
    registry.corrupt = new Set([bad]);
    try {
      const out = join(work.path, 'd3');
      mkdirSync(out);
      const r = await run(docker2aci, ['-insecure-allow-http', '-o', out, ref]);
      assert.notEqual(r.code, 0);
      assert.match(r.stderr, new RegExp(`blob ${bad}: digest mismatch`));
      assert.ok(registry.blobGets.includes(bad));
      assert.deepEqual(readdirSync(out), []);
      const dir = join(xdgDirs.cache, 'rocket', 'docker-layers', 'sha256');
      const hex = bad.slice('sha256:'.length);
      assert.deepEqual(
        readdirSync(dir).filter((f) => f.startsWith(hex)),
        [],
        'the corrupted layer (or its temp file) was kept in the layer cache',
      );
    } finally {
      registry.corrupt = new Set();
    }
  });

  test('rkt fetch docker://, with the layer cache in the store', async () => {
    const dir = join(work.path, 'store');
    const ref = `docker://127.0.0.1:${registry.port}/test/app:latest`;
    const fetch = () => run(rkt, [`--dir=${dir}`, '--insecure-options=image,http', 'fetch', '--full', ref]);

    registry.current = v1;
    registry.blobGets = [];
    const first = await fetch();
    assert.equal(first.code, 0, first.stderr);
    assert.deepEqual([...registry.blobGets].sort(), [v1.config, ...v1.layers].sort());

    registry.current = v2;
    registry.blobGets = [];
    const second = await fetch();
    assert.equal(second.code, 0, second.stderr);
    assert.notEqual(second.stdout.trim(), first.stdout.trim());
    assert.deepEqual([...registry.blobGets].sort(), [v2.config, v2.layers[1] as string].sort());
    const out = join(work.path, 'rkt-tree');
    const extracted = await run(rkt, [
      `--dir=${dir}`,
      'image',
      'extract',
      '--rootfs-only',
      second.stdout.trim(),
      out,
    ]);
    assert.equal(extracted.code, 0, extracted.stderr);
    assert.equal(readFileSync(join(out, 'etc/version'), 'utf8'), 'two\n');
  });
});
