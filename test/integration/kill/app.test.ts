/**
 * The pod supervisor SIGKILLed in the middle of `rkt app add` and of `rkt app start`, with crun
 * and with runc. Stage0 stops at a named step (the `RKT_TEST_PAUSE=STEP:FIFO` hook of
 * src/cli/rkt/pod/app.ts) until the test writes to the FIFO; the test knows the step is reached
 * when its open of the FIFO for writing returns, kills the supervisor there, and lets stage0 go on.
 * Then `status`, `app list`, `app status` and `cat-manifest` must read the pod right (exited, the
 * app created and never started), a later `app start` fails in one line, and `gc` must leave no
 * mount, cgroup, namespace file, runtime state dir or process of the pod. Every command here
 * carries a global flag (`--insecure-options`), so `app start` runs in Node (the launcher's
 * Node-free path, src/stage1/oci/fast.sh, takes only `--dir`), where the pause hook is.
 */
import assert from 'node:assert/strict';
import { spawnSync, type ChildProcess } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, readdirSync, rmSync } from 'node:fs';
import { open } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { unmountUnder } from '../../../src/pod/index.js';
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
import { buildBusyboxAci, podTestsMissing } from '../busybox-aci.js';

const rktBin = join(projectRoot, 'bin', 'rkt');
const children = new Set<ChildProcess>();

/** Processes whose command line names the pod (supervisor, app subshells, loggers, runtime monitors). */
function podProcesses(uuid: string): string[] {
  const out: string[] = [];
  for (const pid of readdirSync('/proc')) {
    if (!/^\d+$/.test(pid)) continue;
    try {
      const cmdline = readFileSync(`/proc/${pid}/cmdline`, 'utf8').replace(/\0/g, ' ');
      if (cmdline.includes(uuid)) out.push(`${pid}: ${cmdline}`);
    } catch {
      // gone
    }
  }
  return out;
}

describe(
  'supervisor SIGKILLed in the middle of app add and app start',
  { skip: skipUnlessCI(podTestsMissing) },
  () => {
    let work: string;
    let data: string;
    let image: string;
    const podsSeen = new Set<string>();

    before(() => {
      work = mkdtempSync(join(tmpdir(), 'rocket-kill-app-'));
      data = join(work, 'data');
      image = buildBusyboxAci(work, 'killapp', {
        applets: ['sh', 'sleep'],
        dirs: ['tmp', 'proc', 'sys', 'dev'],
      });
    });

    after(() => {
      for (const uuid of podsSeen)
        for (const force of [[], ['--force']])
          spawnSync(rktBin, [`--dir=${data}`, 'stop', ...force, uuid], { stdio: 'ignore' });
      for (const c of children) {
        try {
          if (c.pid !== undefined) process.kill(c.pid, 'SIGKILL');
        } catch {
          // gone
        }
      }
      spawnSync(rktBin, [`--dir=${data}`, 'gc', '--grace-period=0s', '--expire-prepared=0s'], {
        stdio: 'ignore',
      });
      unmountUnder(work);
      for (const uuid of podsSeen) for (const d of podCgroupDirs(`rkt-${uuid}`)) spawnSync('rmdir', [d]);
      rmSync(work, { recursive: true, force: true });
    });

    const start = (env: NodeJS.ProcessEnv, ...args: string[]): Running =>
      startCollected(rktBin, [`--dir=${data}`, '--insecure-options=image', ...args], { env, children });
    const rkt = (...args: string[]): Promise<RunResult> => start(process.env, ...args).done;
    const ok = async (...args: string[]): Promise<string> => {
      const r = await rkt(...args);
      assert.equal(r.code, 0, `rkt ${args.join(' ')}: ${r.stderr}`);
      return r.stdout;
    };

    async function sandbox(engine: string): Promise<{ pod: Running; uuid: string }> {
      const uuidFile = join(work, `uuid-${podsSeen.size}`);
      const pod = start(
        process.env,
        'app',
        'sandbox',
        `--stage1-name=${engine}`,
        '--net=none',
        `--uuid-file-save=${uuidFile}`,
      );
      await waitFor('the uuid file', () => existsSync(uuidFile) && readFileSync(uuidFile, 'utf8') !== '');
      const uuid = readFileSync(uuidFile, 'utf8').trim();
      podsSeen.add(uuid);
      await waitFor('the supervisor', () => existsSync(join(data, 'pods', 'run', uuid, 'stage1', 'ctl')));
      return { pod, uuid };
    }

    /**
     * Runs `rkt ARGS` paused at `step`, SIGKILLs the supervisor there, lets the command go on, and
     * returns its result.
     */
    async function killAt(step: string, supervisor: Running, ...args: string[]): Promise<RunResult> {
      const fifo = join(work, `pause-${step.replace(':', '-')}-${podsSeen.size}`);
      assert.equal(spawnSync('mkfifo', [fifo]).status, 0);
      const cmd = start({ ...process.env, RKT_TEST_PAUSE: `${step}:${fifo}` }, ...args);
      // The open returns once the command opened the FIFO to read, i.e. reached the step (it then
      // waits for us, so it cannot end meanwhile). If it ends first, a reader of our own lets the
      // open return, and the test fails.
      let released = false;
      let endedEarly = false;
      void cmd.done.then(async () => {
        if (released) return;
        endedEarly = true;
        await (await open(fifo, 'r+')).close();
      });
      const writer = await open(fifo, 'w');
      assert.ok(!endedEarly, `the command ended before ${step}: ${cmd.stderr()}`);
      process.kill(supervisor.child.pid as number, 'SIGKILL');
      await supervisor.exited;
      released = true;
      await writer.write('go\n');
      await writer.close();
      return cmd.done;
    }

    async function assertCreatedInExitedPod(uuid: string, app: string): Promise<void> {
      assert.match(await ok('status', uuid), /^state=exited$/m);
      assert.equal(await ok('app', 'list', '--no-legend', uuid), `${app}\tcreated\n`);
      const st = JSON.parse(await ok('app', 'status', uuid, `--app=${app}`, '--format=json')) as {
        state: string;
        started_at?: number;
      };
      assert.equal(st.state, 'created');
      assert.equal(st.started_at, undefined);
      const manifest = JSON.parse(await ok('cat-manifest', uuid)) as { apps: { name: string }[] };
      assert.deepEqual(
        manifest.apps.map((a) => a.name),
        [app],
      );
      // Starting it now fails in one line, as the pod is gone.
      const late = await rkt('app', 'start', uuid, `--app=${app}`);
      assert.equal(late.code, 254);
      assert.equal(late.stderr, `app start: pod ${uuid} is not running\n`);
    }

    function assertNothingLeft(uuid: string, runtime: string): void {
      const mountinfo = readFileSync('/proc/self/mountinfo', 'utf8');
      assert.ok(
        !mountinfo.includes(uuid),
        `mounts of the pod left (overlays, namespace files):\n${mountinfo}`,
      );
      for (const state of ['prepared', 'run', 'exited-garbage', 'garbage'])
        assert.ok(!existsSync(join(data, 'pods', state, uuid)), `pod dir left in ${state}`);
      assert.deepEqual(podCgroupDirs(`rkt-${uuid}`), []);
      const list = spawnSync(runtime, ['list', '-q'], { encoding: 'utf8' });
      assert.ok(!list.stdout.includes(uuid), `${runtime} still knows the pod's containers`);
      for (const root of ['/run/crun', '/run/runc'])
        for (const n of existsSync(root) ? readdirSync(root) : [])
          assert.ok(!n.includes(uuid), `runtime state left: ${root}/${n}`);
      assert.deepEqual(podProcesses(uuid), []);
    }

    for (const [label, engine] of [
      ['crun', 'oci-crun'],
      ['runc', 'oci-runc'],
    ] as const) {
      describe(
        label,
        { skip: skipUnlessCI(which(label) === undefined ? `${label} is not installed` : false, label) },
        () => {
          for (const step of ['app-add:manifest', 'app-add:engine'])
            it(`killed at ${step}: the add completes, the pod reads exited with the app created; gc leaves nothing`, async () => {
              const { pod, uuid } = await sandbox(engine);
              const r = await killAt(
                step,
                pod,
                'app',
                'add',
                uuid,
                image,
                '--name=late',
                '--exec=/bin/sleep',
                '--',
                '600',
              );
              assert.equal(r.code, 0, r.stderr);
              await pod.done;
              await assertCreatedInExitedPod(uuid, 'late');
              await ok('gc', '--grace-period=0s');
              assertNothingLeft(uuid, label);
            });

          it('killed at app-start:send: the start fails in one line, nothing started; gc leaves nothing', async () => {
            const { pod, uuid } = await sandbox(engine);
            await ok('app', 'add', uuid, image, '--name=late', '--exec=/bin/sleep', '--', '600');
            const r = await killAt('app-start:send', pod, 'app', 'start', uuid, '--app=late');
            assert.equal(r.code, 254);
            assert.equal(r.stderr, `app start: pod ${uuid}: its supervisor is not running\n`);
            await pod.done;
            await assertCreatedInExitedPod(uuid, 'late');
            await ok('gc', '--grace-period=0s');
            assertNothingLeft(uuid, label);
          });
        },
      );
    }
  },
);
