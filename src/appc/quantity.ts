/**
 * Resource quantities (spec/ace.md "Resource Isolators"; grammar of the reference's vendored
 * Kubernetes `resource.Quantity`). Values are kept exactly, as a bigint count of nano-units, never
 * as floats.
 *
 * Grammar: `[+-]` number (`12`, `1.5`, `.5`, `5.`) then one suffix: binary `Ki Mi Gi Ti Pi Ei`,
 * decimal `n u m "" k M G T P E` (lower-case `k`: `K` is rejected as by the reference even though
 * the spec prose lists it), or an exponent `e<int>`/`E<int>`. Precision finer than 1n is rounded
 * away from zero, like the reference. Unlike the reference (which silently clamps binary values to
 * 2^63-1 and lets decimal ones grow), magnitudes above 2^63-1 base units are rejected.
 */

export type QuantityStyle = 'DecimalSI' | 'BinarySI' | 'DecimalExponent';

const NANO_PER_UNIT = 1_000_000_000n;
const MAX_BASE_UNITS = 2n ** 63n - 1n;

const DECIMAL_SUFFIXES: Record<string, number> = {
  n: -9,
  u: -6,
  m: -3,
  '': 0,
  k: 3,
  M: 6,
  G: 9,
  T: 12,
  P: 15,
  E: 18,
};
const BINARY_SUFFIXES: Record<string, number> = { Ki: 10, Mi: 20, Gi: 30, Ti: 40, Pi: 50, Ei: 60 };
const QUANTITY = /^([+-]?)(\d*)(?:\.(\d*))?(Ki|Mi|Gi|Ti|Pi|Ei|[eE][+-]?\d+|[numkMGTPE]?)$/;

export class Quantity {
  /** The exact value in units of 10^-9 of the base unit. */
  readonly nano: bigint;
  /** How the value was written, which decides how format() writes it back. */
  readonly style: QuantityStyle;

  constructor(nano: bigint, style: QuantityStyle = 'DecimalSI') {
    this.nano = nano;
    this.style = style;
  }

  /** Value in base units, rounded away from zero (as the reference's Value()). */
  value(): bigint {
    return divideAwayFromZero(this.nano, NANO_PER_UNIT);
  }

  /** Value in thousandths of the base unit, rounded away from zero (cpu millicores). */
  milliValue(): bigint {
    return divideAwayFromZero(this.nano, 1_000_000n);
  }

  cmp(other: Quantity): number {
    return this.nano < other.nano ? -1 : this.nano > other.nano ? 1 : 0;
  }

  /** The canonical string the reference writes (`1.5` → `1500m`, `0.5Mi` → `512Ki`, `1e3` → `1e3`). */
  format(): string {
    if (this.nano === 0n) return '0';
    if (this.style === 'BinarySI') {
      const abs = this.nano < 0n ? -this.nano : this.nano;
      // Binary notation only for whole numbers of at least 1Ki; anything else is written decimally.
      if (abs >= 1024n * NANO_PER_UNIT && abs % NANO_PER_UNIT === 0n)
        return formatBinary(this.nano / NANO_PER_UNIT);
      return formatDecimal(this.nano, 'DecimalSI');
    }
    return formatDecimal(this.nano, this.style);
  }

  toString(): string {
    return this.format();
  }
}

/** Parses a quantity string; throws an Error whose message says why. */
export function parseQuantity(s: string): Quantity {
  const m = QUANTITY.exec(s);
  const [, sign = '', whole = '', fraction = '', suffix = ''] = m ?? [];
  if (m === null || (whole === '' && fraction === ''))
    throw new Error(`quantity ${JSON.stringify(s)} is not valid`);
  let digits = BigInt(whole + fraction);
  let exponent10 = -fraction.length;
  let style: QuantityStyle = 'DecimalSI';
  const binary = BINARY_SUFFIXES[suffix];
  if (binary !== undefined) {
    digits <<= BigInt(binary);
    style = 'BinarySI';
  } else if (suffix !== '' && (suffix[0] === 'e' || suffix[0] === 'E') && suffix.length > 1) {
    exponent10 += Number(suffix.slice(1));
    style = 'DecimalExponent';
  } else {
    exponent10 += DECIMAL_SUFFIXES[suffix] ?? 0;
  }
  let nano = scaleToNano(digits, exponent10);
  if (sign === '-') nano = -nano;
  const abs = nano < 0n ? -nano : nano;
  if (abs > MAX_BASE_UNITS * NANO_PER_UNIT)
    throw new Error(`quantity ${JSON.stringify(s)} is larger than 2^63-1`);
  // A binary quantity below one unit cannot be written with a binary suffix.
  if (style === 'BinarySI' && abs > 0n && abs < NANO_PER_UNIT) style = 'DecimalSI';
  return new Quantity(nano, style);
}

/** digits × 10^exponent10 in nano-units, rounding away from zero. */
function scaleToNano(digits: bigint, exponent10: number): bigint {
  const shift = exponent10 + 9;
  if (shift >= 0) return digits * 10n ** BigInt(shift);
  return divideAwayFromZero(digits, 10n ** BigInt(-shift));
}

function divideAwayFromZero(n: bigint, d: bigint): bigint {
  const q = n / d;
  if (n % d === 0n) return q;
  return n < 0n ? q - 1n : q + 1n;
}

/** Mantissa and an exponent that is a multiple of 3, with as few digits as possible (k8s canonical form). */
function formatDecimal(nano: bigint, style: QuantityStyle): string {
  let mantissa = nano;
  let exponent = -9;
  while (mantissa % 1000n === 0n && exponent < 18) {
    mantissa /= 1000n;
    exponent += 3;
  }
  if (style === 'DecimalExponent') return exponent === 0 ? `${mantissa}` : `${mantissa}e${exponent}`;
  const suffix = Object.keys(DECIMAL_SUFFIXES).find((k) => DECIMAL_SUFFIXES[k] === exponent) ?? '';
  return `${mantissa}${suffix}`;
}

function formatBinary(units: bigint): string {
  const names = ['', 'Ki', 'Mi', 'Gi', 'Ti', 'Pi', 'Ei'];
  let mantissa = units;
  let i = 0;
  while (i < names.length - 1 && mantissa % 1024n === 0n) {
    mantissa /= 1024n;
    i++;
  }
  return `${mantissa}${names[i]}`;
}
