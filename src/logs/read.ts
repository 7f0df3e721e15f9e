/**
 * Reading a pod's logs (format.ts): every app stream's files merged by time, optionally only one
 * app, only lines since a time, only the last N lines, and following until the pod exits.
 *
 * The pod dir is opened once and every file is reached through that directory fd
 * (`/proc/self/fd/N/...`), so a pod moving between state dirs (prepared → run → exited-garbage)
 * while it is followed is not lost. Each stream file is read by a tail that survives the writer's
 * rotation (the current file renamed to `.1` and a new one created): it finishes the old file
 * through its open fd, then switches to the new one.
 */
import { closeSync, constants, fstatSync, openSync, readSync, readdirSync, statSync } from 'node:fs';
import path from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { POD_FILES, isLockedExclusively } from '../pod/index.js';
import { LOGS_DIR, STREAMS, parseRecord, type LogEntry, type LogStream } from './format.js';

export type { LogEntry, LogStream } from './format.js';

export interface ReadLogsOptions {
  /** Only this app's streams. */
  app?: string;
  /** Only lines written at or after this time. */
  since?: Date;
  /** Only the last N lines (of what `app` and `since` select), then, when following, every new one. */
  lines?: number;
  /** Keep reading new lines until the pod has exited (or `signal` aborts). */
  follow?: boolean;
  signal?: AbortSignal;
}

/** How often a follower looks for new lines and for the pod's end. */
const POLL_MS = 150;
const CHUNK = 256 * 1024;

/** One file, read from an offset onwards; complete lines only (a trailing partial one is kept). */
class FileTail {
  private fd: number | undefined;
  private ino = -1;
  private pos = 0;
  private rest: Buffer = Buffer.alloc(0);

  constructor(readonly file: string) {}

  /** Opens the file if it exists; returns its inode (or undefined). */
  open(): number | undefined {
    if (this.fd !== undefined) return this.ino;
    try {
      this.fd = openSync(this.file, constants.O_RDONLY | constants.O_NOFOLLOW);
    } catch {
      return undefined;
    }
    this.ino = fstatSync(this.fd).ino;
    this.pos = 0;
    return this.ino;
  }

  /** The next chunk of complete lines (empty when nothing new), as strings without newlines. */
  readLines(): string[] {
    if (this.fd === undefined) return [];
    const buf = Buffer.allocUnsafe(CHUNK);
    const n = readSync(this.fd, buf, 0, CHUNK, this.pos);
    if (n <= 0) return [];
    this.pos += n;
    const data = this.rest.length > 0 ? Buffer.concat([this.rest, buf.subarray(0, n)]) : buf.subarray(0, n);
    const last = data.lastIndexOf(0x0a);
    if (last < 0) {
      this.rest = Buffer.from(data);
      return [];
    }
    this.rest = Buffer.from(data.subarray(last + 1));
    return data.subarray(0, last).toString('utf8').split('\n');
  }

  /** Whatever partial line is left (the writer is done with this file). */
  flushPartial(): string[] {
    if (this.rest.length === 0) return [];
    const s = this.rest.toString('utf8');
    this.rest = Buffer.alloc(0);
    return [s];
  }

  /** Whether the path now names another file than the open one (the writer rotated it). */
  replaced(): boolean {
    if (this.fd === undefined) return false;
    try {
      return statSync(this.file).ino !== this.ino;
    } catch {
      return false;
    }
  }

  close(): void {
    if (this.fd !== undefined) closeSync(this.fd);
    this.fd = undefined;
  }
}

/** One app stream: its rotated generation (read once, at the start), then its current file. */
class StreamSource {
  readonly queue: LogEntry[] = [];
  private head = 0;
  private rotated: FileTail | undefined;
  private current: FileTail;
  private lastTime = new Date(0);
  private partial: { time: Date; content: string } | undefined;

  constructor(
    dir: string,
    readonly app: string,
    readonly stream: LogStream,
    readonly order: number,
  ) {
    const file = path.join(dir, `${stream}.log`);
    this.current = new FileTail(file);
    // The current file first: if a rotation lands between the two opens, `.1` is the same file
    // and is skipped (the older generation is lost, not the newer one).
    const ino = this.current.open();
    const old = new FileTail(file + '.1');
    const oldIno = old.open();
    if (oldIno !== undefined && oldIno !== ino) this.rotated = old;
    else old.close();
  }

  peek(): LogEntry | undefined {
    return this.queue[this.head];
  }

  shift(): LogEntry | undefined {
    const e = this.queue[this.head];
    if (e === undefined) return undefined;
    this.head++;
    if (this.head > 4096 && this.head * 2 > this.queue.length) {
      this.queue.splice(0, this.head);
      this.head = 0;
    }
    return e;
  }

  /** Reads the next chunk into the queue; false when there was nothing new. */
  fill(final: boolean): boolean {
    const before = this.queue.length;
    for (;;) {
      if (this.rotated !== undefined) {
        const lines = this.rotated.readLines();
        if (lines.length > 0) {
          this.add(lines);
          break;
        }
        this.add(this.rotated.flushPartial());
        this.rotated.close();
        this.rotated = undefined;
        continue;
      }
      if (this.current.open() === undefined) break;
      const lines = this.current.readLines();
      if (lines.length > 0) {
        this.add(lines);
        break;
      }
      if (this.current.replaced()) {
        // Rotated under us: the old file is complete; go on with the new one.
        this.add(this.current.flushPartial());
        this.current.close();
        continue;
      }
      if (final) this.add(this.current.flushPartial());
      break;
    }
    return this.queue.length > before;
  }

  private add(lines: string[]): void {
    for (const text of lines) {
      const r = parseRecord(text);
      if (r === undefined) {
        // Not a record (a damaged file): keep the text, at the time of the line before.
        if (text !== '') this.push(this.lastTime, text);
        continue;
      }
      this.lastTime = r.time;
      if (r.partial) {
        if (this.partial === undefined) this.partial = { time: r.time, content: r.content };
        else this.partial.content += r.content;
        continue;
      }
      if (this.partial !== undefined) {
        this.push(this.partial.time, this.partial.content + r.content);
        this.partial = undefined;
      } else this.push(r.time, r.content);
    }
  }

  private push(time: Date, line: string): void {
    this.queue.push({ time, app: this.app, stream: this.stream, line });
  }

  close(): void {
    this.rotated?.close();
    this.current.close();
  }
}

/** Orders entries by time, then by source (a stable tie-break). */
function before(a: LogEntry, ao: number, b: LogEntry, bo: number): boolean {
  const d = a.time.getTime() - b.time.getTime();
  return d < 0 || (d === 0 && ao < bo);
}

/** The app stream sources under `logs/` (new apps' dirs appear while a pod starts). */
function scanSources(base: string, app: string | undefined, known: Map<string, StreamSource>): void {
  let apps: string[];
  try {
    apps = readdirSync(path.join(base, LOGS_DIR)).sort();
  } catch {
    return;
  }
  for (const a of apps) {
    if (app !== undefined && a !== app) continue;
    for (const stream of STREAMS) {
      const key = `${a}/${stream}`;
      if (!known.has(key))
        known.set(key, new StreamSource(path.join(base, LOGS_DIR, a), a, stream, known.size));
    }
  }
}

/** Whether the pod has run and no longer does (its `pid` file is there and its lock is free). */
function podEnded(base: string): boolean {
  try {
    statSync(path.join(base, POD_FILES.pid));
  } catch {
    return false;
  }
  try {
    return !isLockedExclusively(base);
  } catch {
    return true;
  }
}

/** Drains every source (each to its current end), merged by time. */
function* drainMerged(sources: StreamSource[], final: boolean): Generator<LogEntry> {
  const live = new Set(sources);
  for (;;) {
    let best: StreamSource | undefined;
    for (const s of live) {
      if (s.peek() === undefined && !s.fill(final)) {
        live.delete(s);
        continue;
      }
      const e = s.peek();
      const b = best?.peek();
      if (e !== undefined && (best === undefined || b === undefined || before(e, s.order, b, best.order)))
        best = s;
    }
    if (best === undefined) return;
    const e = best.shift();
    if (e !== undefined) yield e;
  }
}

/**
 * A pod's log lines, merged by time across its apps' stdout and stderr. Without `follow` it ends at
 * the current end of the files; with it, it polls for new lines and ends once the pod has exited
 * (after the last lines), or when `signal` aborts. Throws if `podDir` cannot be opened.
 */
export async function* readLogs(podDir: string, opts: ReadLogsOptions = {}): AsyncGenerator<LogEntry> {
  const dirFd = openSync(podDir, constants.O_RDONLY | constants.O_DIRECTORY);
  const base = `/proc/self/fd/${dirFd}`;
  const sources = new Map<string, StreamSource>();
  const since = opts.since?.getTime();
  const want = (e: LogEntry): boolean => since === undefined || e.time.getTime() >= since;
  try {
    scanSources(base, opts.app, sources);
    let ended = opts.follow === true ? podEnded(base) : true;
    const limit = opts.lines;
    let first: Iterable<LogEntry> = drainMerged([...sources.values()], ended);
    if (limit !== undefined && limit >= 0) {
      let tail: LogEntry[] = [];
      for (const e of first) {
        if (!want(e)) continue;
        tail.push(e);
        if (tail.length > 2 * limit + 1024) tail = tail.slice(tail.length - limit);
      }
      first = tail.slice(Math.max(0, tail.length - limit));
    }
    for (const e of first) {
      if (opts.signal?.aborted === true) return;
      if (want(e)) yield e;
    }
    while (!ended) {
      try {
        await sleep(POLL_MS, undefined, opts.signal ? { signal: opts.signal } : {});
      } catch {
        return; // aborted
      }
      // The end is checked before the last read, so nothing written before it is missed.
      ended = podEnded(base);
      scanSources(base, opts.app, sources);
      for (const e of drainMerged([...sources.values()], ended)) {
        if (opts.signal?.aborted === true) return;
        if (want(e)) yield e;
      }
    }
  } finally {
    for (const s of sources.values()) s.close();
    closeSync(dirFd);
  }
}
