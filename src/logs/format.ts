/**
 * The pod log on disk. Every app's stdout and stderr are kept in the pod dir, one file per app and
 * stream, in the CRI "k8s-file" line format podman and the kubelet use:
 *
 *     <RFC 3339 UTC time> <stdout|stderr> <F|P> <content>
 *
 * (`P` marks a partial line continued by the next record, `F` a full one). Paths:
 * `logs/<app>/stdout.log`, `logs/<app>/stderr.log`, each with one rotated generation (`.1`).
 */
import path from 'node:path';

export const LOGS_DIR = 'logs';
export const STREAMS = ['stdout', 'stderr'] as const;
export type LogStream = (typeof STREAMS)[number];

/** One line an app wrote. */
export interface LogEntry {
  time: Date;
  app: string;
  stream: LogStream;
  line: string;
}

/** The current file of one app stream; `rotatedLogFile` is its previous generation. */
export function logFile(podDir: string, app: string, stream: LogStream): string {
  return path.join(podDir, LOGS_DIR, app, `${stream}.log`);
}

export function rotatedLogFile(podDir: string, app: string, stream: LogStream): string {
  return logFile(podDir, app, stream) + '.1';
}

/** A record as parsed from a log file. */
export interface LogRecord {
  time: Date;
  stream: LogStream;
  partial: boolean;
  content: string;
}

const RECORD_RE = /^(\d{4})-(\d{2})-(\d{2})T(\d{2}):(\d{2}):(\d{2})(?:\.(\d{1,9}))?Z (stdout|stderr) ([FP]) /;

/**
 * Parses one record (without its newline), or undefined if it is not in the format. Times are UTC
 * with up to nanosecond digits; a Date keeps milliseconds.
 */
export function parseRecord(text: string): LogRecord | undefined {
  const m = RECORD_RE.exec(text);
  if (m === null) return undefined;
  const [, y, mo, d, h, mi, s, frac] = m;
  const ms = frac === undefined ? 0 : Number((frac + '00').slice(0, 3));
  const time = new Date(Date.UTC(Number(y), Number(mo) - 1, Number(d), Number(h), Number(mi), Number(s), ms));
  if (Number.isNaN(time.getTime())) return undefined;
  return { time, stream: m[8] as LogStream, partial: m[9] === 'P', content: text.slice(m[0].length) };
}

/** Formats one record (without its newline): the writer is the supervisor's awk, this is for tests. */
export function formatRecord(time: Date, stream: LogStream, content: string, partial = false): string {
  return `${time.toISOString()} ${stream} ${partial ? 'P' : 'F'} ${content}`;
}
