/**
 * appc seccomp isolators → an OCI `linux.seccomp` section, with rkt's semantics
 * (rkt stage1/init/common/seccomp.go):
 * - no seccomp isolator: rkt's default filter, the `@rkt/default-whitelist` allow-list;
 * - `seccomp-retain-set`: an allow-list of the set; `@appc.io/all` opts out of filtering;
 * - `seccomp-remove-set`: a block-list of the set; `@appc.io/empty` means rkt's default allow-list;
 * - `errno`: blocked calls fail with that errno, otherwise they kill the process (SIGSYS).
 *
 * Two additions to rkt, both documented in the engine's README section: an allow-list always
 * contains the few calls needed to exec the app and exit ({@link MINIMAL_WHITELIST}, as systemd's
 * SystemCallFilter= does implicitly), and `@rkt/default-whitelist` is extended with
 * {@link MODERN_ADDITIONS}, system calls added to Linux after rkt froze its list that current libcs
 * call unconditionally (glibc ≥ 2.35 registers `rseq` in every process, for instance) and that
 * docker's current profile allows; without them every modern binary would die of SIGSYS.
 */
import { RocketError } from '../../errors.js';
import {
  DOCKER_DEFAULT_BLACKLIST,
  DOCKER_DEFAULT_WHITELIST,
  RKT_ARM_WHITELIST_ADDITIONS,
} from './seccomp-groups.js';

export interface OciSeccompSyscall {
  names: string[];
  action: OciSeccompAction;
  errnoRet?: number;
  /** Argument conditions (a CRI localhost profile's; rkt's isolators have none). */
  args?: OciSeccompArg[];
}

export interface OciSeccompArg {
  index: number;
  value: number;
  valueTwo?: number;
  op: string;
}

/** The actions rkt's isolators use; a CRI localhost profile may name the others. */
export type OciSeccompAction =
  | 'SCMP_ACT_ALLOW'
  | 'SCMP_ACT_ERRNO'
  | 'SCMP_ACT_KILL_PROCESS'
  | 'SCMP_ACT_KILL'
  | 'SCMP_ACT_KILL_THREAD'
  | 'SCMP_ACT_TRAP'
  | 'SCMP_ACT_TRACE'
  | 'SCMP_ACT_LOG';

export interface OciSeccomp {
  defaultAction: OciSeccompAction;
  defaultErrnoRet?: number;
  architectures?: string[];
  syscalls: OciSeccompSyscall[];
}

/** System calls added after rkt's 2016 list, allowed by docker's current default profile. */
export const MODERN_ADDITIONS: readonly string[] = [
  'rseq',
  'clone3',
  'statx',
  'openat2',
  'faccessat2',
  'close_range',
  'pidfd_open',
  'pidfd_send_signal',
  'pidfd_getfd',
  'epoll_pwait2',
  'membarrier',
  'preadv2',
  'pwritev2',
  'pkey_alloc',
  'pkey_free',
  'pkey_mprotect',
  'futex_waitv',
  'fchmodat2',
  'map_shadow_stack',
  'process_mrelease',
  'clock_gettime64',
  'clock_nanosleep_time64',
  'futex_time64',
  'ppoll_time64',
  'pselect6_time64',
  'utimensat_time64',
  'recvmmsg_time64',
  'semtimedop_time64',
  'rt_sigtimedwait_time64',
  'timer_gettime64',
  'timer_settime64',
  'timerfd_gettime64',
  'timerfd_settime64',
  'mq_timedreceive_time64',
  'mq_timedsend_time64',
  'io_pgetevents_time64',
  'sched_rr_get_interval_time64',
];

/** What an allow-list always contains, so the app can be exec'd and can exit. */
export const MINIMAL_WHITELIST: readonly string[] = [
  'execve',
  'execveat',
  'exit',
  'exit_group',
  'rt_sigreturn',
  'sigreturn',
];

/** `@rkt/default-whitelist` as this engine applies it (see the module comment). */
export function rktDefaultWhitelist(arch: string = process.arch): string[] {
  const arm = arch === 'arm' || arch === 'arm64';
  return [...DOCKER_DEFAULT_WHITELIST, ...(arm ? RKT_ARM_WHITELIST_ADDITIONS : []), ...MODERN_ADDITIONS];
}

/**
 * Linux errno numbers (asm-generic, used by x86, arm and most architectures) for every POSIX.1-2001
 * and C99 errno name plus the Linux ones.
 */
export const ERRNO: Readonly<Record<string, number>> = {
  EPERM: 1,
  ENOENT: 2,
  ESRCH: 3,
  EINTR: 4,
  EIO: 5,
  ENXIO: 6,
  E2BIG: 7,
  ENOEXEC: 8,
  EBADF: 9,
  ECHILD: 10,
  EAGAIN: 11,
  EWOULDBLOCK: 11,
  ENOMEM: 12,
  EACCES: 13,
  EFAULT: 14,
  ENOTBLK: 15,
  EBUSY: 16,
  EEXIST: 17,
  EXDEV: 18,
  ENODEV: 19,
  ENOTDIR: 20,
  EISDIR: 21,
  EINVAL: 22,
  ENFILE: 23,
  EMFILE: 24,
  ENOTTY: 25,
  ETXTBSY: 26,
  EFBIG: 27,
  ENOSPC: 28,
  ESPIPE: 29,
  EROFS: 30,
  EMLINK: 31,
  EPIPE: 32,
  EDOM: 33,
  ERANGE: 34,
  EDEADLK: 35,
  EDEADLOCK: 35,
  ENAMETOOLONG: 36,
  ENOLCK: 37,
  ENOSYS: 38,
  ENOTEMPTY: 39,
  ELOOP: 40,
  ENOMSG: 42,
  EIDRM: 43,
  ECHRNG: 44,
  EL2NSYNC: 45,
  EL3HLT: 46,
  EL3RST: 47,
  ELNRNG: 48,
  EUNATCH: 49,
  ENOCSI: 50,
  EL2HLT: 51,
  EBADE: 52,
  EBADR: 53,
  EXFULL: 54,
  ENOANO: 55,
  EBADRQC: 56,
  EBADSLT: 57,
  EBFONT: 59,
  ENOSTR: 60,
  ENODATA: 61,
  ETIME: 62,
  ENOSR: 63,
  ENONET: 64,
  ENOPKG: 65,
  EREMOTE: 66,
  ENOLINK: 67,
  EADV: 68,
  ESRMNT: 69,
  ECOMM: 70,
  EPROTO: 71,
  EMULTIHOP: 72,
  EDOTDOT: 73,
  EBADMSG: 74,
  EOVERFLOW: 75,
  ENOTUNIQ: 76,
  EBADFD: 77,
  EREMCHG: 78,
  ELIBACC: 79,
  ELIBBAD: 80,
  ELIBSCN: 81,
  ELIBMAX: 82,
  ELIBEXEC: 83,
  EILSEQ: 84,
  ERESTART: 85,
  ESTRPIPE: 86,
  EUSERS: 87,
  ENOTSOCK: 88,
  EDESTADDRREQ: 89,
  EMSGSIZE: 90,
  EPROTOTYPE: 91,
  ENOPROTOOPT: 92,
  EPROTONOSUPPORT: 93,
  ESOCKTNOSUPPORT: 94,
  EOPNOTSUPP: 95,
  ENOTSUP: 95,
  EPFNOSUPPORT: 96,
  EAFNOSUPPORT: 97,
  EADDRINUSE: 98,
  EADDRNOTAVAIL: 99,
  ENETDOWN: 100,
  ENETUNREACH: 101,
  ENETRESET: 102,
  ECONNABORTED: 103,
  ECONNRESET: 104,
  ENOBUFS: 105,
  EISCONN: 106,
  ENOTCONN: 107,
  ESHUTDOWN: 108,
  ETOOMANYREFS: 109,
  ETIMEDOUT: 110,
  ECONNREFUSED: 111,
  EHOSTDOWN: 112,
  EHOSTUNREACH: 113,
  EALREADY: 114,
  EINPROGRESS: 115,
  ESTALE: 116,
  EUCLEAN: 117,
  ENOTNAM: 118,
  ENAVAIL: 119,
  EISNAM: 120,
  EREMOTEIO: 121,
  EDQUOT: 122,
  ENOMEDIUM: 123,
  EMEDIUMTYPE: 124,
  ECANCELED: 125,
  ENOKEY: 126,
  EKEYEXPIRED: 127,
  EKEYREVOKED: 128,
  EKEYREJECTED: 129,
  EOWNERDEAD: 130,
  ENOTRECOVERABLE: 131,
  ERFKILL: 132,
  EHWPOISON: 133,
};

/** The seccomp architectures a filter covers: the native one and its 32-bit compat ABIs. */
export function seccompArchitectures(arch: string = process.arch): string[] | undefined {
  switch (arch) {
    case 'x64':
      return ['SCMP_ARCH_X86_64', 'SCMP_ARCH_X86', 'SCMP_ARCH_X32'];
    case 'arm64':
      return ['SCMP_ARCH_AARCH64', 'SCMP_ARCH_ARM'];
    case 'ia32':
      return ['SCMP_ARCH_X86'];
    case 'arm':
      return ['SCMP_ARCH_ARM'];
    default:
      return undefined;
  }
}

/** One seccomp isolator as decoded by src/appc. */
export interface SeccompIsolator {
  mode: 'retain' | 'remove';
  set: readonly string[];
  errno?: string;
}

/** Expands `@scope/name` groups; `all`/`empty` are reported separately as they change the mode. */
function expandSet(
  set: readonly string[],
  arch: string,
  where: string,
): { syscalls: string[]; flag?: 'all' | 'empty' } {
  const out: string[] = [];
  for (const item of set) {
    if (!item.startsWith('@')) {
      out.push(item);
      continue;
    }
    switch (item) {
      case '@appc.io/all':
        return { syscalls: [], flag: 'all' };
      case '@appc.io/empty':
        return { syscalls: [], flag: 'empty' };
      case '@rkt/default-whitelist':
        out.push(...rktDefaultWhitelist(arch));
        break;
      case '@docker/default-whitelist':
        out.push(...DOCKER_DEFAULT_WHITELIST);
        break;
      case '@rkt/default-blacklist':
      case '@docker/default-blacklist':
        out.push(...DOCKER_DEFAULT_BLACKLIST);
        break;
      default:
        // rkt silently skipped unknown groups; a filter that differs from what was asked is worse
        // than a refusal.
        throw new RocketError(`${where}: unknown seccomp group ${JSON.stringify(item)}`);
    }
  }
  return { syscalls: out };
}

function errnoNumber(name: string, where: string): number {
  const n = Object.hasOwn(ERRNO, name) ? ERRNO[name] : undefined;
  if (n === undefined) throw new RocketError(`${where}: unknown errno ${JSON.stringify(name)}`);
  return n;
}

function unique(names: string[]): string[] {
  return [...new Set(names)].sort();
}

/**
 * The OCI seccomp section for an app's seccomp isolator (or rkt's default filter when `isolator`
 * is undefined); undefined when filtering is opted out (`retain @appc.io/all`).
 * `where` names the app for error messages.
 */
export function ociSeccomp(
  isolator: SeccompIsolator | undefined,
  where: string,
  arch: string = process.arch,
): OciSeccomp | undefined {
  let mode: 'allow-list' | 'block-list' = 'allow-list';
  let syscalls: string[];
  if (isolator === undefined) {
    syscalls = rktDefaultWhitelist(arch);
  } else {
    const expanded = expandSet(isolator.set, arch, where);
    if (isolator.mode === 'retain') {
      if (expanded.flag === 'all') return undefined;
      // `retain @appc.io/empty` is "allow nothing" beyond the minimum needed to run.
      syscalls = expanded.syscalls;
    } else if (expanded.flag === 'empty') {
      syscalls = rktDefaultWhitelist(arch);
    } else if (expanded.flag === 'all') {
      // `remove @appc.io/all`: block everything but what running at all needs.
      syscalls = [];
    } else {
      mode = 'block-list';
      syscalls = expanded.syscalls;
    }
  }
  const errno = isolator?.errno;
  const blocked: { action: OciSeccompAction; errnoRet?: number } =
    errno === undefined
      ? { action: 'SCMP_ACT_KILL_PROCESS' }
      : { action: 'SCMP_ACT_ERRNO', errnoRet: errnoNumber(errno, where) };
  const architectures = seccompArchitectures(arch);
  const base = architectures === undefined ? {} : { architectures };
  if (mode === 'allow-list') {
    const names = unique([...syscalls, ...MINIMAL_WHITELIST]);
    const out: OciSeccomp = {
      defaultAction: blocked.action,
      ...base,
      syscalls: [{ names, action: 'SCMP_ACT_ALLOW' }],
    };
    if (blocked.errnoRet !== undefined) out.defaultErrnoRet = blocked.errnoRet;
    return out;
  }
  const names = unique(syscalls);
  const rule: OciSeccompSyscall = { names, action: blocked.action };
  if (blocked.errnoRet !== undefined) rule.errnoRet = blocked.errnoRet;
  return { defaultAction: 'SCMP_ACT_ALLOW', ...base, syscalls: names.length === 0 ? [] : [rule] };
}
