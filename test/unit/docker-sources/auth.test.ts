import assert from 'node:assert/strict';
import { chmod, mkdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { lookupCredentials, parseWwwAuthenticate } from '../../../src/docker/sources/index.js';
import { tempDir } from '../../helpers.js';

describe('parseWwwAuthenticate', () => {
  test('a Bearer challenge whose scope holds commas (docker2aci passes these through as plain 401s)', () => {
    const c = parseWwwAuthenticate(
      'Bearer realm="https://auth.example/token",service="registry.example",scope="repository:a/b:pull,push"',
    );
    assert.deepEqual(c, [
      {
        scheme: 'bearer',
        params: {
          realm: 'https://auth.example/token',
          service: 'registry.example',
          scope: 'repository:a/b:pull,push',
        },
      },
    ]);
  });

  test('only realm and service (the /v2/ ping), mixed case, spaces, unquoted values', () => {
    const c = parseWwwAuthenticate('BEARER  Realm = "https://t/token" , Service=reg');
    assert.deepEqual(c, [{ scheme: 'bearer', params: { realm: 'https://t/token', service: 'reg' } }]);
  });

  test('several challenges in one value and in several headers; escaped quotes', () => {
    const c = parseWwwAuthenticate([
      'Basic realm="a \\"quoted\\" realm", Bearer realm="https://t",scope="x"',
      'Negotiate',
    ]);
    assert.deepEqual(
      c.map((x) => x.scheme),
      ['basic', 'bearer', 'negotiate'],
    );
    assert.equal(c[0]?.params.realm, 'a "quoted" realm');
    assert.equal(c[1]?.params.scope, 'x');
  });

  test('a token68 challenge does not produce bogus schemes', () => {
    const c = parseWwwAuthenticate('Basic YWxhZGRpbjpvcGVuc2VzYW1l==, Bearer realm="r"');
    assert.deepEqual(
      c.map((x) => x.scheme),
      ['basic', 'bearer'],
    );
    assert.equal(c[1]?.params.realm, 'r');
  });

  test('garbage does not hang', () => {
    assert.ok(Array.isArray(parseWwwAuthenticate('=,="";;; Bearer realm="x",,,')));
    assert.deepEqual(parseWwwAuthenticate(''), []);
  });
});

describe('lookupCredentials', () => {
  let dir: Awaited<ReturnType<typeof tempDir>>;
  const b64 = (s: string): string => Buffer.from(s).toString('base64');
  before(async () => {
    dir = await tempDir('rocket-d2a-auth-');
    await mkdir(join(dir.path, 'docker'));
    await writeFile(
      join(dir.path, 'docker', 'config.json'),
      JSON.stringify({
        auths: {
          '127.0.0.1:5001': { auth: b64('testuser:test:password') },
          'https://Registry.Example:443/v2/': { auth: b64('u2:p2') },
          'https://index.docker.io/v1/': { auth: b64('hubuser:hubpass') },
          'plain.example': { username: 'u3', password: 'p3' },
        },
        credHelpers: { 'helped.example': 'rockettest' },
      }),
    );
    const bin = join(dir.path, 'bin');
    await mkdir(bin);
    const helper = join(bin, 'docker-credential-rockettest');
    await writeFile(
      helper,
      '#!/bin/sh\nread host\n[ "$1" = get ] && [ "$host" = helped.example ] && echo \'{"ServerURL":"helped.example","Username":"hu","Secret":"hs"}\' && exit 0\necho "credentials not found" >&2; exit 1\n',
    );
    await chmod(helper, 0o755);
    process.env.PATH = `${bin}:${process.env.PATH ?? ''}`;
  });
  after(async () => dir.cleanup());

  const cfg = (): string => join(dir.path, 'docker');

  test('auths by host:port, with a colon in the password', async () => {
    assert.deepEqual(await lookupCredentials('127.0.0.1:5001', { dockerConfigDir: cfg() }), {
      user: 'testuser',
      password: 'test:password',
    });
  });
  test('keys with scheme and path, case-insensitive hosts', async () => {
    assert.deepEqual(await lookupCredentials('registry.example:443', { dockerConfigDir: cfg() }), {
      user: 'u2',
      password: 'p2',
    });
  });
  test('Docker Hub uses the https://index.docker.io/v1/ key', async () => {
    assert.deepEqual(await lookupCredentials('registry-1.docker.io', { dockerConfigDir: cfg() }), {
      user: 'hubuser',
      password: 'hubpass',
    });
  });
  test('username/password fields', async () => {
    assert.deepEqual(await lookupCredentials('plain.example', { dockerConfigDir: cfg() }), {
      user: 'u3',
      password: 'p3',
    });
  });
  test('credHelpers run docker-credential-<name> get', async () => {
    assert.deepEqual(await lookupCredentials('helped.example', { dockerConfigDir: cfg() }), {
      user: 'hu',
      password: 'hs',
    });
  });
  test('explicit (rkt dockerAuth) wins over the docker config', async () => {
    const explicit = { '127.0.0.1:5001': { user: 'rkt', password: 'pw' } };
    assert.deepEqual(await lookupCredentials('127.0.0.1:5001', { explicit, dockerConfigDir: cfg() }), {
      user: 'rkt',
      password: 'pw',
    });
  });
  test('DOCKER_CONFIG is the default directory; unknown hosts and missing files give nothing', async () => {
    const saved = process.env.DOCKER_CONFIG;
    process.env.DOCKER_CONFIG = cfg();
    try {
      assert.equal((await lookupCredentials('127.0.0.1:5001', {}))?.user, 'testuser');
      assert.equal(await lookupCredentials('unknown.example', {}), undefined);
    } finally {
      if (saved === undefined) delete process.env.DOCKER_CONFIG;
      else process.env.DOCKER_CONFIG = saved;
    }
    assert.equal(
      await lookupCredentials('127.0.0.1:5001', { dockerConfigDir: join(dir.path, 'missing') }),
      undefined,
    );
    assert.equal(await lookupCredentials('127.0.0.1:5001', { dockerConfigDir: false }), undefined);
  });
});
