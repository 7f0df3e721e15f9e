/**
 * The test helpers that write to a child's stdin: a child that exits without reading it must
 * not end the test process with an unhandled EPIPE (issue 16: gpg.test.ts failed now and then).
 */
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { describe, it } from 'node:test';

import { endStdin, run } from '../../helpers.js';

// More than a pipe holds (64 KiB), so the write cannot complete before the child is gone.
const big = 'x'.repeat(4 * 1024 * 1024);

describe('writing to a child that does not read its stdin', () => {
  it('run() gives the exit status instead of an unhandled EPIPE', async () => {
    const r = await run('sh', ['-c', 'exit 3'], { input: big });
    assert.equal(r.code, 3);
  });

  it('endStdin() tolerates EPIPE on a raw spawned child', async () => {
    const child = spawn('true', [], { stdio: ['pipe', 'ignore', 'ignore'] });
    const closed = new Promise<number | null>((resolve) => child.on('close', resolve));
    endStdin(child, Buffer.from(big));
    assert.equal(await closed, 0);
  });
});
