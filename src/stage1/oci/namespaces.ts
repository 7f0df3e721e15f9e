/**
 * The pod's persistent network, IPC and UTS namespaces: nsfs bind mounts on files in the pod
 * directory (as CRI-O's pinns does), made once by util-linux `unshare` and joined by path from every
 * app's config.json. Functions return argv arrays; the *Sync helpers run them for stage0 and gc.
 */
import { existsSync, rmSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { RocketError } from '../../errors.js';
import { failureText, host } from '../../host/index.js';

export interface PodNamespaceFiles {
  /** Absent with the host's network (`--net=host`). */
  network?: string;
  ipc: string;
  uts: string;
}

/** The namespace files under a pod's directory. */
export function podNamespaceFiles(dir: string, opts: { hostNetwork?: boolean } = {}): PodNamespaceFiles {
  const files: PodNamespaceFiles = { ipc: path.join(dir, 'ns-ipc'), uts: path.join(dir, 'ns-uts') };
  if (opts.hostNetwork !== true) files.network = path.join(dir, 'ns-net');
  return files;
}

function list(files: PodNamespaceFiles): string[] {
  return [files.network, files.ipc, files.uts].filter((f): f is string => f !== undefined);
}

/** `unshare --net=F --ipc=F --uts=F sh -c INNER`: inside, loopback up (new network only) and the hostname ($0). */
function unshareArgv(files: PodNamespaceFiles, sh: string[] = ['sh']): string[] {
  const inner = [
    'set -e',
    ...(files.network !== undefined ? ['ip link set lo up'] : []),
    'printf %s "$0" > /proc/sys/kernel/hostname',
  ].join('; ');
  return [
    'unshare',
    ...(files.network !== undefined ? ['--net=' + files.network] : []),
    '--ipc=' + files.ipc,
    '--uts=' + files.uts,
    ...sh,
    '-c',
    inner,
  ];
}

/**
 * One argv that creates the files, makes the namespaces with `unshare --net=F --ipc=F --uts=F`,
 * and inside them brings loopback up (new network only) and sets the hostname.
 * Inside the sh: $1 is the hostname, the rest the files to create.
 */
export function createNamespacesArgv(files: PodNamespaceFiles, hostname: string): string[] {
  // The outer sh creates the mount-point files, then execs unshare with the hostname as $0 of the
  // inner sh.
  const outer = `set -e; h=$1; shift; for f; do : > "$f"; done; exec ${unshareArgv(files).map(quote).join(' ')} "$h"`;
  return ['sh', '-c', outer, 'rocket-ns', hostname, ...list(files)];
}

/**
 * The same as one sh command for the supervisor to eval, one exec less: the files are made by the
 * supervisor's own shell (`true >F`: no process, and `true` is not a special builtin, so a failed
 * redirection does not end the shell), then `unshare` runs the inner sh. With no hostname (the
 * pod's apps' configs carry it, and the runtime sets it in the joined UTS namespace), no inner sh
 * either: `unshare` execs `ip link set lo up` (a new network) or `true`. With a busybox
 * (src/host/busybox.ts), its unshare and its ip or sh: one static binary, about 1 ms less here.
 */
export function createNamespacesCommand(
  files: PodNamespaceFiles,
  hostname: string | undefined,
  busybox?: string,
): string {
  const bb = busybox !== undefined ? [busybox] : [];
  const argv =
    hostname !== undefined
      ? [...bb, ...unshareArgv(files, [...bb, 'sh']), hostname]
      : [
          ...bb,
          'unshare',
          ...(files.network !== undefined ? ['--net=' + files.network] : []),
          '--ipc=' + files.ipc,
          '--uts=' + files.uts,
          ...(files.network !== undefined ? [...bb, 'ip', 'link', 'set', 'lo', 'up'] : ['true']),
        ];
  return [...list(files).map((f) => `true >${quote(f)}`), argv.map(quote).join(' ')].join(' && ');
}

/** One argv that unmounts and removes the files; missing or unmounted files are fine. */
export function removeNamespacesArgv(files: PodNamespaceFiles | string[]): string[] {
  const paths = Array.isArray(files) ? files : list(files);
  return ['sh', '-c', 'for f; do umount "$f" 2>/dev/null; rm -f "$f"; done; true', 'rocket-ns-rm', ...paths];
}

function quote(s: string): string {
  return /^[A-Za-z0-9_@%+=:,./-]+$/.test(s) ? s : `'${s.replace(/'/g, `'\\''`)}'`;
}

/** What createNamespacesArgv's shell does, through the unshare adapter (stage0 and tests). */
export function createPodNamespacesSync(files: PodNamespaceFiles, hostname: string): void {
  for (const f of list(files)) writeFileSync(f, '');
  const inner = [
    'set -e',
    ...(files.network !== undefined ? ['ip link set lo up'] : []),
    'printf %s "$0" > /proc/sys/kernel/hostname',
  ].join('; ');
  const r = host().unshare.run([
    ...(files.network !== undefined ? ['--net=' + files.network] : []),
    '--ipc=' + files.ipc,
    '--uts=' + files.uts,
    'sh',
    '-c',
    inner,
    hostname,
  ]);
  if (r.status !== 0) {
    removePodNamespacesSync(files);
    throw new RocketError(`cannot create the pod namespaces: ${failureText(r, 'unshare')}`);
  }
}

/**
 * Unmounts and removes the files that exist; with none left (an exited pod's usual state) no
 * process is started.
 */
export function removePodNamespacesSync(
  files: PodNamespaceFiles | string[],
  exists: (p: string) => boolean = existsSync,
): void {
  const present = (Array.isArray(files) ? files : list(files)).filter((f) => exists(f));
  // An unmount failure is a file that was not mounted: it is removed all the same.
  for (const f of present) {
    host().mount.umount(f);
    rmSync(f, { force: true });
  }
}
