/**
 * The `oci` engine: one OCI container per app (crun, or runc), over an overlay rootfs per app,
 * joined to the pod's network, IPC and UTS namespace files. Stage0 (Node) writes every bundle into
 * the prepared pod dir and returns a plan (a POSIX sh script, see planScript) that the launcher
 * execs: it locks the pod, renames it into run/, mounts, makes the namespaces and supervises the
 * apps; no Node process stays resident. docs/stage1.md describes the design.
 */
import { spawnSync } from 'node:child_process';
import {
  existsSync,
  mkdirSync,
  readFileSync,
  readdirSync,
  rmdirSync,
  statSync,
  writeFileSync,
} from 'node:fs';
import path from 'node:path';
import { parsePodManifest, type App, type PodManifest } from '../../appc/index.js';
import { RKT_FAILURE, RocketError, errorMessage } from '../../errors.js';
import {
  POD_FILES,
  PodsLayout,
  appTreeStoreId,
  registerPodGcHook,
  unmountUnder,
  type PodInfo,
} from '../../pod/index.js';
import {
  parseNetList,
  planTeardownLine,
  requirePortsNetwork,
  setupPodNetwork,
  teardownPodNetwork,
} from '../../net/index.js';
import { metadataRegistration } from '../../metadata/client.js';
import {
  ENGINE_STATE,
  readEngineState,
  type EnterRequest,
  type Engine,
  type ExecPlan,
  type RunRequest,
  type StopRequest,
} from '../engine.js';
import { createNamespacesArgv, podNamespaceFiles, removePodNamespacesSync } from './namespaces.js';
import {
  deleteContainer,
  detectRuntime,
  killContainer,
  runtimeArgv,
  shQuote,
  type OciRuntime,
  type RuntimeName,
} from './runtime.js';
import { ociConfigForApp, type AppMount, type OciConfig } from './spec.js';
import { preparePodIo, type PodIo } from './pod-io.js';
import { appVolumes } from '../volumes.js';
import { resolveAppUser } from './user.js';
import { stdinTerminal } from '../tty.js';

/** What the engine records in the pod dir (`stage1/engine.json`), for stop, enter and gc. */
export interface OciPodState {
  engine: 'oci';
  runtime: RuntimeName;
  /** Main containers, in app order. */
  apps: { name: string; id: string }[];
  /** Every container id the pod may create (mains and event handlers). */
  containers: string[];
  /** The cgroup parent directory name (in every hierarchy). */
  cgroupParent: string;
}

export { ENGINE_STATE };
/** Written by `rkt stop` (graceful): apps ending on SIGTERM then count as a clean exit. */
export const STOPPING_MARKER = path.join('stage1', 'stopping');
/** Seconds between the graceful SIGTERM and the SIGKILL (env `RKT_STOP_TIMEOUT`). */
export const DEFAULT_STOP_TIMEOUT = 10;

/** The runtime asked for: `--stage1-name`/`--engine` `oci-crun`/`oci-runc`, else `RKT_OCI_RUNTIME`. */
export function runtimeChoice(variant: string | undefined): RuntimeName | undefined {
  const v = variant ?? '';
  if (v === 'oci-crun' || v === 'crun') return 'crun';
  if (v === 'oci-runc' || v === 'runc') return 'runc';
  if (v !== '' && v !== 'oci')
    throw new RocketError(
      `unknown engine ${JSON.stringify(v)}: expected oci, oci-crun or oci-runc`,
      RKT_FAILURE,
    );
  const env = process.env['RKT_OCI_RUNTIME'];
  if (env === 'crun' || env === 'runc') return env;
  if (env !== undefined && env !== '')
    throw new RocketError(`RKT_OCI_RUNTIME=${env}: expected crun or runc`, RKT_FAILURE);
  return undefined;
}

export type NetMode = 'none' | 'host' | 'cni';

/** `--net`: `none`, `host`, or CNI networks (`default` when not given; src/net). Throws on a bad list. */
export function netMode(net: readonly string[]): NetMode {
  return parseNetList(net).mode;
}

const q = shQuote;

function readManifest(dir: string): PodManifest {
  const file = path.join(dir, POD_FILES.manifest);
  return parsePodManifest(readFileSync(file, 'utf8'), file).manifest;
}

function hostsFile(hostname: string, entries: readonly string[]): string {
  return (
    [
      '127.0.0.1\tlocalhost',
      '::1\tlocalhost ip6-localhost ip6-loopback',
      `127.0.1.1\t${hostname}`,
      ...hostsEntryLines(entries),
    ].join('\n') + '\n'
  );
}

/** `--hosts-entry` values as hosts-file lines: `IP=NAME`, or `host` for the host's /etc/hosts. */
export function hostsEntryLines(entries: readonly string[]): string[] {
  const lines: string[] = [];
  for (const e of entries) {
    if (e === 'host') {
      try {
        lines.push(readFileSync('/etc/hosts', 'utf8').trimEnd());
      } catch {
        // no host file
      }
      continue;
    }
    const eq = e.indexOf('=');
    if (eq <= 0)
      throw new RocketError(`invalid --hosts-entry ${JSON.stringify(e)}: expected IP=HOSTNAME`, RKT_FAILURE);
    lines.push(`${e.slice(0, eq)}\t${e.slice(eq + 1)}`);
  }
  return lines;
}

/** The pod's resolv.conf, or undefined with `--dns=none` (the image's own file stays). */
function resolvConf(req: RunRequest): string | undefined {
  const { dns, dnsSearch, dnsOpt, dnsDomain } = req.args;
  if (dns.includes('none')) return undefined;
  if (dns.length === 0 || dns.includes('host')) {
    try {
      return readFileSync('/etc/resolv.conf', 'utf8');
    } catch {
      return '';
    }
  }
  const lines = dns.map((s) => `nameserver ${s}`);
  if (dnsSearch.length > 0) lines.push(`search ${dnsSearch.join(' ')}`);
  if (dnsOpt.length > 0) lines.push(`options ${dnsOpt.join(' ')}`);
  if (dnsDomain !== undefined) lines.push(`domain ${dnsDomain}`);
  return lines.join('\n') + '\n';
}

function volumeMounts(manifest: PodManifest, appIndex: number, runDir: string, app: App): AppMount[] {
  return appVolumes(manifest, appIndex, runDir, app).map((v) => ({
    kind: 'bind',
    source: v.source,
    destination: v.inner,
    readOnly: v.readOnly,
    recursive: v.recursive,
  }));
}

function runCp(from: string, to: string): void {
  const r = spawnSync('cp', ['-a', from + '/.', to], { encoding: 'utf8' });
  if (r.status !== 0)
    throw new RocketError(
      `cannot copy ${from}: ${r.stderr.trim() || r.error?.message || 'cp failed'}`,
      RKT_FAILURE,
    );
}

interface AppPlan {
  name: string;
  id: string;
  bundle: string;
  pre: { id: string; bundle: string }[];
  post: { id: string; bundle: string }[];
  overlay?: { lower: string; upper: string; work: string; target: string };
}

/** Writes the bundles into the prepared pod (paths as they will be under run/) and returns the plan. */
function run(req: RunRequest): ExecPlan {
  const layout = new PodsLayout(req.dataDir);
  const P = layout.podDir('prepared', req.uuid);
  const R = layout.podDir('run', req.uuid);
  if (!existsSync(P)) throw new RocketError(`pod ${JSON.stringify(req.uuid)} is not prepared`, RKT_FAILURE);
  const net = netMode(req.args.net);
  const rt = detectRuntime(runtimeChoiceOpts(req.variant));
  const manifest = readManifest(P);
  requirePortsNetwork(net, manifest.ports?.length ?? 0);
  // The metadata service (src/metadata): decided now (--mds-register=true fails here), registered below.
  const metadata = metadataRegistration({
    dataDir: req.dataDir,
    uuid: req.uuid,
    podDir: P,
    net,
    mode: req.args.mdsRegister,
  });
  const hostname = req.args.hostname ?? `rkt-${req.uuid}`;
  const cgroupParent = `rkt-${req.uuid}`;
  const ns = podNamespaceFiles(R, { hostNetwork: net === 'host' });

  mkdirSync(path.join(P, 'etc'), { recursive: true });
  writeFileSync(path.join(P, 'etc', 'hosts'), hostsFile(hostname, req.args.hostsEntries));
  const resolv = resolvConf(req);
  if (resolv !== undefined) writeFileSync(path.join(P, 'etc', 'resolv.conf'), resolv);
  mkdirSync(path.join(P, POD_FILES.appStatusDir), { recursive: true });

  const apps: AppPlan[] = [];
  const terminal = req.args.interactive ? stdinTerminal() : undefined;
  const warnings: string[] = [];
  // Logs, readiness, sd_notify, socket activation (pod-io.ts).
  const podIo = preparePodIo({
    P,
    R,
    dataDir: req.dataDir,
    manifest,
    interactive: req.args.interactive,
    warn: (m) => warnings.push(m),
  });
  for (const [i, ra] of manifest.apps.entries()) {
    const app = ra.app;
    if (app === undefined)
      throw new RocketError(`app ${JSON.stringify(ra.name)} has no app section`, RKT_FAILURE);
    const treeId = appTreeStoreId(P, ra.name);
    if (treeId === undefined)
      throw new RocketError(`app ${JSON.stringify(ra.name)}: no rendered tree`, RKT_FAILURE);
    const lower = path.join(req.dataDir, 'cas', 'tree', treeId, 'rootfs');
    const appDir = path.join('apps', ra.name);
    mkdirSync(path.join(P, appDir, 'rootfs'), { recursive: true });
    const plan: AppPlan = {
      name: ra.name,
      id: `rkt-${req.uuid}-${ra.name}`,
      bundle: path.join(R, appDir),
      pre: [],
      post: [],
    };
    if (req.args.noOverlay) runCp(lower, path.join(P, appDir, 'rootfs'));
    else {
      for (const d of ['upper', 'work']) mkdirSync(path.join(P, 'overlay', ra.name, d), { recursive: true });
      plan.overlay = {
        lower,
        upper: path.join(R, 'overlay', ra.name, 'upper'),
        work: path.join(R, 'overlay', ra.name, 'work'),
        target: path.join(R, appDir, 'rootfs'),
      };
    }
    const user = resolveAppUser(lower, app, ra.name);
    const mounts: AppMount[] = [
      { kind: 'bind', source: path.join(R, 'etc', 'hosts'), destination: '/etc/hosts', readOnly: false },
      ...(resolv !== undefined
        ? [
            {
              kind: 'bind' as const,
              source: path.join(R, 'etc', 'resolv.conf'),
              destination: '/etc/resolv.conf',
              readOnly: false,
            },
          ]
        : []),
      ...volumeMounts(manifest, i, R, app),
    ];
    const configFor = (exec: string[] | undefined, suffix: string): OciConfig => {
      const { config, warnings: w } = ociConfigForApp({
        app: exec === undefined ? app : { ...app, exec },
        appName: ra.name,
        rootfs: path.join(R, appDir, 'rootfs'),
        readOnlyRootfs: ra.readOnlyRootFS === true,
        namespaces: { network: ns.network ?? 'host', ipc: ns.ipc, uts: ns.uts },
        mounts,
        ...(manifest.isolators !== undefined ? { podIsolators: manifest.isolators } : {}),
        executorEnv: { AC_METADATA_URL: '', container: 'rocket' },
        user,
        insecure: req.insecure,
        cgroupsPath: `/${cgroupParent}/${ra.name}${suffix}`,
        annotations: { 'coreos.com/rkt/pod-uuid': req.uuid, 'coreos.com/rkt/app-name': ra.name },
        arch: process.arch,
        // --interactive on a terminal: the main process gets a terminal of its own (tty.ts).
        ...(exec === undefined && terminal !== undefined ? { terminal: true, consoleSize: terminal } : {}),
      });
      if (exec === undefined) warnings.push(...w);
      return config;
    };
    writeFileSync(
      path.join(P, appDir, 'config.json'),
      JSON.stringify(podIo.decorate(i, configFor(undefined, '')), null, 2),
    );
    for (const [k, eh] of (app.eventHandlers ?? []).entries()) {
      const sub = `${eh.name}-${k}`;
      mkdirSync(path.join(P, appDir, sub), { recursive: true });
      writeFileSync(
        path.join(P, appDir, sub, 'config.json'),
        JSON.stringify(configFor(eh.exec, `-${sub}`), null, 2),
      );
      (eh.name === 'pre-start' ? plan.pre : plan.post).push({
        id: `${plan.id}-${sub}`,
        bundle: path.join(R, appDir, sub),
      });
    }
    apps.push(plan);
  }
  for (const w of warnings) process.stderr.write(`run: ${w}\n`);
  if (process.env['RKT_DEBUG_ENGINE'] !== undefined) process.stderr.write(`run: using ${rt.describe()}\n`);

  // Last, so that nothing after it fails with the networks up (it cleans up after its own failure).
  // With none or host, it only releases networks an earlier, killed stage0 left in this pod.
  setupPodNetwork({
    uuid: req.uuid,
    dataDir: req.dataDir,
    preparedDir: P,
    runDir: R,
    net: req.args.net,
    configDirs: req.configDirs ?? { system: '/usr/lib/rkt', local: '/etc/rkt' },
    manifest,
    dns: req.args,
    hostname,
    warn: (m) => process.stderr.write(`run: ${m}\n`),
  });
  // Registration needs the pod's addresses, so it follows the networks; it never fails (warns).
  const mdsUnregister =
    metadata?.register(
      apps
        .flatMap((a) => [a, ...a.pre, ...a.post])
        .map((b) => path.join(P, path.relative(R, b.bundle), 'config.json')),
    ) ?? '';
  const state: OciPodState = {
    engine: 'oci',
    runtime: rt.name,
    apps: apps.map((a) => ({ name: a.name, id: a.id })),
    containers: apps.flatMap((a) => [...a.pre.map((h) => h.id), a.id, ...a.post.map((h) => h.id)]),
    cgroupParent,
  };
  writeFileSync(path.join(P, ENGINE_STATE), JSON.stringify(state, null, 2) + '\n');
  return {
    script: planScript({
      P,
      R,
      uuid: req.uuid,
      rt,
      apps,
      ns,
      hostname,
      interactive: req.args.interactive,
      cgroupParent,
      cniNetworks: net === 'cni',
      mdsUnregister,
      io: podIo.io,
    }),
  };
}

function runtimeChoiceOpts(variant: string | undefined): { runtime?: RuntimeName } {
  const r = runtimeChoice(variant);
  return r === undefined ? {} : { runtime: r };
}

interface PlanInput {
  P: string;
  R: string;
  uuid: string;
  rt: OciRuntime;
  apps: AppPlan[];
  ns: ReturnType<typeof podNamespaceFiles>;
  hostname: string;
  interactive: boolean;
  cgroupParent: string;
  /** Stage0 made `ns-net` and its CNI networks: the plan only tears them down (src/net). */
  cniNetworks?: boolean;
  /** The command that unregisters the pod from the metadata service at teardown, or ''. */
  mdsUnregister?: string;
  /** Logs and systemd integration (pod-io.ts). */
  io?: PodIo;
}

/**
 * The supervisor, in POSIX sh (dash). fd 3 holds the pod lock: inherited by every app's subshell
 * and runtime monitor (not by the containers: the runtimes close extra fds), so the pod stays
 * "running" exactly while any of them lives, even if this shell is SIGKILLed. Each app runs in a
 * background subshell (pre-start handlers, the runtime's `run`, delete, post-stop handlers), which
 * records the app's exit code and signals the supervisor with USR1. The supervisor stops the other
 * apps when one fails, forwards TERM/INT/HUP as a graceful stop (runtime kill TERM, KILL after
 * RKT_STOP_TIMEOUT seconds), and at the end deletes the containers, unmounts, removes the
 * namespace files and the pod's cgroups, and exits with the first failing app's code.
 */
export function planScript(p: PlanInput): string {
  const rtCmd = runtimeArgv(p.rt, []).map(q).join(' ');
  const S = path.join(p.R, POD_FILES.appStatusDir);
  const nsFiles = [p.ns.network, p.ns.ipc, p.ns.uts].filter((f): f is string => f !== undefined);
  const mainIds = p.apps.map((a) => q(a.id)).join(' ');
  const allIds = p.apps
    .flatMap((a) => [...a.pre.map((h) => h.id), a.id, ...a.post.map((h) => h.id)])
    .map(q)
    .join(' ');
  const stdin = p.interactive ? '<&4' : '</dev/null';
  const L: string[] = [
    '# rkt exec plan (oci engine); removes itself first',
    'rm -f "$0"',
    ...(p.io?.prologue ?? []),
    `P=${q(p.P)} R=${q(p.R)} S=${q(S)}`,
    `rt() { ${rtCmd} "$@"; }`,
    // `command`: a failed redirection of the special builtin exec must not exit the shell. The
    // `2>/dev/null` is on a group: on `exec` itself it would silence the apps' stderr for good.
    '{ command exec 4<&0; } 2>/dev/null || exec 4</dev/null',
    `if ! { command exec 3<"$P"; } 2>/dev/null || ! flock -x -n 3 || ! mv "$P" "$R"; then echo "rkt: pod ${p.uuid} is not prepared (already running?)" >&2; exit 254; fi`,
    'echo $$ >"$R/pid"',
    // The runtime's state dir tells whether a container still exists (`run` deletes it on exit),
    // which saves a runtime start per container.
    `ST=${q(p.rt.stateRoot ?? `/run/${p.rt.name}`)}`,
    'del() { for id; do [ -d "$ST/$id" ] && rt delete -f "$id" >/dev/null 2>&1; done; return 0; }',
    'cleanup() {',
    ...(p.mdsUnregister ? [`  ${p.mdsUnregister}`] : []),
    `  del ${allIds}`,
    ...(p.cniNetworks === true ? [planTeardownLine()] : []),
    `  umount ${[...p.apps.flatMap((a) => (a.overlay !== undefined ? [a.overlay.target] : [])), ...nsFiles].map(q).join(' ')} 2>/dev/null`,
    `  rm -f ${nsFiles.map(q).join(' ')}`,
    `  rmdir /sys/fs/cgroup/*/${p.cgroupParent} /sys/fs/cgroup/${p.cgroupParent} 2>/dev/null`,
    ...(p.io?.cleanup ?? []).map((l) => `  ${l}`),
    '  return 0',
    '}',
    'fail() { echo "rkt: $*" >&2; cleanup; exit 254; }',
  ];
  for (const a of p.apps) {
    const o = a.overlay;
    if (o === undefined) continue;
    L.push(
      `mount -t overlay overlay -o ${q(`lowerdir=${o.lower},upperdir=${o.upper},workdir=${o.work}`)} ${q(o.target)} || fail ${q(`cannot mount the rootfs of app ${a.name}`)}`,
    );
  }
  // With CNI networks, stage0 already made ns-net (src/net).
  const toCreate = p.cniNetworks === true ? { ipc: p.ns.ipc, uts: p.ns.uts } : p.ns;
  L.push(
    `${createNamespacesArgv(toCreate, p.hostname).map(q).join(' ')} || fail 'cannot create the pod namespaces'`,
  );
  L.push(...(p.io?.setup ?? []), ...(p.io?.functions ?? []));
  // Per-app subshell. $$ is the supervisor's pid in a subshell.
  for (const [i, a] of p.apps.entries()) {
    const m = p.io?.main(i) ?? { before: '', args: '', redirects: '', after: '' };
    const handler = (h: { id: string; bundle: string }): string =>
      `rt run --bundle ${q(h.bundle)} ${q(h.id)} </dev/null; c=$?; del ${q(h.id)}`;
    L.push(
      `app${i}() {`,
      // The app's recorder outlives signals sent to the whole process group or cgroup (^C, a
      // terminal's HUP, systemd's KillMode=control-group): the supervisor decides how to stop.
      // The runtimes reset ignored signals in the container.
      "  trap '' INT TERM HUP",
      '  rc=0',
      ...a.pre.map((h) => `  if [ $rc = 0 ]; then ${handler(h)}; rc=$c; fi`),
      `  if [ $rc = 0 ] && [ ! -e "$R/${STOPPING_MARKER}" ]; then ${m.before}rt run ${m.args}--bundle ${q(a.bundle)} ${q(a.id)} ${stdin} 4<&- ${m.redirects}; rc=$?${m.after}; fi`,
      `  del ${q(a.id)}`,
      ...a.post.map((h) => `  ${handler(h)}`),
      `  echo $rc >"$S/${a.name}"`,
      '  kill -USR1 $$ 2>/dev/null',
      '}',
    );
  }
  L.push(
    `T=\${RKT_STOP_TIMEOUT:-${DEFAULT_STOP_TIMEOUT}} M="$R/${STOPPING_MARKER}"`,
    'stopping= requested= timer= failed=',
    // term: SIGTERM, once, to each app that has started (its poststart hook's marker).
    'term() {',
    ...p.apps.map(
      (a, i) =>
        `  [ -z "$tm${i}" ] && [ -e "$S/"${q(`${a.name}-started`)} ] && tm${i}=1 && rt kill ${q(a.id)} TERM >/dev/null 2>&1`,
    ),
    '  return 0',
    '}',
    'stop() {',
    '  [ -n "$stopping" ] && return',
    // `rkt stop` may have written the marker with the timeout of this stop in it.
    `  stopping=1; if [ -s "$M" ]; then read t <"$M"; case $t in *[!0-9]* | '') ;; *) T=$t ;; esac; else : >"$M"; fi`,
    ...(p.io !== undefined ? [`  ${p.io.onStop}`] : []),
    // With readiness markers (pod-io), TERM goes only to apps whose process has started; the
    // others get it when they start (the loop calls `term` again): a TERM that reaches a container
    // before its start makes runc fail with "container process is already dead".
    p.io !== undefined ? '  term' : `  for id in ${mainIds}; do rt kill "$id" TERM >/dev/null 2>&1; done`,
    // The escalation timer. Cancelled (TERM) at any point, it kills its sleep and ends at once: the
    // trap kills the sleep once its pid is known, the check after `s=$!` covers a TERM before that.
    '  # The escalation timer: USR2 to the supervisor after $T seconds unless cancelled first.',
    '  ( k= s=; trap \'k=1; [ -n "$s" ] && kill $s\' TERM; sleep "$T" & s=$!; [ -n "$k" ] && kill $s; wait $s; [ -n "$k" ] || kill -USR2 $$ ) </dev/null >/dev/null 2>&1 3<&- 4<&- &',
    '  timer=$!',
    '}',
    `trap 'stop' TERM INT HUP`,
    `trap 'for id in ${mainIds}; do rt kill "$id" KILL >/dev/null 2>&1; done' USR2`,
    // A wake-up (USR1) that lands while the loop body runs is not lost: it sets `woke`, and the
    // loop goes round again instead of blocking in `wait`.
    "trap 'woke=1' USR1",
    ...p.apps.map((_, i) => `app${i} &`),
    'while :; do',
    '  woke=',
    // A stop that `rkt stop` requested (its TERM follows the marker): 143 counts as clean.
    '  [ -e "$M" ] && requested=1',
    '  all=1',
    `  for n in ${p.apps.map((a) => q(a.name)).join(' ')}; do`,
    '    if [ -f "$S/$n" ]; then',
    '      read c <"$S/$n"',
    '      # During a requested stop, an app ending on the SIGTERM sent to it stopped cleanly.',
    '      if [ -n "$stopping$requested" ] && [ "$c" = 143 ]; then c=0; fi',
    '      if [ "$c" != 0 ] && [ -z "$failed" ]; then failed=$c; stop; fi',
    '    else all=; fi',
    '  done',
    '  [ -n "$all" ] && break',
    ...(p.io !== undefined ? ['  [ -n "$stopping$requested" ] && term'] : []),
    ...(p.io !== undefined ? [`  ${p.io.wake}`] : []),
    // `wait` ends below 128 only when no child is left: an app whose subshell was killed
    // without recording a code failed (otherwise this loop would spin).
    '  [ -n "$woke" ] && continue',
    '  wait',
    `  [ $? -lt 128 ] && for n in ${p.apps.map((a) => q(a.name)).join(' ')}; do [ -f "$S/$n" ] || echo 255 >"$S/$n"; done`,
    'done',
    // Nothing outlives the pod: cancel the timer, and wait for it and for the app subshells
    // (which may still be signalling) with every trap off, so that no wake-up ends the wait early.
    "trap '' TERM INT HUP USR1 USR2",
    '[ -n "$timer" ] && kill "$timer" 2>/dev/null',
    'wait',
    'cleanup',
    'exit ${failed:-0}',
  );
  return L.join('\n') + '\n';
}

function readState(pod: PodInfo): OciPodState | undefined {
  return readEngineState<OciPodState>(pod.path, 'oci');
}

function runtimeFor(state: OciPodState): OciRuntime {
  return detectRuntime({ runtime: state.runtime });
}

function stop(req: StopRequest): void {
  const state = readState(req.pod);
  if (state === undefined)
    throw new RocketError(`pod ${req.pod.uuid} was not started by the oci engine`, RKT_FAILURE);
  const rt = runtimeFor(state);
  if (!req.force) {
    // The timeout of this stop, if given, for the supervisor's escalation (see planScript).
    const t = stopTimeoutEnv();
    writeFileSync(path.join(req.pod.path, STOPPING_MARKER), t === undefined ? '' : `${t}\n`);
    // The supervisor stops the apps: TERM, then KILL after the stop timeout.
    const sup = supervisorPid(req.pod.path);
    if (sup !== undefined) {
      try {
        process.kill(sup, 'SIGTERM');
        return;
      } catch {
        // gone meanwhile: TERM the apps ourselves
      }
    }
  }
  // --force, or a supervisor that was killed: signal the containers directly.
  for (const a of state.apps) killContainer(rt, a.id, req.force ? 'KILL' : 'TERM');
}

/** `RKT_STOP_TIMEOUT` (whole seconds) if set; a bad value fails. */
export function stopTimeoutEnv(env: NodeJS.ProcessEnv = process.env): number | undefined {
  const v = env['RKT_STOP_TIMEOUT'];
  if (v === undefined || v === '') return undefined;
  if (!/^\d{1,6}$/.test(v))
    throw new RocketError(`RKT_STOP_TIMEOUT=${v}: expected a whole number of seconds`, RKT_FAILURE);
  return Number(v);
}

/**
 * The pid of the pod's supervisor if it still runs: the pod's `pid` file names the process that
 * exec'd the plan, whose command line is `/bin/sh <plan file>` (a reused pid would not match).
 */
export function supervisorPid(podPath: string): number | undefined {
  let pid: number;
  try {
    pid = Number(readFileSync(path.join(podPath, POD_FILES.pid), 'utf8').trim());
  } catch {
    return undefined;
  }
  if (!Number.isSafeInteger(pid) || pid <= 1) return undefined;
  try {
    const argv = readFileSync(`/proc/${pid}/cmdline`, 'utf8').split('\0');
    return argv[0] === '/bin/sh' && /rkt-plan\.[^/]*$/.test(argv[1] ?? '') ? pid : undefined;
  } catch {
    return undefined;
  }
}

function enter(req: EnterRequest): ExecPlan {
  const state = readState(req.pod);
  if (state === undefined)
    throw new RocketError(`pod ${req.pod.uuid} was not started by the oci engine`, RKT_FAILURE);
  let app = state.apps[0];
  if (req.app !== undefined) app = state.apps.find((a) => a.name === req.app);
  else if (state.apps.length > 1)
    throw new RocketError(
      `pod ${req.pod.uuid} has several apps (${state.apps.map((a) => a.name).join(', ')}): choose one with --app`,
      RKT_FAILURE,
    );
  if (app === undefined)
    throw new RocketError(`pod ${req.pod.uuid} has no app ${JSON.stringify(req.app)}`, RKT_FAILURE);
  const cmd = req.command.length > 0 ? req.command : ['/bin/sh'];
  const rt = runtimeFor(state);
  const base = runtimeArgv(rt, ['exec']).map(q).join(' ');
  const rest = [app.id, ...cmd].map(q).join(' ');
  return {
    script: `rm -f "$0"\nif [ -t 0 ]; then exec ${base} --tty ${rest}; else exec ${base} ${rest}; fi\n`,
  };
}

/** Removes a cgroup directory tree bottom-up (cgroup dirs can only be rmdir'ed). */
function rmdirTree(dir: string): void {
  let entries: string[];
  try {
    entries = readdirSync(dir);
  } catch {
    return;
  }
  for (const e of entries) {
    const p = path.join(dir, e);
    try {
      if (statSync(p).isDirectory()) rmdirTree(p);
    } catch {
      // gone
    }
  }
  try {
    rmdirSync(dir);
  } catch {
    // busy or gone
  }
}

/** Cgroup dirs named `name` at the top of every hierarchy under /sys/fs/cgroup. */
export function podCgroupDirs(name: string, root = '/sys/fs/cgroup'): string[] {
  const out: string[] = [];
  const candidates = [path.join(root, name)];
  try {
    for (const h of readdirSync(root)) candidates.push(path.join(root, h, name));
  } catch {
    return [];
  }
  for (const c of candidates) if (existsSync(c)) out.push(c);
  return out;
}

function gc(pod: PodInfo): void {
  const state = readState(pod);
  if (state !== undefined) {
    try {
      const rt = runtimeFor(state);
      for (const id of state.containers) {
        try {
          deleteContainer(rt, id, true);
        } catch {
          // reported by the leftovers check below, if any
        }
      }
    } catch (err) {
      process.stderr.write(`gc: pod ${pod.uuid}: ${errorMessage(err)}\n`);
    }
  }
  // CNI DEL needs the network namespace still there (ptp removes its masquerade rules only then).
  for (const e of teardownPodNetwork(pod.path)) process.stderr.write(`gc: pod ${pod.uuid}: ${e}\n`);
  removePodNamespacesSync(['ns-net', 'ns-ipc', 'ns-uts'].map((f) => path.join(pod.path, f)));
  unmountUnder(pod.path);
  for (const d of podCgroupDirs(state?.cgroupParent ?? `rkt-${pod.uuid}`)) rmdirTree(d);
}

export const ociEngine: Engine = { name: 'oci', run, enter, stop, gc };

registerPodGcHook({ name: 'oci', gc: (pod) => ociEngine.gc(pod) });
