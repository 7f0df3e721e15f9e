import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, rmSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { after, before, describe, test } from 'node:test';
import { which } from '../src/stage1/oci/runtime.js';
import { fileURLToPath } from 'node:url';

/** The checkout's root, whether this runs from `test/` (tsx) or from `dist/test/` (compiled). */
export const projectRoot = ((): string => {
  let dir = dirname(fileURLToPath(import.meta.url));
  while (!existsSync(join(dir, 'package.json'))) dir = dirname(dir);
  return dir;
})();

/**
 * This test process's own XDG cache and config dirs, set in its environment (so in every child it
 * starts) and removed when it exits: no test reads or warms a cache in the home directory (such as
 * docker2aci's layer cache) that another test or a benchmark shares. `node --test` runs each test
 * file in its own process, so each file gets its own.
 */
export const xdgDirs = ((): { cache: string; config: string } => {
  const base = mkdtempSync(join(tmpdir(), 'rocket-test-xdg-'));
  const dirs = { cache: join(base, 'cache'), config: join(base, 'config') };
  mkdirSync(dirs.cache);
  mkdirSync(dirs.config);
  process.env.XDG_CACHE_HOME = dirs.cache;
  process.env.XDG_CONFIG_HOME = dirs.config;
  process.on('exit', () => rmSync(base, { recursive: true, force: true }));
  return dirs;
})();

export const ourActool = join(projectRoot, 'bin', 'actool');
export const referenceActool = join(projectRoot, '.cache', 'tools', 'actool');

/** Whether this is a CI run (`CI=true`), where every tool and fixture the tests need is installed. */
export const inCI = process.env.CI === 'true';

/**
 * `reason` (why some tests cannot run here, or false) as a node:test `skip` option. Locally the
 * tests are skipped and a `# skipping` line names the reason. Under CI=true a skip would let a
 * suite pass without running, so a failing test naming the reason is registered in its place (at
 * the current nesting level) and the skip stays, so nothing half-set-up runs. Every `skip` in test/
 * goes through here.
 */
export function skipUnlessCI(reason: string | false, what = 'tests'): string | false {
  if (reason === false) return false;
  if (inCI) {
    test(`CI=true requires what these ${what} need: ${reason}`, () => {
      throw new Error(`${what} would be skipped (${reason}); under CI=true a skip is a failure`);
    });
  } else {
    console.log(`# skipping ${what}: ${reason}`);
  }
  return reason;
}

/**
 * For a check inside a test that needs an optional tool: true when `reason` is false (the tool is
 * there); locally false, so the check is left out; under CI=true it throws, naming the reason.
 */
export function canCheck(reason: string | false): boolean {
  if (reason === false) return true;
  if (inCI) throw new Error(`a check would be left out (${reason}); under CI=true that is a failure`);
  return false;
}

/** A reason to skip tests that need the reference actool, or false when it is there. */
export const noReferenceActool: string | false = existsSync(referenceActool)
  ? false
  : 'the reference actool is not built (scripts/setup.sh builds it into .cache/tools/actool when Go is installed)';

export const notRoot: string | false = process.getuid?.() === 0 ? false : 'needs root';

export interface RunResult {
  code: number;
  stdout: string;
  stderr: string;
}

export function run(
  cmd: string,
  args: readonly string[],
  opts: { cwd?: string; input?: string; env?: NodeJS.ProcessEnv } = {},
): Promise<RunResult> {
  return new Promise((resolvePromise, reject) => {
    const child = spawn(cmd, args, {
      cwd: opts.cwd,
      env: opts.env ?? process.env,
      stdio: ['pipe', 'pipe', 'pipe'],
    });
    let stdout = '';
    let stderr = '';
    child.stdout.setEncoding('utf8').on('data', (d: string) => (stdout += d));
    child.stderr.setEncoding('utf8').on('data', (d: string) => (stderr += d));
    child.on('error', reject);
    child.on('close', (code, signal) => resolvePromise({ code: code ?? (signal ? 128 : 1), stdout, stderr }));
    endStdin(child, opts.input);
  });
}

/**
 * Writes `input` (nothing by default) to a child's piped stdin and closes it. A child may exit
 * without reading its stdin (gpg refusing an option, `true`): the write then fails with EPIPE,
 * which would be an unhandled 'error' event that ends the whole test process. The child's exit
 * status and output tell what happened, so errors on its stdin are ignored here.
 */
export function endStdin(child: ChildProcess, input: string | Buffer = ''): void {
  if (child.stdin === null) return;
  child.stdin.on('error', () => undefined);
  child.stdin.end(input);
}

/** A child started by `startCollected`: its output so far, and promises for its end. */
export interface Running {
  child: ChildProcess;
  /** Every pipe closed: the exit status and all output. */
  done: Promise<RunResult>;
  /** The process itself ended (pipes it passed on may live on). */
  exited: Promise<void>;
  stdout: () => string;
  stderr: () => string;
}

/**
 * Starts `cmd` with stdin ignored and stdout/stderr collected. With `children`, the child is in
 * that set until its pipes close, so a suite's cleanup can kill what is left by pid.
 */
export function startCollected(
  cmd: string,
  args: readonly string[],
  opts: { env?: NodeJS.ProcessEnv; children?: Set<ChildProcess> } = {},
): Running {
  const child = spawn(cmd, args, { stdio: ['ignore', 'pipe', 'pipe'], env: opts.env ?? process.env });
  opts.children?.add(child);
  let stdout = '';
  let stderr = '';
  child.stdout.setEncoding('utf8').on('data', (d: string) => (stdout += d));
  child.stderr.setEncoding('utf8').on('data', (d: string) => (stderr += d));
  const done = new Promise<RunResult>((resolvePromise, reject) => {
    child.on('error', reject);
    child.on('close', (code, signal) => {
      opts.children?.delete(child);
      resolvePromise({ code: code ?? (signal !== null ? 128 : 1), stdout, stderr });
    });
  });
  const exited = new Promise<void>((resolvePromise) => child.on('exit', () => resolvePromise()));
  return { child, done, exited, stdout: () => stdout, stderr: () => stderr };
}

/** A fresh temp dir under the system temp dir, removed by the returned cleanup function. */
export async function tempDir(
  prefix = 'rocket-test-',
): Promise<{ path: string; cleanup: () => Promise<void> }> {
  const path = await mkdtemp(join(tmpdir(), prefix));
  return { path: resolve(path), cleanup: () => rm(path, { recursive: true, force: true }) };
}

/** Polls `pred` every 25 ms until it holds; fails naming `what` after `ms`. */
export async function waitFor(what: string, pred: () => boolean, ms = 20_000): Promise<void> {
  const end = Date.now() + ms;
  while (!pred()) {
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await sleep(25);
  }
}

/** The OCI runtimes pods run on; suites that run pods run on each. */
export const OCI_RUNTIMES = ['crun', 'runc'] as const;

/**
 * Registers `body` once per OCI runtime, each in a suite named after it, with RKT_OCI_RUNTIME set
 * (in this process, so in every rkt it starts) while that suite runs. A missing runtime skips its
 * suite locally and fails under CI=true (skipUnlessCI).
 */
export function forEachOciRuntime(body: (runtime: (typeof OCI_RUNTIMES)[number]) => void): void {
  for (const runtime of OCI_RUNTIMES) {
    const missing = which(runtime) === undefined ? `needs ${runtime}` : false;
    describe(`on ${runtime}`, { skip: skipUnlessCI(missing, `the ${runtime} tests`) }, () => {
      let saved: string | undefined;
      before(() => {
        saved = process.env.RKT_OCI_RUNTIME;
        process.env.RKT_OCI_RUNTIME = runtime;
      });
      after(() => {
        if (saved === undefined) delete process.env.RKT_OCI_RUNTIME;
        else process.env.RKT_OCI_RUNTIME = saved;
      });
      body(runtime);
    });
  }
}
