/**
 * `rkt run-prepared --net=none UUID` without Node (bin/rkt + src/stage1/oci/fast.sh, the run that
 * `rkt prepare` wrote: src/pod/run-pipeline.ts, prepareFastRun), as root through bin/rkt. Node is
 * kept from running by NODE_OPTIONS=--bogus (node refuses to start and exits 9): a pod that runs
 * proves that Node did not, and a 9 that the launcher left the command to Node. The same pods run
 * by Node (a global flag the fast path does not take) give the same answers.
 */
import assert from 'node:assert/strict';
import { spawnSync, type ChildProcess } from 'node:child_process';
import {
  existsSync,
  lstatSync,
  mkdirSync,
  mkdtempSync,
  readFileSync,
  readdirSync,
  symlinkSync,
} from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { podCgroupDirs } from '../../../src/stage1/oci/engine.js';
import { projectRoot, startCollected, waitFor, type RunResult, skipUnlessCI } from '../../helpers.js';
import { removeSuite, stopSuitePods } from '../pod-suite.js';
import { buildBusyboxAci, podTestsMissing } from '../busybox-aci.js';

const rktBin = join(projectRoot, 'bin', 'rkt');
const children = new Set<ChildProcess>();

describe(
  'rkt run-prepared without Node',
  { skip: skipUnlessCI(podTestsMissing, 'fast run-prepared tests') },
  () => {
    let work: string;
    let data: string;
    let image: string;
    const podsSeen = new Set<string>();

    before(() => {
      work = mkdtempSync(join(tmpdir(), 'rocket-run-prepared-fast-'));
      data = join(work, 'data');
      image = buildBusyboxAci(work, 'fastrun', {
        applets: ['sh', 'sleep', 'true', 'echo', 'cat', 'hostname'],
        dirs: ['tmp', 'proc', 'sys', 'dev'],
      });
    });

    after(async () => {
      const suite = { rktBin, data, work, pods: podsSeen, children, env };
      await stopSuitePods(suite, [['--force']]);
      removeSuite(suite);
    });

    const env: NodeJS.ProcessEnv = { ...process.env, RKT_STOP_TIMEOUT: '1' };
    for (const k of ['NOTIFY_SOCKET', 'LISTEN_FDS', 'LISTEN_PID', 'LISTEN_FDNAMES', 'RKT_DEBUG_ENGINE'])
      delete env[k];
    const noNode = { ...env, NODE_OPTIONS: '--bogus' };
    const rkt = (args: readonly string[], e: NodeJS.ProcessEnv = env): Promise<RunResult> =>
      startCollected(rktBin, args, { env: e, children }).done;
    const ok = async (...args: string[]): Promise<string> => {
      const r = await rkt([`--dir=${data}`, '--insecure-options=image', ...args]);
      assert.equal(r.code, 0, `rkt ${args.join(' ')}: ${r.stderr}`);
      return r.stdout;
    };
    const prepare = async (...exec: string[]): Promise<string> => {
      const uuid = (await ok('prepare', image, '--exec=/bin/sh', '--', '-c', ...exec)).trim();
      podsSeen.add(uuid);
      return uuid;
    };
    /** The fast form, with Node kept out; Node's form (a global flag the fast path leaves to Node). */
    const fastRun = (uuid: string, e: NodeJS.ProcessEnv = noNode): Promise<RunResult> =>
      rkt([`--dir=${data}`, 'run-prepared', '--net=none', uuid], e);
    const nodeRun = (uuid: string): Promise<RunResult> =>
      rkt([`--dir=${data}`, '--insecure-options=image', 'run-prepared', '--net=none', uuid]);
    /** `rkt status` without the lines that differ between two pods (times, pid). */
    const status = async (uuid: string): Promise<string[]> =>
      (await ok('status', uuid)).split('\n').filter((l) => l !== '' && !/^(created|started|pid)=/.test(l));

    it('runs a prepared pod as Node does: exit code, output, status and logs after', async () => {
      const a = await prepare('echo out-$((6*7)); echo err-line >&2; exit 7');
      const b = await prepare('echo out-$((6*7)); echo err-line >&2; exit 7');
      // The supervisor's control FIFO and the app's log FIFOs: made by prepare (mknod), not at run.
      for (const f of ['stage1/ctl', 'logs/fastrun/stdout.fifo', 'logs/fastrun/stderr.fifo'])
        assert.ok(lstatSync(join(data, 'pods', 'prepared', a, f)).isFIFO(), f);
      const fast = await fastRun(a);
      const node = await nodeRun(b);
      assert.equal(fast.code, 7, fast.stderr);
      assert.deepEqual(fast, node);
      assert.deepEqual(await status(a), await status(b));
      assert.deepEqual(await status(a), [
        'state=exited',
        'networks=',
        'exited=true',
        'app-fastrun=7',
        'engine=oci',
        `runtime=${/^runtime=(.*)$/m.exec(await ok('status', b))?.[1] ?? ''}`,
      ]);
      // The pod log (two loggers, merged by time: compared as sets of lines).
      const lines = async (u: string): Promise<string[]> => (await ok('logs', u)).split('\n').sort();
      assert.deepEqual(await lines(a), ['', 'fastrun: err-line', 'fastrun: out-42']);
      assert.deepEqual(await lines(a), await lines(b));
      // The pod is no longer prepared: another run-prepared of it is refused (by Node) in one line.
      const again = await fastRun(a, env);
      assert.equal(again.code, 254);
      assert.equal(again.stdout, '');
      assert.equal(again.stderr.trim().split('\n').length, 1, again.stderr);
      assert.match(again.stderr, /not prepared/);
    });

    it('takes a UUID prefix; runs a long pod that stop ends and gc removes', async () => {
      const uuid = await prepare('sleep 1000');
      const run = startCollected(rktBin, [`--dir=${data}`, 'run-prepared', '--net=none', uuid.slice(0, 8)], {
        env: noNode,
        children,
      });
      await waitFor('the pod to run', () => existsSync(join(data, 'pods', 'run', uuid, 'stage1', 'ctl')));
      await waitFor('the app to start', () => /^state=running$/m.test(readStatus(uuid)));
      // The pod lock is held while it runs: gc leaves it.
      await ok('gc', '--grace-period=0s');
      assert.ok(existsSync(join(data, 'pods', 'run', uuid)));
      await ok('stop', uuid);
      const r = await run.done;
      assert.notEqual(r.code, 9, r.stderr);
      assert.match(readStatus(uuid), /^state=exited$/m);
      await ok('gc', '--grace-period=0s');
      await ok('gc', '--grace-period=0s');
      assert.equal(existsSync(join(data, 'pods', 'run', uuid)), false);
      assert.equal(existsSync(join(data, 'pods', 'exited-garbage', uuid)), false);
      assert.deepEqual(podCgroupDirs(`rkt-${uuid}`), []);
    });

    function readStatus(uuid: string): string {
      return spawnSync(rktBin, [`--dir=${data}`, 'status', uuid], { encoding: 'utf8', env }).stdout;
    }

    it('leaves to Node every form and every pod it does not take, which Node then runs', async () => {
      const uuid = await prepare('exit 3');
      // Other forms: the default network (CNI), --net=host, another flag, a global flag.
      for (const args of [
        ['run-prepared', uuid],
        ['run-prepared', '--net=host', uuid],
        ['run-prepared', '--net=none', '--hostname=h', uuid],
        ['--debug', 'run-prepared', '--net=none', uuid],
      ]) {
        const r = await rkt([`--dir=${data}`, ...args], noNode);
        assert.equal(r.code, 9, `${args.join(' ')}: ${r.stderr}`);
        assert.match(r.stderr, /--bogus/);
      }
      // A stamp that no longer holds: the runtime or the log settings chosen differently since
      // prepare, or systemd's socket activation.
      for (const change of [{ RKT_OCI_RUNTIME: 'runc' }, { RKT_LOG_MAX_SIZE: '64K' }, { LISTEN_FDS: '1' }]) {
        const r = await fastRun(uuid, { ...noNode, ...change });
        assert.equal(r.code, 9, `${JSON.stringify(change)}: ${r.stderr}`);
      }
      // Node runs it (and its pipeline discards the prepared run): the pod's own exit code.
      const r = await rkt([`--dir=${data}`, 'run-prepared', '--net=none', '--hostname=h', uuid]);
      assert.equal(r.code, 3, r.stderr);
      assert.equal(existsSync(join(data, 'pods', 'run', uuid, 'stage1', 'fast-run')), false);
      assert.match(readStatus(uuid), /^app-fastrun=3$/m);
    });

    it("runs the supervisor's tools from busybox when it is on PATH, util-linux's otherwise: the same pod", async () => {
      // A PATH without busybox: every other program of the test's PATH, linked into one dir.
      const noBusybox = join(work, 'path-minus-bb');
      mkdirSync(noBusybox);
      for (const dir of (env['PATH'] ?? '').split(':').filter((d) => d.startsWith('/') && existsSync(d)))
        for (const name of readdirSync(dir))
          if (name !== 'busybox' && !existsSync(join(noBusybox, name)))
            symlinkSync(join(dir, name), join(noBusybox, name));
      const withoutNode = { ...env, PATH: noBusybox };
      const without = { ...noNode, PATH: noBusybox };
      const withBusybox = await prepare('cat /sys/class/net/lo/flags; hostname');
      const r = await rkt(
        [
          `--dir=${data}`,
          '--insecure-options=image',
          'prepare',
          '--quiet',
          image,
          '--exec=/bin/sh',
          '--',
          '-c',
          'cat /sys/class/net/lo/flags; hostname',
        ],
        withoutNode,
      );
      assert.equal(r.code, 0, r.stderr);
      const withoutBusybox = r.stdout.trim();
      podsSeen.add(withoutBusybox);
      const settings = (uuid: string): string =>
        readFileSync(join(data, 'pods', 'prepared', uuid, 'stage1', 'sup', 'pod.env'), 'utf8');
      // CI installs busybox-static (scripts/setup.sh).
      const bb = /^BB=(.+)$/m.exec(settings(withBusybox))?.[1];
      assert.ok(bb !== undefined && bb.endsWith('/busybox'), settings(withBusybox));
      assert.match(
        settings(withBusybox),
        /^NS_CREATE=.* \S*busybox unshare --net=.* \S*busybox ip link set lo up'$/m,
      );
      assert.match(settings(withoutBusybox), /^BB=''$/m);
      assert.match(settings(withoutBusybox), /^NS_CREATE=.* unshare --net=.* ip link set lo up'$/m);
      assert.doesNotMatch(settings(withoutBusybox), /busybox/);
      // Loopback up (IFF_UP | IFF_LOOPBACK) and the pod's hostname, either way.
      const a = await fastRun(withBusybox);
      const b = await fastRun(withoutBusybox, without);
      assert.deepEqual(a, { code: 0, stdout: `0x9\nrkt-${withBusybox}\n`, stderr: '' });
      assert.deepEqual(b, { code: 0, stdout: `0x9\nrkt-${withoutBusybox}\n`, stderr: '' });
      // Both torn down: exited, and no mount of either left.
      for (const u of [withBusybox, withoutBusybox]) {
        assert.match(readStatus(u), /^state=exited$/m);
        assert.doesNotMatch(readFileSync('/proc/self/mountinfo', 'utf8'), new RegExp(u));
      }
    });

    it('answers an unknown UUID through Node: one line, 254', async () => {
      const none = '00000000-0000-4000-8000-000000000000';
      assert.deepEqual(await fastRun(none, env), {
        code: 254,
        stdout: '',
        stderr: `run-prepared: no matches found for "${none}"\n`,
      });
      // Kept from Node, the launcher does not answer it itself.
      assert.equal((await fastRun(none)).code, 9);
    });
  },
);
