/**
 * The metadata service with pods of the nspawn engine, as root: a pod on a CNI network of this
 * file registers (stage0's pipeline), its app gets AC_METADATA_URL and asks the service from inside
 * the container (busybox wget), and the plan unregisters the pod when nspawn ends. rkt, the
 * service and the pod's network live inside a network namespace standing in for the host
 * (test/integration/net/fixture.ts). The sandbox test's body is the oci engine's
 * (metadata/world.ts, shared with metadata/pods.test.ts).
 */
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { which } from '../../../src/stage1/oci/runtime.js';
import { NetWorld, skip as netSkip, waitFor } from '../net/fixture.js';
import { parseProbe } from '../metadata/probe.js';
import { buildProbeAci, sandboxIdentity, startMds, type Mds } from '../metadata/world.js';
import { skipUnlessCI } from '../../helpers.js';

const skip =
  netSkip !== false
    ? netSkip
    : which('curl') === undefined
      ? 'needs curl'
      : which('systemd-nspawn') === undefined
        ? 'needs systemd-nspawn'
        : false;

const NET = 'nsmdnet';
const HOST_IP = '10.177.83.1';

describe(
  'the metadata service with the nspawn engine',
  { skip: skipUnlessCI(skip, 'nspawn metadata tests') },
  () => {
    let w: NetWorld;
    let aci: string;
    let mds: Mds;

    before(async () => {
      w = NetWorld.create('rocket-nsmds-');
      w.conf('10-nsmdnet.conf', {
        cniVersion: '0.4.0',
        name: NET,
        type: 'ptp',
        ipMasq: false,
        ipam: { type: 'host-local', subnet: '10.177.83.0/24' },
      });
      aci = buildProbeAci(w.work, 'nsprobe');
      mds = await startMds(w);
    });

    after(async () => {
      await mds.close();
      await w.close();
    });

    it('registers the pod, gives its app AC_METADATA_URL, answers it, and unregisters it at the end', async () => {
      const { pod, uuid } = await w.startPod('--engine=nspawn', `--net=${NET}`, '--mds-register=true', aci);
      const r = await pod.done;
      assert.equal(r.code, 0, r.stderr);
      const url = /^URL=(.*)$/m.exec(r.stdout)?.[1] ?? '';
      assert.match(url, new RegExp(`^http://${HOST_IP.replace(/\./g, '\\.')}:\\d+/[0-9a-f]{48}$`));
      const answers = parseProbe(r.stdout);
      assert.deepEqual(
        [answers.get('uuid')?.status, answers.get('uuid')?.body],
        [200, uuid],
        JSON.stringify(answers.get('uuid')),
      );
      const podManifest = readFileSync(join(w.data, 'pods', 'run', uuid, 'pod'), 'utf8');
      assert.equal(answers.get('manifest')?.body, podManifest);
      assert.equal(answers.get('verify-own')?.status, 200);
      assert.equal(answers.get('noapp')?.status, 404);
      // The plan unregistered the pod once nspawn ended.
      assert.deepEqual(mds.registered(), []);
      await waitFor('the unregistration in the log', () => mds.log().includes(`unregistered pod ${uuid}`));
      await w.gc();
      assert.deepEqual(w.leftovers(uuid), []);
    });

    it('gives an app added to a sandbox the pod identity, and takes it from an app removed', () =>
      sandboxIdentity(w, mds, aci, NET, HOST_IP, ['--engine=nspawn']));
  },
);
