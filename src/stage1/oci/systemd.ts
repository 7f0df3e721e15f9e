/**
 * systemd integration of the oci engine's supervisor (docs/systemd.md):
 *
 * - Readiness. Each main container gets an OCI `poststart` hook that records
 *   `stage1/rootfs/rkt/status/<app>-started` and wakes the supervisor; an app whose image (or
 *   runtime app) says `appc.io/executor/supports-systemd-notify: true` is ready only once it has
 *   sent READY=1 on the NOTIFY_SOCKET it gets (a relay, below, records `<app>-ready`). When every
 *   app is ready, the supervisor links `stage1/rootfs/rkt/supervisor-status` to `ready` (rkt's
 *   marker, read by `rkt status --wait-ready`) and, if `rkt run` got a NOTIFY_SOCKET, sends
 *   READY=1 and MAINPID with `systemd-notify --pid=<supervisor>` (run by the supervisor itself; as
 *   root, systemd-notify sends the message with the supervisor's pid as its credentials, so
 *   NotifyAccess=main accepts it).
 * - Socket activation. File descriptors systemd passes to `rkt run` (LISTEN_FDS, LISTEN_PID equal to
 *   the pid of `rkt run`, which the supervisor keeps) go to the apps with socket-activated ports:
 *   the supervisor moves them out of the way of its own fds 3 and 4 at once (to 5..8), and starts
 *   such an app's runtime with `--preserve-fds`, the fds back at 3.., and LISTEN_FDS, LISTEN_PID=1
 *   (the app is pid 1 of its pid namespace) and LISTEN_FDNAMES in its environment.
 * - The supervisor drops NOTIFY_SOCKET and LISTEN_* from its environment, so that the runtime
 *   (crun and runc act on both) and everything else it starts never see them.
 */
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import type { App, RuntimeApp } from '../../appc/index.js';
import { RKT_FAILURE, RocketError } from '../../errors.js';
import { POD_FILES } from '../../pod-layout.js';
import type { OciConfig } from './spec.js';

export const NOTIFY_ANNOTATION = 'appc.io/executor/supports-systemd-notify';
/** rkt's readiness marker (a symlink to `ready`), relative to the pod dir. */
export const SUPERVISOR_STATUS = path.join('stage1', 'rootfs', 'rkt', 'supervisor-status');
/** Where an app that supports sd_notify finds its socket. */
export const APP_NOTIFY_DIR = '/run/rkt-notify';
const NOTIFY_DIR = path.join('stage1', 'notify');
const RELAY_PROGRAM = path.join('stage1', 'notify-relay.pl');
/** Socket-activated fds wait at 5.. in the supervisor (dash redirects only fds 0-9; 9 keeps the lock). */
const FD_PARK = 5;
export const MAX_LISTEN_FDS = 4;

type HookedConfig = OciConfig & {
  hooks?: { poststart?: { path: string; args: string[] }[]; [k: string]: unknown };
};

/** Whether an app declares sd_notify support (image manifest annotation, or the pod's for the app). */
export function supportsNotify(ra: RuntimeApp, imageManifestFile: string | undefined): boolean {
  const yes = (v: unknown): boolean => v === true || (typeof v === 'string' && /^(1|t|true)$/i.test(v));
  for (const a of ra.annotations ?? []) if (a.name === NOTIFY_ANNOTATION) return yes(a.value);
  if (imageManifestFile === undefined || !existsSync(imageManifestFile)) return false;
  try {
    const m = JSON.parse(readFileSync(imageManifestFile, 'utf8')) as {
      annotations?: { name: string; value: unknown }[];
    };
    return yes(m.annotations?.find((a) => a.name === NOTIFY_ANNOTATION)?.value);
  } catch {
    return false;
  }
}

/** The fds of socket activation for each app (by app index). */
export interface ListenAssignment {
  /** How many fds `rkt run` got (parked at 5..). */
  count: number;
  apps: Map<number, { first: number; count: number; names?: string[] }>;
}

/**
 * Socket activation for `rkt run`: LISTEN_FDS counts the fds at 3.., meant for us if LISTEN_PID is
 * the pid that will be the supervisor (`rkt run` itself). One app with socket-activated ports takes
 * them all; with several, one fd per socket-activated port, in app and port order.
 */
export function listenAssignment(
  apps: readonly (App | undefined)[],
  supervisorPid: number | undefined,
  env: NodeJS.ProcessEnv = process.env,
  warn: (m: string) => void = () => {},
): ListenAssignment | undefined {
  const fds = env['LISTEN_FDS'];
  if (fds === undefined || fds === '') return undefined;
  const count = Number(fds);
  if (!Number.isSafeInteger(count) || count <= 0) return undefined;
  if (env['LISTEN_PID'] !== String(supervisorPid ?? '')) {
    warn(
      supervisorPid === undefined
        ? 'LISTEN_FDS is set, but socket activation needs rkt started through bin/rkt; ignoring it'
        : `LISTEN_PID=${env['LISTEN_PID']} is not the pid of rkt run (${supervisorPid}); ignoring LISTEN_FDS`,
    );
    return undefined;
  }
  const takers = apps.flatMap((app, i) => {
    const n = (app?.ports ?? []).filter((p) => p.socketActivated).length;
    return n > 0 ? [{ i, n }] : [];
  });
  if (takers.length === 0) {
    warn(`LISTEN_FDS=${count}, but no app has a socket-activated port; the sockets are not passed on`);
    return undefined;
  }
  if (count > MAX_LISTEN_FDS)
    throw new RocketError(
      `LISTEN_FDS=${count}: at most ${MAX_LISTEN_FDS} socket-activated file descriptors are supported`,
      RKT_FAILURE,
    );
  const want = takers.reduce((s, t) => s + t.n, 0);
  if (takers.length > 1 && want !== count)
    throw new RocketError(
      `LISTEN_FDS=${count}, but the apps have ${want} socket-activated ports: with several such apps, ` +
        'pass one socket per port (in app and port order)',
      RKT_FAILURE,
    );
  const allNames = env['LISTEN_FDNAMES']?.split(':');
  const out: ListenAssignment = { count, apps: new Map() };
  let first = 0;
  for (const t of takers) {
    const n = takers.length === 1 ? count : t.n;
    const names = allNames?.length === count ? allNames.slice(first, first + n) : undefined;
    out.apps.set(t.i, { first, count: n, ...(names !== undefined ? { names } : {}) });
    first += n;
  }
  return out;
}

/** The pid `rkt run` has (the launcher, which execs the plan), or undefined without the launcher. */
export function supervisorPidForPlan(): number | undefined {
  const plan = process.env['RKT_EXEC_PLAN'];
  return plan !== undefined && plan !== '' ? process.ppid : undefined;
}

export interface AppSystemd {
  name: string;
  notify: boolean;
  listen?: { first: number; count: number; names?: string[] };
}

/**
 * The wake FIFO of an app added to a sandbox (`rkt app add` makes it): the poststart hook and the
 * supervisor write a line to it when the app has started or ended, so that a waiting `rkt app start`
 * (src/stage1/oci/fast.sh) wakes at once instead of polling the status dir.
 */
export function appWakeFifo(R: string, app: string): string {
  return path.join(R, 'stage1', 'sup', 'app', `${app}.wait`);
}

/**
 * Adds to a main container's config: the poststart hook that marks the app started, the socket
 * activation environment, and the notify socket dir of an app that supports sd_notify. With a
 * busybox (src/host/busybox.ts), the hook is its sh, which reads only the start of its stdin.
 */
export function decorateMainConfig(config: OciConfig, R: string, a: AppSystemd, busybox?: string): OciConfig {
  const c = config as HookedConfig;
  const started = path.join(R, POD_FILES.appStatusDir, `${a.name}-started`);
  // The hook marks the app started with its process's pid (the state's `pid`: the supervisor's
  // stop looks at its signal handlers), wakes whoever waits on the app's wake FIFO (an added app's;
  // opened read-write, so it never blocks), and wakes the supervisor. It reads all of its stdin
  // (the container's state): a hook that exits before the runtime has written it makes the runtime
  // fail on EPIPE. The state holds the config's annotations, crun's precompiled seccomp filter
  // among them (about 10 kB), which dash's `read` takes a byte (a system call) at a time: a few ms.
  // busybox's sh reads the first 512 bytes (`read -n`; the pid comes after the id and the status:
  // the rest only if it does not), and `cat` the rest.
  const mark = 'echo "$p" >"$0"; [ ! -p "$2" ] || echo started 1<>"$2"; read p <"$1" && kill -USR1 "$p"';
  const hook = {
    path: busybox ?? '/bin/sh',
    args: [
      'sh',
      '-c',
      busybox !== undefined
        ? `read -r -n 512 s; case $s in *\\"pid\\":*) ;; *) s=$s$(cat) ;; esac; ` +
          `p=\${s#*\\"pid\\":}; p=\${p# }; p=\${p%%[!0-9]*}; ${mark}; exec cat >/dev/null`
        : 's=; while read -r l || [ -n "$l" ]; do s=$s$l; done; p=${s#*\\"pid\\":}; p=${p# }; p=${p%%[!0-9]*}; ' +
          mark,
      started,
      path.join(R, POD_FILES.pid),
      appWakeFifo(R, a.name),
    ],
  };
  c.hooks = { ...c.hooks, poststart: [...(c.hooks?.poststart ?? []), hook] };
  const env = c.process.env.filter((e) => !/^(LISTEN_FDS|LISTEN_PID|LISTEN_FDNAMES|NOTIFY_SOCKET)=/.test(e));
  if (a.listen !== undefined) {
    const pidNs = c.linux.namespaces.find((n) => n.type === 'pid');
    if (pidNs === undefined || pidNs.path !== undefined)
      throw new RocketError(
        `app ${JSON.stringify(a.name)}: socket activation needs the app in its own pid namespace`,
        RKT_FAILURE,
      );
    env.push(`LISTEN_FDS=${a.listen.count}`, 'LISTEN_PID=1');
    if (a.listen.names !== undefined) env.push(`LISTEN_FDNAMES=${a.listen.names.join(':')}`);
  }
  if (a.notify) {
    env.push(`NOTIFY_SOCKET=${APP_NOTIFY_DIR}/notify`);
    c.mounts.push({
      destination: APP_NOTIFY_DIR,
      type: 'bind',
      source: path.join(R, NOTIFY_DIR, a.name),
      options: ['rbind', 'rw', 'nosuid', 'nodev', 'noexec'],
    });
  }
  c.process.env = env;
  return c;
}

/**
 * The relay for apps that support sd_notify, in perl-base only (Socket): binds one datagram socket
 * per app (`<app>/notify`, relative to its cwd, so the path is short), forks (the parent returns
 * once the sockets exist, before any app starts), records `<app>-ready` in the status dir at the
 * app's READY=1 and wakes the supervisor; it ends when every app is ready or the supervisor is gone.
 */
const RELAY = `# rkt sd_notify relay (src/stage1/oci/systemd.ts). Args: STATUS_DIR SUPERVISOR_PID APP...
use strict;
use warnings;
use Socket;
my ($status, $sup, @apps) = @ARGV;
my (%app, %sock);
my $rin = '';
for my $a (@apps) {
  socket(my $s, AF_UNIX, SOCK_DGRAM, 0) or die "rkt: notify socket: $!\\n";
  unlink "$a/notify";
  bind($s, pack_sockaddr_un("$a/notify")) or die "rkt: notify socket of app $a: $!\\n";
  chmod 0666, "$a/notify";
  $app{fileno $s} = $a;
  $sock{fileno $s} = $s;
  vec($rin, fileno $s, 1) = 1;
}
$SIG{$_} = 'IGNORE' for qw(INT HUP TERM);
my $pid = fork;
die "rkt: notify relay: fork: $!\\n" unless defined $pid;
exit 0 if $pid;
while (%sock) {
  my $n = select(my $rout = $rin, undef, undef, 1);
  if ($n <= 0) {
    exit 0 unless kill 0, $sup;
    next;
  }
  for my $fd (keys %sock) {
    next unless vec($rout, $fd, 1);
    defined recv($sock{$fd}, my $msg, 4096, 0) or next;
    next unless $msg =~ /^READY=1$/m;
    if (open(my $f, '>', "$status/$app{$fd}-ready")) { close $f; }
    kill 'USR1', $sup;
    vec($rin, $fd, 1) = 0;
    close $sock{$fd};
    delete $sock{$fd};
  }
}
`;

/** The supervisor's systemd settings (src/stage1/oci/supervisor.sh). */
export interface SystemdSettings {
  /** Apps that announce READY=1 themselves (the relay binds their sockets). */
  relayApps: string[];
  /** How many socket-activated fds `rkt run` got (the supervisor parks them at 5..). */
  listenCount: number;
  /** Extra runtime arguments (before `--bundle`) and redirections for app i's main container. */
  runArgs(i: number): { args: string; redirects: string };
}

/** Stage0's part: writes the relay and the apps' notify dirs if needed, returns the settings. */
export function prepareSystemd(
  P: string,
  apps: readonly AppSystemd[],
  listen?: ListenAssignment,
): SystemdSettings {
  const notifyApps = apps.filter((a) => a.notify);
  if (notifyApps.length > 0) {
    for (const a of notifyApps) mkdirSync(path.join(P, NOTIFY_DIR, a.name), { recursive: true });
    writeFileSync(path.join(P, RELAY_PROGRAM), RELAY);
  }
  return {
    relayApps: notifyApps.map((a) => a.name),
    listenCount: listen?.count ?? 0,
    runArgs(i) {
      const l = listen?.apps.get(i);
      if (l === undefined) return { args: '', redirects: '' };
      // The lock to fd 9 first (crun's monitor keeps it), then the sockets to 3.. (from 5..).
      const r = ['9<&3', ...Array.from({ length: l.count }, (_, k) => `${3 + k}<&${FD_PARK + l.first + k}`)];
      return { args: `--preserve-fds ${l.count} `, redirects: r.join(' ') };
    },
  };
}
