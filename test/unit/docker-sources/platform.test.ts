import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { selectPlatform } from '../../../src/docker/sources/index.js';
import type { Descriptor } from '../../../src/docker/sources/manifest.js';
import { RocketError } from '../../../src/errors.js';

const d = (n: number, os: string, architecture: string, variant?: string): Descriptor => ({
  mediaType: 'application/vnd.oci.image.manifest.v1+json',
  digest: `sha256:${String(n).repeat(64).slice(0, 64)}`,
  platform: { os, architecture, ...(variant !== undefined ? { variant } : {}) },
});

const list = [
  d(1, 'linux', 'amd64'),
  d(2, 'linux', 'arm', 'v6'),
  d(3, 'linux', 'arm', 'v7'),
  d(4, 'linux', 'arm64', 'v8'),
  d(5, 'windows', 'amd64'),
  d(6, 'unknown', 'unknown'),
];

describe('selectPlatform', () => {
  test('linux/amd64 by default name', () =>
    assert.equal(selectPlatform(list, { os: 'linux', architecture: 'amd64' }, 'x'), list[0]));
  test('arm64 without a variant matches v8', () =>
    assert.equal(selectPlatform(list, { os: 'linux', architecture: 'arm64' }, 'x'), list[3]));
  test('arm64/v8 matches an entry without variant too', () =>
    assert.equal(
      selectPlatform([d(7, 'linux', 'arm64')], { os: 'linux', architecture: 'arm64', variant: 'v8' }, 'x')
        .digest,
      d(7, '', '').digest,
    ));
  test('the variant chooses among arm entries', () =>
    assert.equal(selectPlatform(list, { os: 'linux', architecture: 'arm', variant: 'v7' }, 'x'), list[2]));
  test('aliases: x86_64 is amd64, aarch64 is arm64', () => {
    assert.equal(selectPlatform(list, { os: 'linux', architecture: 'x86_64' }, 'x'), list[0]);
    assert.equal(selectPlatform(list, { os: 'linux', architecture: 'aarch64' }, 'x'), list[3]);
  });
  test('the os must match', () =>
    assert.equal(selectPlatform(list, { os: 'windows', architecture: 'amd64' }, 'x'), list[4]));
  test('no match: an error listing what there is (not unknown/unknown attestations)', () => {
    assert.throws(
      () => selectPlatform(list, { os: 'linux', architecture: 's390x' }, 'reg/img'),
      (e: unknown) =>
        e instanceof RocketError &&
        e.message ===
          'reg/img: no image for platform linux/s390x; available: linux/amd64, linux/arm/v6, linux/arm/v7, linux/arm64/v8, windows/amd64',
    );
    assert.throws(
      () => selectPlatform(list, { os: 'linux', architecture: 'arm', variant: 'v5' }, 'x'),
      /linux\/arm\/v5/,
    );
  });
});
