/**
 * `rkt app sandbox|add|start|stop|rm|list|status` end to end as root through bin/rkt, with crun
 * and with runc: a sandbox with no app keeps running; two apps from two images share the pod's
 * network, IPC and UTS namespaces and an empty volume; one is stopped (it ignores SIGTERM: KILL
 * after the stop timeout) and removed while the other runs on; a third is added and started; the
 * listings are checked after every step; the pod stops; SIGKILLed supervisors; gc leaves nothing.
 */
import assert from 'node:assert/strict';
import { spawnSync, type ChildProcess } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { podCgroupDirs } from '../../../src/stage1/oci/engine.js';
import { which } from '../../../src/stage1/oci/runtime.js';
import {
  projectRoot,
  startCollected,
  waitFor,
  type Running,
  type RunResult,
  skipUnlessCI,
} from '../../helpers.js';
import { removeSuite, stopSuitePods } from '../pod-suite.js';
import { attachTestBody, mntVolumeTestBody, type AppWorld } from '../app-bodies.js';
import { buildBusyboxAci, podTestsMissing } from '../busybox-aci.js';

const rktBin = join(projectRoot, 'bin', 'rkt');
const skip = podTestsMissing;

const APPLETS = ['sh', 'cat', 'echo', 'sleep', 'readlink', 'hostname', 'ls'];
const children = new Set<ChildProcess>();

describe('rkt app (oci engine)', { skip: skipUnlessCI(skip, 'rkt app integration tests') }, () => {
  let work: string;
  let data: string;
  let first: string;
  let second: string;
  const podsSeen = new Set<string>();

  before(() => {
    work = mkdtempSync(join(tmpdir(), 'rocket-app-'));
    data = join(work, 'data');
    const aci = (name: string): string =>
      buildBusyboxAci(work, name, { applets: APPLETS, dirs: ['tmp', 'proc', 'sys', 'dev', 'shared'] });
    first = aci('first');
    second = aci('second');
  });

  after(async () => {
    const suite = { rktBin, data, work, pods: podsSeen, children, env };
    await stopSuitePods(suite, [[], ['--force']]);
    removeSuite(suite);
  });

  const env = { ...process.env, RKT_STOP_TIMEOUT: '1' };
  const rkt = (...args: string[]): Promise<RunResult> =>
    startCollected(rktBin, [`--dir=${data}`, '--insecure-options=image', ...args], { env, children }).done;
  const ok = async (...args: string[]): Promise<string> => {
    const r = await rkt(...args);
    assert.equal(r.code, 0, `rkt ${args.join(' ')}: ${r.stderr}`);
    return r.stdout;
  };
  const appList = async (uuid: string): Promise<string> => ok('app', 'list', '--no-legend', uuid);
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

  const sandbox = (engine: string, ...args: string[]): Promise<{ pod: Running; uuid: string }> =>
    sandboxStopTimeout('1', engine, ...args);
  /** `rkt app sandbox` with the pod's stop timeout (`RKT_STOP_TIMEOUT` of the sandbox command). */
  async function sandboxStopTimeout(
    stopTimeout: string,
    engine: string,
    ...args: string[]
  ): Promise<{ pod: Running; uuid: string }> {
    const uuidFile = join(work, `uuid-${Date.now()}-${Math.random()}`);
    const pod = startCollected(
      rktBin,
      [
        `--dir=${data}`,
        'app',
        'sandbox',
        `--stage1-name=${engine}`,
        '--net=none',
        `--uuid-file-save=${uuidFile}`,
        ...args,
      ],
      { env: { ...env, RKT_STOP_TIMEOUT: stopTimeout }, children },
    );
    await waitFor('the uuid file', () => existsSync(uuidFile) && readFileSync(uuidFile, 'utf8') !== '');
    const uuid = readFileSync(uuidFile, 'utf8').trim();
    podsSeen.add(uuid);
    await waitFor('the supervisor', () => existsSync(join(data, 'pods', 'run', uuid, 'stage1', 'ctl')));
    return { pod, uuid };
  }

  function assertNothingLeft(uuid: string, runtime: string): void {
    const mountinfo = readFileSync('/proc/self/mountinfo', 'utf8');
    assert.ok(!mountinfo.includes(uuid), `mounts of the pod left:\n${mountinfo}`);
    for (const state of ['run', 'exited-garbage', 'garbage'])
      assert.ok(!existsSync(join(data, 'pods', state, uuid)), `pod dir left in ${state}`);
    assert.deepEqual(podCgroupDirs(`rkt-${uuid}`), []);
    const list = spawnSync(runtime, ['list', '-q'], { encoding: 'utf8' });
    assert.ok(!list.stdout.includes(uuid), `${runtime} still knows the pod's containers`);
  }

  for (const [label, engine] of [
    ['crun', 'oci-crun'],
    ['runc', 'oci-runc'],
  ] as const) {
    describe(
      label,
      { skip: skipUnlessCI(which(label) === undefined ? `${label} is not installed` : false, label) },
      () => {
        it(
          'sandbox: add, start, share, stop, remove, add a third, stop the pod; gc leaves nothing',
          { timeout: 300_000 },
          async () => {
            // The pod's stop timeout (3600 s) is beyond this test's limit: each `app stop` and `stop`
            // must use its own RKT_STOP_TIMEOUT (1 s) for the writer, which ignores TERM, to end.
            const { pod, uuid } = await sandboxStopTimeout('3600', engine, '--volume=shared,kind=empty');
            const R = join(data, 'pods', 'run', uuid);
            // `status --wait` from now on: it answers only when the pod has exited (below).
            const waiting = startCollected(rktBin, [`--dir=${data}`, 'status', '--wait', uuid], {
              env,
              children,
            });
            // An empty sandbox runs.
            assert.equal((await podState(uuid))['state'], 'running');
            assert.equal(await appList(uuid), '');
            assert.equal(await ok('app', 'list', uuid), 'NAME\tSTATE\n', 'the legend, without --no-legend');
            assert.deepEqual(await manifestApps(uuid), []);

            // Two apps from two images, sharing the namespaces and the volume.
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
              // pid 1 without a TERM handler: only the KILL after the stop timeout ends it.
              `(${ns}) >/shared/w.tmp; mv /shared/w.tmp /shared/w; echo writer-up; while :; do sleep 0.05; done`,
            );
            assert.equal(await appList(uuid), 'writer\tcreated\n');
            assert.equal((await appState(uuid, 'writer'))['state'], 'created');
            assert.deepEqual(await manifestApps(uuid), ['writer']);
            const dup = await rkt('app', 'add', uuid, first, '--name=writer');
            assert.equal(dup.code, 254);
            assert.equal(
              dup.stderr
                .trim()
                .split('\n')
                .filter((l) => !l.includes('signature verification')).length,
              1,
            );
            assert.deepEqual(await manifestApps(uuid), ['writer'], 'a failed add changes nothing');

            await ok('app', 'start', uuid, '--app=writer');
            assert.equal(await appList(uuid), 'writer\trunning\n');
            const again = await rkt('app', 'start', uuid, '--app=writer');
            assert.equal(again.code, 254);
            assert.equal(again.stderr, 'app start: app "writer" has already been started\n');
            // An app the pod does not have: one line, 254, for every app verb; nothing changes.
            for (const verb of ['start', 'stop', 'rm', 'status']) {
              const r = await rkt('app', verb, uuid, '--app=nope');
              assert.equal(r.code, 254, `app ${verb}: ${r.stderr}`);
              assert.match(r.stderr, new RegExp(`^app ${verb}: [^\\n]*"nope"[^\\n]*\\n$`));
            }
            assert.equal(await appList(uuid), 'writer\trunning\n');
            assert.deepEqual(await manifestApps(uuid), ['writer']);
            // --format=json: rkt's fields; a running app has no finish time and no exit code.
            const listed = JSON.parse(await ok('app', 'list', uuid, '--format=json')) as Record<
              string,
              unknown
            >[];
            assert.deepEqual(
              listed.map((a) => [a['name'], a['state'], typeof a['created_at'], typeof a['started_at']]),
              [['writer', 'running', 'number', 'number']],
            );
            assert.equal(listed[0]?.['finished_at'], undefined);
            assert.equal(listed[0]?.['exit_code'], undefined);
            assert.match(String(listed[0]?.['image_id']), /^sha512-[0-9a-f]+$/);
            await waitFor(
              'the writer',
              () =>
                existsSync(join(R, 'logs', 'writer', 'stdout.log')) &&
                readFileSync(join(R, 'logs', 'writer', 'stdout.log'), 'utf8').includes('writer-up'),
            );
            assert.match(await ok('logs', '--app=writer', uuid), /writer-up/);
            assert.match(await ok('enter', '--app=writer', uuid, '/bin/cat', '/shared/w'), /^net:/);

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
            const [w, r] = await (async () => {
              await ok(
                'enter',
                '--app=reader',
                uuid,
                '/bin/sh',
                '-c',
                'while [ ! -e /shared/r ]; do sleep 0.05; done',
              );
              return [
                await ok('enter', '--app=reader', uuid, '/bin/cat', '/shared/w'),
                await ok('enter', '--app=reader', uuid, '/bin/cat', '/shared/r'),
              ];
            })();
            assert.equal(r, w, 'the same net, IPC and UTS namespaces and hostname');
            assert.equal(await ok('app', 'exec', '--app=reader', uuid, '/bin/cat', '/shared/r'), r);
            assert.match(w, new RegExp(`^rkt-${uuid}$`, 'm'));
            assert.match(await ok('list', '--no-legend'), new RegExp(`${uuid.slice(0, 8)}\\s+writer`));

            // Stop the writer (it ignores SIGTERM); the reader runs on.
            await ok('app', 'stop', uuid, '--app=writer');
            assert.equal(await appList(uuid), 'writer\texited\nreader\trunning\n');
            const ws = await appState(uuid, 'writer');
            assert.equal(ws['exit_code'], 137);
            // Its times, in nanoseconds since the epoch, in order: added, started, ended.
            const [created, started, finished] = ['created_at', 'started_at', 'finished_at'].map((k) =>
              Number(ws[k]),
            ) as [number, number, number];
            assert.ok(created > 1e18 && created <= started && started <= finished, JSON.stringify(ws));
            assert.ok(finished <= Date.now() * 1e6 + 1e9, JSON.stringify(ws));
            // The table form names the same times as RFC 3339.
            const table = await ok('app', 'status', uuid, '--app=writer');
            assert.match(table, /^name=writer\nstate=exited\nimage_id=sha512-[0-9a-f]+\n/);
            assert.match(table, new RegExp(`^started_at=${new Date(started / 1e6).toISOString()}$`, 'm'));
            assert.match(table, /^exit_code=137$/m);
            assert.equal((await podState(uuid))['state'], 'running');

            // Remove it: rootfs, overlay, container and manifest entry gone.
            await ok('app', 'rm', uuid, '--app=writer');
            assert.equal(await appList(uuid), 'reader\trunning\n');
            assert.deepEqual(await manifestApps(uuid), ['reader']);
            assert.ok(!existsSync(join(R, 'apps', 'writer')) && !existsSync(join(R, 'overlay', 'writer')));
            assert.ok(!readFileSync('/proc/self/mountinfo', 'utf8').includes(join(R, 'apps', 'writer')));
            assert.ok(
              !spawnSync(label, ['list', '-q'], { encoding: 'utf8' }).stdout.includes(`rkt-${uuid}-writer`),
            );
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

            // Removing a running app stops it first (it ends on TERM); the other runs on.
            await ok('app', 'rm', uuid, '--app=reader');
            assert.equal(await appList(uuid), 'writer\trunning\n');
            assert.deepEqual(await manifestApps(uuid), ['writer']);
            assert.ok(!existsSync(join(R, 'apps', 'reader')));

            // Stop the pod; the `status --wait` started with it answers once it has exited.
            assert.equal(await ok('stop', uuid), `"${uuid}"\n`);
            const res = await pod.done;
            assert.equal(res.code, 0, res.stderr);
            const st = await podState(uuid);
            assert.equal(st['state'], 'exited');
            const waited = await waiting.done;
            assert.equal(waited.code, 0, waited.stderr);
            assert.match(waited.stdout, /^state=exited$/m);
            assert.match(waited.stdout, /^exited=true$/m);
            await ok('gc', '--grace-period=0s');
            assertNothingLeft(uuid, label);
          },
        );

        it('stop --force ends a sandbox: its running app and its supervisor; gc leaves nothing', async () => {
          const { pod, uuid } = await sandbox(engine);
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
          assert.equal(await ok('stop', '--force', uuid), `"${uuid}"\n`);
          // The supervisor outlived its KILLed apps, waiting for a stop that never came.
          await waitFor(
            'the sandbox to end',
            () => pod.child.exitCode !== null || pod.child.signalCode !== null,
          );
          await pod.done;
          assert.equal((await podState(uuid))['state'], 'exited');
          await ok('gc', '--grace-period=0s');
          assertNothingLeft(uuid, label);
        });

        it('app stop right after app start: a TERM that came before the app set its handler is sent again once it has one', async () => {
          const { pod, uuid } = await sandbox(engine);
          // The app is its container's init: the kernel drops a TERM it has no handler for. It sets
          // one after half a second; the stop comes before (or, on a slow machine, after: then the
          // first TERM is handled, and the result is the same). Without the second TERM the app
          // would run on until the stop timeout's KILL (137).
          await ok(
            'app',
            'add',
            uuid,
            first,
            '--name=late',
            '--exec',
            '/bin/sh',
            '--',
            '-c',
            'sleep 0.5; trap "exit 7" TERM; while :; do sleep 0.05; done',
          );
          await ok('app', 'start', uuid, '--app=late');
          await ok('app', 'stop', uuid, '--app=late');
          assert.equal((await appState(uuid, 'late'))['exit_code'], 7);
          assert.equal(await ok('stop', uuid), `"${uuid}"\n`);
          await pod.done;
          await ok('gc', '--grace-period=0s');
          assertNothingLeft(uuid, label);
        });

        /** What the shared test bodies (app-bodies.ts) need, for a sandbox of this runtime. */
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
          sandbox: () => sandbox(engine),
          nothingLeft: (uuid) => Promise.resolve(assertNothingLeft(uuid, label)),
        });

        it('attach: a line typed into a tty app is answered; a stream app reads stdin, writes stdout and stderr', () =>
          attachTestBody(world()));

        it('an app added to a running sandbox gets a host volume (--mnt-volume): reads the host file, writes one the host sees; nothing left', () =>
          mntVolumeTestBody(world()));

        it('a SIGKILLed supervisor: with no app the pod has exited; with apps it runs until they end', async () => {
          const empty = await sandbox(engine);
          process.kill(empty.pod.child.pid as number, 'SIGKILL');
          await empty.pod.done;
          assert.equal((await podState(empty.uuid))['state'], 'exited');
          // Adding to it now fails in one line, and changes nothing.
          const late = await rkt('app', 'add', empty.uuid, first, '--name=late');
          assert.equal(late.code, 254);
          assert.match(late.stderr, /^app add: pod \S+ is not running$/m);
          assert.deepEqual(await manifestApps(empty.uuid), []);
          await ok('gc', '--grace-period=0s');
          assertNothingLeft(empty.uuid, label);

          const flag = join(work, `go-${label}`);
          mkdirSync(flag);
          const { pod, uuid } = await sandbox(engine, `--volume=flag,kind=host,source=${flag}`);
          await ok(
            'app',
            'add',
            uuid,
            first,
            '--name=waiter',
            '--mount',
            'volume=flag,target=/shared',
            '--exec',
            '/bin/sh',
            '--',
            '-c',
            ': >/shared/started; while [ ! -e /shared/go ]; do sleep 0.05; done; exit 4',
          );
          await ok('app', 'start', uuid, '--app=waiter');
          await waitFor('the app', () => existsSync(join(flag, 'started')));
          process.kill(pod.child.pid as number, 'SIGKILL');
          await pod.exited;
          assert.equal((await podState(uuid))['state'], 'running');
          writeFileSync(join(flag, 'go'), '');
          await waitFor('the pod to exit', () => {
            const r = spawnSync(rktBin, [`--dir=${data}`, 'status', uuid], { encoding: 'utf8' });
            return /^state=exited$/m.test(r.stdout);
          });
          assert.equal((await podState(uuid))['app-waiter'], '4');
          await pod.done;
          await ok('gc', '--grace-period=0s');
          assertNothingLeft(uuid, label);
        });
      },
    );
  }
});
