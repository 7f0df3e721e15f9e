/**
 * Stage0's run pipeline (`rkt run`, `rkt run-prepared`, `rkt app sandbox`): everything about a
 * prepared pod that is not the engine's business, in order — the network mode and `--port` check,
 * the metadata-service decision, `etc/hosts` and `etc/resolv.conf`, the log dirs, the CNI
 * networks in `ns-net`, the registration with the metadata service — then the engine, which gets a
 * typed RunConfig, writes its bundles and the supervisor's settings and returns the exec plan.
 * If the engine fails, the networks and the registration are undone. Engines import nothing of
 * src/pod, src/net or src/metadata: the arrow runs from here to them (docs/stage1.md).
 */
import { existsSync, mkdirSync, readFileSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { parsePodManifest } from '../appc/index.js';
import { RocketError } from '../errors.js';
import { stderrLine, unsaid } from '../stderr.js';
import { prepareLogCapture, type LogCaptureSettings } from '../logs/capture.js';
import { metadataRegistration, type Registration } from '../metadata/client.js';
import {
  TEARDOWN_SCRIPT,
  parseNetList,
  releasePodNetwork,
  requirePortsNetwork,
  setupPodNetwork,
} from '../net/index.js';
import { POD_FILES, appTreeStoreId } from '../pod-layout.js';
import type { Engine, ExecPlan, InsecureOptions, NetMode, RunConfig } from '../stage1/engine.js';
import { podHostname, podHostsFile, podResolvConf } from '../stage1/hosts.js';
import { which } from '../stage1/oci/runtime.js';
import type { PodArgs } from './args.js';
import { PodsLayout } from './state.js';

/** What the command line hands the pipeline: a prepared pod, its engine, the parsed run flags. */
export interface PodRunRequest {
  dataDir: string;
  uuid: string;
  engine: Engine;
  variant?: string;
  /** The run-time pod flags (`--net`, `--dns*`, `--hostname`, `--hosts-entry`, `--interactive`...). */
  args: PodArgs;
  insecure: InsecureOptions;
  /** `--system-config` and `--local-config` (network confs in their `net.d`). */
  configDirs: { system: string; local: string };
  /** Only the networks `--net` names, without rkt's `default-restricted` (the CRI service). */
  namedNetsOnly?: boolean;
  /** The CNI plugins' dirs, instead of rkt's search path (the CRI service's `--cni-bin-dir`). */
  cniPluginDirs?: readonly string[];
  /**
   * Where to write instead of `prepared/UUID` (prepareFastRun: the pod still in `prepare/`); the
   * paths written into the files are those of `prepared/` and `run/` all the same.
   */
  writeDir?: string;
  /** Makes the pod's network namespace instead of `unshare` (src/net; the CRI service). */
  makeNetns?: (file: string) => void;
  /** The pod's containers may ask for a rootfs mount propagation (the CRI service's). */
  mountPropagation?: boolean;
}

/** The network mode `--net` asks for: an engine without a pod network has the host's only. */
export function podNetMode(engine: Engine, net: readonly string[]): NetMode {
  if (engine.podNetwork === true) return parseNetList(net).mode;
  if (net.length === 0 || (net.length === 1 && net[0] === 'host')) return 'host';
  throw new RocketError(
    `--net=${net.join(',')}: the ${engine.name} engine runs apps in the host's network namespace; ` +
      'use --net=host or no --net',
    'invalid-argument',
  );
}

/** Runs the pipeline and returns the engine's plan (for the launcher to exec). */
export function runPod(req: PodRunRequest): ExecPlan {
  const layout = new PodsLayout(req.dataDir);
  const P = req.writeDir ?? layout.podDir('prepared', req.uuid);
  const R = layout.podDir('run', req.uuid);
  if (!existsSync(P)) throw new RocketError(`pod ${JSON.stringify(req.uuid)} is not prepared`, 'not-found');
  // Node runs the pod: a run `rkt prepare` wrote for bin/rkt is void from here, and its files go,
  // so that this run's flags alone say what the pod dir holds.
  if (req.writeDir === undefined) discardFastRun(P);
  const manifestFile = path.join(P, POD_FILES.manifest);
  const manifest = parsePodManifest(readFileSync(manifestFile, 'utf8'), manifestFile).manifest;
  const { args, engine } = req;
  const mode = podNetMode(engine, args.net);
  const base: RunConfig = {
    uuid: req.uuid,
    dataDir: req.dataDir,
    preparedDir: P,
    runDir: R,
    manifest,
    ...(req.variant !== undefined ? { variant: req.variant } : {}),
    insecure: req.insecure,
    interactive: args.interactive,
    noOverlay: args.noOverlay,
    ...(args.hostname !== undefined ? { hostname: args.hostname } : {}),
    network: { mode },
    resolvConf: false,
    dns: { dns: args.dns, dnsSearch: args.dnsSearch, dnsOpt: args.dnsOpt, ...dnsDomain(args) },
    hostsEntries: args.hostsEntries,
    metadata: { url: '', unregister: '' },
    configDirs: req.configDirs,
    ...(req.mountPropagation === true ? { mountPropagation: true } : {}),
  };
  if (engine.podNetwork !== true) return engine.run(base);

  requirePortsNetwork(mode, manifest.ports?.length ?? 0);
  // The metadata service: decided now (--mds-register=true fails here), registered once the
  // networks are up (it needs the pod's addresses).
  if (engine.podMetadata !== true && args.mdsRegister === true)
    throw new RocketError(
      `--mds-register=true: the ${engine.name} engine does not register pods with the metadata service`,
      'invalid-argument',
    );
  const metadata =
    engine.podMetadata === true
      ? metadataRegistration({
          dataDir: req.dataDir,
          uuid: req.uuid,
          podDir: P,
          net: mode,
          mode: args.mdsRegister,
        })
      : undefined;
  const hostname = podHostname(req.uuid, args.hostname);
  mkdirSync(path.join(P, 'etc'), { recursive: true });
  writeFileSync(path.join(P, 'etc', 'hosts'), podHostsFile(hostname, args.hostsEntries));
  const resolv = podResolvConf(base.dns);
  if (resolv !== undefined) writeFileSync(path.join(P, 'etc', 'resolv.conf'), resolv);
  const logs = engine.podLogs === true && !args.interactive ? podLogs(P, manifest.apps) : undefined;

  // With none or host, this only releases networks an earlier, killed stage0 left in this pod.
  // On its own failure it undoes what it made.
  setupPodNetwork({
    uuid: req.uuid,
    dataDir: req.dataDir,
    preparedDir: P,
    runDir: R,
    net: args.net,
    configDirs: req.configDirs,
    manifest,
    dns: args,
    hostname,
    ...(req.namedNetsOnly === true ? { namedOnly: true } : {}),
    ...(req.cniPluginDirs !== undefined ? { pluginDirs: req.cniPluginDirs } : {}),
    ...(req.makeNetns !== undefined ? { makeNetns: req.makeNetns } : {}),
    warn: (m) => stderrLine(`run: ${m}`),
  });
  let registration: Registration | undefined;
  try {
    registration = metadata?.register();
    return engine.run({
      ...base,
      network: { mode, ...(mode === 'cni' ? { teardownScript: TEARDOWN_SCRIPT } : {}) },
      resolvConf: resolv !== undefined,
      metadata: { url: registration?.url ?? '', unregister: registration?.unregister ?? '' },
      ...(logs !== undefined ? { logs } : {}),
    });
  } catch (err) {
    registration?.undo();
    releasePodNetwork(P, req.uuid, (m) => stderrLine(`run: undoing the networks: ${m}`));
    throw err;
  }
}

function dnsDomain(args: PodArgs): { dnsDomain?: string } {
  return args.dnsDomain !== undefined ? { dnsDomain: args.dnsDomain } : {};
}

/** The pod log's dirs and the loggers' settings (src/logs/capture.ts); mawk is the logger. */
function podLogs(P: string, apps: readonly { name: string }[]): LogCaptureSettings {
  if (which('mawk') === undefined)
    throw new RocketError(
      'mawk is needed to keep the pod log: install it (apt-get install mawk)',
      'failed-precondition',
    );
  return prepareLogCapture(
    P,
    apps.map((a) => a.name),
  );
}

/**
 * The Node-free `rkt run-prepared` (docs/stage1.md, "Running a prepared pod without Node"):
 * `rkt prepare` runs the pipeline above for `run-prepared --net=none UUID` into the pod dir (still
 * in `prepare/`), and stamps it with what that run depends on outside the pod dir. bin/rkt
 * (src/stage1/oci/fast.sh) then execs the supervisor on it directly when the stamp still holds, and
 * leaves everything else to Node, whose runPod first discards these files.
 */
export const FAST_RUN_STAMP = path.join('stage1', 'fast-run');
/** The stamp's format: fast.sh takes only this version. */
export const FAST_RUN_VERSION = '1';
/** What the prepared run writes into the pod dir (prepare writes none of these itself). */
const FAST_RUN_FILES = [FAST_RUN_STAMP, 'stage1', 'apps', 'overlay', 'logs', 'etc'];
/**
 * Environment that changes what Node would write at run time (systemd's readiness and socket
 * activation, the engine's debug line): with any set at prepare or at run, Node runs the pod.
 */
export const FAST_RUN_UNSAFE_ENV = [
  'NOTIFY_SOCKET',
  'LISTEN_FDS',
  'LISTEN_PID',
  'LISTEN_FDNAMES',
  'RKT_DEBUG_ENGINE',
];
/** Environment whose value at run time must be the one at prepare time (runtime choice, log size). */
export const FAST_RUN_SAME_ENV = ['PATH', 'RKT_OCI_RUNTIME', 'RKT_LOG_MAX_SIZE'];
const BOOT_ID = '/proc/sys/kernel/random/boot_id';

/** Removes a prepared run's files, if the pod has one (its stamp first: bin/rkt never takes half). */
export function discardFastRun(P: string): void {
  if (!existsSync(path.join(P, FAST_RUN_STAMP))) return;
  for (const f of FAST_RUN_FILES) rmSync(path.join(P, f), { recursive: true, force: true });
}

/**
 * Writes the run of `rkt run-prepared --net=none UUID` into `req.writeDir` and its stamp (oci
 * engine only). Anything unusual — another engine, `--no-overlay` (a copy of the tree), a relative
 * data dir, the environment above, a warning or an error of the pipeline — writes nothing and
 * returns false: Node then runs the pod and says what it has to say.
 */
export function prepareFastRun(req: PodRunRequest & { writeDir: string }): boolean {
  const env = process.env;
  const home = env['ROCKET_HOME'] ?? '';
  const plainPath = (p: string): boolean => p.startsWith('/') && path.normalize(p) === p && !p.endsWith('/');
  if (
    req.engine.name !== 'oci' ||
    req.args.noOverlay ||
    req.args.net.join(',') !== 'none' ||
    !plainPath(home) ||
    !plainPath(req.dataDir) ||
    FAST_RUN_UNSAFE_ENV.some((k) => env[k] !== undefined)
  )
    return false;
  let boot: string;
  try {
    boot = readFileSync(BOOT_ID, 'utf8').trim();
  } catch {
    return false;
  }
  const P = req.writeDir;
  // The pipeline's and the engine's warnings (stderrLine) are muted here, as they belong to the
  // run (Node's, which says them): a run that would say any is not written.
  let ok = true;
  const said = unsaid(() => {
    try {
      runPod(req);
    } catch {
      ok = false;
    }
  });
  const manifest = ok
    ? parsePodManifest(readFileSync(path.join(P, POD_FILES.manifest), 'utf8')).manifest
    : undefined;
  const trees = manifest?.apps.map((a) => appTreeStoreId(P, a.name)) ?? [];
  const lines = [
    `RKT_FAST_RUN=${FAST_RUN_VERSION}`,
    `HOME=${home}`,
    `DIR=${req.dataDir}`,
    `BOOT=${boot}`,
    ...FAST_RUN_SAME_ENV.map((k) => `${k}=${env[k] ?? ''}`),
    ...trees.map((t) => `NEED=${path.join(req.dataDir, 'cas', 'tree', t ?? '', 'rootfs')}`),
  ];
  if (!ok || said > 0 || trees.includes(undefined) || lines.some((l) => l.includes('\n'))) {
    // The stamp is not there yet: removing the files leaves the pod as prepare made it.
    for (const f of FAST_RUN_FILES) rmSync(path.join(P, f), { recursive: true, force: true });
    return false;
  }
  const stamp = path.join(P, FAST_RUN_STAMP);
  writeFileSync(`${stamp}.tmp`, lines.join('\n') + '\n');
  renameSync(`${stamp}.tmp`, stamp);
  return true;
}
