import assert from 'node:assert/strict';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import type { ImageManifest } from '../../../src/appc/index.js';
import { parseRunArgs } from '../../../src/cli/rkt/pod/run-flags.js';
import { buildPodManifest, type ImageSource } from '../../../src/pod/index.js';
import { tempDir } from '../../helpers.js';

const KEY_A = 'sha512-' + 'a'.repeat(64);
const KEY_B = 'sha512-' + 'b'.repeat(64);
const images: Record<string, ImageManifest> = {
  [KEY_A]: {
    acKind: 'ImageManifest',
    acVersion: '0.8.11',
    name: 'example.com/web',
    labels: [{ name: 'version', value: '1' }],
    app: {
      exec: ['/bin/web', '--port=80'],
      user: '0',
      group: '0',
      workingDirectory: '/srv',
      environment: [
        { name: 'IMG', value: 'image' },
        { name: 'OVER', value: 'image' },
      ],
      mountPoints: [
        { name: 'data', path: '/data' },
        { name: 'cache', path: '/cache', readOnly: true },
      ],
      isolators: [{ name: 'os/linux/capabilities-remove-set', value: { set: ['CAP_KILL'] } }],
    },
  },
  [KEY_B]: { acKind: 'ImageManifest', acVersion: '0.8.11', name: 'example.com/noapp' },
};
const source: ImageSource = {
  resolve: (app) =>
    Promise.resolve(
      app.image === 'web' ? KEY_A : app.image === 'noapp' ? KEY_B : Promise.reject(new Error('no')),
    ),
  manifest: (key) => images[key] as ImageManifest,
};

describe('buildPodManifest', () => {
  it('copies the image app and applies overrides, env precedence and isolators', async () => {
    const args = parseRunArgs([
      '--volume=data,kind=host,source=/srv/data,readOnly=true',
      '--set-env=OVER=set-env',
      '--set-env=SET=1',
      '--inherit-env',
      'web',
      '--user=nobody',
      '--caps-retain=CAP_NET_BIND_SERVICE',
      '--environment=OVER=environment',
      '--annotation=example.com/a=b',
      '--',
      '--verbose',
    ]);
    const { manifest, imageKeys, warnings } = await buildPodManifest(args, source, {
      HOME: '/root',
      IMG: 'host',
    });
    assert.deepEqual(imageKeys, [KEY_A]);
    const ra = manifest.apps[0];
    assert.ok(ra?.app);
    assert.equal(ra.name, 'web');
    assert.equal(ra.image.id, KEY_A);
    assert.deepEqual(ra.app.exec, ['/bin/web', '--port=80', '--verbose']);
    assert.equal(ra.app.user, 'nobody');
    assert.equal(ra.app.group, '0');
    assert.equal(ra.app.workingDirectory, '/srv');
    const env = Object.fromEntries((ra.app.environment ?? []).map((e) => [e.name, e.value]));
    assert.deepEqual(env, { IMG: 'image', OVER: 'environment', HOME: '/root', SET: '1' });
    assert.deepEqual(ra.app.isolators, [
      { name: 'os/linux/capabilities-retain-set', value: { set: ['CAP_NET_BIND_SERVICE'] } },
    ]);
    assert.deepEqual(ra.annotations, [{ name: 'example.com/a', value: 'b' }]);
    // data matched by name to --volume; cache gets an implicit empty volume (read-only) and a warning
    assert.deepEqual(ra.mounts, [
      { volume: 'data', path: '/data' },
      { volume: 'cache', path: '/cache' },
    ]);
    assert.deepEqual(
      manifest.volumes?.map((v) => [v.name, v.kind, v.readOnly]),
      [
        ['data', 'host', true],
        ['cache', 'empty', true],
      ],
    );
    assert.equal(warnings.length, 1);
    assert.match(warnings[0] ?? '', /no volume specified for mount point "cache"/);
    assert.deepEqual(manifest.annotations, [{ name: 'coreos.com/rkt/stage1/mutable', value: 'false' }]);
  });

  it('--set-env-file: K=V lines (blank, # and ; lines skipped) over the image, under --set-env and --environment', async () => {
    const tmp = await tempDir('rocket-env-file-');
    try {
      const file = join(tmp.path, 'env');
      writeFileSync(file, '# a comment\n; another\n\nIMG=file\nFILE=1\nOVER=file\nLAST=file\n');
      const args = parseRunArgs([
        `--set-env-file=${file}`,
        '--set-env=OVER=set-env',
        'web',
        '--environment=LAST=environment',
      ]);
      const { manifest } = await buildPodManifest(args, source, {});
      const env = Object.fromEntries(
        (manifest.apps[0]?.app?.environment ?? []).map((e) => [e.name, e.value]),
      );
      assert.deepEqual(env, { IMG: 'file', FILE: '1', OVER: 'set-env', LAST: 'environment' });
      // A file that is not there is named.
      assert.throws(
        () => parseRunArgs([`--set-env-file=${join(tmp.path, 'missing')}`, 'web']),
        /unable to open environment file ".*missing"/,
      );
    } finally {
      await tmp.cleanup();
    }
  });

  it('explicit --mount wins over the mount point of the same path', async () => {
    const args = parseRunArgs(['--volume=v,kind=empty', 'web', '--mount=volume=v,target=/data', '--name=w']);
    const { manifest } = await buildPodManifest(args, source, {});
    assert.deepEqual(manifest.apps[0]?.mounts?.[0], { volume: 'v', path: '/data' });
    assert.equal(manifest.apps[0]?.mounts?.length, 2);
  });

  it('rejects duplicate app names and an image without app and --exec', async () => {
    await assert.rejects(buildPodManifest(parseRunArgs(['web', 'web']), source, {}), {
      message: 'error: multiple apps with name web',
    });
    await assert.rejects(buildPodManifest(parseRunArgs(['noapp']), source, {}), {
      message: `error: image ${KEY_B} has no app section and --exec argument is not provided`,
    });
    const { manifest } = await buildPodManifest(parseRunArgs(['noapp', '--exec=/bin/true']), source, {});
    assert.deepEqual(manifest.apps[0]?.app?.exec, ['/bin/true']);
    assert.equal(manifest.apps[0]?.app?.user, String(process.getuid?.() ?? 0));
  });
});
