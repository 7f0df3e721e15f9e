/**
 * What killed commands leave, and who removes it (issue 16, point 6): `rkt image gc` removes every
 * unlocked store temp file at once (a live import's is locked); a render's or extract's temp dir
 * beside its output is removed by the next render into the same place and by `image gc`; a stale
 * plan file of the launcher's pid does not fail `rkt run`; a prepared pod whose `rkt run` died
 * before running it is collected by `rkt gc`. Through bin/rkt, as root, in a temp `--dir`.
 */
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import {
  closeSync,
  existsSync,
  mkdirSync,
  mkdtempSync,
  openSync,
  readdirSync,
  rmSync,
  writeFileSync,
} from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { FileLock } from '../../../src/store/index.js';
import { projectRoot, run, type RunResult } from '../../helpers.js';
import { buildBusyboxAci, busybox } from '../busybox-aci.js';

const rktBin = join(projectRoot, 'bin', 'rkt');
const skip = process.getuid?.() !== 0 ? 'needs root' : busybox === undefined ? 'needs busybox-static' : false;

describe('leftovers of killed commands', { skip }, () => {
  let work: string;
  let data: string;
  let aci: string;

  before(async () => {
    work = mkdtempSync(join(tmpdir(), 'rocket-leftovers-'));
    data = join(work, 'data');
    aci = buildBusyboxAci(work, 'busybox', { applets: ['sh'], app: { exec: ['/bin/sh', '-c', 'exit 0'] } });
    const f = await rkt('--insecure-options=image', 'fetch', aci);
    assert.equal(f.code, 0, f.stderr);
  });
  after(() => {
    spawnSync(rktBin, [`--dir=${data}`, 'gc', '--grace-period=0s', '--expire-prepared=0s'], {
      stdio: 'ignore',
    });
    rmSync(work, { recursive: true, force: true });
  });

  const rkt = (...args: string[]): Promise<RunResult> => run(rktBin, [`--dir=${data}`, ...args]);
  const tmpDir = () => join(data, 'cas', 'tmp');

  it('image gc removes every unlocked store temp file, however young, and keeps locked ones', async () => {
    mkdirSync(tmpDir(), { recursive: true });
    const killed = join(tmpDir(), 'import-1234-killed');
    const live = join(tmpDir(), 'import-5678-live');
    const killedDir = join(tmpDir(), 'docker-killed');
    writeFileSync(killed, 'x'.repeat(4096));
    writeFileSync(live, 'y');
    mkdirSync(killedDir);
    writeFileSync(join(killedDir, 'layer'), 'z');
    const holder = FileLock.tryAcquire(live, 'exclusive');
    assert.ok(holder !== undefined);
    try {
      const r = await rkt('image', 'gc');
      assert.equal(r.code, 0, r.stderr);
      assert.deepEqual(readdirSync(tmpDir()), ['import-5678-live']);
    } finally {
      holder.release();
    }
    const again = await rkt('image', 'gc');
    assert.equal(again.code, 0, again.stderr);
    assert.deepEqual(readdirSync(tmpDir()), []);
  });

  it("a killed render's or extract's temp dir: removed by the next one into the same place", async () => {
    for (const verb of ['render', 'extract']) {
      const out = join(work, `${verb}-out`);
      const left = join(work, `.${verb}-out.rocket-tmp-0123456789ab`);
      const busy = join(work, `.${verb}-out.rocket-tmp-ba9876543210`);
      mkdirSync(join(left, 'rootfs'), { recursive: true });
      mkdirSync(busy);
      const fd = openSync(busy, 'r');
      assert.ok(FileLock.tryLockFd(fd, busy, 'exclusive'));
      try {
        const r = await rkt('image', verb, 'example.com/busybox', out);
        assert.equal(r.code, 0, r.stderr);
        assert.ok(existsSync(join(out, 'rootfs', 'bin', 'sh')));
        assert.equal(existsSync(left), false, `${verb} removed the leftover`);
        assert.ok(existsSync(busy), `${verb} kept the locked (live) one`);
      } finally {
        closeSync(fd);
        rmSync(busy, { recursive: true });
      }
    }
  });

  it("a killed render's temp dir: removed by image gc through the note it left in cas/tmp", async () => {
    const out = join(work, 'gc-out');
    const left = join(work, '.gc-out.rocket-tmp-0123456789ab');
    mkdirSync(join(left, 'rootfs'), { recursive: true });
    mkdirSync(tmpDir(), { recursive: true });
    // What Store.renderTo leaves when killed: an unlocked note naming the output.
    writeFileSync(join(tmpDir(), 'output-4321-0123456789ab'), out);
    const r = await rkt('image', 'gc');
    assert.equal(r.code, 0, r.stderr);
    assert.equal(existsSync(left), false);
    assert.deepEqual(readdirSync(tmpDir()), []);
  });

  /** Runs `rkt ARGS` with a stale plan file (`exit 99`) already where its launcher names its own. */
  const withStalePlan = (...args: string[]) => {
    const planDir = mkdtempSync(join(work, 'plans-'));
    // `exec` keeps the shell's pid: the launcher names its plan after that same pid.
    return run(
      'sh',
      [
        '-c',
        'echo "echo stale plan; exit 99" >"$TMPDIR/rkt-plan.$$"; exec "$@"',
        'sh',
        rktBin,
        `--dir=${data}`,
        ...args,
      ],
      { env: { ...process.env, TMPDIR: planDir } },
    );
  };

  it('a stale plan file named for the launcher pid does not fail rkt run', async () => {
    const r = await withStalePlan('run', '--net=none', 'example.com/busybox');
    assert.equal(r.code, 0, r.stderr);
    assert.doesNotMatch(r.stdout + r.stderr, /stale plan|EEXIST/);
    const prepared = existsSync(join(data, 'pods', 'prepared'))
      ? readdirSync(join(data, 'pods', 'prepared'))
      : [];
    assert.deepEqual(prepared, []);
  });

  it('a stale plan file named for the launcher pid is never run by a verb that writes no plan', async () => {
    // `app sandbox -h` goes the plan's way in the launcher (its words name `sandbox`), but stage0
    // only prints help: the stale file (a killed launcher's, whose pid we now have) must not run.
    const r = await withStalePlan('app', 'sandbox', '-h');
    assert.equal(r.code, 0, r.stderr);
    assert.doesNotMatch(r.stdout + r.stderr, /stale plan/);
    assert.match(r.stdout, /Usage:/);
  });

  it('rkt gc collects a prepared pod whose rkt run died before running it, and keeps the others', async () => {
    const prepare = async (): Promise<string> => {
      const r = await rkt('prepare', 'example.com/busybox');
      assert.equal(r.code, 0, r.stderr);
      return r.stdout.trim();
    };
    const abandoned = await prepare();
    const alive = await prepare();
    const userPrepared = await prepare();
    const podDir = (uuid: string) => join(data, 'pods', 'prepared', uuid);
    // What `rkt run` writes at prepare time: its launcher's pid and start time. A pid beyond
    // pid_max belongs to no process; this test's own pid and start time are alive.
    writeFileSync(join(podDir(abandoned), 'run-launcher'), '4194305 12345\n');
    const stat = spawnSync('cat', [`/proc/${process.pid}/stat`], { encoding: 'utf8' }).stdout;
    const start = stat.slice(stat.lastIndexOf(')') + 2).split(' ')[19];
    writeFileSync(join(podDir(alive), 'run-launcher'), `${process.pid} ${start}\n`);
    const r = await rkt('gc', '--grace-period=0s');
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stderr, new RegExp(`moving abandoned prepared pod "${abandoned}" to garbage`));
    assert.equal(existsSync(podDir(abandoned)), false);
    assert.ok(existsSync(podDir(alive)));
    assert.ok(existsSync(podDir(userPrepared)));
  });
});
