/**
 * The seccomp filter compiled once, not by crun at every container start. crun compiles an OCI
 * `linux.seccomp` section with libseccomp each time it starts a container (about 7 ms of CPU for
 * rkt's default allow-list on three architectures, most of crun's own CPU); with the annotation
 * `run.oci.seccomp_bpf_data` (crun(1)) it loads the given BPF program instead, with the flags of
 * the seccomp section, which stays in config.json. Here the same libseccomp calls crun makes
 * (seccomp_init with the default action, each architecture added, one rule per resolvable system
 * call whose action is not the default, unknown names skipped) export the program, which is kept
 * in the data dir's cache (keyed by the section, the architecture and libseccomp's version), so a
 * pod of ten apps, and every later pod, reuse it.
 *
 * Any failure (no libseccomp, a rule libseccomp refuses, a cache that cannot be written) leaves the
 * config without the annotation: crun then compiles the section itself, as before, and reports
 * its own errors. runc has no such annotation; only crun's configs get it.
 */
import { createHash } from 'node:crypto';
import { closeSync, mkdirSync, openSync, readFileSync, renameSync, rmSync } from 'node:fs';
import path from 'node:path';
import { requireNative } from '../../native.js';
import type { OciSeccomp, OciSeccompAction } from './seccomp.js';

export const SECCOMP_BPF_ANNOTATION = 'run.oci.seccomp_bpf_data';

interface Libseccomp {
  version: string;
  init(defAction: number): unknown;
  release(ctx: unknown): void;
  archResolve(name: string): number;
  archAdd(ctx: unknown, arch: number): number;
  resolve(name: string): number;
  ruleAdd(ctx: unknown, action: number, syscall: number, cnt: number, args: null): number;
  exportBpf(ctx: unknown, fd: number): number;
}

let lib: Libseccomp | null | undefined;

function load(): Libseccomp | undefined {
  if (lib !== undefined) return lib ?? undefined;
  try {
    const koffi = requireNative<typeof import('koffi')>('koffi');
    const so = koffi.load('libseccomp.so.2');
    const Version = koffi.struct('scmp_version_rocket', { major: 'uint', minor: 'uint', micro: 'uint' });
    const versionFn = so.func('seccomp_version', koffi.pointer(Version), []) as () => unknown;
    const v = koffi.decode(versionFn(), Version) as { major: number; minor: number; micro: number };
    lib = {
      version: `${v.major}.${v.minor}.${v.micro}`,
      init: so.func('void *seccomp_init(uint32_t def_action)') as Libseccomp['init'],
      release: so.func('void seccomp_release(void *ctx)') as Libseccomp['release'],
      archResolve: so.func(
        'uint32_t seccomp_arch_resolve_name(const char *name)',
      ) as Libseccomp['archResolve'],
      archAdd: so.func('int seccomp_arch_add(void *ctx, uint32_t arch)') as Libseccomp['archAdd'],
      resolve: so.func('int seccomp_syscall_resolve_name(const char *name)') as Libseccomp['resolve'],
      ruleAdd: so.func(
        'int seccomp_rule_add_array(void *ctx, uint32_t action, int syscall, unsigned int cnt, void *args)',
      ) as Libseccomp['ruleAdd'],
      exportBpf: so.func('int seccomp_export_bpf(void *ctx, int fd)') as Libseccomp['exportBpf'],
    };
  } catch {
    lib = null;
  }
  return lib ?? undefined;
}

const EPERM = 1;
const EEXIST = 17;

/**
 * libseccomp's action value (SCMP_ACT_*) for an OCI action; undefined for the actions rkt's
 * isolators never make (a CRI localhost profile's), which crun then compiles itself.
 */
function actionValue(action: OciSeccompAction, errnoRet: number | undefined): number | undefined {
  switch (action) {
    case 'SCMP_ACT_ALLOW':
      return 0x7fff0000;
    case 'SCMP_ACT_KILL_PROCESS':
      return 0x80000000;
    case 'SCMP_ACT_ERRNO':
      return 0x00050000 | ((errnoRet ?? EPERM) & 0xffff);
    default:
      return undefined;
  }
}

/** OCI architecture names → libseccomp's. */
const ARCH_NAMES: Record<string, string> = {
  SCMP_ARCH_X86_64: 'x86_64',
  SCMP_ARCH_X86: 'x86',
  SCMP_ARCH_X32: 'x32',
  SCMP_ARCH_AARCH64: 'aarch64',
  SCMP_ARCH_ARM: 'arm',
};

/** Writes the BPF program for `s` to `out`; false if libseccomp cannot make it as crun would. */
function compile(l: Libseccomp, s: OciSeccomp, out: string): boolean {
  const def = actionValue(s.defaultAction, s.defaultErrnoRet);
  if (def === undefined) return false;
  // Argument conditions (a CRI localhost profile's) are left to crun.
  for (const rule of s.syscalls) {
    if ((rule.args?.length ?? 0) > 0 || actionValue(rule.action, rule.errnoRet) === undefined) return false;
  }
  const ctx = l.init(def);
  if (ctx === null) return false;
  try {
    for (const a of s.architectures ?? []) {
      const name = ARCH_NAMES[a];
      if (name === undefined) return false;
      const token = l.archResolve(name);
      if (token === 0) return false;
      const r = l.archAdd(ctx, token);
      if (r !== 0 && r !== -EEXIST) return false;
    }
    for (const rule of s.syscalls) {
      const action = actionValue(rule.action, rule.errnoRet) as number;
      if (action === def) continue;
      for (const name of rule.names) {
        const nr = l.resolve(name);
        if (nr === -1) continue; // __NR_SCMP_ERROR: unknown here, skipped as crun skips it
        if (l.ruleAdd(ctx, action, nr, 0, null) !== 0) return false;
      }
    }
    const fd = openSync(out, 'w', 0o644);
    try {
      if (l.exportBpf(ctx, fd) !== 0) return false;
    } finally {
      closeSync(fd);
    }
    return true;
  } finally {
    l.release(ctx);
  }
}

const memo = new Map<string, string | undefined>();

/**
 * The base64 BPF program of seccomp section `s` for the annotation, compiled or from
 * `<cacheDir>`; undefined when it cannot be made (the caller leaves the config as it is).
 */
export function seccompBpfData(
  s: OciSeccomp,
  cacheDir: string,
  arch: string = process.arch,
): string | undefined {
  const l = load();
  if (l === undefined) return undefined;
  const key = createHash('sha256')
    .update(JSON.stringify({ s, arch, libseccomp: l.version }))
    .digest('hex');
  if (memo.has(key)) return memo.get(key);
  const file = path.join(cacheDir, `${key}.bpf`);
  let data: string | undefined;
  try {
    data = readFileSync(file).toString('base64');
  } catch {
    const tmp = `${file}.${process.pid}.tmp`;
    try {
      mkdirSync(cacheDir, { recursive: true });
      if (compile(l, s, tmp)) {
        data = readFileSync(tmp).toString('base64');
        renameSync(tmp, file);
      }
    } catch {
      data = undefined;
    } finally {
      rmSync(tmp, { force: true });
    }
  }
  if (data === '') data = undefined;
  memo.set(key, data);
  return data;
}
