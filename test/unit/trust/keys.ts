/** OpenPGP keys made in-test (v4, curve25519, as gpg 2.2 reads them) and detached signatures. */
import * as openpgp from 'openpgp';

export interface TestKey {
  fingerprint: string;
  armoredPublic: string;
  binaryPublic: Uint8Array;
  armoredPrivate: string;
  privateKey: openpgp.PrivateKey;
  publicKey: openpgp.Key;
}

export async function makeKey(name: string): Promise<TestKey> {
  const { privateKey, publicKey } = await openpgp.generateKey({
    userIDs: [{ name, email: `${name.toLowerCase().replace(/\W+/g, '.')}@example.com` }],
    format: 'object',
  });
  return {
    fingerprint: publicKey.getFingerprint(),
    armoredPublic: publicKey.armor(),
    binaryPublic: publicKey.write(),
    armoredPrivate: privateKey.armor(),
    privateKey,
    publicKey,
  };
}

export async function signDetached(key: TestKey, data: Uint8Array): Promise<string> {
  const message = await openpgp.createMessage({ binary: data });
  return openpgp.sign({ message, signingKeys: key.privateKey, detached: true });
}

export async function signDetachedBinary(key: TestKey, data: Uint8Array): Promise<Uint8Array> {
  const message = await openpgp.createMessage({ binary: data });
  return openpgp.sign({ message, signingKeys: key.privateKey, detached: true, format: 'binary' });
}
