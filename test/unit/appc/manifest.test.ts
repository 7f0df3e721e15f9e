// Image and pod manifests: examples round-trip, appc/spec schema/{image,pod}_test.go, and the
// behaviour matrix of appc-spec.md §J. Where we deliberately differ from the reference actool the
// test says so.
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { projectRoot } from '../../helpers.js';
import {
  AppcError,
  APPC_SPEC_VERSION,
  blankImageManifest,
  blankPodManifest,
  imageManifestToJSON,
  manifestKind,
  parseImageManifest,
  parsePodManifest,
  podManifestToJSON,
  type ImageManifest,
  type JsonValue,
} from '../../../src/appc/index.js';

const fixture = (name: string): string => readFileSync(join(projectRoot, 'test/fixtures/appc', name), 'utf8');

type Obj = { [k: string]: JsonValue };
const base = (): Obj => ({
  acKind: 'ImageManifest',
  acVersion: '0.8.11',
  name: 'example.com/app',
  app: { exec: ['/bin/app'], user: '0', group: '0' },
});
const pod = (): Obj => ({
  acVersion: '0.8.11',
  acKind: 'PodManifest',
  apps: [{ name: 'a', image: { id: `sha512-${'0'.repeat(128)}` } }],
});

/** base() with `edit` applied to a deep copy. */
function image(edit: (m: Obj, app: Obj) => void): string {
  const m = base();
  edit(m, m['app'] as Obj);
  return JSON.stringify(m);
}
function podText(edit: (m: Obj, app: Obj) => void): string {
  const m = pod();
  edit(m, (m['apps'] as Obj[])[0] as Obj);
  return JSON.stringify(m);
}

/** Strips what canonical serialization normalises so the original example can be compared. */
function normalise(v: JsonValue): JsonValue {
  if (Array.isArray(v)) return v.map(normalise);
  if (v !== null && typeof v === 'object') {
    const out: Obj = {};
    for (const [k, x] of Object.entries(v)) if (x !== null && x !== false) out[k] = normalise(x);
    return out;
  }
  return v;
}

describe('examples round-trip', () => {
  for (const [file, kind] of [
    ['image.json', 'ImageManifest'],
    ['pod_runtime.json', 'PodManifest'],
    ['pod_template.json', 'PodManifest'],
  ] as const) {
    it(`${file}: parse → serialize → parse is stable and keeps the content`, () => {
      const text = fixture(file);
      assert.equal(manifestKind(text), kind);
      const parse =
        kind === 'ImageManifest'
          ? (t: string) => parseImageManifest(t).manifest
          : (t: string) => parsePodManifest(t).manifest;
      const toJSON = (m: ReturnType<typeof parse>) =>
        kind === 'ImageManifest'
          ? imageManifestToJSON(m as ImageManifest)
          : podManifestToJSON(m as Parameters<typeof podManifestToJSON>[0]);
      const first = parse(text);
      const json = toJSON(first);
      assert.deepEqual(parse(json), first);
      assert.equal(toJSON(parse(json)), json);
      const original = normalise(JSON.parse(text) as JsonValue) as Obj;
      const written = normalise(JSON.parse(json) as JsonValue) as Obj;
      if (file === 'image.json') {
        // The reference writes a missing port count as 1.
        const ports = ((original['app'] as Obj)['ports'] as Obj[])[0] as Obj;
        ports['count'] = 1;
      }
      assert.deepEqual(written, original);
    });
  }

  it('writes the reference key order, compact, Go-escaped', () => {
    const json = imageManifestToJSON(parseImageManifest(fixture('image.json')).manifest);
    assert.ok(
      json.startsWith(
        '{"acKind":"ImageManifest","acVersion":"0.8.11","name":"example.com/reduce-worker","labels":[',
      ),
    );
    assert.match(
      json,
      /"app":\{"exec":\["\/usr\/bin\/reduce-worker","--quiet"\],"eventHandlers":\[\{"name":"pre-start","exec"/,
    );
    assert.match(
      json,
      /"group":"300","environment":.*"mountPoints":.*"ports":\[\{"name":"health","protocol":"tcp","port":4000,"count":1,"socketActivated":true\}\],"isolators"/,
    );
    assert.match(json, /\},"annotations":\[.*\],"dependencies":\[.*\],"pathWhitelist":\[/);
    assert.match(json, /Carly Container \\u003ccarly@example\.com\\u003e/);
    assert.ok(!json.includes(' "'));
  });
  it('pretty-prints with 4 spaces', () => {
    const json = imageManifestToJSON(parseImageManifest(fixture('image.json')).manifest, { pretty: true });
    assert.ok(json.startsWith('{\n    "acKind": "ImageManifest",\n    "acVersion": "0.8.11",'));
  });
  it('writes pod lists as null when absent, like the reference', () => {
    const json = podManifestToJSON(parsePodManifest(fixture('pod_template.json')).manifest);
    assert.ok(json.startsWith('{"acVersion":"0.3.0","acKind":"PodManifest","apps":['));
    assert.ok(
      json.endsWith(
        '"volumes":null,"isolators":[{"name":"resource/memory","value":{"limit":"4G"}}],"annotations":null,"ports":null}',
      ),
    );
    assert.deepEqual(parsePodManifest(JSON.stringify({ ...pod(), volumes: [] })).manifest.volumes, []);
  });
  it('fills empty-volume defaults and writes them', () => {
    const m = parsePodManifest(podText((p) => (p['volumes'] = [{ name: 'v', kind: 'empty' }]))).manifest;
    assert.deepEqual(m.volumes, [{ name: 'v', kind: 'empty', mode: '0755', uid: 0, gid: 0 }]);
    assert.match(
      podManifestToJSON(m),
      /"volumes":\[\{"name":"v","kind":"empty","mode":"0755","uid":0,"gid":0\}\]/,
    );
  });
  it('validates before writing', () => {
    const m: ImageManifest = {
      ...blankImageManifest('example.com/x'),
      labels: [{ name: 'name', value: 'x' }],
    };
    assert.throws(() => imageManifestToJSON(m), {
      message: 'labels[0].name: "name" is not allowed as a label name',
    });
    assert.equal(
      imageManifestToJSON(blankImageManifest('example.com/x')),
      '{"acKind":"ImageManifest","acVersion":"0.8.11","name":"example.com/x"}',
    );
    assert.equal(
      podManifestToJSON(blankPodManifest()),
      '{"acVersion":"0.8.11","acKind":"PodManifest","apps":[],"volumes":null,"isolators":null,"annotations":null,"ports":null}',
    );
    assert.equal(APPC_SPEC_VERSION, '0.8.11');
  });
  it('writes an app without exec as "exec":null', () => {
    const m = parseImageManifest(image((_m, app) => delete app['exec']));
    assert.match(imageManifestToJSON(m.manifest), /"app":\{"exec":null,"user":"0","group":"0"\}/);
  });
});

describe('errors', () => {
  it('name the source and the JSON path', () => {
    assert.throws(
      () =>
        parseImageManifest(
          image(
            (m) =>
              (m['labels'] = [
                { name: 'a', value: '' },
                { name: 'b', value: '' },
                { name: 'Foo', value: '' },
              ]),
          ),
          'x/manifest',
        ),
      (e: unknown) => {
        assert.ok(e instanceof AppcError);
        assert.equal(e.exitCode, 1);
        assert.match(e.message, /^x\/manifest: labels\[2\]\.name: "Foo" is not an AC Identifier/);
        return true;
      },
    );
    assert.throws(
      () => parseImageManifest('{"acKind": "ImageManifest"', 'm.json'),
      /^AppcError: m\.json: invalid JSON/,
    );
    assert.throws(
      () =>
        parseImageManifest(image((_m, app) => (app['ports'] = [{ name: 'p', protocol: 'tcp', port: '80' }]))),
      {
        message: 'app.ports[0].port: must be an integer, got string "80"',
      },
    );
  });
  it('manifestKind rejects unknown kinds and non-objects', () => {
    assert.throws(() => manifestKind('{"acKind":"Foo"}'), { message: 'acKind: bad ACKind "Foo"' });
    assert.throws(() => manifestKind('{}'), { message: 'acKind: is required' });
    assert.throws(() => manifestKind('[]', 'f'), { message: 'f: manifest must be a JSON object' });
    assert.throws(() => manifestKind('{} x'), AppcError);
  });
});

describe('image manifest: accepted', () => {
  const accepted: [string, string][] = [
    ['the base manifest', image(() => {})],
    ['`arch` without `os`', image((m) => (m['labels'] = [{ name: 'arch', value: 'amd64' }]))],
    [
      'linux/aarch64',
      image(
        (m) =>
          (m['labels'] = [
            { name: 'os', value: 'linux' },
            { name: 'arch', value: 'aarch64' },
          ]),
      ),
    ],
    ['`supplementaryGids` spelling', image((_m, app) => (app['supplementaryGids'] = [1, 2]))],
    ['unknown top-level fields', image((m) => (m['whatever'] = 1))],
    ['acVersion 0.1.0 and 0.8.11+git', image((m) => (m['acVersion'] = '0.8.11+git'))],
    ['app without exec', image((_m, app) => delete app['exec'])],
    [
      'dependency imageID sha512-zz (warning)',
      image((m) => (m['dependencies'] = [{ imageName: 'a', imageID: 'sha512-zz' }])),
    ],
    [
      'created without fraction',
      image((m) => (m['annotations'] = [{ name: 'created', value: '2004-05-14T23:11:14+00:00' }])),
    ],
    [
      'memory limit as a JSON number',
      image((_m, app) => (app['isolators'] = [{ name: 'resource/memory', value: { limit: 1024 } }])),
    ],
    [
      'two resource/memory',
      image(
        (_m, app) =>
          (app['isolators'] = [
            { name: 'resource/memory', value: { limit: '1' } },
            { name: 'resource/memory', value: { limit: '2' } },
          ]),
      ),
    ],
    [
      'userAnnotations with arbitrary keys',
      image((_m, app) => (app['userAnnotations'] = { 'weird!': 'normal?' })),
    ],
    ['labels: null', image((m) => (m['labels'] = null))],
    ['an empty exec list', image((_m, app) => (app['exec'] = []))],
    ['relative exec', image((_m, app) => (app['exec'] = ['bin/app', 'arg1']))],
    [
      'a port range ending at 65535',
      image((_m, app) => (app['ports'] = [{ name: 'p', protocol: 'tcp', port: 65535, count: 1 }])),
    ],
  ];
  for (const [what, text] of accepted) it(what, () => assert.doesNotThrow(() => parseImageManifest(text)));

  it('normalises', () => {
    const m = parseImageManifest(
      image((m, app) => {
        m['labels'] = [];
        app['supplementaryGids'] = [5];
        app['mountPoints'] = [{ name: 'db', path: '/db', readOnly: false }];
        app['ports'] = [{ name: 'p', protocol: 'tcp', port: 80, count: 0 }];
        app['environment'] = [];
      }),
    ).manifest;
    assert.equal(m.labels, undefined);
    assert.deepEqual(m.app?.supplementaryGIDs, [5]);
    assert.deepEqual(m.app?.mountPoints, [{ name: 'db', path: '/db' }]);
    assert.deepEqual(m.app?.ports, [
      { name: 'p', protocol: 'tcp', port: 80, count: 1, socketActivated: false },
    ]);
    assert.equal(m.app?.environment, undefined);
  });
  it('warns about a newer major acVersion (the reference says nothing)', () => {
    assert.match(
      parseImageManifest(image((m) => (m['acVersion'] = '1.0.0'))).warnings.join(),
      /newer than the supported version 0\.8\.11/,
    );
  });
});

describe('image manifest: rejected', () => {
  const rejected: [string, string, RegExp][] = [
    ['upper-case name', image((m) => (m['name'] = 'Example.com/app')), /^name: /],
    ['empty name', image((m) => (m['name'] = '')), /^name: AC Identifier cannot be empty/],
    ['missing name', image((m) => delete m['name']), /^name: is required/],
    ['name a--b (spec regex; the reference accepts it)', image((m) => (m['name'] = 'a--b')), /^name: /],
    [
      'label named name',
      image((m) => (m['labels'] = [{ name: 'name', value: 'x' }])),
      /^labels\[0\]\.name: /,
    ],
    [
      'duplicate labels',
      image(
        (m) =>
          (m['labels'] = [
            { name: 'os', value: 'linux' },
            { name: 'os', value: 'linux' },
          ]),
      ),
      /^labels\[1\]: duplicate label "os"/,
    ],
    [
      'os=windows',
      image((m) => (m['labels'] = [{ name: 'os', value: 'windows' }])),
      /^labels: bad os "windows"/,
    ],
    [
      'linux/arm64',
      image(
        (m) =>
          (m['labels'] = [
            { name: 'os', value: 'linux' },
            { name: 'arch', value: 'arm64' },
          ]),
      ),
      /^labels: bad arch "arm64" for linux/,
    ],
    [
      'seccomp retain+remove',
      image(
        (_m, a) =>
          (a['isolators'] = [
            { name: 'os/linux/seccomp-remove-set', value: { set: ['a'] } },
            { name: 'os/linux/seccomp-retain-set', value: { set: ['b'] } },
          ]),
      ),
      /cannot be used together/,
    ],
    [
      'lower-case errno',
      image(
        (_m, a) =>
          (a['isolators'] = [{ name: 'os/linux/seccomp-remove-set', value: { set: ['a'], errno: 'eperm' } }]),
      ),
      /errno/,
    ],
    [
      'empty caps set',
      image((_m, a) => (a['isolators'] = [{ name: 'os/linux/capabilities-retain-set', value: { set: [] } }])),
      /set: must not be empty/,
    ],
    [
      'memory 1K',
      image((_m, a) => (a['isolators'] = [{ name: 'resource/memory', value: { limit: '1K' } }])),
      /quantity "1K" is not valid/,
    ],
    [
      'missing default on network-bandwidth',
      image((_m, a) => (a['isolators'] = [{ name: 'resource/network-bandwidth', value: { limit: '1M' } }])),
      /default: must be true/,
    ],
    [
      'request on block-iops',
      image(
        (_m, a) =>
          (a['isolators'] = [
            { name: 'resource/block-iops', value: { default: true, request: '1', limit: '1' } },
          ]),
      ),
      /request: is not supported/,
    ],
    [
      'cpu-shares 1',
      image((_m, a) => (a['isolators'] = [{ name: 'os/linux/cpu-shares', value: 1 }])),
      /between 2 and 262144/,
    ],
    [
      'oom-score-adj 1001',
      image((_m, a) => (a['isolators'] = [{ name: 'os/linux/oom-score-adj', value: 1001 }])),
      /between -1000 and 1000/,
    ],
    [
      'no-new-privileges as a string',
      image((_m, a) => (a['isolators'] = [{ name: 'os/linux/no-new-privileges', value: 'true' }])),
      /must be a boolean/,
    ],
    [
      'selinux without level',
      image(
        (_m, a) =>
          (a['isolators'] = [
            { name: 'os/linux/selinux-context', value: { user: 'u', role: 'r', type: 't' } },
          ]),
      ),
      /level: is required/,
    ],
    [
      'sysctl value number',
      image((_m, a) => (a['isolators'] = [{ name: 'os/unix/sysctl', value: { 'net.a': 1 } }])),
      /net\.a: must be a string/,
    ],
    ['missing user', image((_m, a) => delete a['user']), /^app\.user: is required/],
    ['empty group', image((_m, a) => (a['group'] = '')), /^app\.group: must not be empty/],
    ['app: {}', image((m) => (m['app'] = {})), /^app\.user: is required/],
    ['acKind Foo', image((m) => (m['acKind'] = 'Foo')), /^acKind: must be "ImageManifest"/],
    ['acKind PodManifest', image((m) => (m['acKind'] = 'PodManifest')), /^acKind: /],
    ['missing acVersion', image((m) => delete m['acVersion']), /^acVersion: is required/],
    ['acVersion v1', image((m) => (m['acVersion'] = 'v1')), /^acVersion: "v1" is not a SemVer/],
    ['acVersion 0.8', image((m) => (m['acVersion'] = '0.8')), /^acVersion: /],
    ['acVersion 0.0.0', image((m) => (m['acVersion'] = '0.0.0')), /^acVersion: SemVer cannot be zero/],
    ['acVersion as a number', image((m) => (m['acVersion'] = 1)), /^acVersion: must be a string/],
    [
      'env name 1A',
      image((_m, a) => (a['environment'] = [{ name: '1A', value: '' }])),
      /^app\.environment\[0\]\.name: /,
    ],
    [
      'duplicate env',
      image(
        (_m, a) =>
          (a['environment'] = [
            { name: 'A', value: '1' },
            { name: 'A', value: '2' },
          ]),
      ),
      /^app\.environment\[1\]: duplicate environment variable "A"/,
    ],
    [
      'port 0',
      image((_m, a) => (a['ports'] = [{ name: 'p', protocol: 'tcp', port: 0 }])),
      /^app\.ports\[0\]\.port: must be in the range 1-65535/,
    ],
    [
      'port 65535 count 2',
      image((_m, a) => (a['ports'] = [{ name: 'p', protocol: 'tcp', port: 65535, count: 2 }])),
      /^app\.ports\[0\]\.count: /,
    ],
    [
      'port without protocol (spec; the reference allows it)',
      image((_m, a) => (a['ports'] = [{ name: 'p', port: 80 }])),
      /^app\.ports\[0\]\.protocol: is required/,
    ],
    [
      'duplicate port names (spec: names are keys; the reference allows it)',
      image(
        (_m, a) =>
          (a['ports'] = [
            { name: 'p', protocol: 'tcp', port: 80 },
            { name: 'p', protocol: 'tcp', port: 81 },
          ]),
      ),
      /duplicate port "p"/,
    ],
    [
      'relative workingDirectory',
      image((_m, a) => (a['workingDirectory'] = 'stuff')),
      /^app\.workingDirectory: must be an absolute path/,
    ],
    [
      'event handler pre-stop',
      image((_m, a) => (a['eventHandlers'] = [{ name: 'pre-stop', exec: ['/x'] }])),
      /^app\.eventHandlers\[0\]\.name: /,
    ],
    [
      'duplicate event handler',
      image(
        (_m, a) =>
          (a['eventHandlers'] = [
            { name: 'post-stop', exec: ['/x'] },
            { name: 'pre-start', exec: ['/x'] },
            { name: 'post-stop', exec: ['/y'] },
          ]),
      ),
      /^app\.eventHandlers\[2\]: duplicate eventHandler "post-stop"/,
    ],
    [
      'event handler without exec (ours; the reference allows it)',
      image((_m, a) => (a['eventHandlers'] = [{ name: 'pre-start' }])),
      /^app\.eventHandlers\[0\]\.exec: is required/,
    ],
    [
      'mountPoint name M',
      image((_m, a) => (a['mountPoints'] = [{ name: 'M', path: '/m' }])),
      /^app\.mountPoints\[0\]\.name: /,
    ],
    [
      'mountPoint without path (spec; the reference allows it)',
      image((_m, a) => (a['mountPoints'] = [{ name: 'm' }])),
      /^app\.mountPoints\[0\]\.path: is required/,
    ],
    [
      'dependency without imageName',
      image((m) => (m['dependencies'] = [{ imageID: `sha512-${'a'.repeat(128)}` }])),
      /^dependencies\[0\]\.imageName: is required/,
    ],
    [
      'sha256 imageID',
      image((m) => (m['dependencies'] = [{ imageName: 'a', imageID: 'sha256-abc' }])),
      /^dependencies\[0\]\.imageID: unrecognized hash type/,
    ],
    [
      'sha512-a-b imageID',
      image((m) => (m['dependencies'] = [{ imageName: 'a', imageID: 'sha512-a-b' }])),
      /^dependencies\[0\]\.imageID: badly formatted/,
    ],
    [
      'dependency label os=plan9',
      image((m) => (m['dependencies'] = [{ imageName: 'a', labels: [{ name: 'os', value: 'plan9' }] }])),
      /^dependencies\[0\]\.labels: bad os/,
    ],
    [
      'dependency size -1',
      image((m) => (m['dependencies'] = [{ imageName: 'a', size: -1 }])),
      /^dependencies\[0\]\.size: /,
    ],
    [
      'created with a space',
      image((m) => (m['annotations'] = [{ name: 'created', value: '2004-05-14 23:11:14Z' }])),
      /^annotations\[0\]\.value: bad date/,
    ],
    [
      'homepage ftp://',
      image((m) => (m['annotations'] = [{ name: 'homepage', value: 'ftp://x.com' }])),
      /^annotations\[0\]\.value: bad URL/,
    ],
    [
      'duplicate annotations',
      image(
        (m) =>
          (m['annotations'] = [
            { name: 'a', value: '1' },
            { name: 'a', value: '1' },
          ]),
      ),
      /^annotations\[1\]: duplicate annotation "a"/,
    ],
    [
      'relative pathWhitelist (spec; the reference allows it)',
      image((m) => (m['pathWhitelist'] = ['etc/x'])),
      /^pathWhitelist\[0\]: must be an absolute path/,
    ],
    [
      'negative supplementary GID (spec says unsigned; the reference allows it)',
      image((_m, a) => (a['supplementaryGIDs'] = [-1])),
      /^app\.supplementaryGIDs\[0\]: /,
    ],
    [
      'upper-case keys (we match keys exactly; Go does not)',
      JSON.stringify({ ACKIND: 'ImageManifest', acVersion: '0.8.11', name: 'a' }),
      /^acKind: is required/,
    ],
    [
      'dependency imageID of the full length, not hex',
      image((m) => (m['dependencies'] = [{ imageName: 'a', imageID: 'sha512-' + 'z'.repeat(128) }])),
      /^dependencies\[0\]\.imageID: image ID "sha512-z+" is not a sha512 digest of 128 lowercase hex digits/,
    ],
    [
      'dependency imageID of the full length, upper-case hex',
      image((m) => (m['dependencies'] = [{ imageName: 'a', imageID: 'sha512-' + 'AB'.repeat(64) }])),
      /^dependencies\[0\]\.imageID: /,
    ],
    [
      'dependency imageID longer than a digest',
      image((m) => (m['dependencies'] = [{ imageName: 'a', imageID: 'sha512-' + 'a'.repeat(130) }])),
      /^dependencies\[0\]\.imageID: /,
    ],
    ['trailing garbage', image(() => {}) + ' x', /invalid JSON/],
    ['wrong type for labels', image((m) => (m['labels'] = {})), /^labels: must be an array, got an object/],
    ['a top-level array', '[]', /must be an object/],
  ];
  for (const [what, text, message] of rejected) {
    it(what, () =>
      assert.throws(
        () => parseImageManifest(text),
        (e: unknown) => e instanceof AppcError && message.test(e.message),
      ),
    );
  }
});

describe('pod manifest', () => {
  const accepted: [string, string][] = [
    ['the base pod', podText(() => {})],
    ['no apps', JSON.stringify({ acVersion: '0.8.11', acKind: 'PodManifest', apps: [] })],
    ['app without image id (template)', podText((_m, a) => (a['image'] = { name: 'example.com/x' }))],
    [
      'recursive on an empty volume (warning)',
      podText((m) => (m['volumes'] = [{ name: 'v', kind: 'empty', recursive: true }])),
    ],
    [
      'pod-level unknown isolator (warning)',
      podText((m) => (m['isolators'] = [{ name: 'example.com/x', value: 1 }])),
    ],
    ['hostIP ::1', podText((m) => (m['ports'] = [{ name: 'p', hostPort: 80, hostIP: '::1' }]))],
    ['hostPort 0', podText((m) => (m['ports'] = [{ name: 'p', hostPort: 0 }]))],
    [
      'annotation example.com/x',
      podText((m) => (m['annotations'] = [{ name: 'example.com/x', value: '1' }])),
    ],
    [
      'podPort',
      podText(
        (m) =>
          (m['ports'] = [{ name: 'p', hostPort: 8080, podPort: { name: 'p', protocol: 'tcp', port: 80 } }]),
      ),
    ],
    [
      'appVolume',
      podText(
        (_m, a) =>
          (a['mounts'] = [
            { volume: 'v', path: '/v', appVolume: { name: 'v', kind: 'host', source: '/srv' } },
          ]),
      ),
    ],
    [
      'readOnlyRootFS and app override',
      podText(
        (_m, a) => ((a['readOnlyRootFS'] = true), (a['app'] = { exec: ['/x'], user: '1', group: '1' })),
      ),
    ],
  ];
  for (const [what, text] of accepted)
    it(`accepts ${what}`, () => assert.doesNotThrow(() => parsePodManifest(text)));

  const rejected: [string, string, RegExp][] = [
    [
      'missing acVersion (spec; the reference allows it)',
      podText((m) => delete m['acVersion']),
      /^acVersion: is required/,
    ],
    ['missing apps', podText((m) => delete m['apps']), /^apps: is required/],
    [
      'acKind ImageManifest',
      podText((m) => (m['acKind'] = 'ImageManifest')),
      /^acKind: must be "PodManifest"/,
    ],
    [
      'duplicate app names',
      podText(
        (m) =>
          (m['apps'] = [
            { name: 'a', image: {} },
            { name: 'a', image: {} },
          ]),
      ),
      /^apps\[1\]: duplicate app name "a"/,
    ],
    ['app name with a dot', podText((_m, a) => (a['name'] = 'a.b')), /^apps\[0\]\.name: /],
    ['app name with a slash', podText((_m, a) => (a['name'] = 'a/b')), /^apps\[0\]\.name: /],
    ['app without image', podText((_m, a) => delete a['image']), /^apps\[0\]\.image: is required/],
    [
      'bad image id',
      podText((_m, a) => (a['image'] = { id: 'sha256-x' })),
      /^apps\[0\]\.image\.id: unrecognized hash type/,
    ],
    [
      'image label os=windows',
      podText((_m, a) => (a['image'] = { labels: [{ name: 'os', value: 'windows' }] })),
      /^apps\[0\]\.image\.labels: bad os/,
    ],
    [
      'app override without user',
      podText((_m, a) => (a['app'] = { exec: ['/x'], group: '0' })),
      /^apps\[0\]\.app\.user: is required/,
    ],
    [
      'mount without path (spec; the reference allows it)',
      podText((_m, a) => (a['mounts'] = [{ volume: 'v' }])),
      /^apps\[0\]\.mounts\[0\]\.path: is required/,
    ],
    [
      'host volume with relative source',
      podText((m) => (m['volumes'] = [{ name: 'v', kind: 'host', source: 'x' }])),
      /^volumes\[0\]\.source: must be an absolute path/,
    ],
    [
      'host volume without source',
      podText((m) => (m['volumes'] = [{ name: 'v', kind: 'host' }])),
      /^volumes\[0\]\.source: is required/,
    ],
    [
      'host volume with mode',
      podText((m) => (m['volumes'] = [{ name: 'v', kind: 'host', source: '/x', mode: '0755' }])),
      /^volumes\[0\]\.mode: is not allowed on a host volume/,
    ],
    [
      'empty volume with source',
      podText((m) => (m['volumes'] = [{ name: 'v', kind: 'empty', source: '/x' }])),
      /^volumes\[0\]\.source: is not allowed/,
    ],
    [
      'empty volume with numeric mode',
      podText((m) => (m['volumes'] = [{ name: 'v', kind: 'empty', mode: 755 }])),
      /^volumes\[0\]\.mode: must be a string/,
    ],
    [
      'empty volume with junk mode (spec: octal; the reference allows it)',
      podText((m) => (m['volumes'] = [{ name: 'v', kind: 'empty', mode: 'junk' }])),
      /^volumes\[0\]\.mode: must be an octal mode/,
    ],
    [
      'unknown volume kind',
      podText((m) => (m['volumes'] = [{ name: 'v', kind: 'nfs' }])),
      /^volumes\[0\]\.kind: must be "host" or "empty"/,
    ],
    [
      'duplicate volume names',
      podText(
        (m) =>
          (m['volumes'] = [
            { name: 'v', kind: 'empty' },
            { name: 'v', kind: 'host', source: '/tmp' },
          ]),
      ),
      /^volumes\[1\]: duplicate volume name "v"/,
    ],
    [
      'bad hostIP',
      podText((m) => (m['ports'] = [{ name: 'p', hostPort: 80, hostIP: '1.2.3' }])),
      /^ports\[0\]\.hostIP: "1\.2\.3" is not an IP address/,
    ],
    [
      'podPort with port 0',
      podText(
        (m) => (m['ports'] = [{ name: 'p', hostPort: 80, podPort: { name: 'p', protocol: 'tcp', port: 0 } }]),
      ),
      /^ports\[0\]\.podPort\.port: /,
    ],
    [
      'duplicate exposed port names',
      podText(
        (m) =>
          (m['ports'] = [
            { name: 'p', hostPort: 80 },
            { name: 'p', hostPort: 81 },
          ]),
      ),
      /^ports\[1\]: duplicate port name "p"/,
    ],
    [
      'two pod-level sysctl (spec: one per pod; the reference allows it)',
      podText(
        (m) =>
          (m['isolators'] = [
            { name: 'os/unix/sysctl', value: {} },
            { name: 'os/unix/sysctl', value: {} },
          ]),
      ),
      /^isolators\[1\]: only one/,
    ],
    [
      'unknown isolator inside the app override is kept, but a bad known one fails',
      podText(
        (_m, a) =>
          (a['app'] = {
            user: '0',
            group: '0',
            isolators: [{ name: 'resource/cpu', value: { default: true } }],
          }),
      ),
      /^apps\[0\]\.app\.isolators\[0\]\.value\.default: must be false/,
    ],
  ];
  for (const [what, text, message] of rejected) {
    it(`rejects ${what}`, () =>
      assert.throws(
        () => parsePodManifest(text, 'pod'),
        (e: unknown) =>
          e instanceof AppcError && new RegExp(`^pod: ${message.source.replace(/^\^/, '')}`).test(e.message),
      ));
  }

  it('keeps warnings with their path', () => {
    const { warnings } = parsePodManifest(
      podText((m) => (m['volumes'] = [{ name: 'v', kind: 'empty', recursive: true }])),
      'p.json',
    );
    assert.deepEqual(warnings, ['p.json: volumes[0].recursive: has no effect on an empty volume']);
  });
});
