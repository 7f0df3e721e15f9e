/**
 * Docker images from real registries on loopback (test/env: no auth over http, htpasswd over
 * TLS, token over TLS): bin/docker2aci converts every pushed repository, and `rkt fetch docker://`
 * converts and stores them with rkt's rules (--insecure-options=image required, dockerAuth
 * credentials from auth.d, an unchanged image not converted twice).
 */
import assert from 'node:assert/strict';
import { mkdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { parseImageManifest } from '../../../src/appc/index.js';
import { extractAci } from '../../../src/aci/index.js';
import { projectRoot, run, skipUnlessCI, tempDir } from '../../helpers.js';
import { startTestenv, testenvMissing, type Env, type Testenv } from '../docker-sources/testenv.js';
import { checkExpectedTree, checkLatestManifest, convert, tree, validateWithReference } from './expect.js';

const rkt = join(projectRoot, 'bin', 'rkt');

/** The child environment for one registry: its CA and docker config, nothing inherited that could mislead. */
function registryEnv(reg: Env): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = { ...process.env, DOCKER_CONFIG: reg.D2A_REGISTRY_DOCKER_CONFIG };
  delete env.SSL_CERT_FILE;
  if (reg.D2A_REGISTRY_CA !== undefined) env.SSL_CERT_FILE = reg.D2A_REGISTRY_CA;
  return env;
}

describe('docker images from the testenv registries', { skip: skipUnlessCI(testenvMissing) }, () => {
  let testenv: Testenv;
  let work: Awaited<ReturnType<typeof tempDir>>;
  before(async () => {
    testenv = await startTestenv();
    work = await tempDir('rocket-docker-registry-');
  });
  after(async () => {
    await testenv?.stop();
    await work?.cleanup();
  });

  for (const flavour of ['none', 'htpasswd', 'token'] as const) {
    test(`docker2aci converts every repository pushed to the ${flavour} registry`, async () => {
      const reg = testenv.registries[flavour];
      const images = testenv.images(reg);
      const refs = Object.entries(images).filter(([k]) => !k.endsWith('_DIGEST'));
      assert.ok(refs.length >= 8, `images pushed: ${refs.length}`);
      const http = reg.D2A_REGISTRY_TLS === '1' ? [] : ['-insecure-allow-http'];
      for (const [key, ref] of refs) {
        const out = join(work.path, `${flavour}-${key}`);
        await mkdir(out);
        const { files } = await convert(out, [...http, `docker://${ref}`], registryEnv(reg));
        assert.equal(files.length, 1, `${ref}: ${files.join(', ')}`);
        for (const f of files) await validateWithReference(f);
        if (key !== 'IMG_TEST_BUSYBOX_LATEST') continue;
        const rootfs = join(out, 'tree');
        const { manifest } = await extractAci(files[0] as string, rootfs, {});
        checkLatestManifest(manifest);
        checkExpectedTree(tree(join(rootfs, 'rootfs')));
      }
    });
  }

  test('rkt fetch docker:// needs --insecure-options=image, then stores the image once', async () => {
    const reg = testenv.registries.none;
    const ref = `docker://${testenv.images(reg).IMG_TEST_BUSYBOX_LATEST}`;
    const dir = join(work.path, 'rkt-none');
    const refused = await run(rkt, [`--dir=${dir}`, '--insecure-options=http', 'fetch', ref]);
    assert.equal(refused.code, 254);
    assert.match(
      refused.stderr,
      /signature verification for docker images is not supported \(try --insecure-options=image\)/,
    );

    const first = await run(rkt, [`--dir=${dir}`, '--insecure-options=image,http', 'fetch', '--full', ref]);
    assert.equal(first.code, 0, first.stderr);
    const id = first.stdout.trim();
    assert.match(id, /^sha512-[0-9a-f]{64}$/);
    const again = await run(rkt, [
      `--dir=${dir}`,
      '--debug',
      '--insecure-options=image,http',
      'fetch',
      '--full',
      ref,
    ]);
    assert.equal(again.code, 0, again.stderr);
    assert.equal(again.stdout.trim(), id);
    assert.match(again.stderr, /is unchanged/);

    const catManifest = await run(rkt, [`--dir=${dir}`, 'image', 'cat-manifest', id]);
    assert.equal(catManifest.code, 0, catManifest.stderr);
    checkLatestManifest(parseImageManifest(catManifest.stdout).manifest);
    const out = join(work.path, 'rkt-none-extract');
    // --create-devices: the tree is compared whole, /dev/null included (skipped by default).
    const extracted = await run(rkt, [
      `--dir=${dir}`,
      'image',
      'extract',
      '--rootfs-only',
      '--create-devices',
      id,
      out,
    ]);
    assert.equal(extracted.code, 0, extracted.stderr);
    checkExpectedTree(tree(out));
  });

  test('rkt fetch docker:// uses dockerAuth credentials from auth.d over TLS', async () => {
    const reg = testenv.registries.htpasswd;
    const ref = `docker://${testenv.images(reg).IMG_TEST_BUSYBOX_LATEST}`;
    const dir = join(work.path, 'rkt-htpasswd');
    const config = join(work.path, 'rkt-htpasswd-config');
    const env = registryEnv(reg);
    delete env.DOCKER_CONFIG; // rkt reads its own configuration only
    const args = [`--dir=${dir}`, `--local-config=${config}`, '--insecure-options=image', 'fetch', ref];
    const denied = await run(rkt, args, { env });
    assert.equal(denied.code, 254, denied.stderr);
    await mkdir(join(config, 'auth.d'), { recursive: true });
    await writeFile(
      join(config, 'auth.d', 'registry.json'),
      JSON.stringify({
        rktKind: 'dockerAuth',
        rktVersion: 'v1',
        registries: [reg.D2A_REGISTRY],
        credentials: { user: reg.D2A_REGISTRY_USER, password: reg.D2A_REGISTRY_PASSWORD },
      }),
    );
    const ok = await run(rkt, args, { env });
    assert.equal(ok.code, 0, ok.stderr);
    assert.match(ok.stdout.trim(), /^sha512-[0-9a-f]{32}$/);
  });
});
