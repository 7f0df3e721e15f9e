// Isolator vectors from appc/spec schema/types/isolator*_test.go, checked through an app's isolator
// list so the error paths are the real ones.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import {
  AppcError,
  apparmorProfile,
  capabilitiesRemoveSet,
  capabilitiesRetainSet,
  cpuShares,
  decodeIsolator,
  noNewPrivileges,
  oomScoreAdj,
  parseImageManifest,
  parsePodManifest,
  resourceIsolator,
  seccompRemoveSet,
  seccompRetainSet,
  selinuxContext,
  sysctl,
  type Isolator,
  type JsonValue,
} from '../../../src/appc/index.js';

function imageWithIsolators(isolators: JsonValue[]): string {
  return JSON.stringify({
    acKind: 'ImageManifest',
    acVersion: '0.8.11',
    name: 'example.com/app',
    app: { user: '0', group: '0', isolators },
  });
}

function parseIsolators(...isolators: JsonValue[]) {
  return parseImageManifest(imageWithIsolators(isolators));
}

describe('isolator values', () => {
  const cases: [string, JsonValue, boolean][] = [
    ['os/linux/cpu-shares', 2048, true],
    ['os/linux/cpu-shares', 2, true],
    ['os/linux/cpu-shares', 262144, true],
    ['os/linux/cpu-shares', 1, false],
    ['os/linux/cpu-shares', 'pants', false],
    ['os/linux/cpu-shares', '262145', false],
    ['os/linux/cpu-shares', 262145, false],
    ['os/linux/cpu-shares', 2.5, false],
    ['os/linux/oom-score-adj', 250, true],
    ['os/linux/oom-score-adj', -250, true],
    ['os/linux/oom-score-adj', -1000, true],
    ['os/linux/oom-score-adj', -2500, false],
    ['os/linux/oom-score-adj', 1001, false],
    ['os/linux/oom-score-adj', 'pants', false],
    ['os/linux/no-new-privileges', true, true],
    ['os/linux/no-new-privileges', false, true],
    ['os/linux/no-new-privileges', 123, false],
    ['os/linux/no-new-privileges', { set: ['CAP_KILL'] }, false],
    ['os/linux/no-new-privileges', 'true', false],
    ['os/linux/capabilities-retain-set', { set: ['CAP_KILL'] }, true],
    ['os/linux/capabilities-retain-set', { set: ['CAP_PONIES'] }, true],
    ['os/linux/capabilities-retain-set', { set: [] }, false],
    ['os/linux/capabilities-retain-set', { set: 'CAP_PONIES' }, false],
    ['os/linux/capabilities-remove-set', { set: ['CAP_SYS_ADMIN', 'CAP_CHOWN'] }, true],
    ['os/linux/capabilities-remove-set', {}, false],
    ['resource/block-bandwidth', { default: true, limit: '1G' }, true],
    ['resource/block-bandwidth', { default: false, limit: '1G' }, false],
    ['resource/block-bandwidth', { request: '30G', limit: '1G' }, false],
    ['resource/block-iops', { default: true, limit: '1G' }, true],
    ['resource/block-iops', { default: false, limit: '1G' }, false],
    ['resource/block-iops', { default: true, request: '30G', limit: '1G' }, false],
    ['resource/cpu', { request: '30m', limit: '1m' }, true],
    ['resource/cpu', { limit: 2 }, true],
    ['resource/cpu', { limit: '-1' }, false],
    ['resource/memory', { request: '1G', limit: '2Gi' }, true],
    ['resource/memory', { limit: 1024 }, true],
    ['resource/memory', { default: true, request: '1G', limit: '2G' }, false],
    ['resource/memory', { limit: '1K' }, false],
    ['resource/memory', { limit: true }, false],
    ['resource/memory', { default: 'no' }, false],
    ['resource/memory', [], false],
    ['resource/network-bandwidth', { default: true, limit: '1G' }, true],
    ['resource/network-bandwidth', { default: false, limit: '1G' }, false],
    ['resource/network-bandwidth', { limit: '1G' }, false],
    ['resource/network-bandwidth', { request: '30G', limit: '1G' }, false],
    ['os/unix/sysctl', { 'net.ipv4.tcp_rfc1337': '1' }, true],
    ['os/unix/sysctl', { 'net.ipv4.tcp_rfc1337': 1 }, false],
    ['os/unix/sysctl', ['net.ipv4.tcp_rfc1337'], false],
    ['os/linux/selinux-context', { user: 'user_u', role: 'role_r', type: 'type_r', level: 's0-s0' }, true],
    ['os/linux/selinux-context', { user: 'user_u', role: 'role_r', type: 'type_r', level: 's0-s0:c0' }, true],
    [
      'os/linux/selinux-context',
      { user: 'user_u', role: 'role_r:type_t', type: 'type_r', level: 's0-s0' },
      false,
    ],
    ['os/linux/selinux-context', { user: 'user_u', role: '', type: 'type_r', level: 's0-s0' }, false],
    ['os/linux/selinux-context', { user: 'user_u', role: 'role_r', type: 'type_r' }, false],
    ['os/linux/apparmor-profile', { profile: 'rkt-default' }, true],
    ['os/linux/apparmor-profile', { profile: '' }, false],
    ['os/linux/seccomp-remove-set', { set: ['reboot'], errno: 'EACCESS' }, true],
    ['os/linux/seccomp-remove-set', { set: ['reboot'], errno: '' }, true],
    ['os/linux/seccomp-remove-set', { set: ['@appc.io/empty'] }, true],
    ['os/linux/seccomp-remove-set', { set: [] }, false],
    ['os/linux/seccomp-remove-set', { set: ['reboot'], errno: 'eperm' }, false],
    ['os/linux/seccomp-remove-set', { set: ['reboot'], errno: 'PERM' }, false],
    ['os/linux/seccomp-retain-set', { set: ['@appc.io/all'], errno: 'E2BIG' }, true],
    ['os/linux/seccomp-retain-set', { errno: 'EPERM' }, false],
  ];
  for (const [name, value, ok] of cases) {
    it(`${ok ? 'accepts' : 'rejects'} ${name} ${JSON.stringify(value)}`, () => {
      if (ok) assert.doesNotMatch(parseIsolators({ name, value }).warnings.join('\n'), /unknown isolator/);
      else
        assert.throws(
          () => parseIsolators({ name, value }),
          (e: unknown) => e instanceof AppcError && /^app\.isolators\[0\]\.value/.test(e.message),
        );
    });
  }

  it('names the exact path and reason', () => {
    assert.throws(
      () =>
        parseIsolators(
          { name: 'resource/cpu', value: { limit: '1' } },
          { name: 'resource/memory', value: { limit: '1K' } },
        ),
      { message: 'app.isolators[1].value.limit: quantity "1K" is not valid' },
    );
    assert.throws(() => parseIsolators({ name: 'resource/memory', value: { default: true } }), {
      message: 'app.isolators[0].value.default: must be false for resource/memory',
    });
    assert.throws(() => parseIsolators({ name: 'os/linux/cpu-shares' }), {
      message: 'app.isolators[0].value: is required',
    });
    assert.throws(() => parseIsolators({ value: 1 }), { message: 'app.isolators[0].name: is required' });
  });
});

describe('isolator lists', () => {
  it('keeps unknown isolators with a warning (the reference rejects them in apps)', () => {
    const { manifest, warnings } = parseIsolators({
      name: 'example.com/frobnicate',
      value: { any: ['thing'] },
    });
    assert.deepEqual(manifest.app?.isolators, [
      { name: 'example.com/frobnicate', value: { any: ['thing'] } },
    ]);
    assert.equal(warnings.length, 1);
    assert.match(warnings[0] ?? '', /^app\.isolators\[0\]: unknown isolator "example\.com\/frobnicate"/);
  });
  it('accepts apparmor in an app (post-0.8.11 isolator the reference actool rejects)', () => {
    assert.deepEqual(
      parseIsolators({ name: 'os/linux/apparmor-profile', value: { profile: 'p' } }).warnings,
      [],
    );
  });
  it('rejects seccomp retain + remove, and two seccomp sets', () => {
    const remove = { name: 'os/linux/seccomp-remove-set', value: { set: ['reboot'] } };
    const retain = { name: 'os/linux/seccomp-retain-set', value: { set: ['read'] } };
    assert.throws(() => parseIsolators(remove, retain), {
      message:
        'app.isolators[1]: os/linux/seccomp-retain-set cannot be used together with os/linux/seccomp-remove-set',
    });
    assert.throws(() => parseIsolators(remove, remove), {
      message: 'app.isolators[1]: only one os/linux/seccomp-remove-set isolator is allowed per app',
    });
  });
  it('rejects capability retain + remove (spec; the reference allows it)', () => {
    assert.throws(
      () =>
        parseIsolators(
          { name: 'os/linux/capabilities-retain-set', value: { set: ['CAP_KILL'] } },
          { name: 'os/linux/capabilities-remove-set', value: { set: ['CAP_KILL'] } },
        ),
      /cannot be used together/,
    );
  });
  it('allows several resource and capability isolators of one name, but one selinux/apparmor/oom/cpu-shares', () => {
    assert.doesNotThrow(() =>
      parseIsolators(
        { name: 'resource/memory', value: { limit: '1G' } },
        { name: 'resource/memory', value: { limit: '2G' } },
      ),
    );
    for (const [name, value] of [
      ['os/linux/oom-score-adj', 1],
      ['os/linux/cpu-shares', 100],
      ['os/linux/apparmor-profile', { profile: 'p' }],
      ['os/linux/selinux-context', { user: 'u', role: 'r', type: 't', level: 's0' }],
    ] as [string, JsonValue][]) {
      assert.throws(() => parseIsolators({ name, value }, { name, value }), /only one/, name);
    }
  });
  it('warns about isolators outside their scope', () => {
    const { warnings } = parseIsolators({ name: 'os/unix/sysctl', value: { 'net.x': '1' } });
    assert.match(warnings.join('\n'), /os\/unix\/sysctl applies to pods, not apps/);
  });
  it('checks pod-level isolators: unknown warns, one sysctl per pod', () => {
    const pod = (isolators: JsonValue[]) =>
      JSON.stringify({ acVersion: '0.8.11', acKind: 'PodManifest', apps: [], isolators });
    assert.match(
      parsePodManifest(pod([{ name: 'example.com/x', value: 1 }])).warnings.join(),
      /unknown isolator/,
    );
    const s = { name: 'os/unix/sysctl', value: { 'net.x': '1' } };
    assert.throws(() => parsePodManifest(pod([s, s])), {
      message: 'isolators[1]: only one os/unix/sysctl isolator is allowed per pod',
    });
    assert.throws(() => parsePodManifest(pod([{ name: 'resource/memory', value: { limit: '1K' } }])), {
      message: 'isolators[0].value.limit: quantity "1K" is not valid',
    });
  });
});

describe('isolator constructors', () => {
  it('build valid, canonical values', () => {
    assert.deepEqual(resourceIsolator('resource/cpu', { request: '1000m', limit: '1.5' }), {
      name: 'resource/cpu',
      value: { default: false, request: '1', limit: '1500m' },
    });
    assert.deepEqual(resourceIsolator('resource/network-bandwidth', { limit: '10M' }).value, {
      default: true,
      limit: '10M',
    });
    assert.deepEqual(capabilitiesRetainSet(['CAP_KILL']), {
      name: 'os/linux/capabilities-retain-set',
      value: { set: ['CAP_KILL'] },
    });
    assert.deepEqual(capabilitiesRemoveSet(['CAP_KILL']).name, 'os/linux/capabilities-remove-set');
    assert.deepEqual(noNewPrivileges(true), { name: 'os/linux/no-new-privileges', value: true });
    assert.deepEqual(seccompRemoveSet(['reboot'], 'EPERM').value, { set: ['reboot'], errno: 'EPERM' });
    assert.deepEqual(seccompRetainSet(['read']).value, { set: ['read'] });
    assert.deepEqual(selinuxContext({ user: 'u', role: 'r', type: 't', level: 's0' }).value, {
      user: 'u',
      role: 'r',
      type: 't',
      level: 's0',
    });
    assert.deepEqual(apparmorProfile('p').value, { profile: 'p' });
    assert.deepEqual(oomScoreAdj(-5).value, -5);
    assert.deepEqual(cpuShares(512).value, 512);
    assert.deepEqual(sysctl({ 'net.a': '1' }).value, { 'net.a': '1' });
  });
  it('refuse invalid values', () => {
    assert.throws(() => resourceIsolator('resource/memory', { limit: '1K' }), AppcError);
    assert.throws(() => capabilitiesRetainSet([]), {
      message: 'os/linux/capabilities-retain-set.value.set: must not be empty',
    });
    assert.throws(() => seccompRemoveSet(['x'], 'eperm'), AppcError);
    assert.throws(() => cpuShares(1), AppcError);
    assert.throws(() => oomScoreAdj(1001), AppcError);
    assert.throws(() => apparmorProfile(''), AppcError);
  });
  it('decode known values and skip unknown names', () => {
    const d = decodeIsolator({ name: 'resource/memory', value: { request: '1G', limit: '2Gi' } });
    assert.equal(d?.kind, 'resource');
    if (d?.kind === 'resource') {
      assert.equal(d.limit?.value(), 2n * 1024n ** 3n);
      assert.equal(d.request?.value(), 10n ** 9n);
    }
    assert.deepEqual(
      decodeIsolator({ name: 'os/linux/seccomp-retain-set', value: { set: ['a'], errno: '' } }),
      {
        kind: 'seccomp',
        name: 'os/linux/seccomp-retain-set',
        set: ['a'],
      },
    );
    const unknown: Isolator = { name: 'example.com/x', value: null };
    assert.equal(decodeIsolator(unknown), undefined);
    assert.throws(() => decodeIsolator({ name: 'os/linux/cpu-shares', value: 0 }), {
      message: 'value: must be between 2 and 262144, got 0',
    });
  });
});
