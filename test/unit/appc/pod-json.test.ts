/**
 * podManifestToJSON with apps the caller knows to be valid (`rkt app add`: the pod's other apps,
 * read and validated with the manifest): the same JSON as a full validation; the other apps, the
 * pod's own fields and the uniqueness of every app name are still checked.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { parsePodManifest, podManifestToJSON, type RuntimeApp } from '../../../src/appc/index.js';

const app = (name: string, exec = ['/bin/true']): unknown => ({
  name,
  image: { name: 'example.com/x', id: 'sha512-' + 'a'.repeat(128) },
  app: { exec, user: '0', group: '0' },
});

function pod(names: string[]): ReturnType<typeof parsePodManifest>['manifest'] {
  return parsePodManifest(
    JSON.stringify({
      acVersion: '0.8.11',
      acKind: 'PodManifest',
      apps: names.map((n) => app(n)),
      volumes: [{ name: 'data', kind: 'empty' }],
    }),
  ).manifest;
}

describe('podManifestToJSON with known-valid apps', () => {
  it('writes what a full validation writes', () => {
    const m = pod(['one', 'two']);
    const known = new Set(m.apps);
    m.apps.push(pod(['three']).apps[0] as RuntimeApp);
    assert.equal(podManifestToJSON(m, { validApps: known }), podManifestToJSON(m));
  });

  it('still validates the new app, and every name against every other', () => {
    const m = pod(['one', 'two']);
    const known = new Set(m.apps);
    const bad = { ...(pod(['three']).apps[0] as RuntimeApp), name: 'Not A Name' };
    assert.throws(() => podManifestToJSON({ ...m, apps: [...m.apps, bad] }, { validApps: known }), /name/);
    const dup = pod(['one']).apps[0] as RuntimeApp;
    assert.throws(
      () => podManifestToJSON({ ...m, apps: [...m.apps, dup] }, { validApps: known }),
      /duplicate app name "one"/,
    );
  });

  it('does not walk the apps given as valid again', () => {
    const m = pod(['one']);
    const odd = { ...(m.apps[0] as RuntimeApp), name: 'Not A Name' };
    const withOdd = { ...m, apps: [odd] };
    assert.throws(() => podManifestToJSON(withOdd), /name/);
    assert.doesNotThrow(() => podManifestToJSON(withOdd, { validApps: new Set([odd]) }));
  });
});
