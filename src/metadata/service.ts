/**
 * `rkt metadata-service`: one long-lived process serving every pod of the machine. Pods reach it
 * over TCP (all IPv4 addresses, `--listen-port`, default 18112); stage0 and pod teardown reach it
 * over a unix socket that only root can use (docs/metadata-service.md).
 */
import { connect } from 'node:net';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import { chmodSync, lstatSync, mkdirSync, unlinkSync } from 'node:fs';
import path from 'node:path';
import { RKT_FAILURE, RocketError, errorMessage } from '../errors.js';
import { errnoCode } from '../pod/index.js';
import { text, type ApiRequest, type ApiResponse } from './http-types.js';
import { Liveness } from './liveness.js';
import { PodApi, normalizeAddress } from './pod-api.js';
import { diskPodProbe, type PodProbe } from './pod-probe.js';
import { RegistrationApi } from './registration-api.js';
import { Registry } from './registry.js';

/** Largest request body accepted (a sign request's content, a registration's manifests). */
const MAX_BODY = 1 << 20;
/** How often registrations of pods that stopped running are dropped (they are also checked per request). */
const SWEEP_INTERVAL_MS = 30_000;

export interface ServiceOptions {
  /** TCP port for pods; 0 picks a free one (see RunningService.port). */
  port: number;
  socketPath: string;
  /** Defaults to every IPv4 address, as rkt (`tcp4`). */
  host?: string;
  log?: (line: string) => void;
  probe?: PodProbe;
}

export interface RunningService {
  port: number;
  socketPath: string;
  registry: Registry;
  close(): Promise<void>;
}

/** The socket's directory: created 0700, or an existing one that nobody else can write to. */
function prepareSocketDir(dir: string): void {
  try {
    mkdirSync(dir, { recursive: true, mode: 0o700 });
  } catch (err) {
    throw new RocketError(`cannot create ${dir}: ${errorMessage(err)}`, RKT_FAILURE);
  }
  const st = lstatSync(dir);
  if (!st.isDirectory()) throw new RocketError(`${dir}: not a directory`, RKT_FAILURE);
  if (st.uid !== process.geteuid?.() || (st.mode & 0o022) !== 0)
    throw new RocketError(
      `${dir}: must be owned by this user and writable by nobody else (it holds the registration socket)`,
      RKT_FAILURE,
    );
}

/** Removes a socket left by a service that died; refuses when one still answers there. */
async function clearStaleSocket(socketPath: string): Promise<void> {
  let isSocket: boolean;
  try {
    isSocket = lstatSync(socketPath).isSocket();
  } catch (err) {
    if (errnoCode(err) === 'ENOENT') return;
    throw err;
  }
  if (!isSocket) throw new RocketError(`${socketPath}: exists and is not a socket`, RKT_FAILURE);
  const live = await new Promise<boolean>((resolve) => {
    const c = connect(socketPath);
    c.once('connect', () => {
      c.destroy();
      resolve(true);
    });
    c.once('error', () => resolve(false));
  });
  if (live) throw new RocketError(`a metadata service is already running on ${socketPath}`, RKT_FAILURE);
  unlinkSync(socketPath);
}

/** The request body, or undefined past MAX_BODY (the rest is read and dropped). */
function readBody(req: IncomingMessage): Promise<Buffer | undefined> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    let size = 0;
    const onData = (c: Buffer): void => {
      size += c.length;
      if (size <= MAX_BODY) chunks.push(c);
      else {
        req.off('data', onData);
        req.resume();
        resolve(undefined);
      }
    };
    req.on('data', onData);
    req.on('end', () => resolve(Buffer.concat(chunks)));
    req.on('error', reject);
  });
}

function send(res: ServerResponse, r: ApiResponse): void {
  const body = typeof r.body === 'string' ? Buffer.from(r.body) : r.body;
  res.writeHead(r.status, {
    'Content-Type': r.contentType,
    'Content-Length': String(body.length),
    ...r.headers,
  });
  res.end(body);
}

/** The request line for the log, with the pod's token replaced (tokens are credentials). */
function loggedTarget(url: string): string {
  return url.replace(/^\/[^/?]+/, '/<token>');
}

function serve(
  handler: (req: ApiRequest) => ApiResponse,
  log: (line: string) => void,
  describe: (req: IncomingMessage) => string,
): Server {
  const server = createServer((req, res) => {
    void (async () => {
      let r: ApiResponse;
      const body = await readBody(req).catch(() => undefined);
      if (body === undefined) r = { ...text(413, 'request too large\n'), headers: { Connection: 'close' } };
      else {
        try {
          r = handler({
            method: req.method ?? 'GET',
            url: req.url ?? '/',
            source: normalizeAddress(req.socket.remoteAddress ?? ''),
            ...(req.headers['content-type'] !== undefined
              ? { contentType: req.headers['content-type'] }
              : {}),
            body,
          });
        } catch (err) {
          log(`internal error: ${errorMessage(err)}`);
          r = text(500, 'internal error\n');
        }
      }
      log(`${describe(req)} - ${r.status}`);
      if (!res.destroyed) send(res, r);
    })();
  });
  server.headersTimeout = 10_000;
  server.requestTimeout = 30_000;
  return server;
}

function listen(server: Server, args: { port: number; host: string } | { path: string }): Promise<void> {
  return new Promise((resolve, reject) => {
    server.once('error', reject);
    server.listen(args, () => {
      server.off('error', reject);
      resolve();
    });
  });
}

function closeServer(server: Server): Promise<void> {
  return new Promise((resolve) => {
    server.close(() => resolve());
    server.closeAllConnections();
  });
}

export async function startMetadataService(opts: ServiceOptions): Promise<RunningService> {
  const log = opts.log ?? ((line: string) => process.stderr.write(`metadata-service: ${line}\n`));
  const probe = opts.probe ?? diskPodProbe;
  const registry = new Registry();
  const live = new Liveness(registry, probe, log);
  const podApi = new PodApi(live);
  let port = opts.port;
  const registration = new RegistrationApi(live, () => port, log);

  const podServer = serve(
    (r) => podApi.handle(r),
    log,
    (req) =>
      `${req.method} ${loggedTarget(req.url ?? '')} from ${normalizeAddress(req.socket.remoteAddress ?? '')}`,
  );
  const regServer = serve(
    (r) => registration.handle(r),
    log,
    (req) => `registration ${req.method} ${req.url}`,
  );
  try {
    await listen(podServer, { port: opts.port, host: opts.host ?? '0.0.0.0' });
  } catch (err) {
    throw new RocketError(`cannot listen on port ${opts.port}: ${errorMessage(err)}`, RKT_FAILURE);
  }
  const address = podServer.address();
  if (address !== null && typeof address === 'object') port = address.port;

  try {
    prepareSocketDir(path.dirname(opts.socketPath));
    await clearStaleSocket(opts.socketPath);
    // Bound with mode 0600 from the start (bind applies the umask), then made sure of.
    const umask = process.umask(0o177);
    try {
      await listen(regServer, { path: opts.socketPath });
    } finally {
      process.umask(umask);
    }
    chmodSync(opts.socketPath, 0o600);
  } catch (err) {
    await closeServer(podServer);
    if (err instanceof RocketError) throw err;
    throw new RocketError(`cannot listen on ${opts.socketPath}: ${errorMessage(err)}`, RKT_FAILURE);
  }

  const timer = setInterval(() => live.sweep(), SWEEP_INTERVAL_MS);
  timer.unref();
  return {
    port,
    socketPath: opts.socketPath,
    registry,
    async close() {
      clearInterval(timer);
      await Promise.all([closeServer(podServer), closeServer(regServer)]);
      try {
        unlinkSync(opts.socketPath);
      } catch {
        // already gone
      }
    },
  };
}
