import { open, rm, type FileHandle } from 'node:fs/promises';
import { Transform, type Readable, type TransformCallback } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { openDecompressed, validateArchive } from '../aci/index.js';
import type { ImageManifest } from '../appc/index.js';
import { writeSparse } from '../aci/sparse-write.js';
import { RocketError } from '../errors.js';
import { DEFAULT_MAX_IMAGE_SIZE, formatSize } from './limits.js';
import { lockFdAtPath, tempName } from './util.js';

/** An image decompressed into a temp file of the store, validated, hashed and synced. */
export interface SpooledImage {
  /** The temp file; its fd is still open and flock-ed (see spoolImage). */
  tempPath: string;
  file: FileHandle;
  imageId: string;
  manifest: ImageManifest;
  manifestBytes: Buffer;
  /** Bytes of the uncompressed tar. */
  size: number;
  warnings: string[];
}

/**
 * Decompresses `source` into a new temp file in `tmpDir` in one streaming pass that also validates
 * the archive and computes the image ID (the bytes written are the bytes hashed), then fsyncs it.
 * The temp file stays exclusively flock-ed until the caller closes it, so gc can tell the file of
 * a running import (locked) from the leftover of a killed one (unlocked). On failure nothing is left.
 */
export async function spoolImage(
  source: string | Readable,
  tmpDir: string,
  name: string,
  maxSize: number = DEFAULT_MAX_IMAGE_SIZE,
): Promise<SpooledImage> {
  let tempPath: string;
  let file: FileHandle;
  for (;;) {
    tempPath = tempName(tmpDir, 'import');
    file = await open(tempPath, 'wx', 0o660);
    if (lockFdAtPath(file.fd, tempPath)) break; // else gc took it before the lock: another
    await file.close();
  }
  let size = 0;
  const tooLarge = () =>
    new RocketError(
      `${name}: image is larger than the limit of ${formatSize(maxSize)} uncompressed (--max-image-size, or maxImageSize in limits.d)`,
      'failed-precondition',
    );
  const tee = new Transform({
    transform(chunk: Buffer, _enc, cb: TransformCallback) {
      if (size + chunk.length > maxSize) {
        cb(tooLarge());
        return;
      }
      // The blob is kept sparse: zero blocks (a tar of zeros) are holes, not disk.
      writeSparse(file, chunk, size).then(
        () => {
          size += chunk.length;
          cb(null, chunk);
        },
        (err: Error) => cb(err),
      );
    },
  });
  let decompressed: Readable | undefined;
  let piping: Promise<void> | undefined;
  try {
    decompressed = (await openDecompressed(source, name)).stream;
    piping = pipeline(decompressed, tee);
    // The tee's errors reach validateArchive through its reads; this only keeps the promise handled.
    piping.catch(() => undefined);
    // The files' real sizes count too: a sparse tar entry may be small in the tar and huge on disk.
    let files = 0;
    const v = await validateArchive(tee, name, {
      onHeader: (h) => {
        if (h.type === 'file') files += h.size;
        if (files > maxSize) throw tooLarge();
      },
    });
    await piping;
    await file.truncate(size);
    await file.sync();
    return { tempPath, file, size, ...v };
  } catch (err) {
    decompressed?.destroy();
    tee.destroy();
    await piping?.catch(() => undefined);
    await file.close();
    await rm(tempPath, { force: true });
    throw err;
  }
}
