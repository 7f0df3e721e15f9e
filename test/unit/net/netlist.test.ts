import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { parseNetList } from '../../../src/net/netlist.js';

const isBadArgument = (e: Error & { kind?: string }): boolean => e.kind === 'invalid-argument';

describe('--net (rkt NetList)', () => {
  it('means default when absent, and keeps the order and CNI_ARGS of named networks', () => {
    assert.deepEqual(parseNetList([]), { mode: 'cni', all: false, nets: [{ name: 'default', args: '' }] });
    assert.deepEqual(parseNetList(['default', 'n1:IP=10.1.2.3;K2=V2', 'n2']), {
      mode: 'cni',
      all: false,
      nets: [
        { name: 'default', args: '' },
        { name: 'n1', args: 'IP=10.1.2.3;K2=V2' },
        { name: 'n2', args: '' },
      ],
    });
  });

  it('reads all, none and host', () => {
    assert.deepEqual(parseNetList(['all', 'n1:X=1']), {
      mode: 'cni',
      all: true,
      nets: [{ name: 'n1', args: 'X=1' }],
    });
    assert.deepEqual(parseNetList(['none']), { mode: 'none' });
    assert.deepEqual(parseNetList(['host']), { mode: 'host' });
  });

  it('refuses duplicates, empty names, extra colons, arguments of special names, mixing none/host', () => {
    assert.throws(() => parseNetList(['a', 'a:X=1']), /duplicate netname "a"/);
    assert.throws(() => parseNetList([':X=1']), /netname must not be empty/);
    assert.throws(() => parseNetList(['a:X=1:Y']), /invalid arguments/);
    assert.throws(() => parseNetList(['host:X=1']), /not supported by special netname "host"/);
    assert.throws(() => parseNetList(['all:X=1']), isBadArgument);
    assert.throws(() => parseNetList(['none', 'default']), /--net=none cannot be combined/);
    assert.throws(() => parseNetList(['a:novalue']), /invalid CNI_ARGS pair "novalue"/);
  });
});
