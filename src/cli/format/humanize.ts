/**
 * Human-readable sizes and times as rkt prints them (through github.com/dustin/go-humanize and Go's
 * time layouts), so that `rkt image list` and `rkt list` output matches rkt's byte for byte.
 */

const IEC_SUFFIXES = ['B', 'KiB', 'MiB', 'GiB', 'TiB', 'PiB', 'EiB'] as const;

/**
 * go-humanize IBytes: below 10 bytes `NB`; otherwise the value in the largest IEC unit, rounded to
 * one decimal, shown with one decimal below 10 (`1.5KiB`) and none from 10 up (`79MiB`).
 */
export function humanizeIBytes(bytes: number): string {
  if (bytes < 10) return `${bytes}B`;
  const exp = Math.floor(Math.log(bytes) / Math.log(1024));
  const suffix = IEC_SUFFIXES[exp] ?? 'EiB';
  const value = Math.floor((bytes / Math.pow(1024, exp)) * 10 + 0.5) / 10;
  return value < 10 ? `${value.toFixed(1)}${suffix}` : `${roundHalfEven(value)}${suffix}`;
}

/** Go's `%.0f` rounds exact halves to even (10.5 → 10); JS toFixed rounds them up. */
function roundHalfEven(value: number): number {
  const tenths = Math.round(value * 10);
  const whole = Math.floor(tenths / 10);
  const frac = tenths - whole * 10;
  if (frac > 5 || (frac === 5 && whole % 2 === 1)) return whole + 1;
  return whole;
}

const MINUTE = 60;
const HOUR = 60 * MINUTE;
const DAY = 24 * HOUR;
const WEEK = 7 * DAY;
const MONTH = 30 * DAY;
const YEAR = 12 * MONTH;
const LONG_TIME = 37 * YEAR;

/** go-humanize's magnitudes: the first row whose bound exceeds the difference (in seconds) wins. */
const MAGNITUDES: readonly { below: number; format: (diff: number, label: string) => string }[] = [
  { below: 1, format: () => 'now' },
  { below: 2, format: (_, l) => `1 second ${l}` },
  { below: MINUTE, format: (d, l) => `${d} seconds ${l}` },
  { below: 2 * MINUTE, format: (_, l) => `1 minute ${l}` },
  { below: HOUR, format: (d, l) => `${Math.trunc(d / MINUTE)} minutes ${l}` },
  { below: 2 * HOUR, format: (_, l) => `1 hour ${l}` },
  { below: DAY, format: (d, l) => `${Math.trunc(d / HOUR)} hours ${l}` },
  { below: 2 * DAY, format: (_, l) => `1 day ${l}` },
  { below: WEEK, format: (d, l) => `${Math.trunc(d / DAY)} days ${l}` },
  { below: 2 * WEEK, format: (_, l) => `1 week ${l}` },
  { below: MONTH, format: (d, l) => `${Math.trunc(d / WEEK)} weeks ${l}` },
  { below: 2 * MONTH, format: (_, l) => `1 month ${l}` },
  { below: YEAR, format: (d, l) => `${Math.trunc(d / MONTH)} months ${l}` },
  { below: 18 * MONTH, format: (_, l) => `1 year ${l}` },
  { below: 2 * YEAR, format: (_, l) => `2 years ${l}` },
  { below: LONG_TIME, format: (d, l) => `${Math.trunc(d / YEAR)} years ${l}` },
  { below: Infinity, format: (_, l) => `a long while ${l}` },
];

/** go-humanize Time: `now`, `5 minutes ago`, `3 days from now`, ... The difference is in whole Unix seconds. */
export function humanizeTime(then: Date, now: Date = new Date()): string {
  const thenSec = Math.floor(then.getTime() / 1000);
  const nowSec = Math.floor(now.getTime() / 1000);
  const future = then.getTime() > now.getTime();
  const diff = future ? thenSec - nowSec : nowSec - thenSec;
  const label = future ? 'from now' : 'ago';
  const row = MAGNITUDES.find((m) => m.below > diff);
  return row === undefined ? `a long while ${label}` : row.format(diff, label);
}

const pad = (n: number, width = 2) => String(n).padStart(width, '0');

/**
 * A local time in Go's layout `2006-01-02 15:04:05.999 -0700 MST` (rkt's `--full` times): the
 * fraction drops its trailing zeros (and its dot when zero).
 */
export function formatGoTime(date: Date, zoneName: (d: Date) => string = localZoneAbbreviation): string {
  const ms = date.getMilliseconds();
  const fraction = ms === 0 ? '' : '.' + pad(ms, 3).replace(/0+$/, '');
  const offsetMin = -date.getTimezoneOffset();
  const sign = offsetMin < 0 ? '-' : '+';
  const abs = Math.abs(offsetMin);
  const offset = `${sign}${pad(Math.trunc(abs / 60))}${pad(abs % 60)}`;
  return (
    `${date.getFullYear()}-${pad(date.getMonth() + 1)}-${pad(date.getDate())} ` +
    `${pad(date.getHours())}:${pad(date.getMinutes())}:${pad(date.getSeconds())}${fraction} ` +
    `${offset} ${zoneName(date)}`
  );
}

/**
 * The zone abbreviation Go would print. ICU's short names are used; where ICU has none it says
 * `GMT+5:30`, and Go (reading tzdata) says `+0530`, so that form is rewritten.
 */
export function localZoneAbbreviation(date: Date): string {
  const name =
    new Intl.DateTimeFormat('en-US', { timeZoneName: 'short' })
      .formatToParts(date)
      .find((p) => p.type === 'timeZoneName')?.value ?? 'UTC';
  const m = /^GMT([+-])(\d{1,2})(?::(\d{2}))?$/.exec(name);
  if (m === null) return name;
  const [, sign = '+', hours = '0', minutes] = m;
  return `${sign}${hours.padStart(2, '0')}${minutes ?? ''}`;
}
