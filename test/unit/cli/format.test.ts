import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { parseGoDuration, goDurationMsParser } from '../../../src/cli/format/duration.js';
import {
  formatGoTime,
  humanizeIBytes,
  humanizeTime,
  localZoneAbbreviation,
} from '../../../src/cli/format/humanize.js';
import { goIndent, goJsonArray, goJsonString } from '../../../src/cli/format/json.js';
import { parseGoBool, parseOptionList } from '../../../src/cli/format/options.js';
import { formatTable, tabwrite } from '../../../src/cli/format/tabwriter.js';

// Fixed for the Go time layout checks; node --test runs each file in its own process.
process.env.TZ = 'UTC';

describe('humanizeIBytes (go-humanize IBytes)', () => {
  const cases: [number, string][] = [
    [0, '0B'],
    [9, '9B'],
    [10, '10B'],
    [1023, '1023B'],
    [1024, '1.0KiB'],
    [1536, '1.5KiB'],
    [10 * 1024 - 1, '10KiB'],
    [10752, '10KiB'], // 10.5: Go's %.0f rounds halves to even
    [11776, '12KiB'], // 11.5
    [82854982, '79MiB'],
    [5 * 1024 ** 3, '5.0GiB'],
    [1024 ** 4 * 300, '300TiB'],
  ];
  for (const [n, want] of cases) it(`${n} → ${want}`, () => assert.equal(humanizeIBytes(n), want));
});

describe('humanizeTime (go-humanize Time)', () => {
  const now = new Date(Date.UTC(2024, 5, 1, 12, 0, 0, 500));
  const ago = (seconds: number) => new Date(now.getTime() - seconds * 1000);
  const cases: [number, string][] = [
    [0, 'now'],
    [1, '1 second ago'],
    [59, '59 seconds ago'],
    [60, '1 minute ago'],
    [119, '1 minute ago'],
    [120, '2 minutes ago'],
    [3600, '1 hour ago'],
    [7200, '2 hours ago'],
    [86400, '1 day ago'],
    [6 * 86400, '6 days ago'],
    [7 * 86400, '1 week ago'],
    [3 * 7 * 86400, '3 weeks ago'],
    [30 * 86400, '1 month ago'],
    [100 * 86400, '3 months ago'],
    [400 * 86400, '1 year ago'],
    [600 * 86400, '2 years ago'],
    [3 * 360 * 86400, '3 years ago'],
    [40 * 360 * 86400, 'a long while ago'],
    [-300, '5 minutes from now'],
  ];
  for (const [s, want] of cases) it(`${s}s → ${want}`, () => assert.equal(humanizeTime(ago(s), now), want));

  it('counts whole Unix seconds, as Go does', () => {
    // 12:00:00.500 minus 0.6s is 11:59:59.900: a different second, so "1 second ago".
    assert.equal(humanizeTime(new Date(now.getTime() - 600), now), '1 second ago');
    assert.equal(humanizeTime(new Date(now.getTime() - 400), now), 'now');
  });
});

describe('formatGoTime (layout 2006-01-02 15:04:05.999 -0700 MST)', () => {
  it('drops trailing zeros of the fraction, and the dot when there is none', () => {
    assert.equal(
      formatGoTime(new Date(Date.UTC(2017, 2, 4, 5, 6, 7, 120))),
      '2017-03-04 05:06:07.12 +0000 UTC',
    );
    assert.equal(formatGoTime(new Date(Date.UTC(2017, 2, 4, 5, 6, 7, 0))), '2017-03-04 05:06:07 +0000 UTC');
    assert.equal(
      formatGoTime(new Date(Date.UTC(2017, 11, 31, 23, 59, 59, 7))),
      '2017-12-31 23:59:59.007 +0000 UTC',
    );
  });
  it('takes the zone name from the given function', () => {
    assert.match(
      formatGoTime(new Date(0), () => 'CET'),
      / \+0000 CET$/,
    );
  });
  it('names UTC as Go does', () => assert.equal(localZoneAbbreviation(new Date(0)), 'UTC'));
});

describe('tabwrite (Go text/tabwriter 0, 8, 1, tab padding)', () => {
  it('pads columns with tabs to the widest cell plus one, rounded to 8', () => {
    const out = formatTable([
      ['ID', 'NAME', 'SIZE'],
      ['sha512-0123456789ab', 'example.com/x:1.0', '1.0KiB'],
    ]);
    assert.equal(out, 'ID\t\t\tNAME\t\t\tSIZE\n' + 'sha512-0123456789ab\texample.com/x:1.0\t1.0KiB\n');
  });
  it('a cell exactly a tab stop wide gets one more tab stop (padding 1)', () => {
    assert.equal(
      formatTable([
        ['12345678', 'x'],
        ['a', 'y'],
      ]),
      '12345678\tx\na\t\ty\n',
    );
  });
  it('ignores the last cell of each line and splits column blocks at shorter lines', () => {
    const out = tabwrite('aaaaaaaaaaaa\tb\nno tabs here\nc\td\n');
    assert.equal(out, 'aaaaaaaaaaaa\tb\nno tabs here\nc\td\n');
  });
  it('keeps a header-only table', () => {
    assert.equal(formatTable([['ID', 'NAME', 'LAST USED']]), 'ID\tNAME\tLAST USED\n');
  });
  it('counts code points, not UTF-16 units', () => {
    assert.equal(
      formatTable([
        ['ééééééé', 'x'],
        ['1234567', 'y'],
      ]),
      'ééééééé\tx\n1234567\ty\n',
    );
  });
});

describe('option lists (rkt OptionList)', () => {
  const permitted = ['name', 'importtime', 'lastused', 'size'];
  it('parses comma lists case-insensitively, keeping order', () => {
    assert.deepEqual(parseOptionList('Size,NAME', permitted), ['size', 'name']);
    assert.deepEqual(parseOptionList('', permitted), []);
  });
  it('rejects unknown and repeated names with rkt messages', () => {
    assert.throws(() => parseOptionList('name,id', permitted), /unknown option "id"/);
    assert.throws(() => parseOptionList('name,name', permitted), /duplicated option "name"/);
  });
  it('parses Go booleans', () => {
    assert.equal(parseGoBool('false'), false);
    assert.equal(parseGoBool('T'), true);
    assert.throws(() => parseGoBool('yes'), /invalid syntax/);
  });
});

describe('parseGoDuration (time.ParseDuration)', () => {
  const ok: [string, bigint][] = [
    ['24h0m0s', 86_400_000_000_000n],
    ['0', 0n],
    ['0s', 0n],
    ['1h30m', 5_400_000_000_000n],
    ['1.5h', 5_400_000_000_000n],
    ['300ms', 300_000_000n],
    ['-1m', -60_000_000_000n],
    ['+2s', 2_000_000_000n],
    ['1µs', 1_000n],
    ['1us', 1_000n],
    ['.5s', 500_000_000n],
    ['1.0000000019s', 1_000_000_001n],
  ];
  for (const [s, want] of ok) {
    it(`${s} → ${want}ns`, () => assert.equal(parseGoDuration(s), want));
  }
  it('accepts a dot with no fraction', () => assert.equal(parseGoDuration('1.s'), 1_000_000_000n));
  const bad: [string, RegExp][] = [
    ['', /^time: invalid duration ""$/],
    ['1', /^time: missing unit in duration "1"$/],
    ['1d', /^time: unknown unit "d" in duration "1d"$/],
    ['.', /invalid duration/],
    ['h', /invalid duration/],
    ['1.5.5s', /missing unit/],
    ['9999999999h', /invalid duration/],
  ];
  for (const [s, re] of bad)
    it(`rejects ${JSON.stringify(s)}`, () => assert.throws(() => parseGoDuration(s), { message: re }));
  it('gives commander milliseconds', () => assert.equal(goDurationMsParser('1.5s'), 1500));
});

describe('Go JSON', () => {
  it('escapes HTML characters as encoding/json does', () => {
    assert.equal(goJsonString('a<b>&c'), '"a\\u003cb\\u003e\\u0026c"');
  });
  it('writes arrays of raw members compact and indented', () => {
    const items = [
      [
        ['id', '"x"'],
        ['n', '1'],
      ] as const,
    ];
    assert.equal(goJsonArray(items), '[{"id":"x","n":1}]');
    assert.equal(goJsonArray(items, '\t'), '[\n\t{\n\t\t"id": "x",\n\t\t"n": 1\n\t}\n]');
  });
  it('re-indents with tabs', () =>
    assert.equal(goIndent('{"a":[1],"b":"<"}', '\t'), '{\n\t"a": [\n\t\t1\n\t],\n\t"b": "\\u003c"\n}'));
});
