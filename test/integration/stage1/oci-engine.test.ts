// The oci engine's core against real runtimes (root only): crun through the hybrid-cgroup wrapper
// when the host needs it, and runc. Each test builds a busybox bundle from ociConfigForApp.
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import {
  existsSync,
  mkdirSync,
  mkdtempSync,
  readdirSync,
  rmdirSync,
  rmSync,
  symlinkSync,
  copyFileSync,
  writeFileSync,
} from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import type { App } from '../../../src/appc/types.js';
import { capabilitiesRetainSet, resourceIsolator } from '../../../src/appc/isolators.js';
import {
  createPodNamespacesSync,
  podNamespaceFiles,
  removePodNamespacesSync,
} from '../../../src/stage1/oci/namespaces.js';
import {
  deleteContainer,
  detectRuntime,
  runArgv,
  runtimeArgv,
  which,
  type OciRuntime,
} from '../../../src/stage1/oci/runtime.js';
import { ociConfigForApp, type OciAppInput } from '../../../src/stage1/oci/spec.js';
import { resolveAppUser } from '../../../src/stage1/oci/user.js';
import { skipUnlessCI } from '../../helpers.js';

const isRoot = process.getuid?.() === 0;
const busybox = ['/bin/busybox', '/usr/bin/busybox'].find((p) => existsSync(p));
const skipReason = !isRoot
  ? 'needs root'
  : busybox === undefined
    ? 'needs busybox-static'
    : which('crun') === undefined && which('runc') === undefined
      ? 'needs crun or runc'
      : false;

const APPLETS = ['sh', 'cat', 'id', 'hostname', 'head', 'tail', 'sleep', 'true', 'grep', 'dd'];

function buildRootfs(dir: string): string {
  const rootfs = path.join(dir, 'rootfs');
  for (const d of ['bin', 'proc', 'sys', 'dev', 'etc', 'tmp'])
    mkdirSync(path.join(rootfs, d), { recursive: true });
  copyFileSync(busybox as string, path.join(rootfs, 'bin/busybox'));
  for (const a of APPLETS) symlinkSync('busybox', path.join(rootfs, 'bin', a));
  // A user and a group whose names are digits-free, with ids that differ from each other.
  writeFileSync(path.join(rootfs, 'etc/passwd'), 'root:x:0:0:root:/:/bin/sh\nalice:x:1234:4321::/:/bin/sh\n');
  writeFileSync(path.join(rootfs, 'etc/group'), 'root:x:0:\nstaff:x:4321:\nextra:x:777:\n');
  return rootfs;
}

interface RunResult {
  status: number;
  stdout: string;
  stderr: string;
}

describe('oci engine on real runtimes', { skip: skipUnlessCI(skipReason) }, () => {
  let work: string;
  let rootfs: string;
  let ns: ReturnType<typeof podNamespaceFiles>;
  const created: { rt: OciRuntime; id: string }[] = [];
  let seq = 0;
  const cgroupParent = `rocket-test-${process.pid}`;

  before(() => {
    work = mkdtempSync(path.join(tmpdir(), 'rocket-oci-'));
    rootfs = buildRootfs(work);
    ns = podNamespaceFiles(work);
    createPodNamespacesSync(ns, 'rocket-pod');
  });

  after(() => {
    for (const { rt, id } of created) {
      try {
        deleteContainer(rt, id, true);
      } catch {
        // best effort
      }
    }
    removePodNamespacesSync(ns);
    // The runtimes remove each container's cgroup, not the parent they created for it.
    for (const dir of ['', ...readdirSync('/sys/fs/cgroup')]) {
      try {
        rmdirSync(path.join('/sys/fs/cgroup', dir, cgroupParent));
      } catch {
        // not in this hierarchy
      }
    }
    rmSync(work, { recursive: true, force: true });
  });

  function runApp(rt: OciRuntime, app: App, extra: Partial<OciAppInput> = {}): RunResult {
    const appName = `app${++seq}`;
    const bundle = path.join(work, `bundle-${appName}`);
    mkdirSync(bundle);
    const user = resolveAppUser(rootfs, app, appName);
    const { config } = ociConfigForApp({
      app,
      appName,
      rootfs,
      namespaces: { network: ns.network, ipc: ns.ipc, uts: ns.uts },
      user,
      executorEnv: { container: 'rocket' },
      cgroupsPath: `/${cgroupParent}/${appName}`,
      ...extra,
    });
    writeFileSync(path.join(bundle, 'config.json'), JSON.stringify(config, null, 2));
    const id = `rocket-test-${process.pid}-${appName}`;
    created.push({ rt, id });
    const [cmd, ...args] = runArgv(rt, { bundle, id });
    const r = spawnSync(cmd as string, args, {
      encoding: 'utf8',
      timeout: 60_000,
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    deleteContainer(rt, id, true);
    return { status: r.status ?? -1, stdout: r.stdout, stderr: r.stderr };
  }

  const sh = (script: string, more: Partial<App> = {}): App => ({
    exec: ['/bin/sh', '-c', script],
    user: '0',
    group: '0',
    ...more,
  });

  // Both runtimes, always: one that is missing is a skip locally and a failure under CI=true.
  for (const label of ['crun', 'runc'] as const) {
    const missing = skipReason === false && which(label) === undefined ? `needs ${label}` : false;
    describe(label, { skip: skipUnlessCI(missing, `the ${label} tests`) }, () => {
      let rt!: OciRuntime;
      before(() => {
        rt = detectRuntime({ runtime: label });
      });

      it('runs the runtime it names', () => {
        // The argv the engine builds (hybrid-cgroup wrapper included) must start that runtime's
        // own binary: its --version answers with its name.
        const [cmd, ...args] = runtimeArgv(rt, ['--version']);
        const r = spawnSync(cmd as string, args, { encoding: 'utf8' });
        assert.equal(r.status, 0, r.stderr);
        assert.match(r.stdout, new RegExp(`^${label} version \\d`));
        assert.equal(rt.path, which(label));
        assert.ok(rt.describe().includes(rt.path), rt.describe());
      });

      it('propagates the exit code', () => {
        const r = runApp(rt, sh('exit 7'));
        assert.equal(r.status, 7, r.stderr);
      });

      it('shows the retained capability set in CapBnd, the env and the pod hostname', () => {
        const app = sh('cat /proc/self/status; id; hostname; echo "PATH=$PATH"; echo "NAME=$AC_APP_NAME"', {
          isolators: [capabilitiesRetainSet(['CAP_NET_BIND_SERVICE', 'CAP_KILL'])],
        });
        const r = runApp(rt, app);
        assert.equal(r.status, 0, r.stderr);
        // CAP_KILL = 5, CAP_NET_BIND_SERVICE = 10.
        const expected = ((1 << 5) | (1 << 10)).toString(16).padStart(16, '0');
        assert.match(r.stdout, new RegExp(`CapBnd:\\s+${expected}`));
        assert.match(r.stdout, new RegExp(`CapEff:\\s+${expected}`));
        assert.match(r.stdout, /^rocket-pod$/m);
        assert.match(
          r.stdout,
          /^PATH=\/usr\/local\/sbin:\/usr\/local\/bin:\/usr\/sbin:\/usr\/bin:\/sbin:\/bin$/m,
        );
        assert.match(r.stdout, /^NAME=app\d+$/m);
        assert.match(r.stdout, /NoNewPrivs:\s+0/);
        assert.match(r.stdout, /Seccomp:\s+2/);
      });

      it('runs as the user and group named in the image', () => {
        const r = runApp(rt, sh('id', { user: 'alice', group: 'staff', supplementaryGIDs: [777] }));
        assert.equal(r.status, 0, r.stderr);
        assert.match(r.stdout, /uid=1234\(alice\) gid=4321\(staff\) groups=(.*)777\(extra\)/);
      });

      it('kills an app over its memory limit (OOM: 137)', () => {
        const app = sh('head -c 256m /dev/zero | tail >/dev/null; exit $?', {
          isolators: [resourceIsolator('resource/memory', { limit: '16Mi' })],
        });
        const r = runApp(rt, app);
        assert.equal(r.status, 137, r.stderr);
        const small = runApp(
          rt,
          sh('head -c 1m /dev/zero | tail >/dev/null; exit $?', { isolators: app.isolators }),
        );
        assert.equal(small.status, 0, small.stderr);
      });

      it('joins the same network and UTS namespace files as another app', () => {
        const a = runApp(
          rt,
          sh('hostname; cat /proc/sys/kernel/hostname; readlink /proc/self/ns/uts || true'),
        );
        const b = runApp(rt, sh('hostname'));
        assert.equal(a.status, 0, a.stderr);
        assert.equal(b.status, 0, b.stderr);
        assert.equal(a.stdout.split('\n')[0], 'rocket-pod');
        assert.equal(b.stdout.trim(), 'rocket-pod');
      });
    });
  }
});
