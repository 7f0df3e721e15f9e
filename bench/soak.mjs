#!/usr/bin/env node
// Soak: N pods (SOAK_PODS, default 1000) run and collected one after another, then what the host
// holds before and after: open file handles, mounts, cgroups, runtime state, processes, the data
// dir's disk use and memory. Goal: nothing grows. Not a CI test (it takes long); run as root:
//   SOAK_PODS=1000 node bench/soak.mjs
// Other knobs: SOAK_RUNTIME=crun|runc (default crun), SOAK_GC_EVERY=K (gc after every K pods,
// default 1), SOAK_NET=none|default (default none). Prints one line per measure and exits 1 when
// a count that must come back (this run's mounts, cgroups, runtime state, fds, data dir) did not.
import { execFileSync, spawnSync } from 'node:child_process';
import {
  copyFileSync,
  existsSync,
  mkdirSync,
  mkdtempSync,
  readdirSync,
  readFileSync,
  rmSync,
  statfsSync,
  symlinkSync,
  writeFileSync,
} from 'node:fs';
import { join, resolve } from 'node:path';

const root = resolve(import.meta.dirname, '..');
const rkt = join(root, 'bin', 'rkt');
const actool = join(root, 'bin', 'actool');
const pods = Number(process.env.SOAK_PODS ?? 1000);
const runtime = process.env.SOAK_RUNTIME ?? 'crun';
const gcEvery = Number(process.env.SOAK_GC_EVERY ?? 1);
const net = process.env.SOAK_NET ?? 'none';
if (process.getuid?.() !== 0) {
  console.error('soak: run as root');
  process.exit(2);
}
const busybox = ['/bin/busybox', '/usr/bin/busybox'].find((p) => existsSync(p));
if (busybox === undefined) {
  console.error('soak: needs busybox-static');
  process.exit(2);
}

const work = mkdtempSync('/var/tmp/rocket-soak-');
const data = join(work, 'data');
const env = { ...process.env, RKT_STOP_TIMEOUT: '5' };
delete env.NODE_EXTRA_CA_CERTS;

function sh(cmd, args, opts = {}) {
  const r = spawnSync(cmd, args, { encoding: 'utf8', env, ...opts });
  if (r.status !== 0) throw new Error(`${cmd} ${args.join(' ')}: ${r.status} ${r.stderr}`);
  return r.stdout;
}

/** Directories under /sys/fs/cgroup (every hierarchy). */
function cgroupDirs(dir = '/sys/fs/cgroup', depth = 0) {
  let n = 0;
  let entries;
  try {
    entries = readdirSync(dir, { withFileTypes: true });
  } catch {
    return 0;
  }
  for (const e of entries)
    if (e.isDirectory() && !e.isSymbolicLink())
      n += 1 + (depth < 8 ? cgroupDirs(join(dir, e.name), depth + 1) : 0);
  return n;
}

function duBytes(dir) {
  return Number(execFileSync('du', ['-sb', dir], { encoding: 'utf8' }).split('\t')[0]);
}

function meminfo() {
  const m = Object.fromEntries(
    readFileSync('/proc/meminfo', 'utf8')
      .split('\n')
      .filter((l) => l.includes(':'))
      .map((l) => [
        l.slice(0, l.indexOf(':')),
        Number(
          l
            .slice(l.indexOf(':') + 1)
            .trim()
            .split(' ')[0],
        ) * 1024,
      ]),
  );
  return { available: m.MemAvailable, slab: m.Slab };
}

/** Cgroup dirs and runtime state entries that name one of `uuids` (the pods this run made). */
function leftoversOf(uuids) {
  const hierarchies = [
    '/sys/fs/cgroup',
    ...readdirSync('/sys/fs/cgroup').map((h) => join('/sys/fs/cgroup', h)),
  ];
  let cgroups = 0;
  let state = 0;
  const names = new Set([
    ...['/run/crun', '/run/runc'].flatMap((d) => (existsSync(d) ? readdirSync(d) : [])),
  ]);
  for (const u of uuids) {
    for (const h of hierarchies) if (existsSync(join(h, `rkt-${u}`))) cgroups++;
    for (const n of names) if (n.startsWith(`rkt-${u}`)) state++;
  }
  return { cgroups, state };
}

function measure(uuids) {
  const left = leftoversOf(uuids);
  const mountinfo = readFileSync('/proc/self/mountinfo', 'utf8')
    .split('\n')
    .filter((l) => l !== '');
  const runtimeState = ['/run/crun', '/run/runc'].reduce(
    (n, d) => n + (existsSync(d) ? readdirSync(d).filter((x) => x.startsWith('rkt-')).length : 0),
    0,
  );
  const fs = statfsSync(work);
  const mem = meminfo();
  return {
    'open file handles (fs.file-nr)': Number(readFileSync('/proc/sys/fs/file-nr', 'utf8').split('\t')[0]),
    'open fds of this process': readdirSync('/proc/self/fd').length,
    mounts: mountinfo.length,
    'mounts under the data dir': mountinfo.filter((l) => l.includes(data)).length,
    'nsfs mounts': mountinfo.filter((l) => / - nsfs /.test(l)).length,
    cgroups: cgroupDirs(),
    'runtime state (rkt-*, any store)': runtimeState,
    "cgroups of this run's pods": left.cgroups,
    "runtime state of this run's pods": left.state,
    processes: readdirSync('/proc').filter((p) => /^\d+$/.test(p)).length,
    'data dir bytes': duBytes(data),
    'filesystem used bytes': (fs.blocks - fs.bfree) * fs.bsize,
    'MemAvailable bytes': mem.available,
    'Slab bytes': mem.slab,
  };
}

try {
  // A busybox ACI with /bin/true, fetched once: every pod runs it by image ID.
  const layout = join(work, 'layout');
  mkdirSync(join(layout, 'rootfs', 'bin'), { recursive: true });
  copyFileSync(busybox, join(layout, 'rootfs', 'bin', 'busybox'));
  symlinkSync('busybox', join(layout, 'rootfs', 'bin', 'true'));
  const arch = process.arch === 'x64' ? 'amd64' : process.arch;
  writeFileSync(
    join(layout, 'manifest'),
    JSON.stringify({
      acKind: 'ImageManifest',
      acVersion: '0.8.11',
      name: 'example.com/soak',
      labels: [
        { name: 'os', value: 'linux' },
        { name: 'arch', value: arch },
      ],
      app: { exec: ['/bin/true'], user: '0', group: '0' },
    }),
  );
  sh(actool, ['build', layout, join(work, 'soak.aci')]);
  const image = sh(rkt, [
    `--dir=${data}`,
    '--insecure-options=image',
    'fetch',
    join(work, 'soak.aci'),
  ]).trim();
  // One pod first, so that what the first run makes once (the rendered tree, lazily made dirs,
  // the runtime's own state dir) is in "before".
  sh(rkt, [`--dir=${data}`, 'run', `--net=${net}`, `--stage1-name=oci-${runtime}`, image]);
  for (let i = 0; i < 2; i++) sh(rkt, [`--dir=${data}`, 'gc', '--grace-period=0s']);

  const uuids = [];
  const before = measure(uuids);
  const started = Date.now();
  let failed = 0;
  for (let i = 1; i <= pods; i++) {
    const r = spawnSync(
      rkt,
      [`--dir=${data}`, 'run', `--net=${net}`, `--stage1-name=oci-${runtime}`, image],
      {
        encoding: 'utf8',
        env,
      },
    );
    if (r.status !== 0) {
      failed++;
      process.stderr.write(`pod ${i}: exit ${r.status}: ${r.stderr}`);
    }
    if (i % gcEvery === 0 || i === pods)
      for (let k = 0; k < 2; k++) sh(rkt, [`--dir=${data}`, 'gc', '--grace-period=0s']);
    if (i % 100 === 0)
      process.stderr.write(`${i} pods, ${((Date.now() - started) / i).toFixed(0)} ms each\n`);
  }
  const seconds = (Date.now() - started) / 1000;
  const after = measure(uuids);

  console.log(
    `soak: ${pods} pods on ${runtime} (--net=${net}, gc every ${gcEvery}), ${failed} failed, ${seconds.toFixed(1)} s (${((seconds * 1000) / pods).toFixed(0)} ms a pod, gc included)`,
  );
  const width = Math.max(...Object.keys(before).map((k) => k.length));
  for (const k of Object.keys(before)) {
    const d = after[k] - before[k];
    console.log(
      `${k.padEnd(width)}  before ${String(before[k]).padStart(12)}  after ${String(after[k]).padStart(12)}  change ${d >= 0 ? '+' : ''}${d}`,
    );
  }
  // Counts that must come back exactly (other processes on the host can move the rest).
  const must = [
    'mounts under the data dir',
    "cgroups of this run's pods",
    "runtime state of this run's pods",
    'open fds of this process',
    'data dir bytes',
  ];
  const grew = must.filter((k) => after[k] > before[k]);
  if (grew.length > 0 || failed > 0) {
    console.log(`soak: grew: ${grew.join(', ') || 'nothing'}; failed pods: ${failed}`);
    process.exitCode = 1;
  }
} finally {
  for (let i = 0; i < 2; i++)
    spawnSync(rkt, [`--dir=${data}`, 'gc', '--grace-period=0s'], { env, stdio: 'ignore' });
  rmSync(work, { recursive: true, force: true });
}
