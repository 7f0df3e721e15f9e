/**
 * The one place stage0 runs a host program to completion or starts one as a child. The adapters
 * (unshare.ts, nsenter.ts, mount.ts, cp.ts, curl.ts) are built on it; callers reach them through
 * `host()` (index.ts), which unit tests point at fakes (fake.ts).
 */
import { spawn, spawnSync, type ChildProcessWithoutNullStreams } from 'node:child_process';
import { accessSync, constants } from 'node:fs';
import path from 'node:path';

/** How a program that ran to completion ended. `error` is set when it could not be started. */
export interface RunResult {
  status: number | null;
  stdout: string;
  stderr: string;
  error?: Error;
}

export interface RunOptions {
  /** Written to the program's stdin. */
  input?: string;
  timeoutMs?: number;
}

/** Runs `file args` to completion, capturing its output as text. */
export function runToCompletion(file: string, args: readonly string[], opts: RunOptions = {}): RunResult {
  const r = spawnSync(file, [...args], {
    encoding: 'utf8',
    ...(opts.input !== undefined ? { input: opts.input } : { stdio: ['ignore', 'pipe', 'pipe'] }),
    ...(opts.timeoutMs !== undefined ? { timeout: opts.timeoutMs } : {}),
  });
  return {
    status: r.status,
    stdout: r.stdout ?? '',
    stderr: r.stderr ?? '',
    ...(r.error !== undefined ? { error: r.error } : {}),
  };
}

/** Starts `file args` with its three streams as pipes. */
export function startChild(file: string, args: readonly string[]): ChildProcessWithoutNullStreams {
  return spawn(file, [...args], { stdio: ['pipe', 'pipe', 'pipe'] });
}

/** The reason a run failed, for one-line messages: its stderr, the spawn error, or its status. */
export function failureText(r: RunResult, program: string): string {
  return r.stderr.trim() || r.error?.message || `${program} exited with status ${String(r.status)}`;
}

/** The first `DIR/name` that is executable, DIR taken in order from the absolute ones of `dirs`. */
export function firstExecutable(name: string, dirs: readonly string[]): string | undefined {
  for (const dir of dirs) {
    if (!dir.startsWith('/')) continue;
    const file = path.join(dir, name);
    try {
      accessSync(file, constants.X_OK);
      return file;
    } catch {
      // not here
    }
  }
  return undefined;
}

/** The absolute dirs of $PATH, in order. */
export function pathDirs(): string[] {
  return (process.env['PATH'] ?? '').split(':').filter((d) => d.startsWith('/'));
}
