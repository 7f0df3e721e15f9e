// Form decoding (byte-exact) and the identity endpoint's signatures.
import assert from 'node:assert/strict';
import { createHmac } from 'node:crypto';
import { describe, it } from 'node:test';
import { FormError, isFormContentType, parseForm } from '../../../src/metadata/form.js';
import {
  decodeBase64Strict,
  newPodKey,
  newPodToken,
  signContent,
  signatureMatches,
} from '../../../src/metadata/identity.js';

const A = '3f1d8a52-6b2e-4c1a-9a0e-1c2d3e4f5a6b';
const B = '0b7c2f64-9d41-4e8a-b3c5-7f6e5d4c3b2a';

describe('parseForm', () => {
  it('decodes + and %XX to the exact bytes', () => {
    const f = parseForm(Buffer.from('content=a+b%2Bc%00%ff&uuid=x'));
    assert.deepEqual(f.get('content'), Buffer.from([0x61, 0x20, 0x62, 0x2b, 0x63, 0x00, 0xff]));
    assert.equal(f.get('uuid')?.toString(), 'x');
  });

  it('keeps the first of repeated keys, empty values, and keys without =', () => {
    const f = parseForm(Buffer.from('a=1&a=2&b=&&c'));
    assert.equal(f.get('a')?.toString(), '1');
    assert.equal(f.get('b')?.length, 0);
    assert.equal(f.get('c')?.length, 0);
    assert.equal(f.size, 3);
  });

  it('refuses a malformed escape', () => {
    assert.throws(() => parseForm(Buffer.from('content=%zz')), FormError);
    assert.throws(() => parseForm(Buffer.from('content=%4')), FormError);
  });

  it('recognises the form content type with parameters', () => {
    assert.ok(isFormContentType('application/x-www-form-urlencoded'));
    assert.ok(isFormContentType('Application/X-WWW-Form-Urlencoded; charset=utf-8'));
    assert.ok(!isFormContentType('text/plain'));
    assert.ok(!isFormContentType(undefined));
  });
});

describe('signatures', () => {
  const key = newPodKey();
  const content = Buffer.from('Old MacDonald Had A Farm');

  it('is base64 of HMAC-SHA512(key, uuid bytes || content), padded, without a newline', () => {
    const sig = signContent(key, A, content);
    const want = createHmac('sha512', key)
      .update(Buffer.from(A.replace(/-/g, ''), 'hex'))
      .update(content)
      .digest('base64');
    assert.equal(sig, want);
    assert.equal(sig.length, 88);
    assert.ok(sig.endsWith('=='));
  });

  it('verifies only with the same key, UUID and content', () => {
    const sig = decodeBase64Strict(signContent(key, A, content)) as Buffer;
    assert.ok(signatureMatches(key, A, content, sig));
    assert.ok(!signatureMatches(key, B, content, sig));
    assert.ok(!signatureMatches(newPodKey(), A, content, sig));
    assert.ok(!signatureMatches(key, A, Buffer.from('Old MacDonald had a farm'), sig));
    assert.ok(!signatureMatches(key, A, content, sig.subarray(1)));
  });

  it('decodes standard padded base64 only', () => {
    assert.deepEqual(decodeBase64Strict('aGk='), Buffer.from('hi'));
    assert.deepEqual(decodeBase64Strict(''), Buffer.alloc(0));
    for (const bad of ['aGk', 'aGk=\n', 'a-_k', 'aG k=', '====', 'aGk=aGk='])
      assert.equal(decodeBase64Strict(bad), undefined, bad);
  });

  it('makes tokens of 192 random bits', () => {
    const t = newPodToken();
    assert.match(t, /^[0-9a-f]{48}$/);
    assert.notEqual(t, newPodToken());
  });
});
