import assert from 'node:assert/strict';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { after, before, describe, it } from 'node:test';
import { Duplex, PassThrough } from 'node:stream';
import {
  ResizeDecoder,
  acceptBareStreams,
  exitStatus,
  expectedStreams,
  header,
} from '../../../src/cri/streaming/protocol.js';
import { netnsPortTarget } from '../../../src/cri/streaming/rkt.js';
import { StreamingServer } from '../../../src/cri/streaming/server.js';
import { TokenCache } from '../../../src/cri/streaming/tokens.js';
import type {
  ExecTarget,
  PortForwardTarget,
  StreamOptions,
  StreamProcess,
  TerminalSize,
} from '../../../src/cri/streaming/types.js';
import { UpgradeRefused, forwardOnce, remoteCommand, upgrade } from '../../cri/spdy-client.js';
import type { SpdyConnection } from 'spdy-transport';
import { waitFor } from '../../helpers.js';

/** A fake process: stdout gets stdin upper-cased, stderr `err:` and the line count; exits with `code`. */
function fakeTarget(code: number, sizes: TerminalSize[] = [], seen: StreamOptions[] = []): ExecTarget {
  return {
    describe: '[fake]',
    start(opts: StreamOptions): StreamProcess {
      seen.push(opts);
      const stdin = new PassThrough();
      const stdout = new PassThrough();
      const stderr = opts.tty ? null : new PassThrough();
      let text = '';
      stdin.on('data', (c: Buffer) => (text += c.toString()));
      const exit = new Promise<number>((resolve) =>
        stdin.on('end', () => {
          stdout.end(text.toUpperCase());
          stderr?.end(`err:${text.split('\n').length - 1}`);
          resolve(code);
        }),
      );
      if (!opts.stdin) stdin.end();
      return { stdin, stdout, stderr, exit, resize: (s) => sizes.push(s), kill: () => undefined };
    },
  };
}

describe('streaming: framing pieces', () => {
  it('decodes resize messages split anyhow, skipping junk', () => {
    const got: TerminalSize[] = [];
    const d = new ResizeDecoder((s) => got.push(s));
    d.push('{"Width":80,');
    d.push('"Height":24}\n{"Width":1');
    d.push('20,"Height":40}{"Width":"x","Height":1}garbage{not json}\n{"Width":-1,"Height":3}');
    d.push('{"Width":5,"Height":6}');
    assert.deepEqual(got, [
      { width: 80, height: 24 },
      { width: 120, height: 40 },
      { width: 5, height: 6 },
    ]);
  });

  it('writes metav1.Status as kubelet does: Success, or NonZeroExitCode with the code', () => {
    assert.deepEqual(JSON.parse(exitStatus(0, '[x]')), { metadata: {}, status: 'Success' });
    const s = JSON.parse(exitStatus(7, '[sh -c exit 7]')) as {
      status: string;
      reason: string;
      details: { causes: { reason: string; message: string }[] };
    };
    assert.equal(s.status, 'Failure');
    assert.equal(s.reason, 'NonZeroExitCode');
    assert.deepEqual(s.details.causes, [{ reason: 'ExitCode', message: '7' }]);
  });

  it('expects error always, resize only with a tty, no stderr with a tty', () => {
    assert.deepEqual(expectedStreams({ stdin: true, stdout: true, stderr: true, tty: false }), [
      'error',
      'stdin',
      'stdout',
      'stderr',
    ]);
    assert.deepEqual(expectedStreams({ stdin: false, stdout: true, stderr: false, tty: true }), [
      'error',
      'stdout',
      'resize',
    ]);
  });

  it('reads headers case-insensitively', () => {
    assert.equal(header({ headers: { streamtype: 'data', requestid: '3' } }, 'requestID'), '3');
    assert.equal(header({ headers: {} }, 'port'), undefined);
  });

  it('gives bare SYN_STREAM headers (Go clients) a method and path, and leaves replies alone', () => {
    const parser = {
      parseKVs: (body: unknown, cb: (err: Error | null, h?: Record<string, string>) => void) =>
        cb(null, { ...(body as Record<string, string>) }),
    };
    acceptBareStreams({ _spdyState: { parser } } as unknown as SpdyConnection);
    let h: Record<string, string> | undefined;
    parser.parseKVs({ streamtype: 'error' }, (_e, x) => (h = x));
    assert.deepEqual(h, { streamtype: 'error', ':method': 'POST', ':path': '/' });
    parser.parseKVs({ ':status': '200' }, (_e, x) => (h = x));
    assert.deepEqual(h, { ':status': '200' });
  });

  it('token cache: one use, expiry, bound', () => {
    let now = 1000;
    const c = new TokenCache<string>(60_000, 2, () => now);
    const a = c.put('a');
    assert.match(a, /^[A-Za-z0-9_-]{22}$/);
    assert.equal(c.take(a), 'a');
    assert.equal(c.take(a), undefined);
    const b = c.put('b');
    now += 60_000;
    assert.equal(c.take(b), undefined);
    c.put('x');
    c.put('y');
    assert.throws(() => c.put('z'), /too many/);
    now += 60_000;
    c.put('z');
    assert.equal(c.size, 1);
  });
});

describe('streaming server with fake targets (loopback)', () => {
  let now = 0;
  const server = new StreamingServer({ now: () => now, streamCreationTimeoutMs: 5000 });
  before(async () => {
    await server.listen('127.0.0.1', 0);
  });
  after(async () => {
    await server.close();
  });

  it('exec without a tty: stdin, stdout, stderr, the exit code on the error stream', async () => {
    const seen: StreamOptions[] = [];
    const url = server.exec(fakeTarget(3, [], seen), { stdin: true, stdout: true, stderr: true, tty: false });
    assert.match(url, /^http:\/\/127\.0\.0\.1:\d+\/exec\/[A-Za-z0-9_-]+$/);
    const r = await remoteCommand(url, { stdin: 'one\ntwo\n', stderr: true });
    assert.equal(r.stdout, 'ONE\nTWO\n');
    assert.equal(r.stderr, 'err:2');
    assert.equal(r.exitCode, 3);
    assert.equal(r.status.reason, 'NonZeroExitCode');
    assert.deepEqual(seen, [{ stdin: true, stdout: true, stderr: true, tty: false }]);
  });

  it('exec with a tty: resize messages reach the process, Success on exit 0', async () => {
    const sizes: TerminalSize[] = [];
    const url = server.exec(fakeTarget(0, sizes), { stdin: true, stdout: true, stderr: false, tty: true });
    const r = await remoteCommand(url, {
      stdin: 'hi',
      tty: true,
      resize: [
        { Width: 80, Height: 24 },
        { Width: 132, Height: 43 },
      ],
    });
    assert.equal(r.stdout, 'HI');
    assert.equal(r.exitCode, 0);
    assert.equal(r.status.status, 'Success');
    assert.deepEqual(sizes, [
      { width: 80, height: 24 },
      { width: 132, height: 43 },
    ]);
  });

  it('attach speaks the same protocol (fake attach target)', async () => {
    const url = server.attach(fakeTarget(0), { stdin: true, stdout: true, stderr: false, tty: false });
    assert.match(url, /\/attach\//);
    const r = await remoteCommand(url, { stdin: 'attached' });
    assert.equal(r.stdout, 'ATTACHED');
    assert.equal(r.exitCode, 0);
    // The server keeps its side of stdin open until the process ends: kubelet's client ends its
    // stdin when the server does (for a stdin_once container, the end of the container's stdin).
    assert.equal(r.stdinEndedEarly, false);
  });

  it('refuses a used token, an expired one, a wrong kind and an unknown protocol', async () => {
    const opts = { stdin: false, stdout: true, stderr: false, tty: false };
    const used = server.exec(fakeTarget(0), opts);
    await remoteCommand(used, {});
    await assert.rejects(
      remoteCommand(used, {}),
      (e: unknown) => e instanceof UpgradeRefused && e.status === 404,
    );
    const old = server.exec(fakeTarget(0), opts);
    now += 60_000;
    await assert.rejects(
      remoteCommand(old, {}),
      (e: unknown) => e instanceof UpgradeRefused && e.status === 404,
    );
    const wrongKind = server.exec(fakeTarget(0), opts).replace('/exec/', '/attach/');
    await assert.rejects(
      remoteCommand(wrongKind, {}),
      (e: unknown) => e instanceof UpgradeRefused && e.status === 404,
    );
    const v1 = server.exec(fakeTarget(0), opts);
    await assert.rejects(
      upgrade(v1, ['channel.k8s.io']),
      (e: unknown) => e instanceof UpgradeRefused && e.status === 403 && /v4\.channel\.k8s\.io/.test(e.body),
    );
  });

  it('answers a plain (not upgrading) request with 400 on a stream URL, 404 elsewhere', async () => {
    const url = server.exec(fakeTarget(0), { stdin: false, stdout: true, stderr: false, tty: false });
    const plain = await fetch(url);
    assert.equal(plain.status, 400);
    assert.match(await plain.text(), /upgrade/);
    const other = await fetch(new URL('/nothing', url));
    assert.equal(other.status, 404);
    await other.text();
  });

  it('refuses requests it cannot serve', () => {
    assert.throws(() =>
      server.exec(fakeTarget(0), { stdin: false, stdout: false, stderr: false, tty: false }),
    );
    assert.throws(() => server.exec(fakeTarget(0), { stdin: false, stdout: true, stderr: true, tty: true }));
  });

  it('port forwarding for a pod on the host network connects on this host', async () => {
    const http = createServer((_req, res) => res.end('from the host\n'));
    await new Promise<void>((resolve) => http.listen(0, '127.0.0.1', resolve));
    const port = (http.address() as AddressInfo).port;
    const { conn, socket } = await upgrade(server.portForward(netnsPortTarget(undefined, 'host pod')), [
      'portforward.k8s.io',
    ]);
    try {
      const r = await forwardOnce(conn, port, '7', 'GET / HTTP/1.0\r\n\r\n');
      assert.match(r.data, /^HTTP\/1\.[01] 200[^]*from the host\n$/);
      assert.equal(r.error, '');
    } finally {
      socket.destroy();
      await new Promise((resolve) => http.close(resolve));
    }
  });

  it('port forwarding: data and error streams paired by requestID, one dial per pair', async () => {
    const dials: number[] = [];
    const target: PortForwardTarget = {
      describe: 'fake pod',
      dial(port: number): Duplex {
        dials.push(port);
        if (port === 81) throw new Error('connection refused');
        let text = '';
        const d: Duplex = new Duplex({
          read() {},
          write(c: Buffer, _e, cb) {
            text += c.toString();
            cb();
          },
          final(cb) {
            d.push(`port ${port}: ${text.toUpperCase()}`);
            d.push(null);
            cb();
          },
        });
        return d;
      },
    };
    const { conn, socket } = await upgrade(server.portForward(target), ['portforward.k8s.io']);
    try {
      const [a, b, c] = await Promise.all([
        forwardOnce(conn, 80, '0', 'get /'),
        forwardOnce(conn, 8080, '1', 'other'),
        forwardOnce(conn, 81, '2', 'nothing'),
      ]);
      assert.deepEqual(a, { data: 'port 80: GET /', error: '' });
      assert.deepEqual(b, { data: 'port 8080: OTHER', error: '' });
      assert.equal(c.data, '');
      assert.match(c.error, /^error forwarding port 81 to fake pod: connection refused$/);
      assert.deepEqual(dials.sort(), [80, 8080, 81].sort());
    } finally {
      socket.destroy();
    }
  });
});

describe('port forwarding: connections at once per session', () => {
  const server = new StreamingServer({ maxPortForwards: 1 });
  before(async () => {
    await server.listen('127.0.0.1', 0);
  });
  after(async () => {
    await server.close();
  });

  it('refuses a connection past the bound on its error stream, and takes one again when one ends', async () => {
    const held: Duplex[] = [];
    const target: PortForwardTarget = {
      describe: 'fake pod',
      dial(): Duplex {
        const d: Duplex = new Duplex({
          read() {},
          write(_c: Buffer, _e, cb) {
            cb();
          },
        });
        held.push(d);
        return d;
      },
    };
    const { conn, socket } = await upgrade(server.portForward(target), ['portforward.k8s.io']);
    try {
      const first = forwardOnce(conn, 80, '0', 'a');
      await waitFor('the first connection', () => held.length === 1);
      const second = await forwardOnce(conn, 80, '1', 'b');
      assert.deepEqual(second, {
        data: '',
        error: 'error forwarding port 80 to fake pod: too many forwarded connections (1)',
      });
      held[0]?.push('done');
      held[0]?.push(null);
      assert.deepEqual(await first, { data: 'done', error: '' });
      const third = forwardOnce(conn, 80, '2', 'c');
      await waitFor('the third connection', () => held.length === 2);
      held[1]?.push(null);
      assert.deepEqual(await third, { data: '', error: '' });
    } finally {
      socket.destroy();
    }
  });
});
