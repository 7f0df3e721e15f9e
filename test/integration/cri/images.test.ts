/**
 * `rkt cri-service` end to end as root: bin/rkt serves the CRI on a unix socket of a temp dir; a
 * client generated from our src/cri/v1/api.proto pulls from the test registries on 127.0.0.1
 * (test/env: plain http, htpasswd over TLS), directly and through --registry-mirror, and checks
 * the ImageService (names, ids, digests, users, removal, ImageFsInfo) and Version, Status and
 * RuntimeConfig. Every test has its own --dir and socket; the service is stopped by pid.
 */
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import * as grpc from '@grpc/grpc-js';
import { loadCriPackage, type CriPackage } from '../../../src/cri/proto.js';
import { type Running, skipUnlessCI } from '../../helpers.js';
import { startTestenv, testenvDir, testenvMissing, type Testenv } from '../docker-sources/testenv.js';
import { rejects, rktBin, startCriService, stopCriService, unary } from './fixture.js';

const skip = process.getuid?.() !== 0 ? 'needs root' : testenvMissing;

interface Image {
  id: string;
  repo_tags: string[];
  repo_digests: string[];
  size: string;
  uid: { value: string } | null;
  username: string;
}

/** One cri-service with its own data dir and socket. */
class Service {
  readonly sock: string;
  readonly data: string;
  proc: Running | undefined;
  runtime!: grpc.Client;
  images!: grpc.Client;

  constructor(
    readonly dir: string,
    private readonly pkg: CriPackage,
    private readonly args: string[] = [],
    private readonly env: NodeJS.ProcessEnv = process.env,
  ) {
    this.sock = join(dir, 'cri.sock');
    this.data = join(dir, 'data');
  }

  async start(): Promise<void> {
    this.proc = await startCriService({ data: this.data, sock: this.sock, args: this.args, env: this.env });
    this.runtime = new this.pkg.RuntimeService(`unix://${this.sock}`, grpc.credentials.createInsecure());
    this.images = new this.pkg.ImageService(`unix://${this.sock}`, grpc.credentials.createInsecure());
  }

  /** SIGTERM; the service must exit 0. */
  async stop(): Promise<void> {
    const proc = this.proc;
    if (proc === undefined) return;
    this.runtime.close();
    this.images.close();
    this.proc = undefined;
    await stopCriService(proc);
  }

  kill(): void {
    if (this.proc?.child.pid !== undefined && this.proc.child.exitCode === null)
      this.proc.child.kill('SIGKILL');
  }

  pull(image: string, auth?: object): Promise<{ image_ref: string }> {
    return unary(this.images, 'PullImage', { image: { image }, ...(auth !== undefined ? { auth } : {}) });
  }

  async status(
    image: string,
    verbose = false,
  ): Promise<{ image: Image | null; info: Record<string, string> }> {
    return unary(this.images, 'ImageStatus', { image: { image }, verbose });
  }

  async list(filter?: string): Promise<Image[]> {
    const req = filter === undefined ? {} : { filter: { image: { image: filter } } };
    return (await unary<{ images: Image[] }>(this.images, 'ListImages', req)).images;
  }

  remove(image: string): Promise<unknown> {
    return unary(this.images, 'RemoveImage', { image: { image } });
  }
}

describe(
  'rkt cri-service: images, version, status',
  { skip: skipUnlessCI(skip, 'cri-service image tests') },
  () => {
    let env: Testenv;
    let pkg: CriPackage;
    let work: string;
    /** Plain-http registry (127.0.0.1:PORT) and the htpasswd one over TLS. */
    let plain: string;
    let secured: string;
    let ca: string;
    const services: Service[] = [];

    const skopeoCopy = (tag: string, dest: string): void => {
      const r = spawnSync(
        'skopeo',
        [
          'copy',
          '-q',
          '--dest-tls-verify=false',
          '--preserve-digests',
          `oci:${env.files.OCI_LAYOUT}:${tag}`,
          `docker://${dest}`,
        ],
        { encoding: 'utf8' },
      );
      assert.equal(r.status, 0, r.stderr);
    };

    const service = async (
      name: string,
      args: string[] = [],
      extraEnv: NodeJS.ProcessEnv = {},
    ): Promise<Service> => {
      const dir = join(work, name);
      mkdirSync(dir);
      const s = new Service(dir, pkg, [`--cni-conf-dir=${join(dir, 'net.d')}`, ...args], {
        ...process.env,
        ...extraEnv,
      });
      services.push(s);
      await s.start();
      return s;
    };

    before(async () => {
      work = mkdtempSync(join(tmpdir(), 'rocket-cri-'));
      pkg = await loadCriPackage();
      env = await startTestenv();
      plain = env.registries.none.D2A_REGISTRY ?? '';
      secured = env.registries.htpasswd.D2A_REGISTRY ?? '';
      ca = env.registries.htpasswd.D2A_REGISTRY_CA ?? '';
      // One image under three tags, and the uid image under an upstream-looking name for the mirror.
      for (const t of ['one', 'two', 'three']) skopeoCopy('latest', `${plain}/test/three:${t}`);
      skopeoCopy('uid', `${plain}/x/busybox:1.0`);
    });

    after(async () => {
      for (const s of services) s.kill();
      for (const s of services) await s.proc?.done;
      await env?.stop();
      rmSync(work, { recursive: true, force: true });
    });

    it('answers Version, Status, RuntimeConfig and ImageFsInfo on a 0600 socket; a sandbox without a name is refused; unbuilt calls are UNIMPLEMENTED; SIGTERM exits 0', async () => {
      const s = await service('basics');
      assert.equal(statSync(s.sock).mode & 0o777, 0o600);
      const v = await unary<Record<string, string>>(s.runtime, 'Version', { version: '0.1.0' });
      assert.equal(v.runtime_name, 'rocket');
      assert.equal(v.runtime_api_version, 'v1');
      type Conditions = { status: { conditions: { type: string; status: boolean; reason: string }[] } };
      const ready = async (): Promise<Record<string, boolean>> =>
        Object.fromEntries(
          (await unary<Conditions>(s.runtime, 'Status', {})).status.conditions.map((c) => [c.type, c.status]),
        );
      assert.deepEqual(await ready(), { RuntimeReady: true, NetworkReady: false });
      mkdirSync(join(s.dir, 'net.d'));
      writeFileSync(
        join(s.dir, 'net.d', '10-test.conflist'),
        JSON.stringify({ cniVersion: '1.0.0', name: 'test', plugins: [{ type: 'bridge' }] }),
      );
      assert.deepEqual(await ready(), { RuntimeReady: true, NetworkReady: true });
      const verbose = await unary<{ info: Record<string, string> }>(s.runtime, 'Status', { verbose: true });
      assert.deepEqual(JSON.parse(verbose.info['config'] ?? ''), {
        cniConfDir: join(s.dir, 'net.d'),
        cniConfFiles: ['10-test.conflist'],
      });
      const rc = await unary<{ linux: { cgroup_driver: string } }>(s.runtime, 'RuntimeConfig', {});
      assert.equal(rc.linux.cgroup_driver, 'CGROUPFS');
      await rejects(unary(s.runtime, 'RunPodSandbox', {}), grpc.status.INVALID_ARGUMENT, /metadata\.name/);
      await rejects(
        unary(s.runtime, 'RunPodSandbox', {
          config: { metadata: { name: 'x', uid: 'u', namespace: 'n' } },
          runtime_handler: 'kata',
        }),
        grpc.status.INVALID_ARGUMENT,
        /runtime_handler "kata"/,
      );
      await rejects(unary(s.runtime, 'ReopenContainerLog', { container_id: 'nope' }), grpc.status.NOT_FOUND);
      await rejects(unary(s.runtime, 'CheckpointContainer', {}), grpc.status.UNIMPLEMENTED);

      type FsInfo = {
        image_filesystems: {
          timestamp: string;
          fs_id: { mountpoint: string };
          used_bytes: { value: string };
          inodes_used: { value: string };
        }[];
      };
      const before = (await unary<FsInfo>(s.images, 'ImageFsInfo', {})).image_filesystems;
      assert.equal(before.length, 1);
      assert.equal(before[0]?.fs_id.mountpoint, join(s.data, 'cas'));
      assert.ok(BigInt(before[0]?.timestamp ?? '0') > 0n);
      await s.pull(`${plain}/test/busybox:latest`);
      const afterPull = (await unary<FsInfo>(s.images, 'ImageFsInfo', {})).image_filesystems[0];
      assert.ok(
        Number(afterPull?.used_bytes.value) > Number(before[0]?.used_bytes.value) + 500_000,
        JSON.stringify(afterPull),
      );
      assert.ok(Number(afterPull?.inodes_used.value) > Number(before[0]?.inodes_used.value));
      await s.stop();
      assert.throws(() => statSync(s.sock), /ENOENT/);
    });

    it('one image pulled under three tags is one image with three tags and its digest; found by id, tag and digest; kept across a restart; removed by tag', async () => {
      const s = await service('three');
      const refs = await Promise.all(
        ['one', 'two', 'three'].map(async (t) => (await s.pull(`${plain}/test/three:${t}`)).image_ref),
      );
      assert.equal(new Set(refs).size, 1);
      const id = refs[0] ?? '';
      assert.match(id, /^sha512-[0-9a-f]{64}$/);
      const listed = await s.list();
      assert.equal(listed.length, 1);
      const image = listed[0] as Image;
      assert.equal(image.id, id);
      assert.deepEqual(
        image.repo_tags,
        ['one', 'three', 'two'].map((t) => `${plain}/test/three:${t}`),
      );
      const digest = env.images(env.registries.none).IMG_TEST_BUSYBOX_LATEST_DIGEST ?? '';
      assert.deepEqual(image.repo_digests, [`${plain}/test/three@${digest}`]);
      assert.ok(Number(image.size) > 500_000);
      // The layout's `latest` runs as user `app`.
      assert.equal(image.uid, null);
      assert.equal(image.username, 'app');

      for (const name of [id, id.slice(0, 20), `${plain}/test/three:two`, `${plain}/test/three@${digest}`]) {
        assert.equal((await s.status(name)).image?.id, id, name);
        assert.deepEqual(
          (await s.list(name)).map((i) => i.id),
          [id],
          name,
        );
      }
      const verbose = await s.status(`${plain}/test/three:one`, true);
      assert.match(verbose.info['info'] ?? '', /"aciName":/);
      // Pulled by digest: no new tag, the same image.
      assert.equal((await s.pull(`${plain}/test/three@${digest}`)).image_ref, id);

      await s.stop();
      await s.start();
      const again = await s.list();
      assert.deepEqual(
        again.map((i) => [i.id, i.repo_tags.length, i.repo_digests.length]),
        [[id, 3, 1]],
      );

      await s.remove(`${plain}/test/three:two`);
      assert.equal((await s.status(`${plain}/test/three:one`)).image, null);
      assert.equal((await s.status(id)).image, null);
      assert.deepEqual(await s.list(), []);
      // Removing what is not there is fine.
      await s.remove(`${plain}/test/three:two`);
      await s.remove(id);
      await s.stop();
    });

    it('a tag pulled again after it moved to another manifest moves to the new image', async () => {
      const s = await service('move');
      const name = `${plain}/test/move:v`;
      skopeoCopy('latest', name);
      const { image_ref: first } = await s.pull(name);
      skopeoCopy('uid', name);
      const { image_ref: second } = await s.pull(name);
      assert.notEqual(second, first);
      assert.equal((await s.status(name)).image?.id, second);
      assert.deepEqual((await s.status(second)).image?.repo_tags, [name]);
      assert.deepEqual((await s.status(first)).image?.repo_tags, []);
      await s.remove(first);
      await s.remove(second);
      assert.deepEqual(await s.list(), []);
      await s.stop();
    });

    it('pulls through --registry-mirror: registry.k8s.io names from a plain-http mirror, with the uid of the image', async () => {
      const s = await service('mirror', [`--registry-mirror=registry.k8s.io=http://${plain}`]);
      const { image_ref: id } = await s.pull('registry.k8s.io/x/busybox:1.0');
      const image = (await s.status('registry.k8s.io/x/busybox:1.0')).image;
      assert.equal(image?.id, id);
      assert.deepEqual(image?.repo_tags, ['registry.k8s.io/x/busybox:1.0']);
      assert.match(image?.repo_digests[0] ?? '', /^registry\.k8s\.io\/x\/busybox@sha256:[0-9a-f]{64}$/);
      assert.deepEqual(image?.uid, { value: '1000' });
      assert.equal(image?.username, '');
      // Removed by its repo digest.
      await s.remove(image?.repo_digests[0] ?? '');
      assert.equal((await s.status(id)).image, null);
      assert.deepEqual(await s.list(), []);
      // Other registries are asked themselves: the plain one has no tag 2.0 of x/busybox.
      await rejects(s.pull(`${plain}/x/busybox:2.0`), grpc.status.NOT_FOUND, /x\/busybox/);
      await s.stop();
    });

    it('pulls from a registry that wants a password with the request AuthConfig (username/password, or auth)', async () => {
      const s = await service('auth', [], { SSL_CERT_FILE: ca });
      const name = `${secured}/test/busybox:uidgid`;
      await rejects(s.pull(name), grpc.status.PERMISSION_DENIED, /test\/busybox/);
      await rejects(s.pull(name, { username: 'testuser', password: 'wrong' }), grpc.status.PERMISSION_DENIED);
      const user = env.registries.htpasswd.D2A_REGISTRY_USER ?? '';
      const password = env.registries.htpasswd.D2A_REGISTRY_PASSWORD ?? '';
      const { image_ref: id } = await s.pull(name, { username: user, password });
      assert.deepEqual((await s.status(name)).image?.repo_tags, [name]);
      await s.remove(id);
      assert.deepEqual(await s.list(), []);
      const auth = Buffer.from(`${user}:${password}`).toString('base64');
      assert.equal((await s.pull(name, { auth })).image_ref, id);
      // Removed by a prefix of its id.
      await s.remove(id.slice(0, 20));
      assert.deepEqual(await s.list(), []);
      await s.stop();
    });

    it('bad image names are InvalidArgument, unknown images are NotFound for a pull and empty for a status', async () => {
      const s = await service('errors');
      for (const bad of [
        '',
        'Upper/Case',
        `${plain}/test/busybox:bad tag`,
        'docker://busybox',
        'x@sha256:12',
      ]) {
        await rejects(s.pull(bad), grpc.status.INVALID_ARGUMENT);
      }
      await rejects(s.status('Upper/Case'), grpc.status.INVALID_ARGUMENT, /Upper\/Case/);
      await rejects(s.remove(''), grpc.status.INVALID_ARGUMENT);
      await rejects(s.pull(`${plain}/test/busybox:nosuchtag`), grpc.status.NOT_FOUND, /nosuchtag/);
      await rejects(s.pull(`${plain}/test/nosuchrepo:latest`), grpc.status.NOT_FOUND, /nosuchrepo/);
      // Nothing listens on the loopback's port 1: the registry cannot be reached.
      await rejects(s.pull('127.0.0.1:1/test/busybox:latest'), grpc.status.UNAVAILABLE, /127\.0\.0\.1:1/);
      assert.equal((await s.status(`${plain}/test/busybox:latest`)).image, null);
      assert.equal((await s.status('sha512-0123456789')).image, null);
      assert.deepEqual(await s.list(`${plain}/test/busybox:latest`), []);
      assert.deepEqual(await s.list(), []);
      await s.stop();
    });

    it("serves the stand-ins of critest's image specs (test/env/cri-images.sh) through a gcr.io mirror as the suite expects", async () => {
      const made = spawnSync('bash', [join(testenvDir, 'cri-images.sh'), '--registry', plain], {
        encoding: 'utf8',
        env: { ...process.env, D2A_TESTENV_DIR: env.dir },
      });
      assert.equal(made.status, 0, made.stderr);
      assert.match(made.stdout, new RegExp(`CRI_IMAGES_PREFIX=${plain}/k8s-staging-cri-tools`));
      const s = await service('critest', [`--registry-mirror=gcr.io=http://${plain}`]);
      const r = 'gcr.io/k8s-staging-cri-tools/';
      // "image status get image fields should not have Uid|Username empty"
      for (const [name, uid, username] of [
        ['test-image-user-uid', '1002', ''],
        ['test-image-user-username', undefined, 'www-data'],
        ['test-image-user-uid-group', '1003', ''],
        ['test-image-user-username-group', undefined, 'www-data'],
      ] as const) {
        await s.pull(`${r}${name}:latest`);
        const image = (await s.status(`${r}${name}:latest`)).image;
        assert.deepEqual(image?.uid ?? undefined, uid === undefined ? undefined : { value: uid }, name);
        assert.equal(image?.username, username, name);
      }
      // "listImage should get exactly 3 image in the result list"
      const three = ['1', '2', '3'].map((n) => `${r}test-image-${n}:latest`);
      const ids = await Promise.all(three.map(async (n) => (await s.pull(n)).image_ref));
      assert.equal(new Set(ids).size, 3);
      for (const [i, id] of ids.entries())
        assert.deepEqual((await s.status(id)).image?.repo_tags, [three[i]]);
      // "listImage should get exactly 3 repoTags in the result image"
      const tags = ['1', '2', '3'].map((n) => `${r}test-image-tags:${n}`);
      const same = new Set(await Promise.all(tags.map(async (n) => (await s.pull(n)).image_ref)));
      assert.equal(same.size, 1);
      assert.deepEqual((await s.status([...same][0] ?? '')).image?.repo_tags, tags);
      // "image status should support all kinds of references"
      await s.pull(`${r}test-image-tag:all`);
      const status = (await s.status(`${r}test-image-tag:all`)).image;
      assert.ok(status !== null);
      for (const name of [status.id, ...status.repo_tags, ...status.repo_digests])
        assert.deepEqual((await s.status(name)).image, status, name);
      await s.stop();
    });

    it('makes the socket directory; a live socket is an error (254, one line), a stale one is replaced', async () => {
      const dir = join(work, 'sockets', 'not', 'there');
      const first = new Service(dir, pkg, [`--cni-conf-dir=${join(work, 'sockets', 'net.d')}`]);
      services.push(first);
      await first.start();
      assert.equal(statSync(first.sock).mode & 0o777, 0o600);
      const r = spawnSync(
        rktBin,
        [`--dir=${join(work, 'sockets', 'data2')}`, 'cri-service', `--listen=unix://${first.sock}`],
        { encoding: 'utf8' },
      );
      assert.equal(r.status, 254, r.stderr);
      assert.match(r.stderr, /another process is listening/);
      assert.equal(r.stderr.trim().split('\n').length, 1, r.stderr);
      // Killed: the socket stays behind, and the next service replaces it.
      first.kill();
      await first.proc?.done;
      first.proc = undefined;
      assert.ok(statSync(first.sock).isSocket());
      const second = new Service(dir, pkg, [`--cni-conf-dir=${join(work, 'sockets', 'net.d')}`]);
      services.push(second);
      await second.start();
      assert.equal(statSync(second.sock).mode & 0o777, 0o600);
      const v = await unary<Record<string, string>>(second.runtime, 'Version', { version: '0.1.0' });
      assert.equal(v.runtime_name, 'rocket');
      await second.stop();
    });

    it('bad flags fail with one line and exit 254 before anything listens', () => {
      const dir = join(work, 'flags');
      mkdirSync(dir);
      for (const [flag, word] of [
        ['--listen=127.0.0.1:1234', '--listen'],
        ['--registry-mirror=registry.k8s.io', '--registry-mirror'],
        ['--registry-mirror=registry.k8s.io=ftp://x', '--registry-mirror'],
        ['--stream-address=nohost', '--stream-address'],
        ['--stream-port=70000', '--stream-port'],
        ['--runtime=kata', '--runtime'],
        ['--cni-bin-dir=/usr/lib/cni::/opt/cni/bin', '--cni-bin-dir'],
      ] as const) {
        const r = spawnSync(
          rktBin,
          [`--dir=${join(dir, 'data')}`, 'cri-service', `--listen=unix://${join(dir, 's')}`, flag],
          {
            encoding: 'utf8',
          },
        );
        assert.equal(r.status, 254, `${flag}: ${r.stderr}`);
        assert.ok(r.stderr.includes(word), r.stderr);
        assert.equal(r.stderr.trim().split('\n').length, 1, r.stderr);
      }
    });
  },
);
