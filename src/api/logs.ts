/**
 * GetLogs: a pod's app output (src/logs: one file per app and stream in the pod dir), as batches of
 * text lines. Each line reads `<RFC 3339 time> <app> <stream>: <text>`, so the lines of several
 * apps and both streams stay apart in one flat list of strings.
 */
import * as grpc from '@grpc/grpc-js';
import { errorMessage } from '../errors.js';
import { ApiError } from './errors.js';
import { readLogs, type LogEntry } from '../logs/read.js';
import { PodsLayout, locatePod, readPod, resolveUuidPrefix } from '../pod/index.js';
import { int64ToNumber, type GetLogsRequest } from './types.js';

/** The most lines sent in one message. */
const BATCH = 1000;

export function formatLogLine(e: LogEntry): string {
  return `${e.time.toISOString()} ${e.app} ${e.stream}: ${e.line}`;
}

/** The pod's dir, or NOT_FOUND / INVALID_ARGUMENT. */
function podDirFor(dataDir: string, req: GetLogsRequest): string {
  if (req.pod_id === '') throw new ApiError(grpc.status.INVALID_ARGUMENT, 'no pod id given');
  const layout = new PodsLayout(dataDir);
  let uuid: string;
  try {
    uuid = resolveUuidPrefix(layout, req.pod_id);
  } catch (err) {
    throw new ApiError(grpc.status.NOT_FOUND, `pod ${JSON.stringify(req.pod_id)}: ${errorMessage(err)}`);
  }
  const loc = locatePod(layout, uuid);
  const pod = loc === undefined ? undefined : readPod(layout, loc);
  if (pod === undefined)
    throw new ApiError(grpc.status.NOT_FOUND, `pod ${JSON.stringify(req.pod_id)} is gone`);
  if (req.app_name !== '' && !(pod.manifest?.apps ?? []).some((a) => a.name === req.app_name))
    throw new ApiError(grpc.status.NOT_FOUND, `pod ${uuid} has no app ${JSON.stringify(req.app_name)}`);
  return pod.path;
}

/**
 * Sends the requested lines through `send` in batches (what one read yields goes out together).
 * Ends when the log is read (or, following, when `signal` aborts or until_time passes).
 */
export async function streamLogs(
  dataDir: string,
  req: GetLogsRequest,
  send: (lines: string[]) => void,
  signal: AbortSignal,
): Promise<void> {
  const podDir = podDirFor(dataDir, req);
  const since = int64ToNumber(req.since_time);
  const until = int64ToNumber(req.until_time);
  const stop = new AbortController();
  const onAbort = (): void => stop.abort();
  signal.addEventListener('abort', onAbort);
  let untilTimer: NodeJS.Timeout | undefined;
  if (req.follow && until > 0) untilTimer = setTimeout(onAbort, Math.max(0, until * 1000 - Date.now()));
  let batch: string[] = [];
  let flushPending = false;
  const flush = (): void => {
    flushPending = false;
    if (batch.length === 0) return;
    send(batch);
    batch = [];
  };
  try {
    for await (const e of readLogs(podDir, {
      ...(req.app_name !== '' ? { app: req.app_name } : {}),
      ...(since > 0 ? { since: new Date(since * 1000) } : {}),
      ...(req.lines > 0 ? { lines: req.lines } : {}),
      follow: req.follow,
      signal: stop.signal,
    })) {
      if (until > 0 && e.time.getTime() >= until * 1000) {
        if (req.follow) break;
        continue;
      }
      batch.push(formatLogLine(e));
      if (batch.length >= BATCH) flush();
      else if (!flushPending) {
        flushPending = true;
        setImmediate(flush);
      }
    }
  } catch (err) {
    if (stop.signal.aborted) return flush();
    if ((err as NodeJS.ErrnoException).code === 'ENOENT')
      throw new ApiError(grpc.status.NOT_FOUND, `pod ${JSON.stringify(req.pod_id)} is gone`);
    throw err;
  } finally {
    clearTimeout(untilTimer);
    signal.removeEventListener('abort', onAbort);
  }
  flush();
}
