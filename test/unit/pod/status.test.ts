import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { parseStatusArgs, parseWait, renderStatus } from '../../../src/cli/rkt/pod/status.js';
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
});
