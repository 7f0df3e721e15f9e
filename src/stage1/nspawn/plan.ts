/**
 * The nspawn engine's scripts (docs/stage1.md, "The nspawn engine"), POSIX sh (dash):
 *
 * - the exec plan (host side): locks the prepared pod on fd 3 and renames it into run/ (as the oci
 *   supervisor does), writes `pid` (its own: the `rkt run` process), then runs systemd-nspawn in a
 *   cgroup `rkt-<uuid>` of its own and a private mount namespace (where a tmpfs on
 *   /run/systemd/nspawn takes nspawn's lock and propagation files), with the pod's supervisor as
 *   the container's init; it forwards TERM/INT/HUP to nspawn (which sends SIGTERM to the init),
 *   and when nspawn ends unregisters the pod from the metadata service, tears down the CNI networks, removes the cgroups and exits with the
 *   pod's code. fd 3 (the lock) stays with the plan and with nspawn;
 * - each app's `launch.sh` (inside the pod, run by chroot.sh in a private mount namespace): its
 *   mounts, then `env -i` → `perl launch.pl` (chroot, working dir, credentials, capabilities,
 *   no_new_privs, seccomp) → the app;
 * - `rkt enter`: nsenter into the app's namespaces, root and working directory, as its user.
 */
import path from 'node:path';
import { POD_FILES } from '../../pod-layout.js';
import { shQuote as q } from '../oci/runtime.js';
import { RKT_FAILURE, RocketError } from '../../errors.js';
import { flyEnterScript, type FlyCredentials } from '../fly/plan.js';

/** Where the plan records nspawn's pid (relative to the pod dir). */
export const NSPAWN_PID = path.join('stage1', 'nspawn-pid');

export interface NspawnPlanInput {
  P: string;
  R: string;
  uuid: string;
  /** The cgroup made for the pod (in the hierarchies nspawn uses); the plan removes it at the end. */
  cgroup: string;
  /** Whether nspawn starts in that cgroup (not on a systemd host, where machined places it). */
  moveToCgroup: boolean;
  /** systemd-nspawn's argv (program first). */
  nspawn: string[];
  /** Stage0 made `ns-net` with CNI networks: the plan tears them down at the end. */
  cni: boolean;
  /** With `cni`: the script that tears them down (relative to the pod dir), from the RunConfig. */
  cniTeardown?: string;
  /** The sh command that unregisters the pod from the metadata service (host side: its socket is the host's), or ''. */
  mdsUnregister?: string;
  /** Cgroup dirs to make before nspawn starts (bound into the pod for the apps' limits). */
  limitDirs?: string[];
  /**
   * A sandbox's propagation dir (relative to the pod dir): made a shared mount of its own on the
   * host, received by nspawn's namespace (a slave of the host's) and so by the container, where
   * `rkt app add` binds the host volumes of apps added later; unmounted at the end.
   */
  incoming?: string;
}

/** The script that runs nspawn, inside `unshare --mount`: cgroup, private /run/systemd/nspawn. */
const INNER = [
  'cg=$1; mk=$2; move=$3; shift 3',
  'for d in $mk; do mkdir -p "$d" || { echo "rkt: cannot make the cgroup $d" >&2; exit 254; }; done',
  'if [ -f /sys/fs/cgroup/cgroup.controllers ]; then hs=/sys/fs/cgroup; else hs=; for h in systemd unified; do [ -f "/sys/fs/cgroup/$h/cgroup.procs" ] && hs="$hs /sys/fs/cgroup/$h"; done; fi',
  '[ -n "$move" ] || hs=',
  'for h in $hs; do mkdir -p "$h/$cg" && echo $$ >"$h/$cg/cgroup.procs" || { echo "rkt: cannot make the cgroup $h/$cg" >&2; exit 254; }; done',
  'mkdir -p /run/systemd/nspawn && mount -t tmpfs -o mode=0755 tmpfs /run/systemd/nspawn || { echo "rkt: cannot mount a tmpfs on /run/systemd/nspawn" >&2; exit 254; }',
  // The lock (fd 3) goes on to the container's init as a socket-activated fd would.
  'LISTEN_FDS=1 LISTEN_PID=$$ SYSTEMD_LOG_LEVEL=warning exec "$@"',
].join('\n');

export function nspawnPlanScript(p: NspawnPlanInput): string {
  const teardown = p.cni
    ? [
        ...(p.cniTeardown !== undefined
          ? [`[ -f "$R"/${q(p.cniTeardown)} ] && sh "$R"/${q(p.cniTeardown)} "$R"`]
          : []),
        'umount "$R/ns-net" 2>/dev/null; rm -f "$R/ns-net"',
      ]
    : [];
  return (
    [
      '# rkt exec plan (nspawn engine); removes itself first',
      'rm -f "$0"',
      `P=${q(p.P)} R=${q(p.R)} CG=${q(p.cgroup)}`,
      '{ command exec 4<&0; } 2>/dev/null || exec 4</dev/null',
      `if ! { command exec 3<"$P"; } 2>/dev/null || ! flock -x -n 3 || ! mv "$P" "$R"; then echo "rkt: pod ${p.uuid} is not prepared (already running?)" >&2; exit 254; fi`,
      `echo $$ >"$R"/${q(POD_FILES.pid)}`,
      ...(p.incoming !== undefined
        ? [
            `I="$R"/${q(p.incoming)}`,
            'mkdir -p "$I" && mount --bind "$I" "$I" && mount --make-private "$I" && mount --make-shared "$I" || { echo "rkt: cannot make the propagation dir $I" >&2; exit 254; }',
          ]
        : []),
      `unshare --mount --propagation ${p.incoming !== undefined ? 'slave' : 'private'} -- /bin/sh -c ${q(INNER)} rkt-nspawn "$CG" ${q((p.limitDirs ?? []).join(' '))} ${p.moveToCgroup ? '1' : "''"} ${p.nspawn.map(q).join(' ')} <&4 4<&- &`,
      'n=$!',
      `echo $n >"$R"/${q(NSPAWN_PID)}`,
      // nspawn passes SIGTERM on to the pod's init (--kill-signal), the supervisor's graceful stop.
      "trap 'kill -s TERM $n 2>/dev/null' TERM INT HUP",
      // A wait cut short by a trapped signal leaves the child running (or a zombie): wait again.
      'rc=',
      'while [ -z "$rc" ]; do wait $n; r=$?; kill -0 $n 2>/dev/null || rc=$r; done',
      "trap '' TERM INT HUP",
      ...(p.mdsUnregister !== undefined && p.mdsUnregister !== '' ? [p.mdsUnregister] : []),
      ...teardown,
      ...(p.incoming !== undefined ? ['umount --recursive --lazy "$I" 2>/dev/null'] : []),
      'for d in /sys/fs/cgroup/*/"$CG" /sys/fs/cgroup/"$CG"; do [ -d "$d" ] && find "$d" -depth -type d -exec rmdir {} + 2>/dev/null; done',
      'exit $rc',
    ].join('\n') + '\n'
  );
}

export type LaunchMount =
  | { kind: 'rbind'; source: string; target: string }
  | { kind: 'bind'; source: string; target: string; recursive: boolean; readOnly: boolean };

export interface LaunchInput {
  app: string;
  /** The app's rootfs inside the pod (`/opt/stage2/<app>/rootfs`). */
  rootfs: string;
  /** The rootfs is a copy (`--no-overlay`), not a mount point of its own. */
  copy: boolean;
  readOnlyRootfs: boolean;
  mounts: LaunchMount[];
  env: string[];
  user: FlyCredentials;
  workingDir: string;
  /** The working directory's path as seen by launch.sh (resolved inside the rootfs by stage0). */
  workingDirOutside: string;
  exec: string[];
  /** Cgroups (v1 dirs bound into the pod) the process joins first, with the values to write. */
  limits?: { dir: string; values: [string, string][] }[];
  /** The capabilities, no_new_privs, oom score and seccomp filter (launch.pl applies them). */
  isolation?: LaunchIsolation;
  /** For the main process: the marker of its start (`status/<app>-started`), then USR1 to the supervisor. */
  started?: string;
}

/** What an app's launch applies after its chroot (as the oci engine computes it). */
export interface LaunchIsolation {
  /** The bounding set (capability numbers); a root app's effective and permitted sets too. */
  capabilities: number[];
  noNewPrivileges: boolean;
  oomScoreAdj?: number;
  /** The compiled filter's file (classic BPF), as the container sees it. */
  seccomp?: string;
}

/** launch.pl's system call numbers (prctl, capset, setresuid, setresgid, setgroups) by Node arch. */
const LAUNCH_SYSCALLS: Record<string, string> = {
  x64: '157,126,117,119,116',
  arm64: '167,91,147,149,159',
};

/** The launch's last command: launch.pl chroots, sets the credentials and isolation, execs the app. */
export function launchExecLine(
  p: Pick<LaunchInput, 'env' | 'user' | 'rootfs' | 'workingDir' | 'exec' | 'isolation'>,
  arch: string = process.arch,
): string {
  const nr = LAUNCH_SYSCALLS[arch];
  if (nr === undefined)
    throw new RocketError(`the nspawn engine does not know the system calls of ${arch}`, RKT_FAILURE);
  const iso = p.isolation ?? { capabilities: [], noNewPrivileges: false };
  return [
    'exec env -i --default-signal perl /rkt/launch.pl',
    nr,
    q(p.rootfs),
    q(p.workingDir),
    String(p.user.uid),
    String(p.user.gid),
    q(p.user.groups.join(',')),
    q(iso.capabilities.join(',')),
    iso.noNewPrivileges ? '1' : '0',
    q(iso.seccomp ?? ''),
    ...p.env.map(q),
    '--',
    ...p.exec.map(q),
  ].join(' ');
}

function mountLines(m: LaunchMount): string[] {
  const target = `target ${q(m.source)} ${q(m.target)}`;
  if (m.kind === 'rbind')
    return [
      `${target} && mount --rbind ${q(m.source)} ${q(m.target)} || fail ${q(`cannot mount ${m.source}`)}`,
    ];
  const lines = [
    `${target} && mount ${m.recursive ? '--rbind' : '--bind'} ${q(m.source)} ${q(m.target)} || fail ${q(`cannot mount ${m.source}`)}`,
  ];
  if (m.readOnly)
    lines.push(`mount -o remount,bind,ro ${q(m.target)} || fail ${q(`cannot make ${m.target} read-only`)}`);
  if (m.readOnly && m.recursive)
    lines.push(
      `awk -v t=${q(m.target)} '$5 == t || index($5, t "/") == 1 { print $5 }' /proc/self/mountinfo | ` +
        `while IFS= read -r sub; do mount -o remount,bind,ro "$(printf '%b' "$sub")" || exit 1; done || ` +
        `fail ${q(`cannot make the mounts below ${m.target} read-only`)}`,
    );
  return lines;
}

/** An app's (or event handler's) launch.sh, run by chroot.sh in the app's own mount namespace. */
export function launchScript(p: LaunchInput): string {
  const L = [
    `# rkt nspawn engine: launches ${p.app} (run by chroot.sh, in a private mount namespace)`,
    'fail() { echo "rkt: $*" >&2; exit 254; }',
    'target() { if [ -d "$1" ]; then mkdir -p "$2"; else mkdir -p "${2%/*}" && { [ -e "$2" ] || : >"$2"; }; fi; }',
  ];
  for (const l of p.limits ?? [])
    L.push(
      [
        `mkdir -p ${q(l.dir)}`,
        ...l.values.map(([f, v]) => `echo ${q(v)} >${q(`${l.dir}/${f}`)}`),
        `echo $$ >${q(`${l.dir}/cgroup.procs`)}`,
      ].join(' && ') + ` || fail ${q(`cannot apply the limits of app ${p.app} (${l.dir})`)}`,
    );
  if (p.copy && p.readOnlyRootfs)
    L.push(
      `mount --bind ${q(p.rootfs)} ${q(p.rootfs)} || fail ${q(`cannot mount the rootfs of app ${p.app}`)}`,
    );
  for (const m of p.mounts) L.push(...mountLines(m));
  if (p.readOnlyRootfs)
    L.push(
      `mount -o remount,bind,ro ${q(p.rootfs)} || fail ${q(`cannot make the rootfs of app ${p.app} read-only`)}`,
    );
  L.push(
    `[ -d ${q(p.workingDirOutside)} ] || fail ${q(`app ${p.app}: working directory ${p.workingDir} does not exist`)}`,
  );
  // The supervisor is the pod's init (pid 1 here); its USR1 trap reads the markers.
  if (p.isolation?.oomScoreAdj !== undefined)
    L.push(
      `echo ${p.isolation.oomScoreAdj} >/proc/self/oom_score_adj || fail ${q(`cannot set the oom score of app ${p.app}`)}`,
    );
  if (p.started !== undefined) L.push(`: >${q(p.started)}`, 'kill -s USR1 1 2>/dev/null');
  L.push(launchExecLine(p));
  return L.join('\n') + '\n';
}

/** `rkt enter`: the app's environment and credentials, in all its namespaces, root and working dir. */
export function nspawnEnterScript(
  pid: number,
  user: FlyCredentials,
  env: string[],
  command: string[],
): string {
  return flyEnterScript(pid, user, env, command, '--mount --uts --ipc --net --pid --root --wd');
}
