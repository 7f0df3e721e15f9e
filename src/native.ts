/**
 * Loading the native modules (better-sqlite3, koffi) with a synchronous require that works both
 * from dist/ (ESM: relative to this file) and from stage0's startup snapshot (docs/stage1.md, "Start
 * time"), where there is no module URL: there the snapshot's main function records the project's
 * root in ROCKET_HOME first.
 */
import { existsSync } from 'node:fs';
import { createRequire } from 'node:module';
import { join } from 'node:path';

let req: NodeJS.Require | undefined;

function nodeRequire(): NodeJS.Require {
  if (req !== undefined) return req;
  const home = process.env['ROCKET_HOME'];
  req = createRequire(home !== undefined && home !== '' ? join(home, 'package.json') : import.meta.url);
  return req;
}

/**
 * Packages whose JavaScript the snapshot's entry bundled (src/cli/rkt-snapshot.ts): taken from the
 * heap instead of being resolved and compiled from node_modules at each start.
 */
const bundled = new Map<string, unknown>();

export function provideBundled(name: string, mod: unknown): void {
  bundled.set(name, mod);
}

export function requireNative<T>(name: string): T {
  if (bundled.has(name)) return bundled.get(name) as T;
  if (name === 'koffi') return requireKoffi() as T;
  return nodeRequire()(name) as T;
}

let koffi: unknown;

/**
 * koffi's native module straight from its platform package under ROCKET_HOME's node_modules
 * (`@koromix/koffi-<os>-<arch>`, the glibc build): koffi's own entry finds it by reading the ELF
 * header of node's executable and through package resolution, which cost several times the load
 * itself. Anything else (musl, another layout) goes through koffi's entry. What is used here
 * (load, func, errno) is the same on both.
 */
function requireKoffi(): unknown {
  if (koffi !== undefined) return koffi;
  const r = nodeRequire();
  const home = process.env['ROCKET_HOME'];
  if (home !== undefined && home !== '') {
    const { platform, arch } = process;
    const file = join(
      home,
      'node_modules',
      '@koromix',
      `koffi-${platform}-${arch}`,
      `${platform}_${arch}`,
      'koffi.node',
    );
    try {
      koffi = r(file);
      return koffi;
    } catch {
      // not there, or not loadable here: koffi's entry chooses
    }
  }
  koffi = r('koffi');
  return koffi;
}

/**
 * The path of a file inside an installed package (for better-sqlite3's `nativeBinding`): under
 * ROCKET_HOME's node_modules if it is there, else by package resolution.
 */
export function resolveNative(spec: string): string {
  const home = process.env['ROCKET_HOME'];
  if (home !== undefined && home !== '') {
    const file = join(home, 'node_modules', spec);
    if (existsSync(file)) return file;
  }
  return nodeRequire().resolve(spec);
}
