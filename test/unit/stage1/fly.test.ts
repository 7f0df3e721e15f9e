// The fly engine's pure parts (engine choice, prepare options, mount targets, plan scripts). Root-free.
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { after, describe, it } from 'node:test';
import { RocketError } from '../../../src/errors.js';
import {
  applyPrepareOptions,
  emptyPodArgs,
  prepareOptionsJson,
  PREPARE_OPTIONS_FILE,
} from '../../../src/pod/index.js';
import { engineChoice } from '../../../src/stage1/engines.js';
import { targetIn } from '../../../src/stage1/fly/mounts.js';
import {
  flyEnterScript,
  flyPlanScript,
  innerScript,
  setprivArgs,
  type FlyPlanInput,
} from '../../../src/stage1/fly/plan.js';

const tmp = mkdtempSync(path.join(tmpdir(), 'rocket-fly-unit-'));
after(() => rmSync(tmp, { recursive: true, force: true }));

const is254 = (err: unknown): boolean => err instanceof RocketError && err.exitCode === 254;

describe('engineChoice', () => {
  const args = (over: { engine?: string; stage1?: Record<string, string> }) => ({
    engine: over.engine,
    stage1: over.stage1 ?? {},
  });
  it('picks fly from a name or a stage1 file name with the word fly', () => {
    for (const a of [
      args({ engine: 'fly' }),
      args({ stage1: { name: 'coreos.com/rkt/stage1-fly:1.30.0' } }),
      args({ stage1: { path: '/usr/lib/rkt/stage1-images/stage1-fly.aci' } }),
      args({ stage1: { url: 'https://example.com/stage1-fly.aci' } }),
      args({ stage1: { fromDir: 'stage1-fly.aci' } }),
    ])
      assert.deepEqual(engineChoice(a), { name: 'fly' });
  });
  it('keeps the oci runtimes and the default, and refuses unknown names', () => {
    assert.deepEqual(engineChoice(args({ stage1: { name: 'oci-runc' } })), {
      name: 'oci',
      variant: 'oci-runc',
    });
    assert.deepEqual(engineChoice(args({ engine: 'crun' })), { name: 'oci', variant: 'crun' });
    assert.deepEqual(engineChoice(args({ stage1: { path: '/x/stage1-coreos.aci' } })), { name: 'oci' });
    assert.throws(() => engineChoice(args({ stage1: { name: 'butterfly' } })), is254);
    assert.throws(() => engineChoice(args({ engine: 'lxc' })), is254);
  });
  it('refuses a stage1 image that names no engine, and --stage1-hash, naming the flag', () => {
    assert.deepEqual(engineChoice(args({ stage1: { path: '/x/stage1-oci-runc.aci' } })), {
      name: 'oci',
      variant: 'oci-runc',
    });
    assert.deepEqual(engineChoice(args({ stage1: { fromDir: 'stage1-oci.aci' } })), { name: 'oci' });
    const refused = (a: ReturnType<typeof args>, re: RegExp) =>
      assert.throws(
        () => engineChoice(a),
        (e: unknown) => is254(e) && re.test((e as Error).message),
      );
    refused(
      args({ stage1: { path: '/nonexistent/stage1.aci' } }),
      /^--stage1-path=\/nonexistent\/stage1\.aci: no such stage1/,
    );
    refused(
      args({ stage1: { url: 'http://127.0.0.1:1/s.aci' } }),
      /^--stage1-url=http:\/\/127\.0\.0\.1:1\/s\.aci: no such stage1/,
    );
    refused(
      args({ stage1: { fromDir: 'stage1-xen.aci' } }),
      /^--stage1-from-dir=stage1-xen\.aci: no such stage1/,
    );
    refused(args({ stage1: { hash: 'sha512-0123' } }), /^--stage1-hash=sha512-0123: /);
  });
});

describe('prepare options', () => {
  it('carry --no-overlay and the stage1 choice to run-prepared, whose own choice wins', () => {
    const dir = path.join(tmp, 'pod');
    mkdirSync(dir);
    const prepared = { ...emptyPodArgs(), noOverlay: true, engine: 'fly' };
    writeFileSync(path.join(dir, PREPARE_OPTIONS_FILE), prepareOptionsJson(prepared));
    const plain = emptyPodArgs();
    applyPrepareOptions(dir, plain);
    assert.equal(plain.noOverlay, true);
    assert.equal(plain.engine, 'fly');
    const own = { ...emptyPodArgs(), stage1: { name: 'oci-runc' } };
    applyPrepareOptions(dir, own);
    assert.equal(own.engine, undefined);
    assert.equal(own.stage1.name, 'oci-runc');
    assert.equal(own.noOverlay, true);
  });
  it('change nothing without the file, and name the file and field when it is bad', () => {
    const none = emptyPodArgs();
    applyPrepareOptions(path.join(tmp, 'absent'), none);
    assert.deepEqual(none, emptyPodArgs());
    const dir = path.join(tmp, 'bad');
    mkdirSync(dir);
    writeFileSync(path.join(dir, PREPARE_OPTIONS_FILE), '{"noOverlay":"yes"}');
    assert.throws(
      () => applyPrepareOptions(dir, emptyPodArgs()),
      (e: unknown) =>
        e instanceof RocketError &&
        e.kind === 'failed-precondition' &&
        /prepare-options\.json: field "noOverlay"/.test((e as Error).message),
    );
  });
});

describe('targetIn', () => {
  it('resolves symlinks inside the rootfs and maps the result under the mount root', () => {
    const root = path.join(tmp, 'tree');
    mkdirSync(path.join(root, 'var/tmp'), { recursive: true });
    symlinkSync('/var/tmp', path.join(root, 'tmp'));
    symlinkSync('/etc', path.join(root, 'hostetc'));
    symlinkSync('../../../../..', path.join(root, 'up'));
    assert.equal(targetIn(root, '/run/r', '/tmp'), '/run/r/var/tmp');
    assert.equal(targetIn(root, '/run/r', '/hostetc/passwd'), '/run/r/etc/passwd');
    assert.equal(targetIn(root, '/run/r', '/up/x'), '/run/r/x');
    assert.equal(targetIn(root, '/run/r', '/'), '/run/r');
  });
});

describe('fly plans', () => {
  const input: FlyPlanInput = {
    P: "/d/pods/prepared/u u'",
    R: "/d/pods/run/u u'",
    uuid: 'u',
    app: 'app',
    rootfs: "/d/pods/run/u u'/apps/app/rootfs",
    overlay: { lower: '/d/cas/tree/t/rootfs', upper: '/d/u/upper', work: '/d/u/work' },
    readOnlyRootfs: false,
    mounts: [
      { kind: 'rbind', source: '/dev', target: '/r/dev' },
      { kind: 'tmpfs', target: '/r/tmp' },
      { kind: 'bind', source: '/src', target: '/r/data', recursive: false, readOnly: true },
    ],
    env: ['PATH=/bin', "WEIRD=it's\nmulti line $HOME `x`"],
    user: { uid: 1234, gid: 4321, groups: [] },
    workingDir: '/home/a b',
    workingDirHost: "/d/pods/run/u u'/apps/app/rootfs/home/a b",
    exec: ['/bin/sh', '-c', 'echo "$1"', 'x'],
    interactive: false,
  };

  it('are valid sh', () => {
    for (const script of [
      flyPlanScript(input),
      innerScript(input),
      flyEnterScript(42, input.user, input.env, ['/bin/sh']),
    ]) {
      const r = spawnSync('sh', ['-n'], { input: script, encoding: 'utf8' });
      assert.equal(r.status, 0, `${r.stderr}\n${script}`);
    }
  });

  it('pass the environment and the command through exactly', () => {
    // Replace the privileged tail of the exec line with a shell that shows what it got.
    const script = innerScript(input);
    const line = script.slice(script.indexOf('exec env -i'));
    const show = `/bin/sh -c '/usr/bin/printenv WEIRD; printf "%s\\n" "$@"' sh `;
    const probe = line.replace(/ setpriv .* -- (?=\/bin\/sh -c)/s, ` ${show}`);
    const r = spawnSync('sh', ['-c', probe], { encoding: 'utf8' });
    assert.equal(r.status, 0, r.stderr + probe);
    assert.equal(r.stdout, 'it\'s\nmulti line $HOME `x`\n/bin/sh\n-c\necho "$1"\nx\n');
  });

  it('set the groups with setpriv, and the uid only after the chroot', () => {
    assert.deepEqual(setprivArgs(input.user), ['setpriv', '--regid=4321', '--clear-groups', '--']);
    assert.deepEqual(setprivArgs({ uid: 0, gid: 0, groups: [27, 4] }), [
      'setpriv',
      '--regid=0',
      '--groups=27,4',
      '--',
    ]);
    assert.match(
      innerScript(input),
      /unshare '--root=.*\/rootfs' '--wd=\/home\/a b' --setuid=1234 -- \/bin\/sh/,
    );
    assert.match(innerScript(input), /mount -o remount,bind,ro \/r\/data /);
    assert.match(flyPlanScript(input), /<\/dev\/null 4<&-/);
    assert.match(flyPlanScript({ ...input, interactive: true }), /<&4 4<&-/);
  });
});
