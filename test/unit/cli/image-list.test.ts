import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import {
  DEFAULT_LIST_OPTIONS,
  displayName,
  renderImageList,
  shortImageId,
  sortImages,
} from '../../../src/cli/rkt/image/list.js';
import type { ImageInfo } from '../../../src/store/index.js';

process.env.TZ = 'UTC';

const now = new Date(Date.UTC(2024, 0, 10, 12, 0, 0));
const key = (c: string) => 'sha512-' + c.repeat(64);

function image(name: string, c: string, opts: Partial<ImageInfo> & { version?: string } = {}): ImageInfo {
  const size = opts.size ?? 2048;
  return {
    key: key(c),
    name,
    labels: opts.version === undefined ? [] : [{ name: 'version', value: opts.version }],
    importTime: opts.importTime ?? new Date(now.getTime() - 3 * 86400_000),
    lastUsed: opts.lastUsed ?? new Date(now.getTime() - 3600_000),
    latest: false,
    size,
    treeStoreSize: opts.treeStoreSize ?? 0,
    totalSize: size + (opts.treeStoreSize ?? 0),
  };
}

const a = image('example.com/a', 'a', {
  version: '1.0',
  size: 300,
  importTime: new Date(now.getTime() - 5000),
});
const b = image('example.com/b', 'b', { size: 5 * 1024 * 1024, treeStoreSize: 1024 * 1024 });
const c = image('example.com/c', 'c', { size: 100, importTime: new Date(now.getTime() - 9 * 86400_000) });

describe('rkt image list rendering', () => {
  it('shortens IDs to sha512- and 12 hex digits', () => {
    assert.equal(shortImageId(key('f')), 'sha512-ffffffffffff');
    assert.equal(shortImageId('sha512-abc'), 'sha512-abc');
  });

  it('shows name:version when there is a version label', () => {
    assert.equal(displayName(a), 'example.com/a:1.0');
    assert.equal(displayName(b), 'example.com/b');
  });

  it('prints the default table: humanized, sorted by import time ascending, Go tabwriter layout', () => {
    const out = renderImageList([a, b, c], DEFAULT_LIST_OPTIONS, now);
    assert.equal(
      out,
      'ID\t\t\tNAME\t\t\tSIZE\tIMPORT TIME\tLAST USED\n' +
        'sha512-cccccccccccc\texample.com/c\t\t100B\t1 week ago\t1 hour ago\n' +
        'sha512-bbbbbbbbbbbb\texample.com/b\t\t6.0MiB\t3 days ago\t1 hour ago\n' +
        'sha512-aaaaaaaaaaaa\texample.com/a:1.0\t300B\t5 seconds ago\t1 hour ago\n',
    );
  });

  it('--no-legend, --fields and --full', () => {
    const out = renderImageList(
      [b],
      { ...DEFAULT_LIST_OPTIONS, legend: false, full: true, fields: ['size', 'id', 'lastused'] },
      now,
    );
    assert.equal(out, `${6 * 1024 * 1024}\t${key('b')}\t2024-01-10 11:00:00 +0000 UTC\n`);
  });

  it('sorts by several fields in one direction; size means the blob size', () => {
    const names = (l: ImageInfo[]) => l.map((i) => i.name.slice(-1)).join('');
    assert.equal(names(sortImages([a, b, c], ['name'], false)), 'cba');
    // b shows the largest SIZE (with its tree) but c's blob is smaller than a's
    assert.equal(names(sortImages([a, b, c], ['size'], true)), 'cab');
    assert.equal(names(sortImages([a, b, c], ['lastused', 'name'], true)), 'abc');
    assert.equal(names(sortImages([b, a, c], [], true)), 'bac');
  });

  it('writes JSON with full values and nanosecond times, and null for no images', () => {
    const out = renderImageList([a], { ...DEFAULT_LIST_OPTIONS, format: 'json' }, now);
    const ns = BigInt(a.importTime.getTime()) * 1_000_000n;
    const used = BigInt(a.lastUsed.getTime()) * 1_000_000n;
    assert.equal(
      out,
      `[{"id":"${key('a')}","name":"example.com/a:1.0","import_time":${ns},"last_used_time":${used},"size":300}]\n`,
    );
    const pretty = renderImageList([a], { ...DEFAULT_LIST_OPTIONS, format: 'json-pretty' }, now);
    assert.ok(pretty.startsWith('[\n\t{\n\t\t"id": "sha512-'));
    assert.deepEqual(JSON.parse(pretty), JSON.parse(out));
    assert.equal(renderImageList([], { ...DEFAULT_LIST_OPTIONS, format: 'json' }, now), 'null\n');
  });
});
