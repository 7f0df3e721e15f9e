/**
 * The metadata service with pods of the nspawn engine, as root: a pod on a CNI network of this
 * file registers (stage0's pipeline), its app gets AC_METADATA_URL and asks the service from inside
 * the container (busybox wget), and the plan unregisters the pod when nspawn ends. rkt, the
 * service and the pod's network live inside a network namespace standing in for the host
 * (test/integration/net/fixture.ts).
 */
import assert from 'node:assert/strict';
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { copyFileSync, existsSync, mkdirSync, readFileSync, symlinkSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { REGISTRATION_SOCKET_ENV } from '../../../src/metadata/defaults.js';
import { which } from '../../../src/stage1/oci/runtime.js';
import { NetWorld, rktBin, skip as netSkip, waitFor } from '../net/fixture.js';
import { PROBE_APPLETS, PROBE_SCRIPT, parseProbe } from '../metadata/probe.js';
import { skipUnlessCI } from '../../helpers.js';

const busybox = ['/bin/busybox', '/usr/bin/busybox'].find((p) => existsSync(p));
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

/** A busybox ACI whose app prints its AC_METADATA_URL and runs the probe with it. */
function buildProbeAci(work: string): string {
  const layout = join(work, 'layout-probe');
  const rootfs = join(layout, 'rootfs');
  for (const d of ['bin', 'etc', 'tmp', 'proc', 'sys', 'dev'])
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
      '',
    ].join('\n'),
  );
  writeFileSync(
    join(layout, 'manifest'),
    JSON.stringify({
      acKind: 'ImageManifest',
      acVersion: '0.8.11',
      name: 'example.com/nsprobe',
      labels: [
        { name: 'version', value: '1.0' },
        { name: 'os', value: 'linux' },
        { name: 'arch', value: process.arch === 'x64' ? 'amd64' : process.arch },
      ],
      app: { exec: ['/bin/sh', '/probe.sh'], user: '0', group: '0' },
    }),
  );
  const aci = join(work, 'probe.aci');
  const r = spawnSync(join(rktBin, '..', 'actool'), ['build', layout, aci], { encoding: 'utf8' });
  assert.equal(r.status, 0, r.stderr);
  return aci;
}

describe(
  'the metadata service with the nspawn engine',
  { skip: skipUnlessCI(skip, 'nspawn metadata tests') },
  () => {
    let w: NetWorld;
    let aci: string;
    let socket: string;
    let service: ChildProcess;
    let serviceLog = '';
    const savedSocketEnv = process.env[REGISTRATION_SOCKET_ENV];

    before(async () => {
      w = NetWorld.create('rocket-nsmds-');
      w.conf('10-nsmdnet.conf', {
        cniVersion: '0.4.0',
        name: NET,
        type: 'ptp',
        ipMasq: false,
        ipam: { type: 'host-local', subnet: '10.177.83.0/24' },
      });
      aci = buildProbeAci(w.work);
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
      assert.deepEqual(registered(), []);
      await waitFor('the unregistration in the log', () => serviceLog.includes(`unregistered pod ${uuid}`));
      await w.gc();
      assert.deepEqual(w.leftovers(uuid), []);
    });

    it('gives an app added to a sandbox the pod identity', async () => {
      const uuidFile = join(w.work, 'sandbox-uuid');
      const sb = w.start([
        'app',
        'sandbox',
        '--engine=nspawn',
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
      await ok('app', 'add', uuid, aci, '--name=one', '--exec=/bin/sleep', '--', '1000');
      await ok('app', 'start', uuid, '--app=one');
      const url = (
        await ok('app', 'exec', '--app=one', uuid, '/bin/sh', '-c', 'echo "$AC_METADATA_URL"')
      ).trim();
      assert.match(url, new RegExp(`^http://${HOST_IP.replace(/\./g, '\\.')}:\\d+/[0-9a-f]{48}$`));
      const id = (JSON.parse(readFileSync(join(R, 'pod'), 'utf8')) as { apps: { image: { id: string } }[] })
        .apps[0]?.image.id;
      assert.equal(
        await ok(
          'app',
          'exec',
          '--app=one',
          uuid,
          '/bin/wget',
          '-q',
          '-O',
          '-',
          `${url}/acMetadata/v1/apps/one/image/id`,
        ),
        id,
      );
      assert.equal((await w.rkt('stop', uuid)).code, 0);
      const r = await sb.done;
      assert.equal(r.code, 0, r.stderr);
      assert.deepEqual(registered(), []);
      await w.gc();
      assert.deepEqual(w.leftovers(uuid), []);
    });
  },
);
