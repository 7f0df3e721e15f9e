/**
 * The metadata service with pods started by `rkt run`, as root: every endpoint asked from inside
 * a pod (busybox wget), the isolation between two pods, unregistration when a pod ends, and the
 * `--mds-register` choices. rkt, the service and the pods' networks live inside a network
 * namespace standing in for the host (test/integration/net/fixture.ts); the pods join a network
 * of this file (ptp, 10.177.82.0/24) defined in its own local config.
 */
import assert from 'node:assert/strict';
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { copyFileSync, existsSync, mkdirSync, readFileSync, symlinkSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { REGISTRATION_SOCKET_ENV } from '../../../src/metadata/defaults.js';
import { which } from '../../../src/stage1/oci/runtime.js';
import { NetWorld, rktBin, skip as netSkip, waitFor, type Result, type Running } from '../net/fixture.js';
import { PROBE_APPLETS, PROBE_SCRIPT, parseProbe, type ProbeAnswer } from './probe.js';
import { forEachOciRuntime, skipUnlessCI } from '../../helpers.js';

const busybox = ['/bin/busybox', '/usr/bin/busybox'].find((p) => existsSync(p));
const skip = netSkip !== false ? netSkip : which('curl') === undefined ? 'needs curl' : false;

const TEXT = 'text/plain; charset=us-ascii';
const JSON_TYPE = 'application/json';
const NET = 'mdnet';
const HOST_IP = '10.177.82.1';

/** A busybox ACI whose app runs the probe, then waits for /flag/go when WAIT is set. */
function buildProbeAci(work: string): string {
  const layout = join(work, 'layout-probe');
  const rootfs = join(layout, 'rootfs');
  for (const d of ['bin', 'etc', 'tmp', 'proc', 'sys', 'dev', 'flag'])
    mkdirSync(join(rootfs, d), { recursive: true });
  copyFileSync(busybox as string, join(rootfs, 'bin/busybox'));
  for (const a of PROBE_APPLETS) symlinkSync('busybox', join(rootfs, 'bin', a));
  writeFileSync(join(rootfs, 'etc/passwd'), 'root:x:0:0:root:/:/bin/sh\n');
  writeFileSync(join(rootfs, 'etc/group'), 'root:x:0:\n');
  writeFileSync(
    join(rootfs, 'probe.sh'),
    [
      'echo "URL=$AC_METADATA_URL"',
      'if [ -n "$AC_METADATA_URL" ]; then BASE=$AC_METADATA_URL APP=$AC_APP_NAME; export BASE APP',
      PROBE_SCRIPT,
      'fi',
      'echo probe-done',
      'if [ -n "$WAIT" ]; then while [ ! -e /flag/go ]; do sleep 0.05; done; fi',
      '',
    ].join('\n'),
  );
  writeFileSync(
    join(layout, 'manifest'),
    JSON.stringify({
      acKind: 'ImageManifest',
      acVersion: '0.8.11',
      name: 'example.com/probe',
      labels: [
        { name: 'version', value: '1.0' },
        { name: 'os', value: 'linux' },
        { name: 'arch', value: process.arch === 'x64' ? 'amd64' : process.arch },
      ],
      app: { exec: ['/bin/sh', '/probe.sh'], user: '0', group: '0' },
      annotations: [
        { name: 'example.com/from-image', value: 'image' },
        { name: 'example.com/overridden', value: 'image' },
      ],
    }),
  );
  const aci = join(work, 'probe.aci');
  const r = spawnSync(join(rktBin, '..', 'actool'), ['build', layout, aci], { encoding: 'utf8' });
  assert.equal(r.status, 0, r.stderr);
  return aci;
}

describe('the metadata service from inside pods', { skip: skipUnlessCI(skip, 'metadata pod tests') }, () => {
  forEachOciRuntime(() => {
    let w: NetWorld;
    let aci: string;
    let socket: string;
    let service: ChildProcess;
    let serviceLog = '';
    const savedSocketEnv = process.env[REGISTRATION_SOCKET_ENV];

    before(async () => {
      w = NetWorld.create('rocket-mds-pods-');
      w.conf('10-mdnet.conf', {
        cniVersion: '0.4.0',
        name: NET,
        type: 'ptp',
        ipMasq: false,
        ipam: { type: 'host-local', subnet: '10.177.82.0/24' },
      });
      aci = buildProbeAci(w.work);
      mkdirSync(join(w.work, 'flag'));
      socket = join(w.work, 'mds', 'md.sock');
      service = spawn(
        'nsenter',
        [`--net=${w.hostNs}`, rktBin, 'metadata-service', '--listen-port=0', `--socket=${socket}`],
        { stdio: ['ignore', 'ignore', 'pipe'] },
      );
      service.stderr?.setEncoding('utf8').on('data', (d: string) => (serviceLog += d));
      await waitFor(
        'the metadata service',
        () => /running on port/.test(serviceLog) || service.exitCode !== null,
      );
      assert.match(serviceLog, /running on port/);
      // rkt run (started by the world with this process's environment) registers there.
      process.env[REGISTRATION_SOCKET_ENV] = socket;
    });

    after(async () => {
      if (savedSocketEnv === undefined) delete process.env[REGISTRATION_SOCKET_ENV];
      else process.env[REGISTRATION_SOCKET_ENV] = savedSocketEnv;
      if (service.exitCode === null) {
        const exited = new Promise((resolve) => service.once('exit', resolve));
        service.kill('SIGTERM');
        await exited;
      }
      await w.close();
    });

    function registered(): string[] {
      const r = spawnSync('curl', ['-sS', '--unix-socket', socket, 'http://localhost/pods'], {
        encoding: 'utf8',
      });
      assert.equal(r.status, 0, r.stderr);
      return (JSON.parse(r.stdout) as { uuid: string }[]).map((p) => p.uuid);
    }

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
      await waitFor('the unregistration in the log', () => serviceLog.includes(`unregistered pod ${a}`));
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
        process.env[REGISTRATION_SOCKET_ENV] = socket;
      }
      assert.deepEqual(registered(), []);
    });

    it('gives an app added to a sandbox the pod identity, and takes it from an app removed', async () => {
      const uuidFile = join(w.work, 'sandbox-uuid');
      const sb = w.start([
        'app',
        'sandbox',
        `--net=${NET}`,
        '--mds-register=true',
        `--uuid-file-save=${uuidFile}`,
      ]);
      let ended = false;
      void sb.done.then(() => (ended = true));
      await waitFor(
        'the uuid file',
        () => ended || (existsSync(uuidFile) && readFileSync(uuidFile, 'utf8') !== ''),
      );
      assert.ok(!ended, sb.stderr());
      const uuid = readFileSync(uuidFile, 'utf8').trim();
      w.track(uuid);
      const R = join(w.data, 'pods', 'run', uuid);
      await waitFor('the supervisor', () => ended || existsSync(join(R, 'stage1', 'ctl')));
      assert.ok(!ended, sb.stderr());
      assert.deepEqual(registered(), [uuid]);
      const ok = async (...args: string[]): Promise<string> => {
        const r = await w.rkt('--insecure-options=image', ...args);
        assert.equal(r.code, 0, `rkt ${args.join(' ')}: ${r.stderr}`);
        return r.stdout;
      };
      const urlOf = (app: string): string => {
        const config = JSON.parse(readFileSync(join(R, 'apps', app, 'config.json'), 'utf8')) as {
          process: { env: string[] };
        };
        const e = config.process.env.find((v) => v.startsWith('AC_METADATA_URL='));
        return e?.slice('AC_METADATA_URL='.length) ?? '';
      };
      /** The image id of APP as the service answers it to a request from inside app FROM. */
      const imageId = (from: string, url: string, app: string): Promise<Result> =>
        w.rkt(
          'app',
          'exec',
          `--app=${from}`,
          uuid,
          '/bin/wget',
          '-q',
          '-O',
          '-',
          `${url}/acMetadata/v1/apps/${app}/image/id`,
        );
      const manifestIds = (): Record<string, string> =>
        Object.fromEntries(
          (
            JSON.parse(readFileSync(join(R, 'pod'), 'utf8')) as {
              apps: { name: string; image: { id: string } }[];
            }
          ).apps.map((a) => [a.name, a.image.id]),
        );

      for (const app of ['one', 'two']) {
        await ok('app', 'add', uuid, aci, `--name=${app}`, '--exec=/bin/sleep', '--', '1000');
        await ok('app', 'start', uuid, `--app=${app}`);
      }
      const url = urlOf('one');
      assert.match(url, new RegExp(`^http://${HOST_IP.replace(/\./g, '\\.')}:\\d+/[0-9a-f]{48}$`));
      assert.equal(urlOf('two'), url, 'apps of a pod share its token');
      const ids = manifestIds();
      for (const app of ['one', 'two']) {
        const r = await imageId('one', url, app);
        assert.equal(r.code, 0, r.stderr);
        assert.equal(r.stdout, ids[app]);
      }
      await waitFor('the service log', () => serviceLog.includes(`pod ${uuid} now has 2 app(s): one, two`));

      await ok('app', 'rm', uuid, '--app=two');
      const gone = await imageId('one', url, 'two');
      assert.notEqual(gone.code, 0, 'the removed app has no identity any more');
      assert.match(gone.stderr, /404/);
      const still = await imageId('one', url, 'one');
      assert.equal(still.code, 0, still.stderr);
      assert.deepEqual(registered(), [uuid]);

      assert.equal((await w.rkt('stop', uuid)).code, 0);
      const r = await sb.done;
      assert.equal(r.code, 0, r.stderr);
      assert.deepEqual(registered(), []);
    });
  });
});
