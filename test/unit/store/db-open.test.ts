// Opening the store's database while another connection holds it locked: the open retries a
// 'database is locked' that SQLite's busy timeout did not wait for, until the lock goes or the
// retry time is over. The lock is held by a worker thread, released when the first retry says so.
import assert from 'node:assert/strict';
import { once } from 'node:events';
import { createRequire } from 'node:module';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { Worker } from 'node:worker_threads';
import { RocketError } from '../../../src/errors.js';
import { StoreDb } from '../../../src/store/db.js';
import { tempDir } from './helpers.js';

/** Takes an exclusive lock on the database, holds it until flag 1 is set, then commits and ends. */
const HOLDER = `
const { parentPort, workerData } = require('node:worker_threads');
const Sqlite = require(workerData.sqlite);
const db = new Sqlite(workerData.file);
db.exec('BEGIN EXCLUSIVE');
parentPort.postMessage('locked');
const flags = new Int32Array(workerData.flags);
Atomics.wait(flags, 1, 0);
db.exec('COMMIT');
db.close();
`;

/** A worker holding `file` locked; `release()` lets it go (callable from synchronous code). */
async function lockHolder(file: string): Promise<{ release: () => void; ended: Promise<unknown> }> {
  const flags = new Int32Array(new SharedArrayBuffer(8));
  const worker = new Worker(HOLDER, {
    eval: true,
    workerData: {
      file,
      flags: flags.buffer,
      sqlite: createRequire(import.meta.url).resolve('better-sqlite3'),
    },
  });
  const ended = once(worker, 'exit');
  const [msg] = (await Promise.race([once(worker, 'message'), ended])) as unknown[];
  assert.equal(msg, 'locked', 'the holder took the lock');
  return {
    release: () => {
      Atomics.store(flags, 1, 1);
      Atomics.notify(flags, 1);
    },
    ended,
  };
}

describe('store database: opening while another connection holds the lock', () => {
  it('retries, and opens once the lock is released after the first retry', async () => {
    const t = tempDir('db-locked');
    try {
      const file = join(t.dir, 'ql.db');
      const holder = await lockHolder(file);
      const retries: number[] = [];
      let db: StoreDb | undefined;
      try {
        db = new StoreDb(file, {
          busyTimeoutMs: 0,
          onRetry: (attempt) => {
            retries.push(attempt);
            if (attempt === 0) holder.release();
          },
        });
        assert.ok(retries.length >= 1 && retries[0] === 0, `retried: ${JSON.stringify(retries)}`);
        assert.equal(db.info('sha512-00'), undefined, 'the opened database answers');
      } finally {
        db?.close();
        holder.release(); // a no-op after the first retry; ends the holder if the open failed
      }
      assert.deepEqual(await holder.ended, [0]);
    } finally {
      t.cleanup();
    }
  });

  it('gives up when the retry time is over: one line naming the file', async () => {
    const t = tempDir('db-locked-timeout');
    try {
      const file = join(t.dir, 'ql.db');
      const holder = await lockHolder(file);
      let retries = 0;
      try {
        assert.throws(
          () => new StoreDb(file, { busyTimeoutMs: 0, retryForMs: 50, onRetry: () => retries++ }),
          (e: unknown) =>
            e instanceof RocketError &&
            e.message === `${file}: cannot open the store database: SqliteError: database is locked`,
        );
        assert.ok(retries >= 1, 'retried before giving up');
      } finally {
        holder.release();
      }
      assert.deepEqual(await holder.ended, [0]);
    } finally {
      t.cleanup();
    }
  });
});
