/**
 * A kvm pod on rkt's built-in `default` network (ptp, host-local 172.16.28.0/24), as root, inside a
 * namespace this file made that stands in for the host (test/integration/net/fixture.ts): the guest
 * has the CNI address, and an HTTP server in the VM answers the host stand-in there. Stop and gc
 * leave no QEMU, veth, tap, iptables rule, IPAM reservation or mount.
 */
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { findKernel } from '../../../src/stage1/kvm/initramfs.js';
import { which } from '../../../src/stage1/oci/runtime.js';
import { NetWorld, buildAci, httpd, skip as netSkip, waitFor } from '../net/fixture.js';
import { skipUnlessCI } from '../../helpers.js';

function kvmNetSkip(): string | false {
  if (netSkip !== false) return netSkip;
  for (const p of ['qemu-system-x86_64', 'tc']) if (which(p) === undefined) return `needs ${p}`;
  try {
    findKernel();
  } catch (err) {
    return (err as Error).message;
  }
  return false;
}

const KVM = '--engine=kvm';

/** Whether a process with this pid runs QEMU for the pod. */
function qemuAlive(pid: number, uuid: string): boolean {
  try {
    return readFileSync(`/proc/${pid}/cmdline`, 'utf8').includes(`rkt-${uuid}`);
  } catch {
    return false;
  }
}

describe('a kvm pod on a CNI network', { skip: skipUnlessCI(kvmNetSkip(), 'kvm networking tests') }, () => {
  let w: NetWorld;
  let web: string;

  before(() => {
    w = NetWorld.create('rocket-kvm-net-');
    web = buildAci(w.work, 'web', httpd(80));
  });
  after(async () => {
    await w.close();
  });

  it('answers HTTP from the VM at its CNI address; stop and gc leave nothing', async () => {
    const { pod, uuid } = await w.startPod(KVM, web);
    const [info, ...more] = w.netInfo(uuid);
    assert.equal(more.length, 0);
    assert.ok(info !== undefined);
    assert.match(info.ip, /^172\.16\.28\.\d+$/);
    const url = `http://${info.ip}/`;
    let body: string | undefined;
    await waitFor(url, () => (body = w.get(url)) !== undefined, 180_000);
    assert.equal(body, 'hello from web\n');
    assert.equal((await w.status(uuid))['networks'], `default:ip4=${info.ip}`);
    // The guest, not the pod's namespace, answers: the namespace has the tap that carries it.
    assert.match(
      w.sh(`nsenter --net=${join(w.data, 'pods', 'run', uuid, 'ns-net')} ip -o link show tap0`),
      /tap0/,
    );
    const qemu = Number(readFileSync(join(w.data, 'pods', 'run', uuid, 'stage1', 'kvm', 'qemu.pid'), 'utf8'));

    const stop = await w.rkt('stop', uuid);
    assert.equal(stop.code, 0, stop.stderr);
    const r = await pod.done;
    assert.equal(r.code, 0, r.stderr);
    assert.doesNotMatch(r.stderr, /CNI DEL/, r.stderr);
    assert.equal(qemuAlive(qemu, uuid), false);
    assert.deepEqual(
      w.leftovers(uuid).filter((l) => !l.startsWith('pod dir in run')),
      [],
    );
    await w.gc();
    assert.deepEqual(w.leftovers(uuid), []);
  });
});
