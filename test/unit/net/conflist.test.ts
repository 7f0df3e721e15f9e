import assert from 'node:assert/strict';
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { invokePlugin, parseCniResult, type ProcessRunner } from '../../../src/net/cni.js';
import {
  isMasquerading,
  loadNetConfs,
  netConfDirs,
  parseNetConf,
  parseNetConfList,
  type JsonObject,
} from '../../../src/net/conf.js';
import {
  addChain,
  chainDelConfs,
  chainSteps,
  teardownPodNetwork,
  type Invocation,
} from '../../../src/net/pod.js';
import { tempDir } from '../../helpers.js';

const list = (name: string, plugins: unknown, extra: object = {}): string =>
  JSON.stringify({ cniVersion: '1.0.0', name, plugins, ...extra });

const bridgeChain = [
  { type: 'bridge', bridge: 'cni0', ipMasq: true, ipam: { type: 'host-local', subnet: '10.88.0.0/16' } },
  { type: 'portmap', capabilities: { portMappings: true }, snat: true },
  { type: 'tuning', sysctl: {} },
];

describe('CNI network configuration lists (.conflist)', () => {
  let dir: string;
  let cleanup: () => Promise<void>;
  before(async () => ({ path: dir, cleanup } = await tempDir('rocket-conflist-')));
  after(() => cleanup());

  it('parses a list: every plugin gets the list name and cniVersion', () => {
    const c = parseNetConfList(list('k8s', bridgeChain), '/x/10-k8s.conflist');
    assert.equal(c.name, 'k8s');
    assert.equal(c.type, 'bridge');
    assert.equal(c.fileName, '10-k8s.conflist');
    assert.deepEqual(
      c.plugins.map((p) => [p['type'], p['name'], p['cniVersion']]),
      [
        ['bridge', 'k8s', '1.0.0'],
        ['portmap', 'k8s', '1.0.0'],
        ['tuning', 'k8s', '1.0.0'],
      ],
    );
    assert.equal(c.conf, c.plugins[0]);
    assert.ok(isMasquerading(c));
  });

  it('rejects bad lists with one line naming the file and the field', () => {
    const bad = (text: string, re: RegExp) =>
      assert.throws(() => parseNetConfList(text, '/x/l.conflist'), re);
    bad('{', /^RocketError: \/x\/l\.conflist: invalid JSON/);
    bad('[]', /\/x\/l\.conflist: expected a JSON object/);
    bad(JSON.stringify({ plugins: [{ type: 'ptp' }] }), /\/x\/l\.conflist: name: must be a non-empty string/);
    bad(list('a b', [{ type: 'ptp' }]), /name: "a b" is not a valid network name/);
    bad(list('n', []), /\/x\/l\.conflist: plugins: must be a non-empty array/);
    bad(list('n', { type: 'ptp' }), /plugins: must be a non-empty array/);
    bad(list('n', [{ type: 'ptp' }, 3]), /\/x\/l\.conflist: plugins\[1\]: expected a JSON object/);
    bad(
      list('n', [{ type: 'ptp' }, { type: '' }]),
      /\/x\/l\.conflist: plugins\[1\]\.type: must be a non-empty string/,
    );
    bad(list('n', [{ type: 'ptp', ipMasq: 'yes' }]), /plugins\[0\]\.ipMasq: must be a boolean/);
    bad(list('n', [{ type: 'portmap', capabilities: [] }]), /plugins\[0\]\.capabilities: must be an object/);
    bad(list('n', [{ type: 'ptp' }], { cniVersion: 4 }), /\/x\/l\.conflist: cniVersion: must be a string/);
  });

  it('loads .conflist files from net.d beside .conf files, in file-name order', () => {
    const dirs = netConfDirs({ system: join(dir, 'sys'), local: join(dir, 'local') });
    const local = dirs[1] as string;
    mkdirSync(local, { recursive: true });
    writeFileSync(join(local, '10-k8s.conflist'), list('k8s', bridgeChain));
    writeFileSync(join(local, '20-k8s.conf'), JSON.stringify({ name: 'k8s', type: 'ptp' }));
    writeFileSync(join(local, '30-one.conf'), JSON.stringify({ name: 'one', type: 'ptp' }));
    const warnings: string[] = [];
    const nets = loadNetConfs(dirs, (m) => warnings.push(m));
    assert.equal(nets.get('k8s')?.plugins.length, 3);
    assert.equal(nets.get('one')?.plugins.length, 1);
    assert.ok(
      warnings.some((w) => /"k8s" already defined .*10-k8s\.conflist, ignoring .*20-k8s\.conf/.test(w)),
    );
  });

  it('runs ADD in order with prevResult, portMappings to the plugin declaring them, DEL in reverse', () => {
    const net = { conf: parseNetConfList(list('k8s', bridgeChain), '/x/k8s.conflist'), args: 'A=1' };
    const ports = [{ hostPort: 8080, containerPort: 80, protocol: 'tcp' }];
    const base = { netName: 'k8s', ifName: 'eth0', containerId: 'uuid-1', searchPath: ['/p'] };
    const steps = chainSteps(net, ['/p/bridge', '/p/portmap', '/p/tuning'], base, '/data/ipam', ports);
    assert.deepEqual(
      steps.map((s) => s.inv.conf),
      ['eth0.conf', 'eth0-1.conf', 'eth0-2.conf'],
    );
    assert.equal((steps[0]?.conf['ipam'] as JsonObject)['dataDir'], '/data/ipam');
    assert.deepEqual(steps[1]?.conf['runtimeConfig'], { portMappings: ports });
    assert.equal(steps[0]?.conf['runtimeConfig'], undefined);
    assert.equal(steps[2]?.conf['runtimeConfig'], undefined);
    // Without ports to forward, no plugin gets runtimeConfig.
    const none = chainSteps(net, ['/p/bridge', '/p/portmap', '/p/tuning'], base, '/d', undefined);
    assert.equal(none[1]?.conf['runtimeConfig'], undefined);

    const pod = join(dir, 'pod');
    mkdirSync(join(pod, 'net'), { recursive: true });
    const calls: { command: string; file: string; stdin: JsonObject }[] = [];
    const runner: ProcessRunner = (file, env, stdin) => {
      const conf = JSON.parse(stdin) as JsonObject;
      calls.push({ command: env['CNI_COMMAND'] as string, file, stdin: conf });
      if (env['CNI_COMMAND'] === 'DEL') return { status: 0, stdout: '', stderr: '' };
      // Each plugin passes on its prevResult with its own mark (as chained plugins do).
      const prev = (conf['prevResult'] as JsonObject | undefined) ?? {
        cniVersion: '1.0.0',
        ips: [{ address: '10.88.0.5/16', gateway: '10.88.0.1' }],
        seen: [],
      };
      const result = { ...prev, seen: [...(prev['seen'] as string[]), file] };
      return { status: 0, stdout: JSON.stringify(result), stderr: '' };
    };
    const invocations: Invocation[] = [];
    const result = addChain(steps, (inv, conf) => {
      const text = JSON.stringify(conf);
      writeFileSync(join(pod, 'net', inv.conf), text);
      invocations.push(inv);
      writeFileSync(join(pod, 'net', 'invocations.json'), JSON.stringify(invocations));
      return parseCniResult(
        invokePlugin({ ...inv, command: 'ADD', conf: text, netns: '/ns', args: inv.args }, runner),
      );
    });
    assert.deepEqual(
      calls.map((c) => [c.command, c.file]),
      [
        ['ADD', '/p/bridge'],
        ['ADD', '/p/portmap'],
        ['ADD', '/p/tuning'],
      ],
    );
    assert.equal(calls[0]?.stdin['prevResult'], undefined);
    assert.deepEqual((calls[1]?.stdin['prevResult'] as JsonObject)['seen'], ['/p/bridge']);
    assert.deepEqual((calls[2]?.stdin['prevResult'] as JsonObject)['seen'], ['/p/bridge', '/p/portmap']);
    assert.deepEqual(result.raw['seen'], ['/p/bridge', '/p/portmap', '/p/tuning']);
    assert.deepEqual(result.ips, [
      { version: 4, address: '10.88.0.5', prefixLength: 16, gateway: '10.88.0.1' },
    ]);

    // DEL gets the chain's final result as prevResult (a .conf network keeps its ADD netconf).
    for (const d of chainDelConfs(net, steps, result))
      writeFileSync(join(pod, 'net', d.file), JSON.stringify(d.conf));
    const single = { conf: parseNetConf('{"name":"one","type":"ptp"}', '/x/one.conf'), args: '' };
    assert.deepEqual(
      chainDelConfs(single, chainSteps(single, ['/p/ptp'], base, '/d', undefined), result),
      [],
    );

    calls.length = 0;
    assert.deepEqual(teardownPodNetwork(pod, runner), []);
    assert.deepEqual(
      calls.map((c) => [c.command, c.file, c.stdin['type'], (c.stdin['prevResult'] as JsonObject)['seen']]),
      [
        ['DEL', '/p/tuning', 'tuning', ['/p/bridge', '/p/portmap', '/p/tuning']],
        ['DEL', '/p/portmap', 'portmap', ['/p/bridge', '/p/portmap', '/p/tuning']],
        ['DEL', '/p/bridge', 'bridge', ['/p/bridge', '/p/portmap', '/p/tuning']],
      ],
    );
    assert.deepEqual(calls[1]?.stdin['runtimeConfig'], { portMappings: ports });
  });

  it('converts a 0.2.0 result to 0.4.0 for the next plugin', () => {
    const net = {
      conf: parseNetConfList(
        list('old', [{ type: 'a' }, { type: 'b' }], { cniVersion: '0.2.0' }),
        '/x/o.conflist',
      ),
      args: '',
    };
    const base = { netName: 'old', ifName: 'eth1', containerId: 'u', searchPath: [] };
    const seen: JsonObject[] = [];
    addChain(chainSteps(net, ['/a', '/b'], base, '/d', undefined), (_inv, conf) => {
      seen.push(conf);
      return parseCniResult(JSON.stringify({ cniVersion: '0.2.0', ip4: { ip: '10.0.0.2/24' } }));
    });
    assert.deepEqual(seen[1]?.['prevResult'], {
      cniVersion: '0.4.0',
      ips: [{ version: '4', address: '10.0.0.2/24' }],
    });
  });
});
