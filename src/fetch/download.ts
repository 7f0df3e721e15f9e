/**
 * Downloads into a temp file of the store's `cas/tmp`, flock-ed while this process works on it so
 * that `image gc` (Store.gcTemp) never takes a live download, yet reclaims what a killed fetch left.
 * When a signature is known up front, the bytes are verified while they are written.
 */
import { randomBytes } from 'node:crypto';
import { open, rm, type FileHandle } from 'node:fs/promises';
import { join } from 'node:path';
import { Transform, Writable, type Readable, type TransformCallback } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { lockFdAtPath } from '../store/index.js';

export class TempDownload {
  private constructor(
    readonly path: string,
    private readonly file: FileHandle,
  ) {}

  static async create(tmpDir: string): Promise<TempDownload> {
    for (;;) {
      const path = join(tmpDir, `fetch-${process.pid}-${randomBytes(6).toString('hex')}`);
      const file = await open(path, 'wx', 0o660);
      if (lockFdAtPath(file.fd, path)) return new TempDownload(path, file);
      await file.close(); // gc took it between the create and the lock: make another
    }
  }

  /** Writes every chunk to the file, then passes it on (for a reader that checks the same bytes). */
  tee(): Transform {
    const file = this.file;
    return new Transform({
      transform(chunk: Buffer, _enc, cb: TransformCallback) {
        file.write(chunk).then(
          () => cb(null, chunk),
          (err: Error) => cb(err),
        );
      },
    });
  }

  sink(): Writable {
    const file = this.file;
    return new Writable({
      write(chunk: Buffer, _enc, cb: (err?: Error | null) => void) {
        file.write(chunk).then(
          () => cb(),
          (err: Error) => cb(err),
        );
      },
    });
  }

  /**
   * Copies `source` through `stages` into the file and syncs it; with `next`, every chunk also goes
   * on to `next` once it is written.
   */
  async fill(source: Readable, stages: Transform[], next?: Writable): Promise<void> {
    await pipeline([source, ...stages, ...(next ? [this.tee(), next] : [this.sink()])]);
    await this.file.sync();
  }

  async sync(): Promise<void> {
    await this.file.sync();
  }

  /** Closes (dropping the lock) and removes the file; safe to call twice. */
  async remove(): Promise<void> {
    await this.file.close().catch(() => undefined);
    await rm(this.path, { force: true });
  }
}

/**
 * A sink that copies every chunk to each branch, waiting for the slowest: a branch is a reader of
 * the same bytes (the store's import, a signature check). It ends the branches when the input
 * ends and destroys them with the input's error.
 */
export function fanOut(...branches: (Writable | undefined)[]): Writable {
  const outs = branches.filter((b): b is Writable => b !== undefined);
  const drained = (w: Writable): Promise<void> =>
    new Promise((resolve, reject) => {
      const done = (err?: Error): void => {
        w.off('drain', ok);
        w.off('error', done);
        w.off('close', closed);
        if (err) reject(err);
        else resolve();
      };
      const ok = (): void => done();
      const closed = (): void => done(new Error('a reader of the download stopped'));
      w.once('drain', ok);
      w.once('error', done);
      w.once('close', closed);
    });
  return new Writable({
    highWaterMark: 1 << 20,
    write(chunk: Buffer, _enc, cb: (err?: Error | null) => void) {
      const waits = outs.filter((w) => !w.write(chunk)).map(drained);
      Promise.all(waits).then(
        () => cb(),
        (err: Error) => cb(err),
      );
    },
    final(cb: (err?: Error | null) => void) {
      for (const w of outs) w.end();
      cb();
    },
    destroy(err: Error | null, cb: (err?: Error | null) => void) {
      if (err) for (const w of outs) w.destroy(err);
      cb(err);
    },
  });
}

/** A promise's outcome without throwing, so one failure can be weighed against another. */
export function settle<T>(p: Promise<T>): Promise<PromiseSettledResult<T>> {
  return p.then(
    (value) => ({ status: 'fulfilled', value }) as const,
    (reason: unknown) => ({ status: 'rejected', reason }) as const,
  );
}
