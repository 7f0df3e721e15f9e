/**
 * Detached-signature checks for images (`<image>.aci.asc`), as rkt's keystore.CheckSignature does
 * them: the signature's issuer must be one of the trusted keys for the image name, and the signed
 * bytes are streamed through the hash, never held in memory.
 */
import { createReadStream } from 'node:fs';
import { Readable } from 'node:stream';
import type { ReadableStream } from 'node:stream/web';

import type { Key, KeyID, Signature } from 'openpgp';

import { RKT_FAILURE, RocketError, errorMessage } from '../errors.js';
import type { TrustedKey } from './keystore.js';
import { type KeyOrSignatureData, keyProblem, loadOpenpgp, readDetachedSignature } from './pgp.js';

/** The trusted key that made a signature. */
export interface SignerIdentity {
  /** Lowercase hex fingerprint of the signer's primary key (its file name in the keystore). */
  fingerprint: string;
  /** Lowercase hex key ID that the signature names as its issuer (a signing subkey or the primary). */
  keyId: string;
  userIds: string[];
}

export type VerificationKey = TrustedKey | Key;

export interface VerifyOptions {
  /** The trusted keys for the image, usually `keystore.trustedKeysFor(name)`. */
  keys: readonly VerificationKey[];
  /** The signed data, as a stream or a file path. */
  signed: Readable | string;
  /** The detached signature, armored or binary. */
  signature: KeyOrSignatureData;
  /** The image name, for the `rkt trust --prefix` hint when the issuer is unknown. */
  name?: string;
}

function keyOf(k: VerificationKey): Key {
  return 'key' in k ? k.key : k;
}

function gpgKeyId(id: KeyID): string {
  return `0x${id.toHex().toUpperCase()}`;
}

interface IssuerMatch {
  key: Key;
  keyId: KeyID;
}

/** The first issuer of the signature that a trusted key (primary or subkey) answers to. */
function findIssuer(
  signature: Signature,
  keys: readonly VerificationKey[],
  name: string | undefined,
): IssuerMatch {
  const issuers = signature.getSigningKeyIDs();
  for (const keyId of issuers) {
    for (const k of keys) {
      const key = keyOf(k);
      if (key.getKeys(keyId).length > 0) return { key, keyId };
    }
  }
  const ids = issuers.length === 0 ? 'none named' : issuers.map(gpgKeyId).join(', ');
  throw new RocketError(
    name === undefined
      ? `no trusted key for the signature (issuer key ID ${ids})`
      : `no trusted key for ${name} (issuer key ID ${ids}); try: rkt trust --prefix ${JSON.stringify(name)}`,
    RKT_FAILURE,
  );
}

function identityOf(match: IssuerMatch): SignerIdentity {
  return {
    fingerprint: match.key.getFingerprint(),
    keyId: match.keyId.toHex(),
    userIds: match.key.getUserIDs(),
  };
}

/**
 * Checks that the signature's issuer is trusted, before the image is downloaded (rkt's
 * checkIdentity). It says nothing about whether the signature is good.
 */
export async function checkIdentity(
  signature: KeyOrSignatureData,
  keys: readonly VerificationKey[],
  name?: string,
): Promise<SignerIdentity> {
  const parsed = await readDetachedSignature(signature, 'signature');
  const match = findIssuer(parsed, keys, name);
  await refuseInvalidSigner(match, name ?? 'the image');
  return identityOf(match);
}

/**
 * Refuses a signer whose key (or signing subkey) is revoked or expired now, as containers/image
 * refuses gpg's EXPKEYSIG/REVKEYSIG: openpgp would accept a signature made before the expiry.
 */
async function refuseInvalidSigner(match: IssuerMatch, source: string): Promise<void> {
  const problem = await keyProblem(match.key, match.keyId);
  if (problem !== undefined)
    throw new RocketError(`signature verification failed: ${source}: signed by ${problem}`, RKT_FAILURE);
}

async function drain(stream: ReadableStream<Uint8Array>): Promise<void> {
  const reader = stream.getReader();
  for (;;) {
    const { done } = await reader.read();
    if (done) return;
  }
}

/**
 * Verifies a detached signature over streamed data and returns the signer. Fails with
 * "no trusted key for ..." when no trusted key issued the signature, and with
 * "signature verification failed: ..." when the data or the signature do not match.
 */
export async function verifyDetachedSignature(options: VerifyOptions): Promise<SignerIdentity> {
  const { keys, signed, name } = options;
  const source = typeof signed === 'string' ? signed : (name ?? 'the signed data');
  const signature = await readDetachedSignature(options.signature, `signature of ${source}`);
  const match = findIssuer(signature, keys, name);
  await refuseInvalidSigner(match, source);

  const openpgp = await loadOpenpgp();
  const input = typeof signed === 'string' ? createReadStream(signed) : signed;
  const webInput = Readable.toWeb(input) as ReadableStream<Uint8Array>;
  try {
    const message = await openpgp.createMessage({ binary: webInput });
    const result = await openpgp.verify({
      message,
      signature,
      verificationKeys: [match.key],
      format: 'binary',
    });
    // Every signature's outcome settles only once the data has been read to its end; observe the
    // ones we do not use so that their rejections are not left unhandled.
    const outcome = result.signatures.find((s) => s.keyID.equals(match.keyId));
    for (const s of result.signatures) if (s !== outcome) s.verified.catch(() => undefined);
    if (outcome === undefined) throw new Error(`the signature by ${gpgKeyId(match.keyId)} was not checked`);
    const verified = outcome.verified;
    verified.catch(() => undefined);
    await drain(result.data);
    await verified;
  } catch (err) {
    input.destroy();
    if (err instanceof RocketError) throw err;
    throw new RocketError(`signature verification failed: ${source}: ${errorMessage(err)}`, RKT_FAILURE, {
      cause: err,
    });
  }
  return identityOf(match);
}
