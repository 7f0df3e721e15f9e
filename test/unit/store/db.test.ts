/**
 * Opening the store's database: a current schema is used as it is (no write transaction at open);
 * a missing table or index is made again (SCHEMA grows without a version bump); a newer version is
 * refused.
 */
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import Database from 'better-sqlite3';
import { Store } from '../../../src/store/index.js';
import { tempDir } from './helpers.js';

describe('store: opening the database', () => {
  let t: ReturnType<typeof tempDir>;
  let file: string;
  before(() => {
    t = tempDir('db');
    Store.open(join(t.dir, 'data')).close();
    file = join(t.dir, 'data', 'cas', 'db', 'rocket.sqlite');
  });
  after(() => t.cleanup());

  const objects = (): string[] => {
    const db = new Database(file, { readonly: true });
    try {
      return (db.prepare('SELECT name FROM sqlite_master ORDER BY name').all() as { name: string }[]).map(
        (r) => r.name,
      );
    } finally {
      db.close();
    }
  };
  const change = (sql: string): void => {
    const db = new Database(file);
    try {
      db.exec(sql);
    } finally {
      db.close();
    }
  };

  it('a table or index missing from a store of this version is made again', () => {
    const all = objects();
    assert.ok(all.includes('imageref') && all.includes('imagerefkeyidx'), all.join(' '));
    change('DROP INDEX imagerefkeyidx; DROP TABLE imageref;');
    assert.ok(!objects().includes('imageref'));
    const s = Store.open(join(t.dir, 'data'));
    s.close();
    assert.deepEqual(objects(), all);
  });

  it('a current schema is left as it is (an open does not wait for a writer), and a newer version is refused', () => {
    const all = objects();
    // Another connection holds the write lock: a store open only reads, so it does not wait.
    const writer = new Database(file);
    try {
      writer.exec('BEGIN IMMEDIATE');
      const s = Store.open(join(t.dir, 'data'));
      assert.equal(s.listImages().length, 0);
      s.close();
      writer.exec('COMMIT');
    } finally {
      writer.close();
    }
    assert.deepEqual(objects(), all);
    change('UPDATE version SET version = 99');
    assert.throws(
      () => Store.open(join(t.dir, 'data')),
      (err: unknown) => err instanceof Error && /version 99 is newer/.test(err.message),
    );
  });
});
