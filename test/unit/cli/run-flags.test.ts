import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { RocketError, isRktFailure } from '../../../src/errors.js';
import { parseRunArgs, seccompIsolator } from '../../../src/cli/rkt/pod/run-flags.js';
import { rawArgsAfterVerb } from '../../../src/cli/rkt/pod/common.js';
import { appNameFromImage } from '../../../src/pod/args.js';

const split = (s: string) => s.split(' ');

describe('parseRunArgs: rkt cli_apps_test vectors', () => {
  const vectors: [string, string[], (string[] | undefined)[]][] = [
    [
      'example.com/foo example.com/bar -- --help --- example.com/baz -- --verbose',
      ['example.com/foo', 'example.com/bar', 'example.com/baz'],
      [undefined, ['--help'], ['--verbose']],
    ],
    [
      'example.com/foo --- example.com/bar --- example.com/baz ---',
      ['example.com/foo', 'example.com/bar', 'example.com/baz'],
      [undefined, undefined, undefined],
    ],
    [
      'example.com/foo example.com/bar example.com/baz',
      ['example.com/foo', 'example.com/bar', 'example.com/baz'],
      [undefined, undefined, undefined],
    ],
    ['example.com/foo  example.com/bar', ['example.com/foo', 'example.com/bar'], [undefined, undefined]],
  ];
  for (const [input, images, args] of vectors) {
    it(input, () => {
      const p = parseRunArgs(split(input));
      assert.deepEqual(
        p.apps.map((a) => a.image),
        images,
      );
      assert.deepEqual(
        p.apps.map((a) => a.args),
        args,
      );
    });
  }
});

const msg = (fn: () => unknown): string => {
  try {
    fn();
  } catch (err) {
    assert.ok(err instanceof RocketError);
    // The grammar's own refusals say 254; the pod's rules (src/pod/args.ts) throw kinds.
    assert.ok(isRktFailure(err));
    return err.message;
  }
  assert.fail('expected an error');
};

describe('parseRunArgs: flags', () => {
  it('splits pod-level and per-app flags', () => {
    const p = parseRunArgs([
      '--volume=data,kind=empty,mode=0700',
      '--mount',
      'volume=data,target=/all',
      '--set-env=A=1',
      '--inherit-env',
      '--hostname',
      'h',
      '--net=host',
      'img1',
      '--name=one',
      '--exec',
      '/bin/sh',
      '--user=nobody',
      '--group=nogroup',
      '--supplementary-gids=1,2',
      '--working-dir=/tmp',
      '--readonly-rootfs',
      '--environment=B=2',
      '--mount=volume=data,target=/mine',
      '--user-annotation=k=v',
      '--user-label=l=w',
      '--',
      '-c',
      'echo hi',
      '---',
      'img2',
      '--cap-retain=CAP_NET_ADMIN,CAP_CHOWN',
      '--cpu=500m',
      '--memory=16Mi',
      '--cpu-shares=512',
      '--oom-score-adj=100',
      '--seccomp',
      'mode=remove,errno=ENOTSUP,@docker/default-blacklist,reboot',
    ]);
    assert.equal(p.volumes[0]?.name, 'data');
    assert.equal(p.volumes[0]?.mode, '0700');
    assert.deepEqual(p.mounts, [{ volume: 'data', path: '/all' }]);
    assert.deepEqual(p.setEnv, [['A', '1']]);
    assert.equal(p.inheritEnv, true);
    assert.equal(p.hostname, 'h');
    assert.deepEqual(p.net, ['host']);
    const [a, b] = p.apps;
    assert.ok(a && b);
    assert.equal(a.name, 'one');
    assert.equal(a.exec, '/bin/sh');
    assert.deepEqual(a.args, ['-c', 'echo hi']);
    assert.equal(a.user, 'nobody');
    assert.equal(a.group, 'nogroup');
    assert.deepEqual(a.supplementaryGIDs, [1, 2]);
    assert.equal(a.workingDir, '/tmp');
    assert.equal(a.readOnlyRootFS, true);
    assert.deepEqual(a.environment, [['B', '2']]);
    assert.deepEqual(a.mounts, [{ volume: 'data', path: '/mine' }]);
    assert.deepEqual(a.userAnnotations, { k: 'v' });
    assert.deepEqual(a.userLabels, { l: 'w' });
    assert.deepEqual(b.capsRetain, {
      name: 'os/linux/capabilities-retain-set',
      value: { set: ['CAP_NET_ADMIN', 'CAP_CHOWN'] },
    });
    assert.deepEqual(b.cpu?.value, { default: false, request: '500m', limit: '500m' });
    assert.deepEqual(b.memory?.value, { default: false, request: '16Mi', limit: '16Mi' });
    assert.deepEqual(b.cpuShares, { name: 'os/linux/cpu-shares', value: 512 });
    assert.deepEqual(b.oomScoreAdj, { name: 'os/linux/oom-score-adj', value: 100 });
    assert.deepEqual(b.seccomp, {
      name: 'os/linux/seccomp-remove-set',
      value: { set: ['@docker/default-blacklist', 'reboot'], errno: 'ENOTSUP' },
    });
  });

  it('bare --net means default and does not take the next argument', () => {
    const p = parseRunArgs(['--net', 'img']);
    assert.deepEqual(p.net, ['default']);
    assert.deepEqual(
      p.apps.map((a) => a.image),
      ['img'],
    );
  });

  it('refuses an app name too long for the pod files and container IDs (214 bytes at most)', () => {
    assert.equal(parseRunArgs(['img', `--name=${'a'.repeat(214)}`]).apps[0]?.name, 'a'.repeat(214));
    assert.equal(
      msg(() => parseRunArgs(['img', `--name=${'a'.repeat(215)}`])),
      "--name: app name of 215 bytes is too long (at most 214: it names the pod's files and the runtime's container rkt-<uuid>-<app>)",
    );
    // Bytes, not characters: 108 two-byte characters are 216 bytes.
    assert.match(
      msg(() => parseRunArgs(['img', `--name=${'é'.repeat(108)}`])),
      /app name of 216 bytes/,
    );
  });

  it('rejects what rkt rejects, with its messages', () => {
    assert.equal(
      msg(() => parseRunArgs(['--exec=/x', 'img'])),
      '--exec must follow an image',
    );
    assert.equal(
      msg(() => parseRunArgs(['--', 'x'])),
      'an image is required before any app arguments',
    );
    assert.equal(
      msg(() => parseRunArgs(['img', '--', 'a', '---', '--', 'b'])),
      'only one set of app arguments allowed per image',
    );
    assert.equal(
      msg(() => parseRunArgs(['img', '--exec=/a', '--exec=/b'])),
      '--exec specified multiple times for the same image',
    );
    assert.equal(
      msg(() => parseRunArgs(['img', '--mount=volume=nope,target=/x'])),
      'dangling mount point "/x": volume "nope" not found',
    );
    // Found by test/unit/fuzz: a bad escape was a URIError and a stack trace.
    assert.equal(
      msg(() => parseRunArgs(['img', '--mount=volume=a%,target=/x'])),
      'invalid URL escape in --mount flag "volume=a%,target=/x"',
    );
    assert.equal(
      msg(() => parseRunArgs(['img', '--bogus'])),
      'unknown flag: --bogus',
    );
    assert.equal(
      msg(() => parseRunArgs(['img', '--memory=16m'])),
      'memory limit of 1 bytes too low. Try a reasonable value, such as --memory=16M',
    );
    assert.equal(
      msg(() => parseRunArgs(['img', '--caps-retain=CAP_CHOWN', '--caps-remove=CAP_KILL'])),
      'error: cannot use both --caps-retain and --caps-remove on the same image',
    );
    assert.equal(
      msg(() => parseRunArgs(['img', '--hostname=x'], 'prepare')),
      'unknown flag: --hostname',
    );
    assert.match(
      msg(() => parseRunArgs(['img', '--seccomp=mode=keep,read'])),
      /invalid seccomp mode/,
    );
    assert.match(
      msg(() => parseRunArgs(['--pod-manifest=/x', 'img'])),
      /--pod-manifest/,
    );
  });

  it('maps --seccomp retain sets with @appc.io wildcards', () => {
    assert.deepEqual(seccompIsolator('mode=retain,@appc.io/all'), {
      name: 'os/linux/seccomp-retain-set',
      value: { set: ['@appc.io/all'] },
    });
  });

  it('derives app names from image names as rkt does', () => {
    assert.equal(appNameFromImage('example.com/foo/Bar_baz'), 'bar-baz');
    assert.equal(appNameFromImage('coreos.com/etcd'), 'etcd');
  });
});

describe('parseRunArgs: refusals exit 254', () => {
  const refusal = (args: string[]): RocketError => {
    try {
      parseRunArgs(args);
    } catch (err) {
      assert.ok(err instanceof RocketError, String(err));
      return err;
    }
    assert.fail(`${args.join(' ')} was accepted`);
  };
  it('a bad --volume, as every other flag error', () => {
    for (const v of [
      'v1,kind=foo',
      'v1',
      'v1,kind=host',
      'v1,kind=empty,mode=bogus',
      'Bad_Name,kind=empty',
    ]) {
      const err = refusal([`--volume=${v}`, 'img']);
      assert.equal(err.exitCode, 254, `${v}: ${err.message}`);
    }
  });
  it('--private-users, which the engines cannot honour (never silently ignored)', () => {
    for (const flag of ['--private-users', '--private-users=true']) {
      const err = refusal([flag, 'img']);
      assert.equal(err.exitCode, 254);
      assert.match(err.message, /^--private-users is not supported/);
    }
    assert.equal(parseRunArgs(['--private-users=false', 'img']).privateUsers, false);
  });
});

describe('rkt app add --mnt-volume', () => {
  it('gives the app a volume of its own at the target, only in rkt app add; bad values fail in one line', () => {
    const p = parseRunArgs(
      ['img', '--mnt-volume=name=data,kind=host,source=/srv/d,target=/data,readOnly=true'],
      'run',
      [],
      true,
    );
    assert.deepEqual(p.apps[0]?.mounts, [
      {
        volume: 'data',
        path: '/data',
        appVolume: { name: 'data', kind: 'host', source: '/srv/d', readOnly: true },
      },
    ]);
    const refused = (args: string[], re: RegExp, appAdd = true) =>
      assert.throws(
        () => parseRunArgs(args, 'run', [], appAdd),
        (err: unknown) => err instanceof RocketError && isRktFailure(err) && re.test(err.message),
      );
    refused(
      ['img', '--mnt-volume=name=d,kind=host,source=/s,target=/t'],
      /unknown flag: --mnt-volume/,
      false,
    );
    refused(['img', '--mnt-volume=name=d,kind=host,source=/s'], /missing target/);
    refused(['img', '--mnt-volume=kind=host,source=/s,target=/t'], /missing name/);
    refused(['img', '--mnt-volume=name=d,kind=host,target=/t'], /source is required/);
    refused(['--mnt-volume=name=d,kind=host,source=/s,target=/t', 'img'], /must follow an image/);
  });
});

describe('rawArgsAfterVerb', () => {
  it("skips the global flags, then gives the verb's arguments as written", () => {
    assert.deepEqual(
      rawArgsAfterVerb('enter', [
        '--dir',
        '/d',
        '-insecure-options=image',
        'enter',
        'u',
        '/bin/ls',
        '-la',
        '-xy',
      ]),
      ['u', '/bin/ls', '-la', '-xy'],
    );
    // --max-image-size takes a value too.
    assert.deepEqual(rawArgsAfterVerb('status', ['--max-image-size', '1GiB', 'status', '-wait', 'u']), [
      '-wait',
      'u',
    ]);
    assert.throws(() => rawArgsAfterVerb('status', ['--bogus', 'x', 'status']), /cannot find status/);
  });
});
