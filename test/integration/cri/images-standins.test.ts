/**
 * The stand-ins of test/env/cri-images.sh for the images the CRI validation suite (critest v1.29)
 * runs, checked as root for what the suite relies on: served under the upstream names (Docker
 * manifest lists for registry.k8s.io), pulled through `rkt cri-service --registry-mirror`, and run
 * as pods with bin/rkt: the busybox applets the suite calls (pgrep, ipcs -m as shell stand-ins),
 * the setuid nnp program with and without no_new_privs, pause until SIGTERM, the nginx stand-in
 * (master process title, /var/run/nginx.pid, port 80; hostnet-nginx on 12003), httpd's log line
 * and port 80, and the predefined group. Pods have no network of their own (`--net=none`): every
 * request goes to 127.0.0.1 inside the pod's namespace. Pods are stopped and gc'd, the registry
 * stopped by pid.
 */
import assert from 'node:assert/strict';
import { spawnSync, type ChildProcess } from 'node:child_process';
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import * as grpc from '@grpc/grpc-js';
import { loadCriPackage } from '../../../src/cri/proto.js';
import { unmountUnder } from '../../../src/pod/index.js';
import { podCgroupDirs } from '../../../src/stage1/oci/engine.js';
import { which } from '../../../src/stage1/oci/runtime.js';
import { projectRoot, type Running, skipUnlessCI, startCollected, waitFor } from '../../helpers.js';
import { podTestsMissing } from '../busybox-aci.js';
import { startTestenv, testenvDir, testenvMissing, type Testenv } from '../docker-sources/testenv.js';
import { startCriService, unary } from './fixture.js';

const rktBin = join(projectRoot, 'bin', 'rkt');
/** Whether a .deb of Debian's busybox package is where cri-images.sh looks for one. */
const busyboxDeb = [join(projectRoot, '.cache', 'debs'), '/var/cache/apt/archives'].some((d) => {
  try {
    return readdirSync(d).some((f) => /^busybox_.*_amd64\.deb$/.test(f));
  } catch {
    return false;
  }
});
const skip =
  podTestsMissing !== false
    ? podTestsMissing
    : testenvMissing !== false
      ? testenvMissing
      : which('go') === undefined
        ? 'needs go (golang-go: cri-images.sh builds its stand-in programs)'
        : which('ipcmk') === undefined || which('unshare') === undefined
          ? 'needs ipcmk and unshare (util-linux)'
          : !busyboxDeb
            ? "needs the .deb of Debian's busybox in .cache/debs (scripts/setup.sh downloads it)"
            : false;

const K8S = 'registry.k8s.io/';
const E2E = `${K8S}e2e-test-images/`;
const GCR = 'gcr.io/k8s-staging-cri-tools/';
/** What critest v1.29 pulls for its runtime specs, with the uid of the images that name a user. */
const RUNTIME_IMAGES: [name: string, uid: string | undefined][] = [
  [`${K8S}pause:3.6`, '65535'],
  [`${E2E}busybox:1.29-2`, undefined],
  [`${E2E}nginx:1.14-2`, undefined],
  [`${E2E}httpd:2.4.39-4`, undefined],
  [`${E2E}nonewprivs:1.3`, undefined],
  [`${GCR}hostnet-nginx-amd64`, undefined],
  [`${GCR}test-image-predefined-group`, '1000'],
];
/** The busybox applets critest's specs run in its busybox image. */
const SUITE_APPLETS = [
  'sh',
  'top',
  'sleep',
  'echo',
  'ls',
  'cat',
  'id',
  'grep',
  'touch',
  'mkdir',
  'chmod',
  'hostname',
  'pidof',
  'pgrep',
  'ipcs',
  'netstat',
  'brctl',
  'ping',
  'mount',
  'wget',
  'su',
  'setpriv',
];

describe(
  "critest's image stand-ins (test/env/cri-images.sh)",
  { skip: skipUnlessCI(skip, 'critest stand-in image tests') },
  () => {
    let work: string;
    let data: string;
    let env: Testenv;
    /** The plain-http registry, HOST:PORT. */
    let reg: string;
    const children = new Set<ChildProcess>();
    const pods = new Set<string>();

    before(async () => {
      work = mkdtempSync(join(tmpdir(), 'rocket-cri-standins-'));
      data = join(work, 'data');
      env = await startTestenv();
      reg = env.registries.none.D2A_REGISTRY ?? '';
      const made = spawnSync('bash', [join(testenvDir, 'cri-images.sh'), '--registry', reg], {
        encoding: 'utf8',
        env: { ...process.env, D2A_TESTENV_DIR: env.dir },
      });
      assert.equal(made.status, 0, made.stderr);
      assert.match(made.stdout, new RegExp(`^export CRI_IMAGES_REGISTRY=${reg}$`, 'm'));
    });

    after(async () => {
      for (const uuid of pods)
        for (const force of [[], ['--force']])
          spawnSync(rktBin, [`--dir=${data}`, 'stop', ...force, uuid], { stdio: 'ignore' });
      for (const c of children) {
        await new Promise<void>((resolve) => {
          if (c.exitCode !== null || c.signalCode !== null) resolve();
          else c.once('close', () => resolve());
        });
      }
      for (let i = 0; i < 2; i++)
        spawnSync(rktBin, [`--dir=${data}`, 'gc', '--grace-period=0s', '--expire-prepared=0s'], {
          stdio: 'ignore',
        });
      unmountUnder(work);
      for (const uuid of pods) for (const d of podCgroupDirs(`rkt-${uuid}`)) spawnSync('rmdir', [d]);
      await env?.stop();
      rmSync(work, { recursive: true, force: true });
    });

    /** docker:// reference of an upstream name on the test registry. */
    const local = (name: string): string =>
      `docker://${reg}/${name.replace(/^(registry\.k8s\.io|gcr\.io)\//, '')}`;

    const rkt = (...args: string[]): Promise<{ code: number; stdout: string; stderr: string }> =>
      startCollected(rktBin, [`--dir=${data}`, '--insecure-options=image,http', ...args], { children }).done;

    /** `rkt run --net=none IMAGE ARGS...` to its end; its output. */
    const runPod = async (image: string, ...args: string[]): Promise<string> => {
      const r = await rkt('run', '--net=none', local(image), ...args);
      assert.equal(r.code, 0, r.stderr);
      return r.stdout;
    };

    /** A pod left running in the background, and `rkt enter` into it. */
    const startPod = async (
      image: string,
      ...args: string[]
    ): Promise<{ uuid: string; proc: Running; enter: (script: string) => Promise<string> }> => {
      const uuidFile = join(work, `uuid-${pods.size}-${Date.now()}`);
      const proc = startCollected(
        rktBin,
        [
          `--dir=${data}`,
          '--insecure-options=image,http',
          'run',
          '--net=none',
          `--uuid-file-save=${uuidFile}`,
          local(image),
          ...args,
        ],
        { children },
      );
      let ended = false;
      void proc.exited.then(() => (ended = true));
      await waitFor(
        `${image} pod to start`,
        () => {
          if (ended) return true;
          if (!existsSync(uuidFile) || readFileSync(uuidFile, 'utf8').trim() === '') return false;
          const st = spawnSync(rktBin, [`--dir=${data}`, 'status', readFileSync(uuidFile, 'utf8').trim()], {
            encoding: 'utf8',
          });
          return /^state=running$/m.test(st.stdout);
        },
        60_000,
      );
      assert.ok(!ended, `${image} pod ended: ${proc.stderr()}`);
      const uuid = readFileSync(uuidFile, 'utf8').trim();
      pods.add(uuid);
      const enter = async (script: string): Promise<string> => {
        const r = await startCollected(rktBin, [`--dir=${data}`, 'enter', uuid, '/bin/sh', '-c', script], {
          children,
        }).done;
        assert.equal(r.code, 0, `${script}: ${r.stderr}`);
        return r.stdout;
      };
      return { uuid, proc, enter };
    };

    /** `rkt stop`; the pod's app must have exited 0. */
    const stopPod = async (uuid: string, proc: Running, app: string): Promise<void> => {
      const r = spawnSync(rktBin, [`--dir=${data}`, 'stop', uuid], { encoding: 'utf8' });
      assert.equal(r.status, 0, r.stderr);
      const done = await proc.done;
      assert.equal(done.code, 0, done.stderr);
      const st = spawnSync(rktBin, [`--dir=${data}`, 'status', uuid], { encoding: 'utf8' });
      assert.match(st.stdout, new RegExp(`^app-${app}=0$`, 'm'), st.stdout);
    };

    /** Waits inside the pod (up to 20 s) until `cond` holds, then prints `out`. */
    const until = (cond: string, out: string): string =>
      `timeout 20 sh -c 'until ${cond}; do sleep 0.1; done' && ${out}`;

    it('serves the registry.k8s.io names as Docker manifest lists with one linux/amd64 entry, hostnet-nginx-amd64 as a plain manifest', async () => {
      const accept = [
        'application/vnd.docker.distribution.manifest.list.v2+json',
        'application/vnd.docker.distribution.manifest.v2+json',
        'application/vnd.oci.image.index.v1+json',
        'application/vnd.oci.image.manifest.v1+json',
      ].join(', ');
      const manifest = async (repo: string, tag: string): Promise<Record<string, unknown>> => {
        const res = await fetch(`http://${reg}/v2/${repo}/manifests/${tag}`, { headers: { accept } });
        assert.equal(res.status, 200, `${repo}:${tag}`);
        return (await res.json()) as Record<string, unknown>;
      };
      for (const [repo, tag] of [
        ['pause', '3.6'],
        ['e2e-test-images/busybox', '1.29-2'],
        ['e2e-test-images/nginx', '1.14-2'],
        ['e2e-test-images/httpd', '2.4.39-4'],
        ['e2e-test-images/nonewprivs', '1.3'],
        ['k8s-staging-cri-tools/test-image-predefined-group', 'latest'],
      ] as const) {
        const m = await manifest(repo, tag);
        assert.equal(m.mediaType, 'application/vnd.docker.distribution.manifest.list.v2+json', repo);
        assert.deepEqual(
          (m.manifests as { platform: object }[]).map((e) => e.platform),
          [{ architecture: 'amd64', os: 'linux' }],
          repo,
        );
      }
      const hostnet = await manifest('k8s-staging-cri-tools/hostnet-nginx-amd64', 'latest');
      assert.equal(hostnet.mediaType, 'application/vnd.docker.distribution.manifest.v2+json');
    });

    it('rkt cri-service pulls each one under its upstream name through --registry-mirror for registry.k8s.io and gcr.io', async () => {
      const dir = join(work, 'cri');
      const sock = join(dir, 'cri.sock');
      const svc = await startCriService({
        data: join(dir, 'data'),
        sock,
        args: [
          `--cni-conf-dir=${join(dir, 'net.d')}`,
          `--registry-mirror=registry.k8s.io=http://${reg}`,
          `--registry-mirror=gcr.io=http://${reg}`,
        ],
        children,
      });
      const pkg = await loadCriPackage();
      const images = new pkg.ImageService(`unix://${sock}`, grpc.credentials.createInsecure());
      try {
        for (const [name, uid] of RUNTIME_IMAGES) {
          const { image_ref: id } = await unary<{ image_ref: string }>(images, 'PullImage', {
            image: { image: name },
          });
          const { image } = await unary<{
            image: { id: string; repo_tags: string[]; uid: { value: string } | null } | null;
          }>(images, 'ImageStatus', { image: { image: name } });
          assert.equal(image?.id, id, name);
          assert.deepEqual(image?.repo_tags, [name.includes(':') ? name : `${name}:latest`], name);
          if (uid !== undefined) assert.deepEqual(image?.uid, { value: uid }, name);
        }
      } finally {
        images.close();
        svc.child.kill('SIGTERM');
      }
      assert.equal((await svc.done).code, 0);
    });

    it('busybox: every applet the suite runs, as hard links (a masked /bin/ls leaves sh alone); a shell that goes through PATH; pgrep finds a sleep but not itself; nobody is 65534', async () => {
      const out = await runPod(
        `${E2E}busybox:1.29-2`,
        '--user=65534',
        '--exec=/bin/sh',
        '--',
        '-c',
        `for a in ${SUITE_APPLETS.join(' ')}; do command -v $a >/dev/null || echo "missing $a"; done
         bb=$(stat -c %i /bin/busybox)
         for a in ls top cat; do [ ! -L /bin/$a ] && [ "$(stat -c %i /bin/$a)" = "$bb" ] || echo "/bin/$a: not a hard link"; done
         /bin/sh -c 'PATH=/nonexistent; ls' 2>&1; echo "rc=$?"
         id -nu
         sleep 100 & s=$!
         until [ "$(cat /proc/$s/comm)" = sleep ]; do :; done
         echo "sleep $s pgrep $(pgrep sleep | tr '\\n' ' ')"
         pgrep pgrep || echo "no pgrep"
         kill $s; wait $s
         pgrep sleep || echo "no sleep"`,
      );
      const lines = out.trim().split('\n');
      // The shell runs commands through PATH, never as its own applets (so a masked /bin/ls is
      // what runs): Debian's dynamic busybox, not busybox-static's standalone shell.
      assert.deepEqual(lines.slice(0, 2), ['/bin/sh: ls: not found', 'rc=127'], out);
      assert.equal(lines[2], 'nobody', out);
      const m = /^sleep (\d+) pgrep (\d+) $/.exec(lines[3] ?? '');
      assert.ok(m !== null && m[1] === m[2], out);
      assert.deepEqual(lines.slice(4), ['no pgrep', 'no sleep'], out);
    });

    it('busybox: the ipcs -m stand-in lists the shared memory segments util-linux ipcs lists', async () => {
      const rootfs = join(work, 'busybox-rootfs');
      const fetched = await rkt('fetch', local(`${E2E}busybox:1.29-2`));
      assert.equal(fetched.code, 0, fetched.stderr);
      const got = await rkt('image', 'extract', '--rootfs-only', fetched.stdout.trim(), rootfs);
      assert.equal(got.code, 0, got.stderr);
      // A fresh IPC namespace with one segment: both tools run in it.
      const r = spawnSync(
        'unshare',
        [
          '--ipc',
          'sh',
          '-c',
          `ipcmk -M 8192 >/dev/null && echo UTIL && ipcs -m && echo STANDIN && ${rootfs}/bin/busybox sh ${rootfs}/bin/ipcs -m`,
        ],
        { encoding: 'utf8' },
      );
      assert.equal(r.status, 0, r.stderr);
      const [util, standin] = r.stdout.split('STANDIN\n') as [string, string];
      const rows = (text: string): string[][] =>
        text
          .split('\n')
          .filter((l) => /^0x[0-9a-f]{8} /.test(l))
          .map((l) => l.trim().split(/\s+/));
      const want = rows(util.replace('UTIL\n', ''));
      assert.equal(want.length, 1, util);
      // key, shmid, owner, perms, bytes, nattch: the same columns as util-linux.
      assert.deepEqual(
        rows(standin),
        want.map((w) => w.slice(0, 6)),
      );
      assert.match(standin, /^key +shmid +owner +perms +bytes +nattch +status$/m);
    });

    it('nonewprivs: nnp is setuid root; it prints effective uid 0 for another user, and that user without privilege escalation', async () => {
      const out = await runPod(
        `${E2E}nonewprivs:1.3`,
        '--exec=/bin/sh',
        '--',
        '-c',
        `stat -c '%a %u %g' /usr/local/bin/nnp
         /usr/local/bin/nnp
         su -s /bin/sh -c /usr/local/bin/nnp nobody
         su -s /bin/sh -c 'setpriv --nnp /usr/local/bin/nnp' nobody`,
      );
      assert.deepEqual(out.trim().split('\n'), [
        '4755 0 0',
        'Effective uid: 0',
        'Effective uid: 0',
        'Effective uid: 65534',
      ]);
      // Its entrypoint, as the suite runs it.
      assert.equal(await runPod(`${E2E}nonewprivs:1.3`), 'Effective uid: 0\n');
    });

    it('pause: runs until SIGTERM, then exits 0', async () => {
      const { uuid, proc } = await startPod(`${K8S}pause:3.6`);
      await waitFor('pause to be ready', () => proc.stderr().includes('pause: waiting for SIGTERM'));
      await stopPod(uuid, proc, 'pause');
      assert.match(proc.stderr(), /pause: shutting down on terminated/);
    });

    it('nginx: "nginx: master process" as pid 1, its pid in /var/run/nginx.pid for pidof nginx, the page on port 80; exits 0 on SIGTERM', async () => {
      const { uuid, proc, enter } = await startPod(`${E2E}nginx:1.14-2`);
      const out = await enter(
        until(
          '[ -f /var/run/nginx.pid ] && wget -q -O /dev/null http://127.0.0.1/',
          `cat /var/run/nginx.pid; pidof nginx; tr '\\0' ' ' < /proc/1/cmdline; echo; wget -q -O - http://127.0.0.1/`,
        ),
      );
      const [pidFile, pidof, cmdline] = out.split('\n');
      assert.equal(pidFile, '1', out);
      assert.equal(pidof, '1', out);
      assert.equal(cmdline, 'nginx: master process nginx -g daemon off; ', out);
      assert.match(out, /Welcome to nginx!/);
      await stopPod(uuid, proc, 'nginx');
    });

    it('hostnet-nginx: the nginx stand-in on port 12003', async () => {
      const { uuid, proc, enter } = await startPod(`${GCR}hostnet-nginx-amd64`);
      const out = await enter(
        until(
          'wget -q -O /dev/null http://127.0.0.1:12003/',
          'wget -q -O - http://127.0.0.1:12003/; wget -q -O - http://127.0.0.1:80/ || echo "nothing on 80"',
        ),
      );
      assert.match(out, /Welcome to nginx![\s\S]*nothing on 80/);
      await stopPod(uuid, proc, 'hostnet-nginx-amd64');
    });

    it('httpd: logs "httpd -D FOREGROUND" and serves port 80', async () => {
      const { uuid, proc, enter } = await startPod(`${E2E}httpd:2.4.39-4`);
      await waitFor('the httpd start-up line', () => proc.stderr().includes("'httpd -D FOREGROUND'"));
      const out = await enter(
        until('wget -q -O /dev/null http://127.0.0.1/', 'wget -q -O - http://127.0.0.1/; echo httpd'),
      );
      assert.match(out, /It works![\s\S]*httpd\n$/);
      await stopPod(uuid, proc, 'httpd');
      assert.match(proc.stderr(), /caught SIGTERM, shutting down/);
    });

    it('test-image-predefined-group: runs as default-user (1000), a member of group-defined-in-image (50000)', async () => {
      const out = await runPod(
        `${GCR}test-image-predefined-group`,
        '--exec=/bin/sh',
        '--',
        '-c',
        'id -u; id -G default-user; grep :50000: /etc/group',
      );
      assert.deepEqual(out.trim().split('\n'), [
        '1000',
        '1000 50000',
        'group-defined-in-image:x:50000:default-user',
      ]);
    });
  },
);
