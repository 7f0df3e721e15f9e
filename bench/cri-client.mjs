// A CRI client for bench/cri.sh: drives one CRI runtime (Rocket's `rkt cri-service` or containerd's
// CRI plugin) over its unix socket with the kubelet's calls, using our src/cri/v1/api.proto.
//
//   node bench/cri-client.mjs cycle SOCKET IMAGE RUNS OUT.json LABEL
//     RUNS times: RunPodSandbox + CreateContainer + StartContainer (then ContainerStatus until the
//     container is RUNNING), StopPodSandbox + RemovePodSandbox. Writes the times in hyperfine's JSON
//     shape (results[0].median, seconds) so bench/ratios.mjs reads them, and prints the median of
//     each phase.
//   node bench/cri-client.mjs hold SOCKET IMAGE N IDS.txt   N pods left running (their sandbox ids)
//   node bench/cri-client.mjs release SOCKET IDS.txt        stops and removes them
//   node bench/cri-client.mjs pull SOCKET IMAGE             PullImage (to cache it before timing)
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import * as grpc from '@grpc/grpc-js';
import { loadCriPackage } from '../dist/src/cri/proto.js';

const [mode, socket, ...rest] = process.argv.slice(2);
const pkg = await loadCriPackage();
const creds = grpc.credentials.createInsecure();
const runtime = new pkg.RuntimeService(`unix://${socket}`, creds);
const images = new pkg.ImageService(`unix://${socket}`, creds);
const logs = mkdtempSync(join(tmpdir(), 'cri-bench-logs.'));

function call(client, method, req) {
  return new Promise((resolve, reject) =>
    client[method](req, { deadline: Date.now() + 120_000 }, (err, res) =>
      err ? reject(new Error(`${method}: ${err.details ?? err.message}`)) : resolve(res),
    ),
  );
}

function sandboxConfig(name) {
  return {
    metadata: { name, uid: `uid-${name}`, namespace: 'rocket-bench', attempt: 0 },
    hostname: name,
    log_directory: join(logs, name),
    labels: { bench: 'cri' },
    linux: {},
  };
}

async function startPod(name, image) {
  const config = sandboxConfig(name);
  const { pod_sandbox_id: sandbox } = await call(runtime, 'RunPodSandbox', { config });
  const { container_id: container } = await call(runtime, 'CreateContainer', {
    pod_sandbox_id: sandbox,
    config: {
      metadata: { name: 'sleeper', attempt: 0 },
      image: { image },
      command: ['/bin/sleep', '3600'],
      log_path: 'sleeper.log',
      linux: {},
    },
    sandbox_config: config,
  });
  await call(runtime, 'StartContainer', { container_id: container });
  for (;;) {
    const { status } = await call(runtime, 'ContainerStatus', { container_id: container });
    if (status.state === 'CONTAINER_RUNNING') break;
    if (status.state === 'CONTAINER_EXITED')
      throw new Error(`${name}: the container exited (${status.exit_code})`);
  }
  return sandbox;
}

async function endPod(sandbox) {
  await call(runtime, 'StopPodSandbox', { pod_sandbox_id: sandbox });
  await call(runtime, 'RemovePodSandbox', { pod_sandbox_id: sandbox });
}

const median = (xs) => {
  const s = [...xs].sort((a, b) => a - b);
  return s.length % 2 ? s[(s.length - 1) / 2] : (s[s.length / 2 - 1] + s[s.length / 2]) / 2;
};

try {
  if (mode === 'pull') {
    await call(images, 'PullImage', { image: { image: rest[0] } });
  } else if (mode === 'cycle') {
    const [image, runsText, out, label] = rest;
    const runs = Number(runsText);
    const start = [];
    const end = [];
    const total = [];
    for (let i = -1; i < runs; i++) {
      const t0 = performance.now();
      const sandbox = await startPod(`bench-${process.pid}-${i + 1}`, image);
      const t1 = performance.now();
      await endPod(sandbox);
      const t2 = performance.now();
      if (i < 0) continue; // one warm-up round
      start.push((t1 - t0) / 1000);
      end.push((t2 - t1) / 1000);
      total.push((t2 - t0) / 1000);
    }
    const ms = (s) => `${(s * 1000).toFixed(0)} ms`;
    console.log(
      `${label}: start ${ms(median(start))}, stop+remove ${ms(median(end))}, total ${ms(median(total))}`,
    );
    const command = `${label}: RunPodSandbox+CreateContainer+StartContainer, StopPodSandbox+RemovePodSandbox`;
    writeFileSync(out, JSON.stringify({ results: [{ command, median: median(total), times: total }] }));
  } else if (mode === 'hold') {
    const [image, nText, idsFile] = rest;
    const ids = [];
    for (let i = 0; i < Number(nText); i++) ids.push(await startPod(`held-${process.pid}-${i}`, image));
    writeFileSync(idsFile, ids.join('\n') + '\n');
  } else if (mode === 'release') {
    const ids = readFileSync(rest[0], 'utf8').split('\n').filter(Boolean);
    for (const id of ids) await endPod(id);
  } else {
    throw new Error(`unknown mode ${mode}`);
  }
} catch (e) {
  console.error(`cri-client ${mode}: ${e.message}`);
  process.exitCode = 1;
} finally {
  runtime.close();
  images.close();
  rmSync(logs, { recursive: true, force: true });
}
