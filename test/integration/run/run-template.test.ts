/**
 * `rkt run --net=none` answered by bin/rkt from a run template (src/pod/run-template.ts, and
 * fast_run_template in src/stage1/oci/fast.sh), as root through bin/rkt. Node is kept from running
 * by NODE_OPTIONS=--bogus (node refuses to start and exits 9): a pod that runs proves that Node did
 * not, and a 9 that the launcher left the command to Node. The first run of a command line goes
 * through Node and writes the template; the same command line then runs without Node, with a new
 * UUID, and gives what Node's run gives.
 */
import assert from 'node:assert/strict';
import { spawnSync, type ChildProcess } from 'node:child_process';
import {
  existsSync,
  mkdtempSync,
  readdirSync,
  readFileSync,
  lstatSync,
  rmSync,
  statSync,
  utimesSync,
  writeFileSync,
} from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { runTemplateDir } from '../../../src/pod/run-template.js';
import { podCgroupDirs } from '../../../src/stage1/oci/engine.js';
import { projectRoot, skipUnlessCI, startCollected, waitFor, type RunResult } from '../../helpers.js';
import { buildBusyboxAci, podTestsMissing } from '../busybox-aci.js';
import { removeSuite, stopSuitePods } from '../pod-suite.js';

const rktBin = join(projectRoot, 'bin', 'rkt');
const children = new Set<ChildProcess>();

describe(
  'rkt run from a run template, without Node',
  { skip: skipUnlessCI(podTestsMissing, 'run template tests') },
  () => {
    let work: string;
    let data: string;
    let other: string;
    const podsSeen = new Set<string>();

    const env: NodeJS.ProcessEnv = { ...process.env, RKT_STOP_TIMEOUT: '1' };
    for (const k of ['NOTIFY_SOCKET', 'LISTEN_FDS', 'LISTEN_PID', 'LISTEN_FDNAMES', 'RKT_DEBUG_ENGINE'])
      delete env[k];
    const noNode = { ...env, NODE_OPTIONS: '--bogus' };
    const rkt = (args: readonly string[], e: NodeJS.ProcessEnv = env): Promise<RunResult> =>
      startCollected(rktBin, args, { env: e, children }).done;
    const ok = async (...args: string[]): Promise<string> => {
      const r = await rkt([`--dir=${data}`, ...args]);
      assert.equal(r.code, 0, `rkt ${args.join(' ')}: ${r.stderr}`);
      return r.stdout;
    };
    const runPods = (): string[] =>
      existsSync(join(data, 'pods', 'run')) ? readdirSync(join(data, 'pods', 'run')) : [];
    /** `rkt [--dir=DATA] run --net=none IMAGE --exec=/bin/sh -- -c SCRIPT`: its result and new pod. */
    const run = async (
      script: string,
      e: NodeJS.ProcessEnv = env,
    ): Promise<RunResult & { uuid?: string }> => {
      const before = new Set(runPods());
      const r = await rkt(
        [`--dir=${data}`, 'run', '--net=none', 'example.com/tpl', '--exec=/bin/sh', '--', '-c', script],
        e,
      );
      const made = runPods().filter((u) => !before.has(u));
      for (const u of made) podsSeen.add(u);
      assert.ok(made.length <= 1, made.join(' '));
      return made[0] === undefined ? r : { ...r, uuid: made[0] };
    };
    /** `rkt status` without the lines that differ between two pods (times, pid). */
    const status = async (uuid: string): Promise<string[]> =>
      (await ok('status', uuid)).split('\n').filter((l) => l !== '' && !/^(created|started|pid)=/.test(l));
    /** The UUIDs of the spare copies in the templates that no launcher has claimed. */
    const spares = (): string[] =>
      templates().flatMap((t) =>
        readdirSync(join(runTemplateDir(data), t))
          .filter((n) => n.startsWith('spare.'))
          .filter((n) => !existsSync(join(runTemplateDir(data), t, n, 'pod-created')))
          .map((n) => n.slice('spare.'.length)),
      );
    const templates = (): string[] => {
      try {
        return readdirSync(runTemplateDir(data)).filter((n) => n.startsWith('t.'));
      } catch {
        return [];
      }
    };

    before(async () => {
      work = mkdtempSync(join(tmpdir(), 'rocket-run-template-'));
      data = join(work, 'data');
      const image = buildBusyboxAci(work, 'tpl', {
        applets: ['sh', 'sleep', 'true', 'echo', 'hostname'],
        dirs: ['tmp', 'proc', 'sys', 'dev'],
      });
      other = buildBusyboxAci(work, 'tplother', { applets: ['true'] });
      await ok('--insecure-options=image', 'fetch', image);
    });

    after(async () => {
      for (const u of runPods()) podsSeen.add(u);
      const suite = { rktBin, data, work, pods: podsSeen, children, env };
      await stopSuitePods(suite, [['--force']]);
      removeSuite(suite);
    });

    const script = 'echo out-$((6*7)) $(hostname); echo err-line >&2; exit 7';

    it('runs the same command line again without Node: new UUID, exit code, output, status, list, logs', async () => {
      // Kept from Node before the first run: no template yet.
      assert.equal((await run(script, noNode)).code, 9);
      // The first run renders the image's tree, which marks the image used in the store's
      // database: the store changed while Node ran, so no template yet.
      assert.equal((await run(script)).code, 7);
      assert.deepEqual(templates(), []);
      const first = await run(script);
      assert.equal(first.code, 7, first.stderr);
      assert.equal(templates().length, 1);
      // The supervisor's FIFOs, which the engine made with the pod (no mkfifo at run), are in the
      // template for the launcher's `cp -a` to copy.
      const tpod = join(runTemplateDir(data), templates()[0] ?? '', 'pod');
      for (const f of ['stage1/ctl', 'logs/tpl/stdout.fifo', 'logs/tpl/stderr.fifo'])
        assert.ok(lstatSync(join(tpod, f)).isFIFO(), f);
      const second = await run(script, noNode);
      assert.equal(second.code, 7, second.stderr);
      assert.ok(first.uuid !== undefined && second.uuid !== undefined);
      assert.notEqual(second.uuid, first.uuid);
      // Output: the same, but for the hostname, which is each pod's own.
      assert.equal(first.stdout, `out-42 rkt-${first.uuid}\n`);
      assert.equal(second.stdout, `out-42 rkt-${second.uuid}\n`);
      assert.equal(second.stderr, first.stderr);
      assert.equal(second.stderr, 'err-line\n');
      assert.deepEqual(await status(second.uuid), await status(first.uuid));
      assert.match((await status(second.uuid)).join('\n'), /^app-tpl=7$/m);
      const listed = JSON.parse(await ok('list', '--format=json')) as {
        name: string;
        state: string;
        app_names: string[];
      }[];
      const mine = listed.filter((p) => p.name === second.uuid || p.name === first.uuid);
      assert.equal(mine.length, 2);
      for (const p of mine) assert.deepEqual([p.state, p.app_names], ['exited', ['tpl']]);
      const lines = async (u: string): Promise<string[]> =>
        (await ok('logs', u))
          .split('\n')
          .map((l) => l.replaceAll(u, 'UUID'))
          .sort();
      assert.deepEqual(await lines(second.uuid), await lines(first.uuid));
      assert.deepEqual(await lines(second.uuid), ['', 'tpl: err-line', 'tpl: out-42 rkt-UUID']);
      assert.equal(await ok('cat-manifest', second.uuid), await ok('cat-manifest', first.uuid));
      // The second run (a copy made then) left a spare copy for the next, made in the background;
      // the next run takes it (its UUID), dated when it runs, and another spare follows.
      await waitFor('a spare copy', () => spares().length === 1);
      const [spare] = spares();
      const t0 = Date.now();
      const third = await run(script, noNode);
      assert.equal(third.code, 7, third.stderr);
      assert.equal(third.uuid, spare);
      assert.equal(third.stdout, `out-42 rkt-${third.uuid}\n`);
      assert.deepEqual(await status(third.uuid as string), await status(first.uuid));
      const created = statSync(join(data, 'pods', 'run', third.uuid as string, 'pod-created')).mtimeMs;
      assert.ok(created >= t0 - 1000, `pod-created ${created} before the run ${t0}`);
      await waitFor('another spare copy', () => spares().length === 1 && spares()[0] !== spare);
      // Two at once: one takes the spare, the other makes its copy; each its own pod.
      const [next] = spares();
      const before2 = new Set(runPods());
      const both = await Promise.all(
        [1, 2].map(() =>
          rkt(
            [`--dir=${data}`, 'run', '--net=none', 'example.com/tpl', '--exec=/bin/sh', '--', '-c', script],
            noNode,
          ),
        ),
      );
      const made = runPods().filter((u) => !before2.has(u));
      for (const u of made) podsSeen.add(u);
      assert.deepEqual(
        both.map((r) => r.code),
        [7, 7],
        both.map((r) => r.stderr).join(''),
      );
      assert.equal(made.length, 2);
      assert.ok(made.includes(next as string), `${made.join(' ')} has not the spare ${String(next)}`);
      // A succeeding app: its own command line, its own template.
      assert.equal((await run('exit 0')).code, 0);
      const okRun = await run('exit 0', noNode);
      assert.equal(okRun.code, 0, okRun.stderr);
      assert.equal(templates().length, 2);
    });

    it('runs a long pod in its own cgroup; two at once get their own UUIDs; stop and gc as usual', async () => {
      // The template, from Node's run (stopped at once).
      const writer = startCollected(
        rktBin,
        [`--dir=${data}`, 'run', '--net=none', 'example.com/tpl', '--exec=/bin/sleep', '--', '1000'],
        { env, children },
      );
      await waitFor('the first pod', () => runPods().some((u) => !podsSeen.has(u)));
      const w = runPods().find((u) => !podsSeen.has(u)) as string;
      podsSeen.add(w);
      await waitFor('its app to start', () => /^state=running$/m.test(readStatus(w)));
      await ok('stop', w);
      await writer.done;
      const before = new Set(runPods());
      const runs = [1, 2].map(
        () =>
          startCollected(
            rktBin,
            [`--dir=${data}`, 'run', '--net=none', 'example.com/tpl', '--exec=/bin/sleep', '--', '1000'],
            { env: noNode, children },
          ).done,
      );
      await waitFor('two new pods', () => runPods().filter((u) => !before.has(u)).length === 2);
      const two = runPods().filter((u) => !before.has(u));
      for (const u of two) podsSeen.add(u);
      for (const u of two) {
        await waitFor(`pod ${u} to run`, () => /^state=running$/m.test(readStatus(u)));
        assert.notDeepEqual(podCgroupDirs(`rkt-${u}`), []);
      }
      // Running pods are locked: gc leaves them.
      await ok('gc', '--grace-period=0s');
      for (const u of two) assert.ok(existsSync(join(data, 'pods', 'run', u)));
      for (const u of two) await ok('stop', u);
      for (const r of await Promise.all(runs)) assert.notEqual(r.code, 9, r.stderr);
      await ok('gc', '--grace-period=0s');
      await ok('gc', '--grace-period=0s');
      for (const u of two) {
        assert.equal(existsSync(join(data, 'pods', 'run', u)), false);
        assert.equal(existsSync(join(data, 'pods', 'exited-garbage', u)), false);
        assert.deepEqual(podCgroupDirs(`rkt-${u}`), []);
      }
      // gc also cleared the templates: the next run is Node's again.
      assert.deepEqual(templates(), []);
      assert.equal((await run(script, noNode)).code, 9);
    });

    function readStatus(uuid: string): string {
      return spawnSync(rktBin, [`--dir=${data}`, 'status', uuid], { encoding: 'utf8', env }).stdout;
    }

    it('leaves to Node another command line, a store change, other settings and a damaged template', async () => {
      assert.equal((await run(script)).code, 7);
      assert.equal((await run(script, noNode)).code, 7);
      // Another command line: other arguments, a global flag, a flag outside the whitelist.
      for (const args of [
        ['run', '--net=none', 'example.com/tpl', '--exec=/bin/sh', '--', '-c', 'exit 7'],
        ['run', '--net=none', 'example.com/tpl', '--exec=/bin/sh', '--', '-c', script, 'x'],
        ['--debug', 'run', '--net=none', 'example.com/tpl', '--exec=/bin/sh', '--', '-c', script],
      ]) {
        const r = await rkt([`--dir=${data}`, ...args], noNode);
        assert.equal(r.code, 9, `${args.join(' ')}: ${r.stderr}`);
      }
      // Other settings than the template's: the runtime, the stop timeout, socket activation.
      for (const change of [{ RKT_OCI_RUNTIME: 'runc' }, { RKT_STOP_TIMEOUT: '2' }, { LISTEN_FDS: '1' }])
        assert.equal((await run(script, { ...noNode, ...change })).code, 9, JSON.stringify(change));
      // A store change: a fetch of another image, then its removal; each time Node runs (and
      // writes the template anew).
      await ok('--insecure-options=image', 'fetch', other);
      assert.equal((await run(script, noNode)).code, 9);
      assert.equal((await run(script)).code, 7);
      assert.equal((await run(script, noNode)).code, 7);
      await ok('image', 'rm', 'example.com/tplother');
      assert.equal((await run(script, noNode)).code, 9);
      assert.equal((await run(script)).code, 7);
      // A damaged template: its stamp cut short, older than the store's database, or gone; its pod
      // short of a file. None runs, and none leaves a copy behind.
      const damaged = async (what: string, damage: (t: string) => void): Promise<void> => {
        assert.equal((await run(script)).code, 7);
        const [t] = templates();
        assert.ok(t !== undefined && templates().length === 1);
        damage(join(runTemplateDir(data), t));
        assert.equal((await run(script, noNode)).code, 9, what);
        // (An m.* is an earlier run's spare still being made, in the background.)
        assert.deepEqual(
          readdirSync(runTemplateDir(data)).filter((n) => !n.startsWith('t.') && !n.startsWith('m.')),
          [],
          what,
        );
      };
      await damaged('a stamp cut short', (t) => {
        const text = readFileSync(join(t, 'stamp'), 'utf8');
        writeFileSync(join(t, 'stamp'), text.slice(0, text.indexOf('UUID=')));
      });
      await damaged('a stamp older than the store', (t) => {
        const old = new Date(Date.now() - 60_000);
        utimesSync(join(t, 'stamp'), old, old);
      });
      await damaged('no stamp', (t) => rmSync(join(t, 'stamp')));
      await damaged('no pod manifest', (t) => rmSync(join(t, 'pod', 'pod')));
      // Node's run replaces a damaged one with a good one.
      assert.equal((await run(script)).code, 7);
      assert.equal(templates().length, 1);
      assert.equal((await run(script, noNode)).code, 7);
    });

    it('makes no template of a run that warns: the same command line again goes to Node', async () => {
      // A warning of prepare's (a mount point without a volume) and one of the engine's (a memory
      // request it does not reserve): bin/rkt, which would not say them, leaves each run to Node.
      const cases: [string, object, RegExp][] = [
        [
          'tplmount',
          { mountPoints: [{ name: 'data', path: '/data' }] },
          /no volume specified for mount point "data"/,
        ],
        [
          'tplmem',
          { isolators: [{ name: 'resource/memory', value: { request: '64M', limit: '128M' } }] },
          /^run: app "tplmem": resource\/memory request 64M is not reserved/m,
        ],
      ];
      for (const [name, app, warning] of cases) {
        const image = buildBusyboxAci(work, name, {
          applets: ['sh'],
          dirs: ['tmp', 'proc', 'sys', 'dev'],
          app,
        });
        await ok('--insecure-options=image', 'fetch', image);
        const args = [
          `--dir=${data}`,
          'run',
          '--net=none',
          `example.com/${name}`,
          '--exec=/bin/sh',
          '--',
          '-c',
          'exit 3',
        ];
        const before = templates();
        // Twice: the first run renders the image's tree, a store change that alone keeps a template
        // from being made; the second run's only reason is its warning.
        for (let i = 0; i < 2; i++) {
          const r = await rkt(args);
          assert.equal(r.code, 3, r.stderr);
          assert.match(r.stderr, warning);
        }
        assert.deepEqual(templates(), before, name);
        assert.equal((await rkt(args, noNode)).code, 9, name);
      }
    });
  },
);
