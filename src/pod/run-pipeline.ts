/**
 * Stage0's run pipeline (`rkt run`, `rkt run-prepared`, `rkt app sandbox`): everything about a
 * prepared pod that is not the engine's business, in order — the network mode and `--port` check,
 * the metadata-service decision, `etc/hosts` and `etc/resolv.conf`, the log dirs, the CNI
 * networks in `ns-net`, the registration with the metadata service — then the engine, which gets a
 * typed RunConfig, writes its bundles and the supervisor's settings and returns the exec plan.
 * If the engine fails, the networks and the registration are undone. Engines import nothing of
 * src/pod, src/net or src/metadata: the arrow runs from here to them (docs/stage1.md).
 */
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { parsePodManifest } from '../appc/index.js';
import { RocketError } from '../errors.js';
import { prepareLogCapture, type LogCaptureSettings } from '../logs/capture.js';
import { metadataRegistration, type Registration } from '../metadata/client.js';
import {
  TEARDOWN_SCRIPT,
  parseNetList,
  releasePodNetwork,
  requirePortsNetwork,
  setupPodNetwork,
} from '../net/index.js';
import { POD_FILES } from '../pod-layout.js';
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
  /** Makes the pod's network namespace instead of `unshare` (src/net; the CRI service). */
  makeNetns?: (file: string) => void;
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
  const P = layout.podDir('prepared', req.uuid);
  const R = layout.podDir('run', req.uuid);
  if (!existsSync(P)) throw new RocketError(`pod ${JSON.stringify(req.uuid)} is not prepared`, 'not-found');
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
    warn: (m) => process.stderr.write(`run: ${m}\n`),
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
    releasePodNetwork(P, req.uuid, (m) => process.stderr.write(`run: undoing the networks: ${m}\n`));
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
