import assert from 'node:assert/strict';
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import {
  ascPathFor,
  ascUrlFor,
  authorizationFor,
  checksStoreFirst,
  classifyImage,
  isFresh,
  loadAuthHeaders,
  manifestMismatch,
  mayDownload,
  parseAuthFile,
  parseFetchOperands,
  parseMaxAge,
  progressLine,
  pullPolicyFromFlags,
  withHostLabels,
} from '../../../src/fetch/index.js';
import { parseAppString } from '../../../src/discovery/index.js';
import { tempDir } from '../../helpers.js';

describe('image argument classification', () => {
  let work: Awaited<ReturnType<typeof tempDir>>;
  before(async () => {
    work = await tempDir('rocket-fetch-args-');
    writeFileSync(join(work.path, 'example.com'), 'a file named like an image');
  });
  after(() => work.cleanup());

  test('names, versions and labels go to discovery', () => {
    const a = classifyImage('example.com/app:1.0,channel=beta', work.path);
    assert.equal(a.kind, 'name');
    assert.ok(a.kind === 'name');
    assert.equal(a.app.name, 'example.com/app');
    assert.deepEqual(
      [...a.app.labels],
      [
        ['version', '1.0'],
        ['channel', 'beta'],
      ],
    );
    assert.equal(classifyImage('127.77.1.2/app:1.0.0', work.path).kind, 'name');
  });
  test('paths: absolute, ./ , .aci, file://, and a file in cwd taking precedence', () => {
    assert.deepEqual(classifyImage('/x/y.aci', work.path), { kind: 'file', path: '/x/y.aci' });
    assert.deepEqual(classifyImage('./y', work.path), { kind: 'file', path: join(work.path, 'y') });
    assert.deepEqual(classifyImage('sub/y.aci', work.path), {
      kind: 'file',
      path: join(work.path, 'sub/y.aci'),
    });
    assert.deepEqual(classifyImage('file:///x/y.aci', work.path), { kind: 'file', path: '/x/y.aci' });
    assert.deepEqual(classifyImage('example.com', work.path), {
      kind: 'file',
      path: join(work.path, 'example.com'),
    });
  });
  test('URLs need .aci; IDs; docker:// is its own kind', () => {
    const u = classifyImage('https://example.com/a/b.aci');
    assert.equal(u.kind, 'url');
    assert.throws(() => classifyImage('https://example.com/a/b.tar'), /invalid image string/);
    assert.deepEqual(classifyImage('sha512-abcdef'), { kind: 'id', id: 'sha512-abcdef' });
    assert.deepEqual(classifyImage('docker://busybox'), { kind: 'docker', url: 'docker://busybox' });
    assert.throws(() => classifyImage('Example.com/App'), /invalid appc image string/);
  });
  test('signature locations follow rkt', () => {
    assert.equal(ascPathFor('/a/b.aci'), '/a/b.aci.asc');
    assert.equal(ascPathFor('/a/b'), '/a/b.aci.asc');
    assert.equal(ascUrlFor(new URL('https://h/x/app.aci?q=1')).href, 'https://h/x/app.aci.asc?q=1');
  });
  test('--signature binds to the image before it', () => {
    const { requests, flags } = parseFetchOperands(
      ['a', '--signature=a.sig', 'b', '--signature', 'b.sig', 'c', '--full'],
      {},
    );
    assert.deepEqual(requests, [
      { image: 'a', signature: 'a.sig' },
      { image: 'b', signature: 'b.sig' },
      { image: 'c' },
    ]);
    assert.equal(flags.full, true);
    assert.throws(() => parseFetchOperands(['--signature=x', 'a'], {}), /must follow an image/);
    assert.throws(() => parseFetchOperands(['a', '--bogus'], {}), /unknown flag/);
  });
});

describe('auth.d', () => {
  const basic = (domains: string[], user = 'u', password = 'p'): string =>
    JSON.stringify({
      rktKind: 'auth',
      rktVersion: 'v1',
      domains,
      type: 'basic',
      credentials: { user, password },
    });

  test('basic and oauth headers per domain', () => {
    const m = new Map<string, string>();
    parseAuthFile(basic(['a.com', 'b.com:8443']), m, new Set());
    parseAuthFile(
      JSON.stringify({
        rktKind: 'auth',
        rktVersion: 'v1',
        domains: ['c.com'],
        type: 'oauth',
        credentials: { token: 't0k' },
      }),
      m,
      new Set(),
    );
    assert.equal(m.get('a.com'), 'Basic ' + Buffer.from('u:p').toString('base64'));
    assert.equal(m.get('c.com'), 'Bearer t0k');
    assert.equal(authorizationFor(new URL('https://b.com:8443/x'), m), m.get('b.com:8443'));
    assert.equal(authorizationFor(new URL('https://a.com:8443/x'), m), m.get('a.com'));
    assert.equal(authorizationFor(new URL('https://evil.com/a.com'), m), undefined);
  });
  test('errors: same domain twice in one dir, bad type, missing fields', () => {
    const seen = new Set<string>();
    const m = new Map<string, string>();
    parseAuthFile(basic(['a.com']), m, seen);
    assert.throws(() => parseAuthFile(basic(['a.com']), m, seen), /already specified/);
    assert.throws(() => parseAuthFile(basic([]), m, new Set()), /no domains specified/);
    assert.throws(() => parseAuthFile(basic(['x'], ''), m, new Set()), /no user specified/);
    assert.throws(
      () =>
        parseAuthFile(
          JSON.stringify({ rktKind: 'auth', rktVersion: 'v1', domains: ['x'], type: 'kerberos' }),
          m,
          new Set(),
        ),
      /unknown auth type/,
    );
    assert.throws(() => parseAuthFile('{"rktVersion":"v1"}', m, new Set()), /no rktKind/);
  });
  test('later config dirs override per domain; only *.json directly in auth.d', async () => {
    const work = await tempDir('rocket-auth-');
    try {
      for (const [dir, user] of [
        ['system', 'sys'],
        ['local', 'loc'],
      ] as const) {
        mkdirSync(join(work.path, dir, 'auth.d', 'nested'), { recursive: true });
        writeFileSync(join(work.path, dir, 'auth.d', 'a.json'), basic(['a.com'], user));
        writeFileSync(join(work.path, dir, 'auth.d', 'nested', 'b.json'), basic(['b.com'], user));
        writeFileSync(join(work.path, dir, 'auth.d', 'c.txt'), 'not json');
      }
      const h = loadAuthHeaders([join(work.path, 'system'), join(work.path, 'local'), '']);
      assert.deepEqual([...h.keys()], ['a.com']);
      assert.equal(h.get('a.com'), 'Basic ' + Buffer.from('loc:p').toString('base64'));
    } finally {
      await work.cleanup();
    }
  });
});

describe('pull policy and HTTP caching', () => {
  test('flags map to policies as rkt fetch does', () => {
    assert.equal(pullPolicyFromFlags({}), 'update');
    assert.equal(pullPolicyFromFlags({ storeOnly: true }), 'never');
    assert.equal(pullPolicyFromFlags({ noStore: true, pullPolicy: 'new' }), 'update');
    assert.equal(pullPolicyFromFlags({ pullPolicy: 'new' }), 'new');
    assert.throws(
      () => pullPolicyFromFlags({ storeOnly: true, noStore: true }),
      /both --store-only and --no-store/,
    );
    assert.throws(() => pullPolicyFromFlags({ pullPolicy: 'sometimes' }), /invalid --pull-policy/);
  });
  test('decisions', () => {
    assert.deepEqual(
      (['new', 'update', 'never'] as const).map((p) => [checksStoreFirst(p), mayDownload(p)]),
      [
        [true, true],
        [false, true],
        [true, false],
      ],
    );
  });
  test('max-age parsing and freshness', () => {
    assert.equal(parseMaxAge('public, max-age=60'), 60);
    assert.equal(parseMaxAge('max-age=60, no-cache'), 0);
    assert.equal(parseMaxAge('max-age=060'), 0);
    assert.equal(parseMaxAge('max-age=abc'), 0);
    assert.equal(parseMaxAge(undefined), 0);
    const t = new Date('2020-01-01T00:00:00Z');
    assert.equal(isFresh(t, 60, new Date(t.getTime() + 59_000)), true);
    assert.equal(isFresh(t, 60, new Date(t.getTime() + 60_000)), false);
    assert.equal(isFresh(t, 0, t), false);
  });
});

describe('manifest name and label matching', () => {
  const m = {
    name: 'example.com/app',
    labels: [
      { name: 'version', value: '1' },
      { name: 'os', value: 'linux' },
    ],
  };
  test('matches when the name is equal and requested labels agree', () => {
    assert.equal(manifestMismatch(m, 'example.com/app', new Map([['os', 'linux']])), undefined);
  });
  test('mismatches with rkt messages', () => {
    assert.match(
      manifestMismatch(m, 'example.com/other', new Map()) ?? '',
      /"example.com\/other" expected but "example.com\/app" found/,
    );
    assert.match(
      manifestMismatch(m, 'example.com/app', new Map([['version', '2']])) ?? '',
      /differs from fetched aci label value: "1"/,
    );
    assert.match(
      manifestMismatch(m, 'example.com/app', new Map([['arch', 'amd64']])) ?? '',
      /requested label "arch" not provided/,
    );
  });
  test('host os/arch are added only when not given', () => {
    const app = withHostLabels(parseAppString('example.com/app,arch=aarch64'), [
      ['os', 'linux'],
      ['arch', 'amd64'],
    ]);
    assert.deepEqual(
      [...app.labels],
      [
        ['arch', 'aarch64'],
        ['os', 'linux'],
      ],
    );
  });
});

test('progress line', () => {
  assert.equal(
    progressLine('ACI', 5_000_000, 10_000_000),
    `Downloading ACI: [${'='.repeat(14)}>${' '.repeat(15)}] 5.0 MB/10.0 MB`,
  );
  assert.equal(progressLine('ACI', 1500, undefined), 'Downloading ACI: 1.5 KB');
});
