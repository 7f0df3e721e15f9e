/** Template rendering and the matching of tags to an app. */
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import {
  aciEndpointsFromMeta,
  newApp,
  publicKeysFromMeta,
  renderTemplate,
  type ACMeta,
} from '../../../src/discovery/index.js';

const disc = (uri: string, prefix = 'example.com'): ACMeta => ({ name: 'ac-discovery', prefix, uri });
const keys = (uri: string, prefix = 'example.com'): ACMeta => ({ name: 'ac-discovery-pubkeys', prefix, uri });

const app = newApp('example.com/reduce-worker', [
  ['version', '1.0.0'],
  ['os', 'linux'],
  ['arch', 'amd64'],
]);

describe('renderTemplate', () => {
  test('replaces every occurrence, in order', () => {
    assert.deepEqual(
      renderTemplate('{a}/{b}/{a}', [
        ['a', 'x'],
        ['b', 'y'],
      ]),
      { rendered: 'x/y/x', complete: true },
    );
  });
  test('reports leftovers, including empty braces', () => {
    assert.equal(renderTemplate('{a}-{c}', [['a', 'x']]).complete, false);
    assert.equal(renderTemplate('x{}', []).complete, false);
    assert.equal(renderTemplate('x{\n}', []).complete, true);
    assert.equal(renderTemplate('x}{', []).complete, true);
  });
});

describe('aciEndpointsFromMeta', () => {
  test('the spec example', () => {
    assert.deepEqual(
      aciEndpointsFromMeta(app, [disc('https://storage.example.com/{os}/{arch}/{name}-{version}.{ext}')]),
      [
        {
          aci: 'https://storage.example.com/linux/amd64/example.com/reduce-worker-1.0.0.aci',
          asc: 'https://storage.example.com/linux/amd64/example.com/reduce-worker-1.0.0.aci.asc',
        },
      ],
    );
  });

  test('custom labels render; templates with a missing label are skipped', () => {
    const withChannel = newApp('example.com/app', [['channel', 'beta']]);
    const metas = [disc('https://s/{name}-{channel}.{ext}'), disc('https://s/{name}-{os}.{ext}')];
    assert.deepEqual(aciEndpointsFromMeta(withChannel, metas), [
      { aci: 'https://s/example.com/app-beta.aci', asc: 'https://s/example.com/app-beta.aci.asc' },
    ]);
  });

  test('templates without {ext} are skipped (spec MUST; the reference would return ACI = ASC)', () => {
    assert.deepEqual(aciEndpointsFromMeta(app, [disc('https://s/{name}.tar')]), []);
  });

  test('a label called name does not replace {name}', () => {
    const named = newApp('example.com/myapp', [
      ['name', 'labelcalledname'],
      ['version', '1.0.0'],
    ]);
    assert.deepEqual(aciEndpointsFromMeta(named, [disc('https://s/{name}-{version}.{ext}')]), [
      { aci: 'https://s/example.com/myapp-1.0.0.aci', asc: 'https://s/example.com/myapp-1.0.0.aci.asc' },
    ]);
  });

  test('prefix is a plain string prefix; non-matching tags and pubkey tags are ignored', () => {
    const metas = [
      disc('https://a/{name}.{ext}', 'example.com/reduce'),
      disc('https://b/{name}.{ext}', 'example.org'),
      keys('https://k', 'example.com'),
      disc('https://c/{name}.{ext}', 'example.com/reduce-worker'),
    ];
    assert.deepEqual(
      aciEndpointsFromMeta(app, metas).map((e) => e.aci),
      ['https://a/example.com/reduce-worker.aci', 'https://c/example.com/reduce-worker.aci'],
    );
  });

  test('other schemes are kept, in document order', () => {
    const metas = [disc('https://s/{name}.{ext}'), disc('hdfs://s/{name}.{ext}')];
    assert.deepEqual(
      aciEndpointsFromMeta(app, metas).map((e) => e.asc),
      ['https://s/example.com/reduce-worker.aci.asc', 'hdfs://s/example.com/reduce-worker.aci.asc'],
    );
  });
});

describe('publicKeysFromMeta', () => {
  test('matching pubkey tags, verbatim (not templates)', () => {
    const metas = [
      keys('https://k/{name}'),
      keys('https://other', 'example.org'),
      disc('https://s/{ext}'),
      keys('https://k2'),
    ];
    assert.deepEqual(publicKeysFromMeta(app, metas), ['https://k/{name}', 'https://k2']);
  });
});
