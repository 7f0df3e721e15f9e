import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { parseImageManifest } from '../../../src/appc/index.js';
import {
  annotations,
  appOf,
  environment,
  goJsonStringList,
  imageManifest,
  mountPoints,
  ports,
  userGroup,
} from '../../../src/docker/convert/manifest.js';
import {
  appcOsArch,
  imageLabels,
  layerFileName,
  lowerLayerAciName,
  squashedAciName,
  squashedFileName,
  topLayerAciName,
} from '../../../src/docker/convert/names.js';
import { humanBytes, downloadLabel } from '../../../src/docker/convert/progress.js';
import type { ImageConfig, ImageReference } from '../../../src/docker/types.js';

const HEX = 'a'.repeat(64);
const local: ImageReference = {
  registry: '127.0.0.1:5000',
  repository: 'test/busybox',
  tag: 'latest',
  original: '127.0.0.1:5000/test/busybox:latest',
};
const hub: ImageReference = {
  registry: 'registry-1.docker.io',
  repository: 'library/busybox',
  tag: 'latest',
  original: 'busybox',
};

describe('names (§2)', () => {
  it('names layers and the squashed image with the index', () => {
    assert.equal(topLayerAciName(local, `sha256:${HEX}`), `127.0.0.1_5000/test/busybox-sha256_${HEX}`);
    assert.equal(lowerLayerAciName(local, `sha256:${HEX}`), `127.0.0.1_5000/test/busybox-sha256-${HEX}`);
    assert.equal(squashedAciName(local, `sha256:${HEX}`), '127.0.0.1_5000/test/busybox');
    assert.equal(squashedAciName(hub, `sha256:${HEX}`), 'registry-1.docker.io/library/busybox');
    assert.equal(
      squashedAciName({ ...local, repository: 'test/busybox-zstd' }, `sha256:${HEX}`),
      '127.0.0.1_5000/test/busybox-zstd',
    );
    assert.equal(squashedAciName({ ...local, registry: '' }, `sha256:${HEX}`), 'test/busybox');
    assert.equal(
      squashedAciName({ ...local, repository: 'Test/My_App' }, `sha256:${HEX}`),
      '127.0.0.1_5000/test/my_app',
    );
  });

  it('names output files', () => {
    assert.equal(squashedFileName(local), 'test-busybox-latest.aci');
    assert.equal(squashedFileName(hub), 'library-busybox-latest.aci');
    assert.equal(squashedFileName({ ...local, tag: undefined, digest: `sha256:${HEX}` }), 'test-busybox.aci');
    assert.equal(
      layerFileName(local, `sha256:${HEX}`, 'linux', 'amd64'),
      `127.0.0.1:5000/test/busybox-sha256:${HEX}-latest-linux-amd64.aci`,
    );
    assert.throws(() => layerFileName({ ...local, repository: '../x' }, `sha256:${HEX}`, 'linux', 'amd64'));
  });

  it('maps the 12 os/arch pairs of docker2aci v22_test through appc’s table', () => {
    const pairs: [string, string, string][] = [
      ['linux', 'amd64', 'amd64'],
      ['linux', '386', 'i386'],
      ['linux', 'arm64', 'aarch64'],
      ['linux', 'arm', 'armv6l'],
      ['linux', 'ppc64', 'ppc64'],
      ['linux', 'ppc64le', 'ppc64le'],
      ['linux', 's390x', 's390x'],
      ['freebsd', 'amd64', 'amd64'],
      ['freebsd', '386', 'i386'],
      ['freebsd', 'arm', 'arm'],
      ['darwin', 'amd64', 'x86_64'],
      ['darwin', '386', 'i386'],
    ];
    for (const [goos, goarch, arch] of pairs) {
      assert.deepEqual(appcOsArch(goos, goarch), { os: goos, arch }, `${goos}/${goarch}`);
      const config: ImageConfig = {
        os: goos,
        architecture: goarch,
        author: 'me',
        created: '2016-01-01T00:00:00Z',
        config: {
          Entrypoint: ['/bin/sh', '-c'],
          Cmd: ['echo foo'],
          Env: ['FOO=1'],
          WorkingDir: '/',
          ExposedPorts: { '80': {} },
        },
      };
      const ref = { ...local, tag: 'v0.1.0' };
      const m = imageManifest(squashedAciName(ref, `sha256:${HEX}`), {
        reference: ref,
        config,
        imageId: `sha256:${'b'.repeat(64)}`,
        manifestDigest: `sha256:${'c'.repeat(64)}`,
      });
      assert.deepEqual(m.labels, [
        { name: 'arch', value: arch },
        { name: 'os', value: goos },
        { name: 'version', value: 'v0.1.0' },
      ]);
      assert.deepEqual(m.app, {
        user: '0',
        group: '0',
        exec: ['/bin/sh', '-c', 'echo foo'],
        environment: [{ name: 'FOO', value: '1' }],
        workingDirectory: '/',
        ports: [{ name: '80', protocol: 'tcp', port: 80, count: 1, socketActivated: false }],
      });
      assert.equal(m.annotations?.length, 9);
      assert.equal(m.acVersion, '0.8.11');
      // The manifest is valid appc.
      parseImageManifest(JSON.stringify(m));
    }
    assert.equal(appcOsArch('linux', 'arm', 'v7')?.arch, 'armv7l');
    assert.equal(appcOsArch('windows', 'amd64'), undefined);
    // Unknown pair: the host's labels stay (docker2aci's quirk).
    const labels = imageLabels(local, 'windows', 'amd64');
    assert.equal(labels.find((l) => l.name === 'os')?.value, 'linux');
    assert.equal(imageLabels({ ...local, tag: undefined }, 'linux', 'amd64').length, 2);
  });
});

describe('config → app (§3)', () => {
  it('maps user and group', () => {
    assert.deepEqual(userGroup(''), { user: '0', group: '0' });
    assert.deepEqual(userGroup(undefined), { user: '0', group: '0' });
    assert.deepEqual(userGroup('app'), { user: 'app', group: 'app' });
    assert.deepEqual(userGroup('1000'), { user: '1000', group: '1000' });
    assert.deepEqual(userGroup('1000:100'), { user: '1000', group: '100' });
    assert.deepEqual(userGroup('u:'), { user: 'u', group: '0' });
  });

  it('maps the environment: first = splits, no = dropped, duplicates replaced in place', () => {
    assert.deepEqual(environment(['A=1', 'B', 'C=x=y', 'A=2', 'D=']), [
      { name: 'A', value: '2' },
      { name: 'C', value: 'x=y' },
      { name: 'D', value: '' },
    ]);
    assert.deepEqual(environment(null), []);
  });

  it('maps volumes to sorted, deduplicated mount points', () => {
    assert.deepEqual(mountPoints({ '/var/lib/my_app': {}, '/data': {}, '/var/cache/app': {} }), [
      { name: 'volume-data', path: '/data', readOnly: false },
      { name: 'volume-var-cache-app', path: '/var/cache/app', readOnly: false },
      { name: 'volume-var-lib-my-app', path: '/var/lib/my_app', readOnly: false },
    ]);
    assert.deepEqual(
      mountPoints({ '/a/b': {}, '/a_b': {} }).map((m) => m.name),
      ['volume-a-b', 'volume-a-b-1'],
    );
  });

  it('maps exposed ports; a port that is not a number is an error', () => {
    assert.deepEqual(
      ports({ '8080/tcp': {}, '53/udp': {}, '9000': {} }).map((p) => [p.name, p.protocol, p.port]),
      [
        ['53-udp', 'udp', 53],
        ['8080-tcp', 'tcp', 8080],
        ['9000', 'tcp', 9000],
      ],
    );
    assert.throws(() => ports({ 'http/tcp': {} }), /invalid port/);
  });

  it('leaves the app out without a config object, and exec empty without entrypoint and cmd', () => {
    assert.equal(appOf({}), undefined);
    assert.deepEqual(appOf({ config: {} }), { user: '0', group: '0' });
  });
});

describe('annotations (§4)', () => {
  const config: ImageConfig = {
    author: 'd2a testenv',
    created: '2000-01-01T00:00:00Z',
    config: { Entrypoint: ['/bin/sh', '-c'], Cmd: ['a<b && c>d'] },
  };
  it('writes docker2aci’s set in its order, imageid = config digest', () => {
    const list = annotations({
      reference: local,
      config,
      imageId: 'sha256:cfg',
      manifestDigest: 'sha256:man',
    });
    assert.deepEqual(list, [
      { name: 'author', value: 'd2a testenv' },
      { name: 'created', value: '2000-01-01T00:00:00Z' },
      { name: 'appc.io/docker/originalname', value: '127.0.0.1:5000/test/busybox:latest' },
      { name: 'appc.io/docker/registryurl', value: '127.0.0.1:5000' },
      { name: 'appc.io/docker/repository', value: 'test/busybox' },
      { name: 'appc.io/docker/imageid', value: 'sha256:cfg' },
      { name: 'appc.io/docker/manifesthash', value: 'sha256:man' },
      { name: 'appc.io/docker/entrypoint', value: '["/bin/sh","-c"]' },
      { name: 'appc.io/docker/cmd', value: '["a\\u003cb \\u0026\\u0026 c\\u003ed"]' },
    ]);
  });
  it('leaves out empty values, and registryurl/originalname without a registry', () => {
    const list = annotations({
      reference: { ...local, registry: '' },
      config: {},
      imageId: 'sha256:cfg',
      manifestDigest: '',
    });
    assert.deepEqual(
      list.map((a) => a.name),
      ['appc.io/docker/repository', 'appc.io/docker/imageid'],
    );
  });
  it('escapes like Go json.Marshal', () => {
    assert.equal(goJsonStringList(['<&>\u2028']), '["\\u003c\\u0026\\u003e\\u2028"]');
  });
});

describe('progress text (§8)', () => {
  it('prints sizes as %.3g in 1000-based units', () => {
    assert.equal(humanBytes(674_000), '674 KB');
    assert.equal(humanBytes(512), '512 B');
    assert.equal(humanBytes(1_085_512), '1.09 MB');
    assert.equal(humanBytes(0), '0 B');
    assert.equal(downloadLabel(`sha256:${HEX}`), 'Downloading sha256:aaaaaaaaaaa');
  });
});
