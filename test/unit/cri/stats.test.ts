/**
 * CRI statistics from cgroup files (src/cri/stats.ts), over fake v1 and v2 trees: CPU time, the
 * working set, RSS and faults, the CPU rate between samples, the writable layer's usage, and the
 * CRI messages made of them.
 */
import assert from 'node:assert/strict';
import { linkSync, mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import {
  diskUsage,
  nanoCores,
  parseKeyValues,
  readCgroup,
  usageMessages,
  workingSet,
} from '../../../src/cri/stats.js';
import { tempDir } from '../../helpers.js';

describe('cri stats', () => {
  let dir: string;
  let cleanup: () => Promise<void>;
  before(async () => {
    ({ path: dir, cleanup } = await tempDir('rocket-cri-stats-'));
  });
  after(async () => cleanup());

  const write = (file: string, text: string): void => {
    mkdirSync(join(file, '..'), { recursive: true });
    writeFileSync(file, text);
  };

  it('parses key-value files and never lets the working set go below zero', () => {
    assert.deepEqual(
      [...parseKeyValues('cache 10\nrss 20\n\nbad line x\ntotal_rss 30\n').entries()],
      [
        ['cache', 10n],
        ['rss', 20n],
        ['total_rss', 30n],
      ],
    );
    assert.equal(workingSet(100n, 30n), 70n);
    assert.equal(workingSet(100n, 300n), 0n);
    assert.equal(workingSet(100n, undefined), 100n);
  });

  it('reads a v1 cgroup (cpuacct and memory hierarchies)', () => {
    const root = join(dir, 'v1');
    write(join(root, 'cpuacct', 'rkt-x', 'app', 'cpuacct.usage'), '123456789\n');
    write(join(root, 'memory', 'rkt-x', 'app', 'memory.usage_in_bytes'), '5000\n');
    write(
      join(root, 'memory', 'rkt-x', 'app', 'memory.stat'),
      'inactive_file 1\ntotal_inactive_file 1000\ntotal_rss 3000\ntotal_pgfault 7\ntotal_pgmajfault 2\n',
    );
    assert.deepEqual(readCgroup('rkt-x/app', root, 1000), {
      timestamp: 1_000_000_000n,
      cpuNanos: 123456789n,
      memoryUsage: 5000n,
      workingSet: 4000n,
      rss: 3000n,
      pageFaults: 7n,
      majorPageFaults: 2n,
    });
    assert.equal(readCgroup('rkt-x/none', root), undefined);
  });

  it('reads a v2 cgroup', () => {
    const root = join(dir, 'v2');
    write(join(root, 'rkt-y', 'app', 'cpu.stat'), 'usage_usec 2500\nuser_usec 2000\nsystem_usec 500\n');
    write(join(root, 'rkt-y', 'app', 'memory.current'), '9000\n');
    write(
      join(root, 'rkt-y', 'app', 'memory.stat'),
      'anon 4000\ninactive_file 1500\npgfault 11\npgmajfault 1\n',
    );
    assert.deepEqual(readCgroup('rkt-y/app', root, 2000), {
      timestamp: 2_000_000_000n,
      cpuNanos: 2_500_000n,
      memoryUsage: 9000n,
      workingSet: 7500n,
      rss: 4000n,
      pageFaults: 11n,
      majorPageFaults: 1n,
    });
  });

  it('computes the CPU rate between two samples, and makes the CRI messages', () => {
    const a = { timestamp: 1_000_000_000n, cpuNanos: 100n };
    const b = { timestamp: 3_000_000_000n, cpuNanos: 1_000_000_100n, workingSet: 5n };
    assert.equal(nanoCores(a, b), 500_000_000n);
    assert.equal(nanoCores(undefined, b), undefined);
    assert.equal(nanoCores(b, a), undefined);
    const m = usageMessages(b, 500_000_000n) as {
      cpu: {
        timestamp: string;
        usage_core_nano_seconds: { value: string };
        usage_nano_cores: { value: string };
      };
      memory: { working_set_bytes: { value: string }; usage_bytes: null };
    };
    assert.equal(m.cpu.timestamp, '3000000000');
    assert.deepEqual(m.cpu.usage_core_nano_seconds, { value: '1000000100' });
    assert.deepEqual(m.cpu.usage_nano_cores, { value: '500000000' });
    assert.deepEqual(m.memory.working_set_bytes, { value: '5' });
    assert.equal(m.memory.usage_bytes, null);
  });

  it("counts a writable layer's bytes and inodes, hard links once", () => {
    const upper = join(dir, 'upper');
    write(join(upper, 'a', 'file'), 'x'.repeat(10_000));
    linkSync(join(upper, 'a', 'file'), join(upper, 'link'));
    const du = diskUsage(upper);
    assert.equal(du.inodes, 3n);
    assert.ok(du.bytes >= 10_000n, String(du.bytes));
    assert.deepEqual(diskUsage(join(dir, 'missing')), { bytes: 0n, inodes: 0n });
  });
});
