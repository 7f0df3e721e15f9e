/**
 * What a CRI container's settings change in its app's OCI config (src/cri/container-config.ts):
 * PID and IPC namespace modes (the sandbox's, the container's own), masked and read-only paths,
 * mount propagation; and the host mount's propagation read from mountinfo.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import {
  applyContainerOptions,
  containerPidMode,
  mountPropagationOf,
  propagationRefusal,
  sandboxNamespaceModes,
} from '../../../src/cri/container-config.js';
import { ociConfigForApp, type OciConfig } from '../../../src/stage1/oci/spec.js';

/** The config the oci engine writes for an app of a pod (its namespaces joined by path). */
function engineConfig(): OciConfig {
  return ociConfigForApp({
    app: { exec: ['/bin/sh'], user: '0', group: '0' },
    appName: 'c',
    rootfs: '/pod/apps/c/rootfs',
    namespaces: { network: '/pod/ns-net', ipc: '/pod/ns-ipc', uts: '/pod/ns-uts' },
    mounts: [
      { kind: 'bind', source: '/host/dir', destination: '/data' },
      { kind: 'bind', source: '/host/other', destination: '/other', readOnly: true },
    ],
    user: { uid: 0, gid: 0 },
    hostCapabilities: [],
  }).config;
}

const ns = (c: OciConfig, type: string): { type: string; path?: string } | undefined =>
  c.linux.namespaces.find((n) => n.type === type);

describe('cri container config: namespace modes', () => {
  it('a sandbox: pid POD when the options leave it out (the enum zero), CONTAINER without options', () => {
    assert.deepEqual(sandboxNamespaceModes({ pid: 'POD', ipc: 'POD' }), { pid: 'POD', ipc: 'POD' });
    assert.deepEqual(sandboxNamespaceModes({ pid: 'NODE', ipc: 'NODE' }), { pid: 'NODE', ipc: 'NODE' });
    assert.deepEqual(sandboxNamespaceModes({ pid: 'CONTAINER' }), { pid: 'CONTAINER', ipc: 'POD' });
    assert.deepEqual(sandboxNamespaceModes(null), { pid: 'CONTAINER', ipc: 'POD' });
    assert.deepEqual(sandboxNamespaceModes(undefined), { pid: 'CONTAINER', ipc: 'POD' });
  });

  it("a container: its own options' pid, else its sandbox's; POD needs the sandbox's; TARGET a target_id", () => {
    assert.equal(containerPidMode(null, 'POD'), 'POD');
    assert.equal(containerPidMode(undefined, 'CONTAINER'), 'CONTAINER');
    assert.equal(containerPidMode({ pid: 'NODE' }, 'POD'), 'NODE');
    assert.equal(containerPidMode({ pid: 'CONTAINER' }, 'POD'), 'CONTAINER');
    assert.equal(containerPidMode({}, 'POD'), 'POD');
    assert.throws(() => containerPidMode({ pid: 'POD' }, 'CONTAINER'), /no pod-wide PID namespace/);
    assert.throws(() => containerPidMode({ pid: 'TARGET' }, 'POD'), /TARGET: no target_id/);
    assert.equal(containerPidMode({ pid: 'TARGET', target_id: 'x' }, 'CONTAINER'), 'TARGET');
  });
});

describe('cri container config: the OCI config', () => {
  it('pid CONTAINER and ipc POD keep the engine config (a PID namespace of its own, the pod IPC)', () => {
    const base = engineConfig();
    const c = applyContainerOptions(base, { pid: 'CONTAINER', ipc: 'POD' });
    assert.deepEqual(c, base);
    assert.deepEqual(ns(c, 'pid'), { type: 'pid' });
    assert.deepEqual(ns(c, 'ipc'), { type: 'ipc', path: '/pod/ns-ipc' });
  });

  it("pid POD joins the sandbox's PID namespace file, TARGET the target's; NODE has none (the host's)", () => {
    const pod = applyContainerOptions(engineConfig(), { pid: 'POD', podPidNs: '/pod/ns-pid', ipc: 'POD' });
    assert.deepEqual(ns(pod, 'pid'), { type: 'pid', path: '/pod/ns-pid' });
    assert.equal(pod.linux.namespaces.filter((n) => n.type === 'pid').length, 1);
    const target = applyContainerOptions(engineConfig(), {
      pid: 'TARGET',
      targetPidNs: '/proc/7/ns/pid',
      ipc: 'POD',
    });
    assert.deepEqual(ns(target, 'pid'), { type: 'pid', path: '/proc/7/ns/pid' });
    const node = applyContainerOptions(engineConfig(), { pid: 'NODE', ipc: 'POD' });
    assert.equal(ns(node, 'pid'), undefined);
    assert.deepEqual(ns(node, 'network'), { type: 'network', path: '/pod/ns-net' });
  });

  it("ipc NODE: no IPC namespace (the host's) and the host's /dev/shm", () => {
    const c = applyContainerOptions(engineConfig(), { pid: 'CONTAINER', ipc: 'NODE' });
    assert.equal(ns(c, 'ipc'), undefined);
    const shm = c.mounts.filter((m) => m.destination === '/dev/shm');
    assert.deepEqual(shm, [
      { destination: '/dev/shm', type: 'bind', source: '/dev/shm', options: ['rbind', 'nosuid', 'nodev'] },
    ]);
    // The pod's IPC sysctls would be the host's.
    const base = engineConfig();
    const withSysctl = {
      ...base,
      linux: { ...base.linux, sysctl: { 'kernel.shmmax': '1', 'net.ipv4.ip_forward': '1' } },
    };
    assert.throws(
      () => applyContainerOptions(withSysctl, { pid: 'CONTAINER', ipc: 'NODE' }),
      /kernel.shmmax needs the pod's own IPC/,
    );
    const net = { ...base, linux: { ...base.linux, sysctl: { 'net.ipv4.ip_forward': '1' } } };
    assert.deepEqual(applyContainerOptions(net, { pid: 'CONTAINER', ipc: 'NODE' }).linux.sysctl, {
      'net.ipv4.ip_forward': '1',
    });
  });

  it('masked and read-only paths: a list replaces the defaults, an empty one keeps them, privileged has none', () => {
    const base = engineConfig();
    assert.ok((base.linux.maskedPaths ?? []).length > 0);
    const c = applyContainerOptions(base, {
      pid: 'CONTAINER',
      ipc: 'POD',
      maskedPaths: ['/bin/ls'],
      readonlyPaths: ['/tmp'],
    });
    assert.deepEqual(c.linux.maskedPaths, ['/bin/ls']);
    assert.deepEqual(c.linux.readonlyPaths, ['/tmp']);
    const d = applyContainerOptions(base, {
      pid: 'CONTAINER',
      ipc: 'POD',
      maskedPaths: [],
      readonlyPaths: [],
    });
    assert.deepEqual(d.linux.maskedPaths, base.linux.maskedPaths);
    assert.deepEqual(d.linux.readonlyPaths, base.linux.readonlyPaths);
    const p = applyContainerOptions(base, {
      pid: 'CONTAINER',
      ipc: 'POD',
      maskedPaths: ['/x'],
      privileged: true,
    });
    assert.equal(p.linux.maskedPaths, undefined);
    assert.equal(p.linux.readonlyPaths, undefined);
  });

  it('mount propagation: rshared or rslave on the mount (recursive), and the root at least as open', () => {
    const slave = applyContainerOptions(engineConfig(), {
      pid: 'CONTAINER',
      ipc: 'POD',
      mounts: [{ source: '/host/dir', destination: '/data', propagation: 'PROPAGATION_HOST_TO_CONTAINER' }],
    });
    assert.deepEqual(slave.mounts.find((m) => m.destination === '/data')?.options, ['rbind', 'rslave']);
    assert.deepEqual(slave.mounts.find((m) => m.destination === '/other')?.options, ['bind', 'ro']);
    assert.equal(slave.linux.rootfsPropagation, 'rslave');
    const shared = applyContainerOptions(engineConfig(), {
      pid: 'CONTAINER',
      ipc: 'POD',
      mounts: [
        { source: '/host/dir', destination: '/data', propagation: 'PROPAGATION_BIDIRECTIONAL' },
        { source: '/host/other', destination: '/other', propagation: 'PROPAGATION_HOST_TO_CONTAINER' },
      ],
    });
    assert.deepEqual(shared.mounts.find((m) => m.destination === '/data')?.options, ['rbind', 'rshared']);
    assert.deepEqual(shared.mounts.find((m) => m.destination === '/other')?.options, [
      'rbind',
      'ro',
      'rslave',
    ]);
    assert.equal(shared.linux.rootfsPropagation, 'rshared');
    const priv = applyContainerOptions(engineConfig(), {
      pid: 'CONTAINER',
      ipc: 'POD',
      mounts: [{ source: '/host/dir', destination: '/data', propagation: 'PROPAGATION_PRIVATE' }],
    });
    assert.deepEqual(priv, engineConfig());
  });
});

describe('cri container config: the host mount of a path', () => {
  const mountinfo = [
    '27 1 254:0 / / rw,relatime - ext4 /dev/vda rw',
    '94 27 254:0 /tmp/t/mnt /tmp/t/mnt rw,relatime shared:1 - ext4 /dev/vda rw',
    '95 27 254:0 /tmp/s /tmp/s rw,relatime master:3 - ext4 /dev/vda rw',
    '96 27 254:0 /tmp/b /tmp/b\\040c rw,relatime shared:4 master:3 - ext4 /dev/vda rw',
    '97 94 0:50 / /tmp/t/mnt/inner rw,relatime - tmpfs tmpfs rw',
  ].join('\n');

  it('the deepest mount holding the path, by its optional fields', () => {
    assert.equal(mountPropagationOf(mountinfo, '/tmp/t/mnt'), 'shared');
    assert.equal(mountPropagationOf(mountinfo, '/tmp/t/mnt/sub/dir'), 'shared');
    assert.equal(mountPropagationOf(mountinfo, '/tmp/t/mnt/inner/x'), 'private');
    assert.equal(mountPropagationOf(mountinfo, '/tmp/t/mntx'), 'private');
    assert.equal(mountPropagationOf(mountinfo, '/tmp/s/a'), 'slave');
    assert.equal(mountPropagationOf(mountinfo, '/tmp/b c'), 'shared');
    assert.equal(mountPropagationOf(mountinfo, '/etc'), 'private');
  });

  it("containerd's rule: bidirectional needs shared, host-to-container shared or slave", () => {
    assert.equal(propagationRefusal('PROPAGATION_BIDIRECTIONAL', 'shared'), undefined);
    assert.match(propagationRefusal('PROPAGATION_BIDIRECTIONAL', 'slave') ?? '', /needs a shared one/);
    assert.equal(propagationRefusal('PROPAGATION_HOST_TO_CONTAINER', 'slave'), undefined);
    assert.equal(propagationRefusal('PROPAGATION_HOST_TO_CONTAINER', 'shared'), undefined);
    assert.match(propagationRefusal('PROPAGATION_HOST_TO_CONTAINER', 'private') ?? '', /shared or slave/);
    assert.equal(propagationRefusal('PROPAGATION_PRIVATE', 'private'), undefined);
  });
});
