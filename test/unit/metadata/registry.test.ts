// Registration bodies, app annotation merging, the registry table and the registration API.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { Liveness } from '../../../src/metadata/liveness.js';
import { RegistrationApi } from '../../../src/metadata/registration-api.js';
import {
  Registry,
  RegistrationError,
  mergedAppAnnotations,
  parsePodDescription,
} from '../../../src/metadata/registry.js';
import {
  FakeProbe,
  IMAGE_ID,
  IMAGE_MANIFEST_TEXT,
  UUID_A,
  UUID_B,
  podManifestText,
  registrationBody,
} from './fixtures.js';

describe('parsePodDescription', () => {
  it('reads a registration and keeps the manifests as sent', () => {
    const d = parsePodDescription(UUID_A, registrationBody());
    assert.equal(d.uuid, UUID_A);
    assert.deepEqual(d.ips, ['10.9.0.2']);
    assert.equal(d.hostNetwork, false);
    const web = d.apps.get('web');
    assert.equal(web?.imageId, IMAGE_ID);
    assert.equal(web?.imageManifestText, IMAGE_MANIFEST_TEXT);
  });

  it('takes the host network instead of addresses', () => {
    const d = parsePodDescription(UUID_A, registrationBody({ ips: undefined, hostNetwork: true }));
    assert.equal(d.hostNetwork, true);
    assert.deepEqual(d.ips, []);
  });

  const bad: [string, string, string | Record<string, unknown>][] = [
    ['a UUID not in canonical form', UUID_A.toUpperCase(), {}],
    ['a malformed UUID', 'nope', {}],
    ['a body that is not JSON', UUID_A, '{'],
    ['an unknown field', UUID_A, { extra: 1 }],
    ['a relative data dir', UUID_A, { dataDir: 'var/lib/rkt' }],
    ['no address and no host network', UUID_A, { ips: [] }],
    ['an address with a prefix length', UUID_A, { ips: ['10.9.0.2/24'] }],
    ['something that is not an address', UUID_A, { ips: ['10.9.0.256'] }],
    ['addresses with the host network', UUID_A, { hostNetwork: true }],
    ['an invalid pod manifest', UUID_A, { podManifest: '{"acKind":"PodManifest"}' }],
    ['a missing image manifest', UUID_A, { imageManifests: {} }],
    [
      'an image manifest of no app',
      UUID_A,
      { imageManifests: { web: IMAGE_MANIFEST_TEXT, db: IMAGE_MANIFEST_TEXT } },
    ],
    ['an invalid image manifest', UUID_A, { imageManifests: { web: '{"acKind":"ImageManifest"}' } }],
  ];
  for (const [what, uuid, over] of bad)
    it(`refuses ${what}`, () => {
      const body = typeof over === 'string' ? over : registrationBody(over);
      assert.throws(() => parsePodDescription(uuid, body), RegistrationError);
    });

  it('refuses an app whose image has no id', () => {
    const pm = JSON.stringify({
      acVersion: '0.8.11',
      acKind: 'PodManifest',
      apps: [{ name: 'web', image: { name: 'example.com/web' } }],
    });
    assert.throws(() => parsePodDescription(UUID_A, registrationBody({ podManifest: pm })), /not reified/);
  });
});

describe('mergedAppAnnotations', () => {
  it("is the image's annotations, overridden in place and extended by the pod's", () => {
    const app = parsePodDescription(UUID_A, registrationBody()).apps.get('web');
    assert.ok(app !== undefined);
    assert.deepEqual(mergedAppAnnotations(app), [
      { name: 'shared', value: 'from-pod' },
      { name: 'only-image', value: 'y' },
      { name: 'only-pod', value: 'x' },
    ]);
    // The registered manifest is not changed by merging.
    assert.equal(app.imageManifest.annotations?.[0]?.value, 'from-image');
  });
});

describe('Registry', () => {
  it('gives each registration its own token and key, and replaces a UUID registered again', () => {
    const r = new Registry();
    const a1 = r.add(parsePodDescription(UUID_A, registrationBody()));
    const b = r.add(parsePodDescription(UUID_B, registrationBody({ ips: ['10.9.0.3'] })));
    assert.notEqual(a1.token, b.token);
    assert.ok(!a1.key.equals(b.key));
    const a2 = r.add(parsePodDescription(UUID_A, registrationBody()));
    assert.notEqual(a2.token, a1.token);
    assert.equal(r.withToken(a1.token), undefined);
    assert.equal(r.withToken(a2.token), a2);
    assert.equal(r.withUuid(UUID_A), a2);
    assert.equal(r.all().length, 2);
    assert.ok(r.remove(UUID_A));
    assert.ok(!r.remove(UUID_A));
    assert.equal(r.withToken(a2.token), undefined);
  });
});

describe('RegistrationApi', () => {
  function setup(): { api: RegistrationApi; live: Liveness; probe: FakeProbe; log: string[] } {
    const probe = new FakeProbe();
    const log: string[] = [];
    const live = new Liveness(new Registry(), probe, (l) => log.push(l));
    return { api: new RegistrationApi(live, () => 18112), live, probe, log };
  }
  const req = (method: string, url: string, body = ''): Parameters<RegistrationApi['handle']>[0] => ({
    method,
    url,
    source: '',
    body: Buffer.from(body),
  });

  it('registers a prepared pod and answers its token and the port', () => {
    const { api, probe, live } = setup();
    probe.presences.set(UUID_A, 'pending');
    const r = api.handle(req('PUT', `/pods/${UUID_A}`, registrationBody()));
    assert.equal(r.status, 200, String(r.body));
    assert.equal(r.contentType, 'application/json');
    const answer = JSON.parse(String(r.body)) as { token: string; port: number };
    assert.equal(answer.port, 18112);
    assert.equal(live.registry.withToken(answer.token)?.uuid, UUID_A);
  });

  it('refuses a pod that is not on disk, and a malformed registration', () => {
    const { api, live } = setup();
    assert.equal(api.handle(req('PUT', `/pods/${UUID_A}`, registrationBody())).status, 404);
    const bad = api.handle(req('PUT', `/pods/${UUID_A}`, '[]'));
    assert.equal(bad.status, 400);
    assert.match(String(bad.body), /JSON object/);
    assert.equal(live.registry.all().length, 0);
  });

  it('unregisters, lists without secrets, and forgets pods that are gone', () => {
    const { api, live, probe, log } = setup();
    probe.presences.set(UUID_A, 'running');
    probe.presences.set(UUID_B, 'pending');
    api.handle(req('PUT', `/pods/${UUID_A}`, registrationBody()));
    api.handle(req('PUT', `/pods/${UUID_B}`, registrationBody({ ips: ['10.9.0.3'] })));
    const list = api.handle(req('GET', '/pods'));
    assert.doesNotMatch(String(list.body), /token|key/);
    assert.deepEqual(
      (JSON.parse(String(list.body)) as { uuid: string; presence: string }[]).map((p) => [
        p.uuid,
        p.presence,
      ]),
      [
        [UUID_A, 'running'],
        [UUID_B, 'pending'],
      ],
    );
    probe.presences.set(UUID_A, 'gone');
    assert.deepEqual(live.sweep(), [{ uuid: UUID_B, presence: 'pending' }]);
    assert.ok(log.some((l) => l.includes(`forgot pod ${UUID_A}`)));
    assert.equal(api.handle(req('DELETE', `/pods/${UUID_B}`)).status, 200);
    assert.equal(api.handle(req('DELETE', `/pods/${UUID_B}`)).status, 404);
    assert.equal(String(api.handle(req('GET', '/pods')).body), '[]');
  });

  it('answers 404 and 405 outside its routes', () => {
    const { api } = setup();
    assert.equal(api.handle(req('GET', '/')).status, 404);
    assert.equal(api.handle(req('GET', `/pods/${UUID_A}/web`)).status, 404);
    const r = api.handle(req('POST', `/pods/${UUID_A}`));
    assert.equal(r.status, 405);
    assert.equal(r.headers?.['Allow'], 'PUT, DELETE');
    assert.equal(api.handle(req('DELETE', '/pods')).status, 405);
  });
});

describe('apps of a registered pod updated (rkt app add, rkt app rm)', () => {
  const DB_MANIFEST_TEXT = '{"acKind":"ImageManifest","acVersion":"0.8.11","name":"example.com/db"}';
  function twoApps(): string {
    const pm = JSON.parse(podManifestText()) as { apps: unknown[] };
    pm.apps.push({ name: 'db', image: { name: 'example.com/db', id: IMAGE_ID } });
    return JSON.stringify(pm);
  }
  function setup(): { api: RegistrationApi; live: Liveness; token: string } {
    const probe = new FakeProbe();
    probe.presences.set(UUID_A, 'running');
    const live = new Liveness(new Registry(), probe, () => {});
    const api = new RegistrationApi(live, () => 18112);
    const r = api.handle({
      method: 'PUT',
      url: `/pods/${UUID_A}`,
      source: '',
      body: Buffer.from(registrationBody()),
    });
    return { api, live, token: (JSON.parse(String(r.body)) as { token: string }).token };
  }
  const put = (api: RegistrationApi, uuid: string, body: unknown): ReturnType<RegistrationApi['handle']> =>
    api.handle({
      method: 'PUT',
      url: `/pods/${uuid}/apps`,
      source: '',
      body: Buffer.from(typeof body === 'string' ? body : JSON.stringify(body)),
    });

  it('an added app joins the registration under the same token, a removed one leaves it', () => {
    const { api, live, token } = setup();
    const added = put(api, UUID_A, {
      podManifest: twoApps(),
      imageManifests: { web: IMAGE_MANIFEST_TEXT, db: DB_MANIFEST_TEXT },
    });
    assert.equal(added.status, 200, String(added.body));
    assert.deepEqual(JSON.parse(String(added.body)), { token, port: 18112 });
    const reg = live.registry.withToken(token);
    assert.deepEqual([...(reg?.apps.keys() ?? [])], ['web', 'db']);
    assert.equal(reg?.apps.get('db')?.imageManifestText, DB_MANIFEST_TEXT);
    assert.equal(reg?.podManifestText, twoApps());

    const removed = put(api, UUID_A, {
      podManifest: podManifestText(),
      imageManifests: { web: IMAGE_MANIFEST_TEXT },
    });
    assert.equal(removed.status, 200);
    assert.deepEqual([...(live.registry.withToken(token)?.apps.keys() ?? [])], ['web']);
  });

  it('refuses a pod that is not registered and a bad body, changing nothing', () => {
    const { api, live, token } = setup();
    const body = {
      podManifest: twoApps(),
      imageManifests: { web: IMAGE_MANIFEST_TEXT, db: DB_MANIFEST_TEXT },
    };
    assert.equal(put(api, UUID_B, body).status, 404);
    const missing = put(api, UUID_A, {
      podManifest: twoApps(),
      imageManifests: { web: IMAGE_MANIFEST_TEXT },
    });
    assert.equal(missing.status, 400);
    assert.match(String(missing.body), /imageManifests\.db: missing/);
    assert.equal(put(api, UUID_A, { ...body, ips: ['10.9.0.9'] }).status, 400);
    assert.equal(put(api, UUID_A, '{').status, 400);
    assert.deepEqual([...(live.registry.withToken(token)?.apps.keys() ?? [])], ['web']);
    const r = api.handle({ method: 'GET', url: `/pods/${UUID_A}/apps`, source: '', body: Buffer.from('') });
    assert.equal(r.status, 405);
  });
});
