import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { formatReference, parseDockerReference } from '../../../src/docker/sources/index.js';
import { RocketError } from '../../../src/errors.js';

const DIGEST = 'sha256:ea0d0b4fc0a0e3a4fc4cda8fdd1c29bb5b6ca9c8e9a3e5a0c2b8a9e2c2f1b0a1';

describe('parseDockerReference (docker2aci TestParseDockerURL and §1)', () => {
  const vectors: [string, string, string, string | undefined, string | undefined][] = [
    ['busybox', 'registry-1.docker.io', 'library/busybox', 'latest', undefined],
    ['library/busybox', 'registry-1.docker.io', 'library/busybox', 'latest', undefined],
    ['docker.io/library/busybox', 'registry-1.docker.io', 'library/busybox', 'latest', undefined],
    ['docker.io/library/busybox:1', 'registry-1.docker.io', 'library/busybox', '1', undefined],
    ['gcr.io/google-samples/node-hello:1.0', 'gcr.io', 'google-samples/node-hello', '1.0', undefined],
    [`alpine@${DIGEST}`, 'registry-1.docker.io', 'library/alpine', undefined, DIGEST],
    ['127.0.0.1:5000/test/busybox:latest', '127.0.0.1:5000', 'test/busybox', 'latest', undefined],
    ['localhost/foo', 'localhost', 'foo', 'latest', undefined],
    ['localhost:5000/a/b/c:v1.2-x_y', 'localhost:5000', 'a/b/c', 'v1.2-x_y', undefined],
    [`quay.io/coreos/etcd:v3@${DIGEST}`, 'quay.io', 'coreos/etcd', undefined, DIGEST],
    ['index.docker.io/nginx', 'registry-1.docker.io', 'library/nginx', 'latest', undefined],
    ['[::1]:5000/x', '[::1]:5000', 'x', 'latest', undefined],
  ];
  for (const [input, registry, repository, tag, digest] of vectors) {
    test(input, () => {
      const r = parseDockerReference(input);
      assert.equal(r.registry, registry);
      assert.equal(r.repository, repository);
      assert.equal(r.tag, tag);
      assert.equal(r.digest, digest);
      assert.equal(r.original, input);
    });
  }

  test('docker:// is stripped, and original is the rest (as docker2aci records it)', () => {
    const r = parseDockerReference('docker://127.0.0.1:5000/test/busybox');
    assert.equal(r.registry, '127.0.0.1:5000');
    assert.equal(r.original, '127.0.0.1:5000/test/busybox');
    assert.equal(formatReference(r), '127.0.0.1:5000/test/busybox:latest');
  });

  for (const bad of [
    '',
    'docker://',
    'Busybox',
    'busybox:',
    'busybox:-x',
    'busybox@sha256:abc',
    'a//b',
    'host:5000/UPPER/x',
    'ea0d0b4fc0a0e3a4fc4cda8fdd1c29bb5b6ca9c8e9a3e5a0c2b8a9e2c2f1b0a1',
    `a/${'b'.repeat(300)}`,
  ]) {
    test(`rejects ${JSON.stringify(bad.slice(0, 40))}`, () => {
      assert.throws(
        () => parseDockerReference(bad),
        (e: unknown) => e instanceof RocketError && /invalid docker reference/.test(e.message),
      );
    });
  }
});
