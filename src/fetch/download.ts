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
import { FileLock } from '../store/index.js';

export class TempDownload {
  private constructor(
    readonly path: string,
    private readonly file: FileHandle,
  ) {}

  static async create(tmpDir: string): Promise<TempDownload> {
    const path = join(tmpDir, `fetch-${process.pid}-${randomBytes(6).toString('hex')}`);
    const file = await open(path, 'wx', 0o660);
    FileLock.tryLockFd(file.fd, path, 'exclusive');
    return new TempDownload(path, file);
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

  /** Copies `source` through `stages` into the file and syncs it. */
  async fill(source: Readable, ...stages: Transform[]): Promise<void> {
    await pipeline([source, ...stages, this.sink()]);
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
 * Downloads `source` into `temp` while `check` reads the same bytes (signature verification). The
 * check's own failure wins over the early end it causes to the download; a failed download wins
 * over the check failure it causes.
 */
export async function fillWhileChecking<T>(
  temp: TempDownload,
  source: Readable,
  stages: Transform[],
  check: (bytes: Readable) => Promise<T>,
): Promise<{ checked: PromiseSettledResult<T> }> {
  const tee = temp.tee();
  const piping = pipeline([source, ...stages, tee]);
  piping.catch(() => undefined);
  const checking = check(tee);
  checking.catch(() => undefined);
  const [piped, checked] = await Promise.allSettled([piping, checking]);
  if (piped.status === 'rejected') {
    const premature = (piped.reason as NodeJS.ErrnoException).code === 'ERR_STREAM_PREMATURE_CLOSE';
    if (!(premature && checked.status === 'rejected')) throw piped.reason;
    throw checked.reason;
  }
  await temp.sync();
  return { checked };
}
