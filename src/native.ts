/**
 * Loading the native modules (better-sqlite3, koffi) with a synchronous require that works both
 * from dist/ (ESM: relative to this file) and from stage0's startup snapshot (docs/stage1.md, "Start
 * time"), where there is no module URL: there the snapshot's main function records the project's
 * root in ROCKET_HOME first.
 */
import { createRequire } from 'node:module';
import { join } from 'node:path';

let req: NodeJS.Require | undefined;

function nodeRequire(): NodeJS.Require {
  if (req !== undefined) return req;
  const home = process.env['ROCKET_HOME'];
  req = createRequire(home !== undefined && home !== '' ? join(home, 'package.json') : import.meta.url);
  return req;
}

export function requireNative<T>(name: string): T {
  return nodeRequire()(name) as T;
}

/** The path of a file inside an installed package (for better-sqlite3's `nativeBinding`). */
export function resolveNative(spec: string): string {
  return nodeRequire().resolve(spec);
}
