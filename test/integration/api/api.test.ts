/**
 * `rkt api-service` end to end as root: bin/rkt serves a temp data dir on a unix socket and on a
 * loopback TCP port; a client built from our api.proto (proto-loader) calls every method against
 * real pods (prepared, exited, running: `rkt run --net=none` of a busybox ACI) and imported images.
 */
import assert from 'node:assert/strict';
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { createHash } from 'node:crypto';
import {
  appendFileSync,
  existsSync,
  mkdirSync,
  mkdtempSync,
  readFileSync,
  rmSync,
  writeFileSync,
} from 'node:fs';
import { connect } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import * as grpc from '@grpc/grpc-js';
import { loadApiPackage } from '../../../src/api/proto.js';
import type { Event, Image, Pod } from '../../../src/api/types.js';
import { formatRecord } from '../../../src/logs/format.js';
import { unmountUnder } from '../../../src/pod/index.js';
import { podCgroupDirs } from '../../../src/stage1/oci/engine.js';
import { which } from '../../../src/stage1/oci/runtime.js';
import { forEachOciRuntime, projectRoot, skipUnlessCI, waitFor } from '../../helpers.js';
import { buildBusyboxAci, busybox } from '../busybox-aci.js';

const rktBin = join(projectRoot, 'bin', 'rkt');
const skip =
  process.getuid?.() !== 0
    ? 'needs root'
    : busybox === undefined
      ? 'needs busybox-static'
      : which('crun') === undefined && which('runc') === undefined
        ? 'needs crun or runc'
        : false;

type Client = grpc.Client & Record<string, grpc.MethodDefinition<unknown, unknown> & CallableFunction>;
type Unary = (req: object, cb: (err: grpc.ServiceError | null, res: unknown) => void) => void;

function unary<T>(client: Client, method: string, req: object = {}): Promise<T> {
  return new Promise((resolve, reject) => {
    const fn = (client[method] as unknown as Unary).bind(client);
    fn(req, (err, res) => (err === null ? resolve(res as T) : reject(err)));
  });
}

async function rejects(p: Promise<unknown>, code: grpc.status): Promise<void> {
  await assert.rejects(p, (e: grpc.ServiceError) => {
    assert.equal(e.code, code, e.details);
    return true;
  });
}

/** A server stream collected as it arrives. */
class Collected<T> {
  readonly items: T[] = [];
  status: grpc.StatusObject | undefined;
  readonly opened: Promise<void>;
  readonly ended: Promise<void>;

  constructor(readonly call: grpc.ClientReadableStream<T>) {
    call.on('data', (d: T) => this.items.push(d));
    this.opened = new Promise((resolve) => call.once('metadata', () => resolve()));
    this.ended = new Promise((resolve) => {
      call.on('status', (s: grpc.StatusObject) => {
        this.status = s;
        resolve();
      });
      call.on('error', () => {});
    });
  }
}

function buildAci(
  work: string,
  name: string,
  labels: Record<string, string>,
  annotations: { name: string; value: string }[],
): string {
  return buildBusyboxAci(work, name, {
    applets: ['sh', 'sleep', 'echo', 'true'],
    dirs: ['tmp', 'proc', 'sys', 'dev'],
    labels,
    annotations,
    app: { exec: ['/bin/sh', '-c', 'exit 0'] },
  });
}

describe('rkt api-service', { skip: skipUnlessCI(skip, 'api-service integration tests') }, () => {
  forEachOciRuntime(() => {
    let work: string;
    let data: string;
    let sock: string;
    let service: ChildProcess;
    let serviceErr = '';
    let serviceExit: Promise<number | null>;
    let unixClient: Client;
    let tcpClient: Client;
    let tcpAddr: string;
    let allEvents: Collected<{ events: Event[] }>;
    let imageEvents: Collected<{ events: Event[] }>;
    let keyA: string;
    let keyB: string;
    let fullA: string;
    let prepared: string;
    let exited: string;
    let running: string;
    let runningPid: number | undefined;
    let runner: ChildProcess | undefined;
    const started = Math.floor(Date.now() / 1000);
    const children = new Set<ChildProcess>();

    const rkt = (...args: string[]) => spawnSync(rktBin, [`--dir=${data}`, ...args], { encoding: 'utf8' });
    const fetchImage = (aci: string): string => {
      const r = rkt('--insecure-options=image', 'fetch', '--full', aci);
      assert.equal(r.status, 0, r.stderr);
      return r.stdout.trim();
    };
    const pods = async (req: object, client = unixClient): Promise<Pod[]> =>
      (await unary<{ pods: Pod[] }>(client, 'ListPods', req)).pods;
    const podIds = async (...filters: object[]): Promise<string[]> =>
      (await pods({ filters })).map((p) => p.id).sort();
    const images = async (req: object, client = unixClient): Promise<Image[]> =>
      (await unary<{ images: Image[] }>(client, 'ListImages', req)).images;
    const imageIds = async (...filters: object[]): Promise<string[]> =>
      (await images({ filters })).map((i) => i.id).sort();

    before(async () => {
      work = mkdtempSync(join(tmpdir(), 'rocket-api-'));
      data = join(work, 'data');
      sock = join(work, 'api.sock');
      const aciA = buildAci(work, 'api-busybox', { version: '1.0' }, [{ name: 'authors', value: 'alice' }]);
      const aciB = buildAci(work, 'api-other', { version: '2.0', channel: 'beta' }, []);
      keyA = fetchImage(aciA);
      keyB = fetchImage(aciB);
      const blob = readFileSync(join(data, 'cas', 'blob', 'sha512', keyA.slice(7, 9), keyA));
      fullA = 'sha512-' + createHash('sha512').update(blob).digest('hex');

      service = spawn(
        rktBin,
        [
          `--dir=${data}`,
          '--insecure-options=image,http',
          'api-service',
          `--listen=unix:${sock}`,
          '--listen=127.0.0.1:0',
        ],
        { stdio: ['ignore', 'ignore', 'pipe'] },
      );
      service.stderr?.setEncoding('utf8').on('data', (d: string) => (serviceErr += d));
      serviceExit = new Promise((resolve) => service.on('exit', (code) => resolve(code)));
      await waitFor('the service', () => serviceErr.includes('API service running'));
      tcpAddr = /Listening on (127\.0\.0\.1:\d+)/.exec(serviceErr)?.[1] ?? '';
      assert.notEqual(tcpAddr, '', serviceErr);

      const { PublicAPI } = await loadApiPackage();
      unixClient = new PublicAPI(`unix:${sock}`, grpc.credentials.createInsecure()) as unknown as Client;
      tcpClient = new PublicAPI(tcpAddr, grpc.credentials.createInsecure()) as unknown as Client;

      const listen = (client: Client, req: object) =>
        new Collected<{ events: Event[] }>(
          (
            client['ListenEvents'] as unknown as (r: object) => grpc.ClientReadableStream<{ events: Event[] }>
          ).call(client, req),
        );
      allEvents = listen(unixClient, {});
      imageEvents = listen(tcpClient, { filter: { types: ['EVENT_TYPE_IMAGE_IMPORTED'] } });
      await Promise.all([allEvents.opened, imageEvents.opened]);

      // A prepared pod, with an app annotation.
      const p = rkt('--insecure-options=image', 'prepare', aciA, '--name=web', '--annotation=team=api');
      assert.equal(p.status, 0, p.stderr);
      prepared = p.stdout.trim();

      // An exited pod of two apps: `second` ends with 0, then `first` with 3.
      const uuidFile = join(work, 'exited-uuid');
      const r = rkt(
        '--insecure-options=image',
        'run',
        '--net=none',
        `--uuid-file-save=${uuidFile}`,
        aciA,
        '--name=first',
        '--exec=/bin/sh',
        '--',
        '-c',
        'sleep 0.3; exit 3',
        '---',
        aciB,
        '--name=second',
        '--exec=/bin/sh',
        '--',
        '-c',
        'exit 0',
      );
      exited = readFileSync(uuidFile, 'utf8').trim();
      assert.equal(r.status, 3, r.stderr);

      // A running pod.
      const runningFile = join(work, 'running-uuid');
      runner = spawn(
        rktBin,
        [
          `--dir=${data}`,
          '--insecure-options=image',
          'run',
          '--net=none',
          `--uuid-file-save=${runningFile}`,
          aciA,
          '--exec=/bin/sh',
          '--',
          '-c',
          'trap "exit 0" TERM; while :; do sleep 0.05; done',
        ],
        { stdio: 'ignore', env: { ...process.env, RKT_STOP_TIMEOUT: '5' } },
      );
      children.add(runner);
      await waitFor(
        'the running pod',
        () => existsSync(runningFile) && readFileSync(runningFile, 'utf8') !== '',
      );
      running = readFileSync(runningFile, 'utf8').trim();
      await waitFor('the pod to run', () => existsSync(join(data, 'pods', 'run', running, 'pid')));
      runningPid = runner.pid;
    });

    after(async () => {
      unixClient?.close();
      tcpClient?.close();
      if (service?.exitCode === null) service.kill('SIGKILL');
      for (const c of children)
        if (c.exitCode === null && c.pid !== undefined) process.kill(c.pid, 'SIGKILL');
      await waitFor('the killed children to exit', () =>
        [...children].every((c) => c.exitCode !== null || c.signalCode !== null),
      );
      for (let i = 0; i < 2; i++)
        spawnSync(rktBin, [`--dir=${data}`, 'gc', '--grace-period=0s', '--expire-prepared=0s'], {
          stdio: 'ignore',
        });
      unmountUnder(work);
      for (const uuid of [exited, running])
        if (uuid !== undefined) for (const d of podCgroupDirs(`rkt-${uuid}`)) spawnSync('rmdir', [d]);
      rmSync(work, { recursive: true, force: true });
    });

    it('GetInfo over both transports', async () => {
      for (const client of [unixClient, tcpClient]) {
        const { info } = await unary<{ info: Record<string, unknown> }>(client, 'GetInfo');
        assert.equal(info['api_version'], '1.0.0-alpha');
        assert.equal(info['appc_version'], '0.8.11');
        assert.match(info['rkt_version'] as string, /^\d+\.\d+\.\d+/);
        assert.deepEqual(info['global_flags'], {
          dir: data,
          system_config_dir: '/usr/lib/rkt',
          local_config_dir: '/etc/rkt',
          user_config_dir: '',
          insecure_flags: 'image,http',
          trust_keys_from_https: false,
        });
      }
    });

    it('ListPods: states, apps, exit codes, times, pid, cgroup', async () => {
      const all = await pods({}, tcpClient);
      assert.deepEqual(all.map((p) => p.id).sort(), [prepared, exited, running].sort());
      const byId = new Map(all.map((p) => [p.id, p]));
      const ex = byId.get(exited) as Pod;
      assert.equal(ex.state, 'POD_STATE_EXITED');
      assert.deepEqual(
        ex.apps.map((a) => [a.name, a.state, a.exit_code]),
        [
          ['first', 'APP_STATE_EXITED', 3],
          ['second', 'APP_STATE_EXITED', 0],
        ],
      );
      const first = ex.apps[0] as Pod['apps'][number];
      // Pod manifests name images by the store key (rkt's half-length ID); the API passes that on.
      assert.equal(first.image?.id, keyA);
      assert.equal(first.image?.name, 'example.com/api-busybox');
      assert.equal(first.image?.version, '1.0');
      assert.equal(first.image?.base_format?.type, 'IMAGE_TYPE_APPC');
      assert.ok(Number(ex.pid) > 0);
      assert.equal(ex.cgroup, '');
      assert.deepEqual(ex.networks, []);
      assert.deepEqual(ex.annotations, [{ Key: 'coreos.com/rkt/stage1/mutable', value: 'false' }]);
      const created = BigInt(ex.created_at);
      const startedAt = BigInt(ex.started_at);
      assert.ok(created >= BigInt(started) * 1_000_000_000n, String(created));
      assert.ok(startedAt >= created, `${startedAt} < ${created}`);
      assert.equal(ex.gc_marked_at, '0');
      assert.equal(ex.manifest.length, 0, 'no manifest without detail');

      const run = byId.get(running) as Pod;
      assert.equal(run.state, 'POD_STATE_RUNNING');
      assert.equal(run.pid, runningPid);
      assert.equal(run.cgroup, `/rkt-${running}`);
      assert.deepEqual(
        run.apps.map((a) => [a.name, a.state, a.exit_code]),
        [['api-busybox', 'APP_STATE_RUNNING', -1]],
      );

      const prep = byId.get(prepared) as Pod;
      assert.equal(prep.state, 'POD_STATE_PREPARED');
      assert.equal(prep.pid, -1);
      assert.equal(prep.started_at, '0');
      assert.deepEqual(
        prep.apps.map((a) => [a.name, a.state, a.exit_code, a.annotations]),
        [['web', 'APP_STATE_UNDEFINED', -1, [{ Key: 'team', value: 'api' }]]],
      );

      const detailed = await pods({ detail: true });
      for (const p of detailed) {
        const m = JSON.parse(p.manifest.toString('utf8')) as { acKind: string; apps: { name: string }[] };
        assert.equal(m.acKind, 'PodManifest');
        assert.deepEqual(
          m.apps.map((a) => a.name),
          p.apps.map((a) => a.name),
        );
      }
    });

    it('ListPods filters: ANDed within one, ORed across, with negative cases', async () => {
      assert.deepEqual(await podIds({ ids: [prepared] }), [prepared]);
      assert.deepEqual(await podIds({ ids: [prepared.slice(0, 8)] }), []);
      assert.deepEqual(await podIds({ states: ['POD_STATE_EXITED'] }), [exited]);
      assert.deepEqual(
        await podIds({ states: ['POD_STATE_RUNNING', 'POD_STATE_PREPARED'] }),
        [running, prepared].sort(),
      );
      assert.deepEqual(await podIds({ states: ['POD_STATE_GARBAGE'] }), []);
      assert.deepEqual(await podIds({ app_names: ['second', 'first'] }), [exited]);
      assert.deepEqual(await podIds({ app_names: ['first', 'nope'] }), []);
      assert.deepEqual(await podIds({ image_ids: [keyB] }), [exited]);
      assert.deepEqual(await podIds({ image_ids: [fullA] }), [prepared, exited, running].sort());
      assert.deepEqual(await podIds({ image_ids: ['sha512-' + '0'.repeat(128)] }), []);
      assert.deepEqual(await podIds({ network_names: ['default'] }), []);
      const mutable = (value: string) => ({ annotations: [{ Key: 'coreos.com/rkt/stage1/mutable', value }] });
      assert.equal((await podIds(mutable('false'))).length, 3);
      assert.deepEqual(await podIds(mutable('true')), []);
      assert.deepEqual(await podIds({ cgroups: [`/rkt-${running}`] }), [running]);
      assert.deepEqual(await podIds({ pod_sub_cgroups: [`/rkt-${running}/api-busybox`] }), [running]);
      assert.deepEqual(await podIds({ pod_sub_cgroups: ['/rkt-'] }), []);
      assert.deepEqual(await podIds({ states: ['POD_STATE_EXITED'], app_names: ['web'] }), []);
      assert.deepEqual(
        await podIds({ states: ['POD_STATE_EXITED'] }, { app_names: ['web'] }),
        [exited, prepared].sort(),
      );
    });

    it('InspectPod: by UUID or prefix, with the manifest; unknown ids fail', async () => {
      for (const id of [running, running.slice(0, 8)]) {
        const { pod } = await unary<{ pod: Pod }>(tcpClient, 'InspectPod', { id });
        assert.equal(pod.id, running);
        assert.equal(pod.state, 'POD_STATE_RUNNING');
        assert.equal(
          pod.manifest.toString('utf8'),
          readFileSync(join(data, 'pods', 'run', running, 'pod'), 'utf8'),
        );
      }
      await rejects(
        unary(unixClient, 'InspectPod', { id: 'ffffffff-0000-4000-8000-000000000000' }),
        grpc.status.NOT_FOUND,
      );
      await rejects(unary(unixClient, 'InspectPod', { id: '' }), grpc.status.INVALID_ARGUMENT);
    });

    it('ListImages: names, versions, labels, annotations, manifests, sizes', async () => {
      const list = await images({}, tcpClient);
      const byName = new Map(list.map((i) => [i.name, i]));
      const a = byName.get('example.com/api-busybox') as Image;
      const b = byName.get('example.com/api-other') as Image;
      assert.equal(a.id, keyA);
      assert.equal(b.id, keyB);
      assert.equal(a.version, '1.0');
      assert.equal(b.version, '2.0');
      assert.deepEqual(a.base_format, { type: 'IMAGE_TYPE_APPC', version: '0.8.11' });
      assert.deepEqual(a.annotations, [{ Key: 'authors', value: 'alice' }]);
      assert.deepEqual(
        b.labels.filter((l) => l.Key !== 'arch'),
        [
          { Key: 'version', value: '2.0' },
          { Key: 'channel', value: 'beta' },
          { Key: 'os', value: 'linux' },
        ],
      );
      const ts = Number(a.import_timestamp);
      assert.ok(ts >= started - 1 && ts <= Date.now() / 1000 + 1, String(ts));
      assert.ok(Number(a.size) > 100_000, String(a.size));
      assert.equal(a.manifest.length, 0);
      for (const i of await images({ detail: true })) {
        const m = JSON.parse(i.manifest.toString('utf8')) as { name: string };
        assert.equal(m.name, i.name);
      }
    });

    it('ListImages filters, with negative cases', async () => {
      const now = Math.floor(Date.now() / 1000);
      assert.deepEqual(await imageIds({ prefixes: ['example.com/api-'] }), [keyA, keyB].sort());
      assert.deepEqual(await imageIds({ prefixes: ['example.org/'] }), []);
      assert.deepEqual(await imageIds({ base_names: ['api-other'] }), [keyB]);
      assert.deepEqual(await imageIds({ base_names: ['other'] }), []);
      assert.deepEqual(await imageIds({ keywords: ['busy'] }), [keyA]);
      assert.deepEqual(await imageIds({ labels: [{ Key: 'channel', value: 'beta' }] }), [keyB]);
      assert.deepEqual(await imageIds({ labels: [{ Key: 'channel', value: 'stable' }] }), []);
      assert.deepEqual(await imageIds({ full_names: ['example.com/api-busybox'] }), [keyA]);
      assert.deepEqual(await imageIds({ full_names: ['example.com/api'] }), []);
      assert.deepEqual(await imageIds({ ids: [keyB] }), [keyB]);
      assert.deepEqual(await imageIds({ ids: [fullA] }), [keyA]);
      assert.deepEqual(await imageIds({ annotations: [{ Key: 'authors', value: 'alice' }] }), [keyA]);
      assert.deepEqual(await imageIds({ imported_after: now + 100 }), []);
      assert.deepEqual(await imageIds({ imported_before: now + 100 }), [keyA, keyB].sort());
      assert.deepEqual(await imageIds({ imported_after: started - 100, imported_before: started - 50 }), []);
      assert.deepEqual(
        await imageIds({ keywords: ['busy'], labels: [{ Key: 'channel', value: 'beta' }] }),
        [],
      );
      assert.deepEqual(
        await imageIds({ keywords: ['busy'] }, { labels: [{ Key: 'channel', value: 'beta' }] }),
        [keyA, keyB].sort(),
      );
    });

    it('InspectImage: by key, full ID or prefix; unknown ids fail', async () => {
      for (const id of [keyA, fullA, keyA.slice(0, 20)]) {
        const { image } = await unary<{ image: Image }>(tcpClient, 'InspectImage', { id });
        assert.equal(image.id, keyA);
        assert.equal(image.name, 'example.com/api-busybox');
        assert.equal((JSON.parse(image.manifest.toString('utf8')) as { name: string }).name, image.name);
      }
      await rejects(
        unary(unixClient, 'InspectImage', { id: 'sha512-' + '0'.repeat(64) }),
        grpc.status.NOT_FOUND,
      );
      await rejects(unary(unixClient, 'InspectImage', { id: 'busybox' }), grpc.status.INVALID_ARGUMENT);
    });

    it('ListenEvents: pod and app events of the pods made after the call, images imported and removed', async () => {
      const aciC = buildAci(work, 'api-third', { version: '3.0' }, []);
      const keyC = fetchImage(aciC);
      const flat = (c: Collected<{ events: Event[] }>) => c.items.flatMap((i) => i.events);
      const seen = (c: Collected<{ events: Event[] }>, type: string, id: string) =>
        flat(c).some((e) => e.type === type && e.id === id);
      await waitFor('the image event', () => seen(imageEvents, 'EVENT_TYPE_IMAGE_IMPORTED', keyC));
      await waitFor('the exit event', () => seen(allEvents, 'EVENT_TYPE_POD_EXITED', exited));
      const kinds = (id: string) =>
        flat(allEvents)
          .filter((e) => e.id === id)
          .map((e) => `${e.type.replace('EVENT_TYPE_', '')}:${e.from}`);
      assert.deepEqual(kinds(prepared), [`POD_PREPARED:${prepared}`]);
      // `second` ends first, but a look may see both codes at once: the two app exits in any order.
      const ex = kinds(exited);
      assert.deepEqual(ex.slice(0, 4), [
        `POD_PREPARED:${exited}`,
        `POD_STARTED:${exited}`,
        'APP_STARTED:first',
        'APP_STARTED:second',
      ]);
      assert.deepEqual(ex.slice(4, 6).sort(), ['APP_EXITED:first', 'APP_EXITED:second']);
      assert.deepEqual(ex.slice(6), [`POD_EXITED:${exited}`]);
      const firstExit = flat(allEvents).find((e) => e.type === 'EVENT_TYPE_APP_EXITED' && e.from === 'first');
      assert.deepEqual(firstExit?.data, [{ Key: 'exit_code', value: '3' }]);
      assert.deepEqual(kinds(running).slice(0, 3), [
        `POD_PREPARED:${running}`,
        `POD_STARTED:${running}`,
        'APP_STARTED:api-busybox',
      ]);
      for (const e of flat(allEvents)) {
        const t = Number(e.time);
        assert.ok(t >= started && t <= Date.now() / 1000 + 1, `${e.type} at ${t}`);
      }
      // The filtered stream got only image imports, and no image that was there before the call.
      assert.deepEqual(
        flat(imageEvents).map((e) => [e.type, e.id, e.from]),
        [['EVENT_TYPE_IMAGE_IMPORTED', keyC, 'example.com/api-third']],
      );
      const rm = rkt('image', 'rm', keyC);
      assert.equal(rm.status, 0, rm.stderr);
      await waitFor('the removal event', () => seen(allEvents, 'EVENT_TYPE_IMAGE_REMOVED', keyC));
    });

    it('ListenEvents: an until_time in the past ends the stream at once; ids and names filter', async () => {
      const past = new Collected<{ events: Event[] }>(
        (
          unixClient['ListenEvents'] as unknown as (
            r: object,
          ) => grpc.ClientReadableStream<{ events: Event[] }>
        ).call(unixClient, { filter: { until_time: 1000 } }),
      );
      await past.ended;
      assert.equal(past.status?.code, grpc.status.OK);
      assert.deepEqual(past.items, []);
    });

    describe('GetLogs (log files in the pod dir, src/logs format)', () => {
      const t0 = Date.UTC(2030, 0, 2, 3, 4, 5);
      const at = (s: number) => new Date(t0 + s * 1000);
      const logDir = () => join(data, 'pods', 'prepared', prepared, 'logs', 'web');
      const logs = (req: object) =>
        new Collected<{ lines: string[] }>(
          (
            unixClient['GetLogs'] as unknown as (r: object) => grpc.ClientReadableStream<{ lines: string[] }>
          ).call(unixClient, req),
        );
      const lines = async (req: object): Promise<string[]> => {
        const c = logs(req);
        await c.ended;
        assert.equal(c.status?.code, grpc.status.OK, c.status?.details);
        return c.items.flatMap((i) => i.lines);
      };

      before(() => {
        mkdirSync(logDir(), { recursive: true });
        writeFileSync(
          join(logDir(), 'stdout.log'),
          [formatRecord(at(0), 'stdout', 'one'), formatRecord(at(2), 'stdout', 'three')].join('\n') + '\n',
        );
        writeFileSync(join(logDir(), 'stderr.log'), formatRecord(at(1), 'stderr', 'two') + '\n');
      });

      it('returns every line merged by time, or the last N, or a time range', async () => {
        const stamp = (s: number) => at(s).toISOString();
        assert.deepEqual(await lines({ pod_id: prepared }), [
          `${stamp(0)} web stdout: one`,
          `${stamp(1)} web stderr: two`,
          `${stamp(2)} web stdout: three`,
        ]);
        assert.deepEqual(await lines({ pod_id: prepared, app_name: 'web', lines: 1 }), [
          `${stamp(2)} web stdout: three`,
        ]);
        const sec = (s: number) => String(Math.floor((t0 + s * 1000) / 1000));
        assert.deepEqual(await lines({ pod_id: prepared, since_time: sec(1), until_time: sec(2) }), [
          `${stamp(1)} web stderr: two`,
        ]);
      });

      it('fails for an unknown pod or app', async () => {
        for (const req of [
          { pod_id: 'ffffffff-0000-4000-8000-000000000000' },
          { pod_id: prepared, app_name: 'nope' },
        ]) {
          const c = logs(req);
          await c.ended;
          assert.equal(c.status?.code, grpc.status.NOT_FOUND);
        }
      });

      it('follows new lines until the client cancels', async () => {
        const c = logs({ pod_id: prepared, follow: true, lines: 1 });
        await waitFor('the backlog', () => c.items.length > 0);
        appendFileSync(join(logDir(), 'stdout.log'), formatRecord(at(3), 'stdout', 'four') + '\n');
        await waitFor('the new line', () => c.items.flatMap((i) => i.lines).some((l) => l.endsWith('four')));
        assert.deepEqual(
          c.items.flatMap((i) => i.lines).map((l) => l.slice(l.indexOf(': ') + 2)),
          ['three', 'four'],
        );
        c.call.cancel();
        await c.ended;
        assert.equal(c.status?.code, grpc.status.CANCELLED);
      });
    });

    it('reports gc marking (gc_marked_at, GARBAGE)', async () => {
      const gc = rkt('gc', '--mark-only');
      assert.equal(gc.status, 0, gc.stderr);
      const { pod } = await unary<{ pod: Pod }>(unixClient, 'InspectPod', { id: exited });
      assert.equal(pod.state, 'POD_STATE_GARBAGE');
      assert.ok(BigInt(pod.gc_marked_at) >= BigInt(pod.started_at), String(pod.gc_marked_at));
    });

    it('stops the running pod: the API sees it exit', async () => {
      const s = rkt('stop', running);
      assert.equal(s.status, 0, s.stderr);
      await waitFor('the pod to exit', () => runner?.exitCode !== null);
      const { pod } = await unary<{ pod: Pod }>(unixClient, 'InspectPod', { id: running });
      assert.equal(pod.state, 'POD_STATE_EXITED');
      assert.deepEqual(
        pod.apps.map((a) => [a.state, a.exit_code]),
        [['APP_STATE_EXITED', 0]],
      );
      assert.equal(pod.cgroup, '');
    });

    it('shuts down cleanly on SIGTERM: open streams end, the socket is removed, exit 0', async () => {
      assert.equal(allEvents.status, undefined, 'the event stream is still open');
      service.kill('SIGTERM');
      assert.equal(await serviceExit, 0, serviceErr);
      await allEvents.ended;
      assert.equal((allEvents.status as grpc.StatusObject | undefined)?.code, grpc.status.OK);
      assert.ok(!existsSync(sock), 'the socket file is gone');
      assert.match(serviceErr, /API service exiting/);
    });
  });
});

describe(
  'rkt api-service under systemd socket activation',
  {
    skip: skipUnlessCI(
      skip !== false
        ? skip
        : which('systemd-socket-activate') === undefined
          ? 'needs systemd-socket-activate'
          : false,
    ),
  },
  () => {
    const children: ChildProcess[] = [];
    it('serves the socket it is handed and refuses --listen then', async () => {
      const work = mkdtempSync(join(tmpdir(), 'rocket-api-act-'));
      const sock = join(work, 'act.sock');
      const data = join(work, 'data');
      const child = spawn('systemd-socket-activate', ['-l', sock, rktBin, `--dir=${data}`, 'api-service'], {
        stdio: ['ignore', 'ignore', 'pipe'],
      });
      let err = '';
      child.stderr?.setEncoding('utf8').on('data', (d: string) => (err += d));
      const exit = new Promise<number | null>((resolve) => child.on('exit', (code) => resolve(code)));
      try {
        await waitFor('the socket', () => existsSync(sock));
        const { PublicAPI } = await loadApiPackage();
        const client = new PublicAPI(`unix:${sock}`, grpc.credentials.createInsecure()) as unknown as Client;
        const { info } = await unary<{ info: { global_flags: { dir: string } } }>(client, 'GetInfo');
        assert.equal(info.global_flags.dir, data);
        client.close();
        await waitFor('the service to say so', () => err.includes('systemd-provided socket'));
        child.kill('SIGTERM');
        assert.equal(await exit, 0, err);

        // The activator execs the service on the first connection; with --listen as well it refuses.
        const refused = spawn(
          'systemd-socket-activate',
          ['-l', sock, rktBin, `--dir=${data}`, 'api-service', '--listen=127.0.0.1:0'],
          { stdio: ['ignore', 'ignore', 'pipe'] },
        );
        children.push(refused);
        let refusedErr = '';
        refused.stderr?.setEncoding('utf8').on('data', (d: string) => (refusedErr += d));
        const refusedExit = new Promise<number | null>((resolve) =>
          refused.on('exit', (code) => resolve(code)),
        );
        await waitFor('the second socket', () => refusedErr.includes('Listening on'));
        const conn = connect(sock).on('error', () => {});
        assert.equal(await refusedExit, 254, refusedErr);
        conn.destroy();
        assert.match(refusedErr, /started under systemd\.socket\(5\), but --listen passed/);
      } finally {
        for (const c of [child, ...children]) if (c.exitCode === null) c.kill('SIGKILL');
        rmSync(work, { recursive: true, force: true });
      }
    });
  },
);

describe('rkt api-service with a sandbox (rkt app add, start, rm)', { skip }, () => {
  const children = new Set<ChildProcess>();
  let work: string;
  let data: string;
  let uuid = '';

  after(() => {
    if (uuid !== '') spawnSync(rktBin, [`--dir=${data}`, 'stop', '--force', uuid], { stdio: 'ignore' });
    for (const c of children) if (c.exitCode === null && c.pid !== undefined) process.kill(c.pid, 'SIGKILL');
    for (let i = 0; i < 2; i++)
      spawnSync(rktBin, [`--dir=${data}`, 'gc', '--grace-period=0s', '--expire-prepared=0s'], {
        stdio: 'ignore',
      });
    unmountUnder(work);
    if (uuid !== '') for (const d of podCgroupDirs(`rkt-${uuid}`)) spawnSync('rmdir', [d]);
    rmSync(work, { recursive: true, force: true });
  });

  it('shows the apps as they are added, started and removed', async () => {
    work = mkdtempSync(join(tmpdir(), 'rocket-api-sandbox-'));
    data = join(work, 'data');
    const sock = join(work, 'api.sock');
    const aci = buildAci(work, 'api-sandbox', { version: '1.0' }, []);
    const env = { ...process.env, RKT_STOP_TIMEOUT: '5' };
    const rkt = (...args: string[]): void => {
      const r = spawnSync(rktBin, [`--dir=${data}`, '--insecure-options=image', ...args], {
        encoding: 'utf8',
        env,
      });
      assert.equal(r.status, 0, `rkt ${args.join(' ')}: ${r.stderr}`);
    };
    const service = spawn(rktBin, [`--dir=${data}`, 'api-service', `--listen=unix:${sock}`], {
      stdio: ['ignore', 'ignore', 'pipe'],
    });
    children.add(service);
    let serviceErr = '';
    service.stderr?.setEncoding('utf8').on('data', (d: string) => (serviceErr += d));
    await waitFor(
      'the service',
      () => serviceErr.includes('API service running') || service.exitCode !== null,
    );
    assert.match(serviceErr, /API service running/);
    const { PublicAPI } = await loadApiPackage();
    const client = new PublicAPI(`unix:${sock}`, grpc.credentials.createInsecure()) as unknown as Client;
    try {
      const uuidFile = join(work, 'uuid');
      const sandbox = spawn(
        rktBin,
        [`--dir=${data}`, 'app', 'sandbox', '--net=none', `--uuid-file-save=${uuidFile}`],
        { stdio: 'ignore', env },
      );
      children.add(sandbox);
      await waitFor('the uuid file', () => existsSync(uuidFile) && readFileSync(uuidFile, 'utf8') !== '');
      uuid = readFileSync(uuidFile, 'utf8').trim();
      await waitFor('the supervisor', () => existsSync(join(data, 'pods', 'run', uuid, 'stage1', 'ctl')));
      const apps = async (): Promise<[string, string][]> => {
        const { pod } = await unary<{ pod: Pod }>(client, 'InspectPod', { id: uuid });
        assert.equal(pod.state, 'POD_STATE_RUNNING');
        return pod.apps.map((a) => [a.name, a.state]);
      };
      assert.deepEqual(await apps(), []);
      const loop = ['--exec=/bin/sh', '--', '-c', 'trap "exit 0" TERM; while :; do sleep 0.05; done'];
      rkt('app', 'add', uuid, aci, '--name=one', ...loop);
      assert.deepEqual(await apps(), [['one', 'APP_STATE_UNDEFINED']]);
      rkt('app', 'start', uuid, '--app=one');
      rkt('app', 'add', uuid, aci, '--name=two', ...loop);
      assert.deepEqual(await apps(), [
        ['one', 'APP_STATE_RUNNING'],
        ['two', 'APP_STATE_UNDEFINED'],
      ]);
      rkt('app', 'start', uuid, '--app=two');
      rkt('app', 'rm', uuid, '--app=one');
      assert.deepEqual(await apps(), [['two', 'APP_STATE_RUNNING']]);
      const listed = (await unary<{ pods: Pod[] }>(client, 'ListPods', { detail: true })).pods.find(
        (p) => p.id === uuid,
      );
      assert.deepEqual(
        listed?.apps.map((a) => a.name),
        ['two'],
      );
      assert.deepEqual(
        (
          JSON.parse(Buffer.from(listed?.manifest ?? []).toString('utf8')) as { apps: { name: string }[] }
        ).apps.map((a) => a.name),
        ['two'],
      );
      rkt('stop', uuid);
      await waitFor('the sandbox to end', () => sandbox.exitCode !== null);
      const { pod } = await unary<{ pod: Pod }>(client, 'InspectPod', { id: uuid });
      assert.equal(pod.state, 'POD_STATE_EXITED');
      assert.deepEqual(
        pod.apps.map((a) => [a.name, a.state, a.exit_code]),
        [['two', 'APP_STATE_EXITED', 0]],
      );
    } finally {
      client.close();
    }
  });
});
