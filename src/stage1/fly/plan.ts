/**
 * The fly engine's plans, POSIX sh (dash) scripts that the launcher execs (docs/stage1.md).
 *
 * Run: the plan locks the prepared pod on fd 3 and renames it into run/ (as the oci plan does),
 * then supervises one background subshell, which records the app's exit code. The subshell runs
 * `unshare --mount --propagation slave` with an inner script that, in that private mount namespace,
 * mounts the app's overlay, /dev, /proc, /sys, /tmp, resolv.conf, hosts and the volumes, writes
 * `pid` (its own pid: every step after it is an exec, so it is the app's), links
 * `stage1/rootfs/rkt/supervisor-status` to `ready`, and execs
 * `env -i` (the app's environment; INT and QUIT back to default, which an asynchronous list of a
 * non-interactive shell ignores) → `setpriv` (gid, supplementary groups) → `unshare --root --wd
 * --setuid` (chroot, working directory inside it, uid) → the app. Only host binaries run before
 * the chroot; nothing is needed inside the image. The mounts live and die with the namespace, so
 * the host never sees them. The app inherits fd 3 (as in rkt's fly), so the pod reads `running`
 * while it lives even if the supervisor is SIGKILLed.
 */
import path from 'node:path';
import { POD_FILES } from '../../pod-layout.js';
import { DEFAULT_STOP_TIMEOUT, STOPPING_MARKER } from '../oci/engine.js';
import { shQuote as q } from '../oci/runtime.js';
import type { FlyMount } from './mounts.js';

/** rkt's readiness marker (a symlink to `ready`), relative to the pod dir. */
export const SUPERVISOR_STATUS = path.join('stage1', 'rootfs', 'rkt', 'supervisor-status');

export interface FlyCredentials {
  uid: number;
  gid: number;
  groups: number[];
}

export interface FlyPlanInput {
  /** The pod dir in prepared/ and in run/. */
  P: string;
  R: string;
  uuid: string;
  app: string;
  /** The rootfs mount point (under R). */
  rootfs: string;
  overlay?: { lower: string; upper: string; work: string };
  /** The runtime app's readOnlyRootFS: the rootfs is remounted read-only after the mounts. */
  readOnlyRootfs: boolean;
  mounts: FlyMount[];
  env: string[];
  user: FlyCredentials;
  /** Working directory inside the rootfs, and its host path (resolved at stage0) to check. */
  workingDir: string;
  workingDirHost: string;
  exec: string[];
  interactive: boolean;
}

/** `setpriv` arguments that set the gid and supplementary groups (the uid comes after the chroot). */
export function setprivArgs(user: FlyCredentials): string[] {
  const groups = user.groups.length > 0 ? [`--groups=${user.groups.join(',')}`] : ['--clear-groups'];
  return ['setpriv', `--regid=${user.gid}`, ...groups, '--'];
}

function mountLines(m: FlyMount): string[] {
  switch (m.kind) {
    case 'rbind':
      return [
        `target ${q(m.source)} ${q(m.target)} && mount --rbind ${q(m.source)} ${q(m.target)} || fail ${q(`cannot mount ${m.source}`)}`,
      ];
    case 'tmpfs':
      return [
        `mkdir -p ${q(m.target)} && mount -t tmpfs -o mode=1777 tmpfs ${q(m.target)} || fail ${q(`cannot mount a tmpfs on ${m.target}`)}`,
      ];
    case 'bind': {
      const lines = [
        `target ${q(m.source)} ${q(m.target)} && mount ${m.recursive ? '--rbind' : '--bind'} ${q(m.source)} ${q(m.target)} || fail ${q(`cannot mount ${m.source}`)}`,
      ];
      if (m.readOnly)
        lines.push(
          `mount -o remount,bind,ro ${q(m.target)} || fail ${q(`cannot make ${m.target} read-only`)}`,
        );
      if (m.readOnly && m.recursive)
        // Every submount below the target too (the kernel's remount changes one mount only): each
        // mount point under it, from this mount namespace's mountinfo (field 5, octal-escaped).
        lines.push(
          `awk -v t=${q(m.target)} '$5 == t || index($5, t "/") == 1 { print $5 }' /proc/self/mountinfo | ` +
            `while IFS= read -r sub; do mount -o remount,bind,ro "$(printf '%b' "$sub")" || exit 1; done || ` +
            `fail ${q(`cannot make the mounts below ${m.target} read-only`)}`,
        );
      return lines;
    }
  }
}

/**
 * The line that becomes the app: a clean environment, the signals it gets by default, the image's
 * credentials (setpriv), and unshare's chroot into its rootfs and working directory.
 */
export function appExecLine(
  defaultSignal: string,
  p: { env: string[]; user: FlyCredentials; rootfs: string; workingDir: string; exec: string[] },
): string {
  return [
    'exec env -i',
    defaultSignal,
    ...p.env.map(q),
    ...setprivArgs(p.user),
    'unshare',
    q(`--root=${p.rootfs}`),
    q(`--wd=${p.workingDir}`),
    `--setuid=${p.user.uid}`,
    '--',
    ...p.exec.map(q),
  ].join(' ');
}

/** The script run by `sh -c` in the app's private mount namespace; it ends by exec'ing the app. */
export function innerScript(p: FlyPlanInput): string {
  const o = p.overlay;
  const L = [
    'fail() { echo "rkt: $*" >&2; exit 254; }',
    // A mount target: a directory for a directory, else an (empty) file.
    'target() { if [ -d "$1" ]; then mkdir -p "$2"; else mkdir -p "${2%/*}" && { [ -e "$2" ] || : >"$2"; }; fi; }',
  ];
  const cannot = `|| fail ${q(`cannot mount the rootfs of app ${p.app}`)}`;
  if (o !== undefined)
    L.push(
      `mount -t overlay overlay -o ${q(`lowerdir=${o.lower},upperdir=${o.upper},workdir=${o.work}`)} ${q(p.rootfs)} ${cannot}`,
    );
  // A copy (--no-overlay) is a mount point of its own only if bound onto itself.
  else if (p.readOnlyRootfs) L.push(`mount --bind ${q(p.rootfs)} ${q(p.rootfs)} ${cannot}`);
  for (const m of p.mounts) L.push(...mountLines(m));
  if (p.readOnlyRootfs)
    L.push(
      `mount -o remount,bind,ro ${q(p.rootfs)} || fail ${q(`cannot make the rootfs of app ${p.app} read-only`)}`,
    );
  L.push(
    `[ -d ${q(p.workingDirHost)} ] || fail ${q(`app ${p.app}: working directory ${p.workingDir} does not exist`)}`,
    `echo $$ >${q(path.join(p.R, POD_FILES.pid))}`,
    // A stop that came before the pid existed: `rkt stop` writes the marker, then reads the pid.
    `[ -e ${q(path.join(p.R, STOPPING_MARKER))} ] && exit 143`,
    `ln -sfn ready ${q(path.join(p.R, SUPERVISOR_STATUS))}`,
    appExecLine('--default-signal=INT,QUIT', p),
  );
  return L.join('\n') + '\n';
}

/** The supervisor: lock, rename, one app subshell, graceful stop, the app's exit code. */
export function flyPlanScript(p: FlyPlanInput): string {
  const S = path.join(p.R, POD_FILES.appStatusDir);
  const code = `"$S"/${q(p.app)}`;
  const stopping = `"$R"/${q(STOPPING_MARKER)}`;
  const stdin = p.interactive ? '<&4' : '</dev/null';
  return (
    [
      '# rkt exec plan (fly engine); removes itself first',
      'rm -f "$0"',
      `P=${q(p.P)} R=${q(p.R)} S=${q(S)}`,
      '{ command exec 4<&0; } 2>/dev/null || exec 4</dev/null',
      `if ! { command exec 3<"$P"; } 2>/dev/null || ! flock -x -n 3 || ! mv "$P" "$R"; then echo "rkt: pod ${p.uuid} is not prepared (already running?)" >&2; exit 254; fi`,
      `T=\${RKT_STOP_TIMEOUT:-${DEFAULT_STOP_TIMEOUT}}`,
      'stopping= timer=',
      // The app's subshell outlives TERM and HUP (caught, so its children get them at default) to
      // record the exit code; INT is already ignored in an asynchronous list.
      'app() {',
      '  trap : TERM HUP',
      `  if [ -e ${stopping} ]; then rc=143; else`,
      `    unshare --mount --propagation slave -- /bin/sh -c ${q(innerScript(p))} rkt-fly ${stdin} 4<&-`,
      '    rc=$?',
      '  fi',
      `  echo $rc >${code}`,
      '  kill -USR1 $$ 2>/dev/null',
      '}',
      // Signals the app (its pid is in `pid`) unless it has ended.
      `sig() { [ -f ${code} ] && return 0; p=; read p <"$R/pid" 2>/dev/null; [ -n "$p" ] && kill -"$1" "$p" 2>/dev/null; return 0; }`,
      'stop() {',
      '  [ -n "$stopping" ] && return',
      `  stopping=1; : >${stopping}`,
      '  sig TERM',
      '  ( k=; trap \'k=1\' TERM; sleep "$T" & s=$!; wait $s; if [ -n "$k" ]; then kill $s; else kill -USR2 $$; fi ) </dev/null >/dev/null 2>&1 3<&- 4<&- &',
      '  timer=$!',
      '}',
      'trap stop TERM INT HUP',
      "trap 'sig KILL' USR2",
      'trap : USR1',
      'app &',
      'sub=$!',
      `while [ ! -f ${code} ] && kill -0 $sub 2>/dev/null; do wait $sub; done`,
      '[ -n "$timer" ] && kill "$timer" 2>/dev/null',
      `rc=254; [ -f ${code} ] && read rc <${code}`,
      // During a requested stop, an app ending on the SIGTERM sent to it stopped cleanly.
      `if [ -e ${stopping} ] && [ "$rc" = 143 ]; then rc=0; fi`,
      'exit $rc',
    ].join('\n') + '\n'
  );
}

/**
 * `rkt enter`: the app's credentials and environment, in its mount namespace and root (fly; other
 * engines name more of the target's namespaces in `nsenterFlags`).
 */
export function flyEnterScript(
  pid: number,
  user: FlyCredentials,
  env: string[],
  command: string[],
  nsenterFlags = '--mount --root --wd',
): string {
  return (
    [
      'rm -f "$0"',
      [
        'exec env -i',
        ...env.map(q),
        ...setprivArgs(user),
        'nsenter',
        `--target=${pid}`,
        nsenterFlags,
        `--setuid=${user.uid}`,
        '--',
        ...command.map(q),
      ].join(' '),
    ].join('\n') + '\n'
  );
}
