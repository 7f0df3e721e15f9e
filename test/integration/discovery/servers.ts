/**
 * Loopback discovery servers for the integration tests: a throwaway CA and a 127.0.0.1/localhost
 * certificate made with openssl, and a server that answers HTTP and HTTPS on one port (it peeks at
 * the first byte), so https→http fallback can be seen at a single `--port`.
 */
import { execFileSync } from 'node:child_process';
import { readFileSync, writeFileSync } from 'node:fs';
import http from 'node:http';
import https from 'node:https';
import net from 'node:net';
import { join } from 'node:path';

export interface TestCA {
  /** PEM of the CA certificate (what clients must trust). */
  readonly ca: string;
  readonly caFile: string;
  readonly cert: string;
  readonly key: string;
}

/** A CA in `dir` and a server certificate for `ip` (and `dnsNames`) signed by it. */
export function makeCA(dir: string, ip = '127.0.0.1', dnsNames: readonly string[] = ['localhost']): TestCA {
  const openssl = (...args: string[]): void => {
    execFileSync('openssl', args, { cwd: dir, stdio: 'pipe' });
  };
  openssl(
    'req',
    '-x509',
    '-newkey',
    'rsa:2048',
    '-nodes',
    '-keyout',
    'ca.key',
    '-out',
    'ca.pem',
    '-days',
    '2',
    '-subj',
    '/CN=rocket test CA',
  );
  openssl(
    'req',
    '-newkey',
    'rsa:2048',
    '-nodes',
    '-keyout',
    'server.key',
    '-out',
    'server.csr',
    '-subj',
    `/CN=${ip}`,
  );
  const altNames = [`IP:${ip}`, ...dnsNames.map((n) => `DNS:${n}`)].join(',');
  writeFileSync(join(dir, 'ext.cnf'), `subjectAltName=${altNames}\n`);
  openssl(
    'x509',
    '-req',
    '-in',
    'server.csr',
    '-CA',
    'ca.pem',
    '-CAkey',
    'ca.key',
    '-CAcreateserial',
    '-out',
    'server.pem',
    '-days',
    '2',
    '-extfile',
    'ext.cnf',
  );
  const read = (f: string): string => readFileSync(join(dir, f), 'utf8');
  return {
    ca: read('ca.pem'),
    caFile: join(dir, 'ca.pem'),
    cert: read('server.pem'),
    key: read('server.key'),
  };
}

/** What a path answers: a page (200), a status, a redirect, or a dropped connection. */
export type Route = string | { status: number; location?: string; body?: string } | { reset: true };

export interface SeenRequest {
  readonly scheme: 'http' | 'https';
  readonly url: string;
  readonly headers: http.IncomingHttpHeaders;
}

export interface TestServer {
  readonly port: number;
  readonly requests: SeenRequest[];
  close(): Promise<void>;
}

/**
 * Serves `routes` (by path, for both schemes unless `https`/`http` narrow it) on 127.0.0.1. With
 * `tls` undefined only plain HTTP is spoken.
 */
export async function startServer(
  routes: { both?: Record<string, Route>; https?: Record<string, Route>; http?: Record<string, Route> },
  tls?: TestCA,
): Promise<TestServer> {
  const requests: SeenRequest[] = [];
  const handler = (req: http.IncomingMessage, res: http.ServerResponse): void => {
    const scheme = 'encrypted' in req.socket && req.socket.encrypted ? 'https' : 'http';
    requests.push({ scheme, url: req.url ?? '', headers: req.headers });
    const path = new URL(req.url ?? '/', 'http://x').pathname;
    const route = routes[scheme]?.[path] ?? routes.both?.[path];
    if (route === undefined) {
      res.writeHead(404).end('not here');
    } else if (typeof route === 'object' && 'reset' in route) {
      req.socket.destroy();
    } else if (typeof route === 'string') {
      res.writeHead(200, { 'content-type': 'text/html' }).end(route);
    } else {
      res.writeHead(route.status, route.location ? { location: route.location } : {}).end(route.body ?? '');
    }
  };
  const plain = http.createServer(handler);
  const secure = tls ? https.createServer({ cert: tls.cert, key: tls.key }, handler) : undefined;
  const listen = async (server: net.Server): Promise<number> => {
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    const address = server.address();
    if (address === null || typeof address === 'string') throw new Error('no port');
    return address.port;
  };
  const plainPort = await listen(plain);
  const securePort = secure ? await listen(secure) : plainPort;
  // Node's TLS server cannot take over a socket whose first bytes were already read, so the front
  // relays each connection to the plain or the TLS server by the first byte (0x16 = handshake).
  const sockets = new Set<net.Socket>();
  const front = net.createServer((socket) => {
    sockets.add(socket);
    socket.once('close', () => sockets.delete(socket));
    socket.once('data', (first) => {
      const upstream = net.connect(first[0] === 0x16 ? securePort : plainPort, '127.0.0.1');
      sockets.add(upstream);
      upstream.once('close', () => sockets.delete(upstream));
      upstream.write(first);
      socket.pipe(upstream).pipe(socket);
      upstream.on('error', () => socket.destroy());
      socket.on('error', () => upstream.destroy());
      upstream.once('close', () => socket.destroy());
    });
  });
  const port = await listen(front);
  return {
    port,
    requests,
    close: async () => {
      for (const s of sockets) s.destroy();
      plain.closeAllConnections();
      secure?.closeAllConnections();
      const close = (server: net.Server): Promise<unknown> => new Promise((resolve) => server.close(resolve));
      await Promise.all([close(front), close(plain), ...(secure ? [close(secure)] : [])]);
    },
  };
}

/** A port nothing listens on (bound, then released). */
export async function closedPort(): Promise<number> {
  const s = net.createServer();
  await new Promise<void>((resolve) => s.listen(0, '127.0.0.1', resolve));
  const address = s.address();
  await new Promise((resolve) => s.close(resolve));
  if (address === null || typeof address === 'string') throw new Error('no port');
  return address.port;
}
