/**
 * Where the API service listens: `--listen` addresses (TCP `host:port`, `[v6]:port`, `:port`, or a
 * unix socket as `unix:PATH` or an absolute path), or sockets handed over by systemd
 * (sd_listen_fds(3): LISTEN_PID, LISTEN_FDS; fds from 3).
 */
import { lstatSync, unlinkSync } from 'node:fs';
import { connect } from 'node:net';
import { resolve } from 'node:path';
import { RKT_FAILURE, RocketError } from '../errors.js';

/** rkt's default (common.APIServiceListenAddr). */
export const DEFAULT_LISTEN = 'localhost:15441';

export type ListenAddress = { kind: 'tcp'; host: string; port: number } | { kind: 'unix'; path: string };

function bad(addr: string, why: string): RocketError {
  return new RocketError(`invalid --listen address ${JSON.stringify(addr)}: ${why}`, RKT_FAILURE);
}

export function parseListenAddress(addr: string): ListenAddress {
  if (addr.startsWith('unix:') || addr.startsWith('/')) {
    const path = addr.replace(/^unix:(\/\/)?/, '');
    if (path === '') throw bad(addr, 'no socket path');
    return { kind: 'unix', path: resolve(path) };
  }
  const m = /^(?:\[([0-9a-fA-F:.]+)\]|([^:[\]]*)):(\d{1,5})$/.exec(addr);
  if (m === null) throw bad(addr, 'expected HOST:PORT, [IPV6]:PORT, :PORT or unix:PATH');
  const port = Number(m[3]);
  if (port > 65535) throw bad(addr, 'port out of range');
  // Go's ":PORT" listens on every address, as "[::]" does for grpc (dual stack).
  const host = m[1] ?? (m[2] === undefined || m[2] === '' ? '::' : m[2]);
  return { kind: 'tcp', host, port };
}

/** The grpc-js bind target of an address. */
export function bindTarget(a: ListenAddress): string {
  return a.kind === 'unix' ? `unix://${a.path}` : `${hostPart(a.host)}:${a.port}`;
}

/** The address as printed, with the port the system chose for port 0. */
export function describeAddress(a: ListenAddress, boundPort?: number): string {
  return a.kind === 'unix' ? `unix:${a.path}` : `${hostPart(a.host)}:${boundPort ?? a.port}`;
}

function hostPart(host: string): string {
  return host.includes(':') ? `[${host}]` : host;
}

/**
 * Makes way for a unix socket at `path`: a socket file nobody listens on (left by a killed service)
 * is removed; a live one, or any other kind of file, is an error.
 */
export async function clearStaleSocket(path: string): Promise<void> {
  let isSocket: boolean;
  try {
    isSocket = lstatSync(path).isSocket();
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return;
    throw err;
  }
  if (!isSocket) throw new RocketError(`${path}: exists and is not a socket`, RKT_FAILURE);
  const live = await new Promise<boolean>((done) => {
    const s = connect(path);
    s.once('connect', () => {
      s.destroy();
      done(true);
    });
    s.once('error', () => done(false));
  });
  if (live) throw new RocketError(`${path}: another process is listening there`, RKT_FAILURE);
  unlinkSync(path);
}

/**
 * The listening fds systemd passed to this process, if any; the variables are removed so children
 * do not see them (as sd_listen_fds(1) does).
 */
export function systemdListenFds(env: NodeJS.ProcessEnv = process.env, pid = process.pid): number[] {
  const fdsVar = env['LISTEN_FDS'];
  const pidVar = env['LISTEN_PID'];
  if (fdsVar === undefined || pidVar === undefined) return [];
  delete env['LISTEN_FDS'];
  delete env['LISTEN_PID'];
  delete env['LISTEN_FDNAMES'];
  if (Number(pidVar) !== pid || !/^\d+$/.test(fdsVar)) return [];
  return Array.from({ length: Number(fdsVar) }, (_, i) => 3 + i);
}
