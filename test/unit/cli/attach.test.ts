// rkt attach's modes and the --stdin|--stdout|--stderr flags behind them.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import type { RuntimeApp } from '../../../src/appc/index.js';
import { appEndpoints, modeEndpoints } from '../../../src/cli/rkt/pod/attach.js';
import type { PodInfo } from '../../../src/pod/index.js';
import { parseRunArgs } from '../../../src/cli/rkt/pod/run-flags.js';
import { RocketError } from '../../../src/errors.js';
import { appIo } from '../../../src/stage1/oci/engine.js';

function app(name: string, modes: Record<string, string>): RuntimeApp {
  return {
    name,
    image: { id: 'sha512-00' },
    annotations: Object.entries(modes).map(([s, value]) => ({ name: `coreos.com/rkt/stage2/${s}`, value })),
  };
}
/** A pod's run dir of usual length. */
const R = `/var/lib/rkt/pods/run/${'0'.repeat(36)}`;
const pod = (...apps: RuntimeApp[]): PodInfo => ({ manifest: { apps } }) as unknown as PodInfo;

describe('--stdin, --stdout, --stderr', () => {
  it('land in the app annotations rkt uses', () => {
    const p = parseRunArgs(['example.com/a', '--stdin=stream', '--stdout=tty', '--stderr=log']);
    assert.deepEqual(p.apps[0]?.annotations, {
      'coreos.com/rkt/stage2/stdin': 'stream',
      'coreos.com/rkt/stage2/stdout': 'tty',
      'coreos.com/rkt/stage2/stderr': 'log',
    });
  });

  it('refuse an unknown mode (log is no stdin mode)', () => {
    assert.throws(() => parseRunArgs(['example.com/a', '--stdin=log']), /--stdin: unknown mode "log"/);
    assert.throws(() => parseRunArgs(['example.com/a', '--stdout=file']), /--stdout: unknown mode "file"/);
  });

  it('tty is all three streams or none; streams go one by one', () => {
    assert.deepEqual(appIo(app('a', { stdin: 'tty', stdout: 'tty', stderr: 'tty' }), R), {
      tty: true,
      stdin: false,
      stdout: false,
      stderr: false,
    });
    assert.deepEqual(appIo(app('a', { stdin: 'stream', stderr: 'stream' }), R), {
      tty: false,
      stdin: true,
      stdout: false,
      stderr: true,
    });
    assert.deepEqual(appIo(app('a', {}), R), { tty: false, stdin: false, stdout: false, stderr: false });
    assert.throws(() => appIo(app('a', { stdin: 'tty' }), R), RocketError);
  });
});

describe('rkt attach --mode', () => {
  const p = pod(
    app('term', { stdin: 'tty', stdout: 'tty', stderr: 'tty' }),
    app('pipe', { stdin: 'stream', stdout: 'stream' }),
    app('plain', {}),
  );

  it('lists the endpoints an app was added with', () => {
    assert.deepEqual(appEndpoints(p, 'term'), ['tty-in', 'tty-out']);
    assert.deepEqual(appEndpoints(p, 'pipe'), ['stdin', 'stdout']);
    assert.deepEqual(appEndpoints(p, 'plain'), []);
  });

  it('auto takes them all; tty, tty-in, tty-out and stream lists take some', () => {
    assert.deepEqual(modeEndpoints('auto', ['tty-in', 'tty-out']), ['tty-in', 'tty-out']);
    assert.deepEqual(modeEndpoints('tty', ['tty-in', 'tty-out']), ['tty-in', 'tty-out']);
    assert.deepEqual(modeEndpoints('tty-out', ['tty-in', 'tty-out']), ['tty-out']);
    assert.deepEqual(modeEndpoints('stdout,stdin,stdout', ['stdin', 'stdout']), ['stdout', 'stdin']);
  });

  it('refuses what the app lacks and unknown modes', () => {
    assert.throws(() => modeEndpoints('stdin', ['tty-in', 'tty-out']), /has a tty/);
    assert.throws(() => modeEndpoints('stderr', ['stdin', 'stdout']), /no stderr endpoint/);
    assert.throws(() => modeEndpoints('tty', ['stdin']), /no tty-in endpoint/);
    assert.throws(() => modeEndpoints('bogus', ['stdin']), /unknown mode "bogus"/);
  });
});
