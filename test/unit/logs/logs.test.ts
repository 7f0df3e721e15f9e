/**
 * The pod log: the reader's merge, tail, since, partial records and rotation while following; the
 * mawk logger program itself (time stamps, echo, rotation); `rkt logs --since` parsing.
 */
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { appendFileSync, mkdirSync, readFileSync, readdirSync, renameSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { parseSince } from '../../../src/cli/rkt/logs.js';
import { LOGGER_PROGRAM, bootEpochCentis, logMaxSize, prepareLogCapture } from '../../../src/logs/capture.js';
import { formatRecord, parseRecord } from '../../../src/logs/format.js';
import { readLogs, type LogEntry } from '../../../src/logs/read.js';
import { which } from '../../../src/stage1/oci/runtime.js';
import { skipUnlessCI, tempDir, waitFor } from '../../helpers.js';

const t = (s: number): Date => new Date(Date.UTC(2026, 0, 2, 3, 4, 0) + s * 1000);
const rec = (s: number, stream: 'stdout' | 'stderr', text: string, partial = false): string =>
  formatRecord(t(s), stream, text, partial) + '\n';

async function collect(it: AsyncIterable<LogEntry>): Promise<string[]> {
  const out: string[] = [];
  for await (const e of it) out.push(`${e.app}/${e.stream}:${e.line}`);
  return out;
}

describe('pod logs', () => {
  let dir: string;
  let cleanup: () => Promise<void>;
  before(async () => {
    ({ path: dir, cleanup } = await tempDir('rocket-logs-'));
  });
  after(() => cleanup());

  function pod(name: string, files: Record<string, string>): string {
    const p = join(dir, name);
    for (const [f, text] of Object.entries(files)) {
      mkdirSync(join(p, 'logs', f.split('/')[0] as string), { recursive: true });
      writeFileSync(join(p, 'logs', f), text);
    }
    return p;
  }

  it('parses and formats records', () => {
    const r = parseRecord('2026-01-02T03:04:05.12Z stderr P  two spaces');
    assert.deepEqual(r, {
      time: new Date(Date.UTC(2026, 0, 2, 3, 4, 5, 120)),
      stream: 'stderr',
      partial: true,
      content: ' two spaces',
    });
    assert.equal(parseRecord('garbage'), undefined);
    assert.equal(parseRecord('2026-01-02T03:04:05Z stdout F ')?.content, '');
    assert.equal(parseRecord('2026-01-02T03:04:05.123456789Z stdout F x')?.time.getUTCMilliseconds(), 123);
    assert.equal(parseRecord('2026-01-02T03:04:05Z stdout F x')?.content, 'x');
  });

  it('merges every app stream by time, the rotated generation first', async () => {
    const p = pod('merge', {
      'a/stdout.log.1': rec(1, 'stdout', 'a1') + rec(3, 'stdout', 'a3'),
      'a/stdout.log': rec(5, 'stdout', 'a5'),
      'a/stderr.log': rec(2, 'stderr', 'a2') + rec(6, 'stderr', 'a6'),
      'b/stdout.log': rec(0, 'stdout', 'b0') + rec(4, 'stdout', 'b4') + rec(7, 'stdout', 'b7'),
    });
    assert.deepEqual(await collect(readLogs(p)), [
      'b/stdout:b0',
      'a/stdout:a1',
      'a/stderr:a2',
      'a/stdout:a3',
      'b/stdout:b4',
      'a/stdout:a5',
      'a/stderr:a6',
      'b/stdout:b7',
    ]);
    assert.deepEqual(await collect(readLogs(p, { app: 'a', lines: 2 })), ['a/stdout:a5', 'a/stderr:a6']);
    assert.deepEqual(await collect(readLogs(p, { since: t(5) })), [
      'a/stdout:a5',
      'a/stderr:a6',
      'b/stdout:b7',
    ]);
    assert.deepEqual(await collect(readLogs(p, { lines: 0 })), []);
  });

  it('joins partial records and keeps a last line without newline', async () => {
    const p = pod('partial', {
      'a/stdout.log':
        rec(1, 'stdout', 'hel', true) + rec(1, 'stdout', 'lo') + rec(2, 'stdout', 'tail').trimEnd(),
    });
    assert.deepEqual(await collect(readLogs(p)), ['a/stdout:hello', 'a/stdout:tail']);
  });

  it('follows a pod that has not run yet, through a rotation, until it is stopped', async () => {
    const p = pod('follow', { 'a/stdout.log': rec(1, 'stdout', 'one') });
    const ac = new AbortController();
    const got: string[] = [];
    const reader = (async () => {
      for await (const e of readLogs(p, { follow: true, signal: ac.signal })) got.push(e.line);
    })();
    await waitFor('the first line', () => got.length === 1);
    appendFileSync(join(p, 'logs', 'a', 'stdout.log'), rec(2, 'stdout', 'two'));
    await waitFor('an appended line', () => got.length === 2);
    // The writer's rotation: the current file becomes .1, a new one starts.
    appendFileSync(join(p, 'logs', 'a', 'stdout.log'), rec(3, 'stdout', 'three'));
    renameSync(join(p, 'logs', 'a', 'stdout.log'), join(p, 'logs', 'a', 'stdout.log.1'));
    writeFileSync(join(p, 'logs', 'a', 'stdout.log'), rec(4, 'stdout', 'four'));
    mkdirSync(join(p, 'logs', 'b'));
    writeFileSync(join(p, 'logs', 'b', 'stderr.log'), rec(5, 'stderr', 'five'));
    await waitFor('the lines around the rotation and a new app', () => got.length >= 5);
    ac.abort();
    await reader;
    assert.deepEqual(got, ['one', 'two', 'three', 'four', 'five']);
  });

  it('a follower ends once the pod has run and its lock is free', async () => {
    const p = pod('ended', { 'a/stdout.log': rec(1, 'stdout', 'x') });
    writeFileSync(join(p, 'pid'), '1\n');
    assert.deepEqual(await collect(readLogs(p, { follow: true })), ['a/stdout:x']);
  });

  it('reads RKT_LOG_MAX_SIZE', () => {
    assert.equal(logMaxSize({}), 4 * 1024 * 1024);
    assert.equal(logMaxSize({ RKT_LOG_MAX_SIZE: '512K' }), 512 * 1024);
    assert.equal(logMaxSize({ RKT_LOG_MAX_SIZE: '2M' }), 2 * 1024 * 1024);
    assert.throws(() => logMaxSize({ RKT_LOG_MAX_SIZE: '10' }), /RKT_LOG_MAX_SIZE=10/);
    assert.throws(() => logMaxSize({ RKT_LOG_MAX_SIZE: 'lots' }), /RKT_LOG_MAX_SIZE=lots/);
  });

  it('parses --since as a duration or a time', () => {
    const now = Date.UTC(2026, 0, 2, 12, 0, 0);
    assert.equal(parseSince('10m', now).getTime(), now - 600_000);
    assert.equal(parseSince('1h30m', now).getTime(), now - 5_400_000);
    // Go's micro sign and Greek mu (the source writes them as escapes: the snapshot's bundle is ASCII).
    assert.equal(parseSince('2000000\u00b5s', now).getTime(), now - 2000);
    assert.equal(parseSince('2000000\u03bcs', now).getTime(), now - 2000);
    assert.equal(parseSince('2026-01-02T03:04:05.5Z').getTime(), Date.UTC(2026, 0, 2, 3, 4, 5, 500));
    assert.equal(parseSince('2026-01-02T03:04:05+02:00').getTime(), Date.UTC(2026, 0, 2, 1, 4, 5));
    assert.equal(parseSince('2026-01-02').getTime(), Date.UTC(2026, 0, 2));
    assert.throws(() => parseSince('yesterday'), /expected a duration/);
    assert.throws(() => parseSince('10x'), /unknown unit/);
  });

  it(
    'the mawk logger echoes, time-stamps (centiseconds) and rotates',
    { skip: skipUnlessCI(which('mawk') ? false : 'needs mawk') },
    () => {
      const p = join(dir, 'awk');
      mkdirSync(p);
      prepareLogCapture(p, ['a']);
      const file = join(p, 'out.log');
      const lines = Array.from(
        { length: 40 },
        (_, i) => `line ${String(i).padStart(3, '0')} ${'x'.repeat(40)}`,
      );
      const before = Date.now();
      const r = spawnSync('mawk', ['-W', 'interactive', '-f', join(p, LOGGER_PROGRAM)], {
        input: lines.join('\n') + '\n',
        encoding: 'utf8',
        env: {
          ...process.env,
          LOGF: file,
          LOGSTREAM: 'stderr',
          LOGMAX: '1024',
          LOGEPOCH: String(bootEpochCentis()),
        },
      });
      const afterMs = Date.now();
      assert.equal(r.status, 0, r.stderr);
      assert.equal(r.stdout, lines.join('\n') + '\n');
      assert.deepEqual(
        readdirSync(p)
          .filter((f) => f.startsWith('out'))
          .sort(),
        ['out.log', 'out.log.1'],
      );
      const current = readFileSync(file, 'utf8');
      const old = readFileSync(file + '.1', 'utf8');
      assert.ok(old.length >= 1024 && old.length < 1024 + 100, `rotated at ${old.length} bytes`);
      const records = (old + current)
        .trimEnd()
        .split('\n')
        .map((l) => parseRecord(l));
      assert.deepEqual(
        records.map((x) => x?.content),
        lines.slice(lines.length - records.length),
      );
      for (const x of records) {
        assert.equal(x?.stream, 'stderr');
        const ms = x?.time.getTime() ?? 0;
        assert.ok(ms >= before - 30 && ms <= afterMs + 30, `time ${x?.time.toISOString()} within the run`);
      }
      assert.match(current.split('\n')[0] as string, /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d\dZ stderr F line/);
    },
  );
});
