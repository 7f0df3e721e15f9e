import assert from 'node:assert/strict';
import { mkdirSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { parsePodManifest, podManifestToJSON, type RuntimeApp } from '../../../src/appc/index.js';
import {
  POD_SUMMARY_FILE,
  PodsLayout,
  addAppToManifest,
  listPods,
  listedManifest,
  podSummaryText,
  podSummaryTextFor,
  readPodSummary,
  removeAppFromManifest,
  writeFileAtomic,
  writePodSummary,
} from '../../../src/pod/index.js';
import { renderPodList } from '../../../src/cli/rkt/pod/list.js';
import type { Store } from '../../../src/store/index.js';
import { tempDir } from '../../helpers.js';

const U1 = 'aaaaaaaa-1111-4111-8111-111111111111';

function manifestJson(apps: string[]): string {
  return JSON.stringify({
    acVersion: '0.8.11',
    acKind: 'PodManifest',
    apps: apps.map((name, i) => ({
      name,
      image: { name: 'example.com/x', id: 'sha512-' + String(i).repeat(64) },
      app: {
        exec: ['/bin/true'],
        user: '0',
        group: '0',
        userAnnotations: { b: '2', a: '1' },
        userLabels: { tier: name },
      },
      mounts: [
        { volume: 'data', path: '/data' },
        {
          volume: 'own',
          path: '/own',
          appVolume: { name: 'own', kind: 'host', source: '/srv', readOnly: true },
        },
      ],
    })),
    volumes: [{ name: 'data', kind: 'host', source: '/var/data', readOnly: false }],
    userAnnotations: { who: 'me' },
    userLabels: { env: 'test' },
  });
}

/** A prepared pod with apps `apps`, each recording an image manifest with a version label. */
function makePod(layout: PodsLayout, uuid: string, apps: string[]): string {
  const dir = layout.podDir('prepared', uuid);
  mkdirSync(dir, { recursive: true });
  writeFileSync(join(dir, 'pod-created'), '');
  writeFileAtomic(join(dir, 'pod'), manifestJson(apps));
  for (const a of apps) {
    mkdirSync(join(dir, 'appsinfo', a), { recursive: true });
    writeFileSync(
      join(dir, 'appsinfo', a, 'manifest'),
      JSON.stringify({ name: `example.com/${a}`, labels: [{ name: 'version', value: '1.2' }] }),
    );
  }
  return dir;
}

describe('pod list summary', () => {
  let tmp: { path: string; cleanup: () => Promise<void> };
  let layout: PodsLayout;
  before(async () => {
    tmp = await tempDir('rocket-pod-summary-');
    layout = new PodsLayout(tmp.path);
    layout.ensure();
  });
  after(async () => {
    await tmp.cleanup();
  });

  const now = new Date('2030-01-01T00:00:00Z');
  const outputs = () =>
    ['', 'json'].map((format) =>
      renderPodList(
        listPods(tmp.path, { summaries: true }),
        { full: true, legend: true, format: format as '' | 'json' },
        now,
      ),
    );
  const manifestOutputs = () =>
    ['', 'json'].map((format) =>
      renderPodList(listPods(tmp.path), { full: true, legend: true, format: format as '' | 'json' }, now),
    );

  it('a listing reads the summary instead of the manifest, and prints the same', () => {
    const dir = makePod(layout, U1, ['one', 'two']);
    const before = manifestOutputs();
    writePodSummary(dir);
    const [p] = listPods(tmp.path, { summaries: true });
    assert.equal(p?.manifest, undefined, 'the manifest was not parsed');
    const parsed = parsePodManifest(readFileSync(join(dir, 'pod'), 'utf8')).manifest;
    assert.deepEqual(p?.listed, listedManifest(parsed));
    assert.deepEqual(p?.imageNames, { one: 'example.com/one:1.2', two: 'example.com/two:1.2' });
    assert.deepEqual(outputs(), before);
    assert.match(before[0] ?? '', /example\.com\/two:1\.2/);
    assert.match(before[1] ?? '', /"user_annotations":\{"a":"1","b":"2"\}/);
    assert.match(before[1] ?? '', /"host_path":"\/srv","read_only":true/);
  });

  it('a manifest rewritten without a new summary is read itself', () => {
    const dir = layout.podDir('prepared', U1);
    // Same length as before, so only the file's identity tells the summary is stale.
    writeFileAtomic(join(dir, 'pod'), manifestJson(['one', 'six']));
    assert.equal(readPodSummary(dir), undefined);
    const [p] = listPods(tmp.path, { summaries: true });
    assert.equal(p?.listed, undefined);
    assert.deepEqual(
      p?.manifest?.apps.map((a) => a.name),
      ['one', 'six'],
    );
    assert.deepEqual(outputs(), manifestOutputs());
  });

  it('a malformed or missing summary is ignored', () => {
    const dir = layout.podDir('prepared', U1);
    writePodSummary(dir);
    assert.notEqual(readPodSummary(dir), undefined);
    const summary = JSON.parse(readFileSync(join(dir, POD_SUMMARY_FILE), 'utf8')) as Record<string, unknown>;
    writeFileSync(join(dir, POD_SUMMARY_FILE), JSON.stringify({ ...summary, pod: { apps: [{ name: 1 }] } }));
    assert.equal(readPodSummary(dir), undefined);
    writeFileSync(join(dir, POD_SUMMARY_FILE), '{');
    assert.equal(readPodSummary(dir), undefined);
    assert.deepEqual(outputs(), manifestOutputs());
  });

  it('rkt app rm rewrites the summary with the manifest', () => {
    const dir = layout.podDir('prepared', U1);
    writePodSummary(dir);
    removeAppFromManifest(dir, 'six');
    const s = readPodSummary(dir);
    assert.deepEqual(
      s?.pod.apps.map((a) => a.name),
      ['one'],
    );
    assert.deepEqual(s?.images, { one: 'example.com/one:1.2' });
    assert.deepEqual(outputs(), manifestOutputs());
  });

  it('from the manifest in hand: the same summary as read back, known image names taken as given', () => {
    const dir = makePod(layout, U1, ['one', 'two']);
    const manifest = parsePodManifest(readFileSync(join(dir, 'pod'), 'utf8')).manifest;
    writeFileAtomic(join(dir, 'pod'), podManifestToJSON(manifest));
    const st = statSync(join(dir, 'pod'));
    assert.equal(podSummaryTextFor(dir, manifest, st), podSummaryText(dir));
    // A known name is not read again (appsinfo says otherwise here); an unknown one is read.
    const s = JSON.parse(podSummaryTextFor(dir, manifest, st, { one: 'known/one' })) as {
      images: Record<string, string>;
    };
    assert.deepEqual(s.images, { one: 'known/one', two: 'example.com/two:1.2' });
  });

  /** A store that has one image, already rendered. */
  const fakeStore = (name: string): Store =>
    ({
      renderTree: () => Promise.resolve({ treeStoreId: `deps-${name}`, rootfs: '/nonexistent' }),
      manifestBytes: () =>
        Buffer.from(
          JSON.stringify({ name: `example.com/${name}`, labels: [{ name: 'version', value: '3' }] }),
        ),
    }) as unknown as Store;
  const newApp = (name: string): RuntimeApp => ({
    name,
    image: { name: `example.com/${name}`, id: 'sha512-' + '7'.repeat(64) },
    app: { exec: ['/bin/true'], user: '0', group: '0' },
  });

  it('rkt app add: the summary from the manifest in hand, image names carried over from an up-to-date one', async () => {
    const dir = makePod(layout, U1, ['one', 'two']);
    writePodSummary(dir);
    // Carried over, not read again: gone from appsinfo, still in the new summary.
    rmSync(join(dir, 'appsinfo', 'two'), { recursive: true });
    await addAppToManifest(dir, fakeStore('three'), 'k', newApp('three'));
    const s = readPodSummary(dir);
    assert.deepEqual(
      s?.pod.apps.map((a) => a.name),
      ['one', 'two', 'three'],
    );
    assert.deepEqual(s?.images, {
      one: 'example.com/one:1.2',
      two: 'example.com/two:1.2',
      three: 'example.com/three:3',
    });
    const parsed = parsePodManifest(readFileSync(join(dir, 'pod'), 'utf8')).manifest;
    assert.deepEqual(s?.pod, listedManifest(parsed));
  });

  it('rkt app add after a manifest change the summary missed: every image name read again', async () => {
    const dir = makePod(layout, U1, ['one', 'two']);
    writePodSummary(dir);
    writeFileAtomic(join(dir, 'pod'), manifestJson(['one', 'six']));
    mkdirSync(join(dir, 'appsinfo', 'six'), { recursive: true });
    writeFileSync(join(dir, 'appsinfo', 'six', 'manifest'), JSON.stringify({ name: 'example.com/six' }));
    await addAppToManifest(dir, fakeStore('three'), 'k', newApp('three'));
    const s = readPodSummary(dir);
    assert.deepEqual(s?.images, {
      one: 'example.com/one:1.2',
      six: 'example.com/six',
      three: 'example.com/three:3',
    });
    assert.deepEqual(outputs(), manifestOutputs());
  });
});
