/**
 * The CA certificates our HTTPS clients trust beyond Node's default store: the bundle named by
 * SSL_CERT_FILE (the reference Go tools read it), and NODE_EXTRA_CA_CERTS. bin/rkt moves the
 * latter to ROCKET_EXTRA_CA_CERTS before starting Node, because Node parses that file at every
 * start (about 40 ms for the system bundle) even when the command never opens a TLS connection;
 * here it is read only when a client is made. Setting `ca` replaces Node's default store, so a
 * non-empty list always starts with Node's root certificates.
 */
import { readFileSync } from 'node:fs';
import { rootCertificates } from 'node:tls';

function fileIfSet(name: string): Buffer[] {
  const file = process.env[name];
  if (file === undefined || file === '') return [];
  try {
    return [readFileSync(file)];
  } catch {
    return [];
  }
}

/** The extra CA bundles from the environment (SSL_CERT_FILE, the moved NODE_EXTRA_CA_CERTS). */
export function extraCaPems(): Buffer[] {
  return [...fileIfSet('ROCKET_EXTRA_CA_CERTS'), ...fileIfSet('SSL_CERT_FILE')];
}

/**
 * The `ca` option for a TLS client that trusts `extra` as well as the default store, or undefined
 * (Node's default store, with NODE_EXTRA_CA_CERTS if Node loaded it) when there is nothing extra.
 */
export function caList(extra: readonly (string | Buffer)[]): (string | Buffer)[] | undefined {
  if (extra.length === 0) return undefined;
  return [...rootCertificates, ...fileIfSet('NODE_EXTRA_CA_CERTS'), ...extra];
}
