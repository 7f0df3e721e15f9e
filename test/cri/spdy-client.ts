/**
 * A kubelet-style client of the CRI streaming server for tests: the HTTP upgrade to SPDY/3.1 with
 * X-Stream-Protocol-Version, then spdy-transport's client side opening the channels as kubectl and
 * critest do (remote command v4: error first, then stdin/stdout/stderr/resize; port forwarding: an
 * error and a data stream per connection with `port` and `requestID`).
 */
import { request } from 'node:http';
import type { Socket } from 'node:net';
import { Duplex } from 'node:stream';
import transport, { type SpdyConnection, type SpdyStream } from 'spdy-transport';

export interface Upgraded {
  conn: SpdyConnection;
  socket: Socket;
  protocol: string | undefined;
}

/** The HTTP status and body when the server refuses the upgrade. */
export class UpgradeRefused extends Error {
  constructor(
    readonly status: number,
    readonly body: string,
  ) {
    super(`upgrade refused: ${status} ${body}`);
  }
}

/**
 * The socket as spdy-transport's client sees it, minus its end: spdy-transport destroys every stream
 * when its socket closes, even while frames that came before the server's FIN still wait for header
 * decompression. The caller destroys the real socket when it is done.
 */
function shielded(socket: Socket): Duplex {
  const d = new Duplex({
    read() {
      socket.resume();
    },
    write(chunk: Buffer, _enc, cb) {
      if (socket.destroyed || socket.writableEnded) cb();
      else socket.write(chunk, () => cb());
    },
    destroy(err, cb) {
      socket.destroy();
      cb(err);
    },
  });
  socket.on('data', (c: Buffer) => {
    if (!d.push(c)) socket.pause();
  });
  socket.on('error', () => undefined);
  return d;
}

export function upgrade(url: string, protocols: string[]): Promise<Upgraded> {
  return new Promise((resolve, reject) => {
    const req = request(url, {
      method: 'POST',
      headers: {
        Connection: 'Upgrade',
        Upgrade: 'SPDY/3.1',
        'X-Stream-Protocol-Version': protocols,
      },
    });
    req.on('upgrade', (res, socket: Socket, head) => {
      if (head.length > 0) socket.unshift(head);
      const conn = transport.connection.create(shielded(socket), { protocol: 'spdy', isServer: false });
      conn.start(3.1);
      const p = res.headers['x-stream-protocol-version'];
      resolve({ conn, socket, protocol: Array.isArray(p) ? p[0] : p });
    });
    req.on('response', (res) => {
      let body = '';
      res.on('data', (c: Buffer) => (body += c.toString()));
      res.on('end', () => reject(new UpgradeRefused(res.statusCode ?? 0, body.trim())));
    });
    req.on('error', reject);
    req.end();
  });
}

export function openStream(conn: SpdyConnection, headers: Record<string, string>): Promise<SpdyStream> {
  return new Promise((resolve, reject) => {
    const s = conn.request({ method: 'POST', path: '/', headers }, (err) => (err ? reject(err) : resolve(s)));
    s.on('error', () => undefined);
  });
}

function collect(s: SpdyStream): Promise<string> {
  return new Promise((resolve) => {
    let out = '';
    s.on('data', (c: Buffer) => (out += c.toString()));
    s.on('end', () => resolve(out));
    // spdy-transport emits `close` once the FIN arrived, maybe before the last data is read: only an
    // aborted stream (RST_STREAM, `close` with an error) ends the collection so.
    s.on('close', (err?: Error) => {
      if (err !== undefined) resolve(out);
    });
    s.on('error', () => resolve(out));
  });
}

export interface ExecResult {
  stdout: string;
  stderr: string;
  /** The metav1.Status JSON of the error stream, parsed. */
  status: {
    status?: string;
    reason?: string;
    message?: string;
    details?: { causes?: { reason: string; message: string }[] };
  };
  exitCode: number;
  /** The server ended its side of stdin before the client ended its own (kubelet's client would then end its stdin early). */
  stdinEndedEarly: boolean;
}

/** A remote command (exec or attach) as kubectl runs it over remote command v4. */
export async function remoteCommand(
  url: string,
  opts: {
    stdin?: string;
    /** Send stdin only once stdout has shown this (as critest's attach spec waits for output). */
    stdinAfter?: string;
    stdout?: boolean;
    stderr?: boolean;
    tty?: boolean;
    resize?: { Width: number; Height: number }[];
  },
): Promise<ExecResult> {
  const { conn, socket } = await upgrade(url, ['v4.channel.k8s.io']);
  try {
    const error = await openStream(conn, { streamtype: 'error' });
    error.end();
    const errText = collect(error);
    const resize = opts.tty ? await openStream(conn, { streamtype: 'resize' }) : undefined;
    const stdin = opts.stdin !== undefined ? await openStream(conn, { streamtype: 'stdin' }) : undefined;
    let serverEndedStdin = false;
    let stdinEndedEarly = false;
    stdin?.on('end', () => (serverEndedStdin = true));
    stdin?.resume();
    const stdout = opts.stdout !== false ? await openStream(conn, { streamtype: 'stdout' }) : undefined;
    const stderr =
      opts.stderr === true && !opts.tty ? await openStream(conn, { streamtype: 'stderr' }) : undefined;
    // The client writes nothing there: half-close them, so that the server's side can close.
    for (const s of [stdout, stderr]) s?.end();
    const out = stdout ? collect(stdout) : Promise.resolve('');
    let shown = '';
    const seen =
      opts.stdinAfter === undefined
        ? Promise.resolve()
        : new Promise<void>((resolve, reject) => {
            const t = setTimeout(
              () =>
                reject(
                  new Error(
                    `stdout never showed ${JSON.stringify(opts.stdinAfter)}: ${JSON.stringify(shown)}`,
                  ),
                ),
              30_000,
            );
            stdout?.on('data', (b: Buffer) => {
              shown += b.toString();
              if (shown.includes(opts.stdinAfter as string)) {
                clearTimeout(t);
                resolve();
              }
            });
          });
    const err = stderr ? collect(stderr) : Promise.resolve('');
    for (const r of opts.resize ?? []) resize?.write(`${JSON.stringify(r)}\n`);
    if (stdin !== undefined) {
      // kubelet's client closes its stdin once the server ends its side of it.
      // A ping's round trip: what the server sent before its answer has been read by then.
      // (Or the status, when the process has already ended.)
      await Promise.race([
        new Promise((resolve) =>
          (conn as unknown as { ping(cb: () => void): void }).ping(() => resolve(undefined)),
        ),
        errText,
      ]);
      await new Promise((resolve) => setImmediate(resolve));
      if (serverEndedStdin) stdinEndedEarly = true;
      await seen;
      stdin.end(opts.stdin);
    }
    const statusText = await errText;
    const status = statusText === '' ? {} : (JSON.parse(statusText) as ExecResult['status']);
    const code =
      status.status === 'Success'
        ? 0
        : Number(status.details?.causes?.find((c) => c.reason === 'ExitCode')?.message ?? NaN);
    return { stdout: await out, stderr: await err, status, exitCode: code, stdinEndedEarly };
  } finally {
    socket.destroy();
  }
}

/** One forwarded connection: sends `data`, ends, returns what came back and the error stream's text. */
export async function forwardOnce(
  conn: SpdyConnection,
  port: number,
  requestID: string,
  data: string,
): Promise<{ data: string; error: string }> {
  const error = await openStream(conn, { streamtype: 'error', port: String(port), requestid: requestID });
  error.end();
  const errText = collect(error);
  const stream = await openStream(conn, { streamtype: 'data', port: String(port), requestid: requestID });
  const got = collect(stream);
  stream.end(data);
  return { data: await got, error: await errText };
}
