/**
 * The metadata service with pods started by `rkt run`, as root: every endpoint asked from inside
 * a pod (busybox wget), the isolation between two pods, unregistration when a pod ends, and the
 * `--mds-register` choices. rkt, the service and the pods' networks live inside a network
 * namespace standing in for the host (test/integration/net/fixture.ts); the pods join a network
 * of this file (ptp, 10.177.82.0/24) defined in its own local config. The sandbox test's body is
 * shared with the nspawn engine's (world.ts).
 */
import assert from 'node:assert/strict';
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { REGISTRATION_SOCKET_ENV } from '../../../src/metadata/defaults.js';
import { which } from '../../../src/stage1/oci/runtime.js';
import { NetWorld, skip as netSkip, waitFor, type Running } from '../net/fixture.js';
import { parseProbe, type ProbeAnswer } from './probe.js';
import { buildProbeAci, busybox, sandboxIdentity, startMds, type Mds } from './world.js';
import { forEachOciRuntime, skipUnlessCI } from '../../helpers.js';

const skip = netSkip !== false ? netSkip : which('curl') === undefined ? 'needs curl' : false;

const TEXT = 'text/plain; charset=us-ascii';
const JSON_TYPE = 'application/json';
const NET = 'mdnet';
const HOST_IP = '10.177.82.1';

describe('the metadata service from inside pods', { skip: skipUnlessCI(skip, 'metadata pod tests') }, () => {
  forEachOciRuntime(() => {
    let w: NetWorld;
    let aci: string;
    let mds: Mds;
    const registered = (): string[] => mds.registered();

    before(async () => {
      w = NetWorld.create('rocket-mds-pods-');
      w.conf('10-mdnet.conf', {
        cniVersion: '0.4.0',
        name: NET,
        type: 'ptp',
        ipMasq: false,
        ipam: { type: 'host-local', subnet: '10.177.82.0/24' },
      });
      aci = buildProbeAci(w.work, 'probe', [
        { name: 'example.com/from-image', value: 'image' },
        { name: 'example.com/overridden', value: 'image' },
      ]);
      mkdirSync(join(w.work, 'flag'));
      mds = await startMds(w);
    });

    after(async () => {
      await mds.close();
      await w.close();
    });

    /** The probe's answers and the URL the app saw, once it printed them. */
    async function probed(pod: Running): Promise<{ url: string; answers: Map<string, ProbeAnswer> }> {
      let ended = false;
      void pod.done.then(() => (ended = true));
      await waitFor('the probe', () => ended || pod.stdout().includes('probe-done'), 60_000);
      assert.match(pod.stdout(), /probe-done/, pod.stderr());
      return { url: /^URL=(.*)$/m.exec(pod.stdout())?.[1] ?? '', answers: parseProbe(pod.stdout()) };
    }

    const runArgs = (...extra: string[]): string[] => [
      `--net=${NET}`,
      '--mds-register=true',
      `--volume=flag,kind=host,source=${join(w.work, 'flag')}`,
      ...extra,
      aci,
      '--mount',
      'volume=flag,target=/flag',
      '--annotation=example.com/overridden=pod',
      '--annotation=example.com/from-pod=pod',
    ];

    it('answers every endpoint to its own pod, and nothing of it to another pod', async () => {
      const { pod: podA, uuid: a } = await w.startPod(...runArgs('--set-env=WAIT=1'));
      const { url: urlA, answers: ra } = await probed(podA);
      assert.match(urlA, new RegExp(`^http://${HOST_IP.replace(/\./g, '\\.')}:\\d+/[0-9a-f]{48}$`));
      assert.equal(w.netInfo(a)[0]?.hostIP, HOST_IP);
      assert.deepEqual(registered(), [a]);

      const podDir = join(w.data, 'pods', 'run', a);
      const podManifestText = readFileSync(join(podDir, 'pod'), 'utf8');
      const podManifest = JSON.parse(podManifestText) as {
        annotations: unknown;
        apps: { image: { id: string } }[];
      };
      const expect = (name: string, status: number, contentType?: string, body?: string): void => {
        const got = ra.get(name);
        assert.equal(got?.status, status, `${name}: ${JSON.stringify(got)}`);
        if (contentType !== undefined) assert.equal(got?.contentType, contentType, name);
        if (body !== undefined) assert.equal(got?.body, body, name);
      };
      expect('uuid', 200, TEXT, a);
      expect('manifest', 200, JSON_TYPE, podManifestText);
      expect('podann', 200, JSON_TYPE, JSON.stringify(podManifest.annotations));
      expect('imgman', 200, JSON_TYPE, readFileSync(join(podDir, 'appsinfo', 'probe', 'manifest'), 'utf8'));
      expect('imgid', 200, TEXT, podManifest.apps[0]?.image.id);
      expect('appann', 200, JSON_TYPE);
      assert.deepEqual(JSON.parse(ra.get('appann')?.body ?? ''), [
        { name: 'example.com/from-image', value: 'image' },
        { name: 'example.com/overridden', value: 'pod' },
        { name: 'example.com/from-pod', value: 'pod' },
      ]);
      expect('noapp', 404);
      expect('sign', 200, TEXT);
      expect('verify-own', 200, TEXT, '');
      expect('verify-tampered', 403);
      expect('verify-garbage', 400);
      const sigA = ra.get('sign')?.body ?? '';

      // Pod B, on the same network, with A's UUID, signature and URL (token included).
      const b = w.start([
        '--insecure-options=image',
        'run',
        ...runArgs(`--set-env=PEER_UUID=${a}`, `--set-env=PEER_SIG=${sigA}`, `--set-env=PEER_URL=${urlA}`),
      ]);
      const { url: urlB, answers: rb } = await probed(b);
      const rbDone = await b.done;
      assert.equal(rbDone.code, 0, rbDone.stderr);
      assert.notEqual(urlB, urlA);
      assert.equal(rb.get('uuid')?.status, 200);
      assert.notEqual(rb.get('uuid')?.body, a);
      assert.equal(rb.get('verify-peer')?.status, 200, 'B verifies that A signed');
      assert.equal(rb.get('verify-peer-as-me')?.status, 403, "A's signature is not B's");
      assert.equal(rb.get('stolen-manifest')?.status, 403, "B cannot read A's manifest with A's token");
      assert.equal(rb.get('stolen-sign')?.status, 403, 'B cannot sign as A');
      // B ended: its plan unregistered it.
      await waitFor('B to be unregistered', () => registered().length === 1);
      assert.deepEqual(registered(), [a]);

      writeFileSync(join(w.work, 'flag', 'go'), '');
      const rA = await podA.done;
      assert.equal(rA.code, 0, rA.stderr);
      assert.deepEqual(registered(), []);
      await waitFor('the unregistration in the log', () => mds.log().includes(`unregistered pod ${a}`));
      // The token is dead: the service no longer knows it (asked on loopback: A's network is gone).
      const local = urlA.replace(HOST_IP, '127.0.0.1');
      const r = w.trySh(`${busybox} wget -q -S -O - ${local}/acMetadata/v1/pod/uuid`);
      assert.match(r.stderr, /401 Unauthorized/);
    });

    it('serves a pod on the host network at 127.0.0.1', async () => {
      const r = await w.rkt('--insecure-options=image', 'run', '--net=host', '--mds-register=true', aci);
      assert.equal(r.code, 0, r.stderr);
      const url = /^URL=(.*)$/m.exec(r.stdout)?.[1] ?? '';
      assert.match(url, /^http:\/\/127\.0\.0\.1:\d+\/[0-9a-f]{48}$/);
      const answers = parseProbe(r.stdout);
      assert.equal(answers.get('uuid')?.status, 200);
      assert.equal(answers.get('verify-own')?.status, 200);
    });

    it('leaves AC_METADATA_URL empty without a network to the host, or without a service', async () => {
      const none = await w.rkt('--insecure-options=image', 'run', '--net=none', aci);
      assert.equal(none.code, 0, none.stderr);
      assert.match(none.stdout, /^URL=$/m);
      const refused = await w.rkt(
        '--insecure-options=image',
        'run',
        '--net=none',
        '--mds-register=true',
        aci,
      );
      assert.equal(refused.code, 254);
      assert.match(refused.stderr, /--mds-register flag does not work with --net=none/);

      process.env[REGISTRATION_SOCKET_ENV] = join(w.work, 'no-service.sock');
      try {
        const auto = await w.rkt('--insecure-options=image', 'run', `--net=${NET}`, aci);
        assert.equal(auto.code, 0, auto.stderr);
        assert.match(auto.stdout, /^URL=$/m);
        assert.doesNotMatch(auto.stderr, /metadata/);
        const required = await w.rkt(
          '--insecure-options=image',
          'run',
          `--net=${NET}`,
          '--mds-register=true',
          aci,
        );
        assert.equal(required.code, 254);
        assert.match(required.stderr, /failed to register the pod with the metadata service/);
      } finally {
        process.env[REGISTRATION_SOCKET_ENV] = mds.socket;
      }
      assert.deepEqual(registered(), []);
    });

    it('gives an app added to a sandbox the pod identity, and takes it from an app removed', () =>
      sandboxIdentity(w, mds, aci, NET, HOST_IP, []));
  });
});
