// Stage0's checks before a pod is made: host volume sources, app executables in their images, and
// retained capabilities against the host's bounding set. Root-free, on a rootfs in a temp dir.
import assert from 'node:assert/strict';
import { chmodSync, mkdirSync, mkdtempSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { after, describe, it } from 'node:test';
import type { App, PodManifest } from '../../../src/appc/types.js';
import { RocketError } from '../../../src/errors.js';
import {
  checkAppExecutables,
  checkHostVolumes,
  checkPodBeforePrepare,
  findExecutable,
} from '../../../src/pod/checks.js';

const tmp = mkdtempSync(path.join(tmpdir(), 'rocket-checks-'));
after(() => rmSync(tmp, { recursive: true, force: true }));

// A rootfs: /bin/busybox (executable), /bin/sh → busybox, /usr/bin/env → /bin/busybox (absolute),
// /etc/motd (not executable), /loop → /loop, /opt/tool (executable).
const rootfs = path.join(tmp, 'rootfs');
for (const d of ['bin', 'usr/bin', 'etc', 'opt', 'srv']) mkdirSync(path.join(rootfs, d), { recursive: true });
writeFileSync(path.join(rootfs, 'bin', 'busybox'), '#!/bin/true\n');
chmodSync(path.join(rootfs, 'bin', 'busybox'), 0o755);
symlinkSync('busybox', path.join(rootfs, 'bin', 'sh'));
symlinkSync('/bin/busybox', path.join(rootfs, 'usr', 'bin', 'env'));
writeFileSync(path.join(rootfs, 'etc', 'motd'), 'hi\n');
symlinkSync('/loop', path.join(rootfs, 'loop'));
writeFileSync(path.join(rootfs, 'opt', 'tool'), '');
chmodSync(path.join(rootfs, 'opt', 'tool'), 0o700);

const refusedWith = (re: RegExp) => (e: unknown) =>
  e instanceof RocketError && e.kind === 'invalid-argument' && re.test(e.message);

describe('findExecutable', () => {
  const app: Pick<App, 'environment' | 'workingDirectory'> = {};
  it('follows symlinks inside the rootfs, absolute ones from its root', () => {
    assert.equal(findExecutable(rootfs, app, '/bin/busybox'), true);
    assert.equal(findExecutable(rootfs, app, '/bin/sh'), true);
    assert.equal(findExecutable(rootfs, app, '/usr/bin/env'), true);
    assert.equal(findExecutable(rootfs, app, '/usr/bin/../../bin/sh'), true);
  });
  it('refuses what is missing, not a file, not executable, or a symlink loop', () => {
    for (const p of ['/bin/bash', '/nonexistent/x', '/etc/motd', '/etc', '/loop'])
      assert.equal(findExecutable(rootfs, app, p), false, p);
  });
  it("looks up a bare name along the app's PATH and a relative one from its working directory", () => {
    assert.equal(findExecutable(rootfs, app, 'sh'), true);
    assert.equal(findExecutable(rootfs, app, 'tool'), false);
    assert.equal(findExecutable(rootfs, { environment: [{ name: 'PATH', value: '/opt' }] }, 'tool'), true);
    assert.equal(findExecutable(rootfs, { workingDirectory: '/opt' }, './tool'), true);
    assert.equal(findExecutable(rootfs, { workingDirectory: '/srv' }, './tool'), false);
  });
  it('leaves paths under a mount point to the volume', () => {
    assert.equal(findExecutable(rootfs, app, '/srv/bin/server', ['/srv']), true);
    assert.equal(findExecutable(rootfs, app, '/srvx/server', ['/srv']), false);
  });
});

describe('checkAppExecutables', () => {
  it('names the app and the path, for exec and for event handlers', () => {
    assert.doesNotThrow(() =>
      checkAppExecutables('web', { exec: ['/bin/sh', '-c', 'true'], user: '0', group: '0' }, rootfs, []),
    );
    assert.throws(
      () => checkAppExecutables('web', { exec: ['/bin/bash'], user: '0', group: '0' }, rootfs, []),
      refusedWith(/^app "web": exec "\/bin\/bash" is not an executable file in the app's image$/),
    );
    assert.throws(
      () =>
        checkAppExecutables(
          'web',
          {
            exec: ['/bin/sh'],
            user: '0',
            group: '0',
            eventHandlers: [{ name: 'pre-start', exec: ['/opt/missing'] }],
          },
          rootfs,
          [],
        ),
      refusedWith(/^app "web": pre-start event handler exec "\/opt\/missing"/),
    );
    // A mount point of the image's own is a volume too.
    assert.doesNotThrow(() =>
      checkAppExecutables(
        'web',
        { exec: ['/data/run'], user: '0', group: '0', mountPoints: [{ name: 'data', path: '/data' }] },
        rootfs,
        [],
      ),
    );
  });
});

describe('checkHostVolumes and checkPodBeforePrepare', () => {
  const manifest = (over: Partial<PodManifest>): PodManifest => ({
    acVersion: '0.8.11',
    acKind: 'PodManifest',
    apps: [],
    ...over,
  });

  it('refuses a host volume whose source is missing, naming the volume', () => {
    assert.doesNotThrow(() =>
      checkHostVolumes(
        manifest({
          volumes: [
            { name: 'v1', kind: 'host', source: tmp },
            { name: 'e', kind: 'empty' },
          ],
        }),
      ),
    );
    assert.throws(
      () =>
        checkHostVolumes(manifest({ volumes: [{ name: 'v1', kind: 'host', source: '/nonexistent/src' }] })),
      refusedWith(/^volume "v1": host source "\/nonexistent\/src" does not exist$/),
    );
  });

  it('checks every app of the pod, in order, naming the one at fault', async () => {
    const m = manifest({
      volumes: [{ name: 'bin', kind: 'host', source: tmp }],
      apps: [
        { name: 'ok', image: { id: 'sha512-1' }, app: { exec: ['/bin/sh'], user: '0', group: '0' } },
        {
          name: 'second',
          image: { id: 'sha512-2' },
          app: { exec: ['/opt/bin/server'], user: '0', group: '0' },
          mounts: [{ volume: 'bin', path: '/opt/bin' }],
        },
      ],
    });
    const rendered: number[] = [];
    const rootfsOf = (i: number): Promise<string> => {
      rendered.push(i);
      return Promise.resolve(rootfs);
    };
    await checkPodBeforePrepare(m, rootfsOf);
    assert.deepEqual(rendered, [0, 1]);
    (m.apps[1] as { mounts?: unknown }).mounts = [];
    await assert.rejects(
      checkPodBeforePrepare(m, rootfsOf),
      refusedWith(/^app "second": exec "\/opt\/bin\/server"/),
    );
  });
});
