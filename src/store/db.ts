import type Database from 'better-sqlite3';
import { requireNative, resolveNative } from '../native.js';
import type { Label } from '../appc/index.js';
import { storeError } from './util.js';

/** Bumped when the schema changes; a newer DB than this is refused rather than misread. */
export const SCHEMA_VERSION = 1;

/**
 * rkt's tables (store/imagestore/schema.go) with SQLite types, plus `label`: the image labels, so a
 * name+labels lookup need not read every manifest (rkt reads them). Times are milliseconds since
 * the epoch.
 */
const SCHEMA = [
  'CREATE TABLE IF NOT EXISTS version (version INTEGER NOT NULL)',
  `CREATE TABLE IF NOT EXISTS aciinfo (
     blobkey TEXT PRIMARY KEY NOT NULL,
     name TEXT NOT NULL,
     importtime INTEGER NOT NULL,
     lastused INTEGER NOT NULL,
     latest INTEGER NOT NULL DEFAULT 0,
     size INTEGER NOT NULL DEFAULT 0,
     treestoresize INTEGER NOT NULL DEFAULT 0)`,
  'CREATE INDEX IF NOT EXISTS nameidx ON aciinfo (name)',
  `CREATE TABLE IF NOT EXISTS label (
     blobkey TEXT NOT NULL REFERENCES aciinfo (blobkey) ON DELETE CASCADE,
     name TEXT NOT NULL,
     value TEXT NOT NULL,
     PRIMARY KEY (blobkey, name))`,
  `CREATE TABLE IF NOT EXISTS remote (
     aciurl TEXT NOT NULL UNIQUE,
     sigurl TEXT NOT NULL DEFAULT '',
     etag TEXT NOT NULL DEFAULT '',
     blobkey TEXT NOT NULL,
     cachemaxage INTEGER NOT NULL DEFAULT 0,
     downloadtime INTEGER NOT NULL)`,
  // The CRI image service's names (src/cri/images.ts): each repo tag (`REGISTRY/REPO:TAG`) and repo
  // digest (`REGISTRY/REPO@DIGEST`) names one image; an image removed from the store loses its names.
  `CREATE TABLE IF NOT EXISTS imageref (
     ref TEXT PRIMARY KEY NOT NULL,
     kind TEXT NOT NULL,
     blobkey TEXT NOT NULL REFERENCES aciinfo (blobkey) ON DELETE CASCADE)`,
  'CREATE INDEX IF NOT EXISTS imagerefkeyidx ON imageref (blobkey)',
];

/** The tables and indexes SCHEMA makes, by name. */
const SCHEMA_OBJECTS = SCHEMA.map((s) => (/IF NOT EXISTS (\w+)/.exec(s) as RegExpExecArray)[1] as string);

export interface AciInfoRow {
  blobkey: string;
  name: string;
  importtime: number;
  lastused: number;
  latest: number;
  size: number;
  treestoresize: number;
}

export interface RemoteRow {
  aciurl: string;
  sigurl: string;
  etag: string;
  blobkey: string;
  cachemaxage: number;
  downloadtime: number;
}

export interface ImageRefRow {
  ref: string;
  /** `tag` or `digest`. */
  kind: string;
  blobkey: string;
}

interface LabelRow {
  name: string;
  value: string;
}

/** SQLite's "database is locked" (SQLITE_BUSY and its extended codes). */
function isBusy(err: unknown): boolean {
  const code = (err as { code?: unknown } | null)?.code;
  return typeof code === 'string' && code.startsWith('SQLITE_BUSY');
}

/** How long opening the database waits for other processes' locks (tests make them short). */
export interface StoreDbOpenOptions {
  /** SQLite's busy timeout for every statement (ms). */
  busyTimeoutMs?: number;
  /** How long opening retries a 'database is locked' the busy timeout did not wait for (ms). */
  retryForMs?: number;
  /** Called at each such retry (0 for the first), before the pause. */
  onRetry?: (attempt: number) => void;
}

/** The SQLite index of the store. Every method is one statement or one transaction. */
export class StoreDb {
  private readonly db: Database.Database;

  constructor(file: string, opts: StoreDbOpenOptions = {}) {
    try {
      // Loaded on first open, and straight from its .node file (no search by the bindings package).
      const Sqlite = requireNative<typeof Database>('better-sqlite3');
      this.db = new Sqlite(file, {
        timeout: opts.busyTimeoutMs ?? 30_000,
        nativeBinding: resolveNative('better-sqlite3/build/Release/better_sqlite3.node'),
      });
      // WAL: readers never block the one writer, and a killed writer leaves no torn state.
      // Several processes opening a new store at once may find it locked in ways SQLite's busy
      // timeout does not wait for (the switch to WAL, the schema's first write): they try again.
      const deadline = Date.now() + (opts.retryForMs ?? 30_000);
      for (let attempt = 0; ; attempt++) {
        try {
          this.db.pragma('journal_mode = WAL');
          this.db.pragma('foreign_keys = ON');
          this.db.pragma('synchronous = FULL');
          if (!this.schemaCurrent()) this.migrate();
          break;
        } catch (err) {
          if (!isBusy(err) || Date.now() > deadline) throw err;
          opts.onRetry?.(attempt);
          Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, Math.min(100, 5 * 2 ** attempt));
        }
      }
    } catch (err) {
      throw storeError(`${file}: cannot open the store database: ${String(err)}`, 'unavailable', err);
    }
  }

  /**
   * Whether every table and index of SCHEMA is there and the version is this program's: then the
   * open needs no write transaction (SCHEMA grows with `IF NOT EXISTS` tables without a version
   * bump, so the objects are checked by name, not the version alone).
   */
  private schemaCurrent(): boolean {
    const { n } = this.db
      .prepare(
        `SELECT count(*) AS n FROM sqlite_master WHERE name IN (${SCHEMA_OBJECTS.map(() => '?').join(',')})`,
      )
      .get(...SCHEMA_OBJECTS) as { n: number };
    if (n !== SCHEMA_OBJECTS.length) return false;
    const row = this.db.prepare('SELECT version FROM version').get() as { version: number } | undefined;
    return row?.version === SCHEMA_VERSION;
  }

  private migrate(): void {
    this.db
      .transaction(() => {
        for (const stmt of SCHEMA) this.db.exec(stmt);
        const row = this.db.prepare('SELECT version FROM version').get() as { version: number } | undefined;
        if (row === undefined) {
          this.db.prepare('INSERT INTO version VALUES (?)').run(SCHEMA_VERSION);
        } else if (row.version > SCHEMA_VERSION) {
          throw new Error(`database version ${row.version} is newer than this program's (${SCHEMA_VERSION})`);
        }
      })
      .immediate();
  }

  close(): void {
    this.db.close();
  }

  info(key: string): AciInfoRow | undefined {
    return this.db.prepare('SELECT * FROM aciinfo WHERE blobkey = ?').get(key) as AciInfoRow | undefined;
  }

  infos(): AciInfoRow[] {
    return this.db.prepare('SELECT * FROM aciinfo ORDER BY importtime, blobkey').all() as AciInfoRow[];
  }

  keysWithPrefix(prefix: string): string[] {
    const rows = this.db
      .prepare('SELECT blobkey FROM aciinfo WHERE substr(blobkey, 1, ?) = ? ORDER BY blobkey')
      .all(prefix.length, prefix) as { blobkey: string }[];
    return rows.map((r) => r.blobkey);
  }

  infosWithName(name: string): AciInfoRow[] {
    return this.db
      .prepare('SELECT * FROM aciinfo WHERE name = ? ORDER BY importtime')
      .all(name) as AciInfoRow[];
  }

  labels(key: string): Label[] {
    const rows = this.db.prepare('SELECT name, value FROM label WHERE blobkey = ? ORDER BY rowid').all(key);
    return (rows as LabelRow[]).map((r) => ({ name: r.name, value: r.value }));
  }

  /** Inserts an image and its labels in one transaction; false if the key was already there. */
  insertImage(row: AciInfoRow, labels: readonly Label[]): boolean {
    return this.db
      .transaction(() => {
        const res = this.db
          .prepare(
            `INSERT OR IGNORE INTO aciinfo (blobkey, name, importtime, lastused, latest, size, treestoresize)
             VALUES (@blobkey, @name, @importtime, @lastused, @latest, @size, @treestoresize)`,
          )
          .run(row);
        if (res.changes === 0) return false;
        const add = this.db.prepare('INSERT INTO label (blobkey, name, value) VALUES (?, ?, ?)');
        for (const l of labels) add.run(row.blobkey, l.name, l.value);
        return true;
      })
      .immediate();
  }

  setLatest(key: string): void {
    this.db.prepare('UPDATE aciinfo SET latest = 1 WHERE blobkey = ?').run(key);
  }

  touch(key: string, when: number): boolean {
    return this.db.prepare('UPDATE aciinfo SET lastused = ? WHERE blobkey = ?').run(when, key).changes > 0;
  }

  setTreeStoreSize(key: string, size: number): void {
    this.db.prepare('UPDATE aciinfo SET treestoresize = ? WHERE blobkey = ?').run(size, key);
  }

  /** Removes an image's rows (labels by cascade, and remotes pointing at it, as rkt). */
  removeImage(key: string): boolean {
    return this.db
      .transaction(() => {
        this.db.prepare('DELETE FROM remote WHERE blobkey = ?').run(key);
        return this.db.prepare('DELETE FROM aciinfo WHERE blobkey = ?').run(key).changes > 0;
      })
      .immediate();
  }

  unusedSince(cutoff: number): AciInfoRow[] {
    return this.db
      .prepare('SELECT * FROM aciinfo WHERE lastused < ? ORDER BY lastused')
      .all(cutoff) as AciInfoRow[];
  }

  /** Points each ref at `key` (a tag moves from the image it named before); false if `key` is gone. */
  setImageRefs(key: string, refs: readonly { ref: string; kind: string }[]): boolean {
    return this.db
      .transaction(() => {
        if (this.info(key) === undefined) return false;
        const put = this.db.prepare(
          `INSERT INTO imageref (ref, kind, blobkey) VALUES (?, ?, ?)
           ON CONFLICT (ref) DO UPDATE SET kind = excluded.kind, blobkey = excluded.blobkey`,
        );
        for (const r of refs) put.run(r.ref, r.kind, key);
        return true;
      })
      .immediate();
  }

  imageRefs(key?: string): ImageRefRow[] {
    return (
      key === undefined
        ? this.db.prepare('SELECT * FROM imageref ORDER BY ref').all()
        : this.db.prepare('SELECT * FROM imageref WHERE blobkey = ? ORDER BY ref').all(key)
    ) as ImageRefRow[];
  }

  imageRef(ref: string): ImageRefRow | undefined {
    return this.db.prepare('SELECT * FROM imageref WHERE ref = ?').get(ref) as ImageRefRow | undefined;
  }

  remote(url: string): RemoteRow | undefined {
    return this.db.prepare('SELECT * FROM remote WHERE aciurl = ?').get(url) as RemoteRow | undefined;
  }

  remotes(): RemoteRow[] {
    return this.db.prepare('SELECT * FROM remote ORDER BY aciurl').all() as RemoteRow[];
  }

  upsertRemote(row: RemoteRow): void {
    this.db
      .prepare(
        `INSERT INTO remote (aciurl, sigurl, etag, blobkey, cachemaxage, downloadtime)
         VALUES (@aciurl, @sigurl, @etag, @blobkey, @cachemaxage, @downloadtime)
         ON CONFLICT (aciurl) DO UPDATE SET sigurl = excluded.sigurl, etag = excluded.etag,
           blobkey = excluded.blobkey, cachemaxage = excluded.cachemaxage, downloadtime = excluded.downloadtime`,
      )
      .run(row);
  }
}
