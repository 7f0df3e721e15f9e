/**
 * The identity endpoint's signatures (spec/ace.md, "Identity Endpoint"): HMAC-SHA512 under the
 * signing pod's own key, which the service generates when the pod registers and never hands out,
 * over the pod's 16 UUID bytes followed by the content, sent as standard padded base64 (no newline).
 * A signature therefore verifies only against the UUID of the pod that made it, and only while
 * that pod is registered: its key goes when the pod does.
 */
import { createHmac, randomBytes, timingSafeEqual } from 'node:crypto';
import { uuidBytes } from '../appc/index.js';

/** A fresh pod key (64 bytes: SHA-512's output size; the HMAC block is 128). */
export function newPodKey(): Buffer {
  return randomBytes(64);
}

/** A fresh token for a pod's URL: 192 random bits, hex (the spec asks for at least 128). */
export function newPodToken(): string {
  return randomBytes(24).toString('hex');
}

function mac(key: Buffer, uuid: string, content: Buffer): Buffer {
  return createHmac('sha512', key).update(uuidBytes(uuid)).update(content).digest();
}

export function signContent(key: Buffer, uuid: string, content: Buffer): string {
  return mac(key, uuid, content).toString('base64');
}

/** Standard padded base64 only; anything Node would decode leniently (or not at all) is refused. */
export function decodeBase64Strict(text: string): Buffer | undefined {
  if (!/^(?:[A-Za-z0-9+/]{4})*(?:[A-Za-z0-9+/]{2}==|[A-Za-z0-9+/]{3}=)?$/.test(text)) return undefined;
  return Buffer.from(text, 'base64');
}

export function signatureMatches(key: Buffer, uuid: string, content: Buffer, signature: Buffer): boolean {
  const want = mac(key, uuid, content);
  return signature.length === want.length && timingSafeEqual(signature, want);
}
