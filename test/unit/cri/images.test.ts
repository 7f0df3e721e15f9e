/** The CRI image service's pure parts: mirrors, AuthConfig, names. */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import * as grpc from '@grpc/grpc-js';
import { ApiError } from '../../../src/api/errors.js';
import { credentialsOf, criRefName, parseImageName, parseMirror } from '../../../src/cri/images.js';

test('--registry-mirror=REGISTRY=URL: host and scheme; anything else is one line naming the flag', () => {
  assert.deepEqual(parseMirror('registry.k8s.io=http://127.0.0.1:5000'), [
    'registry.k8s.io',
    { host: '127.0.0.1:5000', http: true },
  ]);
  assert.deepEqual(parseMirror('docker.io=https://mirror.example/'), [
    'docker.io',
    { host: 'mirror.example', http: false },
  ]);
  for (const bad of [
    'registry.k8s.io',
    '=http://x',
    'r=',
    'r=ftp://x',
    'r=not a url',
    'r=http://x/v2',
    'r=http://u:p@x',
  ]) {
    assert.throws(
      () => parseMirror(bad),
      (e: Error) => e.message.startsWith('--registry-mirror') && !e.message.includes('\n'),
      bad,
    );
  }
});

test('AuthConfig: username/password, or auth as base64 of USER:PASSWORD; tokens are refused', () => {
  assert.equal(credentialsOf(undefined, 'x'), undefined);
  assert.equal(credentialsOf({}, 'x'), undefined);
  assert.deepEqual(credentialsOf({ username: 'u', password: 'p' }, 'x'), { user: 'u', password: 'p' });
  const auth = Buffer.from('u:p:q').toString('base64');
  assert.deepEqual(credentialsOf({ auth }, 'x'), { user: 'u', password: 'p:q' });
  const invalid = (e: unknown): boolean => e instanceof ApiError && e.code === grpc.status.INVALID_ARGUMENT;
  assert.throws(() => credentialsOf({ auth: Buffer.from('nocolon').toString('base64') }, 'x'), invalid);
  assert.throws(() => credentialsOf({ identity_token: 't' }, 'x'), invalid);
  assert.throws(() => credentialsOf({ registry_token: 't' }, 'x'), invalid);
});

test('image names are written as the kubelet writes them', () => {
  const name = (s: string): string => criRefName(parseImageName(s));
  assert.equal(name('busybox'), 'docker.io/library/busybox:latest');
  assert.equal(name('docker.io/library/busybox:1.36'), 'docker.io/library/busybox:1.36');
  assert.equal(name('registry.k8s.io/pause:3.6'), 'registry.k8s.io/pause:3.6');
  const digest = `sha256:${'a'.repeat(64)}`;
  assert.equal(name(`127.0.0.1:5000/t/b@${digest}`), `127.0.0.1:5000/t/b@${digest}`);
  for (const bad of ['', 'docker://busybox', 'Upper', 'a:b:c:d'])
    assert.throws(
      () => parseImageName(bad),
      (e: unknown) => e instanceof ApiError && e.code === grpc.status.INVALID_ARGUMENT,
      bad,
    );
});
