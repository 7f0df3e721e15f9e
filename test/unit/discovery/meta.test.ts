/** Discovery meta tags: the reference testdata pages and the HTML forms the tokenizer accepts. */
import assert from 'node:assert/strict';
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import { describe, test } from 'node:test';
import { extractACMeta, readACMeta, type ACMeta } from '../../../src/discovery/index.js';
import { projectRoot } from '../../helpers.js';

const fixture = (n: string): Promise<string> =>
  readFile(join(projectRoot, 'test/fixtures/discovery', n), 'utf8');

const TEMPLATE = 'https://storage.example.com/{name}-{version}-{os}-{arch}.{ext}';
const disc = (uri: string, prefix = 'example.com'): ACMeta => ({ name: 'ac-discovery', prefix, uri });
const keys = (uri: string, prefix = 'example.com'): ACMeta => ({ name: 'ac-discovery-pubkeys', prefix, uri });

describe('reference testdata pages', () => {
  const expected: Record<string, ACMeta[]> = {
    'meta01.html': [disc(TEMPLATE), keys('https://example.com/pubkeys.gpg')],
    'meta02.html': [disc(TEMPLATE)],
    'meta03.html': [keys('https://example.com/pubkeys.gpg')],
    'meta04.html': [
      disc('https://another.storage.example.com/{name}-{version}-{os}-{arch}.{ext}'),
      keys('https://example.com/pubkeys.gpg'),
    ],
    'meta05.html': [
      disc(TEMPLATE),
      disc('https://storage.example.com/{name}-{version}.{ext}'),
      keys('https://example.com/pubkeys.gpg'),
    ],
    'meta06.html': [
      disc(TEMPLATE),
      disc('https://storage.example.com/{name}-{version}.{ext}'),
      disc('hdfs://storage.example.com/{name}-{version}-{os}-{arch}.{ext}'),
      keys('https://example.com/pubkeys.gpg'),
    ],
  };
  for (const [file, metas] of Object.entries(expected)) {
    test(file, async () => {
      assert.deepEqual(extractACMeta(await fixture(file)), metas);
    });
  }

  test('streamed in tiny chunks gives the same tags', async () => {
    const bytes = Buffer.from(await fixture('meta06.html'));
    const chunks: Buffer[] = [];
    for (let i = 0; i < bytes.length; i += 7) chunks.push(bytes.subarray(i, i + 7));
    assert.deepEqual(await readACMeta(Readable.from(chunks)), extractACMeta(bytes.toString('utf8')));
  });
});

describe('tag forms', () => {
  const cases: [string, string, ACMeta[]][] = [
    [
      'upper case and unquoted',
      '<META NAME=ac-discovery CONTENT="a.com https://x/{name}.{ext}">',
      [disc('https://x/{name}.{ext}', 'a.com')],
    ],
    [
      'self-closing',
      '<meta name="ac-discovery-pubkeys" content="a.com https://k"/>',
      [keys('https://k', 'a.com')],
    ],
    [
      'single quotes',
      "<meta content='a.com https://k' name='ac-discovery-pubkeys'>",
      [keys('https://k', 'a.com')],
    ],
    [
      'content trimmed, split at first space',
      '<meta name=ac-discovery content="  a.com   https://x/{ext}  ">',
      [disc('https://x/{ext}', 'a.com')],
    ],
    [
      'a tab does not separate (as the reference)',
      '<meta name=ac-discovery content="a.com\thttps://x/{ext}">',
      [],
    ],
    ['only one part', '<meta name=ac-discovery content="a.com">', []],
    ['empty content', '<meta name=ac-discovery content="">', []],
    ['no content', '<meta name=ac-discovery>', []],
    [
      'other names ignored',
      '<meta name=ac-other content="a.com b"><meta name="AC-DISCOVERY" content="a.com b">',
      [],
    ],
    [
      'entities decoded',
      '<meta name=ac-discovery content="a.com https://x/?a=1&amp;b={ext}">',
      [disc('https://x/?a=1&b={ext}', 'a.com')],
    ],
    ['inside script is text', '<script>"<meta name=ac-discovery content=\'a.com b\'>"</script>', []],
    ['inside a comment', '<!-- <meta name=ac-discovery content="a.com b"> -->', []],
    [
      'in body, no html/head',
      'junk <p><meta name=ac-discovery-pubkeys content="a.com k1"><meta name=ac-discovery-pubkeys content="a.com k2">',
      [keys('k1', 'a.com'), keys('k2', 'a.com')],
    ],
    [
      'last of repeated attributes wins',
      '<meta name=x name=ac-discovery-pubkeys content="a.com k">',
      [keys('k', 'a.com')],
    ],
  ];
  for (const [what, html, metas] of cases) {
    test(what, () => {
      assert.deepEqual(extractACMeta(html), metas);
    });
  }

  test('a body read error keeps what was parsed', async () => {
    const failing = new Readable({ read() {} });
    failing.push(Buffer.from('<meta name=ac-discovery-pubkeys content="a.com k">'));
    setImmediate(() => failing.destroy(new Error('reset')));
    assert.deepEqual(await readACMeta(failing), [keys('k', 'a.com')]);
  });
});
