/**
 * The CNI DELs off the path that reports a pod's exit status (src/stage1/oci/supervisor.sh), as
 * root, inside a namespace this file made that stands in for the host (fixture.ts): `rkt run`
 * returns the pod's status while the DELs still run in the supervisor's subshell, which keeps the
 * pod lock until they end, so `rkt rm` and `rkt gc` wait for them, and collect everything after. The
 * network is a `.conflist` of ptp and a gate plugin of this file whose DEL waits for a file the
 * test writes (so "still running" is observed, not raced). Subnets here (10.251.x) are this
 * file's own.
 */
import assert from 'node:assert/strict';
import { existsSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { NetWorld, buildAci, skip, waitFor } from './fixture.js';
import { skipUnlessCI } from '../../helpers.js';

describe('the CNI DELs after rkt run returns', { skip: skipUnlessCI(skip, 'networking tests') }, () => {
  let w: NetWorld;
  let client: string;
  let release: string;
  let begun: string;
  let done: string;
  const sh = (script: string): string[] => ['--exec=/bin/sh', '--', '-c', script];
  const lines = (f: string): string[] => (existsSync(f) ? readFileSync(f, 'utf8').split('\n') : []);

  before(() => {
    w = NetWorld.create('rocket-net-bgdel-');
    client = buildAci(w.work, 'client', { exec: ['/bin/true'] });
    release = join(w.work, 'release-dels');
    begun = join(w.work, 'dels-begun');
    done = join(w.work, 'dels-done');
    // ADD passes the previous plugin's result on; DEL waits for the release file.
    const passOn =
      'let s="";process.stdin.on("data",(d)=>{s+=d}).on("end",()=>{process.stdout.write(JSON.stringify(JSON.parse(s).prevResult))})';
    writeFileSync(
      join(w.localConfig, 'net.d', 'rktt-gate'),
      [
        '#!/bin/sh',
        'case $CNI_COMMAND in',
        `ADD) exec '${process.execPath}' -e '${passOn}' ;;`,
        `DEL) echo "$CNI_CONTAINERID" >>'${begun}'`,
        `  while [ ! -e '${release}' ]; do sleep 0.05; done`,
        `  echo "$CNI_CONTAINERID" >>'${done}' ;;`,
        'esac',
        '',
      ].join('\n'),
      { mode: 0o755 },
    );
    w.conf('10-rkttgate.conflist', {
      cniVersion: '1.0.0',
      name: 'rkttgate',
      plugins: [
        { type: 'ptp', ipam: { type: 'host-local', subnet: '10.251.1.0/24' } },
        { type: 'rktt-gate' },
      ],
    });
  });

  after(async () => {
    writeFileSync(release, '');
    await w.close();
  });

  /** Runs a one-shot pod on the gated network to its end; returns the result and the UUID. */
  async function runPod(
    script: string,
  ): Promise<{ code: number; stdout: string; stderr: string; uuid: string }> {
    const uuidFile = join(w.work, `uuid-${Date.now()}-${Math.random()}`);
    const r = await w.rkt(
      '--insecure-options=image',
      'run',
      '--net=rkttgate',
      `--uuid-file-save=${uuidFile}`,
      client,
      ...sh(script),
    );
    const uuid = readFileSync(uuidFile, 'utf8').trim();
    w.track(uuid);
    return { ...r, uuid };
  }

  it('reports the exit status first; the pod stays locked until its DELs end; rkt rm waits for them', async () => {
    rmSync(release, { force: true });
    const r = await runPod('exit 3');
    // The status came back while the gate's DEL is held: the DELs had not ended.
    assert.equal(r.code, 3, r.stderr);
    await waitFor('the DEL to begin', () => lines(begun).includes(r.uuid));
    assert.equal(lines(done).includes(r.uuid), false);
    // The teardown holds the pod lock: running, and its network is still there.
    assert.equal((await w.status(r.uuid))['state'], 'running');
    assert.ok(existsSync(join(w.data, 'pods', 'run', r.uuid, 'ns-net')));
    // `rkt rm` right after `rkt run` (as a script would do with rkt's pods) waits for the teardown
    // instead of refusing a running pod: it cannot end before the DEL is released.
    const rm = w.rkt('rm', r.uuid);
    assert.ok(existsSync(join(w.data, 'pods', 'run', r.uuid, 'stage1', 'tearing-down')));
    writeFileSync(release, '');
    const removed = await rm;
    assert.equal(removed.code, 0, removed.stderr);
    assert.ok(lines(done).includes(r.uuid));
    assert.equal(existsSync(join(w.data, 'pods', 'run', r.uuid)), false);
    assert.deepEqual(w.leftovers(r.uuid), []);
  });

  it('rkt gc right after rkt run collects the pod once its DELs end', async () => {
    rmSync(release, { force: true });
    const r = await runPod('exit 0');
    assert.equal(r.code, 0, r.stderr);
    await waitFor('the DEL to begin', () => lines(begun).includes(r.uuid));
    const gc = w.rkt('gc', '--grace-period=0s');
    assert.equal(lines(done).includes(r.uuid), false);
    writeFileSync(release, '');
    const res = await gc;
    assert.equal(res.code, 0, res.stderr);
    assert.match(res.stdout, new RegExp(`Garbage collecting pod "${r.uuid}"`));
    assert.deepEqual(w.leftovers(r.uuid), []);
  });

  it('gives a later pod on the same network an address (host-local released the first)', async () => {
    writeFileSync(release, '');
    const first = await runPod('ip -o -4 addr show eth0');
    const second = await runPod('ip -o -4 addr show eth0');
    for (const r of [first, second]) {
      assert.equal(r.code, 0, r.stderr);
      assert.match(r.stdout, /inet 10\.251\.1\.\d+\/24/);
    }
    await w.gc();
    assert.deepEqual(w.leftovers(first.uuid), []);
    assert.deepEqual(w.leftovers(second.uuid), []);
  });
});
