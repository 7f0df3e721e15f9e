/**
 * The engines' app operations (`rkt app ...`): which engine a pod's app commands go to (its
 * `stage1/engine.json`), engines with and without them, and `rkt app sandbox` refusing an engine
 * without them (fly) or an unknown one in one line with 254, before any pod is made.
 */
import assert from 'node:assert/strict';
import { mkdirSync, mkdtempSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { RocketError } from '../../../src/errors.js';
import { ENGINES, engineByName, engineForPod } from '../../../src/stage1/engine-table.js';
import { engineApps, loadEngine, loadEngineForPod } from '../../../src/stage1/engines.js';
import { projectRoot, run } from '../../helpers.js';

const RKT = join(projectRoot, 'bin', 'rkt');
const WITH_APPS = ['oci', 'nspawn', 'kvm'] as const;
const WITHOUT_APPS = ['fly'];

function refused(f: () => unknown, why: RegExp): void {
  assert.throws(f, (err: unknown) => {
    assert.ok(err instanceof RocketError);
    assert.equal(err.exitCode, 254);
    assert.match(err.message, why);
    assert.ok(!err.message.includes('\n'), err.message);
    return true;
  });
}

describe('engine app operations', () => {
  let dir: string;
  before(() => {
    dir = mkdtempSync(join(tmpdir(), 'rocket-engine-apps-'));
  });
  after(() => rmSync(dir, { recursive: true, force: true }));

  /** A pod dir whose engine state names `engine` (or has none). */
  function pod(name: string, engine?: unknown): { uuid: string; path: string } {
    const p = join(dir, name);
    mkdirSync(join(p, 'stage1'), { recursive: true });
    if (engine !== undefined) writeFileSync(join(p, 'stage1', 'engine.json'), JSON.stringify({ engine }));
    return { uuid: name, path: p };
  }

  it('oci, nspawn and kvm have them; fly is refused in one line', () => {
    for (const name of WITH_APPS) {
      const apps = engineApps(engineByName(name));
      for (const op of ['supervisorRunning', 'send', 'add', 'removeFiles', 'hostNetwork'] as const)
        assert.equal(typeof apps[op], 'function', `${name}.${op}`);
    }
    refused(() => engineApps(engineByName('fly')), /^the fly engine cannot run an app sandbox/);
    assert.deepEqual(
      ENGINES.filter((e) => e.apps === undefined).map((e) => e.name),
      WITHOUT_APPS,
    );
  });

  it('goes to the engine that runs the pod, from its engine state; an unknown or missing one is refused', () => {
    for (const name of WITH_APPS) {
      const e = engineForPod(pod(`p-${name}`, name));
      assert.equal(e.name, name);
      assert.equal(engineApps(e), engineByName(name).apps);
    }
    refused(() => engineApps(engineForPod(pod('p-fly', 'fly'))), /fly engine cannot run an app sandbox/);
    refused(() => engineForPod(pod('p-weird', 'weird')), /unknown engine "weird"/);
    refused(() => engineForPod(pod('p-none')), /has no engine state/);
  });

  it('the lazy loaders give the same engines as the table, and refuse the same pods', async () => {
    for (const name of [...WITH_APPS, 'fly'] as const) {
      assert.equal(await loadEngine(name), engineByName(name), name);
      assert.equal(await loadEngineForPod(pod(`l-${name}`, name)), engineByName(name), name);
    }
    const rejected = async (p: { uuid: string; path: string }, why: RegExp): Promise<void> => {
      await assert.rejects(
        (async () => loadEngineForPod(p))(),
        (err: unknown) => err instanceof RocketError && err.exitCode === 254 && why.test(err.message),
      );
    };
    await rejected(pod('l-weird', 'weird'), /unknown engine "weird"/);
    await rejected(pod('l-none'), /has no engine state/);
  });

  it('a pod with no supervisor: not running, and a command reaches nobody', () => {
    for (const name of WITH_APPS) {
      const p = pod(`idle-${name}`, name);
      const apps = engineApps(engineByName(name));
      assert.equal(apps.supervisorRunning(p), false, name);
      assert.equal(apps.send(p, 'start x'), false, name);
    }
  });

  it('rkt app sandbox with fly or an unknown engine: one line, 254, no pod made', async () => {
    const data = join(dir, 'data');
    const rkt = (...args: string[]) =>
      run(RKT, [
        `--dir=${data}`,
        `--system-config=${join(dir, 'system')}`,
        `--local-config=${join(dir, 'local')}`,
        ...args,
      ]);
    for (const [flag, why] of [
      ['--engine=fly', /^app sandbox: the fly engine cannot run an app sandbox/],
      [
        '--stage1-name=coreos.com/rkt/stage1-fly:1.30.0',
        /^app sandbox: the fly engine cannot run an app sandbox/,
      ],
      ['--engine=bogus', /^app sandbox: unknown engine "bogus"/],
    ] as const) {
      const r = await rkt('app', 'sandbox', flag);
      assert.equal(r.code, 254, `${flag}: ${r.stderr}`);
      assert.match(r.stderr, why);
      assert.equal(r.stderr.trim().split('\n').length, 1, r.stderr);
    }
    let pods: string[] = [];
    try {
      pods = readdirSync(join(data, 'pods', 'prepared'));
    } catch {
      // no pods dir at all
    }
    assert.deepEqual(pods, []);
  });
});
