/**
 * A CRI container's security context as containerd's CRI plugin reads it, where that differs from
 * what an appc app says:
 * - The user: `run_as_user` is a uid whose primary group is its /etc/passwd entry's (0 when the
 *   image has none), `run_as_username` must be in the image's /etc/passwd, `run_as_group` needs
 *   one of them. The process's groups are the image's /etc/group memberships of the user, then the
 *   requested `supplemental_groups`.
 * - Seccomp: no profile (and the deprecated path's "" or `unconfined`) is no filter at all;
 *   `RuntimeDefault` is the default allow-list, extended by the system calls that the granted
 *   capabilities are for (sethostname with CAP_SYS_ADMIN, as docker's default profile has it), with
 *   EPERM for the rest; `Localhost` is a profile file in docker's format (its `includes` and
 *   `excludes` matched against the container's capabilities and this architecture).
 * - no_new_privs is what was asked: a filter does not force it (the runtimes load the filter while
 *   they still hold CAP_SYS_ADMIN).
 */
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { RocketError, errorMessage } from '../errors.js';
import {
  ERRNO,
  ociSeccomp,
  type OciSeccomp,
  type OciSeccompAction,
  type OciSeccompArg,
  type OciSeccompSyscall,
} from '../stage1/oci/seccomp.js';
import { resolveInRoot } from '../stage1/oci/user.js';

// ---- user and groups ----

export interface CriUserRequest {
  runAsUser?: number;
  runAsUsername?: string;
  runAsGroup?: number;
  supplementalGroups: readonly number[];
  /** The image's app user, group and supplementary gids (appc: names or numbers). */
  imageUser: string;
  imageGroup: string;
  imageGids: readonly number[];
}

/** The app's user, group (both as appc values) and supplementary gids. */
export interface CriUser {
  user: string;
  group: string;
  supplementaryGIDs: number[];
}

/** The rows of a colon-separated file of the image (none when it has no such file). */
function rows(rootfs: string, file: string): string[][] {
  let text: string;
  try {
    text = readFileSync(resolveInRoot(rootfs, file), 'utf8');
  } catch {
    return [];
  }
  return text
    .split('\n')
    .filter((l) => l.trim() !== '' && !l.startsWith('#'))
    .map((l) => l.split(':'));
}

const isId = (s: string | undefined): s is string => s !== undefined && /^[0-9]{1,10}$/.test(s);

/**
 * The user a CRI container runs as, resolved against the image's rootfs; throws a RocketError
 * naming the field for a request containerd refuses.
 */
export function criUser(rootfs: string, req: CriUserRequest): CriUser {
  const passwd = rows(rootfs, '/etc/passwd');
  let user: string;
  let group: string;
  let name: string | undefined;
  if (req.runAsUser !== undefined) {
    const row = passwd.find((r) => isId(r[2]) && Number(r[2]) === req.runAsUser);
    user = String(req.runAsUser);
    group = row !== undefined && isId(row[3]) ? row[3] : '0';
    name = row?.[0];
  } else if (req.runAsUsername !== undefined && req.runAsUsername !== '') {
    const wanted = req.runAsUsername;
    const row = passwd.find((r) => r[0] === wanted);
    if (row === undefined || !isId(row[2]) || !isId(row[3]))
      throw new RocketError(
        `run_as_username ${JSON.stringify(wanted)}: no such user in the image's /etc/passwd`,
      );
    [user, group, name] = [row[2], row[3], wanted];
  } else {
    if (req.runAsGroup !== undefined)
      throw new RocketError('run_as_group: set without run_as_user or run_as_username');
    user = req.imageUser;
    group = req.imageGroup;
    name = isId(user) ? passwd.find((r) => r[2] === user)?.[0] : user;
  }
  if (req.runAsGroup !== undefined) group = String(req.runAsGroup);
  const member =
    name === undefined
      ? []
      : rows(rootfs, '/etc/group')
          .filter((r) => isId(r[2]) && (r[3] ?? '').split(',').includes(name))
          .map((r) => Number(r[2]));
  const supplementaryGIDs = [...new Set([...req.imageGids, ...member, ...req.supplementalGroups])];
  return { user, group, supplementaryGIDs };
}

// ---- seccomp ----

export interface SecurityProfileMsg {
  profile_type?: string;
  localhost_ref?: string;
}

export type SeccompChoice =
  { kind: 'unconfined' } | { kind: 'runtime-default' } | { kind: 'localhost'; file: string };

/** The profile a container asks for: `seccomp`, else the deprecated `seccomp_profile_path`. */
export function seccompChoice(
  profile: SecurityProfileMsg | null | undefined,
  legacyPath: string | undefined,
): SeccompChoice {
  const localhost = (file: string, field: string): SeccompChoice => {
    if (!path.isAbsolute(file))
      throw new RocketError(`${field}: ${JSON.stringify(file)} is not an absolute path`);
    return { kind: 'localhost', file };
  };
  if (profile !== null && profile !== undefined) {
    switch (profile.profile_type ?? 'RuntimeDefault') {
      case 'RuntimeDefault':
        return { kind: 'runtime-default' };
      case 'Unconfined':
        return { kind: 'unconfined' };
      case 'Localhost':
        return localhost(profile.localhost_ref ?? '', 'seccomp.localhost_ref');
      default:
        throw new RocketError(`seccomp.profile_type: unknown type ${JSON.stringify(profile.profile_type)}`);
    }
  }
  const p = legacyPath ?? '';
  if (p === '' || p === 'unconfined') return { kind: 'unconfined' };
  if (p === 'runtime/default' || p === 'docker/default') return { kind: 'runtime-default' };
  if (p.startsWith('localhost/')) return localhost(p.slice('localhost/'.length), 'seccomp_profile_path');
  throw new RocketError(`seccomp_profile_path: unknown profile ${JSON.stringify(p)}`);
}

/**
 * System calls that docker's default profile allows only with a capability, by capability (those
 * the default allow-list does not have already).
 */
export const CAPABILITY_SYSCALLS: Readonly<Record<string, readonly string[]>> = {
  CAP_DAC_READ_SEARCH: ['open_by_handle_at'],
  CAP_SYS_ADMIN: [
    'bpf',
    'fanotify_init',
    'fsconfig',
    'fsmount',
    'fsopen',
    'fspick',
    'lookup_dcookie',
    'mount',
    'mount_setattr',
    'move_mount',
    'name_to_handle_at',
    'open_tree',
    'perf_event_open',
    'quotactl',
    'quotactl_fd',
    'setdomainname',
    'sethostname',
    'setns',
    'umount',
    'umount2',
    'unshare',
  ],
  CAP_SYS_BOOT: ['reboot'],
  CAP_SYS_MODULE: ['delete_module', 'init_module', 'finit_module'],
  CAP_SYS_PACCT: ['acct'],
  CAP_SYS_PTRACE: [
    'kcmp',
    'pidfd_getfd',
    'process_madvise',
    'process_vm_readv',
    'process_vm_writev',
    'ptrace',
  ],
  CAP_SYS_RAWIO: ['iopl', 'ioperm'],
  CAP_SYS_TIME: [
    'settimeofday',
    'stime',
    'clock_settime',
    'clock_settime64',
    'adjtimex',
    'clock_adjtime',
    'clock_adjtime64',
  ],
  CAP_SYS_TTY_CONFIG: ['vhangup'],
  CAP_SYS_NICE: ['get_mempolicy', 'mbind', 'set_mempolicy'],
  CAP_BPF: ['bpf'],
  CAP_PERFMON: ['perf_event_open'],
};

/** The RuntimeDefault filter for a container holding `caps`: EPERM for what it does not allow. */
export function runtimeDefaultSeccomp(caps: readonly string[], arch: string = process.arch): OciSeccomp {
  const extra = caps.flatMap((c) => CAPABILITY_SYSCALLS[c] ?? []);
  const filter = ociSeccomp(
    { mode: 'retain', set: ['@rkt/default-whitelist', ...extra], errno: 'EPERM' },
    'seccomp RuntimeDefault',
    arch,
  );
  if (filter === undefined) throw new Error('the default allow-list opted out of filtering');
  return filter;
}

const ACTIONS: readonly OciSeccompAction[] = [
  'SCMP_ACT_ALLOW',
  'SCMP_ACT_ERRNO',
  'SCMP_ACT_KILL_PROCESS',
  'SCMP_ACT_KILL',
  'SCMP_ACT_KILL_THREAD',
  'SCMP_ACT_TRAP',
  'SCMP_ACT_TRACE',
  'SCMP_ACT_LOG',
];

const OPS = [
  'SCMP_CMP_NE',
  'SCMP_CMP_LT',
  'SCMP_CMP_LE',
  'SCMP_CMP_EQ',
  'SCMP_CMP_GE',
  'SCMP_CMP_GT',
  'SCMP_CMP_MASKED_EQ',
];

/** Docker's names of the architectures, by Node's. */
const DOCKER_ARCH: Readonly<Record<string, string>> = {
  x64: 'amd64',
  ia32: '386',
  arm64: 'arm64',
  arm: 'arm',
  ppc64: 'ppc64le',
  s390x: 's390x',
  riscv64: 'riscv64',
};
const SCMP_ARCH: Readonly<Record<string, string>> = {
  x64: 'SCMP_ARCH_X86_64',
  ia32: 'SCMP_ARCH_X86',
  arm64: 'SCMP_ARCH_AARCH64',
  arm: 'SCMP_ARCH_ARM',
  ppc64: 'SCMP_ARCH_PPC64LE',
  s390x: 'SCMP_ARCH_S390X',
  riscv64: 'SCMP_ARCH_RISCV64',
};

type Json = Record<string, unknown>;
const isObject = (v: unknown): v is Json => typeof v === 'object' && v !== null && !Array.isArray(v);

function strings(v: unknown, where: string): string[] {
  if (v === undefined || v === null) return [];
  if (!Array.isArray(v) || !v.every((s) => typeof s === 'string'))
    throw new RocketError(`${where}: must be a list of strings`);
  return v;
}

function action(v: unknown, where: string): OciSeccompAction {
  if (typeof v !== 'string' || !(ACTIONS as readonly string[]).includes(v))
    throw new RocketError(`${where}: unknown action ${JSON.stringify(v)}`);
  return v as OciSeccompAction;
}

function errnoRet(v: unknown, where: string): number | undefined {
  if (v === undefined || v === null) return undefined;
  if (typeof v === 'number' && Number.isInteger(v) && v >= 0) return v;
  if (typeof v === 'string' && Object.hasOwn(ERRNO, v)) return ERRNO[v];
  throw new RocketError(`${where}: not an errno`);
}

function wholeNumber(v: unknown, where: string): number {
  if (typeof v !== 'number' || !Number.isSafeInteger(v) || v < 0)
    throw new RocketError(`${where}: must be a whole number`);
  return v;
}

/** Whether a rule's `includes` or `excludes` (caps, arches) selects this container. */
function matches(sel: unknown, caps: readonly string[], arch: string, where: string, all: boolean): boolean {
  if (sel === undefined || sel === null) return all;
  if (!isObject(sel)) throw new RocketError(`${where}: must be an object`);
  const want = strings(sel['caps'], `${where}.caps`).map((c) => (c.startsWith('CAP_') ? c : `CAP_${c}`));
  const arches = strings(sel['arches'], `${where}.arches`);
  const dockerArch = DOCKER_ARCH[arch] ?? arch;
  const capOk = (c: string): boolean => caps.includes(c);
  if (all) return want.every(capOk) && (arches.length === 0 || arches.includes(dockerArch));
  return want.some(capOk) || arches.includes(dockerArch);
}

/**
 * A docker-format seccomp profile (the text of `file`) as the OCI seccomp section of a container
 * holding `caps`; errors name the file and the field.
 */
export function localhostSeccomp(
  text: string,
  file: string,
  caps: readonly string[],
  arch: string = process.arch,
): OciSeccomp {
  let doc: unknown;
  try {
    doc = JSON.parse(text);
  } catch (err) {
    throw new RocketError(`seccomp profile ${file}: not JSON: ${errorMessage(err)}`);
  }
  if (!isObject(doc)) throw new RocketError(`seccomp profile ${file}: not a JSON object`);
  const where = (field: string): string => `seccomp profile ${file}: ${field}`;
  const out: OciSeccomp = {
    defaultAction: action(doc['defaultAction'], where('defaultAction')),
    syscalls: [],
  };
  const defErrno = errnoRet(doc['defaultErrnoRet'], where('defaultErrnoRet'));
  if (defErrno !== undefined) out.defaultErrnoRet = defErrno;
  let architectures = strings(doc['architectures'], where('architectures'));
  if (architectures.length === 0 && doc['archMap'] !== undefined && doc['archMap'] !== null) {
    const map = doc['archMap'];
    if (!Array.isArray(map)) throw new RocketError(`${where('archMap')}: must be a list`);
    for (const [i, e] of map.entries()) {
      if (!isObject(e)) throw new RocketError(`${where(`archMap[${i}]`)}: must be an object`);
      if (e['architecture'] === SCMP_ARCH[arch])
        architectures = [
          e['architecture'] as string,
          ...strings(e['subArchitectures'], where(`archMap[${i}].subArchitectures`)),
        ];
    }
  }
  if (architectures.length > 0) out.architectures = architectures;
  const syscalls = doc['syscalls'] ?? [];
  if (!Array.isArray(syscalls)) throw new RocketError(`${where('syscalls')}: must be a list`);
  for (const [i, s] of syscalls.entries()) {
    const at = where(`syscalls[${i}]`);
    if (!isObject(s)) throw new RocketError(`${at}: must be an object`);
    const names = [...strings(s['names'], `${at}.names`)];
    if (typeof s['name'] === 'string' && s['name'] !== '') names.push(s['name']);
    if (names.length === 0) throw new RocketError(`${at}: no names`);
    const rule: OciSeccompSyscall = { names, action: action(s['action'], `${at}.action`) };
    const e = errnoRet(s['errnoRet'], `${at}.errnoRet`);
    if (e !== undefined) rule.errnoRet = e;
    if (s['args'] !== undefined && s['args'] !== null) {
      if (!Array.isArray(s['args'])) throw new RocketError(`${at}.args: must be a list`);
      const args: OciSeccompArg[] = [];
      for (const [j, a] of s['args'].entries()) {
        const aw = `${at}.args[${j}]`;
        if (!isObject(a)) throw new RocketError(`${aw}: must be an object`);
        if (typeof a['op'] !== 'string' || !OPS.includes(a['op']))
          throw new RocketError(`${aw}.op: unknown operator ${JSON.stringify(a['op'])}`);
        const arg: OciSeccompArg = {
          index: wholeNumber(a['index'], `${aw}.index`),
          value: wholeNumber(a['value'] ?? 0, `${aw}.value`),
          op: a['op'],
        };
        if (a['valueTwo'] !== undefined && a['valueTwo'] !== 0)
          arg.valueTwo = wholeNumber(a['valueTwo'], `${aw}.valueTwo`);
        args.push(arg);
      }
      if (args.length > 0) rule.args = args;
    }
    if (!matches(s['includes'], caps, arch, `${at}.includes`, true)) continue;
    if (matches(s['excludes'], caps, arch, `${at}.excludes`, false)) continue;
    out.syscalls.push(rule);
  }
  return out;
}

/**
 * The seccomp section a container gets (undefined: no filter); reads a localhost profile's file.
 * A privileged container has none, whatever it asks for.
 */
export function criSeccomp(
  choice: SeccompChoice,
  caps: readonly string[],
  privileged: boolean,
  arch: string = process.arch,
): OciSeccomp | undefined {
  if (privileged || choice.kind === 'unconfined') return undefined;
  if (choice.kind === 'runtime-default') return runtimeDefaultSeccomp(caps, arch);
  let text: string;
  try {
    text = readFileSync(choice.file, 'utf8');
  } catch (err) {
    throw new RocketError(`seccomp profile ${choice.file}: cannot be read: ${errorMessage(err)}`);
  }
  return localhostSeccomp(text, choice.file, caps, arch);
}
