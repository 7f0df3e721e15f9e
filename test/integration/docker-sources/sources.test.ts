/**
 * Image sources against test/env: three local registries (no auth over http; htpasswd over
 * TLS; token over TLS with anonymous pull), and the docker-archive, OCI layout and OCI archive files
 * build-images.sh writes. Every layer is read to its end, so every digest is checked.
 */
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { cp, mkdir, readdir, readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { gzipSync } from 'node:zlib';
import { after, before, describe, test } from 'node:test';
import { resolveImage, type SourceOptions } from '../../../src/docker/sources/index.js';
import { MEDIA } from '../../../src/docker/sources/manifest.js';
import { parseDockerReference } from '../../../src/docker/sources/reference.js';
import { RegistryClient } from '../../../src/docker/sources/registry.js';
import { resolveRemote } from '../../../src/docker/sources/remote.js';
import type { ResolvedImage } from '../../../src/docker/types.js';
import { RocketError } from '../../../src/errors.js';
import { skipUnlessCI, tempDir } from '../../helpers.js';
import { startTestenv, testenvMissing, type Env, type Testenv } from './testenv.js';

const LATEST_CONFIG = 'sha256:f157f7ab8fed50ead95b1c73798a9df71997a0fa582da53dde6d0fdf1da8451c';
const LATEST_MANIFEST = 'sha256:c2c2d39c27c308c7161a6e789568cbea89609bb2749433668478a4961150fc8f';

/** Reads every layer to its end; returns each layer's sha256 of the bytes as stored. */
async function readLayers(img: ResolvedImage): Promise<string[]> {
  const out: string[] = [];
  for (const layer of img.layers) {
    const hash = createHash('sha256');
    let size = 0;
    for await (const chunk of await layer.open()) {
      hash.update(chunk as Buffer);
      size += (chunk as Buffer).length;
    }
    if (layer.size !== undefined) assert.equal(size, layer.size);
    out.push(`sha256:${hash.digest('hex')}`);
  }
  return out;
}

async function resolveAndRead(arg: string, opts: SourceOptions): Promise<ResolvedImage> {
  const img = await resolveImage(arg, opts);
  try {
    assert.deepEqual(
      await readLayers(img),
      img.layers.map((l) => l.digest),
    );
  } finally {
    await img.close();
  }
  return img;
}

function imageList(images: Env): [string, string, string | undefined][] {
  return Object.keys(images)
    .filter((k) => k.startsWith('IMG_') && !k.endsWith('_DIGEST'))
    .map((k) => [k, images[k] as string, images[`${k}_DIGEST`]]);
}

function checkImage(key: string, img: ResolvedImage, digest: string | undefined): void {
  const multi = key.startsWith('IMG_TEST_MULTIARCH');
  assert.equal(img.layers.length, multi ? 4 : 3, key);
  assert.equal(img.config.architecture, 'amd64', key);
  assert.equal(img.config.os, 'linux', key);
  if (!multi) assert.equal(img.manifestDigest, digest, key);
  else assert.notEqual(img.manifestDigest, digest, `${key}: the platform manifest, not the index`);
  if (key === 'IMG_TEST_BUSYBOX_LATEST') {
    assert.equal(img.configDigest, LATEST_CONFIG);
    assert.deepEqual(img.config.config?.Entrypoint, ['/bin/sh', '-c']);
    assert.equal(img.config.config?.User, 'app');
  }
}

describe('docker image sources against the testenv registry', { skip: skipUnlessCI(testenvMissing) }, () => {
  let env: Testenv;
  let work: Awaited<ReturnType<typeof tempDir>>;
  const started = Date.now();

  before(async () => {
    env = await startTestenv();
    work = await tempDir('rocket-d2a-sources-');
    process.stderr.write(`# testenv up in ${Date.now() - started} ms\n`);
  });
  after(async () => {
    await env?.stop();
    await work?.cleanup();
  });

  const flavours: [string, (e: Testenv) => [Env, SourceOptions]][] = [
    ['no auth, http', (e) => [e.registries.none, { insecure: { http: true }, dockerConfig: false }]],
    [
      'htpasswd + TLS, credentials from DOCKER_CONFIG',
      (e) => [
        e.registries.htpasswd,
        {
          ca: e.registries.htpasswd.D2A_REGISTRY_CA,
          dockerConfig: e.registries.htpasswd.D2A_REGISTRY_DOCKER_CONFIG,
        },
      ],
    ],
    [
      'token + TLS, anonymous pull',
      (e) => [e.registries.token, { ca: e.registries.token.D2A_REGISTRY_CA, dockerConfig: false }],
    ],
  ];
  for (const [name, setup] of flavours) {
    test(`${name}: every pushed image, by tag and by digest`, async () => {
      const [registry, opts] = setup(env);
      const list = imageList(env.images(registry));
      assert.ok(list.length >= 8, `${list.length} images`);
      for (const [key, ref, digest] of list) {
        checkImage(key, await resolveAndRead(`docker://${ref}`, opts), digest);
        const byDigest = await resolveAndRead(
          `docker://${ref.replace(/:[^:/]+$/, '')}@${digest ?? ''}`,
          opts,
        );
        assert.equal(byDigest.reference.tag, undefined);
        assert.equal(byDigest.reference.digest, digest);
        checkImage(key, byDigest, digest);
      }
    });
  }

  test('manifest list and OCI index: platform selection and the error listing platforms', async () => {
    const r = env.registries.none;
    const opts: SourceOptions = { insecure: { http: true }, dockerConfig: false };
    for (const repo of ['test/multiarch', 'test/multiarch-docker']) {
      const arm = await resolveAndRead(`docker://${r.D2A_REGISTRY}/${repo}`, {
        ...opts,
        platform: { os: 'linux', architecture: 'arm64' },
      });
      assert.equal(arm.config.architecture, 'arm64');
      await assert.rejects(
        resolveImage(`docker://${r.D2A_REGISTRY}/${repo}`, {
          ...opts,
          platform: { os: 'linux', architecture: 's390x' },
        }),
        (e: unknown) =>
          e instanceof RocketError &&
          /no image for platform linux\/s390x; available: linux\/amd64, linux\/arm64/.test(e.message),
      );
    }
    const layout = await resolveAndRead(`oci:${env.files.OCI_LAYOUT}:multi`, {
      platform: { os: 'linux', architecture: 'arm64', variant: 'v8' },
    });
    assert.equal(layout.config.architecture, 'arm64');
  });

  test('htpasswd: explicit credentials win over the docker config; none or wrong ones are refused', async () => {
    const r = env.registries.htpasswd;
    const ref = `docker://${r.D2A_REGISTRY}/test/busybox`;
    const base: SourceOptions = { ca: r.D2A_REGISTRY_CA };
    await assert.rejects(resolveImage(ref, { ...base, dockerConfig: false }), /HTTP 401.*no credentials/);
    const good = { [r.D2A_REGISTRY as string]: { user: 'testuser', password: 'testpassword' } };
    checkImage(
      'IMG_TEST_BUSYBOX_LATEST',
      await resolveAndRead(ref, { ...base, dockerConfig: false, credentials: good }),
      LATEST_MANIFEST,
    );
    const wrong = { [r.D2A_REGISTRY as string]: { user: 'testuser', password: 'nope' } };
    await assert.rejects(
      resolveImage(ref, { ...base, dockerConfig: r.D2A_REGISTRY_DOCKER_CONFIG, credentials: wrong }),
      /HTTP 401.*credentials refused/,
    );
  });

  test('TLS: an unknown CA is refused unless verification is off', async () => {
    const r = env.registries.token;
    const ref = `docker://${r.D2A_REGISTRY}/test/busybox:uid`;
    await assert.rejects(resolveImage(ref, { dockerConfig: false }), /registry not reachable: .*certificate/);
    await resolveAndRead(ref, { dockerConfig: false, insecure: { tls: true } });
  });

  test('token: credentials from DOCKER_CONFIG go to the token server', async () => {
    const r = env.registries.token;
    const img = await resolveAndRead(`docker://${r.D2A_REGISTRY}/test/busybox-v2s2`, {
      ca: r.D2A_REGISTRY_CA,
      dockerConfig: r.D2A_REGISTRY_DOCKER_CONFIG,
    });
    assert.equal(img.configDigest, LATEST_CONFIG);
    const log = await readFile(r.D2A_REGISTRY_TOKEN_LOG as string, 'utf8');
    assert.match(log, /testuser/);
  });

  test('schema1 (what the registry serves to old clients): layers, config and the JWS payload digest', async () => {
    const r = env.registries.none;
    const ref = parseDockerReference(`${r.D2A_REGISTRY}/test/busybox-v2s2`);
    const accept = [MEDIA.dockerSchema1Signed];
    const client = new RegistryClient(ref.registry, ref.repository, { allowHttp: true, accept });
    const doc = await client.getManifest('latest');
    await client.close();
    assert.match(doc.contentType, /prettyjws/);
    const img = await resolveRemote(ref, {
      platform: { os: 'linux', architecture: 'amd64' },
      credentials: undefined,
      allowHttp: true,
      accept,
    });
    try {
      assert.equal(img.manifestDigest, doc.headerDigest);
      const v2 = await resolveImage(`docker://${r.D2A_REGISTRY}/test/busybox-v2s2`, {
        insecure: { http: true },
        dockerConfig: false,
      });
      await v2.close();
      assert.deepEqual(
        img.layers.map((l) => l.digest),
        v2.layers.map((l) => l.digest),
      );
      assert.deepEqual(img.config.config?.Cmd, ['echo hello from $FOO']);
      assert.deepEqual(
        await readLayers(img),
        img.layers.map((l) => l.digest),
      );
    } finally {
      await img.close();
    }
  });

  test('docker-archive: single, multi with -image, and the error listing images', async () => {
    const single = await resolveAndRead(env.files.DOCKER_ARCHIVE as string, {});
    assert.equal(single.configDigest, LATEST_CONFIG);
    assert.equal(single.reference.registry, '');
    assert.equal(single.reference.repository, 'test/busybox');
    assert.equal(single.reference.tag, 'latest');
    assert.deepEqual(
      single.layers.map((l) => l.digest),
      (single.config.rootfs?.diff_ids ?? []).slice(),
    );

    const multi = env.files.DOCKER_ARCHIVE_MULTI as string;
    await assert.rejects(
      resolveImage(multi, {}),
      (e: unknown) =>
        e instanceof RocketError &&
        e.message.includes(
          'several images found, use option --image with one of:\n\ndocker.io/test/busybox:latest\ndocker.io/test/other:1.0',
        ),
    );
    const other = await resolveAndRead(multi, { image: 'test/other:1.0' });
    assert.equal(other.reference.repository, 'test/other');
    assert.equal(other.reference.tag, '1.0');
    assert.notEqual(other.configDigest, LATEST_CONFIG);
    const onlyTag = await resolveAndRead(multi, { image: 'test/other' });
    assert.equal(onlyTag.configDigest, other.configDigest);
    assert.equal(
      (await resolveAndRead(multi, { image: 'docker.io/test/busybox' })).configDigest,
      LATEST_CONFIG,
    );
    await assert.rejects(resolveImage(multi, { image: 'test/other:2' }), /tag "2" not found/);
    await assert.rejects(resolveImage(multi, { image: 'nothere' }), /image "nothere" not found/);
  });

  test('docker-archive compressed with gzip: files spooled under tmpDir, removed by close()', async () => {
    const gz = join(work.path, 'archive.tar.gz');
    await writeFile(gz, gzipSync(await readFile(env.files.DOCKER_ARCHIVE as string)));
    const spool = join(work.path, 'spool');
    await mkdir(spool);
    const img = await resolveImage(gz, { tmpDir: spool });
    assert.equal((await readdir(spool)).length, 1);
    assert.deepEqual(
      await readLayers(img),
      img.layers.map((l) => l.digest),
    );
    await img.close();
    assert.deepEqual(await readdir(spool), []);
  });

  test('OCI layouts (gzip, zstd, uncompressed) and the OCI archive', async () => {
    const cases: [string, string][] = [
      [`oci:${env.files.OCI_LAYOUT}:latest`, 'gzip'],
      [`oci:${env.files.OCI_LAYOUT_ZSTD}`, 'zstd'],
      [`oci:${env.files.OCI_LAYOUT_UNCOMPRESSED}`, 'none'],
      [`oci-archive:${env.files.OCI_ARCHIVE}`, 'gzip'],
      [`oci-archive:${env.files.OCI_ARCHIVE}:latest`, 'gzip'],
    ];
    for (const [arg, compression] of cases) {
      const img = await resolveAndRead(arg, {});
      assert.equal(img.configDigest, LATEST_CONFIG, arg);
      assert.equal(img.layers.length, 3, arg);
      const want = compression === 'zstd' ? /zstd/ : compression === 'gzip' ? /gzip/ : /tar$/;
      for (const l of img.layers) assert.match(l.mediaType, want, arg);
    }
    const uid = await resolveAndRead(`oci:${env.files.OCI_LAYOUT}:uid`, {});
    assert.equal(uid.config.config?.User, '1000');
    await assert.rejects(
      resolveImage(`oci:${env.files.OCI_LAYOUT}`, {}),
      /several images found.*latest, uid, uidgid/,
    );
    await assert.rejects(
      resolveImage(`oci:${env.files.OCI_LAYOUT}:nope`, {}),
      /no image with reference "nope"/,
    );
  });

  test('a corrupted layer blob or config: digest errors naming the blob', async () => {
    const copy = join(work.path, 'corrupt');
    await cp(env.files.OCI_LAYOUT as string, copy, { recursive: true });
    const img = await resolveImage(`oci:${copy}:latest`, {});
    const layer = img.layers[0] as ResolvedImage['layers'][0];
    const blob = join(copy, 'blobs', 'sha256', layer.digest.slice('sha256:'.length));
    const bytes = await readFile(blob);
    const mid = bytes.length >> 1;
    bytes[mid] = (bytes[mid] ?? 0) ^ 0xff;
    await writeFile(blob, bytes);
    await assert.rejects(
      readLayers(img),
      (e: unknown) =>
        e instanceof RocketError && e.message.includes(`layer ${layer.digest}: digest mismatch`),
    );
    await img.close();
    const configBlob = join(copy, 'blobs', 'sha256', LATEST_CONFIG.slice('sha256:'.length));
    await writeFile(configBlob, '{"architecture":"amd64"}');
    await assert.rejects(
      resolveImage(`oci:${copy}:latest`, {}),
      new RegExp(`blob ${LATEST_CONFIG}: digest mismatch`),
    );
  });
});
