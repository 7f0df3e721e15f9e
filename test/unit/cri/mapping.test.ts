/**
 * The CRI RuntimeService's pure mapping (src/cri/mapping.ts): ids, container names, the command
 * Kubernetes resolves from command/args and the image, list filters, capability sets; and the
 * pod logger's CRI mode (`CRILOG`): both streams' records in the CRI format in one file, reopened
 * for each record so that a file the kubelet rotated is replaced; its chunk mode (`LOGCHUNKS`):
 * partial records; sandbox port mappings.
 */
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { existsSync, mkdirSync, readFileSync, renameSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { DEFAULT_CAPABILITIES } from '../../../src/appc/values.js';
import {
  ALL_CAPABILITIES,
  appNameOf,
  clampOomScoreAdj,
  capabilityIsolatorSet,
  capabilitySet,
  containerIdOf,
  cpuMillis,
  exitReason,
  imageCommand,
  matchesId,
  matchesLabels,
  nanos,
  parseContainerId,
  resolveCommand,
  sandboxExposedPorts,
  sandboxIdOf,
  uuidOfSandboxId,
} from '../../../src/cri/mapping.js';
import { logRecordLine } from '../../../src/cri/attach.js';
import { LOGGER_PROGRAM, bootEpochCentis, prepareLogCapture } from '../../../src/logs/capture.js';
import { which } from '../../../src/stage1/oci/runtime.js';
import { skipUnlessCI, tempDir, waitFor } from '../../helpers.js';

describe('cri mapping', () => {
  it('sandbox ids are pod UUIDs without dashes; container ids add the app name', () => {
    const uuid = '0f1e2d3c-4b5a-6978-8695-a4b3c2d1e0f9';
    const id = sandboxIdOf(uuid);
    assert.equal(id, '0f1e2d3c4b5a69788695a4b3c2d1e0f9');
    assert.equal(uuidOfSandboxId(id), uuid);
    for (const bad of ['', 'nope', uuid, id.toUpperCase(), `${id}0`])
      assert.equal(uuidOfSandboxId(bad), undefined);
    const cid = containerIdOf(id, 'web-server-2');
    assert.deepEqual(parseContainerId(cid), { sandboxId: id, app: 'web-server-2' });
    for (const bad of ['', id, `${id}-`, `${id}-Bad`, `x${id}-a`, `${id}--a`])
      assert.equal(parseContainerId(bad), undefined, bad);
  });

  it('container names with their attempt are app names; other names are made short app names', () => {
    assert.equal(appNameOf({ name: 'busybox', attempt: 0 }), 'busybox-0');
    assert.equal(appNameOf({ name: 'my-app', attempt: 3 }), 'my-app-3');
    assert.equal(appNameOf({ name: 'x' }), 'x-0');
    const upper = appNameOf({ name: 'OOM-test', attempt: 1 });
    assert.match(upper ?? '', /^oom-test-[0-9a-f]{6}-1$/);
    assert.notEqual(appNameOf({ name: 'oom-Test', attempt: 1 }), upper);
    const long = 'container-for-execSync-test-9c3e018d-2f95-4ddd-a3c0-c85a35a7813b';
    const a = appNameOf({ name: long, attempt: 0 }) ?? '';
    assert.match(a, /^containe-[0-9a-f]{6}-0$/);
    assert.notEqual(appNameOf({ name: `${long}x`, attempt: 0 }), a);
    assert.match(appNameOf({ name: 'under_score' }) ?? '', /^under-sc-[0-9a-f]{6}-0$/);
    assert.equal(appNameOf({ name: 'sixteen-chars-ok', attempt: 2 }), 'sixteen-chars-ok-2');
    for (const n of [
      appNameOf({ name: 'a'.repeat(17) }),
      appNameOf({ name: '-lead' }),
      appNameOf({ name: 'a.b' }),
    ])
      assert.match(n ?? '', /^[a-z0-9]+(-[a-z0-9]+)*$/);
    for (const name of ['', '---', '_.']) assert.equal(appNameOf({ name, attempt: 0 }), undefined, name);
    assert.equal(appNameOf(null), undefined);
  });

  it("resolves the command as Kubernetes does over a converted image's entrypoint and cmd", () => {
    const image = { entrypoint: ['/ep', 'x'], cmd: ['c1', 'c2'], exec: ['/ep', 'x', 'c1', 'c2'] };
    assert.deepEqual(resolveCommand([], [], image), ['/ep', 'x', 'c1', 'c2']);
    assert.deepEqual(resolveCommand(['/cmd'], [], image), ['/cmd']);
    assert.deepEqual(resolveCommand([], ['a1'], image), ['/ep', 'x', 'a1']);
    assert.deepEqual(resolveCommand(['/cmd'], ['a1', 'a2'], image), ['/cmd', 'a1', 'a2']);
    // Only a cmd (no entrypoint): args replace it.
    assert.deepEqual(resolveCommand([], ['a1'], { cmd: ['/bin/sh'] }), ['a1']);
    // An ACI without docker annotations: its exec is the entrypoint.
    assert.deepEqual(resolveCommand([], ['a1'], { exec: ['/bin/app', '-v'] }), ['/bin/app', '-v', 'a1']);
    assert.deepEqual(resolveCommand([], [], {}), []);
  });

  it("reads the image's entrypoint and cmd from docker2aci's annotations", () => {
    assert.deepEqual(
      imageCommand(
        [
          { name: 'appc.io/docker/entrypoint', value: '["/bin/sh","-c"]' },
          { name: 'appc.io/docker/cmd', value: '["echo hi"]' },
          { name: 'other', value: 'x' },
        ],
        ['/bin/sh', '-c', 'echo hi'],
      ),
      { entrypoint: ['/bin/sh', '-c'], cmd: ['echo hi'], exec: ['/bin/sh', '-c', 'echo hi'] },
    );
    assert.deepEqual(imageCommand([{ name: 'appc.io/docker/cmd', value: 'not json' }], undefined), {});
    assert.deepEqual(imageCommand(undefined, ['/x']), { exec: ['/x'] });
  });

  it('filters: ids by prefix, labels by every selected key and value', () => {
    assert.ok(matchesId('abcdef', ''));
    assert.ok(matchesId('abcdef', undefined));
    assert.ok(matchesId('abcdef', 'abc'));
    assert.ok(!matchesId('abcdef', 'abd'));
    const labels = { app: 'web', tier: 'front' };
    assert.ok(matchesLabels(labels, {}));
    assert.ok(matchesLabels(labels, null));
    assert.ok(matchesLabels(labels, { app: 'web' }));
    assert.ok(matchesLabels(labels, { app: 'web', tier: 'front' }));
    assert.ok(!matchesLabels(labels, { app: 'web', tier: 'back' }));
    assert.ok(!matchesLabels(labels, { missing: '' }));
  });

  it('capability sets: defaults plus add minus drop, ALL on either side; as the isolator that gives them', () => {
    assert.deepEqual(capabilitySet([], [], ALL_CAPABILITIES), [...DEFAULT_CAPABILITIES]);
    const added = capabilitySet(['NET_ADMIN', 'CAP_SYS_TIME'], ['KILL'], ALL_CAPABILITIES);
    assert.ok(added.includes('CAP_NET_ADMIN') && added.includes('CAP_SYS_TIME'));
    assert.ok(!added.includes('CAP_KILL'));
    assert.deepEqual(capabilitySet(['chown'], ['ALL'], ALL_CAPABILITIES), ['CAP_CHOWN']);
    assert.deepEqual(capabilitySet([], ['ALL'], ALL_CAPABILITIES), []);
    assert.deepEqual(
      capabilitySet(['ALL'], ['SYS_ADMIN'], ALL_CAPABILITIES).length,
      ALL_CAPABILITIES.length - 1,
    );
    assert.equal(capabilityIsolatorSet([...DEFAULT_CAPABILITIES]), undefined);
    assert.deepEqual(capabilityIsolatorSet(DEFAULT_CAPABILITIES.filter((c) => c !== 'CAP_KILL')), {
      remove: ['CAP_KILL'],
    });
    assert.deepEqual(capabilityIsolatorSet([]), { remove: [...DEFAULT_CAPABILITIES] });
    assert.deepEqual(capabilityIsolatorSet(['CAP_CHOWN', 'CAP_NET_ADMIN']), {
      retain: ['CAP_CHOWN', 'CAP_NET_ADMIN'],
    });
  });

  it("attach reads the CRI log's records back into stream and line", () => {
    assert.deepEqual(logRecordLine('2026-01-02T03:04:05.12Z stdout F hello world'), {
      stream: 'stdout',
      text: 'hello world\n',
    });
    assert.deepEqual(logRecordLine('2026-01-02T03:04:05Z stderr P part'), { stream: 'stderr', text: 'part' });
    assert.deepEqual(logRecordLine('2026-01-02T03:04:05Z stdout F '), { stream: 'stdout', text: '\n' });
    assert.equal(logRecordLine('garbage'), undefined);
    assert.equal(logRecordLine('2026-01-02T03:04:05Z stdin F x'), undefined);
  });

  it("times, exit reasons, CPU limits, oom_score_adj clamped to the service's own", () => {
    assert.equal(nanos(undefined), '0');
    assert.equal(nanos(1_700_000_000_123), '1700000000123000000');
    assert.equal(nanos(1.5), '1500000');
    assert.equal(exitReason(0, false), 'Completed');
    assert.equal(exitReason(1, false), 'Error');
    assert.equal(exitReason(137, true), 'OOMKilled');
    assert.equal(cpuMillis(0, 100_000), undefined);
    assert.equal(cpuMillis(-1, 100_000), undefined);
    assert.equal(cpuMillis(50_000, 100_000), 500);
    assert.equal(cpuMillis(150_000, 0), 1500);
    assert.equal(cpuMillis(1, 100_000), 1);
    assert.equal(clampOomScoreAdj(-997, 0), 0);
    assert.equal(clampOomScoreAdj(-997, -1000), -997);
    assert.equal(clampOomScoreAdj(500, 0), 500);
    assert.equal(clampOomScoreAdj(2000, -1000), 1000);
  });
});

describe('the pod logger in CRI mode', { skip: skipUnlessCI(which('mawk') ? false : 'needs mawk') }, () => {
  let dir: string;
  let cleanup: () => Promise<void>;
  before(async () => {
    ({ path: dir, cleanup } = await tempDir('rocket-cri-log-'));
  });
  after(async () => cleanup());

  it('writes both streams to CRILOG as `TIME STREAM F LINE`, and a rotated file is replaced at the next line', async () => {
    prepareLogCapture(dir, ['a']);
    const cri = join(dir, 'pods', 'c', '0.log');
    mkdirSync(join(dir, 'pods', 'c'), { recursive: true });
    const logger = (stream: 'stdout' | 'stderr') => {
      const child = spawn('mawk', ['-W', 'interactive', '-f', join(dir, LOGGER_PROGRAM)], {
        stdio: ['pipe', 'ignore', 'ignore'],
        env: {
          ...process.env,
          LOGF: join(dir, `${stream}.log`),
          LOGSTREAM: stream,
          LOGMAX: String(1024 * 1024),
          LOGEPOCH: String(bootEpochCentis()),
          CRILOG: cri,
        },
      });
      const ended = new Promise<number | null>((resolve) => child.on('close', resolve));
      return { child, ended };
    };
    const records = (file: string): string[] =>
      existsSync(file)
        ? readFileSync(file, 'utf8')
            .split('\n')
            .filter((l) => l !== '')
        : [];
    const out = logger('stdout');
    const err = logger('stderr');
    out.child.stdin?.write('first out\n');
    await waitFor('the first record', () => records(cri).length === 1);
    err.child.stdin?.write('first err\n');
    await waitFor('the second record', () => records(cri).length === 2);
    // The kubelet rotates: renames the file, then asks for a reopen; the next line makes a new file.
    renameSync(cri, `${cri}.1`);
    out.child.stdin?.write('second out\n');
    await waitFor('the new file', () => records(cri).length === 1);
    out.child.stdin?.end();
    err.child.stdin?.end();
    assert.equal(await out.ended, 0);
    assert.equal(await err.ended, 0);
    const line = /^(\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(?:\.\d+)?Z) (stdout|stderr) F (.*)$/;
    const parsed = (file: string): string[] =>
      records(file).map((l) => {
        const m = line.exec(l);
        assert.ok(m !== null, l);
        assert.ok(!Number.isNaN(Date.parse(m[1] as string)), l);
        return `${m[2]} ${m[3]}`;
      });
    assert.deepEqual(parsed(`${cri}.1`), ['stdout first out', 'stderr first err']);
    assert.deepEqual(parsed(cri), ['stdout second out']);
    // The pod's own log (rkt logs) keeps every line too.
    assert.equal(records(join(dir, 'stdout.log')).length, 2);
  });

  it('with LOGCHUNKS, input lines tagged F or P (the chunker of an app with a stdin stream) are F and P records; the text passes on as it came', async () => {
    prepareLogCapture(dir, ['b']);
    const log = join(dir, 'chunks.log');
    const child = spawn('mawk', ['-W', 'interactive', '-f', join(dir, LOGGER_PROGRAM)], {
      stdio: ['pipe', 'pipe', 'ignore'],
      env: {
        ...process.env,
        LOGF: log,
        LOGSTREAM: 'stdout',
        LOGMAX: String(1024 * 1024),
        LOGEPOCH: String(bootEpochCentis()),
        CRILOG: '',
        LOGCHUNKS: '1',
      },
    });
    let text = '';
    child.stdout?.on('data', (b: Buffer) => (text += b.toString()));
    const ended = new Promise<number | null>((resolve) => child.on('close', resolve));
    // A partial line is a record at once, before its newline comes.
    child.stdin?.write('Fone\nPname? \n');
    await waitFor(
      'the partial record',
      () => existsSync(log) && readFileSync(log, 'utf8').includes(' P name? '),
    );
    child.stdin?.end('Fbob\nF\n');
    assert.equal(await ended, 0);
    assert.equal(text, 'one\nname? bob\n\n');
    assert.deepEqual(
      readFileSync(log, 'utf8')
        .split('\n')
        .filter((l) => l !== '')
        .map((l) => l.split(' ').slice(1).join(' ')),
      ['stdout F one', 'stdout P name? ', 'stdout F bob', 'stdout F '],
    );
  });
});

describe('sandbox port mappings', () => {
  it('become exposed ports with their pod port; no host port maps nothing; bad ones are refused', () => {
    assert.deepEqual(
      sandboxExposedPorts([
        { protocol: 'TCP', container_port: 80, host_port: 12000 },
        { protocol: 'UDP', container_port: 53, host_port: 5353, host_ip: '127.0.0.1' },
        { protocol: 'TCP', container_port: 8080 },
        { container_port: 81, host_port: 12001 },
      ]),
      [
        {
          name: 'tcp-12000-0',
          hostPort: 12000,
          podPort: { name: 'tcp-12000-0', protocol: 'tcp', port: 80, count: 1, socketActivated: false },
        },
        {
          name: 'udp-5353-1',
          hostPort: 5353,
          hostIP: '127.0.0.1',
          podPort: { name: 'udp-5353-1', protocol: 'udp', port: 53, count: 1, socketActivated: false },
        },
        {
          name: 'tcp-12001-3',
          hostPort: 12001,
          podPort: { name: 'tcp-12001-3', protocol: 'tcp', port: 81, count: 1, socketActivated: false },
        },
      ],
    );
    assert.deepEqual(sandboxExposedPorts([]), []);
    assert.throws(
      () => sandboxExposedPorts([{ container_port: 0, host_port: 80 }]),
      /port_mappings\[0\]: ports/,
    );
    assert.throws(
      () => sandboxExposedPorts([{ container_port: 80, host_port: 70000 }]),
      /port_mappings\[0\]/,
    );
    assert.throws(
      () => sandboxExposedPorts([{ protocol: 'ICMP', container_port: 80, host_port: 80 }]),
      /protocol "ICMP": not TCP, UDP or SCTP/,
    );
  });
});
