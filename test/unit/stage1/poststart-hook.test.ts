// The poststart hook that marks an app started (src/stage1/oci/systemd.ts, decorateMainConfig), run
// as the runtime runs it: the container's state on its stdin (with crun's precompiled seccomp filter
// among its annotations, about 10 kB), its args after `sh -c SCRIPT`. Both forms: dash's, which
// reads all of its stdin a byte at a time, and busybox's, which reads the start and `cat`s the rest.
import assert from 'node:assert/strict';
import { spawn, spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { after, describe, it } from 'node:test';
import { realBusybox } from '../../../src/host/busybox.js';
import { decorateMainConfig } from '../../../src/stage1/oci/systemd.js';
import type { OciConfig } from '../../../src/stage1/oci/spec.js';
import { skipUnlessCI, waitFor } from '../../helpers.js';

const work = mkdtempSync(path.join(tmpdir(), 'rocket-hook-'));
after(() => rmSync(work, { recursive: true, force: true }));
const busybox = realBusybox.find(['sh', 'cat']);

/** The hook of app `a` in pod dir R, decorated with or without a busybox. */
function hookOf(R: string, bb: string | undefined): { path: string; args: string[] } {
  const config = { process: { env: [] }, linux: { namespaces: [] } } as unknown as OciConfig;
  const c = decorateMainConfig(config, R, { name: 'a', notify: false }, bb) as OciConfig & {
    hooks: { poststart: { path: string; args: string[] }[] };
  };
  const [hook] = c.hooks.poststart;
  assert.ok(hook !== undefined);
  return hook;
}

/**
 * A pod dir for the hook (with or without a busybox): its status dir, and its `pid` file naming a
 * `sleep`, the supervisor's stand-in, which the hook's USR1 ends (`woken`: its signal).
 */
function hookPod(bb: string | undefined): {
  hook: { path: string; args: string[] };
  started: string;
  woken: Promise<string | null>;
} {
  const R = mkdtempSync(path.join(work, 'pod-'));
  const status = path.join(R, 'stage1', 'rootfs', 'rkt', 'status');
  spawnSync('mkdir', ['-p', status]);
  const target = spawn('sleep', ['30'], { stdio: 'ignore' });
  const woken = new Promise<string | null>((resolve) =>
    target.on('exit', (_code, signal) => resolve(signal)),
  );
  writeFileSync(path.join(R, 'pid'), `${String(target.pid)}\n`);
  return { hook: hookOf(R, bb), started: path.join(status, 'a-started'), woken };
}

/** Runs the hook on `state`: what it marked, and the signal that ended the supervisor's stand-in. */
async function runHook(
  bb: string | undefined,
  state: string,
): Promise<{ started: string; signal: string | null }> {
  const { hook, started, woken } = hookPod(bb);
  const r = spawnSync(hook.path, hook.args.slice(1), { input: state, encoding: 'utf8', argv0: 'sh' });
  assert.equal(r.status, 0, r.stderr);
  const signal = await woken;
  return { started: readFileSync(started, 'utf8'), signal };
}

const seccomp = 'IAAAAAQAAAAVAAEAPgAAwAUAAABBAgAAIAAAAAAAAAAV'.repeat(230);
const state = (id: string): string =>
  JSON.stringify({
    ociVersion: '1.0.2',
    id,
    status: 'running',
    pid: 4242,
    bundle: '/b',
    annotations: { 'run.oci.seccomp_bpf_data': seccomp },
  });

describe('the poststart hook', () => {
  it('dash: marks the app started with the state pid and wakes the supervisor', async () => {
    const r = await runHook(undefined, state('rkt-x-a'));
    assert.deepEqual(r, { started: '4242\n', signal: 'SIGUSR1' });
  });

  describe(
    'busybox',
    { skip: skipUnlessCI(busybox === undefined && 'no busybox with sh and cat', 'busybox hook tests') },
    () => {
      it('reads the start of its stdin for the pid, then the rest', async () => {
        assert.ok(state('rkt-x-a').length > 9000);
        const r = await runHook(busybox, state('rkt-x-a'));
        assert.deepEqual(r, { started: '4242\n', signal: 'SIGUSR1' });
      });

      it('marks the app started from the first 512 bytes, before the rest of its stdin comes', async () => {
        // The state's start, then nothing (no EOF) until the app is marked started: a hook that
        // read all of its stdin first would wait for ever.
        const { hook, started, woken } = hookPod(busybox);
        const child = spawn(hook.path, hook.args.slice(1), {
          argv0: 'sh',
          stdio: ['pipe', 'ignore', 'ignore'],
        });
        const ended = new Promise<number | null>((resolve) => child.on('exit', (code) => resolve(code)));
        const text = state('rkt-x-a');
        child.stdin.write(text.slice(0, 600));
        try {
          await waitFor(
            'the started mark',
            () => existsSync(started) && readFileSync(started, 'utf8') === '4242\n',
            5000,
          );
        } finally {
          child.stdin.end(text.slice(600));
        }
        assert.equal(await ended, 0);
        assert.equal(await woken, 'SIGUSR1');
      });

      it('reads on when the pid comes after the first 512 bytes', async () => {
        const r = await runHook(busybox, state(`rkt-${'x'.repeat(600)}-a`));
        assert.deepEqual(r, { started: '4242\n', signal: 'SIGUSR1' });
      });
    },
  );
});
