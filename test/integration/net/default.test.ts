/**
 * Pods on rkt's built-in `default` network (ptp, host-local 172.16.28.0/24, masquerading), as
 * root, inside a namespace this file made that stands in for the host (see fixture.ts). The tests
 * of this file run one after another, so only one pod at a time holds the default subnet here.
 */
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { existsSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { NetWorld, buildAci, httpd, skip, waitFor } from './fixture.js';
import { forEachOciRuntime, skipUnlessCI } from '../../helpers.js';

describe('rkt run --net=default', { skip: skipUnlessCI(skip, 'networking tests') }, () => {
  forEachOciRuntime(() => {
    let w: NetWorld;
    let web: string;
    let client: string;

    before(() => {
      w = NetWorld.create('rocket-net-default-');
      web = buildAci(w.work, 'web', httpd(80));
      client = buildAci(w.work, 'client', { exec: ['/bin/true'] });
    });
    after(async () => {
      await w.close();
    });

    it('serves HTTP that the host reaches at the pod IP; list and status show the network', async () => {
      const { pod, uuid } = await w.startPod(web);
      const [info, ...more] = w.netInfo(uuid);
      assert.equal(more.length, 0, 'only the default network');
      assert.ok(info !== undefined);
      assert.equal(info.netName, 'default');
      assert.equal(info.ifName, 'eth0');
      assert.match(info.ip, /^172\.16\.28\.\d+$/);
      assert.equal(info.mask, '255.255.255.0');
      assert.equal(info.hostIP, '172.16.28.1');
      assert.equal(info.pluginPath, '/usr/lib/cni/ptp');
      assert.equal(await w.waitHttp(`http://${info.ip}/`, pod, uuid), 'hello from web\n');

      const st = await w.status(uuid);
      assert.equal(st['networks'], `default:ip4=${info.ip}`);
      const list = await w.rkt('list', '--no-legend');
      assert.match(
        list.stdout,
        new RegExp(`${uuid.slice(0, 8)}.*running.*default:ip4=${info.ip.replace(/\./g, '\\.')}`),
      );
      const json = JSON.parse((await w.rkt('status', '--format=json', uuid)).stdout) as {
        networks: Record<string, string>[];
      };
      assert.deepEqual(Object.keys(json.networks[0] ?? {}), [
        'netName',
        'netConf',
        'pluginPath',
        'ifName',
        'ip',
        'args',
        'mask',
      ]);
      // The hostname names the pod's address; masquerading is on for the pod's address.
      const hosts = await w.rkt('enter', uuid, '/bin/cat', '/etc/hosts');
      assert.match(hosts.stdout, new RegExp(`^${info.ip.replace(/\./g, '\\.')}\\trkt-${uuid}$`, 'm'));
      assert.match(w.sh('iptables-save -t nat'), new RegExp(`-s ${info.ip}/32 .*id: \\\\"${uuid}\\\\"`));

      const stop = await w.rkt('stop', '--force', uuid);
      assert.equal(stop.code, 0, stop.stderr);
      const r = await pod.done;
      assert.doesNotMatch(r.stderr, /CNI DEL/, r.stderr);
      // The supervisor tears the network down once the pod ended (after reporting its status);
      // gc does it again harmlessly.
      const log = await w.teardown(uuid);
      assert.doesNotMatch(log, /CNI DEL/, log);
      assert.deepEqual(
        w.leftovers(uuid).filter((l) => !l.startsWith('pod dir in run') && !l.startsWith('mount')),
        [],
      );
      await w.gc();
      assert.deepEqual(w.leftovers(uuid), []);
    });

    it('lets two apps of a pod reach each other on localhost', async () => {
      const r = await w.rkt(
        '--insecure-options=image',
        'run',
        web,
        '--exec=/bin/httpd',
        '--',
        '-f',
        '-p',
        '127.0.0.1:8081',
        '-h',
        '/www',
        '---',
        client,
        '--exec=/bin/sh',
        '--',
        '-c',
        'for i in 1 2 3 4 5 6 7 8 9 10; do wget -q -O - http://127.0.0.1:8081/ && exit 42; sleep 0.2; done; exit 7',
      );
      // The client ends the pod with a code of its own (an app's failure stops the others): 42 when
      // it got the page.
      assert.equal(r.code, 42, r.stderr);
      assert.match(r.stdout, /hello from web/);
      await w.gc();
    });

    it('forwards --port on 127.0.0.1 and on a host address, and removes the rules', async () => {
      // A host address (10.253.7.1) and a client outside the host (10.253.7.2) behind it.
      const outside = w.client('p', '10.253.7.1', '10.253.7.2');
      const { pod, uuid } = await w.startPod('--port=http:18080', web);
      assert.equal(await w.waitHttp('http://127.0.0.1:18080/', pod, uuid), 'hello from web\n');
      assert.equal(w.get('http://10.253.7.1:18080/'), 'hello from web\n');
      assert.equal(outside('curl -sf --max-time 3 http://10.253.7.1:18080/').stdout, 'hello from web\n');
      await w.rkt('stop', '--force', uuid);
      await pod.done;
      await w.teardown(uuid);
      assert.equal(w.get('http://127.0.0.1:18080/'), undefined);
      assert.doesNotMatch(w.sh('iptables-save -t nat'), new RegExp(uuid));

      // Bound to one host address only.
      const second = await w.startPod('--port=http:10.253.7.1:18081', web);
      await w.waitHttp('http://10.253.7.1:18081/', second.pod, second.uuid);
      assert.equal(w.get('http://127.0.0.1:18081/'), undefined);
      await w.rkt('stop', '--force', second.uuid);
      await second.pod.done;
      await w.gc();
      assert.deepEqual(w.leftovers(uuid), []);
      assert.deepEqual(w.leftovers(second.uuid), []);
    });

    it('refuses --port without a contained network, and an unknown port name', async () => {
      for (const net of ['none', 'host']) {
        const r = await w.rkt('--insecure-options=image', 'run', `--net=${net}`, '--port=http:18082', web);
        assert.equal(r.code, 254);
        assert.match(r.stderr, new RegExp(`--port flag does not work with '${net}' networking`));
      }
      const r = await w.rkt('--insecure-options=image', 'run', '--port=nosuch:18082', web);
      assert.equal(r.code, 254);
      assert.match(r.stderr, /port name "nosuch" could not be found in any apps/);
    });

    it('after SIGKILL of rkt run: gc leaves no netns, veth, iptables rule or IPAM reservation', async () => {
      const { pod, uuid } = await w.startPod(web);
      const ip = w.netInfo(uuid)[0]?.ip ?? '';
      await w.waitHttp(`http://${ip}/`, pod, uuid);
      const pid = Number(readFileSync(join(w.data, 'pods', 'run', uuid, 'pid'), 'utf8'));
      assert.equal(pid, pod.child.pid);
      process.kill(pid, 'SIGKILL');
      await pod.exited;
      // The app lives on (its subshell holds the pod lock) until it is stopped.
      assert.equal((await w.status(uuid))['state'], 'running');
      assert.equal(w.get(`http://${ip}/`), 'hello from web\n');
      await w.rkt('stop', '--force', uuid);
      await w.waitState(uuid, 'exited');
      assert.ok(existsSync(join(w.data, 'pods', 'run', uuid, 'ns-net')), 'the network is still up');
      await w.gc();
      assert.deepEqual(w.leftovers(uuid), []);
    });

    it('cleans a prepared pod whose stage0 died while adding its networks: by gc, or by a new run', async () => {
      // A plugin that hangs in ADD (and logs its DELs), on a network joined after `default` (its
      // file sorts later).
      const plugin = join(w.localConfig, 'net.d', 'rocket-test-hang');
      const marker = join(w.work, 'hang-added');
      const dels = join(w.work, 'hang-dels');
      writeFileSync(
        plugin,
        `#!/bin/sh\nif [ "$CNI_COMMAND" = ADD ]; then echo $$ >${marker}.tmp; mv ${marker}.tmp ${marker}; exec sleep 60; fi\necho "$CNI_COMMAND $CNI_CONTAINERID" >>${dels}\n`,
        { mode: 0o755 },
      );
      w.conf('zz-hang.conf', { cniVersion: '0.4.0', name: 'hang', type: 'rocket-test-hang' });
      const halfNetworked = async (): Promise<string> => {
        rmSync(marker, { force: true });
        const p = await w.rkt('--insecure-options=image', 'prepare', '--quiet', web);
        assert.equal(p.code, 0, p.stderr);
        const uuid = p.stdout.trim();
        w.track(uuid);
        const run = w.start(['run-prepared', '--net=default,hang', uuid]);
        await waitFor('the hanging ADD', () => existsSync(marker));
        // Kill stage0 (Node, the launcher's child), then the hanging plugin.
        const stage0 = spawnSync('pgrep', ['-P', String(run.child.pid)], { encoding: 'utf8' }).stdout;
        for (const pid of stage0.split('\n')) if (pid !== '') process.kill(Number(pid), 'SIGKILL');
        await run.done;
        process.kill(Number(readFileSync(marker, 'utf8')), 'SIGKILL');
        assert.ok(existsSync(join(w.data, 'pods', 'prepared', uuid, 'ns-net')), 'a half-networked pod');
        assert.match(w.sh('iptables-save -t nat'), new RegExp(uuid));
        return uuid;
      };
      try {
        const first = await halfNetworked();
        await w.gc();
        assert.deepEqual(w.leftovers(first), []);
        assert.match(readFileSync(dels, 'utf8'), new RegExp(`^DEL ${first}$`, 'm'));

        // run-prepared again: the dead stage0's networks are released, then the pod starts afresh.
        const second = await halfNetworked();
        const run = w.start(['run-prepared', '--net=default', second]);
        await waitFor('the pod to run', () => existsSync(join(w.data, 'pods', 'run', second, 'pid')));
        assert.match(readFileSync(dels, 'utf8'), new RegExp(`^DEL ${second}$`, 'm'));
        assert.deepEqual(
          w.netInfo(second).map((n) => n.netName),
          ['default'],
        );
        await w.waitHttp(`http://${w.netInfo(second)[0]?.ip ?? ''}/`, run, second);
        await w.rkt('stop', '--force', second);
        await run.done;
        await w.gc();
        assert.deepEqual(w.leftovers(second), []);
      } finally {
        rmSync(join(w.localConfig, 'net.d', 'zz-hang.conf'), { force: true });
      }
    });
  });
});
