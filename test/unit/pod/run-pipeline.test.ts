// Stage0's run pipeline (src/pod/run-pipeline.ts) against fake engines, root-free: what it writes
// in the pod dir, the RunConfig the engine gets, and what it refuses before calling the engine.
import assert from 'node:assert/strict';
import { existsSync, mkdirSync, readFileSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { RocketError } from '../../../src/errors.js';
import { stderrLine } from '../../../src/stderr.js';
import { emptyPodArgs, type PodArgs } from '../../../src/pod/args.js';
import { FAST_RUN_STAMP, podNetMode, prepareFastRun, runPod } from '../../../src/pod/run-pipeline.js';
import type { Engine, RunConfig } from '../../../src/stage1/engine.js';
import { tempDir } from '../../helpers.js';
import { UUID_A, podManifestText } from '../metadata/fixtures.js';

/** An engine that records the RunConfig it gets and returns a fixed plan (or throws). */
function fakeEngine(opts: { podNetwork: boolean; fail?: string }): Engine & { got: RunConfig[] } {
  const got: RunConfig[] = [];
  return {
    name: 'fake',
    podNetwork: opts.podNetwork,
    podLogs: false,
    got,
    run(config) {
      got.push(config);
      if (opts.fail !== undefined) throw new RocketError(opts.fail, 'internal');
      return { script: 'exit 0\n' };
    },
    enter: () => ({ script: '' }),
    stop: () => undefined,
    gc: () => undefined,
  };
}

describe('run pipeline', () => {
  let dir: { path: string; cleanup: () => Promise<void> };
  let P: string;
  before(async () => {
    dir = await tempDir('rocket-pipeline-');
    P = join(dir.path, 'pods', 'prepared', UUID_A);
    mkdirSync(P, { recursive: true });
    writeFileSync(join(P, 'pod'), podManifestText());
  });
  after(async () => {
    await dir.cleanup();
  });

  const request = (engine: Engine, args: Partial<PodArgs>): Parameters<typeof runPod>[0] => ({
    dataDir: dir.path,
    uuid: UUID_A,
    engine,
    args: { ...emptyPodArgs(), ...args },
    insecure: { capabilities: false, paths: false, seccomp: false },
    configDirs: { system: join(dir.path, 'sys'), local: join(dir.path, 'local') },
  });

  it('writes hosts and resolv.conf, then hands the engine a typed config (--net=none)', () => {
    const engine = fakeEngine({ podNetwork: true });
    const plan = runPod(
      request(engine, {
        net: ['none'],
        hostname: 'h1',
        hostsEntries: ['10.1.2.3=db'],
        dns: ['192.0.2.53'],
        dnsSearch: ['example.com'],
        mdsRegister: false,
      }),
    );
    assert.equal(plan.script, 'exit 0\n');
    assert.equal(
      readFileSync(join(P, 'etc', 'hosts'), 'utf8'),
      '127.0.0.1\tlocalhost\n::1\tlocalhost ip6-localhost ip6-loopback\n127.0.1.1\th1\n10.1.2.3\tdb\n',
    );
    assert.equal(
      readFileSync(join(P, 'etc', 'resolv.conf'), 'utf8'),
      'nameserver 192.0.2.53\nsearch example.com\n',
    );
    const c = engine.got[0];
    assert.ok(c !== undefined);
    assert.equal(c.preparedDir, P);
    assert.equal(c.runDir, join(dir.path, 'pods', 'run', UUID_A));
    assert.deepEqual(c.network, { mode: 'none' });
    assert.equal(c.resolvConf, true);
    assert.deepEqual(c.metadata, { url: '', unregister: '' });
    assert.equal(c.hostname, 'h1');
    assert.deepEqual(
      c.manifest.apps.map((a) => a.name),
      ['web'],
    );
    assert.equal(c.logs, undefined);
  });

  it('writes no resolv.conf with --dns=none, and passes the engine failure on', () => {
    const engine = fakeEngine({ podNetwork: true, fail: 'cannot write bundles' });
    rmSync(join(P, 'etc', 'resolv.conf'), { force: true });
    assert.throws(
      () => runPod(request(engine, { net: ['host'], dns: ['none'] })),
      /^RocketError: cannot write bundles$/,
    );
    assert.equal(engine.got[0]?.resolvConf, false);
    assert.deepEqual(engine.got[0]?.network, { mode: 'host' });
    assert.ok(!existsSync(join(P, 'etc', 'resolv.conf')));
  });

  it('gives an engine without a pod network the host network and the raw DNS and hosts flags', () => {
    const engine = fakeEngine({ podNetwork: false });
    runPod(request(engine, { dns: ['192.0.2.1'], hostsEntries: ['host'] }));
    const c = engine.got[0];
    assert.deepEqual(c?.network, { mode: 'host' });
    assert.deepEqual(c?.dns, { dns: ['192.0.2.1'], dnsSearch: [], dnsOpt: [] });
    assert.deepEqual(c?.hostsEntries, ['host']);
    assert.throws(
      () => podNetMode(engine, ['default']),
      (e: unknown) =>
        e instanceof RocketError &&
        e.kind === 'invalid-argument' &&
        e.message ===
          "--net=default: the fake engine runs apps in the host's network namespace; use --net=host or no --net",
    );
  });

  it('refuses --port without a network, and a pod that is not prepared, before the engine', () => {
    const engine = fakeEngine({ podNetwork: true });
    const withPort = JSON.parse(podManifestText()) as { ports: unknown[] };
    withPort.ports = [{ name: 'http', hostPort: 8080 }];
    writeFileSync(join(P, 'pod'), JSON.stringify(withPort));
    try {
      assert.throws(() => runPod(request(engine, { net: ['none'] })), /--port/);
    } finally {
      writeFileSync(join(P, 'pod'), podManifestText());
    }
    assert.throws(
      () => runPod({ ...request(engine, {}), uuid: '00000000-0000-4000-8000-000000000000' }),
      (e: unknown) => e instanceof RocketError && e.kind === 'not-found',
    );
    assert.equal(engine.got.length, 0);
  });
});

describe('the run rkt prepare writes for bin/rkt (prepareFastRun)', () => {
  let dir: { path: string; cleanup: () => Promise<void> };
  let W: string;
  const saved: Record<string, string | undefined> = {};
  const ENV = ['ROCKET_HOME', 'NOTIFY_SOCKET', 'RKT_OCI_RUNTIME', 'RKT_LOG_MAX_SIZE'];
  before(async () => {
    dir = await tempDir('rocket-fast-run-');
    for (const k of ENV) saved[k] = process.env[k];
    for (const k of ENV) delete process.env[k];
    process.env['ROCKET_HOME'] = '/opt/rocket';
  });
  after(async () => {
    for (const k of ENV) {
      const v = saved[k];
      if (v === undefined) delete process.env[k];
      else process.env[k] = v;
    }
    await dir.cleanup();
  });

  /** A fresh pod in prepare/ (its manifest and its app's tree ID). */
  const freshPod = (): string => {
    W = join(dir.path, 'pods', 'prepare', UUID_A);
    rmSync(W, { recursive: true, force: true });
    mkdirSync(join(W, 'appsinfo', 'web'), { recursive: true });
    writeFileSync(join(W, 'pod'), podManifestText());
    writeFileSync(join(W, 'appsinfo', 'web', 'treeStoreID'), 'deps-sha512-00ff\n');
    return W;
  };
  /** An "oci" engine that writes a settings file where it is told to (and may warn or fail). */
  const ociLike = (opts: { warn?: string; fail?: string } = {}): Engine & { got: RunConfig[] } => {
    const got: RunConfig[] = [];
    return {
      name: 'oci',
      podNetwork: true,
      podLogs: false,
      got,
      run(config) {
        got.push(config);
        mkdirSync(join(config.preparedDir, 'stage1', 'sup'), { recursive: true });
        writeFileSync(join(config.preparedDir, 'stage1', 'sup', 'pod.env'), 'CNI=\n');
        if (opts.warn !== undefined) stderrLine(`run: ${opts.warn}`);
        if (opts.fail !== undefined) throw new RocketError(opts.fail, 'internal');
        return { script: 'exit 0\n' };
      },
      enter: () => ({ script: '' }),
      stop: () => undefined,
      gc: () => undefined,
    };
  };
  const request = (engine: Engine, args: Partial<PodArgs> = {}): Parameters<typeof prepareFastRun>[0] => ({
    dataDir: dir.path,
    uuid: UUID_A,
    engine,
    args: { ...emptyPodArgs(), net: ['none'], ...args },
    insecure: { capabilities: false, paths: false, seccomp: false },
    configDirs: { system: join(dir.path, 'sys'), local: join(dir.path, 'local') },
    writeDir: freshPod(),
  });

  it('writes the --net=none run into the pod in prepare/ and stamps what it depends on', () => {
    const engine = ociLike();
    assert.equal(prepareFastRun(request(engine)), true);
    const c = engine.got[0];
    assert.ok(c !== undefined);
    // Written in prepare/, with the paths of run/.
    assert.equal(c.preparedDir, W);
    assert.equal(c.runDir, join(dir.path, 'pods', 'run', UUID_A));
    assert.deepEqual(c.network, { mode: 'none' });
    assert.ok(existsSync(join(W, 'etc', 'hosts')));
    const stamp = readFileSync(join(W, FAST_RUN_STAMP), 'utf8').split('\n');
    assert.deepEqual(stamp.slice(0, 3), ['RKT_FAST_RUN=1', 'HOME=/opt/rocket', `DIR=${dir.path}`]);
    assert.match(stamp[3] ?? '', /^BOOT=[0-9a-f-]{36}$/);
    assert.deepEqual(stamp.slice(4), [
      `PATH=${process.env['PATH'] ?? ''}`,
      'RKT_OCI_RUNTIME=',
      'RKT_LOG_MAX_SIZE=',
      `NEED=${join(dir.path, 'cas', 'tree', 'deps-sha512-00ff', 'rootfs')}`,
      '',
    ]);
  });

  it('writes nothing when the run would warn or fail: Node runs the pod and says it', () => {
    for (const engine of [ociLike({ warn: 'a warning' }), ociLike({ fail: 'no runtime' })]) {
      assert.equal(prepareFastRun(request(engine)), false);
      assert.equal(engine.got.length, 1);
      for (const f of ['stage1', 'etc']) assert.equal(existsSync(join(W, f)), false, f);
      assert.ok(existsSync(join(W, 'pod')));
    }
  });

  it('leaves to Node another engine, --no-overlay, another network and systemd activation', () => {
    const cases: [Engine & { got: RunConfig[] }, Partial<PodArgs>][] = [
      [{ ...ociLike(), name: 'fly' }, {}],
      [ociLike(), { noOverlay: true }],
      [ociLike(), { net: ['host'] }],
    ];
    for (const [engine, args] of cases) {
      assert.equal(prepareFastRun(request(engine, args)), false);
      assert.equal(engine.got.length, 0);
    }
    process.env['NOTIFY_SOCKET'] = '/run/systemd/notify';
    try {
      const engine = ociLike();
      assert.equal(prepareFastRun(request(engine)), false);
      assert.equal(engine.got.length, 0);
    } finally {
      delete process.env['NOTIFY_SOCKET'];
    }
  });

  it("is discarded when Node runs the pod: this run's flags alone say what the pod dir holds", () => {
    assert.equal(prepareFastRun(request(ociLike())), true);
    // The pod becomes prepared.
    const P = join(dir.path, 'pods', 'prepared', UUID_A);
    rmSync(P, { recursive: true, force: true });
    mkdirSync(join(dir.path, 'pods', 'prepared'), { recursive: true });
    renameSync(W, P);
    writeFileSync(join(P, 'etc', 'resolv.conf'), 'nameserver 192.0.2.1\n');
    const seen: boolean[] = [];
    const engine: Engine = {
      ...ociLike(),
      run(config) {
        seen.push(existsSync(join(config.preparedDir, FAST_RUN_STAMP)), existsSync(join(P, 'stage1', 'sup')));
        return { script: 'exit 0\n' };
      },
    };
    const { dataDir, uuid, args, insecure, configDirs } = request(engine, { dns: ['none'] });
    runPod({ dataDir, uuid, engine, args, insecure, configDirs });
    assert.deepEqual(seen, [false, false]);
    assert.equal(existsSync(join(P, 'etc', 'resolv.conf')), false);
    assert.ok(existsSync(join(P, 'pod')));
  });
});
