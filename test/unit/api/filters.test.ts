import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { imageMatches, matchesAny, podMatches, sameImageId } from '../../../src/api/filters.js';
import type { Image, ImageFilter, Pod, PodFilter } from '../../../src/api/types.js';

const FULL_A = 'sha512-' + 'a'.repeat(128);
const KEY_A = FULL_A.slice(0, 'sha512-'.length + 64);
const FULL_B = 'sha512-' + 'b'.repeat(128);

function image(over: Partial<Image> = {}): Image {
  return {
    base_format: { type: 'IMAGE_TYPE_APPC', version: '0.8.11' },
    id: KEY_A,
    name: 'example.com/etcd',
    version: '3.0',
    import_timestamp: '1000',
    manifest: Buffer.alloc(0),
    size: 10,
    annotations: [{ Key: 'authors', value: 'alice' }],
    labels: [
      { Key: 'version', value: '3.0' },
      { Key: 'arch', value: 'amd64' },
    ],
    ...over,
  };
}

const imageFilter = (over: Partial<ImageFilter>): ImageFilter => ({
  ids: [],
  prefixes: [],
  base_names: [],
  keywords: [],
  labels: [],
  imported_after: '0',
  imported_before: '0',
  annotations: [],
  full_names: [],
  ...over,
});

function pod(over: Partial<Pod> = {}): Pod {
  const app = (name: string, id: string): Pod['apps'][number] => ({
    name,
    image: { ...image(), id },
    state: 'APP_STATE_RUNNING',
    exit_code: -1,
    annotations: [],
  });
  return {
    id: '11111111-2222-4333-8444-555555555555',
    pid: 42,
    state: 'POD_STATE_RUNNING',
    apps: [app('web', FULL_A), app('db', FULL_B)],
    networks: [{ name: 'default', ipv4: '172.16.28.2', ipv6: '' }],
    manifest: Buffer.alloc(0),
    annotations: [{ Key: 'coreos.com/rkt/stage1/mutable', value: 'false' }],
    cgroup: '/rkt-11111111-2222-4333-8444-555555555555',
    created_at: '0',
    started_at: '0',
    gc_marked_at: '0',
    ...over,
  };
}

const podFilter = (over: Partial<PodFilter>): PodFilter => ({
  ids: [],
  states: [],
  app_names: [],
  image_ids: [],
  network_names: [],
  annotations: [],
  cgroups: [],
  pod_sub_cgroups: [],
  ...over,
});

describe('image filters', () => {
  const cases: [string, Partial<ImageFilter>, boolean][] = [
    ['empty filter', {}, true],
    ['id (store key)', { ids: ['sha512-x', KEY_A] }, true],
    ['id (full image ID, an extension)', { ids: [FULL_A] }, true],
    ['id other', { ids: [FULL_B] }, false],
    ['id shorter than a key is no match', { ids: [KEY_A.slice(0, 20)] }, false],
    ['prefix', { prefixes: ['example.org/', 'example.com/'] }, true],
    ['prefix mismatch', { prefixes: ['coreos.com/'] }, false],
    ['base name', { base_names: ['etcd'] }, true],
    ['base name is the whole last segment', { base_names: ['etc'] }, false],
    ['keyword', { keywords: ['zzz', 'tcd'] }, true],
    ['keyword mismatch', { keywords: ['backup'] }, false],
    ['full name', { full_names: ['example.com/etcd'] }, true],
    ['full name is exact', { full_names: ['example.com/et'] }, false],
    [
      'all labels',
      {
        labels: [
          { Key: 'arch', value: 'amd64' },
          { Key: 'version', value: '3.0' },
        ],
      },
      true,
    ],
    ['label with another value', { labels: [{ Key: 'arch', value: 'arm64' }] }, false],
    ['label missing', { labels: [{ Key: 'os', value: 'linux' }] }, false],
    ['annotation', { annotations: [{ Key: 'authors', value: 'alice' }] }, true],
    ['annotation mismatch', { annotations: [{ Key: 'authors', value: 'bob' }] }, false],
    ['imported after (strict)', { imported_after: '999' }, true],
    ['imported after, equal time', { imported_after: '1000' }, false],
    ['imported before (strict)', { imported_before: '1001' }, true],
    ['imported before, equal time', { imported_before: 1000 }, false],
    ['conditions are ANDed', { prefixes: ['example.com/'], keywords: ['nope'] }, false],
  ];
  for (const [name, f, want] of cases)
    it(name, () => assert.equal(imageMatches(image(), imageFilter(f)), want));

  it('several filters are ORed; none matches everything', () => {
    const no = imageFilter({ keywords: ['nope'] });
    const yes = imageFilter({ base_names: ['etcd'] });
    assert.equal(matchesAny(image(), [no, yes], imageMatches), true);
    assert.equal(matchesAny(image(), [no], imageMatches), false);
    assert.equal(matchesAny(image(), [], imageMatches), true);
  });
});

describe('pod filters', () => {
  const cg = '/rkt-11111111-2222-4333-8444-555555555555';
  const cases: [string, Partial<PodFilter>, boolean][] = [
    ['empty filter', {}, true],
    ['id', { ids: ['x', '11111111-2222-4333-8444-555555555555'] }, true],
    ['id mismatch (no prefixes)', { ids: ['11111111'] }, false],
    ['state', { states: ['POD_STATE_EXITED', 'POD_STATE_RUNNING'] }, true],
    ['state mismatch', { states: ['POD_STATE_EXITED'] }, false],
    ['all app names', { app_names: ['db', 'web'] }, true],
    ['an app name missing', { app_names: ['web', 'cache'] }, false],
    ['image ids, full', { image_ids: [FULL_A, FULL_B] }, true],
    ['image id as the store key (an extension)', { image_ids: [KEY_A] }, true],
    ['an image id missing', { image_ids: [FULL_A, 'sha512-' + 'c'.repeat(128)] }, false],
    ['network', { network_names: ['default'] }, true],
    ['network missing', { network_names: ['default', 'other'] }, false],
    ['annotation', { annotations: [{ Key: 'coreos.com/rkt/stage1/mutable', value: 'false' }] }, true],
    [
      'annotation value differs',
      { annotations: [{ Key: 'coreos.com/rkt/stage1/mutable', value: 'true' }] },
      false,
    ],
    ['cgroup', { cgroups: [cg] }, true],
    ['cgroup is exact', { cgroups: [cg + '/web'] }, false],
    ['sub-cgroup inside the pod', { pod_sub_cgroups: [cg + '/web'] }, true],
    ['the pod cgroup itself', { pod_sub_cgroups: [cg] }, true],
    ['a sibling whose name extends the pod cgroup', { pod_sub_cgroups: [cg + 'x/web'] }, false],
    ['ANDed', { states: ['POD_STATE_RUNNING'], app_names: ['nope'] }, false],
  ];
  for (const [name, f, want] of cases) it(name, () => assert.equal(podMatches(pod(), podFilter(f)), want));

  it('a pod without cgroup matches no sub-cgroup filter', () => {
    assert.equal(podMatches(pod({ cgroup: '' }), podFilter({ pod_sub_cgroups: ['/'] })), false);
  });

  it('several filters are ORed', () => {
    const fs = [podFilter({ states: ['POD_STATE_EXITED'] }), podFilter({ app_names: ['db'] })];
    assert.equal(matchesAny(pod(), fs, podMatches), true);
    assert.equal(matchesAny(pod(), fs.slice(0, 1), podMatches), false);
  });
});

describe('sameImageId', () => {
  it('matches a key against its full ID both ways, and nothing shorter', () => {
    assert.equal(sameImageId(KEY_A, FULL_A), true);
    assert.equal(sameImageId(FULL_A, KEY_A), true);
    assert.equal(sameImageId(FULL_A, FULL_A), true);
    assert.equal(sameImageId(KEY_A.slice(0, -1), FULL_A), false);
    assert.equal(sameImageId(KEY_A, FULL_B), false);
  });
});
