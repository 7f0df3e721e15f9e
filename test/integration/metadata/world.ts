/**
 * What the metadata tests of every engine share (metadata/pods.test.ts for oci on crun and runc,
 * nspawn/metadata.test.ts): the probe image, a metadata service in the test's host namespace that
 * `rkt run` registers with, and the test bodies whose steps are the same on every engine, given
 * the engine's flags.
 */
import assert from 'node:assert/strict';
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { copyFileSync, existsSync, mkdirSync, readFileSync, symlinkSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { REGISTRATION_SOCKET_ENV } from '../../../src/metadata/defaults.js';
import { rktBin, waitFor, type NetWorld, type Result } from '../net/fixture.js';
import { PROBE_APPLETS, PROBE_SCRIPT } from './probe.js';

export const busybox = ['/bin/busybox', '/usr/bin/busybox'].find((p) => existsSync(p));

/**
 * A busybox ACI (`example.com/<name>`) whose app prints its AC_METADATA_URL, runs the probe with
 * it, then waits for /flag/go when WAIT is set.
 */
export function buildProbeAci(
  work: string,
  name: string,
  annotations: { name: string; value: string }[] = [],
): string {
  const layout = join(work, `layout-${name}`);
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
      name: `example.com/${name}`,
      labels: [
        { name: 'version', value: '1.0' },
        { name: 'os', value: 'linux' },
        { name: 'arch', value: process.arch === 'x64' ? 'amd64' : process.arch },
      ],
      app: { exec: ['/bin/sh', '/probe.sh'], user: '0', group: '0' },
      ...(annotations.length > 0 ? { annotations } : {}),
    }),
  );
  const aci = join(work, `${name}.aci`);
  const r = spawnSync(join(rktBin, '..', 'actool'), ['build', layout, aci], { encoding: 'utf8' });
  assert.equal(r.status, 0, r.stderr);
  return aci;
}

/** A metadata service listening in the world's host namespace, with its registration socket. */
export interface Mds {
  socket: string;
  /** Its stderr so far. */
  log(): string;
  /** The UUIDs of the pods registered now. */
  registered(): string[];
  /** Stops it and gives REGISTRATION_SOCKET_ENV its value back. */
  close(): Promise<void>;
}

/** Starts the service; `rkt run` (started by the world with this process's environment) registers there. */
export async function startMds(w: NetWorld): Promise<Mds> {
  const socket = join(w.work, 'mds', 'md.sock');
  let log = '';
  const service: ChildProcess = spawn(
    'nsenter',
    [`--net=${w.hostNs}`, rktBin, 'metadata-service', '--listen-port=0', `--socket=${socket}`],
    { stdio: ['ignore', 'ignore', 'pipe'] },
  );
  service.stderr?.setEncoding('utf8').on('data', (d: string) => (log += d));
  await waitFor('the metadata service', () => /running on port/.test(log) || service.exitCode !== null);
  assert.match(log, /running on port/);
  const saved = process.env[REGISTRATION_SOCKET_ENV];
  process.env[REGISTRATION_SOCKET_ENV] = socket;
  return {
    socket,
    log: () => log,
    registered() {
      const r = spawnSync('curl', ['-sS', '--unix-socket', socket, 'http://localhost/pods'], {
        encoding: 'utf8',
      });
      assert.equal(r.status, 0, r.stderr);
      return (JSON.parse(r.stdout) as { uuid: string }[]).map((p) => p.uuid);
    },
    async close() {
      if (saved === undefined) delete process.env[REGISTRATION_SOCKET_ENV];
      else process.env[REGISTRATION_SOCKET_ENV] = saved;
      if (service.exitCode === null) {
        const exited = new Promise((resolve) => service.once('exit', resolve));
        service.kill('SIGTERM');
        await exited;
      }
    },
  };
}

/**
 * A sandbox registered on network `net` (`engine`: its engine flags) gets two apps; each asks the
 * service for both apps' image IDs with the pod's shared URL; the one removed loses its identity,
 * the other keeps it; the pod is unregistered at its end and gc leaves nothing.
 */
export async function sandboxIdentity(
  w: NetWorld,
  mds: Mds,
  aci: string,
  net: string,
  hostIp: string,
  engine: readonly string[],
): Promise<void> {
  const uuidFile = join(w.work, `sandbox-uuid-${Date.now()}`);
  const sb = w.start([
    'app',
    'sandbox',
    ...engine,
    `--net=${net}`,
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
  assert.deepEqual(mds.registered(), [uuid]);
  const ok = async (...args: string[]): Promise<string> => {
    const r = await w.rkt('--insecure-options=image', ...args);
    assert.equal(r.code, 0, `rkt ${args.join(' ')}: ${r.stderr}`);
    return r.stdout;
  };
  /** AC_METADATA_URL as app APP has it. */
  const urlOf = async (app: string): Promise<string> =>
    (await ok('app', 'exec', `--app=${app}`, uuid, '/bin/sh', '-c', 'echo "$AC_METADATA_URL"')).trim();
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
  const url = await urlOf('one');
  assert.match(url, new RegExp(`^http://${hostIp.replace(/\./g, '\\.')}:\\d+/[0-9a-f]{48}$`));
  assert.equal(await urlOf('two'), url, 'apps of a pod share its token');
  const ids = manifestIds();
  for (const app of ['one', 'two']) {
    const r = await imageId('one', url, app);
    assert.equal(r.code, 0, r.stderr);
    assert.equal(r.stdout, ids[app]);
  }
  await waitFor('the service log', () => mds.log().includes(`pod ${uuid} now has 2 app(s): one, two`));

  await ok('app', 'rm', uuid, '--app=two');
  const gone = await imageId('one', url, 'two');
  assert.notEqual(gone.code, 0, 'the removed app has no identity any more');
  assert.match(gone.stderr, /404/);
  const still = await imageId('one', url, 'one');
  assert.equal(still.code, 0, still.stderr);
  assert.deepEqual(mds.registered(), [uuid]);

  assert.equal((await w.rkt('stop', uuid)).code, 0);
  const r = await sb.done;
  assert.equal(r.code, 0, r.stderr);
  assert.deepEqual(mds.registered(), []);
  await w.gc();
  assert.deepEqual(w.leftovers(uuid), []);
}
