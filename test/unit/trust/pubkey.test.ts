import assert from 'node:assert/strict';
import { PassThrough, Writable } from 'node:stream';
import { before, describe, it } from 'node:test';

import { RocketError } from '../../../src/errors.js';
import {
  TRUST_QUESTION,
  addedKeyMessage,
  formatFingerprint,
  keyReviewText,
  noTerminalHint,
  parsePublicKeys,
  reviewKey,
  trustingMessage,
} from '../../../src/trust/pubkey.js';
import { type TestKey, makeKey } from './keys.js';

class Capture extends Writable {
  text = '';
  override _write(chunk: Buffer, _enc: BufferEncoding, done: () => void): void {
    this.text += chunk.toString();
    done();
  }
}

let key: TestKey;
before(async () => {
  key = await makeKey('CoreOS ACI Builder');
});

describe('parsePublicKeys', () => {
  void it('reads fingerprint, key ID, user IDs and subkeys from armored and binary keys', async () => {
    for (const data of [key.armoredPublic, key.binaryPublic]) {
      const [info, ...more] = await parsePublicKeys(data, 'https://example.com/key.gpg');
      assert.equal(more.length, 0);
      assert.equal(info!.fingerprint, key.fingerprint);
      assert.equal(info!.keyId, key.fingerprint.slice(-16));
      assert.deepEqual(info!.userIds, ['CoreOS ACI Builder <coreos.aci.builder@example.com>']);
      assert.deepEqual(info!.subkeyFingerprints, [key.publicKey.getSubkeys()[0]!.getFingerprint()]);
    }
  });

  void it('names the location when the data is not a key', async () => {
    await assert.rejects(parsePublicKeys('<html>', 'https://example.com/key.gpg'), (err: unknown) => {
      assert.ok(err instanceof RocketError);
      assert.match(err.message, /^https:\/\/example.com\/key.gpg: not an OpenPGP public key/);
      return true;
    });
  });
});

describe('key review text (rkt displayKey)', () => {
  void it('groups a fingerprint like rkt and gpg', () => {
    assert.equal(
      formatFingerprint('8b86de38890ddb7291867b025210bd8888182190'),
      '8B86 DE38 890D DB72 9186  7B02 5210 BD88 8818 2190',
    );
  });

  void it('prints prefix and location to stderr, fingerprints and user IDs to stdout', () => {
    const text = keyReviewText('coreos.com/etcd', 'https://coreos.com/dist/pubkeys/aci-pubkeys.gpg', [
      {
        fingerprint: '8b86de38890ddb7291867b025210bd8888182190',
        keyId: '5210bd8888182190',
        userIds: ['CoreOS ACI Builder <release@coreos.com>'],
        subkeyFingerprints: ['0123456789abcdef0123456789abcdef01234567'],
      },
    ]);
    assert.equal(
      text.stderr,
      'pubkey: prefix: "coreos.com/etcd"\nkey: "https://coreos.com/dist/pubkeys/aci-pubkeys.gpg"\n',
    );
    assert.equal(
      text.stdout,
      'gpg key fingerprint is: 8B86 DE38 890D DB72 9186  7B02 5210 BD88 8818 2190\n' +
        '    Subkey fingerprint: 0123 4567 89AB CDEF 0123  4567 89AB CDEF 0123 4567\n' +
        '\tCoreOS ACI Builder <release@coreos.com>\n',
    );
  });

  void it('has rkt messages around storing', () => {
    assert.equal(
      trustingMessage('key.gpg', 'example.com', true),
      'Trusting "key.gpg" for prefix "example.com" after fingerprint review.',
    );
    assert.equal(
      trustingMessage('key.gpg', '', false),
      'Trusting "key.gpg" for prefix "" without fingerprint review.',
    );
    assert.equal(
      addedKeyMessage('example.com', '/etc/rkt/trustedkeys/prefix.d/example.com/ab'),
      'Added key for prefix "example.com" at "/etc/rkt/trustedkeys/prefix.d/example.com/ab"',
    );
    assert.equal(
      addedKeyMessage('', '/etc/rkt/trustedkeys/root.d/ab'),
      'Added root key at "/etc/rkt/trustedkeys/root.d/ab"',
    );
    assert.match(noTerminalHint('example.com'), /^pubkey: To trust the key for "example.com", do one of/);
  });
});

describe('reviewKey', () => {
  void it('asks until the answer is yes or no', async () => {
    const input = new PassThrough();
    const output = new Capture();
    input.end('y\nYES\nyes\n');
    assert.equal(await reviewKey({ input, output }), true);
    assert.equal(
      output.text,
      `${TRUST_QUESTION}\nPlease enter 'yes' or 'no'\n${TRUST_QUESTION}\nPlease enter 'yes' or 'no'\n${TRUST_QUESTION}\n`,
    );
    assert.equal(TRUST_QUESTION, 'Are you sure you want to trust this key (yes/no)?');
  });

  void it('returns false on no, and shares read-ahead between questions', async () => {
    const input = new PassThrough();
    const output = new Capture();
    input.write('no\nyes\n');
    assert.equal(await reviewKey({ input, output }), false);
    assert.equal(await reviewKey({ input, output }), true);
    const third = reviewKey({ input, output });
    setTimeout(() => input.write('n'), 5);
    setTimeout(() => input.end('o\n'), 10);
    assert.equal(await third, false);
  });

  void it('fails at end of input, including an answer with no newline', async () => {
    for (const typed of ['', 'yes']) {
      const input = new PassThrough();
      input.end(typed);
      await assert.rejects(reviewKey({ input, output: new Capture() }), (err: unknown) => {
        assert.ok(err instanceof RocketError);
        assert.equal(err.exitCode, 254);
        assert.equal(err.message, 'error reviewing key: error reading input: EOF');
        return true;
      });
    }
  });
});
