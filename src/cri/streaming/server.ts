/**
 * The CRI streaming server: the HTTP server whose URLs Exec, Attach and PortForward answer with
 * (`/exec/TOKEN`, `/attach/TOKEN`, `/portforward/TOKEN`). A client upgrades such a request to
 * SPDY/3.1, naming the protocols it speaks in X-Stream-Protocol-Version; the server picks the one it
 * speaks (remote command v4, port forwarding v1) and serves it (protocol.ts). Tokens are one-time
 * and expire (tokens.ts).
 */
import { createServer, type IncomingMessage, type Server } from 'node:http';
import type { AddressInfo, Socket } from 'node:net';
import type { Duplex } from 'node:stream';
import transport from 'spdy-transport';
import {
  PORT_FORWARD_V1,
  REMOTE_COMMAND_V4,
  acceptBareStreams,
  servePortForward,
  serveRemoteCommand,
} from './protocol.js';
import { TokenCache } from './tokens.js';
import type { ExecTarget, PortForwardTarget, StreamOptions, StreamRequest } from './types.js';

export interface StreamingServerOptions {
  /** How long an unused token stays valid (kubelet's default: 1 minute). */
  tokenTtlMs?: number;
  /** How long the server waits for a client to open its streams (kubelet's default: 30 s). */
  streamCreationTimeoutMs?: number;
  /** Forwarded connections at once per port-forward session. */
  maxPortForwards?: number;
  now?: () => number;
}

function rawResponse(socket: Duplex, status: string, body: string): void {
  const text = `${body}\n`;
  socket.end(
    `HTTP/1.1 ${status}\r\nContent-Type: text/plain; charset=utf-8\r\nContent-Length: ${Buffer.byteLength(text)}\r\nConnection: close\r\n\r\n${text}`,
  );
}

/** The protocols of X-Stream-Protocol-Version (repeated, or joined with commas by Node). */
export function clientProtocols(req: IncomingMessage): string[] {
  const out: string[] = [];
  for (let i = 0; i < req.rawHeaders.length; i += 2)
    if ((req.rawHeaders[i] as string).toLowerCase() === 'x-stream-protocol-version')
      for (const p of (req.rawHeaders[i + 1] as string).split(',')) if (p.trim() !== '') out.push(p.trim());
  return out;
}

export class StreamingServer {
  private readonly tokens: TokenCache<StreamRequest>;
  private readonly server: Server;
  private readonly sockets = new Set<Socket | Duplex>();
  private readonly opts: Required<Omit<StreamingServerOptions, 'now'>>;
  private base = '';

  constructor(opts: StreamingServerOptions = {}) {
    this.opts = {
      tokenTtlMs: opts.tokenTtlMs ?? 60_000,
      streamCreationTimeoutMs: opts.streamCreationTimeoutMs ?? 30_000,
      maxPortForwards: opts.maxPortForwards ?? 64,
    };
    this.tokens = new TokenCache(this.opts.tokenTtlMs, 1000, opts.now ?? Date.now);
    this.server = createServer((req, res) => {
      // A plain request: only upgrades are served.
      const known = /^\/(exec|attach|portforward)\/[A-Za-z0-9_-]+$/.test(req.url ?? '');
      res.writeHead(known ? 400 : 404, { 'Content-Type': 'text/plain; charset=utf-8' });
      res.end(known ? 'unable to upgrade: missing upgrade headers in request\n' : 'not found\n');
    });
    this.server.on('connection', (s: Socket) => {
      this.sockets.add(s);
      s.on('close', () => this.sockets.delete(s));
    });
    this.server.on('upgrade', (req: IncomingMessage, socket: Socket, head: Buffer) =>
      this.upgrade(req, socket, head),
    );
  }

  /** Listens on `address`:`port` (0: any free port). */
  async listen(address: string, port: number): Promise<void> {
    await new Promise<void>((resolve, reject) => {
      this.server.once('error', reject);
      this.server.listen(port, address, () => {
        this.server.off('error', reject);
        resolve();
      });
    });
    const a = this.server.address() as AddressInfo;
    this.base = `http://${a.family === 'IPv6' ? `[${a.address}]` : a.address}:${a.port}`;
  }

  /** `http://ADDRESS:PORT` once listening. */
  get url(): string {
    return this.base;
  }

  /** The URL an ExecResponse carries. */
  exec(target: ExecTarget, opts: StreamOptions): string {
    return `${this.base}/exec/${this.tokens.put({ kind: 'exec', opts: checked(opts), target })}`;
  }

  /** The URL an AttachResponse carries. */
  attach(target: ExecTarget, opts: StreamOptions): string {
    return `${this.base}/attach/${this.tokens.put({ kind: 'attach', opts: checked(opts), target })}`;
  }

  /** The URL a PortForwardResponse carries. */
  portForward(target: PortForwardTarget): string {
    return `${this.base}/portforward/${this.tokens.put({ kind: 'portforward', target })}`;
  }

  /** Stops listening and ends every connection. */
  async close(): Promise<void> {
    for (const s of this.sockets) s.destroy();
    await new Promise<void>((resolve) => this.server.close(() => resolve()));
  }

  private upgrade(req: IncomingMessage, socket: Socket, head: Buffer): void {
    socket.on('error', () => undefined);
    const m = /^\/(exec|attach|portforward)\/([A-Za-z0-9_-]+)$/.exec(req.url ?? '');
    const entry = m === null ? undefined : this.tokens.take(m[2] as string);
    if (m === null || entry === undefined || entry.kind !== m[1]) {
      rawResponse(socket, '404 Not Found', 'not found: unknown or expired token');
      return;
    }
    if (!/^spdy\/3\.1$/i.test(req.headers.upgrade ?? '')) {
      rawResponse(
        socket,
        '400 Bad Request',
        `unable to upgrade: unsupported protocol ${req.headers.upgrade ?? ''}`,
      );
      return;
    }
    const mine = entry.kind === 'portforward' ? PORT_FORWARD_V1 : REMOTE_COMMAND_V4;
    const theirs = clientProtocols(req);
    if (!theirs.includes(mine)) {
      rawResponse(
        socket,
        '403 Forbidden',
        `unable to upgrade: unable to negotiate protocol: client supports [${theirs.join(' ')}], server supports [${mine}]`,
      );
      return;
    }
    socket.write(
      `HTTP/1.1 101 Switching Protocols\r\nConnection: Upgrade\r\nUpgrade: SPDY/3.1\r\nX-Stream-Protocol-Version: ${mine}\r\n\r\n`,
    );
    if (head.length > 0) socket.unshift(head);
    socket.setNoDelay(true);
    const conn = transport.connection.create(socket, { protocol: 'spdy', isServer: true });
    acceptBareStreams(conn);
    // The protocol is over: the client closes the connection once it read everything; one that
    // does not is cut off after a while.
    const done = (): void => {
      const t = setTimeout(() => socket.destroy(), 10_000);
      t.unref();
      socket.on('close', () => clearTimeout(t));
    };
    if (entry.kind === 'portforward') servePortForward(conn, entry.target, this.opts.maxPortForwards, done);
    else serveRemoteCommand(conn, entry.opts, entry.target, this.opts.streamCreationTimeoutMs, done);
  }
}

function checked(opts: StreamOptions): StreamOptions {
  if (!opts.stdin && !opts.stdout && !opts.stderr)
    throw new Error('one of stdin, stdout and stderr must be requested');
  if (opts.tty && opts.stderr) throw new Error('tty and stderr cannot both be true');
  return { ...opts };
}
