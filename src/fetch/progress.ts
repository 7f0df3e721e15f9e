/**
 * A download progress bar on stderr, drawn only when stderr is a terminal (redrawn in place at most
 * ten times a second); elsewhere the transform just passes bytes through.
 */
import { Transform, type TransformCallback } from 'node:stream';

const WIDTH = 30;

function human(bytes: number): string {
  const units = ['B', 'KB', 'MB', 'GB', 'TB'];
  let v = bytes;
  let i = 0;
  while (v >= 1000 && i < units.length - 1) {
    v /= 1000;
    i++;
  }
  return `${i === 0 ? v : v.toFixed(1)} ${units[i]}`;
}

/** One line of the bar, e.g. `Downloading ACI: [=======>        ] 12.3 MB/50.0 MB`. */
export function progressLine(label: string, done: number, total: number | undefined): string {
  if (total === undefined || total <= 0) return `Downloading ${label}: ${human(done)}`;
  const filled = Math.min(WIDTH, Math.floor((done / total) * WIDTH));
  const bar = '='.repeat(Math.max(0, filled - 1)) + (filled > 0 ? (filled === WIDTH ? '=' : '>') : '');
  return `Downloading ${label}: [${bar.padEnd(WIDTH)}] ${human(done)}/${human(total)}`;
}

export interface ProgressSink {
  isTTY?: boolean;
  write(s: string): boolean;
}

export function progressStream(
  label: string,
  total: number | undefined,
  sink: ProgressSink = process.stderr,
): Transform {
  const draw = sink.isTTY === true;
  let done = 0;
  let last = 0;
  const show = (): void => {
    sink.write(`\r${progressLine(label, done, total)}\x1b[K`);
  };
  return new Transform({
    transform(chunk: Buffer, _enc, cb: TransformCallback) {
      done += chunk.length;
      const now = Date.now();
      if (draw && now - last >= 100) {
        last = now;
        show();
      }
      cb(null, chunk);
    },
    flush(cb: TransformCallback) {
      if (draw) {
        show();
        sink.write('\n');
      }
      cb();
    },
  });
}
