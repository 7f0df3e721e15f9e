// The oci engine's pure parts: appc app → OCI config, seccomp sets, user resolution, runtime
// detection and namespace argv. Root-free.
import assert from 'node:assert/strict';
import {
  chownSync,
  mkdirSync,
  mkdtempSync,
  readFileSync,
  rmSync,
  symlinkSync,
  writeFileSync,
  statSync,
} from 'node:fs';
import { spawnSync } from 'node:child_process';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { after, describe, it } from 'node:test';
import {
  apparmorProfile,
  capabilitiesRemoveSet,
  capabilitiesRetainSet,
  cpuShares,
  noNewPrivileges,
  oomScoreAdj,
  resourceIsolator,
  seccompRemoveSet,
  seccompRetainSet,
  selinuxContext,
  sysctl,
} from '../../../src/appc/isolators.js';
import type { App, Port, RuntimeApp } from '../../../src/appc/types.js';
import { DEFAULT_CAPABILITIES } from '../../../src/appc/values.js';
import { RocketError } from '../../../src/errors.js';
import {
  createNamespacesArgv,
  createNamespacesCommand,
  podNamespaceFiles,
  removeNamespacesArgv,
} from '../../../src/stage1/oci/namespaces.js';
import {
  cgroupLayoutFrom,
  detectRuntime,
  runArgv,
  killArgv,
  deleteArgv,
  makeRuntime,
  runtimeMayKnow,
  stateDirCandidates,
} from '../../../src/stage1/oci/runtime.js';
import {
  ERRNO,
  MINIMAL_WHITELIST,
  ociSeccomp,
  rktDefaultWhitelist,
} from '../../../src/stage1/oci/seccomp.js';
import {
  kernelHasRecursiveReadOnly,
  ALL_CAPABILITIES,
  APPC_DEFAULT_PATH,
  hostBoundingSet,
  ociConfigForApp,
  type OciAppInput,
} from '../../../src/stage1/oci/spec.js';
import { resolveAppUser, resolveInRoot } from '../../../src/stage1/oci/user.js';
import {
  MAX_LISTEN_FDS,
  NOTIFY_ANNOTATION,
  listenAssignment,
  supportsNotify,
} from '../../../src/stage1/oci/systemd.js';

const baseApp: App = { exec: ['/bin/app', '--flag'], user: '0', group: '0' };

function input(app: Partial<App> = {}, more: Partial<OciAppInput> = {}): OciAppInput {
  return {
    app: { ...baseApp, ...app },
    appName: 'web',
    rootfs: '/pods/p/stage1/rootfs/opt/stage2/web/rootfs',
    namespaces: { network: '/pods/p/ns-net', ipc: '/pods/p/ns-ipc', uts: '/pods/p/ns-uts' },
    user: { uid: 0, gid: 0 },
    hostCapabilities: ALL_CAPABILITIES,
    ...more,
  };
}

const config = (app: Partial<App> = {}, more: Partial<OciAppInput> = {}) =>
  ociConfigForApp(input(app, more)).config;

describe('ociConfigForApp: process', () => {
  it('takes args from exec, cwd defaults to /, terminal off', () => {
    const c = config();
    assert.deepEqual(c.process.args, ['/bin/app', '--flag']);
    assert.equal(c.process.cwd, '/');
    assert.equal(c.process.terminal, false);
    assert.equal(config({ workingDirectory: '/srv' }).process.cwd, '/srv');
    assert.equal(config({}, { terminal: true }).process.terminal, true);
  });

  it('refuses an app without exec or with a relative working directory', () => {
    assert.throws(() => config({ exec: [] }), /app "web": exec is required/);
    assert.throws(() => config({ workingDirectory: 'srv' }), /workingDirectory must be absolute/);
  });

  it("sets appc's PATH, AC_APP_NAME and executor variables", () => {
    const env = config({}, { executorEnv: { container: 'rocket', AC_METADATA_URL: 'http://m/x' } }).process
      .env;
    assert.deepEqual(env, [
      `PATH=${APPC_DEFAULT_PATH}`,
      'AC_APP_NAME=web',
      'container=rocket',
      'AC_METADATA_URL=http://m/x',
    ]);
  });

  it("lets the app's PATH win over the default, and executor variables win over the app's", () => {
    const env = config(
      {
        environment: [
          { name: 'PATH', value: '/opt/bin' },
          { name: 'AC_APP_NAME', value: 'spoof' },
          { name: 'FOO', value: 'a=b' },
        ],
      },
      { executorEnv: { container: 'rocket' } },
    ).process.env;
    assert.ok(env.includes('PATH=/opt/bin'));
    assert.ok(env.includes('AC_APP_NAME=web'));
    assert.ok(env.includes('FOO=a=b'));
    assert.equal(env.filter((e) => e.startsWith('PATH=')).length, 1);
  });

  it('sets the user and merges supplementary gids', () => {
    const c = config(
      { supplementaryGIDs: [10, 20] },
      { user: { uid: 1000, gid: 100, additionalGids: [20, 30] } },
    );
    assert.deepEqual(c.process.user, { uid: 1000, gid: 100, additionalGids: [10, 20, 30] });
    assert.equal(config().process.user.additionalGids, undefined);
  });

  it('root rootfs, read-only when asked; hostname with a new or a joined UTS namespace', () => {
    assert.deepEqual(config({}, { readOnlyRootfs: true }).root, { path: input().rootfs, readonly: true });
    assert.equal(config().hostname, undefined);
    assert.equal(config({}, { hostname: 'h' }).hostname, 'h', 'joined: the runtime sets it');
    assert.equal(config({}, { hostname: 'h', namespaces: {} }).hostname, 'h');
    assert.equal(config({}, { hostname: 'h', namespaces: { uts: 'host' } }).hostname, undefined);
  });
});

describe('ociConfigForApp: capabilities', () => {
  const ordered = (caps: readonly string[]) => ALL_CAPABILITIES.filter((c) => caps.includes(c));

  it("uses rkt's 14 default capabilities, effective for root", () => {
    const caps = config().process.capabilities;
    assert.equal(caps.bounding.length, 14);
    assert.deepEqual(caps.bounding, ordered(DEFAULT_CAPABILITIES));
    assert.deepEqual(caps.effective, caps.bounding);
    assert.deepEqual(caps.permitted, caps.bounding);
    assert.deepEqual(caps.inheritable, []);
    assert.deepEqual(caps.ambient, []);
  });

  it('gives a non-root app the bounding set only', () => {
    const caps = config({}, { user: { uid: 1000, gid: 1000 } }).process.capabilities;
    assert.equal(caps.bounding.length, 14);
    assert.deepEqual(caps.effective, []);
    assert.deepEqual(caps.permitted, []);
  });

  it('retains exactly the union of retain sets', () => {
    const caps = config({
      isolators: [
        capabilitiesRetainSet(['CAP_NET_ADMIN']),
        capabilitiesRetainSet(['CAP_KILL', 'CAP_NET_ADMIN']),
      ],
    }).process.capabilities;
    assert.deepEqual(caps.bounding, ['CAP_KILL', 'CAP_NET_ADMIN']);
  });

  it('removes from the default set; removing a cap outside it is a no-op', () => {
    const caps = config({ isolators: [capabilitiesRemoveSet(['CAP_MKNOD', 'CAP_SYS_ADMIN'])] }).process
      .capabilities;
    assert.equal(caps.bounding.length, 13);
    assert.ok(!caps.bounding.includes('CAP_MKNOD'));
  });

  it('refuses unknown capabilities and retain together with remove', () => {
    assert.throws(
      () => config({ isolators: [capabilitiesRetainSet(['CAP_FLY'])] }),
      /unknown capability "CAP_FLY"/,
    );
    assert.throws(
      () => config({ isolators: [capabilitiesRetainSet(['CAP_KILL']), capabilitiesRemoveSet(['CAP_KILL'])] }),
      RocketError,
    );
  });

  it('gives every capability with insecure capabilities', () => {
    assert.equal(config({}, { insecure: { capabilities: true } }).process.capabilities.bounding.length, 41);
  });

  // Root on some VMs lacks CAP_SYS_RESOURCE in its bounding set: crun's capset would fail.
  const lacking = ALL_CAPABILITIES.filter((c) => c !== 'CAP_SYS_RESOURCE' && c !== 'CAP_MKNOD');

  it("gives no capability outside the host's bounding set", () => {
    const all = config({}, { insecure: { capabilities: true }, hostCapabilities: lacking }).process
      .capabilities;
    assert.deepEqual(all.bounding, lacking);
    assert.deepEqual(all.effective, lacking);
    const def = config({}, { hostCapabilities: lacking }).process.capabilities;
    assert.deepEqual(def.bounding, ordered(DEFAULT_CAPABILITIES.filter((c) => c !== 'CAP_MKNOD')));
  });

  it('refuses a retained capability the host lacks, naming it', () => {
    assert.throws(
      () =>
        config(
          { isolators: [capabilitiesRetainSet(['CAP_KILL', 'CAP_SYS_RESOURCE'])] },
          { hostCapabilities: lacking },
        ),
      (e: unknown) =>
        e instanceof RocketError &&
        e.exitCode === 254 &&
        /^app "web": capability CAP_SYS_RESOURCE not in the host's bounding set/.test(e.message),
    );
    assert.throws(
      () =>
        config(
          { isolators: [capabilitiesRetainSet(['CAP_SYS_RESOURCE', 'CAP_MKNOD'])] },
          { hostCapabilities: lacking },
        ),
      /app "web": capabilities CAP_SYS_RESOURCE, CAP_MKNOD not in the host's bounding set/,
    );
    const kill = config({ isolators: [capabilitiesRetainSet(['CAP_KILL'])] }, { hostCapabilities: lacking });
    assert.deepEqual(kill.process.capabilities.bounding, ['CAP_KILL']);
    // Removing what the host lacks anyway, and insecure capabilities over a retain set, are fine.
    const removed = config(
      { isolators: [capabilitiesRemoveSet(['CAP_SYS_RESOURCE'])] },
      { hostCapabilities: lacking },
    );
    assert.ok(!removed.process.capabilities.bounding.includes('CAP_SYS_RESOURCE'));
    const insecure = config(
      { isolators: [capabilitiesRetainSet(['CAP_SYS_RESOURCE'])] },
      { hostCapabilities: lacking, insecure: { capabilities: true } },
    );
    assert.deepEqual(insecure.process.capabilities.bounding, lacking);
  });

  it("reads the host's bounding set from CapBnd", () => {
    assert.deepEqual(hostBoundingSet('Name:\tx\nCapBnd:\t0000000000000003\n'), [
      'CAP_CHOWN',
      'CAP_DAC_OVERRIDE',
    ]);
    // 41 bits, less bit 24 (CAP_SYS_RESOURCE).
    const bits = ((1n << 41n) - 1n) & ~(1n << 24n);
    assert.deepEqual(
      hostBoundingSet(`CapBnd:\t${bits.toString(16).padStart(16, '0')}\n`),
      ALL_CAPABILITIES.filter((c) => c !== 'CAP_SYS_RESOURCE'),
    );
    assert.ok(hostBoundingSet().length > 0);
  });
});

describe('ociConfigForApp: resources and other isolators', () => {
  it('maps memory and cpu limits, cpu shares and oom score', () => {
    const c = config({
      isolators: [
        resourceIsolator('resource/memory', { limit: '16Mi' }),
        resourceIsolator('resource/cpu', { limit: '500m' }),
        cpuShares(512),
        oomScoreAdj(-100),
      ],
    });
    assert.deepEqual(c.linux.resources.memory, { limit: 16 * 1024 * 1024 });
    assert.deepEqual(c.linux.resources.cpu, { quota: 50_000, period: 100_000, shares: 512 });
    assert.equal(c.process.oomScoreAdj, -100);
    assert.deepEqual(c.linux.resources.devices, [{ allow: false, access: 'rwm' }]);
  });

  it('bounds app limits by pod limits and warns about requests', () => {
    const r = ociConfigForApp(
      input(
        { isolators: [resourceIsolator('resource/memory', { request: '1Mi', limit: '64Mi' })] },
        {
          podIsolators: [
            resourceIsolator('resource/memory', { limit: '32Mi' }),
            resourceIsolator('resource/cpu', { limit: '2' }),
          ],
        },
      ),
    );
    assert.equal(r.config.linux.resources.memory?.limit, 32 * 1024 * 1024);
    assert.equal(r.config.linux.resources.cpu?.quota, 200_000);
    assert.deepEqual(r.warnings, [
      'app "web": resource/memory request 1Mi is not reserved; the limit 64Mi is enforced',
    ]);
  });

  it("says nothing about a request equal to its limit (rkt's --memory and --cpu set both)", () => {
    const r = ociConfigForApp(
      input({
        isolators: [
          resourceIsolator('resource/memory', { request: '64Mi', limit: '64Mi' }),
          resourceIsolator('resource/cpu', { request: '500m', limit: '0.5' }),
        ],
      }),
    );
    assert.deepEqual(r.warnings, []);
    assert.equal(r.config.linux.resources.memory?.limit, 64 * 1024 * 1024);
    const onlyRequest = ociConfigForApp(
      input({ isolators: [resourceIsolator('resource/cpu', { request: '1' })] }),
    );
    assert.deepEqual(onlyRequest.warnings, [
      'app "web": resource/cpu request 1 is not reserved and there is no limit',
    ]);
  });

  it('sets no-new-privileges; forces it for non-root apps under seccomp, as rkt does', () => {
    assert.equal(config().process.noNewPrivileges, false);
    assert.equal(config({ isolators: [noNewPrivileges(true)] }).process.noNewPrivileges, true);
    assert.equal(config({}, { user: { uid: 5, gid: 5 } }).process.noNewPrivileges, true);
    assert.equal(
      config({}, { user: { uid: 5, gid: 5 }, insecure: { seccomp: true } }).process.noNewPrivileges,
      false,
    );
  });

  it('applies namespaced pod sysctls and refuses the others', () => {
    const c = config({}, { podIsolators: [sysctl({ 'net.ipv4.ip_forward': '1', 'kernel.shmmax': '1000' })] });
    assert.deepEqual(c.linux.sysctl, { 'net.ipv4.ip_forward': '1', 'kernel.shmmax': '1000' });
    assert.throws(
      () => config({}, { podIsolators: [sysctl({ 'vm.swappiness': '1' })] }),
      /vm.swappiness is not namespaced/,
    );
    assert.throws(
      () =>
        config(
          {},
          { podIsolators: [sysctl({ 'net.core.somaxconn': '1' })], namespaces: { network: 'host' } },
        ),
      /needs the pod's own network namespace/,
    );
  });

  for (const [label, iso, pattern] of [
    [
      'network-bandwidth',
      resourceIsolator('resource/network-bandwidth', { limit: '1M' }),
      /network-bandwidth is not supported/,
    ],
    [
      'block-bandwidth',
      resourceIsolator('resource/block-bandwidth', { limit: '1M' }),
      /block-bandwidth needs a block device/,
    ],
    [
      'block-iops',
      resourceIsolator('resource/block-iops', { limit: '100' }),
      /block-iops needs a block device/,
    ],
    ['selinux', selinuxContext({ user: 'u', role: 'r', type: 't', level: 's0' }), /needs SELinux/],
    ['apparmor', apparmorProfile('p'), /needs AppArmor/],
  ] as const) {
    it(`refuses ${label}, or warns with ignoreUnsupported`, () => {
      assert.throws(
        () => config({ isolators: [iso] }),
        (err: unknown) =>
          err instanceof RocketError && pattern.test(err.message) && /app "web"/.test(err.message),
      );
      const r = ociConfigForApp(input({ isolators: [iso] }, { ignoreUnsupported: true }));
      assert.equal(r.warnings.length, 1);
      assert.match(r.warnings[0] as string, pattern);
    });
  }

  it('maps selinux and apparmor when the host has them', () => {
    const c = config(
      {
        isolators: [
          selinuxContext({ user: 'u', role: 'r', type: 't', level: 's0:c1,c2' }),
          apparmorProfile('prof'),
        ],
      },
      { host: { selinux: true, apparmor: true } },
    );
    assert.equal(c.process.selinuxLabel, 'u:r:t:s0:c1,c2');
    assert.equal(c.process.apparmorProfile, 'prof');
  });

  it('warns about unknown isolators', () => {
    const r = ociConfigForApp(input({ isolators: [{ name: 'example.com/x', value: {} }] }));
    assert.match(r.warnings.join(), /unknown isolator example.com\/x ignored/);
  });
});

describe('ociConfigForApp: namespaces, mounts, paths', () => {
  it('joins the pod namespaces by path with its own mount and pid namespaces', () => {
    assert.deepEqual(config().linux.namespaces, [
      { type: 'pid' },
      { type: 'network', path: '/pods/p/ns-net' },
      { type: 'ipc', path: '/pods/p/ns-ipc' },
      { type: 'uts', path: '/pods/p/ns-uts' },
      { type: 'mount' },
    ]);
  });

  it("shares the host's network and binds /sys then", () => {
    const c = config({}, { namespaces: { network: 'host', ipc: 'new', uts: 'new' } });
    assert.deepEqual(c.linux.namespaces, [
      { type: 'pid' },
      { type: 'ipc' },
      { type: 'uts' },
      { type: 'mount' },
    ]);
    assert.equal(c.mounts.find((m) => m.destination === '/sys')?.type, 'bind');
    assert.equal(config().mounts.find((m) => m.destination === '/sys')?.type, 'sysfs');
  });

  it('refuses a relative namespace path', () => {
    assert.throws(() => config({}, { namespaces: { network: 'ns/net' } }), /must be absolute/);
  });

  it('mounts /proc, /dev, /dev/pts, /dev/shm, /dev/mqueue, /sys and the volumes', () => {
    const c = config(
      {},
      {
        mounts: [
          { kind: 'bind', source: '/pods/p/vol/data', destination: '/data', readOnly: true, recursive: true },
          { kind: 'bind', source: '/host/etc', destination: '/etc/x' },
          { kind: 'tmpfs', source: '', destination: '/scratch' },
        ],
      },
    );
    assert.deepEqual(
      c.mounts.map((m) => m.destination),
      ['/proc', '/dev', '/dev/pts', '/dev/shm', '/dev/mqueue', '/sys', '/data', '/etc/x', '/scratch'],
    );
    // Recursive and read-only: every submount too (`rro`, mount_setattr; this host has it).
    assert.ok(kernelHasRecursiveReadOnly(), 'the test host has mount_setattr');
    assert.deepEqual(c.mounts[6], {
      destination: '/data',
      type: 'bind',
      source: '/pods/p/vol/data',
      options: ['rbind', 'ro', 'rro'],
    });
    assert.deepEqual(c.mounts[7]?.options, ['bind']);
    assert.equal(c.mounts[8]?.type, 'tmpfs');
  });

  it('knows which kernels have mount_setattr for recursive read-only (rro)', () => {
    for (const r of ['5.12.0', '5.15.0-91-generic', '6.1.0-18-amd64', '6.18.44-fc-v1252', '10.0.0'])
      assert.equal(kernelHasRecursiveReadOnly(r), true, r);
    for (const r of ['5.11.22', '4.19.0-26-amd64', '3.10.0-1160.el7.x86_64', 'weird'])
      assert.equal(kernelHasRecursiveReadOnly(r), false, r);
  });

  it("masks rkt's kernel paths unless insecure paths", () => {
    const c = config();
    assert.ok(c.linux.maskedPaths?.includes('/proc/kcore'));
    assert.ok(c.linux.readonlyPaths?.includes('/proc/sys'));
    const open = config({}, { insecure: { paths: true } });
    assert.equal(open.linux.maskedPaths, undefined);
    assert.equal(open.linux.readonlyPaths, undefined);
  });
});

/**
 * Docker's 2016 default block-list, which rkt calls @docker/default-blacklist and
 * @rkt/default-blacklist: written out here, not taken from the source, so that a change to the
 * source's table fails a test.
 */
const DOCKER_2016_BLACKLIST = [
  'acct',
  'add_key',
  'adjtimex',
  'bpf',
  'clock_adjtime',
  'clock_settime',
  'create_module',
  'delete_module',
  'finit_module',
  'get_kernel_syms',
  'get_mempolicy',
  'init_module',
  'ioperm',
  'iopl',
  'kcmp',
  'kexec_file_load',
  'kexec_load',
  'keyctl',
  'lookup_dcookie',
  'mbind',
  'mount',
  'move_pages',
  'name_to_handle_at',
  'nfsservctl',
  'open_by_handle_at',
  'perf_event_open',
  'pivot_root',
  'process_vm_readv',
  'process_vm_writev',
  'ptrace',
  'query_module',
  'quotactl',
  'reboot',
  'request_key',
  'set_mempolicy',
  'setns',
  'settimeofday',
  'stime',
  'swapon',
  'swapoff',
  'sysfs',
  '_sysctl',
  'umount',
  'umount2',
  'unshare',
  'uselib',
  'userfaultfd',
  'ustat',
  'vm86',
  'vm86old',
];

/** What every allow-list must let through for an app to start, run and exit. */
const ESSENTIAL = [
  'read',
  'write',
  'openat',
  'close',
  'mmap',
  'brk',
  'futex',
  'clone',
  'clone3',
  'rseq',
  'statx',
  'execve',
  'exit',
  'exit_group',
  'rt_sigreturn',
  'rt_sigaction',
  'wait4',
  'getpid',
];

describe('seccomp', () => {
  it("applies rkt's default whitelist when no isolator is given, killing on others", () => {
    const s = config({}, { arch: 'x64' }).linux.seccomp;
    assert.equal(s?.defaultAction, 'SCMP_ACT_KILL_PROCESS');
    assert.deepEqual(s?.architectures, ['SCMP_ARCH_X86_64', 'SCMP_ARCH_X86', 'SCMP_ARCH_X32']);
    const names = s?.syscalls[0]?.names ?? [];
    assert.equal(s?.syscalls[0]?.action, 'SCMP_ACT_ALLOW');
    for (const n of ESSENTIAL) assert.ok(names.includes(n), n);
    for (const n of DOCKER_2016_BLACKLIST) assert.ok(!names.includes(n), `${n} is allowed`);
    // rkt's 2016 whitelist (309 names on x86_64) and the 37 syscalls added since that docker allows.
    assert.equal(names.length, 346);
    assert.equal(new Set(names).size, names.length, 'no name twice');
  });

  it('retain set: allow-list plus the minimum, with errno', () => {
    const s = config({ isolators: [seccompRetainSet(['read', 'write'], 'ENOSYS')] }).linux.seccomp;
    assert.equal(s?.defaultAction, 'SCMP_ACT_ERRNO');
    assert.equal(s?.defaultErrnoRet, 38);
    assert.deepEqual(s?.syscalls[0]?.names, [...new Set(['read', 'write', ...MINIMAL_WHITELIST])].sort());
  });

  it('retain @appc.io/all turns filtering off', () => {
    assert.equal(config({ isolators: [seccompRetainSet(['@appc.io/all'])] }).linux.seccomp, undefined);
  });

  it('remove set: block-list with errno or kill', () => {
    const s = config({ isolators: [seccompRemoveSet(['socket', 'mount'], 'EPERM')] }).linux.seccomp;
    assert.equal(s?.defaultAction, 'SCMP_ACT_ALLOW');
    assert.deepEqual(s?.syscalls, [{ names: ['mount', 'socket'], action: 'SCMP_ACT_ERRNO', errnoRet: 1 }]);
    const k = config({ isolators: [seccompRemoveSet(['@rkt/default-blacklist'])] }).linux.seccomp;
    assert.equal(k?.syscalls[0]?.action, 'SCMP_ACT_KILL_PROCESS');
    assert.deepEqual(k?.syscalls[0]?.names, [...DOCKER_2016_BLACKLIST].sort());
  });

  it("remove @appc.io/empty means rkt's default whitelist", () => {
    const s = config({ isolators: [seccompRemoveSet(['@appc.io/empty'], 'EACCES')] }, { arch: 'x64' }).linux
      .seccomp;
    assert.equal(s?.defaultErrnoRet, ERRNO['EACCES']);
    assert.deepEqual(s?.syscalls[0]?.names, config({}, { arch: 'x64' }).linux.seccomp?.syscalls[0]?.names);
    assert.equal(s?.syscalls[0]?.names.length, 346);
  });

  it('refuses unknown groups and errno names; insecure seccomp drops the filter', () => {
    assert.throws(
      () => ociSeccomp({ mode: 'retain', set: ['@rkt/nope'] }, 'app "web"'),
      /unknown seccomp group/,
    );
    assert.throws(
      () => ociSeccomp({ mode: 'remove', set: ['x'], errno: 'ENOPE' }, 'app "web"'),
      /unknown errno "ENOPE"/,
    );
    assert.equal(config({}, { insecure: { seccomp: true } }).linux.seccomp, undefined);
  });

  it('adds the arm additions to the default whitelist on arm64', () => {
    const arm = [
      'arm_fadvise64_64',
      'arm_sync_file_range',
      'breakpoint',
      'cacheflush',
      'set_tls',
      'sync_file_range2',
    ];
    const x64 = new Set(rktDefaultWhitelist('x64'));
    const arm64 = new Set(rktDefaultWhitelist('arm64'));
    assert.deepEqual([...arm64].filter((n) => !x64.has(n)).sort(), arm);
    assert.deepEqual(
      [...x64].filter((n) => !arm64.has(n)),
      [],
    );
  });
});

describe('resolveAppUser', () => {
  const root = mkdtempSync(path.join(tmpdir(), 'rocket-user-'));
  after(() => rmSync(root, { recursive: true, force: true }));
  mkdirSync(path.join(root, 'etc'));
  mkdirSync(path.join(root, 'usr/bin'), { recursive: true });
  writeFileSync(
    path.join(root, 'etc/passwd'),
    '# comment\nroot:x:0:0:root:/root:/bin/sh\nweb:x:1000:1000::/:/bin/sh\n42:x:4242:4242::/:/bin/sh\n',
  );
  writeFileSync(path.join(root, 'etc/group'), 'root:x:0:\nweb:x:1001:\n7:x:7007:\n');
  writeFileSync(path.join(root, 'usr/bin/ping'), '');
  const canChown = process.getuid?.() === 0;
  if (canChown) chownSync(path.join(root, 'usr/bin/ping'), 321, 654);
  const pingStat = statSync(path.join(root, 'usr/bin/ping'));
  symlinkSync('/usr/bin/ping', path.join(root, 'usr/bin/ping-link'));
  symlinkSync('../../../../../../etc/shadow', path.join(root, 'escape'));

  it('resolves names from the image, names made of digits first', () => {
    assert.deepEqual(resolveAppUser(root, { user: 'web', group: 'web' }, 'a'), {
      uid: 1000,
      gid: 1001,
      additionalGids: [],
    });
    assert.deepEqual(resolveAppUser(root, { user: '42', group: '7', supplementaryGIDs: [5, 5, 6] }, 'a'), {
      uid: 4242,
      gid: 7007,
      additionalGids: [5, 6],
    });
  });

  it('falls back to numbers', () => {
    assert.deepEqual(resolveAppUser(root, { user: '99', group: '98' }, 'a'), {
      uid: 99,
      gid: 98,
      additionalGids: [],
    });
  });

  it("uses a path's owner inside the rootfs, following symlinks inside it", () => {
    const r = resolveAppUser(root, { user: '/usr/bin/ping-link', group: '/usr/bin/ping' }, 'a');
    assert.equal(r.uid, pingStat.uid);
    assert.equal(r.gid, pingStat.gid);
  });

  it('never leaves the rootfs', () => {
    assert.equal(resolveInRoot(root, '/escape'), path.join(root, 'etc/shadow'));
    assert.equal(resolveInRoot(root, '/../../etc/passwd'), path.join(root, 'etc/passwd'));
    assert.throws(() => resolveAppUser(root, { user: '/escape', group: '0' }, 'a'), /cannot stat/);
  });

  it('names the app and field in errors', () => {
    assert.throws(
      () => resolveAppUser(root, { user: 'nobody', group: '0' }, 'web'),
      /app "web": user "nobody": no such user/,
    );
    assert.throws(
      () => resolveAppUser(root, { user: '0', group: 'wheel' }, 'web'),
      /app "web": group "wheel": no such group/,
    );
    assert.throws(
      () => resolveAppUser(root, { user: '/nope', group: '0' }, 'web'),
      /app "web": user "\/nope": cannot stat/,
    );
  });
});

describe('runtime detection', () => {
  const hybridMounts = [
    '30 25 0:26 / /sys/fs/cgroup/memory rw,relatime shared:9 - cgroup cgroup rw,memory',
    '31 25 0:27 / /sys/fs/cgroup/unified rw,relatime shared:10 - cgroup2 cgroup2 rw',
  ].join('\n');

  it('tells v1, v2 and hybrid apart', () => {
    assert.equal(cgroupLayoutFrom(hybridMounts, () => 'hugetlb\n').mode, 'hybrid');
    assert.equal(cgroupLayoutFrom(hybridMounts, () => '\n').mode, 'v1');
    assert.equal(
      cgroupLayoutFrom('31 25 0:27 / /sys/fs/cgroup rw - cgroup2 cgroup2 rw', () => 'cpu memory').mode,
      'v2',
    );
  });

  it('wraps crun on hybrid hosts and says so', () => {
    const rt = detectRuntime({
      which: (n) => `/usr/bin/${n}`,
      cgroups: () => cgroupLayoutFrom(hybridMounts, () => 'hugetlb'),
      stateRoot: '/run/rocket/oci',
    });
    assert.equal(rt.name, 'crun');
    assert.ok(rt.hybridWrapper);
    assert.match(rt.describe(), /crun .*mount namespace of its own.*hugetlb/);
    const argv = runArgv(rt, { bundle: '/b', id: 'x' });
    // The host's propagation kept (CRI mount propagation), the tmpfs kept from the host.
    assert.deepEqual(argv.slice(1, 6), ['-m', '--propagation', 'unchanged', '/bin/sh', '-c']);
    // The cgroup2 mount is shared with the host: the tmpfs goes on it only once it is private here
    // (a mount propagates by its parent mount, the cgroup2 mount itself).
    assert.match(
      argv[6] as string,
      /^\{ mount --make-private \/sys\/fs\/cgroup\/unified \|\| mount --make-rslave \/; \} 2>\/dev\/null; mount -t tmpfs tmpfs \/sys\/fs\/cgroup\/unified 2>\/dev\/null; exec "\$0" "\$@"$/,
    );
    assert.deepEqual(argv.slice(7), [
      '/usr/bin/crun',
      '--root',
      '/run/rocket/oci',
      'run',
      '--bundle',
      '/b',
      'x',
    ]);
  });

  it('leaves out the make-private when the cgroup2 mount is not shared with the host', () => {
    const privateMounts = hybridMounts.replace(/ shared:\d+/g, '');
    assert.equal(cgroupLayoutFrom(hybridMounts, () => 'hugetlb').unifiedShared, true);
    assert.equal(cgroupLayoutFrom(privateMounts, () => 'hugetlb').unifiedShared, false);
    const slave = privateMounts.replace('rw,relatime -', 'rw,relatime master:3 -');
    assert.equal(cgroupLayoutFrom(slave, () => 'hugetlb').unifiedShared, false);
    const rt = detectRuntime({
      which: (n) => `/usr/bin/${n}`,
      cgroups: () => cgroupLayoutFrom(privateMounts, () => 'hugetlb'),
    });
    const argv = runArgv(rt, { bundle: '/b', id: 'x' });
    assert.equal(argv[6], 'mount -t tmpfs tmpfs /sys/fs/cgroup/unified 2>/dev/null; exec "$0" "$@"');
    // Unknown (a layout given without it): assumed shared.
    const unknown = detectRuntime({
      which: (n) => `/usr/bin/${n}`,
      cgroups: () => ({
        mode: 'hybrid',
        unifiedPath: '/sys/fs/cgroup/unified',
        unifiedControllers: ['hugetlb'],
      }),
    });
    assert.match(runArgv(unknown, { bundle: '/b', id: 'x' })[6] as string, /^\{ mount --make-private /);
  });

  it('with a busybox, wraps crun in its unshare, sh and mount, the namespace private', () => {
    // A shared cgroup2 mount needs no make-private: the whole namespace is private.
    for (const mounts of [hybridMounts, hybridMounts.replace(/ shared:\d+/g, '')]) {
      const rt = detectRuntime({
        which: (n) => `/usr/bin/${n}`,
        cgroups: () => cgroupLayoutFrom(mounts, () => 'hugetlb'),
        busybox: '/opt/bb/busybox',
      });
      assert.deepEqual(runArgv(rt, { bundle: '/b', id: 'x' }), [
        '/opt/bb/busybox',
        'unshare',
        '-m',
        '--propagation',
        'private',
        '/opt/bb/busybox',
        'sh',
        '-c',
        'mount -t tmpfs tmpfs /sys/fs/cgroup/unified 2>/dev/null; exec "$0" "$@"',
        '/usr/bin/crun',
        'run',
        '--bundle',
        '/b',
        'x',
      ]);
    }
    // No wrapper (cgroup v2, or runc): the busybox changes nothing.
    const v2 = detectRuntime({
      which: (n) => `/usr/bin/${n}`,
      cgroups: () => ({ mode: 'v2', unifiedControllers: [] }),
      busybox: '/opt/bb/busybox',
    });
    assert.deepEqual(v2.prefix, ['/usr/bin/crun']);
  });

  it('falls back to runc and honours --engine-runtime', () => {
    const layout = () => cgroupLayoutFrom(hybridMounts, () => 'hugetlb');
    const runc = detectRuntime({
      which: (n) => (n === 'runc' ? '/usr/sbin/runc' : undefined),
      cgroups: layout,
    });
    assert.equal(runc.name, 'runc');
    assert.equal(runc.describe(), 'runc (/usr/sbin/runc)');
    assert.deepEqual(killArgv(runc, 'x', 'KILL', true), ['/usr/sbin/runc', 'kill', '--all', 'x', 'KILL']);
    assert.deepEqual(deleteArgv(runc, 'x', true), ['/usr/sbin/runc', 'delete', '--force', 'x']);
    const forced = detectRuntime({ runtime: 'runc', which: (n) => `/x/${n}`, cgroups: layout });
    assert.equal(forced.name, 'runc');
    assert.throws(
      () => detectRuntime({ runtime: 'crun', which: () => undefined, cgroups: layout }),
      /crun is not installed/,
    );
    assert.throws(() => detectRuntime({ which: () => undefined, cgroups: layout }), /install crun or runc/);
  });
});

describe('runtime state dirs', () => {
  const v2 = { mode: 'v2' as const, unifiedPath: '/sys/fs/cgroup', unifiedControllers: [] };

  it('looks in --root when given, else in /run/<runtime> and $XDG_RUNTIME_DIR/<runtime>', () => {
    assert.deepEqual(stateDirCandidates(makeRuntime('crun', '/usr/bin/crun', v2, '/run/r'), 'p-1'), [
      '/run/r/p-1',
    ]);
    const crun = makeRuntime('crun', '/usr/bin/crun', v2);
    assert.deepEqual(stateDirCandidates(crun, 'p-1', {}), ['/run/crun/p-1']);
    assert.deepEqual(stateDirCandidates(crun, 'p-1', { XDG_RUNTIME_DIR: '/run/user/0' }), [
      '/run/crun/p-1',
      '/run/user/0/crun/p-1',
    ]);
    const runc = makeRuntime('runc', '/usr/sbin/runc', v2);
    assert.deepEqual(stateDirCandidates(runc, 'x', {}), ['/run/runc/x']);
  });

  it('says a container is unknown only when no state dir exists', () => {
    const rt = makeRuntime('crun', '/usr/bin/crun', v2, '/run/r');
    assert.equal(
      runtimeMayKnow(rt, 'gone', () => false),
      false,
    );
    assert.equal(
      runtimeMayKnow(rt, 'here', (p) => p === '/run/r/here'),
      true,
    );
    // An id that is not a plain name is left to the runtime to judge.
    assert.equal(
      runtimeMayKnow(rt, '../x', () => false),
      true,
    );
  });
});

describe('pod namespace argv', () => {
  it('creates net, ipc and uts files, or skips net with the host network', () => {
    const files = podNamespaceFiles('/pods/p');
    const argv = createNamespacesArgv(files, 'h');
    assert.deepEqual(argv.slice(4), ['h', '/pods/p/ns-net', '/pods/p/ns-ipc', '/pods/p/ns-uts']);
    assert.match(
      argv[2] as string,
      /unshare --net=\/pods\/p\/ns-net --ipc=\/pods\/p\/ns-ipc --uts=\/pods\/p\/ns-uts/,
    );
    assert.match(argv[2] as string, /ip link set lo up/);
    const host = createNamespacesArgv(podNamespaceFiles('/pods/p', { hostNetwork: true }), 'h');
    assert.doesNotMatch(host[2] as string, /--net=|ip link/);
    assert.deepEqual(removeNamespacesArgv(files).slice(4), [
      '/pods/p/ns-net',
      '/pods/p/ns-ipc',
      '/pods/p/ns-uts',
    ]);
  });
});

/** A stand-in unshare in DIR/bin that records its arguments, one a line, in DIR/args; returns DIR/bin. */
function standInUnshare(dir: string): string {
  const bin = path.join(dir, 'bin');
  mkdirSync(bin);
  writeFileSync(
    path.join(bin, 'unshare'),
    `#!/bin/sh\nfor a; do printf '%s\\n' "$a"; done >${path.join(dir, 'args')}\n`,
    { mode: 0o755 },
  );
  return bin;
}

describe('pod namespace command (the supervisor evals it)', () => {
  it('makes the files in its own shell, then runs unshare once with the hostname quoted', () => {
    const dir = mkdtempSync(path.join(tmpdir(), 'rocket-nscmd-'));
    try {
      const bin = standInUnshare(dir);
      const files = { ipc: path.join(dir, 'ns-ipc'), uts: path.join(dir, 'ns-uts') };
      const cmd = createNamespacesCommand(files, "it's");
      const r = spawnSync('sh', ['-c', 'eval "$1"', 'sh', cmd], {
        encoding: 'utf8',
        env: { PATH: `${bin}:/usr/bin:/bin` },
      });
      assert.equal(r.status, 0, r.stderr);
      assert.ok(statSync(files.ipc).isFile() && statSync(files.uts).isFile());
      const args = readFileSync(path.join(dir, 'args'), 'utf8').split('\n');
      assert.deepEqual(args.slice(0, 4), [`--ipc=${files.ipc}`, `--uts=${files.uts}`, 'sh', '-c']);
      assert.equal(args[5], "it's");
      // A file that cannot be made fails the command before unshare, and the shell goes on.
      const bad = createNamespacesCommand({ ipc: path.join(dir, 'no', 'ns-ipc'), uts: files.uts }, 'h');
      const r2 = spawnSync('sh', ['-c', 'eval "$1" || echo failed', 'sh', bad], { encoding: 'utf8' });
      assert.equal(r2.stdout, 'failed\n');
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('without a hostname (the runtime sets it), unshare execs ip or true: no inner sh', () => {
    const dir = mkdtempSync(path.join(tmpdir(), 'rocket-nscmd-'));
    try {
      const bin = standInUnshare(dir);
      const files = podNamespaceFiles(dir);
      const args = (cmd: string): string[] => {
        const r = spawnSync('sh', ['-c', 'eval "$1"', 'sh', cmd], {
          encoding: 'utf8',
          env: { PATH: `${bin}:/usr/bin:/bin` },
        });
        assert.equal(r.status, 0, r.stderr);
        return readFileSync(path.join(dir, 'args'), 'utf8').split('\n').slice(0, -1);
      };
      assert.deepEqual(args(createNamespacesCommand(files, undefined)), [
        `--net=${files.network}`,
        `--ipc=${files.ipc}`,
        `--uts=${files.uts}`,
        'ip',
        'link',
        'set',
        'lo',
        'up',
      ]);
      assert.ok(statSync(files.network as string).isFile());
      const noNet = { ipc: files.ipc, uts: files.uts };
      assert.deepEqual(args(createNamespacesCommand(noNet, undefined)), [
        `--ipc=${files.ipc}`,
        `--uts=${files.uts}`,
        'true',
      ]);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('with a busybox, runs its unshare and its ip or sh', () => {
    const dir = mkdtempSync(path.join(tmpdir(), 'rocket-nscmd-'));
    try {
      // The stand-in busybox: its first argument is the applet, the rest recorded.
      const bin = path.join(dir, 'bin');
      mkdirSync(bin);
      const bb = path.join(bin, 'busybox');
      writeFileSync(bb, `#!/bin/sh\nfor a; do printf '%s\\n' "$a"; done >${path.join(dir, 'args')}\n`, {
        mode: 0o755,
      });
      const files = podNamespaceFiles(dir);
      const args = (cmd: string): string[] => {
        const r = spawnSync('sh', ['-c', 'eval "$1"', 'sh', cmd], {
          encoding: 'utf8',
          env: { PATH: '/usr/bin:/bin' },
        });
        assert.equal(r.status, 0, r.stderr);
        return readFileSync(path.join(dir, 'args'), 'utf8').split('\n').slice(0, -1);
      };
      // busybox's unshare, then its ip (a pod of rkt run) or its sh (a sandbox, with the hostname).
      const unshare = ['unshare', `--net=${files.network}`, `--ipc=${files.ipc}`, `--uts=${files.uts}`, bb];
      assert.deepEqual(args(createNamespacesCommand(files, undefined, bb)), [
        ...unshare,
        'ip',
        'link',
        'set',
        'lo',
        'up',
      ]);
      const withHost = args(createNamespacesCommand(files, 'h', bb));
      assert.deepEqual(withHost.slice(0, 7), [...unshare, 'sh', '-c']);
      assert.equal(withHost[8], 'h');
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});

describe('stop helpers', () => {
  it('reads RKT_STOP_TIMEOUT as whole seconds and rejects anything else', async () => {
    const { stopTimeoutEnv } = await import('../../../src/stage1/oci/engine.js');
    assert.equal(stopTimeoutEnv({}), undefined);
    assert.equal(stopTimeoutEnv({ RKT_STOP_TIMEOUT: '3' }), 3);
    assert.throws(() => stopTimeoutEnv({ RKT_STOP_TIMEOUT: '1.5' }), /RKT_STOP_TIMEOUT=1\.5/);
    assert.throws(() => stopTimeoutEnv({ RKT_STOP_TIMEOUT: '-1' }), RocketError);
  });

  it('finds no supervisor for a pid file naming another program or nothing', async () => {
    const { supervisorPid } = await import('../../../src/stage1/oci/engine.js');
    const dir = mkdtempSync(path.join(tmpdir(), 'rocket-sup-'));
    try {
      assert.equal(supervisorPid(dir), undefined);
      writeFileSync(path.join(dir, 'pid'), `${process.pid}\n`);
      assert.equal(supervisorPid(dir), undefined, 'node is not a supervisor');
      writeFileSync(path.join(dir, 'pid'), 'junk');
      assert.equal(supervisorPid(dir), undefined);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});

describe('attach endpoints must fit in a unix socket path', () => {
  const app = (name: string, modes: Record<string, string>): RuntimeApp => ({
    name,
    image: { id: 'sha512-00' },
    annotations: Object.entries(modes).map(([s, value]) => ({ name: `coreos.com/rkt/stage2/${s}`, value })),
  });
  const streams = app('app', { stdin: 'stream', stdout: 'stream' });
  it('accepts a pod dir of usual length', async () => {
    const { appIo } = await import('../../../src/stage1/oci/engine.js');
    assert.deepEqual(appIo(streams, `/var/lib/rkt/pods/run/${'0'.repeat(36)}`), {
      tty: false,
      stdin: true,
      stdout: true,
      stderr: false,
    });
  });
  it('refuses, naming the socket, a path over 107 bytes; an app without endpoints passes', async () => {
    const { appIo } = await import('../../../src/stage1/oci/engine.js');
    const R = `/tmp/${'d'.repeat(40)}/pods/run/${'0'.repeat(36)}`;
    assert.throws(
      () => appIo(streams, R),
      (e: unknown) =>
        e instanceof RocketError &&
        /attach\/app\/std(in|out)\.sock is 1\d\d bytes long, over the 107/.test(e.message),
    );
    assert.throws(
      () => appIo(app('app', { stdin: 'tty', stdout: 'tty', stderr: 'tty' }), R),
      /attach\/app\/tty\.sock is 1\d\d bytes long/,
    );
    appIo(app('app', {}), R);
  });
});

describe('socket activation: which app gets which of the fds systemd passed (docs/systemd.md)', () => {
  const port = (name: string, socketActivated: boolean): Port => ({
    name,
    protocol: 'tcp',
    port: 80,
    count: 1,
    socketActivated,
  });
  const app = (...ports: Port[]): App => ({ user: '0', group: '0', ports });
  const PID = 4242;
  const env = (fds: number, extra: NodeJS.ProcessEnv = {}): NodeJS.ProcessEnv => ({
    LISTEN_FDS: String(fds),
    LISTEN_PID: String(PID),
    ...extra,
  });

  it('is nothing without LISTEN_FDS, or when LISTEN_PID is not rkt run', () => {
    const apps = [app(port('a', true))];
    assert.equal(listenAssignment(apps, PID, {}), undefined);
    const warnings: string[] = [];
    assert.equal(
      listenAssignment(apps, PID, env(1, { LISTEN_PID: '1' }), (m) => warnings.push(m)),
      undefined,
    );
    assert.match(warnings[0] ?? '', /LISTEN_PID=1 is not the pid of rkt run \(4242\)/);
  });

  it('is nothing, with a warning, when no app has a socket-activated port', () => {
    const warnings: string[] = [];
    assert.equal(
      listenAssignment([app(port('a', false))], PID, env(1), (m) => warnings.push(m)),
      undefined,
    );
    assert.match(warnings[0] ?? '', /no app has a socket-activated port/);
  });

  it('gives every fd to the one socket-activated app, with their names, and none to the others', () => {
    const a = listenAssignment(
      [app(port('x', false)), app(port('web', true))],
      PID,
      env(2, { LISTEN_FDNAMES: 'http:https' }),
    );
    assert.deepEqual(a, { count: 2, apps: new Map([[1, { first: 0, count: 2, names: ['http', 'https'] }]]) });
  });

  it('with several apps: one fd per socket-activated port, in app then port order', () => {
    const a = listenAssignment(
      [app(port('a1', true), port('a2', true)), app(port('n', false)), app(port('b1', true))],
      PID,
      env(3, { LISTEN_FDNAMES: 'one:two:three' }),
    );
    assert.deepEqual(a, {
      count: 3,
      apps: new Map([
        [0, { first: 0, count: 2, names: ['one', 'two'] }],
        [2, { first: 2, count: 1, names: ['three'] }],
      ]),
    });
    // LISTEN_FDNAMES that does not name every fd is left out.
    const unnamed = listenAssignment(
      [app(port('a', true)), app(port('b', true))],
      PID,
      env(2, { LISTEN_FDNAMES: 'x' }),
    );
    assert.deepEqual(unnamed?.apps.get(1), { first: 1, count: 1 });
  });

  it('refuses counts that do not match several apps, and more fds than the supervisor can keep', () => {
    assert.throws(
      () => listenAssignment([app(port('a', true)), app(port('b', true))], PID, env(3)),
      (e: unknown) => e instanceof RocketError && /the apps have 2 socket-activated ports/.test(e.message),
    );
    assert.throws(
      () => listenAssignment([app(port('a', true))], PID, env(MAX_LISTEN_FDS + 1)),
      (e: unknown) =>
        e instanceof RocketError && /at most 4 socket-activated file descriptors/.test(e.message),
    );
    assert.equal(listenAssignment([app(port('a', true))], PID, env(MAX_LISTEN_FDS))?.count, 4);
  });
});

describe('readiness: which apps say READY=1 themselves (docs/systemd.md)', () => {
  const dir = mkdtempSync(path.join(tmpdir(), 'rocket-notify-'));
  after(() => rmSync(dir, { recursive: true, force: true }));
  const manifest = (name: string, annotations?: { name: string; value: string }[]): string => {
    const file = path.join(dir, name);
    writeFileSync(
      file,
      JSON.stringify({ acKind: 'ImageManifest', acVersion: '0.8.11', name: 'example.com/x', annotations }),
    );
    return file;
  };
  const ra = (annotations?: { name: string; value: string }[]): RuntimeApp => ({
    name: 'x',
    image: { id: 'sha512-00' },
    ...(annotations !== undefined ? { annotations } : {}),
  });

  it("takes the image manifest's annotation, true as rkt's strconv.ParseBool reads it", () => {
    for (const v of ['true', 'True', 't', '1'])
      assert.equal(
        supportsNotify(ra(), manifest(`m-${v}`, [{ name: NOTIFY_ANNOTATION, value: v }])),
        true,
        v,
      );
    for (const v of ['false', '0', 'yes', ''])
      assert.equal(
        supportsNotify(ra(), manifest(`n-${v}`, [{ name: NOTIFY_ANNOTATION, value: v }])),
        false,
        v,
      );
    assert.equal(supportsNotify(ra(), manifest('none')), false);
    assert.equal(supportsNotify(ra(), undefined), false);
    assert.equal(supportsNotify(ra(), path.join(dir, 'missing')), false);
  });

  it("the pod manifest's annotation for the app wins over the image's, either way", () => {
    const yes = manifest('yes', [{ name: NOTIFY_ANNOTATION, value: 'true' }]);
    assert.equal(supportsNotify(ra([{ name: NOTIFY_ANNOTATION, value: 'false' }]), yes), false);
    assert.equal(supportsNotify(ra([{ name: NOTIFY_ANNOTATION, value: 'true' }]), manifest('no')), true);
  });
});
