/**
 * Run templates (docs/stage1.md, "Repeating `rkt run` without Node"): when Node runs a plain
 * `rkt [--dir=DIR] run --net=none ...` of images already in the store, it also keeps a copy of the
 * prepared pod dir it wrote (the files of the run, with this pod's UUID in them), the exact command
 * line it answers and a stamp of what that run read outside the pod dir. bin/rkt
 * (src/stage1/oci/fast.sh, fast_run_template) then answers the same command line by copying the
 * template under a new UUID and exec'ing the supervisor, without Node, while the stamp holds.
 *
 *   <data dir>/cache/run-template/t.<hash of argv>.<random>/argv   the command line, one a line
 *   <data dir>/cache/run-template/t.<hash of argv>.<random>/stamp  what the run depends on
 *   <data dir>/cache/run-template/t.<hash of argv>.<random>/pod/   the prepared pod dir
 *
 * A template is made in `n.*` and renamed into place whole, under a name never used again; one
 * being replaced or removed is first renamed to `x.*`. The launcher takes a spare copy of it,
 * `spare.<UUID>` in the template's dir, which the previous run's launcher made in the background (in `m.<UUID>`,
 * renamed into the template once whole), or copies it to `s.<new UUID>`; the supervisor locks that
 * copy and renames it into `run/` (the same filesystem). The template and its spares have no
 * `pod-created`: the launcher claims a spare by creating it (O_EXCL). `rkt gc` removes the
 * templates (their spares with them) and stale copies.
 */
import { createHash, randomBytes } from 'node:crypto';
import {
  cpSync,
  existsSync,
  mkdirSync,
  readdirSync,
  readFileSync,
  renameSync,
  rmSync,
  statSync,
  writeFileSync,
} from 'node:fs';
import path from 'node:path';
import type { PodArgs } from './args.js';
import { POD_FILES, appTreeStoreId } from '../pod-layout.js';
import { RUN_LAUNCHER_FILE } from './launcher.js';
import { POD_SUMMARY_FILE, copyManifestIdentity } from './summary.js';
import { FAST_RUN_UNSAFE_ENV } from './run-pipeline.js';
import { mknod, S_IFIFO } from '../aci/syscalls.js';

/** The templates' dir in a data dir. */
export function runTemplateDir(dataDir: string): string {
  return path.join(dataDir, 'cache', 'run-template');
}
/** The stamp's format: fast.sh takes only this version. */
export const RUN_TEMPLATE_VERSION = '1';
/** At most this many templates are kept (the oldest go). */
export const RUN_TEMPLATE_MAX = 8;
/** Environment whose value when the launcher runs must be the one Node's run had. */
export const RUN_TEMPLATE_SAME_ENV = [
  'PATH',
  'RKT_OCI_RUNTIME',
  'RKT_LOG_MAX_SIZE',
  'RKT_STOP_TIMEOUT',
  'XDG_RUNTIME_DIR',
];
/** A copy (`s.*`, or a spare being made: `m.*`) older than this that no supervisor took is a killed launcher's leftover. */
const STALE_COPY_MS = 10 * 60 * 1000;
const BOOT_ID = '/proc/sys/kernel/random/boot_id';

const plainPath = (p: string): boolean => p.startsWith('/') && path.normalize(p) === p && !p.endsWith('/');

/**
 * Whether the launcher's argv is the form fast.sh matches: `[--dir=DIR | --dir DIR] run ...` with
 * DIR a plain absolute path, and no argument holding a newline (the argv file has one a line).
 */
export function runTemplateForm(argv: readonly string[]): boolean {
  if (argv.some((a) => a.includes('\n'))) return false;
  let i = 0;
  const first = argv[0] ?? '';
  if (first.startsWith('--dir=')) {
    if (!plainPath(first.slice('--dir='.length))) return false;
    i = 1;
  } else if (first === '--dir') {
    if (!plainPath(argv[1] ?? '')) return false;
    i = 2;
  }
  return argv[i] === 'run';
}

/**
 * Whether `rkt run` with these flags may be answered by a template: a whitelist. Every flag whose
 * effect differs from run to run or reads state outside the store and the stamp (files named on
 * the command line, volumes, the environment, the terminal, fetches, the metadata service, the
 * network) leaves the command to Node.
 */
export function runTemplateArgsOk(args: PodArgs): boolean {
  return (
    args.net.length === 1 &&
    args.net[0] === 'none' &&
    args.apps.length > 0 &&
    args.apps.every((a) => a.signature === undefined && a.mounts.length === 0) &&
    args.podManifest === undefined &&
    args.mounts.length === 0 &&
    args.volumes.length === 0 &&
    !args.inheritEnv &&
    args.setEnvFile.length === 0 &&
    args.hostsEntries.length === 0 &&
    args.uuidFileSave === undefined &&
    !args.interactive &&
    args.ports.length === 0 &&
    args.sandboxPorts === undefined &&
    args.sandboxIsolators === undefined &&
    !args.noOverlay &&
    !args.privateUsers &&
    args.mdsRegister !== true &&
    args.ipc === undefined &&
    (args.pullPolicy === 'new' || args.pullPolicy === 'never') &&
    Object.keys(args.stage1).length === 0 &&
    args.engine === undefined &&
    args.insecureOptions === undefined &&
    Object.keys(args.globals).length === 0
  );
}

/** The argv file: one argument a line. */
export function runTemplateArgvText(argv: readonly string[]): string {
  return argv.map((a) => a + '\n').join('');
}

/** The files (relative, sorted) that the launcher must not take older than the stamp. */
export function runTemplateDeps(home: string, dataDir: string): string[] {
  const db = path.join(dataDir, 'cas', 'db');
  let dbFiles: string[];
  try {
    dbFiles = readdirSync(db).map((f) => path.join(db, f));
  } catch {
    dbFiles = [];
  }
  return [
    path.join(home, 'src', 'stage1', 'oci', 'supervisor.sh'),
    path.join(home, 'src', 'stage1', 'oci', 'fast.sh'),
    path.join(home, 'dist', 'src', 'cli', 'rkt.js'),
    path.join(home, 'dist', 'bundle', 'rkt.blob'),
    '/etc/resolv.conf',
    ...dbFiles.sort(),
  ];
}

/** The stamp's lines (fast.sh checks each; SUB lines name the files that hold the UUID). */
export function runTemplateStamp(o: {
  home: string;
  dataDir: string;
  boot: string;
  uuid: string;
  env: NodeJS.ProcessEnv;
  trees: readonly string[];
  subst: readonly string[];
}): string {
  const lines = [
    `RKT_RUN_TEMPLATE=${RUN_TEMPLATE_VERSION}`,
    `HOME=${o.home}`,
    `DIR=${o.dataDir}`,
    `BOOT=${o.boot}`,
    ...RUN_TEMPLATE_SAME_ENV.map((k) => `${k}=${o.env[k] ?? ''}`),
    `UUID=${o.uuid}`,
    ...o.trees.map((t) => `NEED=${path.join(o.dataDir, 'cas', 'tree', t, 'rootfs')}`),
    ...o.subst.map((f) => `SUB=${f}`),
  ];
  return lines.join('\n') + '\n';
}

/**
 * Every regular file under `dir`, relative, into `out`, and every FIFO (the engine's, for the
 * supervisor) into `fifos`; false if anything else is there (a symlink, a socket...).
 */
function podFiles(dir: string, out: string[], fifos: string[], rel = ''): boolean {
  for (const e of readdirSync(path.join(dir, rel), { withFileTypes: true })) {
    const r = rel === '' ? e.name : path.join(rel, e.name);
    if (e.isDirectory()) {
      if (!podFiles(dir, out, fifos, r)) return false;
    } else if (e.isFile()) out.push(r);
    else if (e.isFIFO()) fifos.push(r);
    else return false;
  }
  return true;
}

export interface RunTemplateRequest {
  dataDir: string;
  /** The launcher's argv (process.argv after the script). */
  argv: readonly string[];
  uuid: string;
  /** The prepared pod dir the run wrote (`prepared/UUID`). */
  podDir: string;
  /** The store database files' mtimes (ns) before the run read the store (dbMtimes). */
  dbBefore: string;
  env?: NodeJS.ProcessEnv;
}

/** The store database's files and mtimes, for telling whether the store changed meanwhile. */
export function dbMtimes(dataDir: string): string {
  const db = path.join(dataDir, 'cas', 'db');
  try {
    return readdirSync(db)
      .sort()
      .map((f) => `${f}:${statSync(path.join(db, f), { bigint: true }).mtimeNs}`)
      .join(' ');
  } catch {
    return '';
  }
}

/**
 * Writes (or replaces) the template of this run. Best effort: on any doubt it writes nothing and
 * returns false (the command then keeps going through Node).
 */
export function writeRunTemplate(req: RunTemplateRequest): boolean {
  const env = req.env ?? process.env;
  const home = env['ROCKET_HOME'] ?? '';
  if (!plainPath(home) || !plainPath(req.dataDir) || !runTemplateForm(req.argv)) return false;
  if (FAST_RUN_UNSAFE_ENV.some((k) => env[k] !== undefined)) return false;
  if (RUN_TEMPLATE_SAME_ENV.some((k) => (env[k] ?? '').includes('\n'))) return false;
  // The store changed while the run read it: its view may already be stale.
  if (dbMtimes(req.dataDir) !== req.dbBefore || req.dbBefore === '') return false;
  const root = runTemplateDir(req.dataDir);
  mkdirSync(root, { recursive: true, mode: 0o700 });
  // The supervisor renames the launcher's copy into run/: the same filesystem.
  const pods = path.dirname(path.dirname(req.podDir));
  if (statSync(root).dev !== statSync(path.join(pods, 'run')).dev) return false;
  const boot = readFileSync(BOOT_ID, 'utf8').trim();
  const files: string[] = [];
  const fifos: string[] = [];
  if (!podFiles(req.podDir, files, fifos)) return false;
  // Each app's tree, which the launcher finds still in the store (appsinfo/APP/treeStoreID).
  const trees = readdirSync(path.join(req.podDir, POD_FILES.appsInfo)).map((a) =>
    appTreeStoreId(req.podDir, a),
  );
  if (trees.length === 0 || trees.some((t) => t === undefined || t === '' || t.includes('/'))) return false;
  const { uuid } = req;
  const short = uuid.slice(0, 8);
  const bare = uuid.replaceAll('-', '');
  const subst: string[] = [];
  for (const f of files) {
    if (f === RUN_LAUNCHER_FILE) continue;
    const text = readFileSync(path.join(req.podDir, f), 'latin1');
    if (!text.includes(short) && !text.includes(bare)) continue;
    // Only the whole UUID may be there: a part or another spelling of it would stay the old pod's.
    const rest = text.replaceAll(uuid, '');
    if (rest.includes(short) || rest.includes(bare)) return false;
    if (!/^[A-Za-z0-9._/-]+$/.test(f)) return false;
    subst.push(f);
  }
  const stampText = runTemplateStamp({
    home,
    dataDir: req.dataDir,
    boot,
    uuid,
    env,
    trees: trees as string[],
    subst: subst.sort(),
  });
  const hash = createHash('sha256').update(runTemplateArgvText(req.argv)).digest('hex').slice(0, 16);
  const tmp = path.join(root, `n.${randomBytes(6).toString('hex')}`);
  try {
    mkdirSync(tmp, { mode: 0o700 });
    // Node's cp refuses FIFOs: they are made again in the copy (the launcher's `cp -a` copies them).
    // No pod-created: the launcher makes it in each copy (the pod's creation), and claims a spare
    // copy by making it.
    const skip = new Set(
      [RUN_LAUNCHER_FILE, POD_FILES.created, ...fifos].map((f) => path.join(req.podDir, f)),
    );
    cpSync(req.podDir, path.join(tmp, 'pod'), {
      recursive: true,
      preserveTimestamps: true,
      filter: (src) => !skip.has(src),
    });
    for (const f of fifos) mknod(path.join(tmp, 'pod', f), S_IFIFO | 0o600, 0n);
    if (!subst.includes(POD_FILES.manifest)) copySummaryIdentity(path.join(tmp, 'pod'));
    writeFileSync(path.join(tmp, 'argv'), runTemplateArgvText(req.argv));
    const stamp = path.join(tmp, 'stamp');
    writeFileSync(stamp, stampText);
    // The launcher takes the template only while the stamp is strictly newer than each of these:
    // a change in the same clock tick as the stamp would not show, so such a template is not kept.
    const st = statSync(stamp, { bigint: true }).mtimeNs;
    for (const d of runTemplateDeps(home, req.dataDir)) {
      if (!existsSync(d)) continue;
      if (statSync(d, { bigint: true }).mtimeNs >= st) throw new Error('not older than the stamp');
    }
    if (dbMtimes(req.dataDir) !== req.dbBefore) throw new Error('the store changed');
    // A name is written once (the launcher reads the stamp, then copies the pod, by one path):
    // the template it replaces goes after the new one is in place.
    const name = `t.${hash}.${randomBytes(6).toString('hex')}`;
    renameSync(tmp, path.join(root, name));
    for (const old of readdirSync(root))
      if (old.startsWith(`t.${hash}.`) && old !== name) retire(root, path.join(root, old));
  } catch {
    rmSync(tmp, { recursive: true, force: true });
    return false;
  }
  prune(root);
  return true;
}

/**
 * The template's list summary made valid for its copies: the launcher's `cp -a` keeps the
 * manifest's size and mtime but not its inode, so the summary records the copy identity
 * (summary.ts, copyManifestIdentity) instead. Absent or unreadable: left as it is (a listing then
 * reads the manifest).
 */
function copySummaryIdentity(podDir: string): void {
  const file = path.join(podDir, POD_SUMMARY_FILE);
  let value: unknown;
  try {
    value = JSON.parse(readFileSync(file, 'utf8'));
  } catch {
    return;
  }
  if (typeof value !== 'object' || value === null) return;
  const st = statSync(path.join(podDir, POD_FILES.manifest));
  writeFileSync(file, JSON.stringify({ ...value, manifest: copyManifestIdentity(st) }));
}

/** Renames a template away (whole, so that no launcher copies half of it), then removes it. */
function retire(root: string, dir: string): void {
  const away = path.join(root, `x.${randomBytes(6).toString('hex')}`);
  try {
    renameSync(dir, away);
  } catch {
    return;
  }
  rmSync(away, { recursive: true, force: true });
}

/** Keeps the newest RUN_TEMPLATE_MAX templates. */
function prune(root: string): void {
  const ts = readdirSync(root)
    .filter((n) => n.startsWith('t.'))
    .map((n) => {
      try {
        return { n, m: statSync(path.join(root, n, 'stamp')).mtimeMs };
      } catch {
        return { n, m: 0 };
      }
    })
    .sort((a, b) => b.m - a.m);
  for (const t of ts.slice(RUN_TEMPLATE_MAX)) retire(root, path.join(root, t.n));
}

/**
 * `rkt gc`: removes every template (the next run goes through Node and writes it anew), half-made
 * or retired ones, and copies that no supervisor took within STALE_COPY_MS (a launcher killed
 * between its copy and its exec). Returns how many entries went.
 */
export function clearRunTemplates(dataDir: string, now = Date.now()): number {
  const root = runTemplateDir(dataDir);
  let names: string[];
  try {
    names = readdirSync(root);
  } catch {
    return 0;
  }
  let n = 0;
  for (const name of names) {
    const p = path.join(root, name);
    if (name.startsWith('s.') || name.startsWith('m.') || name.startsWith('n.')) {
      let age: number;
      try {
        age = now - statSync(p).mtimeMs;
      } catch {
        continue;
      }
      if (age < STALE_COPY_MS) continue;
      rmSync(p, { recursive: true, force: true });
    } else if (name.startsWith('t.')) retire(root, p);
    else rmSync(p, { recursive: true, force: true });
    n++;
  }
  return n;
}
