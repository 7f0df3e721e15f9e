/**
 * The nspawn engine on a CNI network, inside a network namespace the test made (NetWorld, standing
 * in for the host): the container joins the pod's namespace (`--network-namespace-path`), the host
 * reaches the pod at its address, the plan tears the network down when the pod ends, and gc does
 * after a SIGKILL of rkt run, leaving no veth, iptables rule, IPAM reservation or mount.
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { which } from '../../../src/stage1/oci/runtime.js';
import { NetWorld, buildAci, httpd, skip as netSkip } from '../net/fixture.js';
import { skipUnlessCI } from '../../helpers.js';

const skip =
  netSkip !== false ? netSkip : which('systemd-nspawn') === undefined ? 'needs systemd-nspawn' : false;

describe(
  'the nspawn engine on --net=default',
  { skip: skipUnlessCI(skip, 'nspawn networking tests') },
  () => {
    let w: NetWorld;
    let web: string;

    before(() => {
      w = NetWorld.create('rocket-nspawn-net-');
      web = buildAci(w.work, 'web', httpd(80));
    });
    after(async () => {
      await w.close();
    });

    it('serves HTTP that the host reaches at the pod IP; the network goes when the pod ends', async () => {
      const { pod, uuid } = await w.startPod('--engine=nspawn', web);
      const [info] = w.netInfo(uuid);
      assert.ok(info !== undefined);
      assert.match(info.ip, /^172\.16\.28\.\d+$/);
      assert.equal(await w.waitHttp(`http://${info.ip}/`, pod, uuid), 'hello from web\n');
      assert.equal((await w.status(uuid))['networks'], `default:ip4=${info.ip}`);
      const hosts = await w.rkt('enter', uuid, '/bin/cat', '/etc/hosts');
      assert.match(hosts.stdout, new RegExp(`^${info.ip.replace(/\./g, '\\.')}\\trkt-${uuid}$`, 'm'));
      const stop = await w.rkt('stop', uuid);
      assert.equal(stop.code, 0, stop.stderr);
      const r = await pod.done;
      assert.equal(r.code, 0, r.stderr);
      // The plan tore the network down when nspawn ended.
      assert.deepEqual(
        w.leftovers(uuid).filter((l) => !l.startsWith('pod dir in run')),
        [],
      );
      await w.gc();
      assert.deepEqual(w.leftovers(uuid), []);
    });

    it('forwards --port on 127.0.0.1 and removes the rules when the pod ends', async () => {
      const { pod, uuid } = await w.startPod('--engine=nspawn', '--port=http:18090', web);
      assert.equal(await w.waitHttp('http://127.0.0.1:18090/', pod, uuid), 'hello from web\n');
      await w.rkt('stop', uuid);
      assert.equal((await pod.done).code, 0);
      assert.equal(w.get('http://127.0.0.1:18090/'), undefined);
      assert.doesNotMatch(w.sh('iptables-save -t nat'), new RegExp(uuid));
      await w.gc();
      assert.deepEqual(w.leftovers(uuid), []);
    });

    it('after SIGKILL of rkt run: the pod runs on; stop --force, then gc leaves nothing', async () => {
      const { pod, uuid } = await w.startPod('--engine=nspawn', web);
      const [info] = w.netInfo(uuid);
      assert.ok(info !== undefined);
      await w.waitHttp(`http://${info.ip}/`, pod, uuid);
      pod.child.kill('SIGKILL');
      await pod.exited;
      assert.equal((await w.status(uuid))['state'], 'running');
      assert.equal(w.get(`http://${info.ip}/`), 'hello from web\n');
      const stop = await w.rkt('stop', '--force', uuid);
      assert.equal(stop.code, 0, stop.stderr);
      await w.waitState(uuid, 'exited');
      await w.gc();
      assert.deepEqual(w.leftovers(uuid), []);
    });
  },
);
