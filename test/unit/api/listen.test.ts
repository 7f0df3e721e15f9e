import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { RocketError } from '../../../src/errors.js';
import {
  bindTarget,
  describeAddress,
  parseListenAddress,
  systemdListenFds,
} from '../../../src/api/listen.js';

describe('--listen addresses', () => {
  const ok: [string, string, string][] = [
    ['localhost:15441', 'localhost:15441', 'localhost:15441'],
    ['127.0.0.5:0', '127.0.0.5:0', '127.0.0.5:0'],
    ['[::1]:80', '[::1]:80', '[::1]:80'],
    [':15441', '[::]:15441', '[::]:15441'],
    ['unix:/run/rkt/api.sock', 'unix:///run/rkt/api.sock', 'unix:/run/rkt/api.sock'],
    ['unix:///run/rkt/api.sock', 'unix:///run/rkt/api.sock', 'unix:/run/rkt/api.sock'],
    ['/run/api.sock', 'unix:///run/api.sock', 'unix:/run/api.sock'],
  ];
  for (const [input, target, shown] of ok)
    it(input, () => {
      const a = parseListenAddress(input);
      assert.equal(bindTarget(a), target);
      assert.equal(describeAddress(a), shown);
    });

  it('shows the port the system chose', () => {
    assert.equal(describeAddress(parseListenAddress('127.0.0.1:0'), 40123), '127.0.0.1:40123');
  });

  for (const bad of ['localhost', 'localhost:99999', 'unix:', '::1:80', 'host:port', ''])
    it(`refuses ${JSON.stringify(bad)}`, () =>
      assert.throws(
        () => parseListenAddress(bad),
        (e: unknown) => e instanceof RocketError && e.exitCode === 254,
      ));
});

describe('systemd socket activation', () => {
  it('takes the fds meant for this pid and clears the variables', () => {
    const env: NodeJS.ProcessEnv = { LISTEN_PID: '77', LISTEN_FDS: '2', LISTEN_FDNAMES: 'a:b' };
    assert.deepEqual(systemdListenFds(env, 77), [3, 4]);
    assert.deepEqual(env, {});
  });
  it('ignores fds meant for another process', () => {
    assert.deepEqual(systemdListenFds({ LISTEN_PID: '78', LISTEN_FDS: '1' }, 77), []);
    assert.deepEqual(systemdListenFds({}, 77), []);
  });
});
