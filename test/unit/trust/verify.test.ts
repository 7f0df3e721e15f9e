import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import { after, before, describe, it } from 'node:test';

import { RocketError } from '../../../src/errors.js';
import { Keystore } from '../../../src/trust/keystore.js';
import { checkIdentity, verifyDetachedSignature } from '../../../src/trust/verify.js';
import { tempDir } from '../../helpers.js';
import { type TestKey, makeKey, signDetached, signDetachedBinary } from './keys.js';

function rocketError(pattern: RegExp): (err: unknown) => boolean {
  return (err: unknown) => {
    assert.ok(err instanceof RocketError, `expected a RocketError, got ${String(err)}`);
    assert.equal(err.exitCode, 254);
    assert.match(err.message, pattern);
    assert.doesNotMatch(err.message, /\n/);
    return true;
  };
}

/** Yields `data` in small chunks so the verifier really sees a stream. */
function chunked(data: Uint8Array, size = 4096): Readable {
  return Readable.from(
    (function* () {
      for (let i = 0; i < data.length; i += size) yield Buffer.from(data.subarray(i, i + size));
    })(),
  );
}

let signer: TestKey;
let stranger: TestKey;
let data: Uint8Array;
let armoredSig: string;
let tmp: { path: string; cleanup: () => Promise<void> };

before(async () => {
  [signer, stranger] = await Promise.all([makeKey('ACI Builder'), makeKey('Someone Else')]);
  data = randomBytes(300_000);
  armoredSig = await signDetached(signer, data);
  tmp = await tempDir('rocket-verify-');
});
after(() => tmp.cleanup());

describe('verifyDetachedSignature', () => {
  void it('accepts a good armored signature over a stream and names the signer', async () => {
    const id = await verifyDetachedSignature({
      keys: [stranger.publicKey, signer.publicKey],
      signed: chunked(data),
      signature: Buffer.from(armoredSig),
      name: 'example.com/app',
    });
    assert.equal(id.fingerprint, signer.fingerprint);
    assert.deepEqual(id.userIds, ['ACI Builder <aci.builder@example.com>']);
    assert.match(id.keyId, /^[0-9a-f]{16}$/);
    assert.ok(signer.publicKey.getKeys().some((k) => k.getKeyID().toHex() === id.keyId));
  });

  void it('accepts a binary signature and a file path', async () => {
    const file = join(tmp.path, 'app.aci');
    await writeFile(file, data);
    const sig = await signDetachedBinary(signer, data);
    const id = await verifyDetachedSignature({
      keys: [signer.publicKey],
      signed: file,
      signature: Buffer.from(sig),
    });
    assert.equal(id.fingerprint, signer.fingerprint);
  });

  void it('takes keystore entries as keys', async () => {
    const ks = new Keystore({ systemDir: join(tmp.path, 'sys'), localDir: join(tmp.path, 'local') });
    await ks.storeTrustedKey({ prefix: 'example.com' }, signer.armoredPublic);
    const keys = await ks.trustedKeysFor('example.com/app');
    const id = await verifyDetachedSignature({ keys, signed: chunked(data), signature: armoredSig });
    assert.equal(id.fingerprint, signer.fingerprint);
  });

  for (const [what, change] of [
    ['one flipped byte in the middle', (d: Buffer) => void (d[150_000] = d[150_000]! ^ 1)],
    ['one flipped last byte', (d: Buffer) => void (d[d.length - 1] = d[d.length - 1]! ^ 0x80)],
  ] as const) {
    void it(`refuses data with ${what}`, async () => {
      const tampered = Buffer.from(data);
      change(tampered);
      await assert.rejects(
        verifyDetachedSignature({
          keys: [signer.publicKey],
          signed: chunked(tampered),
          signature: armoredSig,
          name: 'example.com/app',
        }),
        rocketError(/^signature verification failed: example.com\/app: /),
      );
    });
  }

  void it('refuses truncated and extended data', async () => {
    for (const changed of [data.subarray(0, data.length - 1), Buffer.concat([data, Buffer.from([0])])]) {
      await assert.rejects(
        verifyDetachedSignature({
          keys: [signer.publicKey],
          signed: chunked(changed),
          signature: armoredSig,
        }),
        rocketError(/^signature verification failed/),
      );
    }
  });

  void it('refuses a signature by an untrusted key with rkt trust hint', async () => {
    await assert.rejects(
      verifyDetachedSignature({
        keys: [stranger.publicKey],
        signed: chunked(data),
        signature: armoredSig,
        name: 'example.com/app',
      }),
      rocketError(
        /^no trusted key for example.com\/app \(issuer key ID 0x[0-9A-F]{16}\); try: rkt trust --prefix "example.com\/app"$/,
      ),
    );
    await assert.rejects(
      verifyDetachedSignature({ keys: [], signed: chunked(data), signature: armoredSig }),
      rocketError(/^no trusted key for the signature \(issuer key ID 0x[0-9A-F]{16}\)$/),
    );
  });

  void it('refuses a file that is not a signature', async () => {
    await assert.rejects(
      verifyDetachedSignature({
        keys: [signer.publicKey],
        signed: chunked(data),
        signature: Buffer.from('nope'),
      }),
      rocketError(/^signature verification failed: signature of the signed data: no valid signature/),
    );
  });

  void it('reports a failing input stream', async () => {
    const broken = new Readable({
      read() {
        this.destroy(new Error('disk on fire'));
      },
    });
    await assert.rejects(
      verifyDetachedSignature({ keys: [signer.publicKey], signed: broken, signature: armoredSig }),
      rocketError(/signature verification failed: .*disk on fire/),
    );
    await assert.rejects(
      verifyDetachedSignature({
        keys: [signer.publicKey],
        signed: join(tmp.path, 'missing.aci'),
        signature: armoredSig,
      }),
      rocketError(/signature verification failed: .*missing.aci: .*ENOENT/),
    );
  });

  void it('streams large data without holding it', async () => {
    const chunk = randomBytes(1 << 20);
    const total = 64;
    const stream = (): Readable =>
      Readable.from(
        (function* () {
          for (let i = 0; i < total; i++) yield chunk;
        })(),
      );
    const openpgp = await import('openpgp');
    const message = await openpgp.createMessage({
      binary: Readable.toWeb(stream()) as ReadableStream<Uint8Array>,
    });
    const signature = await openpgp.sign({ message, signingKeys: signer.privateKey, detached: true });
    let sigText = '';
    for await (const part of signature as AsyncIterable<string>) sigText += part;
    const before = process.memoryUsage().rss;
    const id = await verifyDetachedSignature({
      keys: [signer.publicKey],
      signed: stream(),
      signature: sigText,
    });
    assert.equal(id.fingerprint, signer.fingerprint);
    assert.ok(process.memoryUsage().rss - before < 48 << 20, 'verification should not buffer 64 MiB');
  });
});

describe('checkIdentity', () => {
  void it('names the trusted issuer before any data is read', async () => {
    const id = await checkIdentity(armoredSig, [stranger.publicKey, signer.publicKey], 'example.com/app');
    assert.equal(id.fingerprint, signer.fingerprint);
    assert.deepEqual(id.userIds, ['ACI Builder <aci.builder@example.com>']);
  });

  void it('refuses an unknown issuer with the rkt trust hint', async () => {
    await assert.rejects(
      checkIdentity(armoredSig, [stranger.publicKey], 'example.com/app'),
      rocketError(/no trusted key for example.com\/app .*rkt trust --prefix "example.com\/app"/),
    );
  });
});
