import * as grpc from '@grpc/grpc-js';
import { RocketError, errorMessage, type ErrorKind } from '../errors.js';

/** An error with the gRPC status it should reach the client with. */
export class ApiError extends Error {
  constructor(
    readonly code: grpc.status,
    message: string,
  ) {
    super(message);
  }
}

const GRPC_CODES: Record<ErrorKind, grpc.status> = {
  'invalid-argument': grpc.status.INVALID_ARGUMENT,
  'not-found': grpc.status.NOT_FOUND,
  'already-exists': grpc.status.ALREADY_EXISTS,
  'failed-precondition': grpc.status.FAILED_PRECONDITION,
  'permission-denied': grpc.status.PERMISSION_DENIED,
  unavailable: grpc.status.UNAVAILABLE,
  internal: grpc.status.INTERNAL,
  unknown: grpc.status.UNKNOWN,
};

/** The gRPC status of an error kind: the one mapping the API service and the CRI share. */
export function grpcStatusOf(kind: ErrorKind): grpc.status {
  return GRPC_CODES[kind];
}

/**
 * The status a failed call ends with: an ApiError's own, a RocketError's kind's, else INTERNAL
 * (a bug), with the message.
 */
export function toServiceError(err: unknown): Partial<grpc.ServiceError> {
  if (err instanceof ApiError) return { code: err.code, details: err.message };
  if (err instanceof RocketError) return { code: grpcStatusOf(err.kind), details: err.message };
  return { code: grpc.status.INTERNAL, details: errorMessage(err) };
}
