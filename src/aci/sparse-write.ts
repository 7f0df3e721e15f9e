/**
 * Writing files sparse: runs of zero bytes that cover whole 4 KiB blocks (by file offset) are not
 * written, so the file system leaves holes there; the caller sets the final length (ftruncate) so
 * that trailing zeros become a hole too. Used for image blobs (a tar of zeros stays small on disk)
 * and for rendered and extracted files (including expanded sparse tar entries).
 */
import { writeSync } from 'node:fs';
import type { FileHandle } from 'node:fs/promises';
import { ZERO_FILL } from './tar-reader.js';

const PIECE = 4096;
const ZEROS = Buffer.alloc(PIECE);

/** The [start, end) ranges of `chunk` (written at file offset `pos`) that must be written. */
export function dataRuns(chunk: Buffer, pos: number): [number, number][] {
  // A hole of an expanded sparse entry: nothing to write.
  if (chunk.buffer === ZERO_FILL.buffer) return [];
  const runs: [number, number][] = [];
  let runStart = -1;
  let a = 0;
  while (a < chunk.length) {
    const b = Math.min(chunk.length, a + (PIECE - ((pos + a) % PIECE)));
    // Only a whole block may become a hole; partial ones at the ends are written.
    const whole = b - a === PIECE;
    const zero = whole && chunk.subarray(a, b).equals(ZEROS);
    if (zero) {
      if (runStart !== -1) runs.push([runStart, a]);
      runStart = -1;
    } else if (runStart === -1) {
      runStart = a;
    }
    a = b;
  }
  if (runStart !== -1) runs.push([runStart, chunk.length]);
  return runs;
}

/** Writes `chunk` at `pos` of `fd`, leaving its zero blocks as holes. */
export function writeSparseSync(fd: number, chunk: Buffer, pos: number): void {
  for (const [start, end] of dataRuns(chunk, pos)) {
    let off = start;
    while (off < end) off += writeSync(fd, chunk, off, end - off, pos + off);
  }
}

/** writeSparseSync for a FileHandle. */
export async function writeSparse(file: FileHandle, chunk: Buffer, pos: number): Promise<void> {
  for (const [start, end] of dataRuns(chunk, pos)) {
    let off = start;
    while (off < end) off += (await file.write(chunk, off, end - off, pos + off)).bytesWritten;
  }
}
