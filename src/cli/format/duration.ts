import { InvalidArgumentError } from 'commander';

/** Nanoseconds per unit, as Go's time.ParseDuration knows them. */
const UNITS: Readonly<Record<string, bigint>> = {
  ns: 1n,
  us: 1_000n,
  '\u00b5s': 1_000n, // micro sign
  '\u03bcs': 1_000n, // Greek mu
  ms: 1_000_000n,
  s: 1_000_000_000n,
  m: 60_000_000_000n,
  h: 3_600_000_000_000n,
};

const MAX_DURATION = (1n << 63n) - 1n;

/**
 * Go's time.ParseDuration (pflag's DurationVar, e.g. `--grace-period=24h0m0s`): a signed sequence of
 * decimal numbers with units (`1h30m`, `1.5s`, `300ms`), or `0`. Returns nanoseconds. Errors carry
 * Go's messages.
 */
export function parseGoDuration(input: string): bigint {
  const quoted = JSON.stringify(input);
  const invalid = () => new Error(`time: invalid duration ${quoted}`);
  let s = input;
  let negative = false;
  if (s.startsWith('-') || s.startsWith('+')) {
    negative = s.startsWith('-');
    s = s.slice(1);
  }
  if (s === '0') return 0n;
  if (s === '') throw invalid();
  let total = 0n;
  while (s !== '') {
    const m = /^(\d*)(?:\.(\d*))?/.exec(s);
    const whole = m?.[1] ?? '';
    const frac = m?.[2];
    if (whole === '' && (frac === undefined || frac === '')) throw invalid();
    s = s.slice(m?.[0].length ?? 0);
    const unitMatch = /^[^0-9.]+/.exec(s);
    if (unitMatch === null) throw new Error(`time: missing unit in duration ${quoted}`);
    const unitName = unitMatch[0];
    const unit = UNITS[unitName];
    if (unit === undefined)
      throw new Error(`time: unknown unit ${JSON.stringify(unitName)} in duration ${quoted}`);
    s = s.slice(unitName.length);
    let value = BigInt(whole === '' ? '0' : whole) * unit;
    if (frac !== undefined && frac !== '') {
      // Go keeps the fraction's precision down to the nanosecond, truncating the rest.
      const scale = 10n ** BigInt(frac.length);
      value += (BigInt(frac) * unit) / scale;
    }
    total += value;
    if (total > MAX_DURATION) throw invalid();
  }
  return negative ? -total : total;
}

/** A commander argument parser for a Go duration flag, giving milliseconds. */
export function goDurationMsParser(value: string): number {
  try {
    return Number(parseGoDuration(value)) / 1e6;
  } catch (err) {
    throw new InvalidArgumentError((err as Error).message);
  }
}
