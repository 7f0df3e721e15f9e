/**
 * A named network from a CNI `.conflist` (bridge then portmap, run as a chain), as root, inside a
 * namespace this file made that stands in for the host (see fixture.ts): `rkt run --net=NAME
 * --port=...` gets its address from bridge and its port forwarded by the list's own portmap (given
 * the bridge's result as prevResult and the mappings as runtimeConfig), and stopping the pod runs
 * DEL in reverse. Subnets here (10.252.x) are this file's own.
 */
import assert from 'node:assert/strict';
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { NetWorld, buildAci, httpd, skip } from './fixture.js';
import { forEachOciRuntime, skipUnlessCI } from '../../helpers.js';

describe('rkt run with a .conflist network', { skip: skipUnlessCI(skip, 'networking tests') }, () => {
  forEachOciRuntime(() => {
    let w: NetWorld;
    let web: string;

    before(() => {
      w = NetWorld.create('rocket-net-conflist-');
      web = buildAci(w.work, 'web', httpd(80));
      w.conf('10-rkttlist.conflist', {
        cniVersion: '1.0.0',
        name: 'rkttlist',
        plugins: [
          {
            type: 'bridge',
            bridge: 'rkttlbr0',
            isGateway: true,
            ipMasq: true,
            ipam: { type: 'host-local', subnet: '10.252.1.0/24' },
          },
          { type: 'portmap', capabilities: { portMappings: true }, snat: true },
        ],
      });
    });
    after(async () => {
      await w.close();
    });

    it('runs the chain: bridge gives the address, the list portmap forwards --port, DEL undoes both', async () => {
      const { pod, uuid } = await w.startPod('--net=rkttlist', '--port=http:18090', web);
      const nets = w.netInfo(uuid);
      assert.deepEqual(
        nets.map((n) => [n.netName, n.ifName]),
        [
          ['rkttlist', 'eth0'],
          ['default-restricted', 'eth1'],
        ],
      );
      assert.match(nets[0]?.ip ?? '', /^10\.252\.1\.\d+$/);
      assert.equal(nets[0]?.hostIP, '10.252.1.1');
      const netDir = join(w.data, 'pods', 'run', uuid, 'net');
      // The list's portmap got the bridge's result and the mappings; rkt chained no portmap of its own.
      const second = JSON.parse(readFileSync(join(netDir, 'eth0-1.conf'), 'utf8')) as Record<string, unknown>;
      assert.equal(second['type'], 'portmap');
      assert.equal(second['name'], 'rkttlist');
      assert.deepEqual(second['runtimeConfig'], {
        portMappings: [{ hostPort: 18090, containerPort: 80, protocol: 'tcp' }],
      });
      const prev = second['prevResult'] as { ips?: { address?: string }[] };
      assert.equal(prev.ips?.[0]?.address, `${nets[0]?.ip}/24`);
      assert.ok(!existsSync(join(netDir, 'eth0-portmap.conf')));
      // Kept for DEL: bridge's netconf with the chain's result.
      const first = JSON.parse(readFileSync(join(netDir, 'eth0.conf'), 'utf8')) as Record<string, unknown>;
      assert.equal((first['prevResult'] as typeof prev).ips?.[0]?.address, `${nets[0]?.ip}/24`);

      assert.equal(await w.waitHttp('http://127.0.0.1:18090/', pod, uuid), 'hello from web\n');
      assert.equal(w.get(`http://${nets[0]?.ip}/`), 'hello from web\n');
      await w.rkt('stop', '--force', uuid);
      await pod.done;
      await w.teardown(uuid);
      assert.equal(w.get('http://127.0.0.1:18090/'), undefined);
      assert.doesNotMatch(w.sh('iptables-save -t nat'), new RegExp(uuid));
      await w.gc();
      assert.deepEqual(w.leftovers(uuid), []);
    });

    it('names the file and field of a bad list in one line and exits 254', async () => {
      w.conf('20-rkttbad.conflist', {
        cniVersion: '1.0.0',
        name: 'rkttbad',
        plugins: [{ type: 'bridge' }, {}],
      });
      const r = await w.rkt('--insecure-options=image', 'run', '--net=rkttlist', web);
      assert.equal(r.code, 254);
      assert.match(r.stderr, /20-rkttbad\.conflist: plugins\[1\]\.type: must be a non-empty string/);
      assert.doesNotMatch(r.stderr, /\n\s+at /);
    });
  });
});
