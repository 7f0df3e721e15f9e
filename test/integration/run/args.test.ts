// The root-free parts of rkt run/enter: argument parsing and engine choices.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { parseEnterArgs } from '../../../src/cli/rkt/pod/enter.js';
import { parseNetList } from '../../../src/net/netlist.js';
import { runtimeChoice } from '../../../src/stage1/oci/engine.js';

const netMode = (net: string[]): string => parseNetList(net).mode;

describe('rkt run and enter arguments', () => {
  it('parses enter: --app, the UUID, then the command with its own flags', () => {
    assert.deepEqual(parseEnterArgs(['--app=web', 'abc', '/bin/sh', '-c', 'id']), {
      app: 'web',
      uuid: 'abc',
      command: ['/bin/sh', '-c', 'id'],
    });
    assert.deepEqual(parseEnterArgs(['abc']), { uuid: 'abc', command: [] });
    assert.deepEqual(parseEnterArgs(['--app', 'x', 'abc', '--', 'ls']), {
      app: 'x',
      uuid: 'abc',
      command: ['ls'],
    });
    assert.throws(() => parseEnterArgs([]), /UUID/);
  });

  it('reads --net as none, host, or CNI networks (default when not given)', () => {
    assert.equal(netMode([]), 'cni');
    assert.equal(netMode(['default']), 'cni');
    assert.equal(netMode(['none']), 'none');
    assert.equal(netMode(['host']), 'host');
    assert.throws(
      () => netMode(['none', 'default']),
      (e: Error & { kind?: string }) => e.kind === 'invalid-argument',
    );
  });

  it('chooses the runtime from the engine name or RKT_OCI_RUNTIME', () => {
    const saved = process.env['RKT_OCI_RUNTIME'];
    try {
      delete process.env['RKT_OCI_RUNTIME'];
      assert.equal(runtimeChoice('oci-runc'), 'runc');
      assert.equal(runtimeChoice('oci-crun'), 'crun');
      assert.equal(runtimeChoice(undefined), undefined);
      process.env['RKT_OCI_RUNTIME'] = 'runc';
      assert.equal(runtimeChoice('oci'), 'runc');
      assert.throws(() => runtimeChoice('fly'), /unknown engine/);
    } finally {
      if (saved === undefined) delete process.env['RKT_OCI_RUNTIME'];
      else process.env['RKT_OCI_RUNTIME'] = saved;
    }
  });
});
