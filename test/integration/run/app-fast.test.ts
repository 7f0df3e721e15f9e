/**
 * `rkt app start UUID --app=NAME` without Node (bin/rkt + src/stage1/oci/fast.sh), as root through
 * bin/rkt: the launcher answers the plain form itself, with Node's output, exit status and effect.
 * Node is kept from running by NODE_OPTIONS=--bogus (node refuses to start and exits 9), so a fast
 * answer that matches Node's proves both that Node did not run and that the answer is Node's. The
 * same command with a global flag the fast path does not take (`--insecure-options=image`) is Node's.
 */
import assert from 'node:assert/strict';
import { type ChildProcess } from 'node:child_process';
import {
  closeSync,
  constants,
  existsSync,
  mkdtempSync,
  openSync,
  readFileSync,
  readlinkSync,
  readSync,
} from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import {
  projectRoot,
  startCollected,
  waitFor,
  type Running,
  type RunResult,
  skipUnlessCI,
} from '../../helpers.js';
import { removeSuite, stopSuitePods } from '../pod-suite.js';
import { appState } from '../../../src/pod-layout.js';
import { buildBusyboxAci, podTestsMissing } from '../busybox-aci.js';

const rktBin = join(projectRoot, 'bin', 'rkt');
const children = new Set<ChildProcess>();

describe(
  'rkt app start without Node',
  { skip: skipUnlessCI(podTestsMissing, 'fast app start tests') },
  () => {
    let work: string;
    let data: string;
    let image: string;
    const podsSeen = new Set<string>();

    before(() => {
      work = mkdtempSync(join(tmpdir(), 'rocket-app-fast-'));
      data = join(work, 'data');
      image = buildBusyboxAci(work, 'fast', {
        applets: ['sh', 'sleep', 'true'],
        dirs: ['tmp', 'proc', 'sys', 'dev'],
      });
    });

    after(async () => {
      const suite = { rktBin, data, work, pods: podsSeen, children, env };
      await stopSuitePods(suite, [[], ['--force']]);
      removeSuite(suite);
    });

    const env = { ...process.env, RKT_STOP_TIMEOUT: '1' };
    const noNode = { ...env, NODE_OPTIONS: '--bogus' };
    const rkt = (args: readonly string[], e: NodeJS.ProcessEnv = env): Promise<RunResult> =>
      startCollected(rktBin, args, { env: e, children }).done;
    const ok = async (...args: string[]): Promise<string> => {
      const r = await rkt([`--dir=${data}`, '--insecure-options=image', ...args]);
      assert.equal(r.code, 0, `rkt ${args.join(' ')}: ${r.stderr}`);
      return r.stdout;
    };
    /** The fast form (Node kept out) and Node's form of `app start`. */
    const fastStart = (uuid: string, app: string): Promise<RunResult> =>
      rkt([`--dir=${data}`, 'app', 'start', uuid, `--app=${app}`], noNode);
    const nodeStart = (uuid: string, app: string): Promise<RunResult> =>
      rkt([`--dir=${data}`, '--insecure-options=image', 'app', 'start', uuid, `--app=${app}`]);
    /** `app list` as sorted `NAME STATE` lines. */
    const appList = async (uuid: string): Promise<string[]> =>
      (await ok('app', 'list', '--no-legend', uuid))
        .trim()
        .split('\n')
        .map((l) => l.trim().split(/\s+/).join(' '))
        .sort();

    async function startPod(verb: string[], ...args: string[]): Promise<{ pod: Running; uuid: string }> {
      const uuidFile = join(work, `uuid-${podsSeen.size}`);
      const pod = startCollected(
        rktBin,
        [
          `--dir=${data}`,
          '--insecure-options=image',
          ...verb,
          '--net=none',
          `--uuid-file-save=${uuidFile}`,
          ...args,
        ],
        { env, children },
      );
      await waitFor('the uuid file', () => existsSync(uuidFile) && readFileSync(uuidFile, 'utf8') !== '');
      const uuid = readFileSync(uuidFile, 'utf8').trim();
      podsSeen.add(uuid);
      await waitFor('the supervisor', () => existsSync(join(data, 'pods', 'run', uuid, 'stage1', 'ctl')));
      return { pod, uuid };
    }

    it('starts an app as Node does, and answers the refusals as Node does, without Node', async () => {
      const { pod, uuid } = await startPod(['app', 'sandbox']);
      for (const name of ['fast', 'slow', 'once', 'spaced'])
        await ok('app', 'add', uuid, image, `--name=${name}`, '--exec=/bin/sleep', '--', '1000');

      // The plain form: the app runs, nothing is printed, 0; as Node's start of another app.
      assert.deepEqual(await fastStart(uuid, 'fast'), { code: 0, stdout: '', stderr: '' });
      assert.deepEqual(await nodeStart(uuid, 'slow'), { code: 0, stdout: '', stderr: '' });
      // The other spellings of the plain form: `--dir DIR`, `--app NAME` before the UUID.
      assert.deepEqual(await rkt(['--dir', data, 'app', 'start', '--app', 'spaced', uuid], noNode), {
        code: 0,
        stdout: '',
        stderr: '',
      });
      assert.deepEqual(await appList(uuid), [
        'fast running',
        'once created',
        'slow running',
        'spaced running',
      ]);

      // Started already: one line, 254, the same from both.
      const again = await fastStart(uuid, 'fast');
      assert.deepEqual(again, await nodeStart(uuid, 'fast'));
      assert.deepEqual(again, {
        code: 254,
        stdout: '',
        stderr: 'app start: app "fast" has already been started\n',
      });

      // An unknown pod (a whole UUID that names none).
      const none = '00000000-0000-4000-8000-000000000000';
      const unknown = await fastStart(none, 'fast');
      assert.deepEqual(unknown, await nodeStart(none, 'fast'));
      assert.deepEqual(unknown, {
        code: 254,
        stdout: '',
        stderr: `app start: no matches found for "${none}"\n`,
      });

      // A running pod that is not a sandbox.
      const { pod: plain, uuid: plainUuid } = await startPod(
        ['run'],
        image,
        '--exec=/bin/sleep',
        '--',
        '1000',
      );
      const notSandbox = await fastStart(plainUuid, 'fast');
      assert.deepEqual(notSandbox, await nodeStart(plainUuid, 'fast'));
      assert.deepEqual(notSandbox, {
        code: 254,
        stdout: '',
        stderr: `app start: pod ${plainUuid} is not a sandbox (rkt app sandbox)\n`,
      });
      await ok('stop', plainUuid);
      await plain.done;

      // What the fast path does not decide goes to Node (here kept out: node's own refusal, 9): an
      // app the pod does not have, and a form it does not take (a UUID prefix).
      const noApp = await fastStart(uuid, 'nope');
      assert.equal(noApp.code, 9);
      assert.match(noApp.stderr, /--bogus/);
      assert.deepEqual(await nodeStart(uuid, 'nope'), {
        code: 254,
        stdout: '',
        stderr: `app start: pod ${uuid} has no app "nope"\n`,
      });
      assert.equal(
        (await rkt([`--dir=${data}`, 'app', 'start', uuid.slice(0, 8), '--app=once'], noNode)).code,
        9,
      );
      assert.deepEqual(await appList(uuid), [
        'fast running',
        'once created',
        'slow running',
        'spaced running',
      ]);

      // The poststart hook writes to the wake FIFO once the app runs (Node's start here: no
      // watchdog; the app does not end, so the supervisor writes nothing).
      await ok('app', 'add', uuid, image, '--name=hooked', '--exec=/bin/sleep', '--', '1000');
      const fd = openSync(
        join(data, 'pods', 'run', uuid, 'stage1', 'sup', 'app', 'hooked.wait'),
        constants.O_RDWR | constants.O_NONBLOCK,
      );
      try {
        assert.deepEqual(await nodeStart(uuid, 'hooked'), { code: 0, stdout: '', stderr: '' });
        const buf = Buffer.alloc(64);
        let got = '';
        await waitFor('the hook to write to the wake FIFO', () => {
          try {
            got += buf.toString('utf8', 0, readSync(fd, buf));
          } catch (err) {
            if ((err as NodeJS.ErrnoException).code !== 'EAGAIN') throw err;
          }
          return got.endsWith('\n');
        });
        assert.equal(got, 'started\n');
      } finally {
        closeSync(fd);
      }

      // The pod stopped (exited): not running, from both.
      await ok('stop', uuid);
      await pod.done;
      const exited = await fastStart(uuid, 'once');
      assert.deepEqual(exited, await nodeStart(uuid, 'once'));
      assert.deepEqual(exited, { code: 254, stdout: '', stderr: `app start: pod ${uuid} is not running\n` });
    });

    it('wakes on the wake FIFO of the app, and ends in one line when the supervisor dies before answering', async () => {
      const { pod, uuid } = await startPod(['app', 'sandbox']);
      const R = join(data, 'pods', 'run', uuid);
      await ok('app', 'add', uuid, image, '--name=quick', '--exec=/bin/true');
      await ok('app', 'add', uuid, image, '--name=late', '--exec=/bin/sleep', '--', '1000');
      const wake = join(R, 'stage1', 'sup', 'app', 'late.wait');
      assert.ok(existsSync(wake), 'app add makes the wake FIFO');

      // An app that ends at once: the answer is its end (or its start, whichever comes first).
      assert.deepEqual(await fastStart(uuid, 'quick'), { code: 0, stdout: '', stderr: '' });
      await waitFor('app quick to end', () => appState(R, 'quick') === 'exited');

      // The supervisor stopped (SIGSTOP): it takes no command. The launcher sends its `start` and
      // waits on the wake FIFO (fd 7); then the supervisor dies (SIGKILL) without answering.
      const sup = Number(readFileSync(join(R, 'pid'), 'utf8').trim());
      process.kill(sup, 'SIGSTOP');
      const waiting = startCollected(rktBin, [`--dir=${data}`, 'app', 'start', uuid, '--app=late'], {
        env: noNode,
        children,
      });
      const launcher = waiting.child.pid as number;
      await waitFor('the launcher to wait on the wake FIFO', () => {
        try {
          return readlinkSync(`/proc/${launcher}/fd/7`) === wake;
        } catch {
          return false;
        }
      });
      process.kill(sup, 'SIGKILL');
      assert.deepEqual(await waiting.done, {
        code: 254,
        stdout: '',
        stderr: `app start: pod ${uuid}: the supervisor ended before app late started\n`,
      });
      await pod.done;
      assert.ok(
        !existsSync(join(R, 'stage1', 'rootfs', 'rkt', 'status', 'late-started')),
        'late never started',
      );
    });
  },
);
