/**
 * Where the metadata service listens (rkt's values), and the overrides tests and non-default
 * set-ups use: `--listen-port` on the service, the registration socket from `--socket` (hidden) or
 * `RKT_METADATA_SOCKET`, which `rkt run` reads too.
 */

/** rkt's `common.MetadataServicePort`. */
export const DEFAULT_LISTEN_PORT = 18112;
/** rkt's `common.MetadataServiceRegSock`. */
export const DEFAULT_REGISTRATION_SOCKET = '/run/rkt/metadata-svc.sock';
export const REGISTRATION_SOCKET_ENV = 'RKT_METADATA_SOCKET';

/** The registration socket: an explicit path, else `RKT_METADATA_SOCKET`, else rkt's default. */
export function registrationSocket(explicit?: string): string {
  if (explicit !== undefined && explicit !== '') return explicit;
  const env = process.env[REGISTRATION_SOCKET_ENV];
  return env !== undefined && env !== '' ? env : DEFAULT_REGISTRATION_SOCKET;
}
