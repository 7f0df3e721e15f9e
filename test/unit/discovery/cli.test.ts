/** `actool discover` output with a fake transport: lines, JSON, failures and exit codes. */
import assert from 'node:assert/strict';
import { Readable } from 'node:stream';
import { describe, test } from 'node:test';
import { goMarshalIndent, runDiscover, type DiscoverFlags } from '../../../src/cli/actool/discover.js';
import { hostGoArch, hostGoOS, type DiscoveryTransport } from '../../../src/discovery/index.js';

function transport(pages: Record<string, string>): DiscoveryTransport & { urls: string[] } {
  const urls: string[] = [];
  return {
    urls,
    get(url) {
      urls.push(url.href);
      const body = pages[url.pathname];
      return Promise.resolve({
        status: body === undefined ? 404 : 200,
        body: Readable.from([Buffer.from(body ?? '')]),
        discard: () => Promise.resolve(),
      });
    },
    close: () => Promise.resolve(),
  };
}

async function run(
  names: string[],
  pages: Record<string, string>,
  flags: Partial<DiscoverFlags> = {},
): Promise<{ code: number; out: string[]; err: string[]; urls: string[] }> {
  const out: string[] = [];
  const err: string[] = [];
  const t = transport(pages);
  const code = await runDiscover(
    names,
    { json: false, insecure: false, port: 0, ...flags },
    { out: (l) => out.push(l), err: (l) => err.push(l) },
    { transport: t },
  );
  return { code, out, err, urls: t.urls };
}

const ROOT =
  '<meta name=ac-discovery content="a.com https://s/{name}-{version}-{os}-{arch}.{ext}?x=<&>">' +
  '<meta name=ac-discovery-pubkeys content="a.com https://a.com/k1">' +
  '<meta name=ac-discovery-pubkeys content="a.com https://a.com/k2">';

describe('runDiscover', () => {
  const suffix = `latest-${hostGoOS()}-${hostGoArch()}`;

  test('walk lines, then endpoints and keys', async () => {
    const r = await run(['a.com/p/app'], { '/': ROOT });
    assert.equal(r.code, 0);
    assert.deepEqual(r.err, []);
    assert.deepEqual(r.out, [
      'discover endpoints walk: prefix: a.com/p/app error: expected a 200 OK got 404',
      'discover endpoints walk: prefix: a.com/p error: expected a 200 OK got 404',
      'discover public keys walk: prefix: a.com/p/app error: expected a 200 OK got 404',
      'discover public keys walk: prefix: a.com/p error: expected a 200 OK got 404',
      `ACI: https://s/a.com/p/app-${suffix}.aci?x=<&>, ASC: https://s/a.com/p/app-${suffix}.aci.asc?x=<&>`,
      'PublicKeys: https://a.com/k1,https://a.com/k2',
    ]);
    assert.equal(r.urls.length, 3, 'each level is fetched once');
  });

  test('--json is Go MarshalIndent with HTML escaping', async () => {
    const r = await run(['a.com/app:1,os=linux,arch=arm64'], { '/': ROOT }, { json: true });
    assert.equal(r.code, 0);
    assert.deepEqual(r.out.slice(2), [
      [
        '{',
        '    "ACIEndpoints": [',
        '        {',
        '            "ACI": "https://s/a.com/app-1-linux-arm64.aci?x=\\u003c\\u0026\\u003e",',
        '            "ASC": "https://s/a.com/app-1-linux-arm64.aci.asc?x=\\u003c\\u0026\\u003e"',
        '        }',
        '    ],',
        '    "PublicKeys": [',
        '        "https://a.com/k1",',
        '        "https://a.com/k2"',
        '    ]',
        '}',
      ].join('\n'),
    ]);
  });

  test('no endpoints: one stderr line, exit 1, no walk lines', async () => {
    const r = await run(['a.com/app'], {});
    assert.deepEqual(r, {
      code: 1,
      out: [],
      err: ['error fetching endpoints for a.com/app: discovery failed'],
      urls: r.urls,
    });
  });

  test('no keys: endpoint walk lines printed, then the error', async () => {
    const r = await run(['a.com/app'], {
      '/': '<meta name=ac-discovery content="a.com https://s/{name}.{ext}">',
    });
    assert.equal(r.code, 1);
    assert.deepEqual(r.out, ['discover endpoints walk: prefix: a.com/app error: expected a 200 OK got 404']);
    assert.deepEqual(r.err, ['error fetching public keys for a.com/app: discovery failed']);
  });

  test('apps run in order until one fails', async () => {
    const r = await run(['a.com/x', 'b.com/y', 'a.com/z'], { '/': ROOT });
    assert.equal(r.code, 1);
    assert.equal(r.out.filter((l) => l.startsWith('ACI: ')).length, 1);
    assert.deepEqual(r.err, ['error fetching endpoints for b.com/y: discovery failed']);
  });

  test('a bad app string', async () => {
    const r = await run(['Bad Name'], {});
    assert.equal(r.code, 1);
    assert.deepEqual(r.err, [
      'Bad Name: ACIdentifier must contain only lower case alphanumeric characters plus "-._~/"',
    ]);
  });

  test('no names: the reference message, exit 0', async () => {
    const r = await run([], {});
    assert.deepEqual(r, { code: 0, out: [], err: ['discover: at least one name required'], urls: [] });
  });
});

describe('goMarshalIndent', () => {
  test('Go encoding/json details', () => {
    assert.equal(goMarshalIndent(null), 'null');
    assert.equal(goMarshalIndent([]), '[]');
    assert.equal(goMarshalIndent({}), '{}');
    assert.equal(
      goMarshalIndent('a"\\\n\r\t\b\f\u0001\u2028<>&é'),
      '"a\\"\\\\\\n\\r\\t\\u0008\\u000c\\u0001\\u2028\\u003c\\u003e\\u0026é"',
    );
    assert.equal(
      goMarshalIndent({ A: ['x'], B: null }),
      '{\n    "A": [\n        "x"\n    ],\n    "B": null\n}',
    );
  });
});
