/**
 * Streaming targets for rkt pods: exec runs the plan of the pod engine's `enter` (what `rkt enter`
 * runs: the OCI runtime's exec into the app's container), under a pseudo-terminal of util-linux's
 * `script` when a tty is asked for; port forwarding runs `socat` in the pod's network namespace
 * (`nsenter --net=POD/ns-net`), one per forwarded connection, or connects directly for a pod on the
 * host's network.
 */
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { existsSync, readFileSync, readlinkSync, rmSync, writeFileSync } from 'node:fs';
import { connect } from 'node:net';
import { tmpdir } from 'node:os';
import path from 'node:path';
import type { Duplex } from 'node:stream';
import { Duplex as DuplexStream } from 'node:stream';
import { host } from '../../host/index.js';
import { NETNS_FILE } from '../../net/pod.js';
import type { PodInfo } from '../../pod/index.js';
import { engineForPod } from '../../stage1/engine-table.js';
import type { ExecTarget, PortForwardTarget, StreamOptions, StreamProcess, TerminalSize } from './types.js';

function exitCode(code: number | null, signal: NodeJS.Signals | null): number {
  if (code !== null) return code;
  const signals: Record<string, number> = { SIGHUP: 1, SIGINT: 2, SIGKILL: 9, SIGTERM: 15, SIGPIPE: 13 };
  return 128 + (signal !== null ? (signals[signal] ?? 1) : 1);
}

/** The children of `pid` (Linux's /proc/PID/task/PID/children). */
function childrenOf(pid: number): number[] {
  try {
    return readFileSync(`/proc/${pid}/task/${pid}/children`, 'utf8')
      .trim()
      .split(/\s+/)
      .filter((s) => s !== '')
      .map(Number);
  } catch {
    return [];
  }
}

/** A child process as a StreamProcess; with `pty`, its terminal is the one `script` made. */
export function childProcess(child: ChildProcess, pty: boolean): StreamProcess {
  const exit = new Promise<number>((resolve, reject) => {
    child.on('error', reject);
    child.on('close', (code, signal) => resolve(exitCode(code, signal)));
  });
  return {
    stdin: child.stdin,
    stdout: child.stdout,
    stderr: pty ? null : child.stderr,
    exit,
    resize(size: TerminalSize): void {
      if (!pty || child.pid === undefined) return;
      // `script`'s child holds the terminal as its stdin.
      for (const c of childrenOf(child.pid)) {
        let tty: string;
        try {
          tty = readlinkSync(`/proc/${c}/fd/0`);
        } catch {
          continue;
        }
        if (!tty.startsWith('/dev/pts/')) continue;
        spawnSync('stty', ['-F', tty, 'rows', String(size.height), 'cols', String(size.width)], {
          stdio: 'ignore',
        });
      }
    },
    kill(): void {
      if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
    },
  };
}

/** Runs an engine plan (a sh script that removes itself) with the requested streams. */
export function runPlan(script: string, opts: StreamOptions): StreamProcess {
  const file = path.join(tmpdir(), `rkt-stream-plan.${process.pid}.${randomBytes(6).toString('hex')}`);
  writeFileSync(file, script, { mode: 0o600, flag: 'wx' });
  const stdio = [opts.stdin ? 'pipe' : 'ignore', 'pipe', opts.tty ? 'ignore' : 'pipe'] as const;
  // `script -q -e -c CMD /dev/null`: CMD on a new pseudo-terminal, its exit status as script's own.
  const child = opts.tty
    ? spawn('script', ['-q', '-e', '-c', `exec /bin/sh ${file}`, '/dev/null'], { stdio: [...stdio] })
    : spawn('/bin/sh', [file], { stdio: [...stdio] });
  child.on('close', () => rmSync(file, { force: true }));
  return childProcess(child, opts.tty);
}

/**
 * Exec of `command` in app `app` (or the pod's only app) of a running rkt pod; with `asApp`, as
 * the app's own process runs (its user, groups, capabilities...), as the CRI's exec does; with
 * `pidFile`, the runtime writes the command's pid there (so that it can be killed by pid).
 */
export function podExecTarget(
  pod: PodInfo,
  command: string[],
  app?: string,
  asApp = false,
  pidFile?: string,
): ExecTarget {
  return {
    describe: `[${command.join(' ')}] in pod ${pod.uuid}${app !== undefined ? ` app ${app}` : ''}`,
    start(opts: StreamOptions): StreamProcess {
      const plan = engineForPod(pod).enter({
        pod,
        command,
        ...(app !== undefined ? { app } : {}),
        ...(asApp ? { asApp } : {}),
        ...(pidFile !== undefined ? { pidFile } : {}),
      });
      return runPlan(plan.script, opts);
    },
  };
}

/** A process's stdin and stdout as one duplex (a connection made by a helper process). */
export function processDuplex(child: ChildProcess): Duplex {
  const { stdin, stdout } = child;
  if (stdin === null || stdout === null) throw new Error('the helper has no pipes');
  let stderr = '';
  child.stderr?.on('data', (c: Buffer) => {
    if (stderr.length < 1024) stderr += c.toString();
  });
  const d = new DuplexStream({
    // A write the helper did not take (it exited: EPIPE) is no error of its own: the helper's exit
    // status and stderr say what went wrong.
    write(chunk: Buffer, _enc, cb) {
      stdin.write(chunk, () => cb());
    },
    final(cb) {
      stdin.end(() => cb());
    },
    read() {
      stdout.resume();
    },
    destroy(err, cb) {
      if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
      cb(err);
    },
  });
  stdin.on('error', () => undefined);
  stdout.on('data', (c: Buffer) => {
    if (!d.push(c)) stdout.pause();
  });
  // The end of the connection is known when the helper is gone (its stdio closed): a failure (a
  // refused connection) is an error, not an empty answer.
  child.on('error', (err) => d.destroy(err));
  child.on('close', (code) => {
    if (code === 0) d.push(null);
    else d.destroy(new Error(stderr.trim().split('\n').pop() || `helper ended with ${code}`));
  });
  return d;
}

/** Port forwarding into the network namespace file `netns`, or on this host when undefined. */
export function netnsPortTarget(netns: string | undefined, describe: string): PortForwardTarget {
  return {
    describe,
    dial(port: number): Duplex {
      if (netns === undefined) return connect({ host: '127.0.0.1', port });
      const child = host().nsenter.start([`--net=${netns}`, 'socat', '-', `TCP:127.0.0.1:${port}`]);
      return processDuplex(child);
    },
  };
}

/** Port forwarding into a rkt pod: its own network namespace, or the host's. */
export function podPortTarget(pod: PodInfo): PortForwardTarget {
  const ns = path.join(pod.path, NETNS_FILE);
  return netnsPortTarget(existsSync(ns) ? ns : undefined, `pod ${pod.uuid}`);
}
