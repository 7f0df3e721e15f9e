/**
 * The CRI streaming server against real pods, as root: `rkt run` pods in a network namespace the
 * test made (NetWorld: a ptp network there), a streaming server in this process handing out URLs
 * for them, and a kubelet-style SPDY/3.1 client (test/cri/spdy-client.ts): exec with and without a
 * tty through the pod engine's enter (crun exec), port forwarding into the pod's network namespace
 * to busybox httpd, one-time and expiring tokens. Attach needs the app's stdio from the pod
 * supervisor: its protocol side is tested in test/unit/cri/streaming.test.ts with a fake target.
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { podExecTarget, podPortTarget } from '../../../src/cri/streaming/rkt.js';
import { StreamingServer } from '../../../src/cri/streaming/server.js';
import { getPod, type PodInfo } from '../../../src/pod/index.js';
import { which } from '../../../src/stage1/oci/runtime.js';
import { UpgradeRefused, forwardOnce, remoteCommand, upgrade } from '../../cri/spdy-client.js';
import { NetWorld, buildAci, httpd, skip as netSkip } from '../net/fixture.js';

const skip = netSkip !== false ? netSkip : which('socat') === undefined ? 'needs socat' : false;
if (skip !== false) console.log(`# skipping CRI streaming tests: ${skip}`);

const refused = (status: number) => (e: unknown) => e instanceof UpgradeRefused && e.status === status;

describe('CRI streaming server with rkt pods', { skip }, () => {
  let w: NetWorld;
  let pod: PodInfo;
  let now = Date.now();
  const server = new StreamingServer({ now: () => now });

  before(async () => {
    w = NetWorld.create('rocket-cri-stream-');
    w.conf('10-rkttstream.conf', {
      cniVersion: '1.0.0',
      name: 'rkttstream',
      type: 'ptp',
      ipam: { type: 'host-local', subnet: '10.254.42.0/24' },
    });
    const web = buildAci(w.work, 'web', httpd(80));
    const { uuid } = await w.startPod('--net=rkttstream', web);
    pod = getPod(w.data, uuid);
    // The pod's pid file comes before its app's container: wait until `rkt enter` gets in.
    const end = Date.now() + 30_000;
    for (;;) {
      const r = await w.rkt('enter', uuid, '/bin/true');
      if (r.code === 0) break;
      if (Date.now() > end) throw new Error(`rkt enter never got into the pod: ${r.stderr}`);
      await sleep(100);
    }
    await server.listen('127.0.0.1', 0);
  });
  after(async () => {
    await server.close();
    await w?.close();
  });

  it('exec without a tty: stdin piped in, stdout and stderr apart, the exit code on the error stream', async () => {
    const url = server.exec(podExecTarget(pod, ['/bin/sh', '-c', 'cat; echo to-stderr >&2; exit 3']), {
      stdin: true,
      stdout: true,
      stderr: true,
      tty: false,
    });
    const r = await remoteCommand(url, { stdin: 'piped in\nline two\n', stderr: true });
    assert.equal(r.stdout, 'piped in\nline two\n');
    assert.equal(r.stderr, 'to-stderr\n');
    assert.equal(r.exitCode, 3, JSON.stringify(r.status));
    assert.equal(r.status.reason, 'NonZeroExitCode');

    const ok = server.exec(podExecTarget(pod, ['/bin/hostname']), {
      stdin: false,
      stdout: true,
      stderr: true,
      tty: false,
    });
    const h = await remoteCommand(ok, { stderr: true });
    assert.equal(h.exitCode, 0, h.stderr);
    assert.equal(h.status.status, 'Success');
    assert.notEqual(h.stdout.trim(), '');
  });

  it('exec with a tty: the command has a terminal, resize is accepted, the exit code comes back', async () => {
    const url = server.exec(
      podExecTarget(pod, ['/bin/sh', '-c', 'if [ -t 0 ] && [ -t 1 ]; then echo on-a-tty; fi; exit 5']),
      { stdin: true, stdout: true, stderr: false, tty: true },
    );
    const r = await remoteCommand(url, { stdin: '', tty: true, resize: [{ Width: 100, Height: 30 }] });
    assert.match(r.stdout, /on-a-tty\r?\n/);
    assert.equal(r.exitCode, 5, JSON.stringify(r.status));
  });

  it('port forwarding reaches httpd inside the pod network namespace; a closed port reports an error', async () => {
    const url = server.portForward(podPortTarget(pod));
    const { conn, socket } = await upgrade(url, ['portforward.k8s.io']);
    try {
      const [a, b] = await Promise.all([
        forwardOnce(conn, 80, '0', 'GET /index.html HTTP/1.0\r\n\r\n'),
        forwardOnce(conn, 80, '1', 'GET /index.html HTTP/1.0\r\n\r\n'),
      ]);
      for (const x of [a, b]) {
        assert.match(x.data, /^HTTP\/1\.[01] 200/);
        assert.match(x.data, /hello from web/);
        assert.equal(x.error, '');
      }
      const c = await forwardOnce(conn, 81, '2', 'GET / HTTP/1.0\r\n\r\n');
      assert.match(
        c.error,
        new RegExp(`^error forwarding port 81 to pod ${pod.uuid}: .*[Cc]onnection refused`),
      );
    } finally {
      socket.destroy();
    }
  });

  it('a token serves once, and not after it expired', async () => {
    const opts = { stdin: false, stdout: true, stderr: false, tty: false };
    const url = server.exec(podExecTarget(pod, ['/bin/true']), opts);
    assert.equal((await remoteCommand(url, {})).exitCode, 0);
    await assert.rejects(remoteCommand(url, {}), refused(404));
    const pf = server.portForward(podPortTarget(pod));
    const old = server.exec(podExecTarget(pod, ['/bin/true']), opts);
    now += 60_000;
    await assert.rejects(remoteCommand(old, {}), refused(404));
    await assert.rejects(upgrade(pf, ['portforward.k8s.io']), refused(404));
  });
});
