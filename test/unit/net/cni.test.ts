import assert from 'node:assert/strict';
import { chmodSync, mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import {
  CniError,
  findPlugin,
  invokePlugin,
  ipv4Mask,
  parseCniResult,
  pluginEnv,
  resultAsV040,
  spawnRunner,
  supportsChaining,
  type CniInvocation,
  type ProcessRunner,
} from '../../../src/net/cni.js';
import { tempDir } from '../../helpers.js';

const inv = (over: Partial<CniInvocation> = {}): CniInvocation => ({
  command: 'ADD',
  plugin: '/plugins/ptp',
  conf: '{"name":"n","type":"ptp"}',
  containerId: 'uuid-1',
  netns: '/pods/p/ns-net',
  ifName: 'eth0',
  args: 'IP=10.0.0.9',
  searchPath: ['/a', '/b'],
  ...over,
});

describe('CNI plugin runs', () => {
  let dir: string;
  let cleanup: () => Promise<void>;
  before(async () => ({ path: dir, cleanup } = await tempDir('rocket-cni-')));
  after(() => cleanup());

  it('reads 0.1.0/0.2.0 results (ip4, dns)', () => {
    const r = parseCniResult(
      JSON.stringify({
        cniVersion: '0.1.0',
        ip4: { ip: '172.16.28.2/24', gateway: '172.16.28.1', routes: [{ dst: '0.0.0.0/0' }] },
        dns: {},
      }),
    );
    assert.deepEqual(r.ips, [
      { version: 4, address: '172.16.28.2', prefixLength: 24, gateway: '172.16.28.1' },
    ]);
    assert.equal(r.dns, undefined, 'an empty dns object is no DNS');
    assert.equal(r.cniVersion, '0.1.0');
    assert.equal(supportsChaining(r.cniVersion), false);
  });

  it('reads 0.3.0 to 1.0.0 results (ips, interfaces, dns)', () => {
    const r = parseCniResult(
      JSON.stringify({
        cniVersion: '1.0.0',
        interfaces: [{ name: 'veth1' }, { name: 'eth0', sandbox: '/ns' }],
        ips: [
          { address: 'fd00::5/64', interface: 1 },
          { version: '4', address: '10.1.0.5/16', gateway: '10.1.0.1', interface: 1 },
        ],
        dns: { nameservers: ['10.1.0.53'], search: ['x.test'], domain: 'x.test' },
      }),
    );
    assert.deepEqual(r.ips, [
      { version: 6, address: 'fd00::5', prefixLength: 64 },
      { version: 4, address: '10.1.0.5', prefixLength: 16, gateway: '10.1.0.1' },
    ]);
    assert.deepEqual(r.dns, {
      nameservers: ['10.1.0.53'],
      search: ['x.test'],
      options: [],
      domain: 'x.test',
    });
    assert.equal(supportsChaining('0.3.1'), true);
    assert.equal(supportsChaining('1.0.0'), true);
  });

  it('refuses malformed results', () => {
    assert.throws(() => parseCniResult('nope'), /not JSON/);
    assert.throws(
      () => parseCniResult('{"ips":[{"address":"10.0.0.1"}]}'),
      /ips\[0\]\.address.*not address\/prefix/,
    );
  });

  it('converts an old result into a 0.4.0 prevResult for a chained plugin', () => {
    const r = parseCniResult('{"cniVersion":"0.2.0","ip4":{"ip":"172.16.28.9/24","gateway":"172.16.28.1"}}');
    assert.deepEqual(resultAsV040(r), {
      cniVersion: '0.4.0',
      ips: [{ version: '4', address: '172.16.28.9/24', gateway: '172.16.28.1' }],
    });
  });

  it('gives the plugin the netconf on stdin and the CNI_* variables, and returns its stdout', () => {
    let seen: { file: string; env: NodeJS.ProcessEnv; stdin: string } | undefined;
    const runner: ProcessRunner = (file, env, stdin) => {
      seen = { file, env, stdin };
      return { status: 0, stdout: '{"cniVersion":"0.4.0"}', stderr: '' };
    };
    assert.equal(invokePlugin(inv(), runner), '{"cniVersion":"0.4.0"}');
    assert.equal(seen?.file, '/plugins/ptp');
    assert.equal(seen?.stdin, '{"name":"n","type":"ptp"}');
    const env = seen?.env ?? {};
    assert.deepEqual(
      [
        env['CNI_COMMAND'],
        env['CNI_CONTAINERID'],
        env['CNI_NETNS'],
        env['CNI_IFNAME'],
        env['CNI_ARGS'],
        env['CNI_PATH'],
      ],
      ['ADD', 'uuid-1', '/pods/p/ns-net', 'eth0', 'IP=10.0.0.9', '/a:/b'],
    );
    assert.equal(
      pluginEnv(inv(), { CNI_ARGS: 'stale', CNI_EXTRA: 'x', HOME: '/root' })['CNI_EXTRA'],
      undefined,
    );
    assert.equal(
      pluginEnv(inv(), {})['PATH'],
      '/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin',
    );
  });

  it('reports a CNI error as msg; details, else the output, else the status', () => {
    const fails = (stdout: string, stderr = '', status = 1): CniError => {
      try {
        invokePlugin(inv(), () => ({ status, stdout, stderr }));
      } catch (err) {
        assert.ok(err instanceof CniError);
        assert.equal(err.kind, 'unavailable');
        return err;
      }
      throw new Error('no failure');
    };
    const e = fails('{"cniVersion":"0.4.0","code":7,"msg":"invalid config","details":"bad subnet"}');
    assert.equal(e.message, 'invalid config; bad subnet');
    assert.equal(e.code, 7);
    assert.equal(fails('', 'panic: oops').message, 'panic: oops');
    assert.equal(fails('', '', 3).message, 'exit status 3');
    assert.throws(
      () =>
        invokePlugin(inv(), () => ({
          status: undefined,
          stdout: '',
          stderr: '',
          error: 'spawnSync /x ENOENT',
        })),
      /ENOENT/,
    );
  });

  it('runs a real plugin process; one that exits without reading stdin is fine', () => {
    const plugin = join(dir, 'fake');
    writeFileSync(
      plugin,
      '#!/bin/sh\nprintf \'{"cniVersion":"0.4.0","c":"%s","i":"%s"}\' "$CNI_COMMAND" "$CNI_IFNAME"\n',
    );
    chmodSync(plugin, 0o755);
    const big = JSON.stringify({ name: 'n', type: 'fake', pad: 'x'.repeat(1 << 20) });
    assert.equal(
      invokePlugin(inv({ plugin, conf: big, command: 'DEL' }), spawnRunner),
      '{"cniVersion":"0.4.0","c":"DEL","i":"eth0"}',
    );
  });

  it('finds a plugin as the first regular file in the search path', () => {
    const [a, b] = [join(dir, 'pa'), join(dir, 'pb')];
    mkdirSync(join(a, 'bridge'), { recursive: true });
    mkdirSync(b);
    writeFileSync(join(b, 'bridge'), '');
    assert.equal(findPlugin('bridge', [a, b]), join(b, 'bridge'));
    assert.equal(findPlugin('nosuch', [a, b]), undefined);
    assert.equal(findPlugin('../pb/bridge', [a]), undefined);
  });

  it('writes IPv4 masks as rkt does', () => {
    assert.equal(ipv4Mask(24), '255.255.255.0');
    assert.equal(ipv4Mask(16), '255.255.0.0');
    assert.equal(ipv4Mask(27), '255.255.255.224');
    assert.equal(ipv4Mask(32), '255.255.255.255');
    assert.equal(ipv4Mask(0), '0.0.0.0');
  });
});
