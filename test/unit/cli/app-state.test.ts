/**
 * `rkt app status`/`list`'s reading of the supervisor's status files (src/cli/rkt/pod/app.ts): an
 * app's exit-code file is made before its code is written into it, so an empty one is not an exit.
 */
import { strict as assert } from 'node:assert';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';
import { appStatusObject } from '../../../src/cli/rkt/pod/app.js';
import { appState } from '../../../src/pod-layout.js';
import type { PodInfo } from '../../../src/pod/index.js';

describe('app state from the status files', () => {
  const pod = mkdtempSync(join(tmpdir(), 'rocket-app-state-'));
  const status = join(pod, 'stage1', 'rootfs', 'rkt', 'status');
  mkdirSync(status, { recursive: true });
  after(() => rmSync(pod, { recursive: true, force: true }));
  const info = { path: pod } as PodInfo;

  it('created, then running, then exited once the code is written (not when its file is made)', () => {
    assert.equal(appState(pod, 'a'), 'created');
    writeFileSync(join(status, 'a-started'), '');
    assert.equal(appState(pod, 'a'), 'running');
    writeFileSync(join(status, 'a'), '');
    assert.equal(appState(pod, 'a'), 'running');
    const o = appStatusObject(info, 'a');
    assert.equal(o['state'], 'running');
    assert.equal(o['exit_code'], undefined);
    assert.equal(o['finished_at'], undefined);
    writeFileSync(join(status, 'a'), '3\n');
    assert.equal(appState(pod, 'a'), 'exited');
    const e = appStatusObject(info, 'a');
    assert.equal(e['state'], 'exited');
    assert.equal(e['exit_code'], 3);
    assert.equal(typeof e['finished_at'], 'number');
  });
});
