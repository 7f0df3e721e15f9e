/**
 * Loads our v1alpha API definition (api.proto, read at run time by proto-loader) for the server and
 * for clients. The file stays in the source tree (`src/api/v1alpha/`), found from ROCKET_HOME or
 * from this module's place, so the same code works from src/ (tsx), dist/src/ (tsc) and the
 * bundle in dist/bundle/.
 */
import { existsSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import type * as grpc from '@grpc/grpc-js';

export const PROTO_RELATIVE_PATH = join('src', 'api', 'v1alpha', 'api.proto');

/** How messages look in JavaScript, on both sides (see types.ts). */
export const LOADER_OPTIONS = {
  keepCase: true,
  longs: String,
  enums: String,
  defaults: true,
  arrays: true,
} as const;

/** This module's directory; unknown inside the CommonJS bundle of the startup snapshot. */
function moduleDir(): string | undefined {
  const url = (import.meta as { url?: string }).url;
  return url === undefined ? undefined : dirname(fileURLToPath(url));
}

/**
 * `relative` under the checkout: `$ROCKET_HOME` (set by bin/rkt), else the nearest directory above
 * this module that has it.
 */
export function findAbove(relative: string): string {
  const home = process.env['ROCKET_HOME'];
  if (home !== undefined && home !== '' && existsSync(join(home, relative))) return join(home, relative);
  const here = moduleDir();
  for (let dir = here; dir !== undefined; dir = dirname(dir) === dir ? undefined : dirname(dir)) {
    const candidate = join(dir, relative);
    if (existsSync(candidate)) return candidate;
  }
  throw new Error(`cannot find ${relative} (ROCKET_HOME=${home ?? ''}, module dir ${here ?? 'unknown'})`);
}

export function protoPath(): string {
  return findAbove(PROTO_RELATIVE_PATH);
}

export interface ApiPackage {
  /** The client constructor, also carrying `.service` (the service definition for servers). */
  PublicAPI: grpc.ServiceClientConstructor;
}

/** The `v1alpha` package of api.proto, loaded with LOADER_OPTIONS. */
export async function loadApiPackage(path = protoPath()): Promise<ApiPackage> {
  const [grpcJs, protoLoader] = await Promise.all([import('@grpc/grpc-js'), import('@grpc/proto-loader')]);
  const definition = await protoLoader.load(path, LOADER_OPTIONS);
  const root = grpcJs.loadPackageDefinition(definition);
  const pkg = root['v1alpha'] as grpc.GrpcObject | undefined;
  const ctor = pkg?.['PublicAPI'];
  if (typeof ctor !== 'function') throw new Error(`${path}: no service v1alpha.PublicAPI`);
  return { PublicAPI: ctor };
}
