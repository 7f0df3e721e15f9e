import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { mkdirSync, readdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { parseStatusArgs, parseWait, renderStatus } from '../../../src/cli/rkt/pod/status.js';
import { podJsonObject } from '../../../src/cli/rkt/pod/json.js';
import { writeEngineState } from '../../../src/stage1/engine.js';
import type { PodInfo } from '../../../src/pod/index.js';
import { tempDir } from '../../helpers.js';

describe('rkt status', () => {
  it('parses --wait as rkt does (bare flag never takes the UUID)', () => {
    assert.deepEqual(parseStatusArgs(['--wait', 'abc']), {
      wait: Infinity,
      waitReady: 0,
      format: '',
      uuid: 'abc',
    });
    assert.equal(parseStatusArgs(['--wait=10s', 'abc']).wait, 10_000);
    assert.equal(parseWait('false', 'wait'), 0);
    assert.equal(parseWait('-1s', 'wait'), Infinity);
    assert.equal(parseStatusArgs(['--format', 'json', 'x']).format, 'json');
  });

  it('prints key=value lines with exit codes for an exited pod', async () => {
    const tmp = await tempDir('rocket-pod-status-');
    try {
      const status = join(tmp.path, 'stage1', 'rootfs', 'rkt', 'status');
      mkdirSync(status, { recursive: true });
      writeFileSync(join(status, 'a'), '0');
      writeFileSync(join(status, 'b'), '3');
      const pod: PodInfo = {
        uuid: 'u',
        stateDir: 'run',
        path: tmp.path,
        state: 'exited',
        created: new Date(0),
        started: new Date(1000),
        pid: 42,
      };
      const lines = renderStatus(pod).trimEnd().split('\n');
      assert.match(lines[0] ?? '', /^state=exited$/);
      assert.match(lines[1] ?? '', /^created=19(69|70)-/);
      assert.match(lines[2] ?? '', /^started=/);
      assert.deepEqual(lines.slice(3), ['networks=', 'pid=42', 'exited=true', 'app-a=0', 'app-b=3']);
      assert.deepEqual(
        renderStatus({ ...pod, state: 'running' })
          .trimEnd()
          .split('\n')
          .slice(3),
        ['networks=', 'pid=42', 'exited=false'],
      );
    } finally {
      await tmp.cleanup();
    }
  });

  it("adds the engine that ran the pod after rkt's lines and keys: oci's runtime, kvm's accelerator", async () => {
    const tmp = await tempDir('rocket-pod-status-');
    try {
      mkdirSync(join(tmp.path, 'stage1'), { recursive: true });
      const pod: PodInfo = { uuid: 'u', stateDir: 'run', path: tmp.path, state: 'running', pid: 42 };
      const tail = (): string[] => renderStatus(pod).trimEnd().split('\n').slice(1);
      assert.deepEqual(tail(), ['networks=', 'pid=42', 'exited=false']);
      assert.equal(podJsonObject(pod)['engine'], undefined);
      writeEngineState(tmp.path, { engine: 'kvm', accel: 'tcg', apps: ['a'] });
      assert.deepEqual(tail(), ['networks=', 'pid=42', 'exited=false', 'engine=kvm', 'accelerator=tcg']);
      const kvm = podJsonObject(pod);
      assert.deepEqual(Object.keys(kvm).slice(-2), ['engine', 'accelerator']);
      assert.equal(kvm['accelerator'], 'tcg');
      writeEngineState(tmp.path, { engine: 'oci', runtime: 'runc' });
      assert.deepEqual(tail().slice(-2), ['engine=oci', 'runtime=runc']);
      assert.equal(podJsonObject(pod)['runtime'], 'runc');
      writeEngineState(tmp.path, { engine: 'fly' });
      assert.deepEqual(tail().slice(-1), ['engine=fly']);
      assert.deepEqual(readdirSync(join(tmp.path, 'stage1')), ['engine.json']);
    } finally {
      await tmp.cleanup();
    }
  });
});
