/**
 * Attach to a running container of a sandbox. With a tty, the container's terminal is the one the
 * supervisor serves on `stage1/attach/APP/tty.sock` (its input and output). Without, stdin is the
 * stream the supervisor serves on `stdin.sock` (for a container created with `stdin`), and
 * stdout/stderr are the pod's own log of the app (`logs/APP/{stdout,stderr}.log`, kept whether or
 * not the container has a CRI log_path) followed from its end. The attach ends when the container does, with its exit status.
 */
import { closeSync, existsSync, openSync, readSync, statSync } from 'node:fs';
import { connect, type Socket } from 'node:net';
import path from 'node:path';
import { PassThrough, Writable } from 'node:stream';
import type { ExecTarget, StreamOptions, StreamProcess } from './streaming/types.js';

export interface AttachApp {
  /** The running pod's dir. */
  podDir: string;
  app: string;
  /**
   * Created with stdin_once: the attach lasts until the app ends (the end of the client's stdin is
   * the end of the app's: the supervisor's stdin.sock takes one connection, IO_ONCE). Otherwise, as
   * containerd does, the end of the client's stdin ends the attach.
   */
  stdinOnce: boolean;
  /** The exit status once the app has ended, else undefined. */
  exitCode(): number | undefined;
  describe: string;
}

const POLL_MS = 50;

/** One CRI log record's stream and line (with its newline unless partial), or undefined. */
export function logRecordLine(record: string): { stream: 'stdout' | 'stderr'; text: string } | undefined {
  const m = /^\S+ (stdout|stderr) ([FP]) /.exec(record);
  if (m === null) return undefined;
  const text = record.slice(m[0].length);
  return { stream: m[1] as 'stdout' | 'stderr', text: m[2] === 'P' ? text : `${text}\n` };
}

/** The app's exit status, once the supervisor recorded it (it does so just after the terminal closes). */
async function exitOf(a: AttachApp): Promise<number> {
  for (let i = 0; i < 10_000 / POLL_MS; i++) {
    const code = a.exitCode();
    if (code !== undefined) return code;
    await new Promise((r) => setTimeout(r, POLL_MS));
  }
  return 0;
}

function sock(file: string): Socket {
  const s = connect(file);
  s.on('error', () => undefined);
  return s;
}

export function attachTarget(a: AttachApp, tty: boolean): ExecTarget {
  const dir = path.join(a.podDir, 'stage1', 'attach', a.app);
  return {
    describe: a.describe,
    start(opts: StreamOptions): StreamProcess {
      if (tty) {
        if (!existsSync(path.join(dir, 'tty.sock'))) throw new Error(`${a.describe} has no terminal`);
        const s = sock(path.join(dir, 'tty.sock'));
        const out = new PassThrough();
        s.pipe(out);
        // The end of the client's stdin does not close the connection: socat would end it, and
        // with it the output still to come, half a second later.
        const input = new Writable({
          write: (chunk: Buffer, _enc, cb) => void s.write(chunk, () => cb()),
          final: (cb) => cb(),
        });
        return {
          stdin: opts.stdin ? input : null,
          stdout: out,
          stderr: null,
          exit: new Promise((resolve) => s.on('close', () => void exitOf(a).then(resolve))),
          resize: () => undefined,
          kill: () => s.destroy(),
        };
      }
      let stdin: Socket | null = null;
      let stopped = false;
      let input: Writable | null = null;
      if (opts.stdin) {
        if (!existsSync(path.join(dir, 'stdin.sock')))
          throw new Error(`${a.describe} was not created with stdin`);
        const s = sock(path.join(dir, 'stdin.sock'));
        stdin = s;
        input = new Writable({
          write: (chunk: Buffer, _enc, cb) => void s.write(chunk, () => cb()),
          final: (cb) => {
            s.end();
            // The client closed its stdin: the attach ends (unless stdin_once), the app goes on.
            if (!a.stdinOnce) stopped = true;
            cb();
          },
        });
      }
      const stdout = new PassThrough();
      const stderr = new PassThrough();
      const exit = new Promise<number>((resolve) => {
        // The pod's own log of the app (logs/APP/{stdout,stderr}.log, always kept), from its end.
        const files = (['stdout', 'stderr'] as const).map((stream) => {
          const file = path.join(a.podDir, 'logs', a.app, `${stream}.log`);
          let fd: number | undefined;
          let pos = 0;
          try {
            fd = openSync(file, 'r');
            pos = statSync(file).size;
          } catch {
            fd = undefined;
          }
          return { file, fd, pos, rest: '' };
        });
        const buf = Buffer.alloc(64 * 1024);
        const drain = (): void => {
          for (const f of files) {
            // A file the logger has not made yet is read from its start once it is there.
            if (f.fd === undefined) {
              try {
                f.fd = openSync(f.file, 'r');
              } catch {
                continue;
              }
            }
            for (;;) {
              const n = readSync(f.fd, buf, 0, buf.length, f.pos);
              if (n <= 0) break;
              f.pos += n;
              f.rest += buf.subarray(0, n).toString('utf8');
              const lines = f.rest.split('\n');
              f.rest = lines.pop() ?? '';
              for (const l of lines) {
                const r = logRecordLine(l);
                if (r === undefined) continue;
                if (r.stream === 'stdout' && opts.stdout) stdout.write(r.text);
                if (r.stream === 'stderr' && opts.stderr) stderr.write(r.text);
              }
            }
          }
        };
        const end = (code: number): void => {
          for (const f of files) if (f.fd !== undefined) closeSync(f.fd);
          files.length = 0;
          stdout.end();
          stderr.end();
          stdin?.destroy();
          resolve(code);
        };
        const tick = (): void => {
          // The exit status first: what the app wrote before it ended is in the file by then.
          const code = a.exitCode();
          drain();
          if (code !== undefined || stopped) return end(code ?? 0);
          setTimeout(tick, POLL_MS);
        };
        tick();
      });
      return {
        stdin: input,
        stdout,
        stderr: opts.tty ? null : stderr,
        exit,
        resize: () => undefined,
        kill: () => {
          // The next poll ends the streams.
          stopped = true;
          stdin?.destroy();
        },
      };
    },
  };
}
