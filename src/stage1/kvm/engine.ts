/**
 * The `kvm` engine (rkt's stage1-kvm): each pod in its own virtual machine. QEMU (Debian's
 * qemu-system-x86) boots a microvm with no firmware of its own beyond qboot, the guest kernel
 * straight from its file, and the initramfs of initramfs.ts, whose init (guest-init.sh) runs the
 * pod's apps. The pod dir reaches the guest over virtio-9p (tag `rkt`), with every app's rootfs
 * (its overlay) and volumes mounted in it by the plan, in a mount namespace of its own that only
 * QEMU lives in: the host's mount table never changes and the mounts end with QEMU. The apps'
 * output is the guest's serial console, which is `rkt run`'s stdout; their exit codes come back in
 * the status dir (written by the guest through 9p). QEMU's stdin is the FIFO `stage1/kvm/ctl`,
 * read by the guest from its console: a `stop` line stops the pod gracefully, an `enter` line wakes
 * the guest's agent for a `rkt enter` session on a virtio-serial port `rkt.enter.N` (docs/stage1.md).
 *
 * Acceleration: `-accel kvm` only when /dev/kvm boots this kernel (a probe of a guest that powers
 * off at once, cached per kernel under `<dir>/kvm/`), else TCG; `RKT_KVM_ACCEL=kvm|tcg` forces one.
 * The choice is in `stage1/engine.json` (`accel`).
 */
import { spawnSync } from 'node:child_process';
import {
  copyFileSync,
  existsSync,
  mkdirSync,
  readFileSync,
  renameSync,
  rmSync,
  writeFileSync,
} from 'node:fs';
import { availableParallelism } from 'node:os';
import path from 'node:path';
import { parsePodManifest, type Isolator, type PodManifest } from '../../appc/index.js';
import { decodeIsolator } from '../../appc/isolators.js';
import { RKT_FAILURE, RocketError } from '../../errors.js';
import { failureText, host } from '../../host/index.js';
import { unmountUnder } from '../../host/mounts.js';
import { POD_FILES } from '../../pod-layout.js';
import {
  readEngineState,
  type AddAppRequest,
  type AddedApp,
  type AttachRequest,
  type EngineApps,
  type EnginePod,
  type EnterRequest,
  type Engine,
  type ExecPlan,
  type RunConfig,
  type StopRequest,
  writeEngineState,
} from '../engine.js';
import { appExecBasics, signalPid, writeFifoLine } from '../files.js';
import { podHostname } from '../hosts.js';
import { SUPERVISOR_STATUS, setprivArgs } from '../fly/plan.js';
import { flyVolumes, targetIn } from '../fly/mounts.js';
import {
  DEFAULT_STOP_TIMEOUT,
  STOPPING_MARKER,
  appIo,
  envFile,
  isMutable,
  stopTimeoutEnv,
} from '../oci/engine.js';
import { removePodNamespacesSync } from '../oci/namespaces.js';
import { shQuote as q } from '../oci/runtime.js';
import { APPC_DEFAULT_PATH } from '../oci/spec.js';
import { resolveAppUser } from '../oci/user.js';
import { LOGGER_PROGRAM } from '../../logs/capture.js';
import { LOGS_DIR } from '../../logs/format.js';

/** The pod's network namespace file (stage0's pipeline made it, with the CNI networks). */
const NETNS_FILE = 'ns-net';
/** What stage0 records of each joined network (`net-info.json`), as far as the guest needs it. */
interface NetInfo {
  netName: string;
  ifName: string;
  ip: string;
  mask: string;
  hostIP: string;
}
import { ensureInitramfs, findKernel, kernelRoots, type GuestKernel } from './initramfs.js';

export type Accel = 'kvm' | 'tcg';

/** What the kvm engine records in the pod dir for stop and gc. */
export interface KvmPodState {
  engine: 'kvm';
  accel: Accel;
  kernel: string;
  initrd: string;
  apps: string[];
  /** A sandbox (`rkt app sandbox`): apps are added later (`rkt app add`), with or without overlays. */
  mutable?: boolean;
  noOverlay?: boolean;
  /** The pod's AC_METADATA_URL (registered with the metadata service), for the apps added later. */
  metadataUrl?: string;
}

/** The engine's files in the pod dir: settings for the guest, the console FIFO, QEMU's pid, the code. */
export const KVM_DIR = path.join('stage1', 'kvm');
export const KVM_CTL = path.join(KVM_DIR, 'ctl');
export const KVM_QEMU_PID = path.join(KVM_DIR, 'qemu.pid');
/** The guest's settings (read-only to it): pod.env, app/APP.env, logger.awk, epoch, stopping. */
export const KVM_CONF = path.join(KVM_DIR, 'conf');
/**
 * What the guest sees at /pod, and all it can write to: conf (read-only), status, logs, apps (each
 * bound in QEMU's mount namespace) and out (the pod's code). Not the pod dir itself: the host runs
 * files of it as root (net/teardown.sh, the plugins of net/invocations.json) and trusts its state.
 */
export const KVM_SHARE = path.join(KVM_DIR, 'share');
export const KVM_EXIT = path.join(KVM_SHARE, 'out', 'exit');
/**
 * `rkt enter`'s channels: for each N, the virtio-serial port `rkt.enter.N` in the guest and the
 * unix socket `enter-N.sock` (QEMU listening) in the engine's dir on the host, one session at a
 * time each (`enter-N.lock`): so many `rkt enter`s at once, more wait. Other purposes get ports of
 * their own.
 */
export const ENTER_CHANNELS = 4;
export const enterPort = (n: number): string => `rkt.enter.${n}`;
export const enterSocket = (n: number): string => `enter-${n}.sock`;
const SHARED_DIRS = ['conf', 'status', 'logs', 'apps', 'out'];

/** Where the pod dir is mounted in the guest. */
const GUEST_POD = '/pod';
const QEMU = 'qemu-system-x86_64';
const MEMORY_MB = 128;
/** TCG's translation cache (MB); QEMU's default (1 GB) fills up to hundreds of MB of RSS. */
const TCG_TB_MB = 32;
/** A microvm has 24 virtio-mmio slots: the 9p share and the serial ports take one each, NICs the rest. */
const MAX_NICS = 22;
/** The tap devices in the pod's network namespace that carry the guest's NICs: one per CNI interface. */
const tapName = (i: number): string => `tap${i}`;

const fail = (message: string): never => {
  throw new RocketError(message, RKT_FAILURE);
};

/**
 * PATH (appc's default), the app's environment, then the executor's variables (AC_METADATA_URL:
 * the pod's URL at the metadata service, '' when not registered).
 */
function appEnv(
  app: { environment?: { name: string; value: string }[] },
  name: string,
  metadataUrl: string,
): string[] {
  const env = new Map<string, string>([['PATH', APPC_DEFAULT_PATH]]);
  for (const { name: k, value } of app.environment ?? []) env.set(k, value);
  env.set('AC_APP_NAME', name);
  env.set('AC_METADATA_URL', metadataUrl);
  return [...env].map(([k, v]) => `${k}=${v}`);
}

/** The host's CPU clock in kHz (/proc/cpuinfo's first `cpu MHz`), if it says. */
export function hostTscKhz(cpuinfo?: string): number | undefined {
  let text = cpuinfo;
  if (text === undefined)
    try {
      text = readFileSync('/proc/cpuinfo', 'utf8');
    } catch {
      return undefined;
    }
  const m = /^cpu MHz\s*:\s*([0-9.]+)$/m.exec(text);
  const khz = m?.[1] === undefined ? NaN : Math.round(Number(m[1]) * 1000);
  return Number.isFinite(khz) && khz > 0 ? khz : undefined;
}

/** QEMU's machine and kernel arguments (the pod dir shared read-write as tag `rkt`). */
export function qemuArgs(o: {
  accel: Accel;
  kernel: string;
  initrd: string;
  share?: string;
  name: string;
  memoryMb?: number;
  cpus?: number;
  debug?: boolean;
  /** The guest's NICs, by MAC: the n-th on the tap `tap<n>` of the pod's network namespace. */
  macs?: string[];
  /** Virtio-serial ports, each named NAME in the guest and a unix socket (QEMU listening) on the host. */
  ports?: { name: string; socket: string }[];
}): string[] {
  const append = ['console=ttyS0', 'panic=-1', 'reboot=t', 'pci=off'];
  // Under TCG the guest's TSC runs at the host's rate, and on a loaded host the kernel's
  // calibration against the PIT fails (a microvm has no HPET or ACPI PM timer to fall back on) and
  // it hangs: it is told the rate.
  const khz = o.accel === 'tcg' ? hostTscKhz() : undefined;
  if (khz !== undefined) append.push(`tsc_early_khz=${khz}`);
  if (o.debug !== true) append.push('quiet', 'loglevel=0');
  return [
    QEMU,
    '-name',
    o.name,
    '-M',
    'microvm,pit=on,pic=on,rtc=on',
    '-accel',
    o.accel === 'tcg' ? `tcg,tb-size=${TCG_TB_MB}` : 'kvm',
    '-cpu',
    o.accel === 'kvm' ? 'host' : 'max',
    '-m',
    String(o.memoryMb ?? MEMORY_MB),
    '-smp',
    String(o.cpus ?? 1),
    '-nodefaults',
    '-no-user-config',
    '-display',
    'none',
    '-no-reboot',
    '-chardev',
    'stdio,id=con,signal=off',
    '-serial',
    'chardev:con',
    '-kernel',
    o.kernel,
    '-initrd',
    o.initrd,
    '-append',
    append.join(' '),
    ...(o.share === undefined
      ? []
      : [
          '-fsdev',
          `local,id=pod,path=${o.share},security_model=passthrough,multidevs=remap`,
          '-device',
          'virtio-9p-device,fsdev=pod,mount_tag=rkt',
        ]),
    ...(o.macs ?? []).flatMap((mac, i) => [
      '-netdev',
      `tap,id=net${i},ifname=${tapName(i)},script=no,downscript=no`,
      '-device',
      `virtio-net-device,netdev=net${i},mac=${mac}`,
    ]),
    ...((o.ports ?? []).length === 0
      ? []
      : [
          '-device',
          'virtio-serial-device',
          ...(o.ports ?? []).flatMap((p, i) => [
            '-chardev',
            `socket,id=port${i},path=${p.socket},server=on,wait=off`,
            '-device',
            `virtserialport,chardev=port${i},name=${p.name}`,
          ]),
        ]),
  ];
}

/**
 * Whether /dev/kvm boots the guest kernel: a VM whose init is busybox's `poweroff -f` must print
 * the kernel's power-down line and end within 10 s. Cached per kernel in `<dir>/kvm/accel-<ver>`.
 */
function chooseAccel(dataDir: string, kernel: GuestKernel, initrd: string): Accel {
  const forced = process.env['RKT_KVM_ACCEL'];
  if (forced === 'kvm' || forced === 'tcg') return forced;
  if (forced !== undefined && forced !== '') fail(`RKT_KVM_ACCEL=${forced}: expected kvm or tcg`);
  const cache = path.join(dataDir, 'kvm', `accel-${kernel.version}`);
  try {
    const v = readFileSync(cache, 'utf8').trim();
    if (v === 'kvm' || v === 'tcg') return v;
  } catch {
    // not probed yet
  }
  let accel: Accel = 'tcg';
  if (existsSync('/dev/kvm')) {
    const args = qemuArgs({
      accel: 'kvm',
      kernel: kernel.vmlinuz,
      initrd,
      name: 'rkt-kvm-probe',
      debug: true,
    });
    const at = args.indexOf('-append');
    args[at + 1] = 'console=ttyS0 panic=-1 reboot=t pci=off rdinit=/bin/busybox -- poweroff -f';
    const r = spawnSync(args[0] as string, args.slice(1), {
      encoding: 'utf8',
      timeout: 10_000,
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    if (r.status === 0 && r.stdout.includes('reboot: Power down')) accel = 'kvm';
  }
  mkdirSync(path.dirname(cache), { recursive: true });
  writeFileSync(`${cache}.tmp`, accel + '\n');
  renameSync(`${cache}.tmp`, cache);
  return accel;
}

interface HostMount {
  source: string;
  target: string;
  readOnly: boolean;
  recursive: boolean;
}

interface AppSetup {
  name: string;
  overlay?: { lower: string; upper: string; work: string };
  rootfs: string;
  mounts: HostMount[];
  /**
   * `--readonly-rootfs`: the rootfs mount is made read-only (after its mounts, which stay as they
   * are), the mount points of the guest's /proc, /sys, /dev and /tmp made first.
   */
  readOnly?: { guestDirs: string[] };
  /** The guest's settings for the app (stage1/kvm/app/APP.env). */
  env: string;
}

function copyTree(from: string, to: string): void {
  const r = host().cp.copyTree(from, to);
  if (r.status !== 0) fail(`cannot copy ${from}: ${failureText(r, 'cp')}`);
}

/**
 * An app's rootfs dir (or copy) and overlay dirs in the pod, the host mounts it needs (its overlay,
 * hosts, resolv.conf, volumes) and its settings for the guest. `root` is the dir whose `apps/`
 * the guest sees as /pod/apps: the pod dir for the apps of `rkt run` (mounted before QEMU starts,
 * then bound into the share), the share itself for an app added to a running sandbox.
 */
function prepareApp(
  req: { dataDir: string; noOverlay: boolean; metadataUrl: string },
  manifest: PodManifest,
  index: number,
  P: string,
  R: string,
  resolv: boolean,
  root: string = R,
): AppSetup {
  const ra = manifest.apps[index] as PodManifest['apps'][number];
  const { app, exec, workingDir, lower } = appExecBasics(ra, P, req.dataDir);
  const appDir = path.join('apps', ra.name);
  const rootfs = path.join(root, appDir, 'rootfs');
  mkdirSync(path.join(P, appDir, 'rootfs'), { recursive: true });
  let overlay: AppSetup['overlay'];
  if (req.noOverlay) copyTree(lower, path.join(P, appDir, 'rootfs'));
  else {
    for (const d of ['upper', 'work']) mkdirSync(path.join(P, 'overlay', ra.name, d), { recursive: true });
    overlay = {
      lower,
      upper: path.join(R, 'overlay', ra.name, 'upper'),
      work: path.join(R, 'overlay', ra.name, 'work'),
    };
  }
  const u = resolveAppUser(lower, app, ra.name);
  const at = (inner: string): string => targetIn(lower, rootfs, inner);
  const etc = (name: string): HostMount => ({
    source: path.join(R, 'etc', name),
    target: at(`/etc/${name}`),
    readOnly: false,
    recursive: false,
  });
  const mounts: HostMount[] = [etc('hosts'), ...(resolv ? [etc('resolv.conf')] : [])];
  mounts.push(
    ...flyVolumes(manifest, R, app).map((v) => ({
      source: v.source,
      target: at(v.inner),
      readOnly: v.readOnly,
      recursive: v.recursive,
    })),
  );
  // In the guest, R is /pod: the guest mounts its own /proc, /sys, /dev and a /tmp in the rootfs.
  const guest = (hostPath: string): string => path.posix.join(GUEST_POD, path.relative(root, hostPath));
  const guestMounts = (['proc', 'sys', 'dev', 'tmp'] as const).map((k) => `${k}:${guest(at('/' + k))}`);
  if (guestMounts.some((m) => /\s/.test(m)))
    fail(
      `app ${JSON.stringify(ra.name)}: a path of its rootfs has white space, which the kvm engine cannot mount`,
    );
  const prefix = [
    'env',
    '-i',
    ...appEnv(app, ra.name, req.metadataUrl),
    ...setprivArgs({ uid: u.uid, gid: u.gid, groups: u.additionalGids }).map((a, i) =>
      i === 0 ? '/usr/bin/setpriv' : a,
    ),
    '/usr/bin/unshare',
    `--root=${guest(rootfs)}`,
    `--wd=${workingDir}`,
    `--setuid=${u.uid}`,
    '--',
  ];
  const cmd = [...prefix, ...exec].map(q).join(' ');
  // `rkt enter`'s command runs as the app does (its user, environment, root and working directory).
  const enter = prefix.map(q).join(' ');
  // The image's event handlers run so too (guest-init.sh, start_app): PRE_0..., POST_0...
  const handlers: Record<string, string> = {};
  for (const kind of ['pre-start', 'post-stop'] as const) {
    const key = kind === 'pre-start' ? 'PRE' : 'POST';
    const list = (app.eventHandlers ?? []).filter((eh) => eh.name === kind);
    handlers[`${key}_N`] = String(list.length);
    for (const [k, eh] of list.entries()) handlers[`${key}_${k}`] = [...prefix, ...eh.exec].map(q).join(' ');
  }
  return {
    name: ra.name,
    ...(overlay !== undefined ? { overlay } : {}),
    rootfs,
    mounts,
    ...(ra.readOnlyRootFS === true
      ? { readOnly: { guestDirs: (['proc', 'sys', 'dev', 'tmp'] as const).map((k) => at('/' + k)) } }
      : {}),
    env: envFile({
      MOUNTS: guestMounts.join(' '),
      CMD: cmd,
      ENTER: enter,
      ...handlers,
      ...guestIo(ra),
      ...appCgroupLimits(manifest, index),
    }),
  };
}

/**
 * The app's `--stdin`, `--stdout` and `--stderr` modes for the guest (IO_IN, IO_OUT, IO_ERR):
 * `stream` is a FIFO in the guest that `rkt attach` reaches (attachScript), `null` /dev/null, the
 * rest the log; `tty` (all three or none, appIo) the app on a pty of its own in the guest, whose
 * input and output are the stdin and stdout FIFOs.
 */
function guestIo(ra: PodManifest['apps'][number]): Record<string, string> {
  appIo(ra);
  const mode = (s: string): string =>
    ra.annotations?.find((a) => a.name === `coreos.com/rkt/stage2/${s}`)?.value ?? '';
  return { IO_IN: mode('stdin'), IO_OUT: mode('stdout'), IO_ERR: mode('stderr') };
}

/** cgroup v2's cpu.max period, in microseconds: a quota of 100000 is one CPU. */
const CPU_PERIOD_US = 100_000n;

/**
 * An app's limits for its cgroup in the guest (the smaller of the app's and the pod's, as `vmSize`
 * counts them): MEM, memory.max in bytes; CPU, cpu.max's quota for a 100 ms period (1000
 * millicores = one CPU; at least the kernel's 1 ms). Empty when the app has no limit.
 */
export function appCgroupLimits(manifest: PodManifest, index: number): { MEM?: string; CPU?: string } {
  const ra = manifest.apps[index] as PodManifest['apps'][number];
  const both = [...(ra.app?.isolators ?? []), ...(manifest.isolators ?? [])];
  const memory = limitOf(both, 'resource/memory');
  const milli = limitOf(both, 'resource/cpu');
  const quota = milli === undefined ? undefined : (milli * CPU_PERIOD_US) / 1000n;
  return {
    ...(memory !== undefined ? { MEM: String(memory) } : {}),
    ...(quota !== undefined ? { CPU: String(quota < 1000n ? 1000n : quota) } : {}),
  };
}

const MOUNT_HELPERS = [
  'fail() { echo "rkt: $*" >&2; exit 254; }',
  'target() { if [ -d "$1" ]; then mkdir -p "$2"; else mkdir -p "${2%/*}" && { [ -e "$2" ] || : >"$2"; }; fi; }',
];

/**
 * The host mounts of an app (in QEMU's mount namespace): its overlay, then hosts, resolv.conf,
 * volumes; with `--readonly-rootfs` the rootfs mount (a copy bound onto itself) is then remounted
 * read-only, its submounts (volumes, hosts) as they were: QEMU's 9p server, in this namespace,
 * then refuses the guest's writes there (EROFS), as the oci engine's read-only root does.
 */
function appMountLines(a: AppSetup): string[] {
  const L: string[] = [];
  const o = a.overlay;
  const cannot = `|| fail ${q(`cannot mount the rootfs of app ${a.name}`)}`;
  if (o !== undefined)
    L.push(
      `mount -t overlay overlay -o ${q(`lowerdir=${o.lower},upperdir=${o.upper},workdir=${o.work}`)} ${q(a.rootfs)} ${cannot}`,
    );
  else if (a.readOnly !== undefined) L.push(`mount --bind ${q(a.rootfs)} ${q(a.rootfs)} ${cannot}`);
  for (const m of a.mounts) {
    L.push(
      `target ${q(m.source)} ${q(m.target)} && mount ${m.recursive ? '--rbind' : '--bind'} ${q(m.source)} ${q(m.target)} || fail ${q(`cannot mount ${m.source}`)}`,
    );
    if (m.readOnly)
      L.push(`mount -o remount,bind,ro ${q(m.target)} || fail ${q(`cannot make ${m.target} read-only`)}`);
  }
  if (a.readOnly !== undefined)
    L.push(
      // The guest mounts its /proc, /sys, /dev and /tmp there: their mount points must exist first.
      `mkdir -p ${a.readOnly.guestDirs.map(q).join(' ')} && mount -o remount,bind,ro ${q(a.rootfs)} || fail ${q(`cannot make the rootfs of app ${a.name} read-only`)}`,
    );
  return L;
}

/** The script run in QEMU's own mount namespace: the apps' rootfs and volumes, then exec QEMU. */
export function innerScript(
  R: string,
  apps: AppSetup[],
  qemu: string[],
  nets: { ifName: string }[] = [],
): string {
  const L = [...MOUNT_HELPERS];
  for (const a of apps) L.push(...appMountLines(a));
  // The guest's view: the shared dirs bound into the share (the rootfs trees with their mounts).
  const G = path.join(R, KVM_SHARE);
  const bind = (from: string, to: string, how = '--bind'): string =>
    `mount ${how} ${q(path.join(R, from))} ${q(path.join(G, to))} || fail ${q(`cannot share ${from} with the VM`)}`;
  L.push(
    bind('apps', 'apps', '--rbind'),
    bind('logs', 'logs'),
    bind(POD_FILES.appStatusDir, 'status'),
    bind(KVM_CONF, 'conf'),
    `mount -o remount,bind,ro ${q(path.join(G, 'conf'))} || fail 'cannot share the settings with the VM'`,
    // The readiness marker (rkt's supervisor-status, for `rkt status --wait-ready`): the host's
    // file, empty until the guest writes `ready` into it once every app has started.
    `: >${q(path.join(R, SUPERVISOR_STATUS))} && : >${q(path.join(G, 'supervisor-status'))} && mount --bind ${q(path.join(R, SUPERVISOR_STATUS))} ${q(path.join(G, 'supervisor-status'))} || fail 'cannot share the readiness marker with the VM'`,
  );
  for (const [n, net] of nets.entries()) {
    // Frames that reach a CNI interface go to its tap (the guest) and back, before any IP stack:
    // the guest, with the interface's MAC and address, is the pod on the network.
    const i = q(net.ifName);
    const tap = tapName(n);
    const redirect = (from: string, to: string): string =>
      `tc qdisc add dev ${from} ingress && tc filter add dev ${from} parent ffff: protocol all u32 match u8 0 0 action mirred egress redirect dev ${to}`;
    L.push(
      `ip tuntap add dev ${tap} mode tap && ip link set ${tap} up && ${redirect(i, tap)} && ${redirect(tap, i)} || fail ${q(`cannot connect ${net.ifName} to the VM`)}`,
    );
  }
  // QEMU makes its sockets (`enter-N.sock`...) in the engine's dir, named relative to it: the pod
  // dir's path may be longer than a socket's address can be.
  L.push(`cd ${q(path.join(R, KVM_DIR))} || fail 'cannot enter the engine dir'`);
  L.push(`exec ${qemu.map(q).join(' ')}`);
  return L.join('\n') + '\n';
}

/**
 * The plan: lock and rename the pod, start QEMU (in its mount namespace, stdin the console FIFO),
 * turn TERM/INT/HUP into a `stop` line for the guest (QEMU is killed if the guest has not powered
 * off T+5 s later), wait for QEMU and exit with the pod's code from the guest.
 */
export function planScript(o: {
  P: string;
  R: string;
  uuid: string;
  inner: string;
  cni: boolean;
  /** With `cni`: the script that tears the networks down (relative to the pod dir), from the RunConfig. */
  teardown?: string;
  /** The sh command that unregisters the pod from the metadata service, run once QEMU has ended. */
  mdsUnregister?: string;
}): string {
  const nsenter = o.cni ? `nsenter --net="$R"/${q(NETNS_FILE)} -- ` : '';
  return (
    [
      '# rkt exec plan (kvm engine); removes itself first',
      'rm -f "$0"',
      `P=${q(o.P)} R=${q(o.R)}`,
      `K="$R"/${q(KVM_DIR)}`,
      `if ! { command exec 3<"$P"; } 2>/dev/null || ! flock -x -n 3 || ! mv "$P" "$R"; then echo "rkt: pod ${o.uuid} is not prepared (already running?)" >&2; exit 254; fi`,
      'echo $$ >"$R/pid"',
      `T=\${RKT_STOP_TIMEOUT:-${DEFAULT_STOP_TIMEOUT}}`,
      `rm -f "$K/ctl" "$R"/${q(KVM_EXIT)}`,
      'mkfifo -m 600 "$K/ctl" && exec 9<>"$K/ctl" || { echo "rkt: cannot make $K/ctl" >&2; exit 254; }',
      'stopping= timer= q=',
      'stop() {',
      '  [ -n "$stopping" ] && return',
      `  stopping=1; : >"$R"/${q(STOPPING_MARKER)}; : >"$K/conf/stopping"`,
      '  echo "stop $T" >&9',
      '  ( k=; trap \'k=1\' TERM; sleep $((T + 5)) & s=$!; wait $s; if [ -n "$k" ]; then kill $s; else kill -KILL "$q"; fi ) </dev/null >/dev/null 2>&1 &',
      '  timer=$!',
      '}',
      'trap stop TERM INT HUP',
      // The guest's loggers add its uptime to the time QEMU started (centiseconds since the epoch).
      'echo $(($(date +%s%N) / 10000000)) >"$K/conf/epoch"',
      // A session of its own: QEMU ends at once on SIGINT, so a ^C on the terminal must reach only
      // the plan, which stops the guest gracefully. Each step execs: QEMU keeps this pid.
      `${nsenter}setsid unshare --mount --propagation private -- /bin/sh -c ${q(o.inner)} rkt-kvm <&9 &`,
      'q=$!',
      'echo $q >"$K/qemu.pid"',
      'while kill -0 $q 2>/dev/null; do wait $q; done',
      '[ -n "$timer" ] && kill "$timer" 2>/dev/null',
      'rc=254',
      // Written by the guest: only a number up to 255 is taken.
      `if [ -f "$R"/${q(KVM_EXIT)} ]; then read -r rc <"$R"/${q(KVM_EXIT)}; else echo "rkt: the pod's VM ended without an exit code" >&2; fi`,
      'case $rc in "" | *[!0-9]* | ????*) rc=254 ;; esac',
      '[ "$rc" -le 255 ] || rc=254',
      'rm -f "$K/ctl"',
      ...(o.mdsUnregister !== undefined ? [o.mdsUnregister] : []),
      ...(o.cni
        ? [
            // CNI DEL while the namespace is there (net/teardown.sh, as the oci supervisor), then it goes.
            ...(o.teardown !== undefined
              ? [`[ -f "$R"/${q(o.teardown)} ] && sh "$R"/${q(o.teardown)} "$R"`]
              : []),
            `umount "$R"/${q(NETNS_FILE)} 2>/dev/null; rm -f "$R"/${q(NETNS_FILE)}`,
          ]
        : []),
      'exit "$rc"',
    ].join('\n') + '\n'
  );
}

/**
 * Stage0's run pipeline has written etc/hosts and etc/resolv.conf, made the log dirs and joined
 * the CNI networks in `ns-net` (`net-info.json`); this writes the guest's files and the plan.
 */
function run(req: RunConfig): ExecPlan {
  const P = req.preparedDir;
  const R = req.runDir;
  if (!existsSync(P)) fail(`pod ${JSON.stringify(req.uuid)} is not prepared`);
  if (req.network.mode === 'host')
    fail('--net=host: a pod in a VM cannot share the host network; use CNI networks or --net=none');
  const cni = req.network.mode === 'cni';
  if (req.interactive) fail('--interactive: the kvm engine cannot attach a terminal to an app yet');
  const manifest = req.manifest;
  const mutable = isMutable(manifest);
  if (manifest.apps.length === 0 && !mutable) fail('the kvm engine needs at least one app');
  const size = vmSize(manifest, availableParallelism());
  const ignored = [...(manifest.isolators ?? []), ...manifest.apps.flatMap((a) => a.app?.isolators ?? [])]
    .map((i) => i.name)
    .filter((n) => n !== 'resource/memory' && n !== 'resource/cpu');
  if (ignored.length > 0)
    process.stderr.write(
      `run: the kvm engine applies only memory and cpu limits (as the VM's size and a cgroup per app in it); ignored: ${[...new Set(ignored)].join(', ')}\n`,
    );
  const kernel = findKernel(kernelRoots(process.env, req.configDirs));
  const initrd = ensureInitramfs(req.dataDir, kernel);
  const accel = chooseAccel(req.dataDir, kernel, initrd);
  if (process.env['RKT_DEBUG_ENGINE'] !== undefined)
    process.stderr.write(`run: kvm engine: ${QEMU} -accel ${accel}, kernel ${kernel.version}\n`);
  else if (accel === 'tcg' && process.env['RKT_KVM_ACCEL'] !== 'tcg')
    process.stderr.write(
      'run: kvm engine: /dev/kvm cannot boot the guest here; using TCG (emulation: slow)\n',
    );

  mkdirSync(path.join(P, POD_FILES.appStatusDir), { recursive: true });
  mkdirSync(path.join(P, KVM_CONF, 'app'), { recursive: true });
  for (const d of SHARED_DIRS) mkdirSync(path.join(P, KVM_SHARE, d), { recursive: true });
  // Shared with the guest even with no app yet (a sandbox's come later).
  for (const d of ['apps', LOGS_DIR]) mkdirSync(path.join(P, d), { recursive: true });
  const hostname = podHostname(req.uuid, req.hostname);
  const apps = manifest.apps.map((_, i) =>
    prepareApp({ ...req, metadataUrl: req.metadata.url }, manifest, i, P, R, req.resolvConf),
  );
  for (const a of apps) writeFileSync(path.join(P, KVM_CONF, 'app', `${a.name}.env`), a.env);
  const logs = req.logs ?? fail('the kvm engine keeps a pod log: stage0 set none up');
  copyFileSync(path.join(P, LOGGER_PROGRAM), path.join(P, KVM_CONF, 'logger.awk'));
  const stopTimeout = stopTimeoutEnv() ?? DEFAULT_STOP_TIMEOUT;
  // The state first: gc finds a kvm pod's network by it.
  const state: KvmPodState = {
    engine: 'kvm',
    accel,
    kernel: kernel.vmlinuz,
    initrd,
    apps: apps.map((a) => a.name),
    ...(mutable ? { mutable, noOverlay: req.noOverlay } : {}),
    ...(mutable && req.metadata.url !== '' ? { metadataUrl: req.metadata.url } : {}),
  };
  writeEngineState(P, state);
  const nics = cni ? podNetworks(P) : [];
  writeFileSync(
    path.join(P, KVM_CONF, 'pod.env'),
    envFile({
      APPS: apps.map((a) => a.name).join(' '),
      T: stopTimeout,
      LOGMAX: logs.max,
      HOSTNAME: hostname,
      NETS: nics.map((n) => `${n.mac}=${n.address}=${n.gateway}`).join(' '),
      DEFAULT_ROUTE: nics
        .filter((n) => n.defaultVia !== undefined)
        .map((n) => `${n.mac}=${n.defaultVia}`)
        .join(''),
      MUTABLE: mutable,
    }),
  );
  const qemu = qemuArgs({
    accel,
    kernel: kernel.vmlinuz,
    initrd,
    share: path.join(R, KVM_SHARE),
    name: `rkt-${req.uuid}`,
    debug: process.env['RKT_DEBUG_KVM'] !== undefined,
    memoryMb: size.memoryMb,
    cpus: size.cpus,
    macs: nics.map((n) => n.mac),
    ports: [...Array(ENTER_CHANNELS).keys()].map((n) => ({ name: enterPort(n), socket: enterSocket(n) })),
  });
  const inner = innerScript(R, apps, qemu, nics);
  const teardown = req.network.teardownScript;
  return {
    script: planScript({
      P,
      R,
      uuid: req.uuid,
      inner,
      cni,
      ...(teardown !== undefined ? { teardown } : {}),
      ...(req.metadata.unregister !== '' ? { mdsUnregister: req.metadata.unregister } : {}),
    }),
  };
}

/** The smallest `resource/<name>` limit among the isolators, in bytes (memory) or millicores (cpu). */
function limitOf(
  isolators: readonly Isolator[],
  name: 'resource/memory' | 'resource/cpu',
): bigint | undefined {
  let out: bigint | undefined;
  for (const iso of isolators) {
    if (iso.name !== name) continue;
    let v;
    try {
      v = decodeIsolator(iso);
    } catch {
      continue; // the pod's manifest was checked when it was prepared
    }
    if (v?.kind !== 'resource' || v.limit === undefined) continue;
    const n = name === 'resource/memory' ? v.limit.value() : v.limit.milliValue();
    out = out === undefined || n < out ? n : out;
  }
  return out;
}

/**
 * The VM's size from the pod's isolators: 128 MB for the guest plus each app's memory limit (the
 * smaller of the app's and the pod's), and as many CPUs as the apps' CPU limits add up to (rounded
 * up; at least one, at most the host's). Apps without a limit add nothing.
 */
export function vmSize(manifest: PodManifest, hostCpus: number): { memoryMb: number; cpus: number } {
  let memory = 0n;
  let milli = 0n;
  for (const ra of manifest.apps) {
    const both = [...(ra.app?.isolators ?? []), ...(manifest.isolators ?? [])];
    memory += limitOf(both, 'resource/memory') ?? 0n;
    milli += limitOf(both, 'resource/cpu') ?? 0n;
  }
  const mib = 1024n * 1024n;
  const memoryMb = MEMORY_MB + Number((memory + mib - 1n) / mib);
  const cpus = Math.min(Math.max(1, Number((milli + 999n) / 1000n)), Math.max(1, hostCpus));
  return { memoryMb, cpus };
}

/** A dotted IPv4 mask as a prefix length. */
export function prefixLength(mask: string): number {
  if (mask.startsWith('/')) return Number(mask.slice(1));
  return mask
    .split('.')
    .map((o) => Number(o).toString(2).replace(/0/g, '').length)
    .reduce((a, b) => a + b, 0);
}

interface GuestNic {
  ifName: string;
  mac: string;
  /** ADDRESS/PREFIX */
  address: string;
  gateway: string;
  /** The namespace's default route goes through this interface, via this address. */
  defaultVia?: string;
}

/**
 * The pod's CNI networks (src/net, as the oci engine), made in `ns-net`: each interface's MAC and
 * address are those of one of the guest's NICs. IPv4 only: an IPv6 address is refused (stage0's
 * pipeline then tears the networks down again).
 */
function podNetworks(P: string): GuestNic[] {
  let infos: NetInfo[] = [];
  try {
    infos = JSON.parse(readFileSync(path.join(P, 'net-info.json'), 'utf8')) as NetInfo[];
  } catch {
    // none: refused below
  }
  // A failure here makes stage0's pipeline undo the networks.
  const undo = (message: string): never => fail(message);
  if (infos.length === 0) undo('the CNI networks left no net-info.json for the kvm engine');
  if (infos.length > MAX_NICS)
    undo(`--net: the kvm engine connects a pod to at most ${MAX_NICS} networks (QEMU's microvm slots)`);
  const v6 = infos.find((i) => i.ip.includes(':'));
  if (v6 !== undefined)
    undo(`--net=${v6.netName}: the kvm engine connects a pod to IPv4 networks only (for now)`);
  const inNs = (...args: string[]) => host().nsenter.run([`--net=${path.join(P, NETNS_FILE)}`, ...args]);
  // The default route the plugins gave the namespace (rkt's default network has one) is the guest's.
  let route: { gateway?: string; dev?: string } | undefined;
  try {
    route = (JSON.parse(inNs('ip', '-j', '-4', 'route', 'show', 'default').stdout) as (typeof route)[])[0];
  } catch {
    route = undefined;
  }
  return infos.map((nic) => {
    const r = inNs('ip', '-j', 'link', 'show', nic.ifName);
    let mac: string | undefined;
    try {
      mac = (JSON.parse(r.stdout) as { address?: string }[])[0]?.address;
    } catch {
      mac = undefined;
    }
    if (mac === undefined || !/^[0-9a-f]{2}(:[0-9a-f]{2}){5}$/.test(mac))
      undo(`cannot read the MAC address of ${nic.ifName} in the pod's network namespace: ${r.stderr.trim()}`);
    return {
      ifName: nic.ifName,
      mac: mac as string,
      address: `${nic.ip}/${prefixLength(nic.mask)}`,
      gateway: nic.hostIP,
      ...(route?.dev === nic.ifName && route.gateway !== undefined ? { defaultVia: route.gateway } : {}),
    };
  });
}

function readState(pod: EnginePod): KvmPodState | undefined {
  return readEngineState<KvmPodState>(pod.path, 'kvm');
}

function cmdline(pid: number): string[] | undefined {
  try {
    return readFileSync(`/proc/${pid}/cmdline`, 'utf8').split('\0');
  } catch {
    return undefined;
  }
}

function readPid(file: string): number | undefined {
  try {
    const pid = Number(readFileSync(file, 'utf8').trim());
    return Number.isSafeInteger(pid) && pid > 1 ? pid : undefined;
  } catch {
    return undefined;
  }
}

/** The pod's QEMU, if it still runs: the pid in `stage1/kvm/qemu.pid` running QEMU named rkt-UUID. */
export function qemuPid(pod: EnginePod): number | undefined {
  const pid = readPid(path.join(pod.path, KVM_QEMU_PID));
  if (pid === undefined) return undefined;
  const argv = cmdline(pid);
  if (argv === undefined) return undefined;
  const i = argv.indexOf('-name');
  return path.basename(argv[0] ?? '') === QEMU && argv[i + 1] === `rkt-${pod.uuid}` ? pid : undefined;
}

/** The plan's shell, if it still runs: the pod's `pid`, QEMU's parent. */
function planPid(pod: EnginePod, qemu: number): number | undefined {
  const pid = readPid(path.join(pod.path, POD_FILES.pid));
  if (pid === undefined) return undefined;
  try {
    const stat = readFileSync(`/proc/${qemu}/stat`, 'utf8');
    const ppid = Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[1]);
    return ppid === pid ? pid : undefined;
  } catch {
    return undefined;
  }
}

/**
 * Graceful: the plan's TERM trap sends `stop` to the guest (which TERMs its apps, KILLs them after
 * the stop timeout, and powers off) and kills QEMU if it is still there 5 s after that timeout;
 * with the plan gone, the line goes to the console FIFO directly. `--force`: QEMU is killed.
 */
function stop(req: StopRequest): void {
  if (readState(req.pod) === undefined) fail(`pod ${req.pod.uuid} was not started by the kvm engine`);
  const qemu = qemuPid(req.pod);
  if (qemu === undefined) return;
  if (req.force) {
    signalPid(qemu, 'SIGKILL');
    return;
  }
  writeFileSync(path.join(req.pod.path, STOPPING_MARKER), '');
  writeFileSync(path.join(req.pod.path, KVM_CONF, 'stopping'), '');
  const plan = planPid(req.pod, qemu);
  if (plan !== undefined) signalPid(plan, 'SIGTERM');
  else if (!sendLine(req.pod.path, `stop ${stopTimeoutEnv() ?? DEFAULT_STOP_TIMEOUT}`))
    signalPid(qemu, 'SIGKILL');
}

/** One line to the guest's console (QEMU's stdin, the FIFO `stage1/kvm/ctl`), non-blocking. */
function sendLine(podPath: string, line: string): boolean {
  return writeFifoLine(path.join(podPath, KVM_CTL), line);
}

/**
 * `rkt enter`'s plan: one session on the first free channel's `enter-N.sock` (socat), lines both ways. Up: `run APP
 * B64` (the command as quoted words, base64), then the plan's stdin as `i B64` chunks and `c` at its
 * end. Down: the command's stdout and stderr as `o B64` and `e B64` chunks, then `x CODE`, the exit
 * code enter exits with. An `enter` line on the guest's console (the FIFO `ctl`) wakes the guest's
 * agent, which reads the request once the connection is there (guest-init.sh, enter_session).
 */
export function enterScript(o: { podPath: string; uuid: string; app: string; command: string[] }): string {
  const request = `run ${o.app} ${Buffer.from(o.command.map(q).join(' ')).toString('base64')}`;
  return sessionScript({ ...o, what: 'enter', request, tty: true });
}

/**
 * `rkt attach`'s plan: a session as enter's on the same channels, whose request is `attach APP
 * STREAMS` (STREAMS: some of stdin,stdout,stderr). The guest's agent (guest-init.sh, attach_serve)
 * relays the plan's stdin to the app's stdin FIFO and its stdout and stderr FIFOs back, and ends
 * the session with `x 0` once the app's output ends (the app ended), or, attached to stdin only,
 * at the end of the plan's stdin.
 */
export function attachScript(o: {
  podPath: string;
  uuid: string;
  app: string;
  streams: readonly string[];
  /** The app's terminal: this one, if the plan's stdin is a terminal, is raw meanwhile. */
  tty?: boolean;
}): string {
  return sessionScript({
    ...o,
    what: 'attach',
    request: `attach ${o.app} ${o.streams.join(',')}`,
    ...(o.tty === true ? { raw: true } : {}),
  });
}

/**
 * A session on the first free enter channel. With `tty` and a terminal as the plan's stdin, as the
 * oci engine's enter gives one: the request's verb is `tty` and its last words the terminal's
 * rows and columns, the terminal is raw (restored at the end), and the guest runs the command on a
 * pseudo-terminal of its own (its stdout and stderr both come back as `o`).
 */
function sessionScript(o: {
  podPath: string;
  uuid: string;
  what: string;
  request: string;
  tty?: boolean;
  /** The plan's terminal, if its stdin is one, raw while the session lasts (an app's tty). */
  raw?: boolean;
}): string {
  const request = o.request;
  const ttyRequest = o.tty === true ? `tty${request.slice(request.indexOf(' '))}` : undefined;
  const K = path.join(o.podPath, KVM_DIR);
  const chunks = (tag: string): string =>
    `while c=$(dd bs=1536 count=1 2>/dev/null | base64 -w 0) && [ -n "$c" ]; do echo "${tag} $c"; done`;
  return (
    [
      `# rkt ${o.what} plan (kvm engine); removes itself first`,
      'rm -f "$0"',
      `cd ${q(K)} 2>/dev/null && [ -p ctl ] && [ -S ${enterSocket(0)} ] || { echo ${q(`rkt: pod ${o.uuid}: its VM has no enter channel`)} >&2; exit 254; }`,
      // The first free channel, else wait for channel 0.
      'n=',
      `for i in ${[...Array(ENTER_CHANNELS).keys()].join(' ')}; do`,
      '  [ -S "enter-$i.sock" ] && exec 4>>"enter-$i.lock" && flock -x -n 4 && n=$i && break',
      'done',
      '[ -n "$n" ] || { exec 4>>enter-0.lock && flock -x 4 && n=0; } || exit 254',
      'D=$(mktemp -d) || exit 254',
      's= r= tm=',
      // The stdin relay is a session of its own (it may still read a terminal): its group goes.
      'end() { [ -n "$r" ] && { kill -- -"$r" || kill "$r"; } 2>/dev/null; [ -n "$s" ] && kill "$s" 2>/dev/null; rm -rf "$D" "conf/enter-$n"; [ -z "$tm" ] || stty "$tm"; }',
      "trap 'end; exit 130' INT",
      "trap 'end; exit 143' TERM HUP",
      // An asynchronous list's stdin would be /dev/null: the relay reads the plan's through fd 5.
      'mkfifo "$D/up" "$D/down" && exec 7<>"$D/up" 5<&0 || { end; exit 254; }',
      ...(ttyRequest === undefined
        ? [
            `echo ${q(request)} >&7`,
            ...(o.raw === true ? ['if [ -t 0 ] && tm=$(stty -g); then stty raw -echo; fi'] : []),
          ]
        : [
            // rows and columns (`stty size`) go with the request; the terminal is raw while it runs.
            `if [ -t 0 ] && z=$(stty size 2>/dev/null) && tm=$(stty -g); then echo ${q(ttyRequest)} "$z" >&7 && stty raw -echo; else echo ${q(request)} >&7; fi`,
          ]),
      'socat - UNIX-CONNECT:"enter-$n.sock" <"$D/up" >"$D/down" 2>/dev/null &',
      's=$!',
      // Opening the FIFO read-write never blocks; QEMU passes the line to the guest's console.
      // A guest still booting may lose the line: its init looks for the marker once it reads lines.
      ': >"conf/enter-$n" && echo "enter $n" 1<>ctl',
      `setsid sh -c ${q(`${chunks('i')}; echo c`)} <&5 >&7 &`,
      'r=$!',
      'rc=',
      'while read -r t d; do',
      '  case $t in',
      '  o) printf %s "$d" | base64 -d ;;',
      '  e) printf %s "$d" | base64 -d >&2 ;;',
      '  x) rc=$d && break ;;',
      '  esac',
      'done <"$D/down"',
      'end',
      `[ -n "$rc" ] || { echo ${q(`rkt: pod ${o.uuid}: the VM ended the ${o.what} session without an exit code`)} >&2; exit 254; }`,
      'case $rc in *[!0-9]* | ????*) exit 254 ;; esac',
      '[ "$rc" -le 255 ] || exit 254',
      'exit "$rc"',
    ].join('\n') + '\n'
  );
}

function enter(req: EnterRequest): ExecPlan {
  const state = readState(req.pod) ?? fail(`pod ${req.pod.uuid} was not started by the kvm engine`);
  let app = state.apps[0];
  if (req.app !== undefined) app = state.apps.find((a) => a === req.app);
  else if (state.apps.length > 1)
    fail(`pod ${req.pod.uuid} has several apps (${state.apps.join(', ')}): choose one with --app`);
  if (app === undefined)
    return fail(
      req.app === undefined
        ? `pod ${req.pod.uuid} has no app to enter`
        : `pod ${req.pod.uuid} has no app ${JSON.stringify(req.app)}`,
    );
  if (qemuPid(req.pod) === undefined) fail(`pod ${req.pod.uuid} is not running`);
  const command = req.command.length > 0 ? req.command : ['/bin/sh'];
  return { script: enterScript({ podPath: req.pod.path, uuid: req.pod.uuid, app, command }) };
}

function attach(req: AttachRequest): ExecPlan {
  if (readState(req.pod) === undefined) fail(`pod ${req.pod.uuid} was not started by the kvm engine`);
  if (qemuPid(req.pod) === undefined) fail(`pod ${req.pod.uuid} is not running`);
  return {
    script: attachScript({
      podPath: req.pod.path,
      uuid: req.pod.uuid,
      app: req.app,
      streams: req.streams,
      ...(req.tty === true ? { tty: true } : {}),
    }),
  };
}

/**
 * For kvm pods only (every engine's gc runs for every pod): a QEMU that outlived its plan is killed
 * and `ns-net` removed (stage0's gc deleted the CNI networks); the mounts lived in QEMU's mount namespace.
 */
function gc(pod: EnginePod): void {
  if (readState(pod) === undefined) return; // another engine's pod: its own hook cleans it
  const pid = qemuPid(pod);
  if (pid !== undefined) {
    process.stderr.write(`gc: pod ${pod.uuid}: killing its QEMU process ${pid}\n`);
    signalPid(pid, 'SIGKILL');
  }
  // Stage0's gc has already run the CNI DELs, while the namespace was there (src/pod/engine-gc.ts).
  removePodNamespacesSync([path.join(pod.path, NETNS_FILE)]);
  unmountUnder(pod.path);
}

function requireSandbox(pod: EnginePod): KvmPodState {
  const state = readState(pod) ?? fail(`pod ${pod.uuid} was not started by the kvm engine`);
  if (state.mutable !== true) fail(`pod ${pod.uuid} is not a sandbox (rkt app sandbox)`);
  return state;
}

/** Runs a script in the mount namespace of the pod's QEMU (where the apps' host mounts live). */
function inQemuMounts(pod: EnginePod, lines: string[], what: string): void {
  const qemu = awaitQemu(pod) ?? fail(`pod ${pod.uuid}: its VM is not running`);
  const r = host().nsenter.run([`--mount=/proc/${qemu}/ns/mnt`, '--', '/bin/sh', '-c', lines.join('\n')]);
  if (r.status !== 0) fail(`pod ${pod.uuid}: cannot ${what}: ${failureText(r, 'nsenter')}`);
}

/** An app's files in the pod dir. */
function appFiles(app: string): string[] {
  return [path.join('apps', app), path.join('overlay', app), path.join(KVM_CONF, 'app', `${app}.env`)];
}

function writeAtomic(file: string, content: string): void {
  writeFileSync(`${file}.tmp`, content);
  renameSync(`${file}.tmp`, file);
}

/**
 * `rkt app add`: the app's rootfs (overlay) and its hosts, resolv.conf and volume binds mounted in
 * QEMU's mount namespace, under the share the guest sees as /pod (so the running VM sees them at
 * once over 9p), and its settings for the guest (conf/app/APP.env, read when `start` comes).
 */
function addApp(req: AddAppRequest): AddedApp {
  const state = requireSandbox(req.pod);
  const R = req.pod.path;
  const file = path.join(R, POD_FILES.manifest);
  const manifest = req.manifest ?? parsePodManifest(readFileSync(file, 'utf8'), file).manifest;
  const i = manifest.apps.findIndex((a) => a.name === req.app);
  if (i < 0) fail(`pod ${req.pod.uuid} has no app ${JSON.stringify(req.app)}`);
  const ra = manifest.apps[i] as PodManifest['apps'][number];
  const ignored = (ra.app?.isolators ?? [])
    .map((n) => n.name)
    .filter((n) => n !== 'resource/memory' && n !== 'resource/cpu');
  if (ignored.length > 0)
    process.stderr.write(
      `add: the kvm engine applies only memory and cpu limits (as the app's cgroup in the VM); ignored: ${[...new Set(ignored)].join(', ')}\n`,
    );
  try {
    const a = prepareApp(
      { dataDir: req.dataDir, noOverlay: state.noOverlay === true, metadataUrl: state.metadataUrl ?? '' },
      manifest,
      i,
      R,
      R,
      existsSync(path.join(R, 'etc', 'resolv.conf')),
      path.join(R, KVM_SHARE),
    );
    mkdirSync(path.join(R, LOGS_DIR, ra.name), { recursive: true });
    inQemuMounts(req.pod, [...MOUNT_HELPERS, ...appMountLines(a)], `mount the rootfs of app ${ra.name}`);
    writeAtomic(path.join(R, KVM_CONF, 'app', `${ra.name}.env`), a.env);
  } catch (err) {
    removeAppFiles(req.pod, req.app);
    throw err;
  }
  const next: KvmPodState = { ...state, apps: [...state.apps.filter((n) => n !== ra.name), ra.name] };
  writeEngineState(R, next);
  return { configFiles: [], hostNetwork: false };
}

/**
 * `rkt app rm`, once the guest forgot the app (its guest mounts gone): its host mounts (lazily: the
 * 9p server may still hold a file of it), files and place in the engine state.
 */
function removeAppFiles(pod: EnginePod, app: string): void {
  const R = pod.path;
  const rootfs = path.join(R, KVM_SHARE, 'apps', app, 'rootfs');
  if (qemuPid(pod) !== undefined)
    inQemuMounts(
      pod,
      [`if mountpoint -q ${q(rootfs)}; then umount -R -l ${q(rootfs)} || exit 1; fi`],
      `unmount the rootfs of app ${app}`,
    );
  for (const f of appFiles(app)) rmSync(path.join(R, f), { recursive: true, force: true });
  const state = readState(pod);
  if (state !== undefined) writeEngineState(R, { ...state, apps: state.apps.filter((n) => n !== app) });
}

/** How long a command waits for a booting guest to read its console (TCG boots in seconds). */
const GUEST_WAIT_MS = 180_000;

/**
 * Whether the guest reads its console, waiting for it while QEMU runs (bounded): its init marks
 * `out/ready` in the share once its console reader runs; a line sent before may be lost.
 */
function awaitGuest(pod: EnginePod): boolean {
  const ready = path.join(pod.path, KVM_SHARE, 'out', 'ready');
  const end = Date.now() + GUEST_WAIT_MS;
  for (;;) {
    if (awaitQemu(pod) === undefined) return false;
    if (existsSync(ready)) return true;
    if (Date.now() > end) return false;
    spawnSync('sleep', ['0.05']);
  }
}

/**
 * The pod's QEMU, waiting (bounded) while the plan is still making its mounts before exec'ing it
 * (its pid is recorded first): undefined once neither runs.
 */
function awaitQemu(pod: EnginePod): number | undefined {
  const end = Date.now() + 30_000;
  for (;;) {
    const q = qemuPid(pod);
    if (q !== undefined) return q;
    const starting = readPid(path.join(pod.path, KVM_QEMU_PID));
    const argv = starting === undefined ? undefined : cmdline(starting);
    // setsid, unshare, then the shell that mounts, each exec'ing the next, `rkt-kvm` their last word.
    if (argv === undefined || !argv.includes('rkt-kvm') || Date.now() > end) return undefined;
    spawnSync('sleep', ['0.05']);
  }
}

/**
 * `rkt app` on the kvm engine: the guest's init takes the commands from its console (QEMU's stdin,
 * the FIFO `stage1/kvm/ctl`) and writes the status files into the pod dir over 9p.
 */
const apps: EngineApps = {
  supervisorRunning: (pod) => awaitQemu(pod) !== undefined,
  send: (pod, line) => awaitGuest(pod) && sendLine(pod.path, line),
  add: addApp,
  removeFiles: removeAppFiles,
  hostNetwork: () => false,
};

export const kvmEngine: Engine = {
  name: 'kvm',
  podNetwork: true,
  podLogs: true,
  podMetadata: true,
  apps,
  run,
  enter,
  attach,
  stop,
  gc,
};
