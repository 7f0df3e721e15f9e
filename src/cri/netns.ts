/**
 * A CNI sandbox's network, IPC and UTS namespaces made by the CRI service itself, without
 * processes: what `unshare --net=FILE ip link set lo up` (src/net) and the supervisor's `unshare
 * --ipc=F --uts=F sh -c` (the hostname) do, by libc calls through koffi on the service's main
 * thread. The thread enters new namespaces (unshare(2) of these is per thread, allowed in a
 * threaded process), binds each onto its file (nsfs, as unshare(1) does), sets the hostname, brings
 * the loopback up (SIOCSIFFLAGS), and goes back to the namespaces it was in (setns(2) on fds of
 * them opened first). No await in between: nothing else runs on the thread meanwhile.
 */
import { closeSync, constants, openSync, writeFileSync } from 'node:fs';
import { requireNative } from '../native.js';
import { RocketError } from '../errors.js';

const CLONE_NEWNET = 0x40000000;
const CLONE_NEWIPC = 0x08000000;
const CLONE_NEWUTS = 0x04000000;
const MS_BIND = 4096;
const AF_INET = 2;
const SOCK_DGRAM = 2;
const SOCK_CLOEXEC = 0o2000000;
const SIOCGIFFLAGS = 0x8913;
const SIOCSIFFLAGS = 0x8914;
const IFF_UP = 1;
/** struct ifreq: the name (IFNAMSIZ 16), then a union whose ifr_flags is a short. */
const IFREQ_SIZE = 40;
const IFR_FLAGS = 16;

interface NetnsLibc {
  unshare(flags: number): number;
  setns(fd: number, nstype: number): number;
  sethostname(name: string, len: number): number;
  mount(source: string, target: string, type: string | null, flags: number, data: null): number;
  socket(domain: number, type: number, protocol: number): number;
  ioctl(fd: number, request: number, argType: string, arg: Buffer): number;
  close(fd: number): number;
  errno(): number;
}

let libc: NetnsLibc | undefined;

function load(): NetnsLibc {
  if (libc !== undefined) return libc;
  const koffi = requireNative<typeof import('koffi')>('koffi');
  const lib = koffi.load('libc.so.6');
  libc = {
    unshare: lib.func('int unshare(int flags)') as NetnsLibc['unshare'],
    setns: lib.func('int setns(int fd, int nstype)') as NetnsLibc['setns'],
    sethostname: lib.func('int sethostname(const char *name, size_t len)') as NetnsLibc['sethostname'],
    mount: lib.func(
      'int mount(const char *source, const char *target, const char *type, unsigned long flags, const void *data)',
    ) as NetnsLibc['mount'],
    socket: lib.func('int socket(int domain, int type, int protocol)') as NetnsLibc['socket'],
    ioctl: lib.func('int ioctl(int fd, unsigned long request, ...)') as NetnsLibc['ioctl'],
    close: lib.func('int close(int fd)') as NetnsLibc['close'],
    errno: () => koffi.errno(),
  };
  return libc;
}

export interface SandboxNamespaceFiles {
  network: string;
  ipc: string;
  uts: string;
}

const KINDS = [
  { key: 'network', proc: 'net', flag: CLONE_NEWNET },
  { key: 'ipc', proc: 'ipc', flag: CLONE_NEWIPC },
  { key: 'uts', proc: 'uts', flag: CLONE_NEWUTS },
] as const;

/**
 * Makes new network, IPC and UTS namespaces bound at the files (the network's exists, empty; the
 * others are made), the hostname set and the loopback up. Throws a RocketError naming the call that
 * failed; the caller unmounts and removes the files. If the thread cannot go back to one of its own
 * namespaces, the process ends (it would serve from the pod's).
 */
export function createNamespacesInProcess(files: SandboxNamespaceFiles, hostname: string): void {
  const c = load();
  writeFileSync(files.ipc, '');
  writeFileSync(files.uts, '');
  const own = KINDS.map((k) => openSync(`/proc/thread-self/ns/${k.proc}`, constants.O_RDONLY));
  const failed = (call: string): never => {
    throw new RocketError(`cannot create the pod namespaces: ${call}: errno ${c.errno()}`);
  };
  try {
    if (c.unshare(CLONE_NEWNET | CLONE_NEWIPC | CLONE_NEWUTS) !== 0) failed('unshare');
    try {
      for (const k of KINDS)
        if (c.mount(`/proc/thread-self/ns/${k.proc}`, files[k.key], null, MS_BIND, null) !== 0)
          failed(`mount ${files[k.key]}`);
      const name = Buffer.from(hostname);
      if (c.sethostname(hostname, name.length) !== 0) failed('sethostname');
      const s = c.socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
      if (s < 0) failed('socket');
      try {
        const req = Buffer.alloc(IFREQ_SIZE);
        req.write('lo\0', 0, 'latin1');
        if (c.ioctl(s, SIOCGIFFLAGS, 'void *', req) !== 0) failed('SIOCGIFFLAGS lo');
        req.writeInt16LE(req.readInt16LE(IFR_FLAGS) | IFF_UP, IFR_FLAGS);
        if (c.ioctl(s, SIOCSIFFLAGS, 'void *', req) !== 0) failed('SIOCSIFFLAGS lo');
      } finally {
        c.close(s);
      }
    } finally {
      for (const [i, k] of KINDS.entries()) {
        if (c.setns(own[i] as number, k.flag) !== 0) {
          process.stderr.write(
            `rkt: cannot return to the service's ${k.proc} namespace (errno ${c.errno()})\n`,
          );
          process.exit(254);
        }
      }
    }
  } finally {
    for (const fd of own) closeSync(fd);
  }
}
