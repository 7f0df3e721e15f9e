/**
 * bin/docker2aci over test/env's images (built with `build-images.sh --no-push` into a private
 * dir): every input format converts to the expected tree and manifest, the reference actool accepts
 * every ACI, and the --nosquash layers render (dependencies + pathWhitelist) to the squashed tree.
 */
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { createReadStream, existsSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { extractAci, imageIdOf } from '../../../src/aci/index.js';
import type { ImageManifest } from '../../../src/appc/index.js';
import { flattenDependencies, keyOfImageId, renderImages } from '../../../src/store/index.js';
import { projectRoot, run, skipUnlessCI, tempDir } from '../../helpers.js';
import {
  checkExpectedTree,
  checkLatestManifest,
  convert,
  docker2aci,
  tree,
  validateWithReference,
  type Node,
} from './expect.js';

const testenv = join(projectRoot, 'test', 'env');

function missingTools(): string | false {
  for (const tool of ['umoci', 'skopeo']) {
    try {
      execFileSync('sh', ['-c', `command -v ${tool}`], { stdio: 'ignore' });
    } catch {
      return `${tool} is not installed (scripts/setup.sh installs it)`;
    }
  }
  return existsSync(join(testenv, 'build-images.sh')) ? false : `${testenv}/build-images.sh is missing`;
}

const skip = missingTools();

describe('docker2aci over the testenv images', { skip: skipUnlessCI(skip) }, () => {
  let work: { path: string; cleanup: () => Promise<void> };
  const env: Record<string, string> = {};

  before(async () => {
    work = await tempDir('d2a-int-');
    const out = execFileSync('bash', [join(testenv, 'build-images.sh'), '--no-push'], {
      env: { ...process.env, D2A_TESTENV_DIR: join(work.path, 'testenv') },
      encoding: 'utf8',
      stdio: ['ignore', 'pipe', 'ignore'],
    });
    for (const m of out.matchAll(/^export ([A-Z0-9_]+)=(.*)$/gm))
      env[m[1] as string] = (m[2] as string).replace(/^'|'$/g, '');
  });

  after(async () => {
    await work?.cleanup();
  });

  const inputs: [string, () => string, string][] = [
    ['OCI layout (gzip)', () => `oci:${env.OCI_LAYOUT}:latest`, 'oci-latest.aci'],
    ['OCI layout (zstd)', () => `oci:${env.OCI_LAYOUT_ZSTD}:latest`, 'oci-zstd-latest.aci'],
    [
      'OCI layout (uncompressed)',
      () => `oci:${env.OCI_LAYOUT_UNCOMPRESSED}:latest`,
      'oci-uncompressed-latest.aci',
    ],
    ['docker-archive', () => env.DOCKER_ARCHIVE ?? '', 'test-busybox-latest.aci'],
    ['OCI archive', () => `oci-archive:${env.OCI_ARCHIVE}`, ''],
  ];

  for (const [what, arg] of inputs) {
    it(`converts the ${what} to the expected tree and manifest`, async () => {
      const dir = join(work.path, what.replace(/\W+/g, '-'));
      execFileSync('mkdir', ['-p', dir]);
      const { files, stdout } = await convert(dir, [arg()]);
      assert.equal(files.length, 1);
      assert.match(stdout, /\nConverted volumes:\n\tname: "volume-data", path: "\/data", readOnly: false\n/);
      assert.match(
        stdout,
        /\nConverted ports:\n\tname: "53-udp", protocol: "udp", port: 53, count: 1, socketActivated: false\n/,
      );
      const aci = files[0] as string;
      await validateWithReference(aci);
      const ex = await extractAci(aci, join(dir, 'x'));
      checkLatestManifest(ex.manifest);
      checkExpectedTree(tree(join(dir, 'x', 'rootfs')));
    });
  }

  it('maps User "1000" and "1000:100" to user and group', async () => {
    const dir = join(work.path, 'uid');
    execFileSync('mkdir', ['-p', dir]);
    for (const [tag, user, group] of [
      ['uid', '1000', '1000'],
      ['uidgid', '1000', '100'],
    ] as const) {
      const { files, stdout } = await convert(dir, ['-compression=none', `oci:${env.OCI_LAYOUT}:${tag}`]);
      assert.ok(!stdout.includes('Converted volumes'));
      assert.ok(!stdout.includes('Converted ports'));
      const aci = files[0] as string;
      await validateWithReference(aci);
      const ex = await extractAci(aci, join(dir, `x-${tag}`));
      assert.equal(ex.manifest.app?.user, user);
      assert.equal(ex.manifest.app?.group, group);
      assert.deepEqual(ex.manifest.app?.exec, ['/bin/sh', '-c', 'id']);
      assert.equal(ex.manifest.app?.workingDirectory, '/');
      assert.equal(ex.manifest.app?.mountPoints, undefined);
    }
  });

  it('--nosquash layers render to the squashed tree', async () => {
    const dir = join(work.path, 'nosquash');
    execFileSync('mkdir', ['-p', dir]);
    const { files } = await convert(dir, ['-nosquash', `oci:${env.OCI_LAYOUT}:latest`]);
    assert.equal(files.length, 3);
    const byName = new Map<string, { key: string; path: string; manifest: ImageManifest }>();
    for (const f of files) {
      await validateWithReference(f);
      const key = keyOfImageId(await imageIdOf(f));
      const ex = await extractAci(f, join(dir, `m-${byName.size}`));
      byName.set(ex.manifest.name, { key, path: f, manifest: ex.manifest });
    }
    const top = [...byName.values()].find((v) => v.manifest.dependencies !== undefined);
    assert.ok(top !== undefined);
    checkLatestManifest(top.manifest);
    const byKey = new Map([...byName.values()].map((v) => [v.key, v]));
    const flat = await flattenDependencies(
      top.key,
      (k) => (byKey.get(k) as { manifest: ImageManifest }).manifest,
      (dep) => (byName.get(dep.imageName) as { key: string }).key,
    );
    const rendered = join(dir, 'rendered');
    execFileSync('mkdir', ['-p', rendered]);
    await renderImages(flat, rendered, (k) =>
      Promise.resolve(createReadStream((byKey.get(k) as { path: string }).path)),
    );
    const sq = await convert(dir, [`oci:${env.OCI_LAYOUT}:latest`]);
    await extractAci(sq.files[0] as string, join(dir, 'squashed'));
    const a = tree(join(rendered, 'rootfs'));
    const b = tree(join(dir, 'squashed', 'rootfs'));
    checkExpectedTree(a);
    const strip = (t: Map<string, Node>) =>
      [...t].map(([p, n]) => [p, { ...n, ino: 0, mtime: 0 }] as const).sort((x, y) => (x[0] < y[0] ? -1 : 1));
    assert.deepEqual(strip(a), strip(b));
  });

  it('fails with "Error: conversion error:" and exit 1 on a missing file', async () => {
    const r = await run(docker2aci, [join(work.path, 'nope.tar')], { cwd: work.path });
    assert.equal(r.code, 1);
    assert.match(r.stderr, /^Error: conversion error: /);
  });
});
