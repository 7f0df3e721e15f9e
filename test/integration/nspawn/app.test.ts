/**
 * `rkt app sandbox|add|start|stop|rm|list|status|exec` on the nspawn engine, as root through
 * bin/rkt: a sandbox under systemd-nspawn (the supervisor its init) with no app keeps running; two
 * apps from two images, chrooted, share the container's network, IPC and UTS namespaces and an empty
 * volume; `logs --app`, `enter --app`, `app exec`; one is stopped (it ignores SIGTERM: KILL after
 * the stop timeout) and removed while the other runs on; a third is added and started; the pod
 * stops; a sandbox whose supervisor is SIGKILLed has exited and gc leaves nothing; `rkt attach` to
 * a tty app and to a stream app.
 */
import assert from 'node:assert/strict';
import { type ChildProcess } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, readdirSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { podInitPid } from '../../../src/stage1/nspawn/engine.js';
import { podCgroupDirs } from '../../../src/stage1/oci/engine.js';
import { which } from '../../../src/stage1/oci/runtime.js';
import {
  projectRoot,
  skipUnlessCI,
  startCollected,
  waitFor,
  type RunResult,
  type Running,
} from '../../helpers.js';
import { removeSuite } from '../pod-suite.js';
import { attachTestBody, mntVolumeTestBody, type AppWorld } from '../app-bodies.js';
import { buildBusyboxAci, podTestsMissing } from '../busybox-aci.js';

const rktBin = join(projectRoot, 'bin', 'rkt');
const skip =
  podTestsMissing ||
  (which('systemd-nspawn') === undefined ? 'needs systemd-nspawn (systemd-container)' : false);

const APPLETS = ['sh', 'cat', 'echo', 'sleep', 'readlink', 'hostname', 'ls', 'mv'];
const children = new Set<ChildProcess>();

/** Host processes whose command line names the pod (its plan, nspawn, supervisor, apps). */
function podProcesses(uuid: string): string[] {
  const out: string[] = [];
  for (const e of readdirSync('/proc')) {
    if (!/^\d+$/.test(e)) continue;
    try {
      const cmd = readFileSync(`/proc/${e}/cmdline`, 'utf8').split('\0').join(' ');
      if (cmd.includes(uuid)) out.push(`${e} ${cmd}`);
    } catch {
      // gone
    }
  }
  return out;
}

describe('rkt app (nspawn engine)', { skip: skipUnlessCI(skip, 'rkt app nspawn integration tests') }, () => {
  let work: string;
  let data: string;
  let first: string;
  let second: string;
  const podsSeen = new Set<string>();

  before(() => {
    // Short: the attach endpoints' unix socket paths (under the pod dir) hold at most 107 bytes.
    work = mkdtempSync(join(tmpdir(), 'rocket-nsapp-'));
    data = join(work, 'data');
    const aci = (name: string): string =>
      buildBusyboxAci(work, name, { applets: APPLETS, dirs: ['tmp', 'proc', 'sys', 'dev', 'shared'] });
    first = aci('first');
    second = aci('second');
  });

  after(async () => {
    // Pods a failed test left running: their container's init KILLed, then waited for.
    for (const uuid of podsSeen) {
      const init = podInitPid({ uuid, path: join(data, 'pods', 'run', uuid) });
      if (init !== undefined) {
        process.kill(init, 'SIGKILL');
        await waitFor(`pod ${uuid} to end`, () => !existsSync(`/proc/${init}`)).catch(() => undefined);
      }
    }
    removeSuite({ rktBin, data, work, pods: podsSeen, children, env });
  });

  const env = { ...process.env, RKT_STOP_TIMEOUT: '1' };
  const rkt = (...args: string[]): Promise<RunResult> =>
    startCollected(rktBin, [`--dir=${data}`, '--insecure-options=image', ...args], { env, children }).done;
  const ok = async (...args: string[]): Promise<string> => {
    const r = await rkt(...args);
    assert.equal(r.code, 0, `rkt ${args.join(' ')}: ${r.stderr}`);
    return r.stdout;
  };
  const appList = (uuid: string): Promise<string> => ok('app', 'list', '--no-legend', uuid);
  const appState = async (uuid: string, app: string): Promise<Record<string, unknown>> =>
    JSON.parse(await ok('app', 'status', uuid, `--app=${app}`, '--format=json')) as Record<string, unknown>;
  async function podState(uuid: string): Promise<Record<string, string>> {
    const out = await ok('status', uuid);
    return Object.fromEntries(
      out
        .trim()
        .split('\n')
        .map((l) => [l.slice(0, l.indexOf('=')), l.slice(l.indexOf('=') + 1)]),
    );
  }
  const manifestApps = async (uuid: string): Promise<string[]> =>
    (JSON.parse(await ok('cat-manifest', uuid)) as { apps: { name: string }[] }).apps.map((a) => a.name);

  async function sandbox(stage1: string, ...args: string[]): Promise<{ pod: Running; uuid: string }> {
    const uuidFile = join(work, `uuid-${podsSeen.size}`);
    const pod = startCollected(
      rktBin,
      [`--dir=${data}`, 'app', 'sandbox', stage1, '--net=none', `--uuid-file-save=${uuidFile}`, ...args],
      { env, children },
    );
    await waitFor('the uuid file', () => existsSync(uuidFile) && readFileSync(uuidFile, 'utf8') !== '');
    const uuid = readFileSync(uuidFile, 'utf8').trim();
    podsSeen.add(uuid);
    // The supervisor, the container's init, made its FIFO in the pod dir (bound at the same path).
    await waitFor('the supervisor', () => existsSync(join(data, 'pods', 'run', uuid, 'stage1', 'ctl')));
    return { pod, uuid };
  }

  /** What the shared test bodies (app-bodies.ts) need, for a sandbox of this engine. */
  const world = (): AppWorld => ({
    rktBin,
    work,
    data,
    env,
    children,
    first,
    second,
    rkt,
    ok,
    appState,
    sandbox: () => sandbox('--engine=nspawn'),
    nothingLeft: assertNothingLeft,
  });

  async function assertNothingLeft(uuid: string): Promise<void> {
    await ok('gc', '--grace-period=0s');
    const mountinfo = readFileSync('/proc/self/mountinfo', 'utf8');
    assert.ok(!mountinfo.includes(uuid), `mounts of the pod left:\n${mountinfo}`);
    for (const state of ['run', 'exited-garbage', 'garbage'])
      assert.ok(!existsSync(join(data, 'pods', state, uuid)), `pod dir left in ${state}`);
    assert.deepEqual(podCgroupDirs(`rkt-${uuid}`), []);
    assert.deepEqual(podProcesses(uuid), []);
  }

  it('sandbox: add two apps, start, share, logs, enter, exec, stop one, remove it, add a third, stop; gc leaves nothing', async () => {
    const { pod, uuid } = await sandbox('--engine=nspawn', '--volume=shared,kind=empty');
    const R = join(data, 'pods', 'run', uuid);
    assert.equal((await podState(uuid))['state'], 'running');
    assert.equal(await appList(uuid), '');
    assert.deepEqual(await manifestApps(uuid), []);
    const engine = (): { engine: string; apps: { name: string }[] } =>
      JSON.parse(readFileSync(join(R, 'stage1', 'engine.json'), 'utf8')) as {
        engine: string;
        apps: { name: string }[];
      };
    assert.equal(engine().engine, 'nspawn');

    const ns = 'for n in net ipc uts; do readlink /proc/self/ns/$n; done; hostname';
    await ok(
      'app',
      'add',
      uuid,
      first,
      '--name=writer',
      '--mount',
      'volume=shared,target=/shared',
      '--exec',
      '/bin/sh',
      '--',
      '-c',
      // Ignores SIGTERM: only the KILL after the stop timeout ends it.
      `trap "" TERM; (${ns}) >/shared/w.tmp; mv /shared/w.tmp /shared/w; echo writer-up; while :; do sleep 0.05; done`,
    );
    assert.equal(await appList(uuid), 'writer\tcreated\n');
    assert.equal((await appState(uuid, 'writer'))['state'], 'created');
    assert.deepEqual(await manifestApps(uuid), ['writer']);
    assert.deepEqual(
      engine().apps.map((a) => a.name),
      ['writer'],
    );
    const dup = await rkt('app', 'add', uuid, first, '--name=writer');
    assert.equal(dup.code, 254);
    assert.deepEqual(await manifestApps(uuid), ['writer'], 'a failed add changes nothing');

    await ok('app', 'start', uuid, '--app=writer');
    assert.equal(await appList(uuid), 'writer\trunning\n');
    assert.equal((await rkt('app', 'start', uuid, '--app=writer')).code, 254);
    await waitFor(
      'the writer',
      () =>
        existsSync(join(R, 'logs', 'writer', 'stdout.log')) &&
        readFileSync(join(R, 'logs', 'writer', 'stdout.log'), 'utf8').includes('writer-up'),
    );
    assert.match(await ok('logs', '--app=writer', uuid), /writer-up/);
    assert.match(await ok('enter', '--app=writer', uuid, '/bin/cat', '/shared/w'), /^net:/);
    // Chrooted: the image's root, not the stage1 tree.
    const root = await ok('enter', '--app=writer', uuid, '/bin/ls', '/');
    assert.ok(!/^(opt|rkt)$/m.test(root), root);

    await ok(
      'app',
      'add',
      uuid,
      second,
      '--name=reader',
      '--mount',
      'volume=shared,target=/shared',
      '--exec',
      '/bin/sh',
      '--',
      '-c',
      `trap "exit 0" TERM; while [ ! -e /shared/w ]; do sleep 0.05; done; (${ns}) >/shared/r.tmp; mv /shared/r.tmp /shared/r; echo reader-up; while :; do sleep 0.05; done`,
    );
    await ok('app', 'start', uuid, '--app=reader');
    assert.equal(await appList(uuid), 'writer\trunning\nreader\trunning\n');
    await ok('enter', '--app=reader', uuid, '/bin/sh', '-c', 'while [ ! -e /shared/r ]; do sleep 0.05; done');
    const w = await ok('enter', '--app=reader', uuid, '/bin/cat', '/shared/w');
    const r = await ok('enter', '--app=reader', uuid, '/bin/cat', '/shared/r');
    assert.equal(r, w, 'the same net, IPC and UTS namespaces and hostname');
    assert.match(w, new RegExp(`^rkt-${uuid}$`, 'm'));
    assert.equal(await ok('app', 'exec', '--app=reader', uuid, '/bin/cat', '/shared/r'), r);
    assert.match(await ok('list', '--no-legend'), new RegExp(`${uuid.slice(0, 8)}\\s+writer`));

    // Stop the writer (it ignores SIGTERM); the reader runs on.
    await ok('app', 'stop', uuid, '--app=writer');
    assert.equal(await appList(uuid), 'writer\texited\nreader\trunning\n');
    assert.equal((await appState(uuid, 'writer'))['exit_code'], 137);
    assert.equal((await podState(uuid))['state'], 'running');

    // Remove it: its rootfs, overlay, launch scripts, settings and manifest entry gone.
    await ok('app', 'rm', uuid, '--app=writer');
    assert.equal(await appList(uuid), 'reader\trunning\n');
    assert.deepEqual(await manifestApps(uuid), ['reader']);
    assert.deepEqual(
      engine().apps.map((a) => a.name),
      ['reader'],
    );
    for (const d of [
      join(R, 'apps', 'writer'),
      join(R, 'overlay', 'writer'),
      join(R, 'stage1', 'rootfs', 'opt', 'stage2', 'writer'),
      join(R, 'stage1', 'sup', 'app', 'writer.env'),
    ])
      assert.ok(!existsSync(d), `${d} left`);
    assert.equal((await rkt('app', 'status', uuid, '--app=writer')).code, 254);

    // A third app, added and started afterwards, with the writer's name.
    await ok(
      'app',
      'add',
      uuid,
      first,
      '--name=writer',
      '--exec',
      '/bin/sh',
      '--',
      '-c',
      'trap "exit 0" TERM; echo third-up; while :; do sleep 0.05; done',
    );
    await ok('app', 'start', uuid, '--app=writer');
    assert.equal(await appList(uuid), 'reader\trunning\nwriter\trunning\n');
    await waitFor('the third app', () =>
      readFileSync(join(R, 'logs', 'writer', 'stdout.log'), 'utf8').includes('third-up'),
    );

    assert.equal(await ok('stop', uuid), `"${uuid}"\n`);
    const res = await pod.done;
    assert.equal(res.code, 0, res.stderr);
    assert.equal((await podState(uuid))['state'], 'exited');
    await assertNothingLeft(uuid);
  });

  it('an app added to a running sandbox gets a host volume (--mnt-volume): reads the host file, writes one the host sees; nothing left', () =>
    mntVolumeTestBody(world()));

  it('stage1-coreos by name; the supervisor SIGKILLed with an app running: the pod has exited, app start is refused, gc leaves nothing', async () => {
    const { pod, uuid } = await sandbox('--stage1-name=coreos.com/rkt/stage1-coreos:1.30.0');
    await ok(
      'app',
      'add',
      uuid,
      first,
      '--name=busy',
      '--exec',
      '/bin/sh',
      '--',
      '-c',
      'while :; do sleep 0.05; done',
    );
    await ok('app', 'start', uuid, '--app=busy');
    assert.equal(await appList(uuid), 'busy\trunning\n');
    const init = podInitPid({ uuid, path: join(data, 'pods', 'run', uuid) });
    assert.ok(init !== undefined, 'the container init');
    process.kill(init, 'SIGKILL');
    await pod.done;
    assert.equal((await podState(uuid))['state'], 'exited');
    const late = await rkt('app', 'start', uuid, '--app=busy');
    assert.equal(late.code, 254);
    assert.match(late.stderr, /^app start: pod \S+ is not running$/m);
    await assertNothingLeft(uuid);
  });

  it('attach: a line typed into a tty app is answered; a stream app reads stdin, writes stdout and stderr', () =>
    attachTestBody(world()));
});
