/**
 * The CRI RuntimeService's sandboxes and containers end to end as root: bin/rkt cri-service runs in
 * a network namespace of its own (`unshare --net`, made here), on a data dir holding a busybox ACI;
 * a client generated from our src/cri/v1/api.proto goes through the kubelet's sequence for a pod of
 * two containers: statuses after each step, the CRI logs at log_path, ExecSync, stats and a resource
 * update while it runs, a stop of a container that ignores SIGTERM, the service restarted with the
 * pod running, and removal leaving nothing (pod dir, supervisor, mounts). Then: a host-network
 * sandbox, one on a CNI ptp+tuning .conflist network of --cni-conf-dir, the security context and resources seen from
 * inside a container (and an OOM kill), a sandbox whose supervisor was killed, bad requests; and,
 * with the service on the host's network (the sandbox in a namespace of its own), Exec, Attach and
 * PortForward through the streaming server with a kubelet-style SPDY client. With crun and runc.
 */
import assert from 'node:assert/strict';
import { spawnSync, type ChildProcess } from 'node:child_process';
import {
  existsSync,
  mkdirSync,
  mkdtempSync,
  readFileSync,
  readlinkSync,
  readdirSync,
  renameSync,
  rmSync,
  writeFileSync,
} from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import * as grpc from '@grpc/grpc-js';
import { loadCriPackage, type CriPackage } from '../../../src/cri/proto.js';
import { podCgroupDirs } from '../../../src/stage1/oci/engine.js';
import { skipUnlessCI, waitFor, type Running } from '../../helpers.js';
import { appState } from '../../../src/pod-layout.js';
import { forwardOnce, remoteCommand, upgrade } from '../../cri/spdy-client.js';
import { buildBusyboxAci } from '../busybox-aci.js';
import {
  cleanUp,
  criPodTestsMissing,
  fetchAci,
  rejects,
  rktBin,
  startCriService,
  stopCriService,
  unary,
  uuidOf,
} from './fixture.js';

const children = new Set<ChildProcess>();

interface SandboxStatus {
  id: string;
  state: string;
  created_at: string;
  metadata: { name: string; uid: string; namespace: string; attempt: number };
  labels: Record<string, string>;
  annotations: Record<string, string>;
  linux: { namespaces: { options: { network: string; pid: string; ipc: string } } };
}

interface ContainerStatus {
  id: string;
  state: string;
  created_at: string;
  started_at: string;
  finished_at: string;
  exit_code: number;
  reason: string;
  image: { image: string };
  image_ref: string;
  log_path: string;
  labels: Record<string, string>;
  mounts: { container_path: string; host_path: string; readonly: boolean }[];
}

/** Whether a process runs (a zombie waiting for its parent does not). */
const pidAlive = (pid: number): boolean => {
  try {
    return !/^\d+ \(.*\) Z /.test(readFileSync(`/proc/${pid}/stat`, 'utf8'));
  } catch {
    return false;
  }
};

for (const runtime of ['crun', 'runc'] as const) {
  const missing = criPodTestsMissing(runtime, [['unshare', 'needs unshare']]);

  describe(
    `rkt cri-service: sandboxes and containers (${runtime})`,
    { skip: skipUnlessCI(missing, 'cri runtime tests') },
    () => {
      let pkg: CriPackage;
      let work: string;
      let data: string;
      let sock: string;
      let imageId: string;
      let service: Running | undefined;
      let rt!: grpc.Client;
      const sandboxes = new Set<string>();

      /** Starts the service, in a network namespace of its own unless `hostNet`. */
      const start = async (hostNet = false): Promise<void> => {
        // --cni-bin-dir: the plugins the sandboxes run are these wrappers, which log their calls.
        const bin = join(work, 'cni-bin');
        if (!existsSync(bin)) {
          mkdirSync(bin);
          for (const p of readdirSync('/usr/lib/cni'))
            writeFileSync(
              join(bin, p),
              `#!/bin/sh\necho "$CNI_COMMAND ${p}\${CNI_NETNS:+ in the netns}" >>${join(work, 'cni-calls')}\nexec /usr/lib/cni/${p} "$@"\n`,
              { mode: 0o755 },
            );
        }
        service = await startCriService({
          data,
          sock,
          wrapper: hostNet ? [] : ['unshare', '--net', '--'],
          args: [`--cni-conf-dir=${join(work, 'net.d')}`, `--cni-bin-dir=${bin}`, `--runtime=${runtime}`],
          children,
        });
        rt = new pkg.RuntimeService(`unix://${sock}`, grpc.credentials.createInsecure());
      };

      const stop = async (): Promise<void> => {
        const proc = service;
        if (proc === undefined) return;
        rt.close();
        service = undefined;
        await stopCriService(proc);
      };

      before(async () => {
        pkg = await loadCriPackage();
        // Short: the attach endpoints are unix sockets deep in the pod dir (108 bytes at most).
        work = mkdtempSync(join(tmpdir(), `cri-${runtime}-`));
        data = join(work, 'd');
        sock = join(work, 'cri.sock');
        mkdirSync(join(work, 'host'));
        writeFileSync(join(work, 'host', 'file'), 'from-the-host\n');
        // A converted docker image's command: entrypoint and cmd in the ACI's annotations.
        const aci = buildBusyboxAci(work, 'cri-busybox', {
          applets: [
            'sh',
            'echo',
            'cat',
            'sleep',
            'ls',
            'readlink',
            'id',
            'touch',
            'httpd',
            'true',
            'ip',
            'hostname',
            'chmod',
          ],
          dirs: ['tmp', 'proc', 'sys', 'dev', 'data'],
          files: {
            'www/index.html': 'hello from the pod\n',
            // Users and groups for the security context: alice is in group team.
            'etc/passwd': 'root:x:0:0:root:/:/bin/sh\nalice:x:1500:1500::/:/bin/sh\n',
            'etc/group': 'root:x:0:\nalice:x:1500:\nteam:x:4000:bob,alice\n',
          },
          app: { exec: ['/bin/sh', '-c', 'echo from-image-cmd'] },
          annotations: [
            { name: 'appc.io/docker/entrypoint', value: '["/bin/sh","-c"]' },
            { name: 'appc.io/docker/cmd', value: '["echo from-image-cmd"]' },
          ],
        });
        imageId = fetchAci(data, aci);
        await start();
      });

      after(async () => {
        try {
          await stop();
        } catch {
          // reported by the test that failed
        }
        await cleanUp(work, data, sandboxes, children);
      });

      const runSandbox = async (name: string, extra: object = {}): Promise<string> => {
        const res = await unary<{ pod_sandbox_id: string }>(rt, 'RunPodSandbox', {
          config: {
            metadata: { name, uid: `uid-${name}`, namespace: 'default', attempt: 0 },
            hostname: name,
            log_directory: join(work, 'logs', name),
            labels: { app: name, tier: 'test' },
            annotations: { note: `sandbox ${name}` },
            ...extra,
          },
        });
        sandboxes.add(res.pod_sandbox_id);
        return res.pod_sandbox_id;
      };
      const sandboxStatus = async (id: string): Promise<SandboxStatus> =>
        (await unary<{ status: SandboxStatus }>(rt, 'PodSandboxStatus', { pod_sandbox_id: id })).status;
      const containerStatus = async (id: string): Promise<ContainerStatus> =>
        (await unary<{ status: ContainerStatus }>(rt, 'ContainerStatus', { container_id: id })).status;
      const listContainers = async (filter: object = {}): Promise<{ id: string; state: string }[]> =>
        (await unary<{ containers: { id: string; state: string }[] }>(rt, 'ListContainers', { filter }))
          .containers;
      const podDir = (id: string): string =>
        join(
          data,
          'pods',
          'run',
          `${id.slice(0, 8)}-${id.slice(8, 12)}-${id.slice(12, 16)}-${id.slice(16, 20)}-${id.slice(20)}`,
        );
      const supervisor = (id: string): number => Number(readFileSync(join(podDir(id), 'pid'), 'utf8').trim());
      const create = async (sandboxId: string, config: object): Promise<string> =>
        (
          await unary<{ container_id: string }>(rt, 'CreateContainer', {
            pod_sandbox_id: sandboxId,
            config: { image: { image: imageId }, ...config },
          })
        ).container_id;

      it("runs the kubelet's sequence for a sandbox of two containers: statuses, CRI logs, exec, stop past SIGTERM, restart, remove", async () => {
        const sb = await runSandbox('web', {
          dns_config: { servers: ['10.9.8.7'], searches: ['svc.test'], options: ['ndots:5'] },
        });
        const st = await sandboxStatus(sb);
        assert.equal(st.state, 'SANDBOX_READY');
        assert.deepEqual(st.metadata, { name: 'web', uid: 'uid-web', namespace: 'default', attempt: 0 });
        assert.deepEqual(st.labels, { app: 'web', tier: 'test' });
        assert.equal(st.annotations['note'], 'sandbox web');
        assert.equal(st.linux.namespaces.options.network, 'POD');
        assert.ok(BigInt(st.created_at) > 0n);
        const listed = (
          await unary<{ items: { id: string }[] }>(rt, 'ListPodSandbox', {
            filter: { label_selector: { app: 'web' } },
          })
        ).items;
        assert.deepEqual(
          listed.map((i) => i.id),
          [sb],
        );
        assert.deepEqual(
          (
            await unary<{ items: unknown[] }>(rt, 'ListPodSandbox', {
              filter: { label_selector: { app: 'none' } },
            })
          ).items,
          [],
        );
        const sandboxIds = async (filter: object): Promise<string[]> =>
          (await unary<{ items: { id: string }[] }>(rt, 'ListPodSandbox', { filter })).items.map((i) => i.id);
        assert.deepEqual(await sandboxIds({ id: sb.slice(0, 10), state: { state: 'SANDBOX_READY' } }), [sb]);
        assert.deepEqual(await sandboxIds({ id: sb, state: { state: 'SANDBOX_NOTREADY' } }), []);
        // rkt sees the sandbox as a running pod.
        const rktList = spawnSync(rktBin, [`--dir=${data}`, 'list', '--no-legend', '--full'], {
          encoding: 'utf8',
        });
        assert.match(rktList.stdout, new RegExp(`${podDir(sb).slice(-36)}\\s.*running`));

        // The first container: its own command, env, a read-only host mount; it ignores SIGTERM.
        const server = await create(sb, {
          metadata: { name: 'server', attempt: 0 },
          command: ['/bin/sh', '-c'],
          args: [
            'trap "" TERM; echo "out $FOO"; cat /data/file >&2; touch /data/x 2>/dev/null || echo ro; while :; do sleep 1; done',
          ],
          envs: [{ key: 'FOO', value: 'bar' }],
          linux: { resources: { memory_limit_in_bytes: 64 * 1024 * 1024 } },
          mounts: [{ container_path: '/data', host_path: join(work, 'host'), readonly: true }],
          labels: { role: 'server' },
          log_path: 'server/0.log',
        });
        // The second: the image's entrypoint and cmd.
        const second = await create(sb, {
          metadata: { name: 'second', attempt: 0 },
          labels: { role: 'second' },
          log_path: 'second/0.log',
        });
        for (const id of [server, second]) {
          const cs = await containerStatus(id);
          assert.equal(cs.state, 'CONTAINER_CREATED');
          assert.ok(cs.image_ref.startsWith(imageId) && cs.image_ref.length === 71, cs.image_ref);
          assert.equal(cs.started_at, '0');
        }
        assert.deepEqual(
          (await containerStatus(server)).mounts.map((m) => [m.container_path, m.readonly]),
          [['/data', true]],
        );
        assert.deepEqual(
          (await listContainers({ label_selector: { role: 'server' } })).map((c) => c.id),
          [server],
        );

        await unary(rt, 'StartContainer', { container_id: server });
        await unary(rt, 'StartContainer', { container_id: second });
        const serverLog = join(work, 'logs', 'web', 'server', '0.log');
        await waitFor(
          'the server log',
          () => existsSync(serverLog) && readFileSync(serverLog, 'utf8').split('\n').length > 3,
        );
        const lines = readFileSync(serverLog, 'utf8').trimEnd().split('\n');
        const rfc3339 = /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d+)?Z$/;
        for (const l of lines) {
          const [time, stream, tag] = l.split(' ');
          assert.match(time ?? '', rfc3339, l);
          assert.ok(stream === 'stdout' || stream === 'stderr', l);
          assert.equal(tag, 'F', l);
        }
        assert.deepEqual(lines.map((l) => l.split(' ').slice(1).join(' ')).sort(), [
          'stderr F from-the-host',
          'stdout F out bar',
          'stdout F ro',
        ]);
        const running = await containerStatus(server);
        assert.equal(running.state, 'CONTAINER_RUNNING');
        assert.ok(BigInt(running.started_at) >= BigInt(running.created_at));
        assert.equal(running.log_path, serverLog);
        // ReopenContainerLog after the kubelet's rename: a new, empty file at log_path.
        renameSync(serverLog, `${serverLog}.1`);
        await unary(rt, 'ReopenContainerLog', { container_id: server });
        assert.equal(readFileSync(serverLog, 'utf8'), '');
        assert.equal(readFileSync(`${serverLog}.1`, 'utf8').trimEnd().split('\n').length, 3);
        await rejects(unary(rt, 'ReopenContainerLog', { container_id: `${sb}-nope` }), grpc.status.NOT_FOUND);

        // The second container runs the image's command and exits 0.
        await waitFor('the second container to exit', () => {
          const s = spawnSync(
            rktBin,
            [`--dir=${data}`, 'app', 'list', '--no-legend', podDir(sb).slice(-36)],
            { encoding: 'utf8' },
          );
          return /second-0\s+exited/.test(s.stdout);
        });
        const done = await containerStatus(second);
        assert.equal(done.state, 'CONTAINER_EXITED');
        assert.equal(done.exit_code, 0);
        assert.equal(done.reason, 'Completed');
        await rejects(
          unary(rt, 'ReopenContainerLog', { container_id: second }),
          grpc.status.FAILED_PRECONDITION,
          /not running/,
        );
        assert.ok(BigInt(done.finished_at) >= BigInt(done.started_at));
        assert.match(
          readFileSync(join(work, 'logs', 'web', 'second', '0.log'), 'utf8'),
          /^\S+ stdout F from-image-cmd\n$/,
        );
        assert.deepEqual(
          (await listContainers({ state: { state: 'CONTAINER_EXITED' } })).map((c) => c.id),
          [second],
        );

        // ExecSync: output, exit status, timeout.
        const ex = await unary<{ stdout: Buffer; stderr: Buffer; exit_code: number }>(rt, 'ExecSync', {
          container_id: server,
          cmd: ['/bin/sh', '-c', 'echo "exec $FOO"; echo oops >&2; exit 3'],
        });
        assert.equal(ex.stdout.toString(), 'exec bar\n');
        assert.equal(ex.stderr.toString(), 'oops\n');
        assert.equal(ex.exit_code, 3);
        // dns_config is the pod's resolv.conf.
        const resolv = await unary<{ stdout: Buffer }>(rt, 'ExecSync', {
          container_id: server,
          cmd: ['/bin/cat', '/etc/resolv.conf'],
        });
        const resolvLines = resolv.stdout.toString().split('\n');
        assert.ok(resolvLines.includes('nameserver 10.9.8.7'), resolv.stdout.toString());
        assert.ok(resolvLines.includes('search svc.test'), resolv.stdout.toString());
        assert.ok(resolvLines.includes('options ndots:5'), resolv.stdout.toString());
        await rejects(
          unary(rt, 'ExecSync', { container_id: server, cmd: ['/bin/sleep', '100'], timeout: 1 }),
          grpc.status.DEADLINE_EXCEEDED,
        );

        // The service restarted with the pod running: it finds the sandbox and the containers.
        const supervisorPid = supervisor(sb);
        await stop();
        assert.ok(pidAlive(supervisorPid), 'the pod outlives the service');
        await start();
        assert.equal((await sandboxStatus(sb)).state, 'SANDBOX_READY');
        assert.deepEqual((await listContainers({ pod_sandbox_id: sb })).map((c) => [c.id, c.state]).sort(), [
          [second, 'CONTAINER_EXITED'],
          [server, 'CONTAINER_RUNNING'],
        ]);
        const again = await unary<{ stdout: Buffer; exit_code: number }>(rt, 'ExecSync', {
          container_id: server,
          cmd: ['/bin/cat', '/data/file'],
        });
        assert.equal(again.stdout.toString(), 'from-the-host\n');

        // Stats from the cgroups while it runs; its memory limit, then raised.
        type Stats = {
          attributes: { id: string };
          cpu: { usage_core_nano_seconds: { value: string } } | null;
          memory: { working_set_bytes: { value: string } } | null;
          writable_layer: { used_bytes: { value: string }; inodes_used: { value: string } };
        };
        const cs = (await unary<{ stats: Stats }>(rt, 'ContainerStats', { container_id: server })).stats;
        assert.equal(cs.attributes.id, server);
        assert.ok(BigInt(cs.cpu?.usage_core_nano_seconds.value ?? '0') > 0n, JSON.stringify(cs));
        assert.ok(BigInt(cs.memory?.working_set_bytes.value ?? '0') > 0n, JSON.stringify(cs));
        assert.ok(BigInt(cs.writable_layer.inodes_used.value) > 0n, JSON.stringify(cs));
        const statsList = (
          await unary<{ stats: Stats[] }>(rt, 'ListContainerStats', { filter: { pod_sandbox_id: sb } })
        ).stats;
        assert.deepEqual(statsList.map((x) => x.attributes.id).sort(), [second, server]);
        assert.equal(statsList.find((x) => x.attributes.id === second)?.cpu, null);
        const ps = (
          await unary<{
            stats: { attributes: { id: string }; linux: { containers: Stats[]; memory: Stats['memory'] } };
          }>(rt, 'PodSandboxStats', { pod_sandbox_id: sb })
        ).stats;
        assert.equal(ps.attributes.id, sb);
        assert.equal(ps.linux.containers.length, 2);
        assert.ok(BigInt(ps.linux.memory?.working_set_bytes.value ?? '0') > 0n);
        const psList = (
          await unary<{ stats: { attributes: { id: string } }[] }>(rt, 'ListPodSandboxStats', {
            filter: { id: sb },
          })
        ).stats;
        assert.deepEqual(
          psList.map((x) => x.attributes.id),
          [sb],
        );
        const limit = (): string =>
          readFileSync(
            `/sys/fs/cgroup/memory/rkt-${uuidOf(sb)}/server-0/memory.limit_in_bytes`,
            'utf8',
          ).trim();
        const v1 = existsSync('/sys/fs/cgroup/memory/memory.limit_in_bytes');
        if (v1) assert.equal(limit(), String(64 * 1024 * 1024));
        await unary(rt, 'UpdateContainerResources', {
          container_id: server,
          linux: { memory_limit_in_bytes: 96 * 1024 * 1024 },
        });
        if (v1) assert.equal(limit(), String(96 * 1024 * 1024));

        // Stop with a timeout: the container ignores SIGTERM and is killed once it has passed.
        await unary(rt, 'StopContainer', { container_id: server, timeout: 1 });
        const stopped = await containerStatus(server);
        assert.equal(stopped.state, 'CONTAINER_EXITED');
        assert.equal(stopped.exit_code, 137);
        assert.equal(stopped.reason, 'Error');

        // Remove the containers, stop and remove the sandbox: nothing is left.
        await unary(rt, 'RemoveContainer', { container_id: server });
        await unary(rt, 'RemoveContainer', { container_id: server });
        await rejects(containerStatus(server), grpc.status.NOT_FOUND);
        assert.deepEqual(
          (await listContainers({ pod_sandbox_id: sb })).map((c) => c.id),
          [second],
        );
        await unary(rt, 'StopPodSandbox', { pod_sandbox_id: sb });
        assert.equal((await sandboxStatus(sb)).state, 'SANDBOX_NOTREADY');
        assert.ok(!pidAlive(supervisorPid));
        await unary(rt, 'StopPodSandbox', { pod_sandbox_id: sb });
        await unary(rt, 'RemovePodSandbox', { pod_sandbox_id: sb });
        await unary(rt, 'RemovePodSandbox', { pod_sandbox_id: sb });
        await unary(rt, 'StopPodSandbox', { pod_sandbox_id: sb });
        await rejects(sandboxStatus(sb), grpc.status.NOT_FOUND);
        assert.deepEqual(await listContainers({ pod_sandbox_id: sb }), []);
        const uuid = podDir(sb).slice(-36);
        for (const state of ['run', 'exited-garbage'])
          assert.ok(!existsSync(join(data, 'pods', state, uuid)), `pod dir left in ${state}`);
        // Its files go after the answer, from garbage/.
        await waitFor('the pod dir to be removed', () => !existsSync(join(data, 'pods', 'garbage', uuid)));
        assert.ok(!readFileSync('/proc/self/mountinfo', 'utf8').includes(uuid), 'mounts of the pod left');
        assert.deepEqual(podCgroupDirs(`rkt-${uuid}`), []);
        const known = spawnSync(runtime, ['list', '-q'], { encoding: 'utf8' });
        assert.ok(!known.stdout.includes(uuid), `${runtime} still knows the pod's containers`);
        sandboxes.delete(sb);
      });

      it("a host-network sandbox shares the service's network namespace; a pod one has its own", async () => {
        const host = await runSandbox('hostnet', {
          linux: { security_context: { namespace_options: { network: 'NODE' } } },
        });
        const own = await runSandbox('ownnet');
        assert.equal((await sandboxStatus(host)).linux.namespaces.options.network, 'NODE');
        const netns = async (sb: string): Promise<string> => {
          const id = await create(sb, {
            metadata: { name: 'ns', attempt: 1 },
            command: ['/bin/sleep', '1000'],
          });
          await unary(rt, 'StartContainer', { container_id: id });
          const r = await unary<{ stdout: Buffer; exit_code: number }>(rt, 'ExecSync', {
            container_id: id,
            cmd: ['/bin/readlink', '/proc/self/ns/net'],
          });
          assert.equal(r.exit_code, 0);
          return r.stdout.toString().trim();
        };
        const serviceNs = readlinkSync(`/proc/${service?.child.pid ?? 0}/ns/net`);
        assert.equal(await netns(host), serviceNs);
        assert.notEqual(await netns(own), serviceNs);
        for (const sb of [host, own]) {
          await unary(rt, 'RemovePodSandbox', { pod_sandbox_id: sb });
          await rejects(sandboxStatus(sb), grpc.status.NOT_FOUND);
          sandboxes.delete(sb);
        }
      });

      it('a pod-network sandbox is on the CNI network of --cni-conf-dir (its first .conf or .conflist, a ptp+tuning chain): its address in the status and in the pod; stop releases it', async () => {
        const ipam = join(work, 'ipam');
        mkdirSync(join(work, 'net.d'), { recursive: true });
        writeFileSync(
          join(work, 'net.d', '10-crit.conflist'),
          JSON.stringify({
            cniVersion: '1.0.0',
            name: 'crit',
            plugins: [
              { type: 'ptp', ipam: { type: 'host-local', subnet: '10.254.77.0/24', dataDir: ipam } },
              // tuning needs the ptp result (prevResult) to find the pod's interface.
              { type: 'tuning', mtu: 1400 },
            ],
          }),
        );
        writeFileSync(
          join(work, 'net.d', '20-crit-later.conf'),
          JSON.stringify({
            cniVersion: '0.4.0',
            name: 'crit-later',
            type: 'ptp',
            ipam: { type: 'host-local', subnet: '10.254.78.0/24', dataDir: ipam },
          }),
        );
        try {
          const sb = await runSandbox('cni');
          const ip = (
            await unary<{ status: { network: { ip: string } } }>(rt, 'PodSandboxStatus', {
              pod_sandbox_id: sb,
            })
          ).status.network.ip;
          assert.match(ip, /^10\.254\.77\.\d+$/);
          assert.ok(existsSync(join(ipam, 'crit', ip)), 'host-local recorded the address');
          // The plugins came from --cni-bin-dir, the IPAM one too (through CNI_PATH).
          const calls = readFileSync(join(work, 'cni-calls'), 'utf8');
          for (const c of ['ADD ptp', 'ADD host-local', 'ADD tuning'])
            assert.ok(calls.includes(c), `${c} in ${calls}`);
          const id = await create(sb, {
            metadata: { name: 'ip', attempt: 0 },
            command: ['/bin/sleep', '1000'],
          });
          await unary(rt, 'StartContainer', { container_id: id });
          const r = await unary<{ stdout: Buffer; exit_code: number }>(rt, 'ExecSync', {
            container_id: id,
            cmd: ['/bin/ip', '-4', 'addr', 'show'],
          });
          assert.equal(r.exit_code, 0);
          assert.match(r.stdout.toString(), new RegExp(`inet ${ip.replace(/\./g, '\\.')}/`));
          const link = await unary<{ stdout: Buffer; exit_code: number }>(rt, 'ExecSync', {
            container_id: id,
            cmd: ['/bin/ip', 'link', 'show', 'eth0'],
          });
          assert.match(link.stdout.toString(), /mtu 1400 /, 'tuning ran after ptp');
          // One network, the conf's (as kubelet expects): no rkt default-restricted as eth1.
          const links = await unary<{ stdout: Buffer; exit_code: number }>(rt, 'ExecSync', {
            container_id: id,
            cmd: ['/bin/ip', '-o', 'link', 'show'],
          });
          assert.equal(links.exit_code, 0);
          assert.deepEqual(
            links.stdout
              .toString()
              .split('\n')
              .filter((l) => l !== '')
              .map((l) => (l.split(': ')[1] ?? '').split('@')[0]),
            ['lo', 'eth0'],
          );
          // The service made the namespaces itself (src/cri/netns.ts): the loopback up, the
          // sandbox's hostname in its UTS namespace, an IPC namespace not the service's.
          assert.match(links.stdout.toString(), /^1: lo: <LOOPBACK,UP,LOWER_UP>/m);
          const ns = await unary<{ stdout: Buffer; exit_code: number }>(rt, 'ExecSync', {
            container_id: id,
            cmd: ['/bin/sh', '-c', 'cat /proc/sys/kernel/hostname; readlink /proc/self/ns/ipc'],
          });
          assert.equal(ns.exit_code, 0);
          const [hostname, ipc] = ns.stdout.toString().trim().split('\n');
          assert.equal(hostname, 'cni');
          assert.notEqual(ipc, readlinkSync('/proc/self/ns/ipc'));
          await unary(rt, 'StopPodSandbox', { pod_sandbox_id: sb });
          assert.ok(!existsSync(join(ipam, 'crit', ip)), 'the address was released');
          // The chain's DEL (run by the supervisor while the container is killed) is done when
          // StopPodSandbox answers, each plugin given the pod's network namespace.
          const dels = readFileSync(join(work, 'cni-calls'), 'utf8');
          for (const c of ['DEL tuning in the netns', 'DEL ptp in the netns'])
            assert.ok(dels.includes(c), `${c} in ${dels}`);
          await unary(rt, 'RemovePodSandbox', { pod_sandbox_id: sb });
          sandboxes.delete(sb);
        } finally {
          rmSync(join(work, 'net.d'), { recursive: true, force: true });
        }
      });

      it('applies the security context and resources: user, groups, capabilities, read-only rootfs, no_new_privs, oom_score_adj (clamped), memory; OOMKilled', async () => {
        const sb = await runSandbox('secure');
        const id = await create(sb, {
          metadata: { name: 'sec', attempt: 0 },
          command: ['/bin/sleep', '1000'],
          linux: {
            resources: { memory_limit_in_bytes: 32 * 1024 * 1024, oom_score_adj: 500 },
            security_context: {
              run_as_user: { value: 1234 },
              run_as_group: { value: 2345 },
              supplemental_groups: [3456],
              readonly_rootfs: true,
              no_new_privs: true,
              capabilities: { drop_capabilities: ['ALL'], add_capabilities: ['NET_RAW'] },
            },
          },
        });
        await unary(rt, 'StartContainer', { container_id: id });
        const sh = async (script: string): Promise<{ out: string; code: number }> => {
          const r = await unary<{ stdout: Buffer; stderr: Buffer; exit_code: number }>(rt, 'ExecSync', {
            container_id: id,
            cmd: ['/bin/sh', '-c', script],
          });
          return { out: r.stdout.toString() + r.stderr.toString(), code: r.exit_code };
        };
        // The exec'd shell is in the container: its process 1 has what the container was given.
        const status = (await sh('cat /proc/1/status')).out;
        assert.match(status, /^Uid:\s+1234\s/m);
        assert.match(status, /^Gid:\s+2345\s/m);
        assert.match(status, /^Groups:.*\b3456\b/m);
        assert.match(status, /^NoNewPrivs:\s+1$/m);
        // CAP_NET_RAW alone: bit 13.
        assert.match(status, /^CapBnd:\s+0000000000002000$/m);
        assert.equal((await sh('cat /proc/1/oom_score_adj')).out.trim(), '500');
        assert.notEqual((await sh('touch /x')).code, 0);
        const limit = `/sys/fs/cgroup/memory/rkt-${uuidOf(sb)}/sec-0/memory.limit_in_bytes`;
        if (existsSync('/sys/fs/cgroup/memory/memory.limit_in_bytes'))
          assert.equal(readFileSync(limit, 'utf8').trim(), String(32 * 1024 * 1024));
        // A negative oom_score_adj (a Guaranteed pod's) is clamped to the service's own: it still runs.
        const low = await create(sb, {
          metadata: { name: 'low', attempt: 0 },
          command: ['/bin/sleep', '1000'],
          linux: { resources: { oom_score_adj: -997 } },
        });
        await unary(rt, 'StartContainer', { container_id: low });
        assert.equal((await containerStatus(low)).state, 'CONTAINER_RUNNING');
        const own = readFileSync('/proc/self/oom_score_adj', 'utf8').trim();
        const r = await unary<{ stdout: Buffer }>(rt, 'ExecSync', {
          container_id: low,
          cmd: ['/bin/cat', '/proc/1/oom_score_adj'],
        });
        assert.equal(r.stdout.toString().trim(), String(Math.max(-997, Number(own))));
        // A container past its memory limit is OOM-killed: 137, reason OOMKilled.
        const hog = await create(sb, {
          metadata: { name: 'hog', attempt: 0 },
          command: ['/bin/sh', '-c', 'a=x; while :; do a="$a$a"; done'],
          linux: { resources: { memory_limit_in_bytes: 16 * 1024 * 1024 } },
        });
        await unary(rt, 'StartContainer', { container_id: hog });
        await waitFor('the hog to end', () => appState(podDir(sb), 'hog-0') === 'exited');
        const hs = await containerStatus(hog);
        assert.equal(hs.state, 'CONTAINER_EXITED');
        assert.equal(hs.exit_code, 137);
        assert.equal(hs.reason, 'OOMKilled');
        await unary(rt, 'RemovePodSandbox', { pod_sandbox_id: sb });
        sandboxes.delete(sb);
      });

      it('reads the security context as containerd does: users and groups from the image (exec too), ALL capabilities, seccomp none, RuntimeDefault and Localhost, no_new_privs as asked', async () => {
        const sb = await runSandbox('users');
        const started = async (name: string, sc: object): Promise<string> => {
          const id = await create(sb, {
            metadata: { name, attempt: 0 },
            command: ['/bin/sleep', '1000'],
            linux: { security_context: sc },
          });
          await unary(rt, 'StartContainer', { container_id: id });
          return id;
        };
        const exec = async (
          id: string,
          cmd: string[],
        ): Promise<{ out: string; err: string; code: number }> => {
          const r = await unary<{ stdout: Buffer; stderr: Buffer; exit_code: number }>(rt, 'ExecSync', {
            container_id: id,
            cmd,
          });
          return { out: r.stdout.toString(), err: r.stderr.toString(), code: r.exit_code };
        };
        const status = async (id: string): Promise<string> =>
          (await exec(id, ['/bin/cat', '/proc/self/status'])).out;
        // run_as_user: its group from the image's /etc/passwd, its groups from /etc/group, then the
        // requested ones; an exec runs as the container's process does.
        const uid = await started('uid', { run_as_user: { value: 1500 }, supplemental_groups: [1234] });
        assert.equal((await exec(uid, ['/bin/id', '-u'])).out, '1500\n');
        assert.equal((await exec(uid, ['/bin/id', '-g'])).out, '1500\n');
        assert.deepEqual((await exec(uid, ['/bin/id', '-G'])).out.trim().split(' ').sort(), [
          '1234',
          '1500',
          '4000',
        ]);
        // The exec'd process does not hold the fd its settings came on (3).
        assert.equal(
          (await exec(uid, ['/bin/sh', '-c', 'readlink /proc/$$/fd/3 || echo no-fd-3; true'])).out,
          'no-fd-3\n',
        );
        const name = await started('name', { run_as_username: 'alice' });
        assert.equal((await exec(name, ['/bin/id', '-nu'])).out, 'alice\n');
        // A uid the image does not know: group 0.
        const other = await started('other', { run_as_user: { value: 1001 }, run_as_group: { value: 1002 } });
        assert.equal((await exec(other, ['/bin/id', '-u'])).out, '1001\n');
        assert.equal((await exec(other, ['/bin/id', '-g'])).out, '1002\n');
        await rejects(
          create(sb, {
            metadata: { name: 'nouser' },
            command: ['/bin/true'],
            linux: { security_context: { run_as_group: { value: 5 } } },
          }),
          grpc.status.INVALID_ARGUMENT,
          /run_as_group/,
        );
        await rejects(
          create(sb, {
            metadata: { name: 'nobody' },
            command: ['/bin/true'],
            linux: { security_context: { run_as_username: 'mallory' } },
          }),
          grpc.status.INVALID_ARGUMENT,
          /run_as_username "mallory": no such user/,
        );
        // ALL: every capability the host has, whatever the host lacks.
        const all = await started('all', { capabilities: { add_capabilities: ['ALL'] } });
        const hostBnd = /^CapBnd:\s+(\S+)$/m.exec(readFileSync('/proc/self/status', 'utf8'))?.[1];
        assert.match(await status(all), new RegExp(`^CapBnd:\\s+${hostBnd ?? '-'}$`, 'm'));
        // No profile: no filter at all (the default container's chmod works).
        const plain = await started('plain', {});
        assert.match(await status(plain), /^Seccomp:\s+0$/m);
        assert.equal((await exec(plain, ['/bin/chmod', '700', '/tmp'])).code, 0);
        // RuntimeDefault: a filter; with CAP_SYS_ADMIN it lets sethostname through.
        const def = await started('def', {
          seccomp: { profile_type: 'RuntimeDefault' },
          capabilities: { add_capabilities: ['SYS_ADMIN'] },
        });
        assert.match(await status(def), /^Seccomp:\s+2$/m);
        const hn = await exec(def, ['/bin/hostname', 'renamed']);
        assert.equal(hn.code, 0, hn.err);
        // Localhost: a docker-format profile file blocking chmod.
        const profile = join(work, 'block-chmod.json');
        writeFileSync(
          profile,
          JSON.stringify({
            defaultAction: 'SCMP_ACT_ALLOW',
            syscalls: [{ names: ['chmod', 'fchmodat'], action: 'SCMP_ACT_ERRNO' }],
          }),
        );
        const local = await started('local', {
          seccomp: { profile_type: 'Localhost', localhost_ref: profile },
        });
        const ch = await exec(local, ['/bin/chmod', '700', '/tmp']);
        assert.notEqual(ch.code, 0);
        assert.match(ch.err, /Operation not permitted/);
        // A non-root process under a filter keeps no_new_privs off unless asked.
        const nnp = await started('nnp', {
          run_as_user: { value: 1500 },
          seccomp: { profile_type: 'RuntimeDefault' },
        });
        const st = await status(nnp);
        assert.match(st, /^Seccomp:\s+2$/m);
        assert.match(st, /^NoNewPrivs:\s+0$/m);
        await unary(rt, 'RemovePodSandbox', { pod_sandbox_id: sb });
        sandboxes.delete(sb);
      });

      it('a sandbox whose supervisor was killed reads NOTREADY and is still stopped and removed', async () => {
        const sb = await runSandbox('orphan');
        const id = await create(sb, {
          metadata: { name: 'left', attempt: 0 },
          command: ['/bin/sleep', '1000'],
        });
        await unary(rt, 'StartContainer', { container_id: id });
        const pid = supervisor(sb);
        process.kill(pid, 'SIGKILL');
        await waitFor('the supervisor to be gone', () => !pidAlive(pid));
        assert.equal((await sandboxStatus(sb)).state, 'SANDBOX_NOTREADY');
        await unary(rt, 'StopPodSandbox', { pod_sandbox_id: sb });
        await unary(rt, 'RemovePodSandbox', { pod_sandbox_id: sb });
        await rejects(sandboxStatus(sb), grpc.status.NOT_FOUND);
        const uuid = uuidOf(sb);
        assert.ok(!readFileSync('/proc/self/mountinfo', 'utf8').includes(uuid), 'mounts of the pod left');
        assert.ok(!spawnSync(runtime, ['list', '-q'], { encoding: 'utf8' }).stdout.includes(uuid));
        sandboxes.delete(sb);
      });

      it('bad requests (a sandbox whose network fails, unknown ids, bad images and host paths) get their code and leave nothing behind', async () => {
        // A sandbox whose network cannot be set up: refused, no pod left.
        const pods = (): string[] =>
          ['prepare', 'prepared', 'run', 'exited-garbage', 'garbage'].flatMap((d) => {
            try {
              return readdirSync(join(data, 'pods', d));
            } catch {
              return [];
            }
          });
        // The pod dirs of earlier tests' sandboxes are removed after RemovePodSandbox answered.
        await waitFor('earlier pod dirs to be removed', () => {
          try {
            return readdirSync(join(data, 'pods', 'garbage')).length === 0;
          } catch {
            return true;
          }
        });
        const before = pods();
        mkdirSync(join(work, 'net.d'), { recursive: true });
        writeFileSync(
          join(work, 'net.d', '10-broken.conf'),
          JSON.stringify({ cniVersion: '0.4.0', name: 'broken', type: 'no-such-plugin' }),
        );
        try {
          await assert.rejects(
            unary(rt, 'RunPodSandbox', {
              config: { metadata: { name: 'broken', uid: 'u', namespace: 'n' } },
            }),
            (e: grpc.ServiceError) => {
              assert.equal(e.code, grpc.status.FAILED_PRECONDITION, e.details);
              assert.ok(!e.details.includes('\n'), e.details);
              assert.match(e.details, /^pod sandbox "broken": .*no-such-plugin/);
              return true;
            },
          );
        } finally {
          rmSync(join(work, 'net.d'), { recursive: true, force: true });
        }
        assert.deepEqual(pods(), before);
        assert.ok(
          !readFileSync('/proc/self/mountinfo', 'utf8').includes(join(data, 'pods')),
          'no mount left',
        );
        // A CNI ADD that fails once the service has made the sandbox's namespaces: refused, the
        // namespaces unmounted, no pod left.
        mkdirSync(join(work, 'net.d'), { recursive: true });
        writeFileSync(
          join(work, 'net.d', '10-failing.conf'),
          JSON.stringify({
            cniVersion: '0.4.0',
            name: 'failing',
            type: 'ptp',
            ipam: { type: 'host-local', subnet: 'not-a-subnet' },
          }),
        );
        try {
          await assert.rejects(
            unary(rt, 'RunPodSandbox', {
              config: { metadata: { name: 'failing', uid: 'u', namespace: 'n' } },
            }),
            (e: grpc.ServiceError) => {
              assert.equal(e.code, grpc.status.FAILED_PRECONDITION, e.details);
              assert.match(e.details, /^pod sandbox "failing": .*CNI ADD/);
              return true;
            },
          );
        } finally {
          rmSync(join(work, 'net.d'), { recursive: true, force: true });
        }
        await waitFor('the failed pod dirs to be removed', () => {
          try {
            return readdirSync(join(data, 'pods', 'garbage')).length === 0;
          } catch {
            return true;
          }
        });
        assert.deepEqual(pods(), before);
        assert.ok(
          !readFileSync('/proc/self/mountinfo', 'utf8').includes(join(data, 'pods')),
          'no mount left after a failed CNI ADD',
        );

        const sb = await runSandbox('bad');
        await rejects(
          sandboxStatus('0123456789abcdef0123456789abcdef'),
          grpc.status.NOT_FOUND,
          /pod sandbox/,
        );
        await rejects(sandboxStatus('nonsense'), grpc.status.NOT_FOUND);
        await rejects(containerStatus(`${sb}-nothing-0`), grpc.status.NOT_FOUND, /container/);
        await rejects(unary(rt, 'StartContainer', { container_id: 'nope' }), grpc.status.NOT_FOUND);
        await rejects(
          create('0123456789abcdef0123456789abcdef', { metadata: { name: 'x' } }),
          grpc.status.NOT_FOUND,
        );
        const bad = async (config: object, code: grpc.status, detail: RegExp): Promise<void> =>
          rejects(
            unary(rt, 'CreateContainer', {
              pod_sandbox_id: sb,
              config: { metadata: { name: 'x' }, ...config },
            }),
            code,
            detail,
          );
        await bad({ image: { image: 'Not A Reference!' } }, grpc.status.INVALID_ARGUMENT, /image/);
        await bad({ image: { image: 'example.com/no/such:image' } }, grpc.status.NOT_FOUND, /image/);
        await bad(
          {
            image: { image: imageId },
            mounts: [{ container_path: '/data', host_path: join(work, 'no-such-dir') }],
          },
          grpc.status.NOT_FOUND,
          /host_path/,
        );
        await bad(
          { image: { image: imageId }, metadata: { name: '__' } },
          grpc.status.INVALID_ARGUMENT,
          /name/,
        );
        await bad(
          { image: { image: imageId }, linux: { resources: { memory_limit_in_bytes: 12 } } },
          grpc.status.INVALID_ARGUMENT,
          /memory/,
        );
        assert.deepEqual(await listContainers({ pod_sandbox_id: sb }), []);
        const manifest = JSON.parse(readFileSync(join(podDir(sb), 'pod'), 'utf8')) as { apps: unknown[] };
        assert.deepEqual(manifest.apps, []);
        assert.deepEqual(readdirSync(join(podDir(sb), 'cri', 'containers')), []);
        assert.ok(!existsSync(join(podDir(sb), 'apps', 'x-0')));
        // A duplicate name and attempt is refused, the first one kept.
        const first = await create(sb, { metadata: { name: 'dup' }, command: ['/bin/sleep', '1000'] });
        await rejects(
          create(sb, { metadata: { name: 'dup' }, command: ['/bin/true'] }),
          grpc.status.ALREADY_EXISTS,
        );
        assert.equal((await containerStatus(first)).state, 'CONTAINER_CREATED');
        await unary(rt, 'RemovePodSandbox', { pod_sandbox_id: sb });
        assert.deepEqual(await listContainers({ pod_sandbox_id: sb }), []);
        sandboxes.delete(sb);
      });

      it('a sandbox with port mappings and sysctls: its hostPort reaches the container on the loopback (CNI portmap), a mapping without a host port maps nothing, its sysctls are set in its namespaces', async () => {
        const ipam = join(work, 'ipam-ports');
        mkdirSync(join(work, 'net.d'), { recursive: true });
        writeFileSync(
          join(work, 'net.d', '10-ports.conflist'),
          JSON.stringify({
            cniVersion: '1.0.0',
            name: 'ports',
            plugins: [
              // As Kubernetes sets it up (the bridge is in the service's network namespace).
              {
                type: 'bridge',
                bridge: 'cri0',
                isGateway: true,
                ipam: { type: 'host-local', subnet: '10.254.79.0/24', dataDir: ipam },
              },
              { type: 'portmap', capabilities: { portMappings: true } },
            ],
          }),
        );
        try {
          const sb = await runSandbox('ports', {
            port_mappings: [
              { protocol: 'TCP', container_port: 8080, host_port: 12080 },
              { protocol: 'TCP', container_port: 8081 },
            ],
            linux: {
              sysctls: {
                'kernel.shm_rmid_forced': '1',
                'fs.mqueue.msg_max': '100',
                'net.ipv4.ip_local_port_range': '40000 41000',
              },
            },
          });
          // The portmap plugin got the one mapping with a host port.
          const portmap = readdirSync(join(podDir(sb), 'net'))
            .filter((f) => f.endsWith('.conf'))
            .map(
              (f) => JSON.parse(readFileSync(join(podDir(sb), 'net', f), 'utf8')) as Record<string, unknown>,
            )
            .filter((c) => c['type'] === 'portmap');
          assert.deepEqual(
            portmap.map((c) => c['runtimeConfig']),
            [{ portMappings: [{ hostPort: 12080, containerPort: 8080, protocol: 'tcp' }] }],
          );
          const web = await create(sb, {
            metadata: { name: 'web', attempt: 0 },
            command: ['/bin/httpd', '-f', '-p', '8080', '-h', '/www'],
          });
          await unary(rt, 'StartContainer', { container_id: web });
          for (const [file, want] of [
            ['/proc/sys/kernel/shm_rmid_forced', '1'],
            ['/proc/sys/fs/mqueue/msg_max', '100'],
            ['/proc/sys/net/ipv4/ip_local_port_range', '40000\t41000'],
          ] as const) {
            const r = await unary<{ stdout: Buffer; exit_code: number }>(rt, 'ExecSync', {
              container_id: web,
              cmd: ['/bin/cat', file],
            });
            assert.equal(r.stdout.toString().trim(), want, file);
          }
          // The host port, on the service's loopback (its network namespace): httpd answers once
          // it listens; a connection made before that is refused, and retried.
          const ns = `--net=/proc/${service?.child.pid ?? 0}/ns/net`;
          assert.equal(spawnSync('nsenter', [ns, 'ip', 'link', 'set', 'lo', 'up']).status, 0);
          let got = '';
          await waitFor('the host port to answer', () => {
            const r = spawnSync(
              'nsenter',
              [ns, 'curl', '-s', '--max-time', '5', 'http://127.0.0.1:12080/index.html'],
              {
                encoding: 'utf8',
              },
            );
            got = r.stdout;
            return r.status === 0;
          });
          assert.equal(got, 'hello from the pod\n');
          await unary(rt, 'StopPodSandbox', { pod_sandbox_id: sb });
          const after = spawnSync('nsenter', [
            ns,
            'curl',
            '-s',
            '--max-time',
            '5',
            'http://127.0.0.1:12080/index.html',
          ]);
          assert.notEqual(after.status, 0, 'the mapping is gone with the sandbox');
          await unary(rt, 'RemovePodSandbox', { pod_sandbox_id: sb });
          sandboxes.delete(sb);
        } finally {
          rmSync(join(work, 'net.d'), { recursive: true, force: true });
        }
      });

      it('an ExecSync past its timeout fails DEADLINE_EXCEEDED and its command is killed', async () => {
        const sb = await runSandbox('exectimeout');
        const id = await create(sb, {
          metadata: { name: 'sleeper', attempt: 0 },
          command: ['/bin/sleep', '1000'],
        });
        await unary(rt, 'StartContainer', { container_id: id });
        const execd = (): number[] =>
          readdirSync('/proc')
            .filter((d) => /^\d+$/.test(d))
            .map(Number)
            .filter((pid) => {
              try {
                return (
                  readFileSync(`/proc/${pid}/cmdline`, 'utf8') === '/bin/sleep\x004321\x00' && pidAlive(pid)
                );
              } catch {
                return false;
              }
            });
        await rejects(
          unary(rt, 'ExecSync', { container_id: id, cmd: ['/bin/sleep', '4321'], timeout: '1' }),
          grpc.status.DEADLINE_EXCEEDED,
          /timed out after 1s/,
        );
        assert.deepEqual(execd(), [], 'the timed-out command is gone');
        const r = await unary<{ stdout: Buffer; exit_code: number }>(rt, 'ExecSync', {
          container_id: id,
          cmd: ['/bin/echo', 'still-running'],
          timeout: '10',
        });
        assert.equal(r.stdout.toString(), 'still-running\n');
        await unary(rt, 'RemovePodSandbox', { pod_sandbox_id: sb });
        sandboxes.delete(sb);
      });

      it('Exec, Attach and PortForward answer with URLs of the streaming server that reach the container and the pod', async () => {
        // The test reaches the streaming server on the loopback: this service is on the host's
        // network; the sandbox has a network namespace of its own.
        await stop();
        await start(true);
        const sb = await runSandbox('streams');
        const web = await create(sb, {
          metadata: { name: 'web', attempt: 0 },
          command: ['/bin/httpd', '-f', '-p', '8080', '-h', '/www'],
        });
        await unary(rt, 'StartContainer', { container_id: web });
        const exec = await unary<{ url: string }>(rt, 'Exec', {
          container_id: web,
          cmd: ['/bin/sh', '-c', 'cat; echo to-stderr >&2; exit 4'],
          stdin: true,
          stdout: true,
          stderr: true,
        });
        assert.match(exec.url, /^http:\/\/127\.0\.0\.1:\d+\/exec\//);
        const r = await remoteCommand(exec.url, { stdin: 'piped in\n', stderr: true });
        assert.equal(r.stdout, 'piped in\n');
        assert.equal(r.stderr, 'to-stderr\n');
        assert.equal(r.exitCode, 4, JSON.stringify(r.status));
        const tty = await unary<{ url: string }>(rt, 'Exec', {
          container_id: web,
          cmd: ['/bin/sh', '-c', 'if [ -t 1 ]; then echo on-a-tty; fi'],
          stdin: true,
          stdout: true,
          tty: true,
        });
        const t = await remoteCommand(tty.url, { stdin: '', tty: true });
        assert.match(t.stdout, /on-a-tty/);
        assert.equal(t.exitCode, 0);
        await rejects(
          unary(rt, 'Exec', { container_id: `${sb}-nothing-0`, cmd: ['/bin/true'], stdout: true }),
          grpc.status.NOT_FOUND,
        );

        // Attach: stdin through the supervisor's stream, stdout from the CRI log, the exit status.
        const reader = await create(sb, {
          metadata: { name: 'reader', attempt: 0 },
          command: ['/bin/sh', '-c', 'while read l; do echo "got $l"; [ "$l" = quit ] && exit 7; done'],
          stdin: true,
          // The attach lasts until the container ends, past the end of the client's stdin.
          stdin_once: true,
          log_path: 'reader/0.log',
        });
        await unary(rt, 'StartContainer', { container_id: reader });
        const att = await unary<{ url: string }>(rt, 'Attach', {
          container_id: reader,
          stdin: true,
          stdout: true,
          stderr: true,
        });
        assert.match(att.url, /^http:\/\/127\.0\.0\.1:\d+\/attach\//);
        const ar = await remoteCommand(att.url, { stdin: 'hello\nquit\n', stderr: true });
        assert.equal(ar.stdout, 'got hello\ngot quit\n');
        assert.equal(ar.exitCode, 7, JSON.stringify(ar.status));
        // With stdin_once, the end of the first attach's stdin is the end of the container's: the
        // shell reads EOF and ends, and with it the attach (critest's attach spec does this).
        const once = await create(sb, {
          metadata: { name: 'once', attempt: 0 },
          command: ['/bin/sh', '-c', 'while read l; do echo "got $l"; done; echo "stdin ended"; exit 3'],
          stdin: true,
          stdin_once: true,
        });
        await unary(rt, 'StartContainer', { container_id: once });
        const oatt = await unary<{ url: string }>(rt, 'Attach', {
          container_id: once,
          stdin: true,
          stdout: true,
          stderr: true,
        });
        const or = await remoteCommand(oatt.url, { stdin: 'hello\n', stderr: true });
        assert.equal(or.stdout, 'got hello\nstdin ended\n');
        assert.equal(or.stderr, '');
        assert.equal(or.exitCode, 3, JSON.stringify(or.status));
        // Output without its newline yet (a prompt) reaches the attach at once: the client answers
        // only once it has seen it (critest's attach spec waits so for `echo -n hello`). The
        // attach follows the output from its start: the container prompts again until answered.
        const prompt = await create(sb, {
          metadata: { name: 'prompt', attempt: 0 },
          command: ['/bin/sh', '-c', 'until read -t 1 l; do echo -n "name? "; done; echo "hi $l"'],
          stdin: true,
          stdin_once: true,
        });
        await unary(rt, 'StartContainer', { container_id: prompt });
        const patt = await unary<{ url: string }>(rt, 'Attach', {
          container_id: prompt,
          stdin: true,
          stdout: true,
          stderr: true,
        });
        const pr = await remoteCommand(patt.url, { stdin: 'bob\n', stdinAfter: 'name? ', stderr: true });
        assert.match(pr.stdout, /^(name\? )+hi bob\n$/);
        assert.equal(pr.exitCode, 0, JSON.stringify(pr.status));
        // With a tty: the container's terminal.
        const term = await create(sb, {
          metadata: { name: 'term', attempt: 0 },
          command: ['/bin/sh', '-c', 'if [ -t 0 ]; then read l; echo "tty got $l"; exit 5; fi'],
          stdin: true,
          tty: true,
        });
        await unary(rt, 'StartContainer', { container_id: term });
        const tatt = await unary<{ url: string }>(rt, 'Attach', {
          container_id: term,
          stdin: true,
          stdout: true,
          tty: true,
        });
        const tr = await remoteCommand(tatt.url, { stdin: 'abc\n', tty: true });
        assert.match(tr.stdout, /tty got abc/);
        assert.equal(tr.exitCode, 5, JSON.stringify(tr.status));

        const pf = await unary<{ url: string }>(rt, 'PortForward', { pod_sandbox_id: sb, port: [8080] });
        assert.match(pf.url, /^http:\/\/127\.0\.0\.1:\d+\/portforward\//);
        const { conn, socket } = await upgrade(pf.url, ['portforward.k8s.io']);
        try {
          // httpd answers once it listens: a connection made before that is refused, and retried.
          let got = { data: '', error: '' };
          const end = Date.now() + 30_000;
          for (let i = 0; !/hello from the pod/.test(got.data) && Date.now() < end; i++)
            got = await forwardOnce(conn, 8080, String(i), 'GET /index.html HTTP/1.0\r\n\r\n');
          assert.match(got.data, /^HTTP\/1\.[01] 200/);
          assert.match(got.data, /hello from the pod/);
        } finally {
          socket.destroy();
        }
        await unary(rt, 'RemovePodSandbox', { pod_sandbox_id: sb });
        sandboxes.delete(sb);
      });
    },
  );
}
