/**
 * The world `rkt fetch` meets in the integration tests: a CA and a server certificate for one random
 * loopback address (127.77.x.y), keys and detached signatures made by real GnuPG, ACIs built with
 * bin/actool, and an HTTPS server on that address's port 443 serving meta discovery, images,
 * signatures and the public key. It records what it was asked and how many body bytes it sent.
 */
import { execFileSync, spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import https from 'node:https';
import { join } from 'node:path';
import { projectRoot, type RunResult } from '../../helpers.js';
import { makeCA, type TestCA } from '../discovery/servers.js';

export function randomLoopback(): string {
  const b = (): number => 1 + Math.floor(Math.random() * 253);
  return `127.77.${b()}.${b()}`;
}

export type Tls = TestCA;

/** A test CA and a certificate for `ip` (no DNS names), as the discovery tests make them. */
export function makeTls(dir: string, ip: string): Tls {
  return makeCA(dir, ip, []);
}

/** A GnuPG home with helpers; `close` stops its agent. */
export class Gpg {
  constructor(readonly home: string) {
    mkdirSync(home, { recursive: true, mode: 0o700 });
  }

  private run(args: string[]): Buffer {
    const r = spawnSync(
      'gpg',
      ['--batch', '--no-tty', '--pinentry-mode', 'loopback', '--passphrase', '', ...args],
      {
        env: { ...process.env, GNUPGHOME: this.home, LC_ALL: 'C' },
      },
    );
    if (r.status !== 0) throw new Error(`gpg ${args.join(' ')}: ${r.stderr.toString()}`);
    return r.stdout;
  }

  /** Makes a signing key; returns its fingerprint. */
  genKey(uid: string): string {
    this.run(['--quick-gen-key', uid, 'ed25519', 'sign', 'never']);
    const listing = this.run(['--with-colons', '--list-keys', `=${uid}`]).toString();
    const fpr = /^fpr:+([0-9A-F]{40}):/m.exec(listing)?.[1];
    if (fpr === undefined) throw new Error(listing);
    return fpr;
  }

  exportKey(fpr: string): Buffer {
    return this.run(['--armor', '--export', fpr]);
  }

  sign(fpr: string, file: string): Buffer {
    return this.run(['--armor', '--detach-sign', '--local-user', fpr, '--output', '-', file]);
  }

  close(): void {
    spawnSync('gpgconf', ['--kill', 'gpg-agent'], {
      env: { ...process.env, GNUPGHOME: this.home },
      stdio: 'ignore',
    });
  }
}

/** Builds an ACI with bin/actool from a manifest and a few files (plus `extra` of random bytes). */
export function buildAci(dir: string, manifest: object, out: string, extraBytes = 0): Buffer {
  const layout = join(dir, `layout-${Math.random().toString(36).slice(2)}`);
  mkdirSync(join(layout, 'rootfs'), { recursive: true });
  writeFileSync(join(layout, 'manifest'), JSON.stringify(manifest));
  writeFileSync(join(layout, 'rootfs', 'hello'), 'hello\n');
  if (extraBytes > 0) {
    // Incompressible, so the download really is that big.
    execFileSync('sh', ['-c', `head -c ${extraBytes} /dev/urandom > ${join(layout, 'rootfs', 'blob')}`]);
  }
  execFileSync(join(projectRoot, 'bin', 'actool'), ['build', '--overwrite', layout, out], { stdio: 'pipe' });
  return readFileSync(out);
}

export interface Seen {
  url: string;
  headers: Record<string, string | string[] | undefined>;
  status: number;
  bodyBytes: number;
}

export interface Route {
  body: Buffer;
  etag?: string;
  cacheControl?: string;
  /** Bytes per second; the body is sent in 64 KiB steps. */
  rate?: number;
}

export class FetchServer {
  readonly routes = new Map<string, Route>();
  readonly seen: Seen[] = [];
  private server: https.Server | undefined;
  discoveryPage = '';

  constructor(
    readonly ip: string,
    private readonly tls: Tls,
  ) {}

  async start(): Promise<void> {
    this.server = https.createServer({ key: this.tls.key, cert: this.tls.cert }, (req, res) => {
      const url = req.url ?? '/';
      const record: Seen = { url, headers: { ...req.headers }, status: 0, bodyBytes: 0 };
      this.seen.push(record);
      const reply = (status: number, headers: Record<string, string>, body: Buffer): void => {
        record.status = status;
        res.writeHead(status, headers);
        if (status === 304) {
          res.end();
          return;
        }
        record.bodyBytes = body.length;
        res.end(body);
      };
      if (url.includes('ac-discovery=1'))
        return reply(200, { 'content-type': 'text/html' }, Buffer.from(this.discoveryPage));
      const route = this.routes.get(url.split('?')[0] ?? '');
      if (route === undefined) return reply(404, {}, Buffer.from('not found'));
      const headers: Record<string, string> = { 'content-length': String(route.body.length) };
      if (route.etag !== undefined) headers.etag = route.etag;
      if (route.cacheControl !== undefined) headers['cache-control'] = route.cacheControl;
      if (route.etag !== undefined && req.headers['if-none-match'] === route.etag)
        return reply(304, headers, Buffer.alloc(0));
      if (route.rate === undefined) return reply(200, headers, route.body);
      record.status = 200;
      res.writeHead(200, headers);
      this.trickle(res, route.body, route.rate, record);
    });
    await new Promise<void>((resolve, reject) => {
      this.server?.once('error', reject);
      this.server?.listen(443, this.ip, resolve);
    });
  }

  private trickle(res: import('node:http').ServerResponse, body: Buffer, rate: number, record: Seen): void {
    const step = 64 * 1024;
    let at = 0;
    const timer = setInterval(
      () => {
        if (res.destroyed || at >= body.length) {
          clearInterval(timer);
          if (!res.destroyed) res.end();
          return;
        }
        const chunk = body.subarray(at, at + step);
        at += chunk.length;
        record.bodyBytes = at;
        res.write(chunk);
      },
      Math.max(1, Math.floor((step / rate) * 1000)),
    );
    res.on('close', () => clearInterval(timer));
  }

  async close(): Promise<void> {
    const server = this.server;
    if (server === undefined) return;
    server.closeAllConnections();
    await new Promise((resolve) => server.close(resolve));
  }
}

/**
 * Runs bin/rkt as the fetch tests need it: trusting the test CA (SSL_CERT_FILE, with
 * NODE_EXTRA_CA_CERTS cleared; or, with `caVia`, only NODE_EXTRA_CA_CERTS or no CA) and keeping every child, so `killAll` can end them by pid. With
 * `terminal`, rkt runs under a pseudo-terminal (util-linux `script`) and stdout is what it showed.
 */
export class RktRunner {
  private readonly children = new Set<ChildProcess>();

  constructor(
    private readonly cwd: () => string,
    private readonly caFile: () => string,
  ) {}

  spawn(
    args: string[],
    opts: { cwd?: string; terminal?: boolean; caVia?: 'NODE_EXTRA_CA_CERTS' | 'none' } = {},
  ): { child: ChildProcess; done: Promise<RunResult> } {
    const rkt = join(projectRoot, 'bin', 'rkt');
    const quote = (a: string): string => `'${a.replace(/'/g, `'\\''`)}'`;
    const [cmd, argv] = opts.terminal
      ? ['script', ['-qfec', [rkt, ...args].map(quote).join(' '), '/dev/null']]
      : [rkt, args];
    const child = spawn(cmd, argv, {
      cwd: opts.cwd ?? this.cwd(),
      env: {
        ...process.env,
        SSL_CERT_FILE: opts.caVia === undefined ? this.caFile() : '',
        NODE_EXTRA_CA_CERTS: opts.caVia === 'NODE_EXTRA_CA_CERTS' ? this.caFile() : '',
        ...(opts.terminal ? { TERM: 'dumb' } : {}),
      },
      stdio: [opts.terminal ? 'pipe' : 'ignore', 'pipe', 'pipe'],
    });
    this.children.add(child);
    let stdout = '';
    let stderr = '';
    child.stdout?.setEncoding('utf8').on('data', (d: string) => (stdout += d));
    child.stderr?.setEncoding('utf8').on('data', (d: string) => (stderr += d));
    const done = new Promise<RunResult>((resolve, reject) => {
      child.on('error', reject);
      child.on('close', (code, signal) => {
        this.children.delete(child);
        resolve({ code: code ?? (signal ? 128 : 1), stdout, stderr });
      });
    });
    return { child, done };
  }

  run(
    args: string[],
    opts: { cwd?: string; terminal?: boolean; caVia?: 'NODE_EXTRA_CA_CERTS' | 'none' } = {},
  ): Promise<RunResult> {
    return this.spawn(args, opts).done;
  }

  killAll(): void {
    for (const c of this.children) if (c.pid !== undefined) process.kill(c.pid, 'SIGKILL');
  }
}
