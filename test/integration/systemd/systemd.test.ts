/**
 * `rkt run` under systemd's protocols, as root through bin/rkt, without systemd itself:
 * - NOTIFY_SOCKET: a datagram socket in a temp dir (python3 binds it: Node cannot bind AF_UNIX
 *   datagram sockets) receives READY=1 and MAINPID from the pod's supervisor once the app has
 *   started, with the credentials of the `rkt run` pid (what NotifyAccess=main checks), then
 *   STOPPING=1 on SIGTERM;
 * - an app annotated `appc.io/executor/supports-systemd-notify` makes the pod ready only when it
 *   sends READY=1 itself (busybox `logger` writes a syslog datagram to the socket: its second line is
 *   READY=1);
 * - socket activation: systemd-socket-activate passes a listening socket (LISTEN_FDS=1, LISTEN_PID
 *   of rkt run) that reaches the socket-activated app as its fd 3 with LISTEN_PID=1, and not the
 *   other app.
 */
import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync, mkdirSync, readFileSync, readdirSync, readlinkSync, writeFileSync } from 'node:fs';
import { createServer, connect } from 'node:net';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { which } from '../../../src/stage1/oci/runtime.js';
import { PodFixture, podSkip, rktBin, waitFor, type Running } from './fixture.js';
import { forEachOciRuntime, skipUnlessCI } from '../../helpers.js';

const python = ['/usr/bin/python3', '/bin/python3'].find((p) => existsSync(p));
const notifySkip =
  podSkip !== false
    ? podSkip
    : python === undefined
      ? 'needs python3'
      : which('systemd-notify') === undefined
        ? 'needs systemd-notify (package systemd)'
        : which('perl') === undefined
          ? 'needs perl'
          : false;
const activateSkip =
  podSkip !== false
    ? podSkip
    : which('systemd-socket-activate') === undefined
      ? 'needs systemd-socket-activate (package systemd)'
      : false;

/** Prints one JSON line per datagram: its text and the sender's pid from SCM_CREDENTIALS. */
const RECEIVER = `
import json, socket, struct, sys
s = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
s.bind(sys.argv[1])
s.setsockopt(socket.SOL_SOCKET, socket.SO_PASSCRED, 1)
print(json.dumps({"bound": True}), flush=True)
while True:
    msg, anc, _, _ = s.recvmsg(4096, socket.CMSG_SPACE(12))
    pid = None
    for level, kind, data in anc:
        if level == socket.SOL_SOCKET and kind == socket.SCM_CREDENTIALS:
            pid = struct.unpack("iII", data[:12])[0]
    print(json.dumps({"msg": msg.decode(), "pid": pid}), flush=True)
`;

/** An app's idle end: pid 1 ignores SIGTERM unless it handles it. */
const IDLE = "trap 'exit 0' TERM; sleep 30 & wait";

interface Datagram {
  msg: string;
  pid: number | null;
}

class Receiver {
  readonly got: Datagram[] = [];
  private readonly child: ChildProcess;
  readonly bound: Promise<void>;
  constructor(readonly path: string) {
    this.child = spawn(python as string, ['-c', RECEIVER, path], { stdio: ['ignore', 'pipe', 'inherit'] });
    let buf = '';
    let onBound: () => void = () => {};
    this.bound = new Promise((r) => (onBound = r));
    this.child.stdout?.setEncoding('utf8').on('data', (d: string) => {
      buf += d;
      let nl;
      while ((nl = buf.indexOf('\n')) >= 0) {
        const o = JSON.parse(buf.slice(0, nl)) as { bound?: boolean; msg: string; pid: number | null };
        buf = buf.slice(nl + 1);
        if (o.bound === true) onBound();
        else this.got.push({ msg: o.msg, pid: o.pid });
      }
    });
  }
  find(line: string): Datagram | undefined {
    return this.got.find((d) => d.msg.split('\n').includes(line));
  }
  close(): void {
    this.child.kill('SIGKILL');
  }
}

describe('rkt run with systemd', () => {
  forEachOciRuntime(() => {
    let f: PodFixture;
    const receivers: Receiver[] = [];
    before(() => {
      f = new PodFixture('rocket-systemd-');
    });
    after(() => {
      for (const r of receivers) r.close();
      f.cleanup();
    });

    async function receiver(name: string): Promise<Receiver> {
      const r = new Receiver(join(f.work, name));
      receivers.push(r);
      await r.bound;
      return r;
    }

    it(
      'sends READY=1 on NOTIFY_SOCKET as rkt run once the app started, then STOPPING=1',
      { skip: skipUnlessCI(notifySkip) },
      async () => {
        const bb = f.buildAci('sleeper', { exec: ['/bin/sh', '-c', `${IDLE}`] });
        const rx = await receiver('notify.sock');
        const run = f.runArgs(bb);
        const pod = f.start(run.args, { NOTIFY_SOCKET: rx.path });
        await waitFor('READY=1', () => rx.find('READY=1') !== undefined, 20_000);
        const ready = rx.find('READY=1') as Datagram;
        const uuid = run.uuid() as string;
        const dir = f.podDir(uuid);
        assert.equal(ready.pid, pod.child.pid, 'sent with the credentials of the rkt run process');
        assert.ok(ready.msg.split('\n').includes(`MAINPID=${pod.child.pid}`), ready.msg);
        assert.ok(existsSync(join(dir, 'stage1/rootfs/rkt/status/sleeper-started')), 'the app had started');
        assert.equal(readlinkSync(join(dir, 'stage1/rootfs/rkt/supervisor-status')), 'ready');
        assert.equal(rx.got.filter((d) => d.msg.includes('READY=1')).length, 1, 'sent once');
        pod.child.kill('SIGTERM');
        const r = await pod.done;
        assert.equal(r.code, 0, r.stderr);
        assert.ok(rx.find('STOPPING=1') !== undefined, JSON.stringify(rx.got));
      },
    );

    it(
      'waits for apps that support sd_notify to send READY=1 themselves',
      { skip: skipUnlessCI(notifySkip) },
      async () => {
        const send = 'ln -s "$NOTIFY_SOCKET" /dev/log && logger "$(printf \'not yet\\nREADY=1\')"';
        // The notifier says it waits, then sends READY=1 only once the test lets it (a file in a host
        // volume): READY=1 from rkt must follow the app's, never the apps' start.
        const flag = join(f.work, 'notify-flag');
        mkdirSync(flag);
        const notifier = f.buildAci(
          'notifier',
          {
            exec: [
              '/bin/sh',
              '-c',
              `test -S "$NOTIFY_SOCKET" || exit 7; : >/flag/waiting; while [ ! -e /flag/go ]; do sleep 0.05; done; ${send}; ${IDLE}`,
            ],
            mountPoints: [{ name: 'flag', path: '/flag' }],
          },
          [{ name: 'appc.io/executor/supports-systemd-notify', value: 'true' }],
        );
        const plain = f.buildAci('plain', {
          exec: ['/bin/sh', '-c', `test -z "$NOTIFY_SOCKET" || exit 8; ${IDLE}`],
        });
        const rx = await receiver('notify2.sock');
        const run = f.runArgs(`--volume=flag,kind=host,source=${flag}`, notifier, '---', plain);
        const pod = f.start(run.args, { NOTIFY_SOCKET: rx.path });
        await waitFor('both apps to start and the notifier to wait', () => {
          const u = run.uuid();
          const s = u === undefined ? '' : join(f.podDir(u), 'stage1/rootfs/rkt/status');
          return (
            u !== undefined &&
            existsSync(join(s, 'notifier-started')) &&
            existsSync(join(s, 'plain-started')) &&
            existsSync(join(flag, 'waiting'))
          );
        });
        const dir = f.podDir(run.uuid() as string);
        assert.equal(rx.find('READY=1'), undefined, 'not ready before the app says so');
        assert.ok(!existsSync(join(dir, 'stage1/rootfs/rkt/supervisor-status')));
        const before = rx.got.length;
        writeFileSync(join(flag, 'go'), '');
        await waitFor('READY=1', () => rx.find('READY=1') !== undefined, 10_000);
        assert.ok(
          rx.got.findIndex((d) => d.msg.split('\n').includes('READY=1')) >= before,
          'READY=1 came after the app was let go',
        );
        assert.equal((rx.find('READY=1') as Datagram).pid, pod.child.pid);
        assert.ok(existsSync(join(dir, 'stage1/rootfs/rkt/status/notifier-ready')));
        pod.child.kill('SIGTERM');
        const r = await pod.done;
        assert.equal(r.code, 0, r.stderr);
      },
    );

    it(
      'passes socket-activated fds to the app with socket-activated ports',
      { skip: skipUnlessCI(activateSkip) },
      async () => {
        const show = `echo "env=$LISTEN_FDS/$LISTEN_PID/$LISTEN_FDNAMES pid=$$ fd3=$(readlink /proc/self/fd/3)"; ${IDLE}`;
        const web = f.buildAci('web', {
          exec: ['/bin/sh', '-c', show],
          ports: [{ name: 'http', protocol: 'tcp', port: 80, socketActivated: true }],
        });
        const other = f.buildAci('other', {
          exec: [
            '/bin/sh',
            '-c',
            `echo "other=\${LISTEN_FDS:-none} $(readlink /proc/self/fd/3 || echo no-fd3)"; ${IDLE}`,
          ],
        });
        // Another process may take the free port before the activator binds it: like the test
        // registries, try again on a new port when the activator exits instead of listening.
        const run = f.runArgs(web, '---', other);
        let pod: Running | undefined;
        let port = 0;
        let inode: string | undefined;
        for (let attempt = 1; pod === undefined; attempt++) {
          port = await freePort();
          const p = f.start(
            ['-l', `127.0.0.1:${port}`, '--fdname=web', rktBin, ...run.args],
            {},
            'systemd-socket-activate',
          );
          // systemd-socket-activate starts rkt at the first connection.
          await waitFor(
            'the listener',
            () => p.child.exitCode !== null || (inode = listenerOf(p.child.pid, port)) !== undefined,
            10_000,
          );
          if (inode !== undefined) pod = p;
          else if (attempt === 5) assert.fail(`systemd-socket-activate never listened: ${p.stderr()}`);
        }
        const started: Running = pod;
        const c = connect(port, '127.0.0.1');
        c.on('error', () => {});
        await waitFor(
          'the apps output',
          () => /env=.*\n[^]*other=|other=.*\n[^]*env=/.test(started.stdout()),
          20_000,
        );
        assert.match(started.stdout(), new RegExp(`env=1/1/web pid=1 fd3=socket:\\[${inode}\\]\n`));
        assert.match(started.stdout(), /other=none no-fd3\n/);
        c.destroy();
        started.child.kill('SIGTERM');
        const r = await started.done;
        assert.equal(r.code, 0, r.stderr);
      },
    );
  });
});

function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const s = createServer();
    s.on('error', reject);
    s.listen(0, '127.0.0.1', () => {
      const a = s.address();
      s.close(() => resolve(typeof a === 'object' && a !== null ? a.port : 0));
    });
  });
}

/** The inode of the TCP socket listening on 127.0.0.1:port (from /proc/net/tcp) if `pid` holds it. */
function listenerOf(pid: number | undefined, port: number): string | undefined {
  const want = `0100007F:${port.toString(16).toUpperCase().padStart(4, '0')}`;
  for (const line of readFileSync('/proc/net/tcp', 'utf8').split('\n').slice(1)) {
    const f = line.trim().split(/\s+/);
    if (f[1] !== want || f[3] !== '0A') continue;
    const link = `socket:[${f[9]}]`;
    try {
      if (readdirSync(`/proc/${pid}/fd`).some((fd) => readlinkSync(`/proc/${pid}/fd/${fd}`) === link))
        return f[9];
    } catch {
      // the process has gone
    }
  }
  return undefined;
}
