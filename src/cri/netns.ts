/**
 * A sandbox's network namespace made by the CRI service itself, without processes: what
 * `unshare --net=FILE ip link set lo up` does (src/net), by libc calls through koffi on the
 * service's main thread. The thread enters a new network namespace (unshare(2) of a network
 * namespace is per thread, allowed in a threaded process), binds it onto FILE (nsfs, as unshare(1)
 * does), brings its loopback up (SIOCSIFFLAGS), and goes back to the namespace it was in (setns(2)
 * on an fd of it opened first). No await in between: nothing else runs on the thread meanwhile.
 */
import { closeSync, constants, openSync } from 'node:fs';
import { requireNative } from '../native.js';
import { RocketError } from '../errors.js';

const CLONE_NEWNET = 0x40000000;
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

/**
 * Makes a new network namespace bound at `file` (an existing empty file) with its loopback up.
 * Throws a RocketError naming the call that failed; the caller unmounts and removes the file. If the
 * thread cannot go back to its own namespace, the process ends (it would serve from the pod's).
 */
export function createNetnsInProcess(file: string): void {
  const c = load();
  const own = openSync('/proc/thread-self/ns/net', constants.O_RDONLY);
  const failed = (call: string): never => {
    throw new RocketError(`cannot create the pod network namespace: ${call}: errno ${c.errno()}`);
  };
  try {
    if (c.unshare(CLONE_NEWNET) !== 0) failed('unshare');
    try {
      if (c.mount('/proc/thread-self/ns/net', file, null, MS_BIND, null) !== 0) failed(`mount ${file}`);
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
      if (c.setns(own, CLONE_NEWNET) !== 0) {
        process.stderr.write(`rkt: cannot return to the service's network namespace (errno ${c.errno()})\n`);
        process.exit(254);
      }
    }
  } finally {
    closeSync(own);
  }
}
