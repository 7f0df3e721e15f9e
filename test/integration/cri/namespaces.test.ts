/**
 * The CRI's namespace options, masked and read-only paths and mount propagation, as root, with
 * crun and with runc: bin/rkt cri-service in a network namespace the test made (`unshare --net`),
 * on a data dir holding a busybox ACI. A sandbox's pid `POD` gives its containers one PID
 * namespace (the pod's, whose pid 1 is not theirs), `CONTAINER` each its own, `NODE` the host's;
 * ipc `NODE` shows the host's SysV segments; a container's masked and read-only paths; a host path
 * mount with bidirectional and host-to-container propagation (the test's mounts on the host seen
 * in the container, the container's seen on the host only when bidirectional), and one refused
 * on a private host mount. Nothing is left after removal (processes, mounts).
 */
import assert from 'node:assert/strict';
import { spawnSync, type ChildProcess } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, readdirSync, readlinkSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import * as grpc from '@grpc/grpc-js';
import { loadCriPackage } from '../../../src/cri/proto.js';
import { unmountUnder } from '../../../src/pod/index.js';
import { skipUnlessCI, waitFor, type Running } from '../../helpers.js';
import { buildBusyboxAci } from '../busybox-aci.js';
import {
  cleanUp,
  criPodTestsMissing,
  fetchAci,
  rejects,
  startCriService,
  stopCriService,
  unary,
  uuidOf,
} from './fixture.js';

const children = new Set<ChildProcess>();

/** Pids of the host's processes whose command line (NUL-separated) matches. */
function pidsOf(match: (cmdline: string) => boolean): number[] {
  const out: number[] = [];
  for (const p of readdirSync('/proc')) {
    if (!/^\d+$/.test(p)) continue;
    try {
      if (match(readFileSync(`/proc/${p}/cmdline`, 'utf8'))) out.push(Number(p));
    } catch {
      // gone meanwhile
    }
  }
  return out;
}

function sh(cmd: string, args: string[]): string {
  const r = spawnSync(cmd, args, { encoding: 'utf8' });
  assert.equal(r.status, 0, `${cmd} ${args.join(' ')}: ${r.stderr}`);
  return r.stdout;
}

for (const runtime of ['crun', 'runc'] as const) {
  const missing = criPodTestsMissing(runtime, [['ipcmk', 'needs ipcmk (util-linux)']]);

  describe(
    `rkt cri-service: namespaces, masked paths, mount propagation (${runtime})`,
    { skip: skipUnlessCI(missing, 'cri namespace tests') },
    () => {
      let work: string;
      let data: string;
      let imageId: string;
      let service: Running | undefined;
      let rt!: grpc.Client;
      const sandboxes = new Set<string>();
      const segments: string[] = [];

      before(async () => {
        const pkg = await loadCriPackage();
        work = mkdtempSync(join(tmpdir(), `cri-ns-${runtime}-`));
        data = join(work, 'd');
        const aci = buildBusyboxAci(work, 'cri-ns-busybox', {
          applets: ['sh', 'cat', 'sleep', 'ls', 'touch', 'mkdir', 'mount', 'readlink'],
          dirs: ['tmp', 'proc', 'sys', 'dev', 'data'],
          files: { 'etc/secret': 'the-secret\n' },
          app: { exec: ['/bin/sleep', '1000'] },
        });
        imageId = fetchAci(data, aci);
        const sock = join(work, 'cri.sock');
        service = await startCriService({
          data,
          sock,
          wrapper: ['unshare', '--net', '--'],
          args: [`--runtime=${runtime}`],
          children,
        });
        rt = new pkg.RuntimeService(`unix://${sock}`, grpc.credentials.createInsecure());
      });

      after(async () => {
        for (const id of segments) spawnSync('ipcrm', ['-m', id], { stdio: 'ignore' });
        if (service !== undefined) {
          rt.close();
          await stopCriService(service).catch(() => undefined);
        }
        await cleanUp(work, data, sandboxes, children);
      });

      const runSandbox = async (name: string, namespaceOptions?: object): Promise<string> => {
        const res = await unary<{ pod_sandbox_id: string }>(rt, 'RunPodSandbox', {
          config: {
            metadata: { name, uid: `uid-${name}`, namespace: 'default', attempt: 0 },
            ...(namespaceOptions !== undefined
              ? { linux: { security_context: { namespace_options: namespaceOptions } } }
              : {}),
          },
        });
        sandboxes.add(res.pod_sandbox_id);
        return res.pod_sandbox_id;
      };
      const nsOptions = async (sb: string): Promise<{ network: string; pid: string; ipc: string }> =>
        (
          await unary<{
            status: { linux: { namespaces: { options: { network: string; pid: string; ipc: string } } } };
          }>(rt, 'PodSandboxStatus', { pod_sandbox_id: sb })
        ).status.linux.namespaces.options;
      const create = async (sb: string, config: object): Promise<string> =>
        (
          await unary<{ container_id: string }>(rt, 'CreateContainer', {
            pod_sandbox_id: sb,
            config: { image: { image: imageId }, ...config },
          })
        ).container_id;
      /** Creates and starts a container running `sleep SECONDS` (its mark among the processes). */
      const started = async (
        sb: string,
        name: string,
        seconds: number,
        extra: object = {},
      ): Promise<string> => {
        const id = await create(sb, {
          metadata: { name, attempt: 0 },
          command: ['/bin/sleep', String(seconds)],
          ...extra,
        });
        await unary(rt, 'StartContainer', { container_id: id });
        return id;
      };
      const exec = async (
        id: string,
        cmd: string[],
      ): Promise<{ stdout: string; stderr: string; exit_code: number }> => {
        const r = await unary<{ stdout: Buffer; stderr: Buffer; exit_code: number }>(rt, 'ExecSync', {
          container_id: id,
          cmd,
          timeout: 30,
        });
        return { stdout: r.stdout.toString(), stderr: r.stderr.toString(), exit_code: r.exit_code };
      };
      const remove = async (sb: string): Promise<void> => {
        await unary(rt, 'RemovePodSandbox', { pod_sandbox_id: sb });
        const uuid = uuidOf(sb);
        assert.ok(!readFileSync('/proc/self/mountinfo', 'utf8').includes(uuid), 'mounts of the pod left');
        // Its supervisor and the holder of its PID namespace name the pod dir.
        assert.deepEqual(
          pidsOf((c) => c.includes(uuid)),
          [],
          'processes of the pod left',
        );
        sandboxes.delete(sb);
      };

      it("pid POD: the sandbox's containers share one PID namespace whose pid 1 is the pod's; CONTAINER: each its own; NODE: the host's", async () => {
        const pod = await runSandbox('pidpod', { pid: 'POD' });
        const own = await runSandbox('pidown', { pid: 'CONTAINER' });
        const node = await runSandbox('pidnode', { pid: 'NODE', ipc: 'POD' });
        const { network, pid, ipc } = await nsOptions(pod);
        assert.deepEqual({ network, pid, ipc }, { network: 'POD', pid: 'POD', ipc: 'POD' });
        assert.equal((await nsOptions(own)).pid, 'CONTAINER');
        assert.equal((await nsOptions(node)).pid, 'NODE');

        const a = await started(pod, 'a', 1001);
        const b = await started(pod, 'b', 1002);
        // Command lines with their NULs as spaces.
        const cmdline = async (id: string, file: string): Promise<string> =>
          (await exec(id, ['/bin/cat', file])).stdout.split('\0').join(' ');
        const seen = async (id: string): Promise<string> =>
          (await exec(id, ['/bin/sh', '-c', 'for f in /proc/[0-9]*/cmdline; do cat "$f"; echo; done'])).stdout
            .split('\0')
            .join(' ');
        for (const id of [a, b]) {
          const s = await seen(id);
          assert.match(s, /sleep 1001/, 'a is seen');
          assert.match(s, /sleep 1002/, 'b is seen');
          assert.match(await cmdline(id, '/proc/1/cmdline'), /^sh -c .* rkt-pod $/);
        }
        const c = await started(own, 'c', 1003);
        assert.equal(await cmdline(c, '/proc/1/cmdline'), '/bin/sleep 1003 ');
        assert.doesNotMatch(await seen(c), /sleep 100[12]/);
        // TARGET: another container's PID namespace (as kubectl debug's ephemeral containers).
        const t = await started(own, 't', 1010, {
          linux: { security_context: { namespace_options: { pid: 'TARGET', target_id: c } } },
        });
        assert.equal(await cmdline(t, '/proc/1/cmdline'), '/bin/sleep 1003 ');
        assert.match(await seen(t), /sleep 1010/);
        await rejects(
          create(own, {
            metadata: { name: 'u', attempt: 0 },
            linux: { security_context: { namespace_options: { pid: 'TARGET', target_id: `${own}-none-0` } } },
          }),
          grpc.status.NOT_FOUND,
          /target_id: container/,
        );
        const d = await started(node, 'd', 1004);
        assert.equal(
          (await exec(d, ['/bin/readlink', '/proc/self/ns/pid'])).stdout.trim(),
          readlinkSync('/proc/self/ns/pid'),
        );
        assert.match(await seen(d), /sleep 1001/, "the host's processes are seen");
        // A host-PID container whose main process ends on TERM and leaves a child: the stop's KILL
        // reaches every process of the container (the runtime's kill --all), not only its gone pid 1,
        // so the stop ends and leaves nothing.
        const orphan = await create(node, {
          metadata: { name: 'orphan', attempt: 0 },
          command: ['/bin/sh', '-c', 'trap "exit 0" TERM; /bin/sleep 1005 & wait'],
        });
        await unary(rt, 'StartContainer', { container_id: orphan });
        const child = (): number[] => pidsOf((c) => c === '/bin/sleep\x001005\x00');
        await waitFor("the container's child", () => child().length === 1);
        await unary(rt, 'StopContainer', { container_id: orphan, timeout: 1 });
        assert.deepEqual(child(), [], 'the child of the stopped container left');
        // A container asking for the pod's PID namespace in a sandbox without one.
        await rejects(
          create(own, {
            metadata: { name: 'e', attempt: 0 },
            linux: { security_context: { namespace_options: { pid: 'POD' } } },
          }),
          grpc.status.INVALID_ARGUMENT,
          /no pod-wide PID namespace/,
        );
        // The pod's PID namespace ends with its supervisor, also a killed one, and its containers with it.
        const uuid = uuidOf(pod);
        const holder = (): number[] => pidsOf((c) => c.includes(`${uuid}/ns-pid`));
        assert.equal(holder().length, 1);
        process.kill(Number(readFileSync(join(data, 'pods', 'run', uuid, 'pid'), 'utf8').trim()), 'SIGKILL');
        await waitFor('the PID namespace holder to end', () => holder().length === 0);
        await waitFor(
          'the containers to end',
          () => pidsOf((c) => c === '/bin/sleep\x001001\x00' || c === '/bin/sleep\x001002\x00').length === 0,
        );
        for (const sb of [pod, own, node]) await remove(sb);
        for (const n of [1001, 1002, 1003, 1004, 1010])
          assert.deepEqual(
            pidsOf((c) => c === `/bin/sleep\0${n}\0`),
            [],
          );
      });

      it("ipc NODE: the host's SysV shared memory segments are seen; POD: they are not", async () => {
        const out = sh('ipcmk', ['-M', '4096']);
        const id = /(\d+)\s*$/.exec(out.trim())?.[1] ?? '';
        assert.notEqual(id, '', out);
        segments.push(id);
        const host = await runSandbox('ipchost', { ipc: 'NODE' });
        const pod = await runSandbox('ipcpod', { ipc: 'POD' });
        assert.equal((await nsOptions(host)).ipc, 'NODE');
        assert.equal((await nsOptions(pod)).ipc, 'POD');
        const segment = new RegExp(`^\\s*-?\\d+\\s+${id}\\s`, 'm');
        const inHost = await started(host, 'h', 1005);
        const inPod = await started(pod, 'p', 1006);
        assert.match((await exec(inHost, ['/bin/cat', '/proc/sysvipc/shm'])).stdout, segment);
        assert.doesNotMatch((await exec(inPod, ['/bin/cat', '/proc/sysvipc/shm'])).stdout, segment);
        for (const sb of [host, pod]) await remove(sb);
      });

      it('masked and read-only paths of the security context replace the defaults', async () => {
        const sb = await runSandbox('paths');
        const set = await started(sb, 'set', 1007, {
          linux: { security_context: { masked_paths: ['/etc/secret'], readonly_paths: ['/data'] } },
        });
        const plain = await started(sb, 'plain', 1008);
        assert.equal((await exec(set, ['/bin/cat', '/etc/secret'])).stdout, '');
        const touch = await exec(set, ['/bin/touch', '/data/x']);
        assert.notEqual(touch.exit_code, 0);
        assert.match(touch.stderr, /Read-only file system/);
        // The lists replace the defaults (/proc/sys read-only, /sys/firmware masked: mounts of their own).
        const mounts = async (id: string): Promise<string> =>
          (await exec(id, ['/bin/cat', '/proc/self/mountinfo'])).stdout;
        assert.doesNotMatch(await mounts(set), / \/proc\/sys | \/sys\/firmware /);
        assert.match(await mounts(set), / \/etc\/secret /);
        assert.match(await mounts(set), / \/data ro,/);
        assert.equal((await exec(plain, ['/bin/cat', '/etc/secret'])).stdout, 'the-secret\n');
        assert.equal((await exec(plain, ['/bin/touch', '/data/x'])).exit_code, 0);
        assert.match(await mounts(plain), / \/proc\/sys /);
        assert.match(await mounts(plain), / \/sys\/firmware /);
        await remove(sb);
      });

      it('mount propagation: bidirectional both ways, host-to-container one way, refused on a private host mount', async () => {
        const prop = join(work, 'prop');
        const shared = (name: string, how: string): string => {
          const dir = join(prop, name);
          mkdirSync(dir, { recursive: true });
          sh('mount', ['--bind', dir, dir]);
          sh('mount', [how, dir]);
          return dir;
        };
        const both = shared('both', '--make-rshared');
        const one = shared('one', '--make-rshared');
        const priv = shared('priv', '--make-rprivate');
        const src = join(prop, 'src');
        mkdirSync(src, { recursive: true });
        sh('touch', [join(src, 'flag')]);
        const sb = await runSandbox('prop');
        const mountOf = async (name: string, dir: string, propagation: string): Promise<string> => {
          const id = await started(sb, name, 1009, {
            mounts: [{ container_path: dir, host_path: dir, propagation }],
            linux: { security_context: { privileged: true } },
          });
          const st = await unary<{ status: { mounts: { propagation: string }[] } }>(rt, 'ContainerStatus', {
            container_id: id,
          });
          assert.equal(st.status.mounts[0]?.propagation, propagation);
          return id;
        };
        const b = await mountOf('both', both, 'PROPAGATION_BIDIRECTIONAL');
        const o = await mountOf('one', one, 'PROPAGATION_HOST_TO_CONTAINER');
        for (const [id, dir] of [
          [b, both],
          [o, one],
        ] as const) {
          // The host mounts after the container started: the container sees it.
          mkdirSync(join(dir, 'in'));
          sh('mount', ['--bind', src, join(dir, 'in')]);
          assert.equal((await exec(id, ['/bin/ls', join(dir, 'in')])).stdout, 'flag\n');
          // The container mounts: the host sees it only with bidirectional propagation.
          const r = await exec(id, [
            '/bin/sh',
            '-c',
            `mkdir -p ${dir}/out && mount -t tmpfs tmpfs ${dir}/out && touch ${dir}/out/from-container`,
          ]);
          assert.equal(r.exit_code, 0, r.stderr);
        }
        assert.ok(existsSync(join(both, 'out', 'from-container')));
        assert.ok(existsSync(join(one, 'out')) && !existsSync(join(one, 'out', 'from-container')));
        await rejects(
          create(sb, {
            metadata: { name: 'priv', attempt: 0 },
            mounts: [{ container_path: '/p', host_path: priv, propagation: 'PROPAGATION_BIDIRECTIONAL' }],
          }),
          grpc.status.FAILED_PRECONDITION,
          /private mount: bidirectional propagation needs a shared one/,
        );
        await remove(sb);
        unmountUnder(prop);
      });
    },
  );
}
