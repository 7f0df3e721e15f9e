import * as grpc from '@grpc/grpc-js';
import { errorMessage } from '../errors.js';

/** An error with the gRPC status it should reach the client with. */
export class ApiError extends Error {
  constructor(
    readonly code: grpc.status,
    message: string,
  ) {
    super(message);
  }
}

/** The status a failed call ends with: an ApiError's own, else INTERNAL with the message. */
export function toServiceError(err: unknown): Partial<grpc.ServiceError> {
  if (err instanceof ApiError) return { code: err.code, details: err.message };
  return { code: grpc.status.INTERNAL, details: errorMessage(err) };
}
