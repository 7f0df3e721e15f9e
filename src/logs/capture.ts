/**
 * Capturing the apps' stdout and stderr into the pod log (format.ts), without a resident Node
 * process: the supervisor (a dash script, src/stage1/oci/supervisor.sh) gives each app's main container two FIFOs as stdout and
 * stderr, each read by one `mawk` that copies every line, as it comes, to the supervisor's own
 * stdout or stderr (the terminal, or the journal under systemd) and appends it, time-stamped, to the
 * stream's log file, rotating it at a size limit (one `.1` generation).
 *
 * Time stamps: mawk only knows whole seconds, so each line's time is read from /proc/uptime
 * (centiseconds since boot, one read per line) plus the boot time in centiseconds, which stage0
 * measures once (Date.now() against /proc/uptime) and hands to every logger of the pod. So the apps
 * and streams of a pod share one 10 ms clock, fine enough to order lines that are apart by more.
 * docs/stage1.md ("Logs") compares this with perl, gawk and conmon.
 */
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { RKT_FAILURE, RocketError } from '../errors.js';
import { LOGS_DIR } from './format.js';

/** Default size at which a stream's log file is rotated (env `RKT_LOG_MAX_SIZE`: bytes, or K/M/G). */
export const DEFAULT_LOG_MAX_SIZE = 4 * 1024 * 1024;
export const LOGGER_PROGRAM = path.join('stage1', 'logger.awk');

/**
 * The logger, for `mawk -W interactive` (line by line as lines arrive; without it mawk fills a
 * whole buffer before the first record). Environment: LOGF (the log file), LOGSTREAM, LOGMAX
 * (bytes), LOGEPOCH (the boot time, in centiseconds since the Unix epoch), CRILOG (a CRI log_path
 * the record is also appended to, opened for each record so that a file rotated by the kubelet is
 * replaced at the next line; both streams share it), LOGCHUNKS (set: each input line is a record's
 * tag, `F` or `P`, then its text, as supervisor.sh's chunker writes them for an app with a stdin
 * stream: a `P` record is what the app wrote so far of a line, without its newline). Each line goes out in
 * one write: the apps of a pod share the supervisor's stdout, and mawk's `print` writes the record
 * and the newline separately, so two apps' lines could run into each other.
 */
const AWK = `# rkt pod logger: copy each line to stdout and append it, time-stamped, to $LOGF (src/logs/capture.ts)
BEGIN { u = "/proc/uptime"; f = ENVIRON["LOGF"]; s = ENVIRON["LOGSTREAM"]; m = ENVIRON["LOGMAX"] + 0
  e = ENVIRON["LOGEPOCH"] + 0; cl = ENVIRON["CRILOG"]; k = ENVIRON["LOGCHUNKS"] != ""; last = -1; n = 0 }
{
  l = $0; tag = "F"; nl = "\\n"
  if (k) { tag = substr(l, 1, 1); l = substr(l, 2); if (tag == "P") nl = "" }
  printf "%s", l nl; fflush()
  t = ""; getline t < u; close(u)
  split(t, a, " "); c = a[1]; sub(/\\./, "", c); c = c + e
  sec = int(c / 100); cs = c - sec * 100
  if (sec != last) { last = sec; ts = strftime("%Y-%m-%dT%H:%M:%S", sec, 1) }
  r = sprintf("%s.%02dZ %s %s %s\\n", ts, cs, s, tag, l)
  printf "%s", r >> f; fflush(f)
  if (cl != "") { printf "%s", r >> cl; close(cl) }
  n += length(r)
  if (n >= m) { close(f); system("mv -f \\"$LOGF\\" \\"$LOGF.1\\""); n = 0 }
}
`;

/** `RKT_LOG_MAX_SIZE` in bytes (a number with an optional K, M or G suffix, powers of 1024). */
export function logMaxSize(env: NodeJS.ProcessEnv = process.env): number {
  const v = env['RKT_LOG_MAX_SIZE'];
  if (v === undefined || v === '') return DEFAULT_LOG_MAX_SIZE;
  const m = /^(\d+)([KMG]?)i?B?$/i.exec(v.trim());
  const unit = { '': 1, K: 1024, M: 1024 ** 2, G: 1024 ** 3 }[(m?.[2] ?? '').toUpperCase()];
  const n = m === null || unit === undefined ? NaN : Number(m[1]) * unit;
  if (!Number.isSafeInteger(n) || n < 1024)
    throw new RocketError(
      `RKT_LOG_MAX_SIZE=${v}: expected a size of at least 1024 bytes (e.g. 4194304, 512K, 16M)`,
      RKT_FAILURE,
    );
  return n;
}

/** The boot time in centiseconds since the epoch (the loggers add /proc/uptime to it). */
export function bootEpochCentis(): number {
  const up = Number(readFileSync('/proc/uptime', 'utf8').split(' ')[0]);
  if (!Number.isFinite(up)) throw new RocketError('cannot read /proc/uptime', RKT_FAILURE);
  return Math.round(Date.now() / 10 - up * 100);
}

/** What the supervisor needs to start an app's loggers (src/stage1/oci/supervisor.sh, `lgs`). */
export interface LogCaptureSettings {
  /** `LOGMAX`: the rotation size in bytes. */
  max: number;
  /** `LOGEPOCH`: the boot time in centiseconds since the epoch. */
  epoch: number;
}

/**
 * Stage0's part: writes the logger program and each app's log dir into the pod dir `P`. The
 * supervisor makes each app's two FIFOs (`logs/<app>/{stdout,stderr}.fifo`) when it starts the app
 * (an app added with `rkt app add` has them from the add).
 */
export function prepareLogCapture(P: string, apps: readonly string[]): LogCaptureSettings {
  const max = logMaxSize();
  mkdirSync(path.dirname(path.join(P, LOGGER_PROGRAM)), { recursive: true });
  writeFileSync(path.join(P, LOGGER_PROGRAM), AWK);
  for (const a of apps) mkdirSync(path.join(P, LOGS_DIR, a), { recursive: true });
  return { max, epoch: bootEpochCentis() };
}
