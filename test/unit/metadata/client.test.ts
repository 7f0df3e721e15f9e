// Stage0's registration decisions and the OCI config rewrite; the service side is faked by a
// child process on a unix socket in a temp dir (curl, which stage0 uses, blocks this process).
import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { after, before, describe, it } from 'node:test';
import { RocketError } from '../../../src/errors.js';
import { metadataRegistration, setMetadataUrl } from '../../../src/metadata/client.js';
import {
  DEFAULT_LISTEN_PORT,
  DEFAULT_REGISTRATION_SOCKET,
  REGISTRATION_SOCKET_ENV,
  registrationSocket,
} from '../../../src/metadata/defaults.js';
import { which } from '../../../src/stage1/oci/runtime.js';
import { skipUnlessCI, tempDir } from '../../helpers.js';
import { IMAGE_MANIFEST_TEXT, UUID_A, podManifestText } from './fixtures.js';

const envOf = (file: string): string[] =>
  (JSON.parse(readFileSync(file, 'utf8')) as { process: { env: string[] } }).process.env;

describe('metadataRegistration', () => {
  let dir: { path: string; cleanup: () => Promise<void> };
  let podDir: string;
  let fake: ChildProcess | undefined;
  const missing = (): string => join(dir.path, 'no-such.sock');
  const base = (): Parameters<typeof metadataRegistration>[0] => ({
    dataDir: dir.path,
    uuid: UUID_A,
    podDir,
    net: 'cni',
    mode: undefined,
    socket: missing(),
  });

  before(async () => {
    dir = await tempDir('rocket-mds-client-');
    podDir = join(dir.path, 'pods', 'prepared', UUID_A);
    mkdirSync(join(podDir, 'appsinfo', 'web'), { recursive: true });
    writeFileSync(join(podDir, 'pod'), podManifestText());
    writeFileSync(join(podDir, 'appsinfo', 'web', 'manifest'), IMAGE_MANIFEST_TEXT);
    writeFileSync(
      join(podDir, 'net-info.json'),
      JSON.stringify([{ netName: 'n', ifName: 'eth0', ip: '10.9.0.2', hostIP: '10.9.0.1' }]),
    );
  });

  after(async () => {
    fake?.kill('SIGKILL');
    await dir.cleanup();
  });

  it('never registers with --mds-register=false, nor with --net=none unless asked', () => {
    assert.equal(metadataRegistration({ ...base(), mode: false }), undefined);
    assert.equal(metadataRegistration({ ...base(), net: 'none' }), undefined);
  });

  it('refuses --mds-register=true with --net=none, as rkt', () => {
    assert.throws(
      () => metadataRegistration({ ...base(), net: 'none', mode: true }),
      (e: unknown) => e instanceof RocketError && e.exitCode === 254 && /--net=none/.test(e.message),
    );
  });

  it('registers only when a service is there, and --mds-register=true fails without one', () => {
    assert.equal(metadataRegistration(base()), undefined);
    assert.throws(
      () => metadataRegistration({ ...base(), mode: true }),
      (e: unknown) => e instanceof RocketError && e.exitCode === 254 && /no service socket/.test(e.message),
    );
  });

  it(
    'after a refused registration, warns and leaves AC_METADATA_URL empty',
    { skip: skipUnlessCI(which('curl') === undefined ? 'needs curl' : false) },
    async (t) => {
      const socket = join(dir.path, 'fake.sock');
      const server = `require('http').createServer((q, r) => { q.resume(); q.on('end', () => { r.writeHead(503); r.end('busy'); }); }).listen(${JSON.stringify(socket)}, () => console.log('up'))`;
      fake = spawn(process.execPath, ['-e', server], { stdio: ['ignore', 'pipe', 'inherit'] });
      for (let i = 0; i < 200 && !existsSync(socket); i++) await sleep(10);
      const pending = metadataRegistration({ ...base(), socket });
      assert.ok(pending !== undefined);
      const stderr = t.mock.method(process.stderr, 'write', () => true);
      const { url, unregister } = pending.register();
      stderr.mock.restore();
      const warnings = stderr.mock.calls.map((c) => String(c.arguments[0]));
      assert.equal(unregister, '');
      assert.equal(url, '');
      assert.match(warnings.join(''), /not registered with the metadata service.*answered 503: busy/);
    },
  );
});

describe('setMetadataUrl', () => {
  it('replaces the variable in the process environment and keeps the rest', async () => {
    const dir = await tempDir('rocket-mds-config-');
    try {
      const file = join(dir.path, 'config.json');
      writeFileSync(
        file,
        JSON.stringify({ ociVersion: '1.0.2', process: { env: ['PATH=/bin', 'AC_METADATA_URL=', 'X=1'] } }),
      );
      setMetadataUrl(file, 'http://10.9.0.1:18112/abc');
      assert.deepEqual(envOf(file), ['PATH=/bin', 'X=1', 'AC_METADATA_URL=http://10.9.0.1:18112/abc']);
      assert.equal((JSON.parse(readFileSync(file, 'utf8')) as { ociVersion: string }).ociVersion, '1.0.2');
    } finally {
      await dir.cleanup();
    }
  });
});

describe('registrationSocket', () => {
  it("is --socket, else RKT_METADATA_SOCKET, else rkt's /run/rkt/metadata-svc.sock", () => {
    const saved = process.env[REGISTRATION_SOCKET_ENV];
    try {
      delete process.env[REGISTRATION_SOCKET_ENV];
      assert.equal(registrationSocket(), '/run/rkt/metadata-svc.sock');
      assert.equal(registrationSocket(''), DEFAULT_REGISTRATION_SOCKET);
      process.env[REGISTRATION_SOCKET_ENV] = '/tmp/elsewhere.sock';
      assert.equal(registrationSocket(), '/tmp/elsewhere.sock');
      assert.equal(registrationSocket('/tmp/flag.sock'), '/tmp/flag.sock');
      process.env[REGISTRATION_SOCKET_ENV] = '';
      assert.equal(registrationSocket(), DEFAULT_REGISTRATION_SOCKET);
      assert.equal(DEFAULT_LISTEN_PORT, 18112);
    } finally {
      if (saved === undefined) delete process.env[REGISTRATION_SOCKET_ENV];
      else process.env[REGISTRATION_SOCKET_ENV] = saved;
    }
  });
});
