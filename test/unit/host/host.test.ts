// The host-program adapters (src/host): callers reach unshare, mount/umount and curl through
// host(), so these tests swap in the fakes and check what would run, without root.
import assert from 'node:assert/strict';
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { createServer, type Server } from 'node:net';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { RocketError } from '../../../src/errors.js';
import { realBusybox } from '../../../src/host/busybox.js';
import { installFakeHost } from '../../../src/host/fake.js';
import { host } from '../../../src/host/index.js';
import { metadataRegistration } from '../../../src/metadata/client.js';
import { removeNetns } from '../../../src/net/pod.js';
import {
  createPodNamespacesSync,
  podNamespaceFiles,
  removePodNamespacesSync,
} from '../../../src/stage1/oci/namespaces.js';
import { tempDir } from '../../helpers.js';

describe('host adapters', () => {
  let dir: { path: string; cleanup: () => Promise<void> };
  before(async () => {
    dir = await tempDir('rocket-host-');
  });
  after(async () => {
    await dir.cleanup();
  });

  it('finds a busybox on PATH only when it has every applet asked for', () => {
    const bin = join(dir.path, 'bb-bin');
    mkdirSync(bin);
    // A stand-in that lists three applets for --list (and counts how often it was asked).
    writeFileSync(
      join(bin, 'busybox'),
      `#!/bin/sh\necho x >>${join(dir.path, 'bb-asked')}\n[ "$1" = --list ] && printf 'sh\\nmv\\nln\\n'\n`,
      { mode: 0o755 },
    );
    const path0 = process.env['PATH'];
    try {
      process.env['PATH'] = `relative:${bin}:/usr/bin:/bin`;
      assert.equal(realBusybox.find(['sh', 'mv']), join(bin, 'busybox'));
      assert.equal(realBusybox.find(['sh', 'mount']), undefined);
      // Asked once per binary in a process.
      assert.equal(readFileSync(join(dir.path, 'bb-asked'), 'utf8'), 'x\n');
      process.env['PATH'] = join(dir.path, 'none');
      assert.equal(realBusybox.find(['sh']), undefined);
    } finally {
      process.env['PATH'] = path0;
    }
    // The fake finds none unless told.
    const fake = installFakeHost();
    assert.equal(host().busybox.find(['sh']), undefined);
    fake.restore();
    const fake2 = installFakeHost({ busybox: '/x/busybox' });
    assert.equal(host().busybox.find(['sh']), '/x/busybox');
    fake2.restore();
  });

  it('puts the real programs back on restore', () => {
    const real = host().unshare;
    const fake = installFakeHost();
    assert.notEqual(host().unshare, real);
    fake.restore();
    assert.equal(host().unshare, real);
  });

  it('makes the pod namespaces with one unshare over files it created', () => {
    const files = podNamespaceFiles(dir.path);
    const fake = installFakeHost();
    try {
      createPodNamespacesSync(files, 'pod-host');
    } finally {
      fake.restore();
    }
    assert.equal(fake.calls.length, 1);
    const call = fake.calls[0];
    assert.equal(call?.program, 'unshare');
    assert.deepEqual(call?.args.slice(0, 3), [
      `--net=${join(dir.path, 'ns-net')}`,
      `--ipc=${join(dir.path, 'ns-ipc')}`,
      `--uts=${join(dir.path, 'ns-uts')}`,
    ]);
    assert.equal(call?.args.at(-1), 'pod-host');
    assert.match(call?.args.at(-2) ?? '', /ip link set lo up/);
    for (const f of ['ns-net', 'ns-ipc', 'ns-uts']) assert.ok(existsSync(join(dir.path, f)));

    // Removal: one umount per file, then the files are gone.
    const rm = installFakeHost({ respond: () => ({ status: 32, stderr: 'not mounted' }) });
    try {
      removePodNamespacesSync(files);
    } finally {
      rm.restore();
    }
    assert.deepEqual(
      rm.calls.map((c) => [c.program, ...c.args]),
      ['ns-net', 'ns-ipc', 'ns-uts'].map((f) => ['umount', join(dir.path, f)]),
    );
    for (const f of ['ns-net', 'ns-ipc', 'ns-uts']) assert.ok(!existsSync(join(dir.path, f)));
  });

  it('reports a failing unshare in one line and leaves no namespace file', () => {
    const files = podNamespaceFiles(dir.path, { hostNetwork: true });
    const fake = installFakeHost({
      respond: (c) =>
        c.program === 'unshare' ? { status: 1, stderr: 'unshare: Operation not permitted\n' } : {},
    });
    try {
      assert.throws(
        () => createPodNamespacesSync(files, 'h'),
        (e: unknown) =>
          e instanceof RocketError &&
          e.message === 'cannot create the pod namespaces: unshare: Operation not permitted',
      );
    } finally {
      fake.restore();
    }
    assert.ok(!(fake.calls[0]?.args ?? []).some((a) => a.startsWith('--net')));
    assert.ok(!existsSync(files.ipc) && !existsSync(files.uts));
  });

  it('leaves an unmounted network namespace file to rm, without umount', () => {
    const file = join(dir.path, 'ns-net-plain');
    writeFileSync(file, '');
    const fake = installFakeHost();
    try {
      removeNetns(file);
    } finally {
      fake.restore();
    }
    assert.deepEqual(fake.calls, []);
    assert.ok(!existsSync(file));
  });

  describe('curl, for the metadata service', () => {
    let server: Server;
    const socket = (): string => join(dir.path, 'mds.sock');
    before(async () => {
      server = createServer();
      await new Promise<void>((resolve) => server.listen(socket(), resolve));
    });
    after(() => {
      server.close();
    });

    const request = (): Parameters<typeof metadataRegistration>[0] => ({
      dataDir: dir.path,
      uuid: '6e4b1f1c-0000-4000-8000-000000000001',
      podDir: dir.path,
      net: 'cni',
      mode: true,
      socket: socket(),
    });

    it('asks the service with a GET over its socket before anything is set up', () => {
      const fake = installFakeHost({ respond: () => ({ stdout: '200' }) });
      try {
        assert.ok(metadataRegistration(request()) !== undefined);
      } finally {
        fake.restore();
      }
      const call = fake.calls[0];
      assert.equal(call?.program, 'curl');
      assert.ok(call?.args.includes('--unix-socket') && call.args.includes(socket()));
      assert.ok(call?.args.includes('GET'));
    });

    it('fails --mds-register=true when the service answers otherwise', () => {
      const fake = installFakeHost({ respond: () => ({ stdout: '503' }) });
      try {
        assert.throws(
          () => metadataRegistration(request()),
          (e: unknown) => e instanceof RocketError && /the service answered 503/.test(e.message),
        );
      } finally {
        fake.restore();
      }
    });
  });
});
