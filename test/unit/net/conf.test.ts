import assert from 'node:assert/strict';
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import {
  loadNetConfs,
  netConfDirs,
  parseNetConf,
  runtimeNetConf,
  selectNets,
  type NetConf,
} from '../../../src/net/conf.js';
import { tempDir } from '../../helpers.js';

const conf = (name: string, extra: object = {}): string =>
  JSON.stringify({ cniVersion: '0.4.0', name, type: 'bridge', ...extra });

describe('network confs', () => {
  let dir: string;
  let cleanup: () => Promise<void>;
  let dirs: string[];

  before(async () => {
    ({ path: dir, cleanup } = await tempDir('rocket-netconf-'));
    dirs = netConfDirs({ system: join(dir, 'system'), local: join(dir, 'local') });
    const [sys, local] = dirs as [string, string];
    mkdirSync(sys, { recursive: true });
    mkdirSync(join(local, 'subdir.conf'), { recursive: true });
    writeFileSync(join(sys, '10-a.conf'), conf('a', { bridge: 'from-system' }));
    writeFileSync(join(sys, '20-b.conf'), conf('b'));
    writeFileSync(join(sys, 'notes.txt'), 'not a conf');
    writeFileSync(join(local, '10-a.conf'), conf('a', { bridge: 'from-local' }));
    writeFileSync(join(local, '05-c.conf'), conf('c'));
    writeFileSync(join(local, '06-c-again.conf'), conf('c', { bridge: 'second' }));
    writeFileSync(join(local, '50-restricted.conf'), conf('default-restricted'));
  });
  after(() => cleanup());

  it('layers built-ins, system and local net.d by name; first definition wins within a dir', () => {
    const warnings: string[] = [];
    const nets = loadNetConfs(dirs, (m) => warnings.push(m));
    assert.deepEqual([...nets.keys()].sort(), ['a', 'b', 'c', 'default', 'default-restricted']);
    assert.equal(nets.get('a')?.conf['bridge'], 'from-local');
    assert.equal(nets.get('c')?.conf['bridge'], undefined);
    assert.equal(nets.get('default')?.source, '(built-in) 99-default.conf');
    assert.deepEqual(nets.get('default')?.conf['ipam'], {
      type: 'host-local',
      subnet: '172.16.28.0/24',
      routes: [{ dst: '0.0.0.0/0' }],
    });
    assert.equal(nets.get('default-restricted')?.fileName, '50-restricted.conf');
    assert.ok(warnings.some((w) => /"c" already defined .*05-c\.conf, ignoring .*06-c-again\.conf/.test(w)));
    assert.ok(warnings.some((w) => /overriding network "a" with .*local.*10-a\.conf/.test(w)));
    assert.ok(warnings.some((w) => /overriding network "default-restricted"/.test(w)));
  });

  it('names the file and field of a bad conf', () => {
    assert.throws(() => parseNetConf('{', '/x/1.conf'), /\/x\/1\.conf: invalid JSON/);
    assert.throws(() => parseNetConf('[]', '/x/1.conf'), /expected a JSON object/);
    assert.throws(
      () => parseNetConf('{"name":"a"}', '/x/1.conf'),
      /\/x\/1\.conf: type: must be a non-empty string/,
    );
    assert.throws(() => parseNetConf('{"name":"a b","type":"t"}', '/x/1.conf'), /not a valid network name/);
    assert.throws(
      () => parseNetConf('{"name":"a","type":"t","ipMasq":"yes"}', '/x/1.conf'),
      /ipMasq: must be a boolean/,
    );
  });

  it('selects networks in file-name order and adds default-restricted unless default is asked for', () => {
    const nets = loadNetConfs([]);
    const extra = (name: string, fileName: string): NetConf => ({
      name,
      type: 'bridge',
      source: `/x/${fileName}`,
      fileName,
      conf: { name, type: 'bridge' },
      plugins: [{ name, type: 'bridge' }],
    });
    nets.set('zz', extra('zz', 'zz.conf'));
    nets.set('aa', extra('aa', '10-aa.conf'));
    const names = (s: { conf: NetConf }[]) => s.map((n) => n.conf.name);
    assert.deepEqual(names(selectNets({ all: false, nets: [{ name: 'default', args: '' }] }, nets)), [
      'default',
    ]);
    const picked = selectNets(
      {
        all: false,
        nets: [
          { name: 'zz', args: '' },
          { name: 'aa', args: 'IP=1.2.3.4' },
        ],
      },
      nets,
    );
    assert.deepEqual(names(picked), ['aa', 'default-restricted', 'zz']);
    assert.equal(picked[0]?.args, 'IP=1.2.3.4');
    // The CRI service's sandboxes: the named network only.
    assert.deepEqual(names(selectNets({ all: false, nets: [{ name: 'aa', args: '' }] }, nets, true)), ['aa']);
    assert.deepEqual(names(selectNets({ all: true, nets: [] }, nets)), [
      'aa',
      'default-restricted',
      'default',
      'zz',
    ]);
    assert.throws(
      () =>
        selectNets(
          {
            all: false,
            nets: [
              { name: 'nope', args: '' },
              { name: 'gone', args: '' },
            ],
          },
          nets,
        ),
      /networks not found: nope, gone/,
    );
  });

  it('keeps host-local leases under the data dir unless the conf names its dataDir', () => {
    const nets = loadNetConfs([]);
    const d = nets.get('default') as NetConf;
    const rt = runtimeNetConf(d, '/data/cni/networks');
    assert.equal((rt['ipam'] as Record<string, unknown>)['dataDir'], '/data/cni/networks');
    assert.equal(
      (d.conf['ipam'] as Record<string, unknown>)['dataDir'],
      undefined,
      'the conf is not changed',
    );
    const own = parseNetConf(conf('o', { ipam: { type: 'host-local', dataDir: '/mine' } }), '/x/o.conf');
    assert.equal((runtimeNetConf(own, '/data')['ipam'] as Record<string, unknown>)['dataDir'], '/mine');
    const dhcp = parseNetConf(conf('d', { ipam: { type: 'dhcp' } }), '/x/d.conf');
    assert.equal(runtimeNetConf(dhcp, '/data'), dhcp.conf);
  });
});
