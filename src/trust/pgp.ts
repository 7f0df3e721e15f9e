/**
 * The one place that loads openpgp. It is imported lazily so that commands which never verify
 * anything (`rkt list`, `rkt gc`) do not pay for parsing it at start-up.
 */
import type { Key, KeyID, Signature } from 'openpgp';

import { RKT_FAILURE, RocketError, errorMessage } from '../errors.js';

type OpenPGP = typeof import('openpgp');

let openpgpModule: Promise<OpenPGP> | undefined;

export function loadOpenpgp(): Promise<OpenPGP> {
  openpgpModule ??= import('openpgp');
  return openpgpModule;
}

/** Data that may be ASCII-armored: a string is always taken as armor, bytes are sniffed. */
export type KeyOrSignatureData = Uint8Array | string;

function armoredText(data: KeyOrSignatureData): string | undefined {
  if (typeof data === 'string') return data;
  // Armor is ASCII; look at the start only, a binary packet never begins with "-----".
  const head = Buffer.from(data.buffer, data.byteOffset, Math.min(data.byteLength, 1024)).toString('latin1');
  return /^\s*-----BEGIN PGP /.test(head)
    ? Buffer.from(data.buffer, data.byteOffset, data.byteLength).toString('utf8')
    : undefined;
}

/**
 * Reads every public key in an armored or binary key file (`gpg --export [--armor]`). A secret key
 * is refused: a trust store must never hold one, and storing the bytes as given would copy it.
 */
export async function readPublicKeys(data: KeyOrSignatureData, source: string): Promise<Key[]> {
  const openpgp = await loadOpenpgp();
  const armored = armoredText(data);
  let keys: Key[];
  try {
    keys =
      armored === undefined
        ? await openpgp.readKeys({ binaryKeys: data as Uint8Array })
        : await openpgp.readKeys({ armoredKeys: armored });
  } catch (err) {
    throw new RocketError(`${source}: not an OpenPGP public key: ${errorMessage(err)}`, RKT_FAILURE, {
      cause: err,
    });
  }
  if (keys.length === 0) throw new RocketError(`${source}: no OpenPGP key in the file`, RKT_FAILURE);
  const secret = keys.find((key) => key.isPrivate());
  if (secret !== undefined) {
    throw new RocketError(
      `${source}: key ${secret.getFingerprint()} is a secret key; give the public key (gpg --export)`,
      RKT_FAILURE,
    );
  }
  return keys;
}

/** Reads a detached signature, armored (`.asc`) or binary (`.sig`), as rkt accepts both. */
export async function readDetachedSignature(data: KeyOrSignatureData, source: string): Promise<Signature> {
  const openpgp = await loadOpenpgp();
  const armored = armoredText(data);
  try {
    return armored === undefined
      ? await openpgp.readSignature({ binarySignature: data as Uint8Array })
      : await openpgp.readSignature({ armoredSignature: armored });
  } catch (err) {
    throw new RocketError(
      `signature verification failed: ${source}: no valid signature in the file: ${errorMessage(err)}`,
      RKT_FAILURE,
      { cause: err },
    );
  }
}

/** A fingerprint as gpg prints it (upper case, groups of four, two spaces in the middle). */
function gpgFingerprint(fingerprint: string): string {
  const groups = fingerprint.toUpperCase().match(/.{1,4}/g) ?? [];
  const half = Math.ceil(groups.length / 2);
  return `${groups.slice(0, half).join(' ')}  ${groups.slice(half).join(' ')}`;
}

/** `2020-06-01 12:00:00 UTC` */
function utc(date: Date): string {
  return `${date.toISOString().slice(0, 19).replace('T', ' ')} UTC`;
}

/**
 * Why a key may not be trusted or sign now, or undefined: its primary key (or, with `keyId`, the
 * subkey that signed) is revoked, or expired at `now`. One phrase naming the key and its expiry:
 * `key 8B86 ... 2190 expired on 2020-06-01 12:00:00 UTC`.
 */
export async function keyProblem(key: Key, keyId?: KeyID, now = new Date()): Promise<string | undefined> {
  const name = `key ${gpgFingerprint(key.getFingerprint())}`;
  if (await key.isRevoked(undefined, undefined, now)) return `${name} is revoked`;
  const expires = await key.getExpirationTime();
  if (expires instanceof Date && expires.getTime() <= now.getTime())
    return `${name} expired on ${utc(expires)}`;
  if (keyId === undefined) return undefined;
  for (const sub of key.getSubkeys()) {
    if (!sub.getKeyID().equals(keyId)) continue;
    const subName = `subkey ${gpgFingerprint(sub.getFingerprint())} of ${name}`;
    // verify() checks the binding signature and its revocations at `now`; other failures are
    // left for the signature check to report.
    const failure = await sub.verify(now).then(
      () => undefined,
      (err: unknown) => errorMessage(err),
    );
    if (failure === undefined) continue;
    if (/revoked/i.test(failure)) return `${subName} is revoked`;
    if (/expired/i.test(failure)) {
      const subExpires = await sub.getExpirationTime(sub.getCreationTime()).catch(() => null);
      return subExpires instanceof Date
        ? `${subName} expired on ${utc(subExpires)}`
        : `${subName} is expired`;
    }
  }
  return undefined;
}
