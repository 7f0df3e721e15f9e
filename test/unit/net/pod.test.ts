import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { chmodSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import type { ProcessRunner } from '../../../src/net/cni.js';
import { resolvConfFromDns, dnsFlagsGiven, hostsWithPodAddress } from '../../../src/net/dns.js';
import { formatNets, netInfoJson, readNetInfo, type NetInfo } from '../../../src/net/info.js';
import { teardownPodNetwork, teardownScript, type Invocation } from '../../../src/net/pod.js';
import { tempDir } from '../../helpers.js';

const invocation = (conf: string, plugin: string, netName = 'n1'): Invocation => ({
  netName,
  ifName: 'eth0',
  plugin,
  conf,
  args: "K=it's",
  containerId: 'uuid-1',
  searchPath: ['/a', '/b'],
});

describe('pod network records and teardown', () => {
  let dir: string;
  let cleanup: () => Promise<void>;
  before(async () => ({ path: dir, cleanup } = await tempDir('rocket-netpod-')));
  after(() => cleanup());

  function podWith(name: string, invocations: Invocation[], confs: string[]): string {
    const pod = join(dir, name);
    mkdirSync(join(pod, 'net'), { recursive: true });
    writeFileSync(join(pod, 'net', 'invocations.json'), JSON.stringify(invocations));
    for (const c of confs) writeFileSync(join(pod, 'net', c), `{"conf":"${c}"}`);
    return pod;
  }

  it('runs DEL for every recorded invocation, last first, skipping those never written', () => {
    const pod = podWith(
      'p1',
      [
        invocation('eth0.conf', '/p/ptp'),
        invocation('eth0-portmap.conf', '/p/portmap'),
        invocation('eth1.conf', '/p/bridge', 'n2'),
      ],
      ['eth0.conf', 'eth0-portmap.conf'],
    );
    const calls: string[] = [];
    const runner: ProcessRunner = (file, env, stdin) => {
      calls.push(`${env['CNI_COMMAND']} ${file} netns=${env['CNI_NETNS']} ${stdin}`);
      return file === '/p/ptp'
        ? { status: 1, stdout: '{"code":11,"msg":"busy"}', stderr: '' }
        : { status: 0, stdout: '', stderr: '' };
    };
    const errors = teardownPodNetwork(pod, runner);
    assert.deepEqual(calls, [
      'DEL /p/portmap netns= {"conf":"eth0-portmap.conf"}',
      'DEL /p/ptp netns= {"conf":"eth0.conf"}',
    ]);
    assert.deepEqual(errors, ['network "n1" (eth0): CNI DEL with /p/ptp failed: busy']);
    assert.deepEqual(teardownPodNetwork(join(dir, 'no-such-pod'), runner), []);
  });

  it('writes a sh teardown that does the same DELs without Node', () => {
    const log = join(dir, 'log');
    const plugin = join(dir, 'plugin');
    writeFileSync(
      plugin,
      `#!/bin/sh\necho "$CNI_COMMAND $CNI_CONTAINERID $CNI_IFNAME [$CNI_ARGS] [$CNI_NETNS] $CNI_PATH $(cat)" >>${log}\n[ "$CNI_ARGS" != fail ] || { echo '{"msg":"nope"}'; exit 1; }\n`,
    );
    chmodSync(plugin, 0o755);
    const invs = [
      invocation('eth0.conf', plugin),
      { ...invocation('eth1.conf', plugin, 'n2'), ifName: 'eth1', args: 'fail' },
    ];
    const pod = podWith('p2', invs, ['eth0.conf', 'eth1.conf']);
    writeFileSync(join(pod, 'net', 'teardown.sh'), teardownScript(invs));
    const r = spawnSync('sh', [join(pod, 'net', 'teardown.sh'), pod], { encoding: 'utf8' });
    assert.equal(r.status, 0);
    assert.match(r.stderr, /rkt: network n2 \(eth1\): CNI DEL with .*plugin failed: \{"msg":"nope"\}/);
    assert.equal(
      readFileSync(log, 'utf8'),
      `DEL uuid-1 eth1 [fail] [] /a:/b {"conf":"eth1.conf"}\nDEL uuid-1 eth0 [K=it's] [] /a:/b {"conf":"eth0.conf"}\n`,
    );
    // The DEL that succeeded is recorded: gc then runs only the one that failed.
    assert.equal(readFileSync(join(pod, 'net', 'deleted'), 'utf8'), 'eth0.conf\n');
    const calls: string[] = [];
    const runner: ProcessRunner = (file, env) => {
      calls.push(`${env['CNI_COMMAND']} ${env['CNI_IFNAME']}`);
      return { status: 0, stdout: '', stderr: '' };
    };
    assert.deepEqual(teardownPodNetwork(pod, runner), []);
    assert.deepEqual(calls, ['DEL eth1']);
  });

  it('reads net-info.json and formats it as rkt list and status do', () => {
    const info: NetInfo[] = [
      {
        netName: 'default',
        netConf: '/c',
        pluginPath: '/p',
        ifName: 'eth0',
        ip: '172.16.28.7',
        args: '',
        mask: '255.255.255.0',
        hostIP: '172.16.28.1',
      },
      {
        netName: 'n2',
        netConf: '/d',
        pluginPath: '/q',
        ifName: 'eth1',
        ip: '10.1.0.2',
        args: 'X=1',
        mask: '255.255.0.0',
        hostIP: '',
      },
    ];
    const pod = join(dir, 'p3');
    mkdirSync(pod);
    assert.deepEqual(readNetInfo(pod), []);
    writeFileSync(join(pod, 'net-info.json'), JSON.stringify(info));
    assert.deepEqual(readNetInfo(pod), info);
    assert.equal(formatNets(readNetInfo(pod)), 'default:ip4=172.16.28.7, n2:ip4=10.1.0.2');
    assert.deepEqual(Object.keys(netInfoJson(info)[0] ?? {}), [
      'netName',
      'netConf',
      'pluginPath',
      'ifName',
      'ip',
      'args',
      'mask',
    ]);
    writeFileSync(join(pod, 'net-info.json'), '{broken');
    assert.deepEqual(readNetInfo(pod), []);
  });

  it('writes resolv.conf from a network and points the hostname at the pod address', () => {
    assert.equal(
      resolvConfFromDns(
        {
          nameservers: ['10.0.0.53', '10.0.0.54'],
          search: ['a.test', 'b.test'],
          options: ['ndots:2'],
          domain: 'a.test',
        },
        'n1',
      ),
      '# Generated by rkt from network n1\n\nsearch a.test b.test\nnameserver 10.0.0.53\nnameserver 10.0.0.54\noptions ndots:2\ndomain a.test\n',
    );
    assert.equal(dnsFlagsGiven({ dns: [], dnsSearch: [], dnsOpt: [] }), false);
    assert.equal(dnsFlagsGiven({ dns: [], dnsSearch: [], dnsOpt: [], dnsDomain: 'x' }), true);
    const hosts = '127.0.0.1\tlocalhost\n127.0.1.1\trkt-u\n10.9.9.9\tother\n';
    assert.equal(
      hostsWithPodAddress(hosts, 'rkt-u', '172.16.28.2'),
      '127.0.0.1\tlocalhost\n172.16.28.2\trkt-u\n10.9.9.9\tother\n',
    );
    assert.equal(
      hostsWithPodAddress('127.0.0.1\tlocalhost\n', 'h', '10.0.0.2'),
      '127.0.0.1\tlocalhost\n10.0.0.2\th\n',
    );
  });
});
