/** App strings (`NAME[:VERSION][,LABEL=VALUE...]`), vectors from the reference parse_test.go. */
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import {
  appToString,
  hostGoArch,
  hostGoOS,
  newApp,
  parseAppString,
  withDefaultLabels,
  withDefaultVersion,
  type DiscoveryApp,
} from '../../../src/discovery/index.js';
import { RocketError } from '../../../src/errors.js';

function plain(app: DiscoveryApp): { name: string; labels: Record<string, string> } {
  return { name: app.name, labels: Object.fromEntries(app.labels) };
}

describe('parseAppString', () => {
  const good: [string, string, Record<string, string>][] = [
    ['example.com/reduce-worker:1.0.0', 'example.com/reduce-worker', { version: '1.0.0' }],
    [
      'example.com/reduce-worker,channel=alpha,label=value',
      'example.com/reduce-worker',
      { channel: 'alpha', label: 'value' },
    ],
    [
      "example.com/app:1.2.3,special=!*'();@&+$/?#[],channel=beta",
      'example.com/app',
      { version: '1.2.3', special: "!*'();@&+$/?#[]", channel: 'beta' },
    ],
    ['example.com/app', 'example.com/app', {}],
    ['example.com/app,version=2', 'example.com/app', { version: '2' }],
    ['example.com/app:', 'example.com/app', { version: '' }],
    ['example.com/app,a=b=c', 'example.com/app', { a: 'b=c' }],
    ['example.com/user~1/app_v1', 'example.com/user~1/app_v1', {}],
  ];
  for (const [input, name, labels] of good) {
    test(`accepts ${input}`, () => {
      assert.deepEqual(plain(parseAppString(input)), { name, labels });
    });
  }

  test('puts the version from NAME:VERSION first', () => {
    assert.deepEqual([...parseAppString('a.com/x:1,os=linux').labels.keys()], ['version', 'os']);
  });

  const bad: [string, string, RegExp][] = [
    ['bad AC name', 'not an app name', /ACIdentifier must contain only lower case alphanumeric characters/],
    ['bad URL escape', 'example.com/garbage%8 939', /ACIdentifier must contain only/],
    [
      'multi-value label',
      'foo.com/bar,channel=alpha,dog=woof,channel=beta',
      /^label channel with multiple values \["alpha" "beta"\]$/,
    ],
    [
      'colon after a label',
      'example.com/app,channel=beta:1.2.3',
      /colon may appear only right after the app name/,
    ],
    ['two colons', 'example.com/app:3.2.1,channel=beta:1.2.3', /colon may appear/],
    ['two colons before any comma', 'example.com/app:3.2.1:4', /colon may appear at most once/],
    [
      'implicit and explicit version',
      'example.com/app:3.2.1,version=1.2.3',
      /^label version with multiple values/,
    ],
    ['empty string', '', /^ACIdentifier cannot be empty$/],
    ['label without value', 'example.com/app,channel', /has a label without a value: channel$/],
    ['trailing comma', 'example.com/app,', /has a label without a value: $/],
    ['name given twice', 'example.com/app,name=other', /^label name with multiple values/],
    ['bad label name', 'example.com/app,Channel=x', /ACIdentifier must contain only/],
    ['empty label name', 'example.com/app,=x', /ACIdentifier cannot be empty/],
    ['edge separator', 'example.com/app-', /must start and end/],
    ['separator run (spec regex, stricter than the reference)', 'example.com/a--b', /consecutive/],
  ];
  for (const [what, input, message] of bad) {
    test(`rejects ${what}`, () => {
      assert.throws(
        () => parseAppString(input),
        (err: unknown) => err instanceof RocketError && err.exitCode === 1 && message.test(err.message),
      );
    });
  }
});

describe('appToString', () => {
  const apps: DiscoveryApp[] = [
    newApp('example.com/reduce-worker'),
    newApp('example.com/reduce-worker', [['version', '1.0.0']]),
    newApp('example.com/reduce-worker', [
      ['channel', 'alpha'],
      ['label', 'value'],
    ]),
  ];
  for (const app of apps) {
    test(`round-trips ${appToString(app)}`, () => {
      assert.deepEqual(plain(parseAppString(appToString(app))), plain(app));
    });
  }
  test('uses the reference form', () => {
    assert.equal(appToString(newApp('a.com/x', [['version', '1']])), 'a.com/x,version=1');
  });
});

describe('defaults', () => {
  test('version defaults to latest when missing or empty, and says so', () => {
    for (const input of ['a.com/x', 'a.com/x:', 'a.com/x,version=']) {
      const { app, versionDefaulted } = withDefaultVersion(parseAppString(input));
      assert.equal(app.labels.get('version'), 'latest');
      assert.equal(versionDefaulted, true);
    }
    const given = withDefaultVersion(parseAppString('a.com/x:1.0'));
    assert.equal(given.app.labels.get('version'), '1.0');
    assert.equal(given.versionDefaulted, false);
  });

  test('withDefaultLabels fills only missing or empty labels and copies', () => {
    const app = parseAppString('a.com/x,os=,arch=arm');
    const out = withDefaultLabels(app, [
      ['os', 'linux'],
      ['arch', 'amd64'],
      ['extra', 'y'],
    ]);
    assert.deepEqual(Object.fromEntries(out.labels), { os: 'linux', arch: 'arm', extra: 'y' });
    assert.equal(app.labels.get('os'), '');
  });

  test('host os/arch use Go names', () => {
    assert.equal(hostGoArch('x64'), 'amd64');
    assert.equal(hostGoArch('ia32'), '386');
    assert.equal(hostGoArch('arm64'), 'arm64');
    assert.equal(hostGoArch('ppc64'), 'ppc64le');
    assert.equal(hostGoArch('mipsel'), 'mipsle');
    assert.equal(hostGoOS('linux'), 'linux');
    assert.equal(hostGoOS('win32'), 'windows');
    assert.equal(hostGoOS('darwin'), 'darwin');
    assert.equal(typeof hostGoArch(), 'string');
  });
});
