// Vectors from appc/spec schema/types/resource/quantity_test.go (TestQuantityParse and friends).
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { parseQuantity } from '../../../src/appc/index.js';

const NANO = 1_000_000_000n;

describe('parseQuantity', () => {
  // [input, value in nano-units, style]
  const table: [string, bigint, string][] = [
    ['0', 0n, 'DecimalSI'],
    ['0n', 0n, 'DecimalSI'],
    ['0Ki', 0n, 'BinarySI'],
    ['1', NANO, 'DecimalSI'],
    ['1Ki', 1024n * NANO, 'BinarySI'],
    ['7Mi', 7n * 1024n ** 2n * NANO, 'BinarySI'],
    ['3Ei', 3n * 1024n ** 6n * NANO, 'BinarySI'],
    ['5n', 5n, 'DecimalSI'],
    ['4u', 4000n, 'DecimalSI'],
    ['3m', 3_000_000n, 'DecimalSI'],
    ['8k', 8000n * NANO, 'DecimalSI'],
    ['50k', 50_000n * NANO, 'DecimalSI'],
    ['7M', 7_000_000n * NANO, 'DecimalSI'],
    ['1E', 10n ** 18n * NANO, 'DecimalSI'],
    ['1E-3', 1_000_000n, 'DecimalExponent'],
    ['1e3', 1000n * NANO, 'DecimalExponent'],
    ['1.3E+6', 1_300_000n * NANO, 'DecimalExponent'],
    ['100.035k', 100_035n * NANO, 'DecimalSI'],
    ['0.0005k', NANO / 2n, 'DecimalSI'],
    ['0.5e-2', 5_000_000n, 'DecimalExponent'],
    ['9.01', 9_010_000_000n, 'DecimalSI'],
    ['3.001n', 4n, 'DecimalSI'], // rounded up
    ['1.1E-9', 2n, 'DecimalExponent'],
    ['0.0000000005', 1n, 'DecimalSI'],
    ['0.00000012345', 124n, 'DecimalSI'],
    ['100.035Ki', 102_435_840_000_000n, 'BinarySI'],
    ['0.5Mi', 512n * 1024n * NANO, 'BinarySI'],
    ['0.000000000001Ki', 2n, 'DecimalSI'], // below one unit: format changes
    ['.001', 1_000_000n, 'DecimalSI'],
    ['1.', NANO, 'DecimalSI'],
    ['1.G', 10n ** 9n * NANO, 'DecimalSI'],
    ['-1.5', -1_500_000_000n, 'DecimalSI'],
    ['+1.5', 1_500_000_000n, 'DecimalSI'],
  ];
  for (const [input, nano, style] of table) {
    it(`parses ${input}`, () => {
      const q = parseQuantity(input);
      assert.equal(q.nano, nano);
      assert.equal(q.style, style);
    });
  }
  const invalid = [
    '',
    '1.1.M',
    '1+1.0M',
    '0.1mi',
    '0.1am',
    'aoeu',
    '.5i',
    '1i',
    '-3.01i',
    '-3.01e-',
    ' 1',
    '1 ',
    '1K',
    '.',
    '1KB',
  ];
  for (const input of invalid)
    it(`rejects ${JSON.stringify(input)}`, () => assert.throws(() => parseQuantity(input), /is not valid/));
  it('rejects magnitudes above 2^63-1 (the reference clamps or allows them)', () => {
    assert.equal(parseQuantity('9223372036854775807').value(), 2n ** 63n - 1n);
    for (const s of ['9223372036854775808', '9Ei', '12E', '-9Ei'])
      assert.throws(() => parseQuantity(s), /larger than 2\^63-1/, s);
  });
  it('treats the spec examples as equal', () => {
    const a = parseQuantity('128974848');
    assert.equal(a.cmp(parseQuantity('125952Ki')), 0);
    assert.equal(a.cmp(parseQuantity('123Mi')), 0);
    assert.equal(parseQuantity('0.3').cmp(parseQuantity('300m')), 0);
  });
  it('gives integer values rounded up', () => {
    assert.equal(parseQuantity('1G').value(), 1_000_000_000n);
    assert.equal(parseQuantity('1.5').value(), 2n);
    assert.equal(parseQuantity('20m').milliValue(), 20n);
    assert.equal(parseQuantity('0.5').milliValue(), 500n);
  });
});

describe('Quantity.format (canonical form, as the reference writes it)', () => {
  const cases: [string, string][] = [
    ['0', '0'],
    ['0Mi', '0'],
    ['1', '1'],
    ['1000m', '1'],
    ['1.5', '1500m'],
    ['50k', '50k'],
    ['100.035k', '100035'],
    ['1Ki', '1Ki'],
    ['1024', '1024'],
    ['0.5Mi', '512Ki'],
    ['1536Mi', '1536Mi'],
    ['1.5Gi', '1536Mi'],
    ['1e3', '1e3'],
    ['1.3E+6', '1300e3'],
    ['1E-3', '1e-3'],
    ['3.001n', '4n'],
    ['-1.5Gi', '-1536Mi'],
    ['20m', '20m'],
    ['1G', '1G'],
    ['1000M', '1G'],
  ];
  for (const [input, want] of cases)
    it(`${input} → ${want}`, () => assert.equal(parseQuantity(input).format(), want));
});
