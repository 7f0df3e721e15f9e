/**
 * Kubelet's streaming protocols on a SPDY/3.1 connection (spdy-transport does the framing):
 *
 * - remote command `v4.channel.k8s.io` (exec, attach): the client opens one SPDY stream per channel,
 *   named by its `streamType` header (error, stdin, stdout, stderr, resize); the server waits for the
 *   ones the request asked for, copies stdin to the process and its output back, takes terminal
 *   sizes as a sequence of JSON objects `{"Width":W,"Height":H}` on `resize`, and ends with one
 *   metav1.Status JSON on `error` (Success, or Failure with reason NonZeroExitCode and the code as
 *   the ExitCode cause).
 * - port forwarding `portforward.k8s.io`: per forwarded connection the client opens a `data` and an
 *   `error` stream with the same `requestID` and `port` headers; the server dials the port in the
 *   pod and copies bytes both ways; a failure is written as text on the error stream.
 */
import type { Duplex } from 'node:stream';
import type { SpdyConnection, SpdyStream } from 'spdy-transport';
import type { ExecTarget, PortForwardTarget, StreamOptions, StreamProcess, TerminalSize } from './types.js';

export const REMOTE_COMMAND_V4 = 'v4.channel.k8s.io';
export const PORT_FORWARD_V1 = 'portforward.k8s.io';

/**
 * Go's SPDY client (moby/spdystream, used by kubelet, kubectl and critest) opens streams with only
 * its own headers, while spdy-transport's parser insists on HTTP's `:method` and `:path` in a
 * SYN_STREAM: supply them when a frame has neither them nor a `:status` (a reply).
 */
export function acceptBareStreams(conn: SpdyConnection): void {
  const parser = conn._spdyState.parser;
  const parseKVs = parser.parseKVs.bind(parser);
  parser.parseKVs = (body, cb) =>
    parseKVs(body, (err, h) => {
      if (err === null && h !== undefined && h[':status'] === undefined) {
        if (h[':method'] === undefined) h[':method'] = 'POST';
        if (h[':path'] === undefined) h[':path'] = '/';
      }
      cb(err, h);
    });
}

/** A header of an incoming SPDY stream, case-insensitively (SPDY/3 lowercases names on the wire). */
export function header(stream: { headers: Record<string, string> }, name: string): string | undefined {
  const want = name.toLowerCase();
  for (const [k, v] of Object.entries(stream.headers)) if (k.toLowerCase() === want) return v;
  return undefined;
}

/** The metav1.Status JSON the error stream carries when a command ends with `code`. */
export function exitStatus(code: number, what: string): string {
  if (code === 0) return JSON.stringify({ metadata: {}, status: 'Success' });
  return JSON.stringify({
    metadata: {},
    status: 'Failure',
    message: `command terminated with non-zero exit code: error executing command ${what}, exit code ${code}`,
    reason: 'NonZeroExitCode',
    details: { causes: [{ reason: 'ExitCode', message: String(code) }] },
  });
}

/** A metav1.Status JSON for an error that is not an exit status (the command could not start...). */
export function failureStatus(message: string): string {
  return JSON.stringify({ metadata: {}, status: 'Failure', message, reason: 'InternalError', code: 500 });
}

/**
 * Decodes the resize channel: a sequence of JSON objects (Go's json.Encoder writes one per line,
 * but a reader may not rely on lines). Calls `onSize` for each complete object with numeric Width
 * and Height; ignores anything else.
 */
export class ResizeDecoder {
  private buf = '';

  constructor(private readonly onSize: (size: TerminalSize) => void) {}

  push(chunk: Buffer | string): void {
    this.buf += chunk.toString();
    for (;;) {
      const start = this.buf.indexOf('{');
      if (start < 0) {
        this.buf = '';
        return;
      }
      let depth = 0;
      let end = -1;
      for (let i = start; i < this.buf.length; i++) {
        if (this.buf[i] === '{') depth++;
        else if (this.buf[i] === '}' && --depth === 0) {
          end = i;
          break;
        }
      }
      if (end < 0) {
        this.buf = this.buf.slice(start);
        if (this.buf.length > 4096) this.buf = ''; // not a terminal size: drop it
        return;
      }
      const text = this.buf.slice(start, end + 1);
      this.buf = this.buf.slice(end + 1);
      try {
        const v = JSON.parse(text) as { Width?: unknown; Height?: unknown };
        if (
          typeof v.Width === 'number' &&
          typeof v.Height === 'number' &&
          Number.isInteger(v.Width) &&
          Number.isInteger(v.Height) &&
          v.Width >= 0 &&
          v.Height >= 0 &&
          v.Width <= 0xffff &&
          v.Height <= 0xffff
        )
          this.onSize({ width: v.Width, height: v.Height });
      } catch {
        // not JSON: skip it
      }
    }
  }
}

/** Which channels the server waits for: error always, the rest as requested (resize with a tty). */
export function expectedStreams(opts: StreamOptions): string[] {
  const out = ['error'];
  if (opts.stdin) out.push('stdin');
  if (opts.stdout) out.push('stdout');
  if (opts.stderr && !opts.tty) out.push('stderr');
  if (opts.tty) out.push('resize');
  return out;
}

/**
 * Serves one remote command (exec or attach) on `conn`: waits (at most `timeoutMs`) for the
 * expected streams, starts the target, copies, reports the exit status, closes the connection.
 */
export function serveRemoteCommand(
  conn: SpdyConnection,
  opts: StreamOptions,
  target: ExecTarget,
  timeoutMs: number,
  done: () => void,
): void {
  const want = expectedStreams(opts);
  const streams = new Map<string, SpdyStream>();
  let proc: StreamProcess | undefined;
  let finished = false;
  // Every channel has its FIN by now; the client closes the connection once it read them (no
  // GOAWAY here: spdy-transport drops frames still queued when a GOAWAY'd connection drains).
  const finish = (): void => {
    if (finished) return;
    finished = true;
    clearTimeout(timer);
    done();
  };
  const timer = setTimeout(() => {
    if (proc === undefined) {
      conn.destroyStreams(new Error('timed out waiting for the client to create streams'));
      finish();
    }
  }, timeoutMs);
  conn.on('error', () => {
    proc?.kill();
    finish();
  });
  conn.on('close', () => {
    if (!finished) proc?.kill();
    finish();
  });
  conn.on('stream', (s: SpdyStream) => {
    s.on('error', () => undefined);
    const type = header(s, 'streamType') ?? '';
    if (!want.includes(type) || streams.has(type) || proc !== undefined) {
      s.respond(400, {});
      s.abort();
      return;
    }
    s.respond(200, {});
    streams.set(type, s);
    // The server only reads stdin and resize, and the client writes nothing on the others. Its
    // side of stdin stays open until the process ends: kubelet's client takes the server's end of
    // stdin as the end of the session and closes its stdin (for a stdin_once container, the
    // container's).
    if (type === 'resize') s.end();
    else s.resume();
    if (streams.size === want.length) start();
  });

  function start(): void {
    clearTimeout(timer);
    const errStream = streams.get('error') as SpdyStream;
    try {
      proc = target.start(opts);
    } catch (err) {
      errStream.end(failureStatus(`cannot start ${target.describe}: ${(err as Error).message}`), () =>
        finish(),
      );
      return;
    }
    const p = proc;
    const stdin = streams.get('stdin');
    if (stdin !== undefined && p.stdin !== null) {
      p.stdin.on('error', () => undefined);
      stdin.pipe(p.stdin);
    } else stdin?.resume();
    const copies: Promise<void>[] = [];
    const copy = (from: NodeJS.ReadableStream | null, to: SpdyStream | undefined): void => {
      if (from === null) {
        to?.end();
        return;
      }
      if (to === undefined) {
        from.resume();
        return;
      }
      // Done when the SPDY stream has taken all of it (its FIN queued before the status).
      copies.push(
        new Promise((resolve) => {
          to.on('finish', resolve);
          to.on('close', resolve);
          from.on('error', () => {
            to.end();
          });
        }),
      );
      from.pipe(to);
    };
    copy(p.stdout, streams.get('stdout'));
    copy(p.stderr, streams.get('stderr'));
    const resize = streams.get('resize');
    if (resize !== undefined) {
      const dec = new ResizeDecoder((size) => {
        try {
          p.resize(size);
        } catch {
          // a size the process cannot take is not fatal
        }
      });
      resize.on('data', (c: Buffer) => dec.push(c));
    }
    void Promise.all([p.exit, ...copies]).then(
      ([code]) => {
        stdin?.end();
        errStream.end(exitStatus(code, target.describe), () => finish());
      },
      (err: unknown) => {
        stdin?.end();
        errStream.end(failureStatus(String(err)), () => finish());
      },
    );
  }
}

/**
 * Serves port forwarding on `conn` until the client closes it: each data/error pair with one
 * requestID is one connection to its port in the pod. At most `maxActive` dials at once.
 */
export function servePortForward(
  conn: SpdyConnection,
  target: PortForwardTarget,
  maxActive: number,
  done: () => void,
): void {
  const pairs = new Map<string, { data?: SpdyStream; error?: SpdyStream; port: number }>();
  let active = 0;
  let finished = false;
  const sockets = new Set<Duplex>();
  const finish = (): void => {
    if (finished) return;
    finished = true;
    for (const s of sockets) s.destroy();
    done();
  };
  conn.on('error', finish);
  conn.on('close', finish);
  conn.on('stream', (s: SpdyStream) => {
    s.on('error', () => undefined);
    const type = header(s, 'streamType');
    const id = header(s, 'requestID');
    const portText = header(s, 'port') ?? '';
    const port = /^\d{1,5}$/.test(portText) ? Number(portText) : NaN;
    if ((type !== 'data' && type !== 'error') || id === undefined || !(port > 0 && port < 65536)) {
      s.respond(400, {});
      s.abort();
      return;
    }
    s.respond(200, {});
    const pair = pairs.get(id) ?? { port };
    if (pair[type] !== undefined || pair.port !== port) {
      s.abort();
      return;
    }
    pair[type] = s;
    pairs.set(id, pair);
    if (type === 'error') s.resume();
    if (pair.data !== undefined && pair.error !== undefined) {
      pairs.delete(id);
      forward(pair.data, pair.error, port);
    }
  });

  function forward(data: SpdyStream, error: SpdyStream, port: number): void {
    const fail = (why: string): void => {
      error.end(`error forwarding port ${port} to ${target.describe}: ${why}`);
      data.end();
    };
    if (active >= maxActive) {
      fail(`too many forwarded connections (${maxActive})`);
      return;
    }
    let sock: Duplex;
    try {
      sock = target.dial(port);
    } catch (err) {
      fail((err as Error).message);
      return;
    }
    active++;
    sockets.add(sock);
    let released = false;
    const release = (): void => {
      if (released) return;
      released = true;
      active--;
      sockets.delete(sock);
    };
    sock.on('error', (err: Error) => {
      release();
      fail(err.message);
    });
    sock.on('close', () => {
      release();
      error.end();
    });
    data.pipe(sock);
    sock.pipe(data);
  }
}
