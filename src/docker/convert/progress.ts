/**
 * Download progress on stderr, like docker2aci's: one bar per layer labelled `Downloading ` + the
 * first 18 characters of the digest, counters `%s / %s` in 1000-based units with 3 significant
 * digits. On a terminal the bars are redrawn in place every 500 ms; otherwise only a final line per
 * layer is written, so logs stay short.
 */
import type { Writable } from 'node:stream';

export interface ProgressBar {
  add(bytes: number): void;
  done(): void;
}

export interface ProgressSink {
  bar(label: string, total: number | undefined): ProgressBar;
  /** Stops redrawing (draws a last time). */
  close(): void;
}

/** Go's `%.3g` of a byte count in B/KB/MB/GB (powers of 1000), as docker2aci prints them. */
export function humanBytes(n: number): string {
  const units = ['B', 'KB', 'MB', 'GB', 'TB'];
  let v = n;
  let u = 0;
  while (v >= 1000 && u < units.length - 1) {
    v /= 1000;
    u++;
  }
  return `${formatG3(v)} ${units[u]}`;
}

function formatG3(v: number): string {
  const r = Number(v.toPrecision(3));
  // %g turns to exponent form once the rounded value reaches 10^precision (999.9 → "1e+03").
  return r >= 1000 ? '1e+03' : String(r);
}

export function downloadLabel(digest: string): string {
  return `Downloading ${digest.slice(0, 18)}`;
}

interface BarState {
  label: string;
  total: number | undefined;
  current: number;
  finished: boolean;
}

const WIDTH = 80;

function counter(b: BarState): string {
  return `${humanBytes(b.current)} / ${b.total === undefined ? '?' : humanBytes(b.total)}`;
}

/** Bars for a terminal: redrawn in place (cursor up) every 500 ms. */
class TerminalProgress implements ProgressSink {
  private readonly bars: BarState[] = [];
  private timer: NodeJS.Timeout | undefined;
  private drawnLines = 0;

  constructor(private readonly out: Writable) {}

  bar(label: string, total: number | undefined): ProgressBar {
    const b: BarState = { label, total, current: 0, finished: false };
    this.bars.push(b);
    this.timer ??= setInterval(() => this.draw(), 500).unref();
    return {
      add: (n) => {
        b.current += n;
      },
      done: () => {
        b.finished = true;
        if (b.total === undefined) b.total = b.current;
      },
    };
  }

  private draw(): void {
    const labelWidth = Math.max(...this.bars.map((b) => b.label.length));
    let text = this.drawnLines > 0 ? `\x1b[${this.drawnLines}A` : '';
    for (const b of this.bars) {
      const count = counter(b);
      const barWidth = Math.max(10, WIDTH - labelWidth - count.length - 4);
      const frac =
        b.total === undefined || b.total === 0 ? (b.finished ? 1 : 0) : Math.min(1, b.current / b.total);
      const filled = Math.round(frac * (barWidth - 2));
      const bar = `[${'='.repeat(filled)}${' '.repeat(barWidth - 2 - filled)}]`;
      text += `\x1b[2K${b.label.padEnd(labelWidth)} ${bar} ${count}\n`;
    }
    this.drawnLines = this.bars.length;
    this.out.write(text);
  }

  close(): void {
    if (this.timer !== undefined) {
      clearInterval(this.timer);
      this.timer = undefined;
      this.draw();
    }
  }
}

/** Off a terminal: one line per layer when it is complete. */
class LineProgress implements ProgressSink {
  constructor(private readonly out: Writable) {}

  bar(label: string, total: number | undefined): ProgressBar {
    const b: BarState = { label, total, current: 0, finished: false };
    return {
      add: (n) => {
        b.current += n;
      },
      done: () => {
        if (b.finished) return;
        b.finished = true;
        b.total ??= b.current;
        this.out.write(`${b.label} ${counter(b)}\n`);
      },
    };
  }

  close(): void {}
}

export const NO_PROGRESS: ProgressSink = {
  bar: () => ({ add: () => undefined, done: () => undefined }),
  close: () => undefined,
};

export function progressFor(out: NodeJS.WriteStream): ProgressSink {
  return out.isTTY ? new TerminalProgress(out) : new LineProgress(out);
}
