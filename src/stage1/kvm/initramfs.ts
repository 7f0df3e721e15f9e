/**
 * The kvm engine's guest: the kernel (Debian's linux-image-amd64, unpacked or installed) and the
 * initramfs the engine builds from it at first use: busybox (static) as the shell and tools, the
 * kernel's modules for virtio-mmio and 9p (Debian builds them as modules) in load order,
 * util-linux's `setpriv` and `unshare` (the same credential and chroot chain as the fly engine)
 * and `script` (a pty for `rkt enter` from a terminal) with their shared libraries, and the
 * guest's init (guest-init.sh). The archive is a newc cpio written here (no `cpio` program
 * needed), cached under the data dir by kernel version and content hash.
 */
import { spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import {
  existsSync,
  mkdirSync,
  readFileSync,
  readdirSync,
  realpathSync,
  renameSync,
  statSync,
  writeFileSync,
} from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { RKT_FAILURE, RocketError } from '../../errors.js';

const fail = (message: string): never => {
  throw new RocketError(message, RKT_FAILURE);
};

/** The modules the guest loads, by name; their dependencies (from each .ko's modinfo) come first. */
export const GUEST_MODULES = ['virtio_mmio', '9pnet_virtio', '9p', 'virtio_net', 'virtio_console'];

export interface GuestKernel {
  version: string;
  vmlinuz: string;
  /** `lib/modules/<version>` of the same package. */
  modulesDir: string;
}

/**
 * Where the engine looks for a kernel root (holding `boot/vmlinuz-*` and `lib/modules/*`):
 * `RKT_KVM_KERNEL_ROOT`, else the `kernelRoot` of `stage1.d/kvm.json` in the local config dir
 * (`/etc/rkt`), else in the system config dir (`/usr/lib/rkt`), else Rocket's unpacked Debian
 * kernel and the host's own.
 */
export function kernelRoots(
  env: NodeJS.ProcessEnv = process.env,
  configDirs?: { local: string; system: string },
): string[] {
  const named = env['RKT_KVM_KERNEL_ROOT'];
  if (named !== undefined && named !== '') return [named];
  for (const dir of configDirs === undefined ? [] : [configDirs.local, configDirs.system]) {
    const file = path.join(dir, 'stage1.d', 'kvm.json');
    let text: string;
    try {
      text = readFileSync(file, 'utf8');
    } catch {
      continue;
    }
    let conf: unknown;
    try {
      conf = JSON.parse(text);
    } catch {
      throw new RocketError(`${file}: not valid JSON`, RKT_FAILURE);
    }
    const root = (conf as { kernelRoot?: unknown } | null)?.kernelRoot;
    if (typeof root !== 'string' || !path.isAbsolute(root))
      throw new RocketError(`${file}: kernelRoot: must be an absolute path`, RKT_FAILURE);
    return [root];
  }
  return ['/var/lib/rkt/kvm/kernel', '/'];
}

function versionCompare(a: string, b: string): number {
  return a.localeCompare(b, 'en', { numeric: true });
}

/** The newest kernel of the first root that has a vmlinuz with its modules (9p among them). */
export function findKernel(roots: string[] = kernelRoots()): GuestKernel {
  for (const root of roots) {
    let names: string[];
    try {
      names = readdirSync(path.join(root, 'boot'));
    } catch {
      continue;
    }
    const versions = names
      .filter((n) => n.startsWith('vmlinuz-'))
      .map((n) => n.slice('vmlinuz-'.length))
      .filter((v) => existsSync(path.join(root, 'lib', 'modules', v, 'kernel', 'fs', '9p')))
      .sort(versionCompare);
    const version = versions.at(-1);
    if (version !== undefined)
      return {
        version,
        vmlinuz: path.join(root, 'boot', `vmlinuz-${version}`),
        modulesDir: path.join(root, 'lib', 'modules', version),
      };
  }
  return fail(
    `kvm engine: no guest kernel with 9p modules in ${roots.join(', ')} ` +
      "(unpack Debian's linux-image-amd64 there with dpkg-deb -x, or set RKT_KVM_KERNEL_ROOT)",
  );
}

/** Every `.ko` under the modules dir, by module name (`-` and `_` are the same). */
function moduleIndex(dir: string): Map<string, string> {
  const index = new Map<string, string>();
  const walk = (d: string): void => {
    for (const e of readdirSync(d, { withFileTypes: true })) {
      const p = path.join(d, e.name);
      if (e.isDirectory()) walk(p);
      else if (e.name.endsWith('.ko')) index.set(e.name.slice(0, -3).replace(/-/g, '_'), p);
    }
  };
  walk(path.join(dir, 'kernel'));
  return index;
}

/** A module's `depends=` from its .modinfo section (NUL-separated key=value strings). */
export function moduleDepends(ko: Buffer): string[] {
  const key = Buffer.from('\0depends=');
  const at = ko.indexOf(key);
  if (at < 0) return [];
  const start = at + key.length;
  const end = ko.indexOf(0, start);
  const v = ko.subarray(start, end < 0 ? undefined : end).toString('utf8');
  return v === '' ? [] : v.split(',').map((n) => n.replace(/-/g, '_'));
}

/** The .ko files to load, dependencies first. */
export function moduleLoadOrder(modulesDir: string, wanted: string[] = GUEST_MODULES): string[] {
  const index = moduleIndex(modulesDir);
  const order: string[] = [];
  const seen = new Set<string>();
  const visit = (name: string): void => {
    if (seen.has(name)) return;
    seen.add(name);
    const file = index.get(name);
    if (file === undefined) return; // built into the kernel
    for (const dep of moduleDepends(readFileSync(file))) visit(dep);
    order.push(file);
  };
  for (const w of wanted) visit(w);
  return order;
}

/** A host program and the shared libraries `ldd` names for it (their real files, at their paths). */
function programWithLibs(program: string): string[] {
  const r = spawnSync('ldd', [program], { encoding: 'utf8' });
  const files = [program];
  if (r.status !== 0) return files; // static
  for (const line of r.stdout.split('\n')) {
    const m = /(?:=>\s*)?(\/\S+)\s+\(0x/.exec(line);
    if (m?.[1] !== undefined) files.push(m[1]);
  }
  return files;
}

interface Entry {
  name: string;
  mode: number;
  data?: Buffer;
  rdev?: [number, number];
}

/** A newc ("070701") cpio archive of the entries, with its trailer. */
export function newcArchive(entries: Entry[]): Buffer {
  const parts: Buffer[] = [];
  const hex = (n: number): string => n.toString(16).padStart(8, '0');
  const pad = (len: number): Buffer => Buffer.alloc((4 - (len % 4)) % 4);
  let ino = 1;
  for (const e of [...entries, { name: 'TRAILER!!!', mode: 0 }] as Entry[]) {
    const data = e.data ?? Buffer.alloc(0);
    const name = Buffer.from(e.name + '\0');
    const header =
      '070701' +
      [ino++, e.mode, 0, 0, 1, 0, data.length, 0, 0, e.rdev?.[0] ?? 0, e.rdev?.[1] ?? 0, name.length, 0]
        .map(hex)
        .join('');
    parts.push(Buffer.from(header, 'ascii'), name, pad(110 + name.length), data, pad(data.length));
  }
  return Buffer.concat(parts);
}

const DIR = 0o040755;
const FILE = 0o100755;
const LINK = 0o120777;
const CHR = 0o020600;

/** The guest init's source: next to this module in src/ (dist/ holds only the compiled code). */
export function guestInitProgram(): string {
  const rel = path.join('src', 'stage1', 'kvm', 'guest-init.sh');
  const home = process.env['ROCKET_HOME'];
  if (home !== undefined && home !== '' && existsSync(path.join(home, rel))) return path.join(home, rel);
  const url = (import.meta as { url?: string }).url;
  if (url !== undefined)
    for (let dir = path.dirname(fileURLToPath(url)); ; dir = path.dirname(dir)) {
      if (existsSync(path.join(dir, rel))) return path.join(dir, rel);
      if (path.dirname(dir) === dir) break;
    }
  return fail(`kvm engine: cannot find the guest init ${rel}`);
}

const BUSYBOX = '/bin/busybox';

/** The initramfs's entries: dirs, /dev/console, busybox, modules, setpriv/unshare/script and libs, /init. */
export function initramfsEntries(kernel: GuestKernel): Entry[] {
  const entries: Entry[] = [];
  const dirs = new Set<string>();
  const dir = (d: string): void => {
    if (d === '' || d === '.' || dirs.has(d)) return;
    dir(path.posix.dirname(d));
    dirs.add(d);
    entries.push({ name: d, mode: DIR });
  };
  const file = (name: string, data: Buffer, mode = FILE): void => {
    dir(path.posix.dirname(name));
    entries.push({ name, mode, data });
  };
  for (const d of ['dev', 'proc', 'sys', 'pod', 'run', 'tmp', 'bin']) dir(d);
  entries.push({ name: 'dev/console', mode: CHR, rdev: [5, 1] });
  const busybox = existsSync(BUSYBOX) ? BUSYBOX : fail(`kvm engine: ${BUSYBOX} (busybox-static) is missing`);
  file('bin/busybox', readFileSync(busybox));
  const order = moduleLoadOrder(kernel.modulesDir);
  for (const ko of order) file(`lib/modules/${path.basename(ko)}`, readFileSync(ko), 0o100644);
  file('lib/modules/order', Buffer.from(order.map((ko) => path.basename(ko) + '\n').join('')), 0o100644);
  for (const prog of ['/usr/bin/setpriv', '/usr/bin/unshare', '/usr/bin/script']) {
    if (!existsSync(prog)) fail(`kvm engine: ${prog} (util-linux) is missing`);
    for (const f of programWithLibs(prog)) {
      const name = f.slice(1);
      if (entries.some((e) => e.name === name)) continue;
      const real = realpathSync(f);
      file(name, readFileSync(real), statSync(real).mode);
    }
  }
  // Debian's /lib and /bin are links into /usr; the loader is looked up at /lib64.
  file('init', readFileSync(guestInitProgram()));
  entries.push({ name: 'sbin', mode: LINK, data: Buffer.from('bin') });
  return entries;
}

/**
 * The initramfs for a kernel, built once per content: `<dataDir>/kvm/initrd-<version>-<hash>.cpio`
 * (written to a temp file, then renamed).
 */
export function ensureInitramfs(dataDir: string, kernel: GuestKernel): string {
  const archive = newcArchive(initramfsEntries(kernel));
  const hash = createHash('sha256').update(archive).digest('hex').slice(0, 16);
  const dir = path.join(dataDir, 'kvm');
  const target = path.join(dir, `initrd-${kernel.version}-${hash}.cpio`);
  if (existsSync(target)) return target;
  mkdirSync(dir, { recursive: true });
  const tmp = `${target}.tmp-${process.pid}`;
  writeFileSync(tmp, archive);
  renameSync(tmp, target);
  return target;
}
