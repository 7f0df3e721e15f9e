/**
 * A CRI container's security context as containerd reads it (src/cri/security.ts): the user, its
 * primary group and groups from the image's /etc/passwd and /etc/group, the requests containerd
 * refuses, and the seccomp profile chosen and built: none, RuntimeDefault with the system calls of
 * the granted capabilities, a docker-format localhost profile.
 */
import assert from 'node:assert/strict';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import {
  criSeccomp,
  criUser,
  localhostSeccomp,
  runtimeDefaultSeccomp,
  seccompChoice,
  type CriUserRequest,
} from '../../../src/cri/security.js';
import { RocketError } from '../../../src/errors.js';

const allowed = (f: { syscalls: { names: string[]; action: string }[] }): string[] =>
  f.syscalls.filter((s) => s.action === 'SCMP_ACT_ALLOW').flatMap((s) => s.names);

describe('criUser', () => {
  let root: string;
  before(() => {
    root = mkdtempSync(join(tmpdir(), 'cri-user-'));
    mkdirSync(join(root, 'etc'));
    writeFileSync(
      join(root, 'etc', 'passwd'),
      'root:x:0:0:root:/root:/bin/sh\nnobody:x:65534:65534:nobody:/:/bin/false\nalice:x:1000:1000::/home/alice:/bin/sh\n',
    );
    writeFileSync(
      join(root, 'etc', 'group'),
      'root:x:0:\nalice:x:1000:\nteam:x:50000:bob,alice\nother:x:60000:bob\n',
    );
  });
  after(() => rmSync(root, { recursive: true, force: true }));
  const req = (r: Partial<CriUserRequest>): CriUserRequest => ({
    supplementalGroups: [],
    imageUser: '0',
    imageGroup: '0',
    imageGids: [],
    ...r,
  });

  it('run_as_user: the uid, its /etc/passwd primary group, its /etc/group groups, then the requested ones', () => {
    assert.deepEqual(criUser(root, req({ runAsUser: 1000, supplementalGroups: [1234] })), {
      user: '1000',
      group: '1000',
      supplementaryGIDs: [50000, 1234],
    });
  });

  it('run_as_user not in /etc/passwd: group 0, only the requested groups', () => {
    assert.deepEqual(criUser(root, req({ runAsUser: 1001, supplementalGroups: [1234, 5678] })), {
      user: '1001',
      group: '0',
      supplementaryGIDs: [1234, 5678],
    });
  });

  it('run_as_group overrides the primary group', () => {
    assert.deepEqual(criUser(root, req({ runAsUser: 1001, runAsGroup: 1002 })), {
      user: '1001',
      group: '1002',
      supplementaryGIDs: [],
    });
  });

  it('run_as_username: the uid and gid of its /etc/passwd entry; an unknown name is refused', () => {
    assert.deepEqual(criUser(root, req({ runAsUsername: 'nobody' })), {
      user: '65534',
      group: '65534',
      supplementaryGIDs: [],
    });
    assert.throws(
      () => criUser(root, req({ runAsUsername: 'mallory' })),
      (e: Error) => e instanceof RocketError && /^run_as_username "mallory": no such user/.test(e.message),
    );
  });

  it('run_as_group without a user is refused', () => {
    assert.throws(
      () => criUser(root, req({ runAsGroup: 1002 })),
      (e: Error) => e instanceof RocketError && /^run_as_group: /.test(e.message),
    );
  });

  it("without run_as_*: the image's user, with its groups and the image's own gids", () => {
    assert.deepEqual(criUser(root, req({ imageUser: 'alice', imageGroup: 'alice', imageGids: [7] })), {
      user: 'alice',
      group: 'alice',
      supplementaryGIDs: [7, 50000],
    });
    assert.deepEqual(
      criUser(root, req({ imageUser: '1000', imageGroup: '1000' })).supplementaryGIDs,
      [50000],
    );
  });

  it('an image without /etc/passwd: run_as_user works, group 0', () => {
    const empty = mkdtempSync(join(tmpdir(), 'cri-user-'));
    try {
      assert.deepEqual(criUser(empty, req({ runAsUser: 5 })), {
        user: '5',
        group: '0',
        supplementaryGIDs: [],
      });
    } finally {
      rmSync(empty, { recursive: true, force: true });
    }
  });
});

describe('seccomp', () => {
  it('the profile asked for: none is unconfined, an empty one RuntimeDefault, the deprecated path', () => {
    assert.deepEqual(seccompChoice(null, ''), { kind: 'unconfined' });
    assert.deepEqual(seccompChoice(undefined, undefined), { kind: 'unconfined' });
    assert.deepEqual(seccompChoice({ profile_type: 'RuntimeDefault', localhost_ref: '' }, ''), {
      kind: 'runtime-default',
    });
    assert.deepEqual(seccompChoice({ profile_type: 'Unconfined' }, 'runtime/default'), {
      kind: 'unconfined',
    });
    assert.deepEqual(seccompChoice({ profile_type: 'Localhost', localhost_ref: '/p/x.json' }, ''), {
      kind: 'localhost',
      file: '/p/x.json',
    });
    assert.deepEqual(seccompChoice(null, 'unconfined'), { kind: 'unconfined' });
    assert.deepEqual(seccompChoice(null, 'docker/default'), { kind: 'runtime-default' });
    assert.deepEqual(seccompChoice(null, 'localhost//p/y.json'), { kind: 'localhost', file: '/p/y.json' });
    assert.throws(
      () => seccompChoice({ profile_type: 'Localhost', localhost_ref: 'rel.json' }, ''),
      /localhost_ref/,
    );
    assert.throws(() => seccompChoice(null, 'whatever'), /seccomp_profile_path/);
  });

  it('RuntimeDefault: EPERM for what it does not allow; sethostname and friends only with CAP_SYS_ADMIN', () => {
    const plain = runtimeDefaultSeccomp(['CAP_CHOWN'], 'x64');
    assert.equal(plain.defaultAction, 'SCMP_ACT_ERRNO');
    assert.equal(plain.defaultErrnoRet, 1);
    assert.ok(allowed(plain).includes('read'));
    assert.ok(!allowed(plain).includes('sethostname'));
    assert.ok(!allowed(plain).includes('mount'));
    const admin = runtimeDefaultSeccomp(['CAP_CHOWN', 'CAP_SYS_ADMIN'], 'x64');
    for (const c of ['sethostname', 'setdomainname', 'mount', 'unshare', 'setns'])
      assert.ok(allowed(admin).includes(c), c);
    assert.ok(!allowed(admin).includes('reboot'));
  });

  it('a localhost profile in docker format: rules, errno, args, includes and excludes, archMap', () => {
    const text = JSON.stringify({
      defaultAction: 'SCMP_ACT_ALLOW',
      archMap: [
        { architecture: 'SCMP_ARCH_X86_64', subArchitectures: ['SCMP_ARCH_X86', 'SCMP_ARCH_X32'] },
        { architecture: 'SCMP_ARCH_AARCH64', subArchitectures: ['SCMP_ARCH_ARM'] },
      ],
      syscalls: [
        { names: ['chmod', 'fchmodat'], action: 'SCMP_ACT_ERRNO' },
        {
          name: 'kill',
          action: 'SCMP_ACT_ERRNO',
          errnoRet: 38,
          args: [{ index: 1, value: 9, op: 'SCMP_CMP_EQ' }],
        },
        { names: ['sethostname'], action: 'SCMP_ACT_ERRNO', excludes: { caps: ['CAP_SYS_ADMIN'] } },
        { names: ['reboot'], action: 'SCMP_ACT_ALLOW', includes: { caps: ['CAP_SYS_BOOT'] } },
        { names: ['ioperm'], action: 'SCMP_ACT_ALLOW', includes: { arches: ['s390x'] } },
      ],
    });
    const f = localhostSeccomp(text, '/p/x.json', ['CAP_CHOWN'], 'x64');
    assert.deepEqual(f, {
      defaultAction: 'SCMP_ACT_ALLOW',
      architectures: ['SCMP_ARCH_X86_64', 'SCMP_ARCH_X86', 'SCMP_ARCH_X32'],
      syscalls: [
        { names: ['chmod', 'fchmodat'], action: 'SCMP_ACT_ERRNO' },
        {
          names: ['kill'],
          action: 'SCMP_ACT_ERRNO',
          errnoRet: 38,
          args: [{ index: 1, value: 9, op: 'SCMP_CMP_EQ' }],
        },
        { names: ['sethostname'], action: 'SCMP_ACT_ERRNO' },
      ],
    });
    const admin = localhostSeccomp(text, '/p/x.json', ['CAP_SYS_ADMIN', 'CAP_SYS_BOOT'], 'x64');
    assert.deepEqual(
      admin.syscalls.map((s) => s.names[0]),
      ['chmod', 'kill', 'reboot'],
    );
  });

  it('a bad localhost profile: one line naming the file and the field', () => {
    const bad = (doc: unknown, field: RegExp): void =>
      assert.throws(
        () => localhostSeccomp(JSON.stringify(doc), '/p/bad.json', [], 'x64'),
        (e: Error) =>
          e instanceof RocketError &&
          e.message.startsWith('seccomp profile /p/bad.json: ') &&
          field.test(e.message),
      );
    bad({ defaultAction: 'SCMP_ACT_MAYBE' }, /defaultAction: unknown action/);
    bad(
      { defaultAction: 'SCMP_ACT_ALLOW', syscalls: [{ names: ['x'], action: 'NOPE' }] },
      /syscalls\[0\]\.action/,
    );
    bad(
      { defaultAction: 'SCMP_ACT_ALLOW', syscalls: [{ action: 'SCMP_ACT_ERRNO' }] },
      /syscalls\[0\]: no names/,
    );
    bad(
      {
        defaultAction: 'SCMP_ACT_ALLOW',
        syscalls: [{ names: ['x'], action: 'SCMP_ACT_ERRNO', args: [{ index: 0, op: 'LIKE' }] }],
      },
      /syscalls\[0\]\.args\[0\]\.op/,
    );
    assert.throws(
      () => localhostSeccomp('{', '/p/bad.json', [], 'x64'),
      /seccomp profile \/p\/bad.json: not JSON/,
    );
  });

  it('a privileged or unconfined container has no filter; a profile file that is missing is an error', () => {
    assert.equal(criSeccomp({ kind: 'unconfined' }, [], false), undefined);
    assert.equal(criSeccomp({ kind: 'runtime-default' }, [], true), undefined);
    assert.equal(criSeccomp({ kind: 'localhost', file: '/nonexistent/p.json' }, [], true), undefined);
    assert.throws(
      () => criSeccomp({ kind: 'localhost', file: '/nonexistent/p.json' }, [], false),
      /seccomp profile \/nonexistent\/p.json: cannot be read/,
    );
  });
});
