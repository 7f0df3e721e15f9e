// Vectors ported from appc/spec schema/types/*_test.go (acidentifier, acname, semver, hash, uuid,
// date, url, environment, labels) plus our deliberate differences, commented where they are.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import {
  appcArchFromNode,
  appcOsArchFromNode,
  compareSemver,
  DEFAULT_CAPABILITIES,
  formatUUID,
  httpUrlProblem,
  isACIdentifier,
  isACName,
  isEnvName,
  isFullImageId,
  isRFC3339,
  parseImageId,
  parseSemver,
  parseUUID,
  sanitizeACIdentifier,
  sanitizeACName,
  shortImageId,
  validateOsArch,
} from '../../../src/appc/index.js';

describe('AC Identifier', () => {
  const good = [
    'asdf',
    'foo-bar-baz',
    'zab_rab_oof',
    'database',
    'my~database',
    'example.com/database',
    'example.com/~bob/database',
    'example.com/ourapp-1.0.0',
    'sub-domain.example.com/org/product/release-1.0.0',
    'sub-domain.example.com/org/product/~alice/release-1.0.0',
    'example-ourapp-1-0-0',
  ];
  const bad = [
    '',
    'BAR',
    'foo#',
    'EXAMPLE.com',
    'foo.com/BAR',
    '/app',
    'app/',
    '-app',
    'app-',
    '.app',
    'app.',
    '_app',
    'app_',
    '~app',
    'app~',
    'example.com/app#1',
    '~example.com/app1',
  ];
  for (const s of good) it(`accepts ${JSON.stringify(s)}`, () => assert.equal(isACIdentifier(s), true));
  for (const s of bad) it(`rejects ${JSON.stringify(s)}`, () => assert.equal(isACIdentifier(s), false));
  it('rejects separator runs (spec regex; the reference accepts them)', () => {
    for (const s of ['a--b', 'a..b', 'a//b', 'a._b', 'a~/b', 'a/~~b'])
      assert.equal(isACIdentifier(s), false, s);
    // ...except `/~`, which the spec's own example `example.com/~user/app_v1` uses.
    assert.equal(isACIdentifier('example.com/~user/app_v1'), true);
  });

  it('sanitizes like the reference', () => {
    const cases: Record<string, string> = {
      'foo#': 'foo',
      FOO: 'foo',
      'EXAMPLE.com': 'example.com',
      'foo.com/BAR': 'foo.com/bar',
      '/app': 'app',
      'app/': 'app',
      '-app': 'app',
      'app.': 'app',
      _app: 'app',
      'app~': 'app',
      'app///': 'app',
      '-/.app..': 'app',
      '-/app.name-test/-/': 'app.name-test',
      'sub-domain.example.com/org/product/~alice/release-1.0.0':
        'sub-domain.example.com/org/product/~alice/release-1.0.0',
    };
    for (const [input, want] of Object.entries(cases)) assert.equal(sanitizeACIdentifier(input), want, input);
    // Ours also collapses runs so the result always passes the strict check.
    assert.equal(sanitizeACIdentifier('a##b'), 'a_b');
    assert.equal(sanitizeACIdentifier('Example.com/~Bob//App'), 'example.com/~bob/app');
    for (const s of ['__', '..', '//', '', './/-']) assert.equal(sanitizeACIdentifier(s), undefined, s);
  });
});

describe('AC Name', () => {
  for (const s of ['asdf', 'foo-bar-baz', 'database', 'a1'])
    it(`accepts ${s}`, () => assert.equal(isACName(s), true));
  const bad = [
    '',
    'foo#',
    'example.com',
    'EXAMPLE.com',
    'example/database',
    'example/database-1.0.0',
    'foo.com/BAR',
    'example.com/app_1',
    '/app',
    'app/',
    '-app',
    'app-',
    '.app',
    'app.',
    'M',
  ];
  for (const s of bad) it(`rejects ${JSON.stringify(s)}`, () => assert.equal(isACName(s), false));
  it('rejects `a--b` (spec regex; the reference accepts it)', () => assert.equal(isACName('a--b'), false));
  it('sanitizes', () => {
    const cases: Record<string, string> = {
      'foo#': 'foo',
      'EXAMPLE.com': 'example-com',
      'foo.com/BAR': 'foo-com-bar',
      'example.com/app_1': 'example-com-app-1',
      '-/.app..': 'app',
      '-/app.name-test/-/': 'app-name-test',
      'sub-domain.example.com/org/product/release-1.0.0': 'sub-domain-example-com-org-product-release-1-0-0',
    };
    for (const [input, want] of Object.entries(cases)) assert.equal(sanitizeACName(input), want, input);
    for (const s of ['__', '..', '//', '', './/-']) assert.equal(sanitizeACName(s), undefined, s);
  });
});

describe('SemVer', () => {
  it('parses valid versions', () => {
    assert.deepEqual(parseSemver('1.0.0'), { major: 1, minor: 0, patch: 0 });
    assert.deepEqual(parseSemver('3.2.1-foo'), { major: 3, minor: 2, patch: 1, prerelease: 'foo' });
    assert.deepEqual(parseSemver('1.2.3-alpha+git'), {
      major: 1,
      minor: 2,
      patch: 3,
      prerelease: 'alpha',
      build: 'git',
    });
    assert.deepEqual(parseSemver('0.8.11+git'), { major: 0, minor: 8, patch: 11, build: 'git' });
  });
  it('rejects malformed versions', () => {
    for (const s of ['1', '1.2.3.4', 'v1.2.3', '0.8', '', '01.2.3', '1.2.3-'])
      assert.equal(parseSemver(s), undefined, s);
  });
  it('orders by precedence', () => {
    const v = (s: string) => parseSemver(s) ?? assert.fail(s);
    assert.ok(compareSemver(v('0.8.11'), v('0.8.2')) > 0);
    assert.ok(compareSemver(v('1.0.0-alpha'), v('1.0.0')) < 0);
    assert.ok(compareSemver(v('1.0.0-alpha.1'), v('1.0.0-alpha.beta')) < 0);
    assert.equal(compareSemver(v('1.0.0+a'), v('1.0.0+b')), 0);
  });
});

describe('image ID', () => {
  const full = `sha512-${'ab'.repeat(64)}`;
  it('parses sha512 IDs, including the non-hex ones the reference accepts', () => {
    assert.deepEqual(parseImageId(full), { algorithm: 'sha512', hex: 'ab'.repeat(64) });
    assert.deepEqual(parseImageId('sha512-zz'), { algorithm: 'sha512', hex: 'zz' });
    assert.deepEqual(parseImageId('sha512-...'), { algorithm: 'sha512', hex: '...' });
  });
  it('rejects other algorithms and bad shapes', () => {
    assert.throws(() => parseImageId('sha256-abc'), /unrecognized hash type/);
    assert.throws(() => parseImageId('sha512-a-b'), /badly formatted/);
    assert.throws(() => parseImageId('sha512-'), /empty hash value/);
    assert.throws(() => parseImageId('-abcdef'), /empty hash type/);
    assert.throws(() => parseImageId('abcdef'), /badly formatted/);
  });
  it('knows full digests and short forms', () => {
    assert.equal(isFullImageId(full), true);
    assert.equal(isFullImageId('sha512-zz'), false);
    assert.equal(isFullImageId(full.toUpperCase()), false);
    assert.equal(shortImageId(full), `sha512-${'ab'.repeat(16)}`);
    assert.equal(shortImageId('sha512-ab'), 'sha512-ab');
  });
});

describe('UUID', () => {
  it('parses and canonicalises', () => {
    assert.equal(parseUUID('6733C088-A507-4694-AABF-EDBE4FC5266F'), '6733c088-a507-4694-aabf-edbe4fc5266f');
    assert.equal(parseUUID('6733C088A5074694AABFEDBE4FC5266F'), '6733c088-a507-4694-aabf-edbe4fc5266f');
    assert.equal(parseUUID('0aaf0a791a394d59abbf1bebca8209d2'), '0aaf0a79-1a39-4d59-abbf-1bebca8209d2');
  });
  it('rejects bad UUIDs', () => {
    for (const s of [
      'asdf',
      '0AAF0A79-1A39-4D59-ABBF-1BEBCA8209D2ABC',
      '',
      'zzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzz',
      '00000000-0000-0000-0000-000000000000',
    ]) {
      assert.throws(() => parseUUID(s), Error, s);
    }
  });
  it('formats bytes', () => {
    assert.equal(
      formatUUID(Buffer.from('0aaf0a791a394d59abbf1bebca8209d2', 'hex')),
      '0aaf0a79-1a39-4d59-abbf-1bebca8209d2',
    );
    assert.throws(() => formatUUID(new Uint8Array(15)));
  });
});

describe('dates, URLs, environment names', () => {
  it('accepts RFC 3339 date-times', () => {
    for (const s of [
      '2004-05-14T23:11:14+00:00',
      '2001-02-03T04:05:06Z',
      '2014-11-14T17:36:54-08:00',
      '2014-10-27T19:32:27.67021798Z',
      '2016-02-29T00:00:00Z',
    ]) {
      assert.equal(isRFC3339(s), true, s);
    }
  });
  it('rejects other dates', () => {
    for (const s of [
      'garbage',
      '1416015188',
      'Fri Nov 14 17:53:02 PST 2014',
      '2014-11-1417:36:54',
      '2014-11-14 17:36:54Z',
      '2014-11-14T17:36:54',
      '2015-02-29T00:00:00Z',
      '2014-13-01T00:00:00Z',
      '2014-11-14T24:00:00Z',
      '2014-11-14T17:36:54+0800',
    ]) {
      assert.equal(isRFC3339(s), false, s);
    }
  });
  it('accepts only http(s) URLs', () => {
    for (const s of ['http://foo.com', 'http://foo.com/huh/what?is=this', 'https://example.com/bar'])
      assert.equal(httpUrlProblem(s), undefined, s);
    for (const s of ['ftp://foo.com', 'unix:///hello', 'unix://file.net', 'not a url', 'not-A$@#URL'])
      assert.notEqual(httpUrlProblem(s), undefined, s);
  });
  it('checks environment names', () => {
    for (const s of ['DEBUG', '_0_DEBUG_0_', 'DEBUG.0', 'DEBUG-0', 'a']) assert.equal(isEnvName(s), true, s);
    for (const s of ['', '0DEBUG', 'VERBOSE|DEBUG', '1A', '.A', '-A']) assert.equal(isEnvName(s), false, s);
  });
});

describe('os/arch labels', () => {
  const ok: [string, string][] = [
    ['linux', 'amd64'],
    ['linux', 'aarch64'],
    ['linux', 'aarch64_be'],
    ['linux', 'armv6l'],
    ['linux', 'armv7l'],
    ['linux', 'armv7b'],
    ['linux', 'ppc64le'],
    ['linux', 'ppc64'],
    ['linux', 's390x'],
    ['freebsd', 'amd64'],
    ['freebsd', 'arm'],
    ['darwin', 'x86_64'],
  ];
  for (const [os, arch] of ok)
    it(`accepts ${os}/${arch}`, () => assert.equal(validateOsArch(os, arch), undefined));
  const badArch: [string, string][] = [
    ['linux', 'arm64'],
    ['linux', 'arm64_be'],
    ['linux', 'arm'],
    ['linux', 'ppc64l'],
    ['linux', 'ppc64b'],
    ['linux', 'ppc64be'],
    ['linux', 'S390x'],
    ['freebsd', 'armv7b'],
    ['darwin', 'amd64'],
  ];
  for (const [os, arch] of badArch) {
    it(`rejects ${os}/${arch}`, () =>
      assert.match(validateOsArch(os, arch) ?? '', new RegExp(`^bad arch "${arch}" for ${os}`)));
  }
  it('rejects unknown os, ignores arch without os', () => {
    assert.match(validateOsArch('OS/360', 'S/360') ?? '', /^bad os "OS\/360"/);
    assert.match(validateOsArch('windows', undefined) ?? '', /^bad os/);
    assert.equal(validateOsArch(undefined, 'whatever'), undefined);
  });
  it('maps Node arch names', () => {
    assert.equal(appcArchFromNode('x64'), 'amd64');
    assert.equal(appcArchFromNode('arm64'), 'aarch64');
    assert.equal(appcArchFromNode('ia32'), 'i386');
    assert.equal(appcArchFromNode('arm'), 'armv6l');
    assert.equal(appcArchFromNode('arm', { armVersion: '7' }), 'armv7l');
    assert.equal(appcArchFromNode('ppc64', { endianness: 'LE' }), 'ppc64le');
    assert.equal(appcArchFromNode('ppc64', { endianness: 'BE' }), 'ppc64');
    assert.equal(appcArchFromNode('s390x'), 's390x');
    assert.throws(() => appcArchFromNode('mips'));
    assert.deepEqual(appcOsArchFromNode('darwin', 'x64'), { os: 'darwin', arch: 'x86_64' });
    assert.deepEqual(appcOsArchFromNode('freebsd', 'ia32'), { os: 'freebsd', arch: 'i386' });
    assert.throws(() => appcOsArchFromNode('win32', 'x64'));
  });
  it('has the 14 default capabilities', () => {
    assert.equal(DEFAULT_CAPABILITIES.length, 14);
    assert.ok(DEFAULT_CAPABILITIES.includes('CAP_NET_BIND_SERVICE'));
    assert.ok(!DEFAULT_CAPABILITIES.includes('CAP_SYS_ADMIN'));
  });
});
