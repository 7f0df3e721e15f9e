/**
 * Loads our CRI v1 definition (src/cri/v1/api.proto, read at run time by proto-loader, found as the
 * rkt API's .proto is) for the server and for clients.
 */
import { join } from 'node:path';
import type * as grpc from '@grpc/grpc-js';
import { findAbove } from '../api/proto.js';

export const CRI_PROTO_RELATIVE_PATH = join('src', 'cri', 'v1', 'api.proto');

/** Messages in JavaScript: field names as in the .proto, 64-bit integers as strings, enums by name. */
export const CRI_LOADER_OPTIONS = {
  keepCase: true,
  longs: String,
  enums: String,
  defaults: true,
  arrays: true,
  objects: true,
} as const;

export function criProtoPath(): string {
  return findAbove(CRI_PROTO_RELATIVE_PATH);
}

export interface CriPackage {
  RuntimeService: grpc.ServiceClientConstructor;
  ImageService: grpc.ServiceClientConstructor;
}

/** The `runtime.v1` package: client constructors that also carry `.service` for servers. */
export async function loadCriPackage(path = criProtoPath()): Promise<CriPackage> {
  const [grpcJs, protoLoader] = await Promise.all([import('@grpc/grpc-js'), import('@grpc/proto-loader')]);
  const definition = await protoLoader.load(path, CRI_LOADER_OPTIONS);
  const root = grpcJs.loadPackageDefinition(definition);
  const pkg = (root['runtime'] as grpc.GrpcObject | undefined)?.['v1'] as grpc.GrpcObject | undefined;
  const runtime = pkg?.['RuntimeService'];
  const image = pkg?.['ImageService'];
  if (typeof runtime !== 'function' || typeof image !== 'function')
    throw new Error(`${path}: no services runtime.v1.RuntimeService and ImageService`);
  return { RuntimeService: runtime, ImageService: image };
}
