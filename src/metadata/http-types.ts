/** Requests and responses of the service's two HTTP APIs, independent of node:http (unit-testable). */

/** The spec's exact Content-Type strings (the ACE validator compares them literally). */
export const JSON_TYPE = 'application/json';
export const TEXT_TYPE = 'text/plain; charset=us-ascii';

export interface ApiRequest {
  method: string;
  /** The request target: path and optional query. */
  url: string;
  /** The peer's address (the pod's address for the pod API). */
  source: string;
  contentType?: string;
  body: Buffer;
}

export interface ApiResponse {
  status: number;
  contentType: string;
  body: string | Buffer;
  headers?: Record<string, string>;
}

export function text(status: number, body: string): ApiResponse {
  return { status, contentType: TEXT_TYPE, body };
}

export function json(status: number, value: unknown): ApiResponse {
  return { status, contentType: JSON_TYPE, body: JSON.stringify(value) };
}

export function methodNotAllowed(allow: readonly string[]): ApiResponse {
  return { ...text(405, 'method not allowed\n'), headers: { Allow: allow.join(', ') } };
}
