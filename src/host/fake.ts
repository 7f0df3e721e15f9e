/**
 * Fakes of the host-program adapters for unit tests (root-free): every call is recorded, and a
 * responder chooses its result (default: success with no output). `start` runs the given sh script
 * instead of the program, so a test controls what the "helper" prints and when it ends.
 */
import { spawn, type ChildProcessWithoutNullStreams } from 'node:child_process';
import type { RunOptions, RunResult } from './exec.js';
import { useHostPrograms, type HostPrograms } from './index.js';

export interface FakeCall {
  program: 'unshare' | 'nsenter' | 'mount' | 'umount' | 'cp' | 'curl';
  args: string[];
  input?: string;
}

export interface FakeHostOptions {
  /** The result of a call that runs to completion. */
  respond?: (call: FakeCall) => Partial<RunResult>;
  /** The sh script a started helper runs (default: `exit 0`). */
  startScript?: (call: FakeCall) => string;
  /** What the busybox adapter finds (default: none, so the util-linux command lines). */
  busybox?: string;
}

export interface FakeHost {
  calls: FakeCall[];
  /** Puts the real programs back. */
  restore(): void;
}

/** Installs fakes of every adapter until `restore()`. */
export function installFakeHost(opts: FakeHostOptions = {}): FakeHost {
  const calls: FakeCall[] = [];
  const run = (program: FakeCall['program'], args: readonly string[], o?: RunOptions): RunResult => {
    const call: FakeCall = {
      program,
      args: [...args],
      ...(o?.input !== undefined ? { input: o.input } : {}),
    };
    calls.push(call);
    return { status: 0, stdout: '', stderr: '', ...opts.respond?.(call) };
  };
  const start = (program: FakeCall['program'], args: readonly string[]): ChildProcessWithoutNullStreams => {
    const call: FakeCall = { program, args: [...args] };
    calls.push(call);
    return spawn('/bin/sh', ['-c', opts.startScript?.(call) ?? 'exit 0'], {
      stdio: ['pipe', 'pipe', 'pipe'],
    });
  };
  const programs: HostPrograms = {
    unshare: { run: (a, o) => run('unshare', a, o), start: (a) => start('unshare', a) },
    nsenter: { run: (a, o) => run('nsenter', a, o), start: (a) => start('nsenter', a) },
    mount: {
      mount: (a) => run('mount', a),
      umount: (t, o) => run('umount', [...(o?.lazy === true ? ['--lazy'] : []), t]),
    },
    cp: { copyTree: (from, to) => run('cp', ['-a', from + '/.', to]) },
    curl: { run: (a, o) => run('curl', a, o) },
    busybox: { find: () => opts.busybox },
  };
  return { calls, restore: useHostPrograms(programs) };
}
