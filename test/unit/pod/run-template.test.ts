// Run templates, the Node side (src/pod/run-template.ts), root-free: which command lines and
// flags make one, the argv file, the stamp, what is written from a prepared pod dir, and gc.
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import {
  existsSync,
  lstatSync,
  mkdirSync,
  mkdtempSync,
  readdirSync,
  readFileSync,
  renameSync,
  rmSync,
  symlinkSync,
  utimesSync,
  writeFileSync,
} from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';
import { mknod, S_IFIFO } from '../../../src/aci/syscalls.js';
import { emptyPodArgs, type AppArgs, type PodArgs } from '../../../src/pod/args.js';
import { writePodSummary } from '../../../src/pod/pod.js';
import { readPodSummary } from '../../../src/pod/summary.js';
import {
  clearRunTemplates,
  dbMtimes,
  runTemplateArgsOk,
  runTemplateArgvText,
  runTemplateDir,
  runTemplateForm,
  runTemplateStamp,
  writeRunTemplate,
} from '../../../src/pod/run-template.js';

const UUID = '0d6a3e6c-55f4-4a65-9a32-7c1f2b0e9d11';

function app(more: Partial<AppArgs> = {}): AppArgs {
  return { image: 'example.com/a', environment: [], mounts: [], annotations: {}, ...more };
}
function args(more: Partial<PodArgs> = {}): PodArgs {
  return { ...emptyPodArgs(), apps: [app()], net: ['none'], ...more };
}

describe('run templates: which command lines', () => {
  it("takes the launcher's plain form only", () => {
    assert.equal(runTemplateForm(['run', '--net=none', 'img']), true);
    assert.equal(runTemplateForm(['--dir=/var/lib/rkt', 'run', '--net=none', 'img']), true);
    assert.equal(runTemplateForm(['--dir', '/d', 'run', 'img']), true);
    for (const argv of [
      ['--dir=rel', 'run', 'img'],
      ['--dir=/d/', 'run', 'img'],
      ['--dir=/d/../e', 'run', 'img'],
      ['--dir', 'rel', 'run', 'img'],
      ['--debug', 'run', 'img'],
      ['--dir=/d', '--debug', 'run', 'img'],
      ['prepare', 'img'],
      ['run', 'img', '--', 'two\nlines'],
    ])
      assert.equal(runTemplateForm(argv), false, argv.join(' '));
  });

  it('takes a whitelist of flags: --net=none, the apps and what the command line alone decides', () => {
    assert.equal(runTemplateArgsOk(args()), true);
    assert.equal(
      runTemplateArgsOk(
        args({
          apps: [app({ exec: '/bin/sh', args: ['-c', 'x'], name: 'n', environment: [['A', 'b']] }), app()],
          setEnv: [['K', 'v']],
          hostname: 'h',
          dns: ['1.1.1.1'],
          quiet: true,
          pullPolicy: 'never',
        }),
      ),
      true,
    );
    const refused: [string, Partial<PodArgs>][] = [
      ['the default network', { net: [] }],
      ['--net=host', { net: ['host'] }],
      ['a CNI network', { net: ['default'] }],
      ['--uuid-file-save', { uuidFileSave: '/tmp/u' }],
      ['--interactive', { interactive: true }],
      ['--inherit-env', { inheritEnv: true }],
      ['--set-env-file', { setEnvFile: [['K', 'v']] }],
      ['--mds-register', { mdsRegister: true }],
      ['--pull-policy=update', { pullPolicy: 'update' }],
      ['--volume', { volumes: [{ name: 'v', kind: 'empty' }] }],
      ['--mount', { mounts: [{ volume: 'v', path: '/v' }] }],
      ['--hosts-entry', { hostsEntries: ['host'] }],
      ['--port', { ports: ['http:8080'] }],
      ['--no-overlay', { noOverlay: true }],
      ['--private-users', { privateUsers: true }],
      ['--pod-manifest', { podManifest: '/tmp/m', apps: [] }],
      ['--stage1-name', { stage1: { name: 'x' } }],
      ['--engine', { engine: 'oci' }],
      ['--insecure-options', { insecureOptions: 'image' }],
      ['--ipc', { ipc: 'host' }],
      ['a global flag after the verb', { globals: { debug: 'true' } }],
      ['no app', { apps: [] }],
      ['a signature', { apps: [app({ signature: '/tmp/s.asc' })] }],
      ["an app's mount", { apps: [app({ mounts: [{ volume: 'v', path: '/v' }] })] }],
    ];
    for (const [what, more] of refused) assert.equal(runTemplateArgsOk(args(more)), false, what);
  });

  it('writes the argv one argument a line, and the stamp', () => {
    assert.equal(runTemplateArgvText(['run', '', 'a b', '-c']), 'run\n\na b\n-c\n');
    const stamp = runTemplateStamp({
      home: '/opt/rocket',
      dataDir: '/d',
      boot: 'B',
      uuid: UUID,
      env: { PATH: '/bin', RKT_STOP_TIMEOUT: '3' },
      trees: ['deps-sha512-1'],
      subst: ['etc/hosts', 'stage1/sup/pod.env'],
    });
    assert.equal(
      stamp,
      [
        'RKT_RUN_TEMPLATE=1',
        'HOME=/opt/rocket',
        'DIR=/d',
        'BOOT=B',
        'PATH=/bin',
        'RKT_OCI_RUNTIME=',
        'RKT_LOG_MAX_SIZE=',
        'RKT_STOP_TIMEOUT=3',
        'XDG_RUNTIME_DIR=',
        `UUID=${UUID}`,
        'NEED=/d/cas/tree/deps-sha512-1/rootfs',
        'SUB=etc/hosts',
        'SUB=stage1/sup/pod.env',
        '',
      ].join('\n'),
    );
  });
});

describe('run templates: writing one', () => {
  const bases: string[] = [];
  after(() => {
    for (const b of bases) rmSync(b, { recursive: true, force: true });
  });
  /** A data dir with a store database (an hour old) and a prepared pod holding UUID. */
  function world(podFiles: Record<string, string> = {}): { data: string; home: string; pod: string } {
    const base = mkdtempSync(join(tmpdir(), 'rocket-run-template-'));
    bases.push(base);
    const data = join(base, 'data');
    const home = join(base, 'home');
    mkdirSync(home);
    mkdirSync(join(data, 'cas', 'db'), { recursive: true });
    const db = join(data, 'cas', 'db', 'rocket.sqlite');
    writeFileSync(db, 'db');
    const old = new Date(Date.now() - 3600_000);
    utimesSync(db, old, old);
    mkdirSync(join(data, 'pods', 'run'), { recursive: true });
    const pod = join(data, 'pods', 'prepared', UUID);
    const files: Record<string, string> = {
      pod: '{"acKind":"PodManifest"}',
      'pod-created': '',
      'run-launcher': '123 456\n',
      'appsinfo/a/treeStoreID': 'deps-sha512-1',
      'etc/hosts': `127.0.1.1\trkt-${UUID}\n`,
      'stage1/sup/pod.env': `CGP=rkt-${UUID}\n`,
      'apps/a/config.json': `{"hostname":"rkt-${UUID}","path":"/d/pods/run/${UUID}/apps/a/rootfs"}`,
      ...podFiles,
    };
    for (const [f, text] of Object.entries(files)) {
      mkdirSync(join(pod, f, '..'), { recursive: true });
      writeFileSync(join(pod, f), text);
    }
    return { data, home, pod };
  }
  const argv = (data: string): string[] => [`--dir=${data}`, 'run', '--net=none', 'example.com/a'];
  const templates = (data: string): string[] =>
    existsSync(runTemplateDir(data)) ? readdirSync(runTemplateDir(data)) : [];
  /** writeRunTemplate of w's pod: for argv(w.data), with the store as it is now, by default. */
  const write = (
    w: { data: string; home: string; pod: string },
    more: { argv?: string[]; dbBefore?: string; env?: NodeJS.ProcessEnv } = {},
  ): boolean =>
    writeRunTemplate({
      dataDir: w.data,
      argv: more.argv ?? argv(w.data),
      uuid: UUID,
      podDir: w.pod,
      dbBefore: more.dbBefore ?? dbMtimes(w.data),
      env: more.env ?? { ROCKET_HOME: w.home, PATH: '/bin' },
    });

  it('copies the pod dir (but run-launcher and pod-created) with the argv and a stamp naming the files that hold the UUID', () => {
    const w = world();
    assert.equal(write(w), true);
    const [t] = templates(w.data);
    assert.match(t ?? '', /^t\.[0-9a-f]{16}\.[0-9a-f]{12}$/);
    const dir = join(runTemplateDir(w.data), t as string);
    assert.equal(readFileSync(join(dir, 'argv'), 'utf8'), runTemplateArgvText(argv(w.data)));
    const stamp = readFileSync(join(dir, 'stamp'), 'utf8').split('\n');
    assert.deepEqual(
      stamp.filter((l) => /^(UUID|NEED|SUB|DIR|HOME)=/.test(l)),
      [
        `HOME=${w.home}`,
        `DIR=${w.data}`,
        `UUID=${UUID}`,
        `NEED=${w.data}/cas/tree/deps-sha512-1/rootfs`,
        'SUB=apps/a/config.json',
        'SUB=etc/hosts',
        'SUB=stage1/sup/pod.env',
      ],
    );
    assert.equal(existsSync(join(dir, 'pod', 'run-launcher')), false);
    // The launcher makes it in each copy (and claims a spare copy by making it).
    assert.ok(existsSync(join(w.pod, 'pod-created')));
    assert.equal(existsSync(join(dir, 'pod', 'pod-created')), false);
    assert.equal(readFileSync(join(dir, 'pod', 'etc', 'hosts'), 'utf8'), `127.0.1.1\trkt-${UUID}\n`);
    // The same command line again: the new template replaces the old one.
    assert.equal(write(w), true);
    assert.equal(templates(w.data).length, 1);
    assert.notEqual(templates(w.data)[0], t);
  });

  it("copies the supervisor's FIFOs as FIFOs (Node's cpSync refuses them); refuses a symlink", () => {
    const w = world();
    for (const f of ['stage1/ctl', 'logs/a/stdout.fifo']) {
      mkdirSync(join(w.pod, f, '..'), { recursive: true });
      mknod(join(w.pod, f), S_IFIFO | 0o600, 0n);
    }
    const env = { ROCKET_HOME: w.home, PATH: '/bin' };
    const dbBefore = dbMtimes(w.data);
    const write = (): boolean =>
      writeRunTemplate({ dataDir: w.data, argv: argv(w.data), uuid: UUID, podDir: w.pod, dbBefore, env });
    assert.equal(write(), true);
    const dir = join(runTemplateDir(w.data), templates(w.data)[0] as string, 'pod');
    for (const f of ['stage1/ctl', 'logs/a/stdout.fifo']) assert.ok(lstatSync(join(dir, f)).isFIFO(), f);
    assert.doesNotMatch(readFileSync(join(dir, '..', 'stamp'), 'utf8'), /fifo|ctl/);
    symlinkSync('ready', join(w.pod, 'stage1', 'link'));
    rmSync(runTemplateDir(w.data), { recursive: true });
    assert.equal(write(), false);
    assert.deepEqual(templates(w.data), []);
  });

  it("keeps the pod's list summary valid in the copies the launcher makes (cp -a: a new inode)", () => {
    const w = world();
    writePodSummary(w.pod, { manifest: { acKind: 'PodManifest', acVersion: '0.8.11', apps: [] } as never });
    assert.notEqual(readPodSummary(w.pod), undefined);
    assert.equal(write(w), true);
    const [t] = templates(w.data);
    const copy = join(w.data, 'copy');
    execFileSync('cp', ['-a', join(runTemplateDir(w.data), t as string, 'pod'), copy]);
    assert.deepEqual(readPodSummary(copy)?.pod, { apps: [] });
    // A manifest written later (a rename of a new file) makes the copy's summary stale.
    writeFileSync(join(copy, 'pod.tmp'), '{"acKind":"PodManifest"}');
    renameSync(join(copy, 'pod.tmp'), join(copy, 'pod'));
    assert.equal(readPodSummary(copy), undefined);
  });

  it('writes none when the store changed, the UUID shows in another spelling, or the form is not plain', () => {
    const env = { ROCKET_HOME: '/nonexistent-home', PATH: '/bin' };
    const w = world();
    assert.equal(write(w, { env, dbBefore: 'rocket.sqlite:1' }), false, 'the store changed meanwhile');
    assert.equal(write(w, { env, argv: ['--debug', 'run', 'img'] }), false, 'a global flag');
    assert.equal(write(w, { env: { ...env, NOTIFY_SOCKET: '/run/n' } }), false, 'NOTIFY_SOCKET');
    assert.equal(write(w, { env: { PATH: '/bin' } }), false, 'no ROCKET_HOME');
    assert.deepEqual(
      templates(w.data).filter((n) => n !== '.'),
      [],
    );
    const short = world({ 'stage1/x': UUID.slice(0, 8) });
    assert.equal(write(short, { env }), false);
    assert.deepEqual(templates(short.data), []);
  });

  it('keeps a handful; gc removes the templates and copies no supervisor took', () => {
    const w = world();
    for (let i = 0; i < 10; i++) assert.ok(write(w, { argv: [...argv(w.data), `--exec=/bin/x${i}`] }));
    assert.equal(templates(w.data).length, 8);
    const root = runTemplateDir(w.data);
    mkdirSync(join(root, `s.${UUID}`));
    const old = join(root, 's.11111111-1111-4111-8111-111111111111');
    mkdirSync(old);
    const then = new Date(Date.now() - 3600_000);
    utimesSync(old, then, then);
    // A spare being made (a launcher's background maker): fresh, kept; old, a killed maker's.
    mkdirSync(join(root, `m.${UUID}`));
    const oldSpare = join(root, 'm.22222222-2222-4222-8222-222222222222');
    mkdirSync(oldSpare);
    utimesSync(oldSpare, then, then);
    assert.equal(clearRunTemplates(w.data), 10);
    // A fresh copy may be a launcher's on its way to the supervisor: kept.
    assert.deepEqual(templates(w.data).sort(), [`m.${UUID}`, `s.${UUID}`]);
  });
});
