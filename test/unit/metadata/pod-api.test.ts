// The API pods see: every endpoint, exact content types, and who is answered.
import assert from 'node:assert/strict';
import { beforeEach, describe, it } from 'node:test';
import type { ApiRequest, ApiResponse } from '../../../src/metadata/http-types.js';
import { signContent } from '../../../src/metadata/identity.js';
import { Liveness } from '../../../src/metadata/liveness.js';
import { PodApi, isLoopback, normalizeAddress } from '../../../src/metadata/pod-api.js';
import { Registry, parsePodDescription, type PodRegistration } from '../../../src/metadata/registry.js';
import {
  FakeProbe,
  IMAGE_ID,
  IMAGE_MANIFEST_TEXT,
  UUID_A,
  UUID_B,
  podManifestText,
  registrationBody,
} from './fixtures.js';

const TEXT = 'text/plain; charset=us-ascii';
const JSON_TYPE = 'application/json';
const FORM = 'application/x-www-form-urlencoded';
const IP_A = '10.9.0.2';
const IP_B = '10.9.0.3';

let registry: Registry;
let probe: FakeProbe;
let api: PodApi;
let a: PodRegistration;
let b: PodRegistration;

beforeEach(() => {
  registry = new Registry();
  probe = new FakeProbe();
  api = new PodApi(new Liveness(registry, probe));
  a = registry.add(parsePodDescription(UUID_A, registrationBody({ ips: [IP_A] })));
  b = registry.add(parsePodDescription(UUID_B, registrationBody({ ips: [IP_B] })));
  for (const [u, ip] of [
    [UUID_A, IP_A],
    [UUID_B, IP_B],
  ] as const) {
    probe.presences.set(u, 'running');
    probe.addressesOf.set(u, [ip]);
  }
});

function get(reg: PodRegistration, path: string, source = IP_A, method = 'GET'): ApiResponse {
  return api.handle({ method, url: `/${reg.token}/acMetadata/v1/${path}`, source, body: Buffer.alloc(0) });
}

function post(reg: PodRegistration, path: string, form: Record<string, string>, source = IP_A): ApiResponse {
  const req: ApiRequest = {
    method: 'POST',
    url: `/${reg.token}/acMetadata/v1/pod/hmac/${path}`,
    source,
    contentType: FORM,
    body: Buffer.from(new URLSearchParams(form).toString()),
  };
  return api.handle(req);
}

function ok(r: ApiResponse, contentType: string): string {
  assert.equal(r.status, 200, String(r.body));
  assert.equal(r.contentType, contentType);
  return String(r.body);
}

describe('pod endpoints', () => {
  it('pod/uuid is the canonical UUID as text', () => {
    assert.equal(ok(get(a, 'pod/uuid'), TEXT), UUID_A);
  });

  it('pod/manifest is the registered manifest, byte for byte', () => {
    assert.equal(ok(get(a, 'pod/manifest'), JSON_TYPE), podManifestText());
  });

  it("pod/annotations are the manifest's, null when it has none (as the manifest reads back)", () => {
    assert.deepEqual(JSON.parse(ok(get(a, 'pod/annotations'), JSON_TYPE)), [
      { name: 'pod-note', value: 'p' },
    ]);
    const none = (annotations: unknown): string => {
      const podManifest = podManifestText(annotations);
      const c = registry.add(parsePodDescription(UUID_A, registrationBody({ ips: [IP_A], podManifest })));
      return ok(get(c, 'pod/annotations'), JSON_TYPE);
    };
    assert.equal(none(null), 'null');
    assert.equal(none([]), '[]');
  });

  it('pod/annotations/<name> is one value as text (rkt)', () => {
    assert.equal(ok(get(a, 'pod/annotations/pod-note'), TEXT), 'p');
    assert.equal(get(a, 'pod/annotations/missing').status, 404);
  });
});

describe('app endpoints', () => {
  it('apps/<app>/image/manifest is the original image manifest', () => {
    assert.equal(ok(get(a, 'apps/web/image/manifest'), JSON_TYPE), IMAGE_MANIFEST_TEXT);
  });

  it("apps/<app>/image/id is the pod manifest's image id", () => {
    assert.equal(ok(get(a, 'apps/web/image/id'), TEXT), IMAGE_ID);
  });

  it('apps/<app>/annotations merge the image and the pod app (pod wins)', () => {
    assert.deepEqual(JSON.parse(ok(get(a, 'apps/web/annotations'), JSON_TYPE)), [
      { name: 'shared', value: 'from-pod' },
      { name: 'only-image', value: 'y' },
      { name: 'only-pod', value: 'x' },
    ]);
    assert.equal(ok(get(a, 'apps/web/annotations/shared'), TEXT), 'from-pod');
  });

  it('answers 404 for an app not in the pod and for unknown entries', () => {
    for (const p of ['apps/db/image/id', 'apps/web/image', 'apps/web/image/id/x', 'pod', 'pod/uuid/', 'nope'])
      assert.equal(get(a, p).status, 404, p);
  });

  it('answers GET and HEAD only, with Allow', () => {
    assert.equal(get(a, 'pod/uuid', IP_A, 'HEAD').status, 200);
    const r = get(a, 'pod/uuid', IP_A, 'POST');
    assert.equal(r.status, 405);
    assert.equal(r.headers?.['Allow'], 'GET, HEAD');
    assert.equal(get(a, 'pod/hmac/sign').status, 405);
  });
});

describe('who is answered', () => {
  it('401 for an unknown token or a path without one', () => {
    const r = api.handle({
      method: 'GET',
      url: '/0000/acMetadata/v1/pod/uuid',
      source: IP_A,
      body: Buffer.alloc(0),
    });
    assert.equal(r.status, 401);
    assert.equal(r.contentType, TEXT);
    const none = api.handle({
      method: 'GET',
      url: '/acMetadata/v1/pod/uuid',
      source: IP_A,
      body: Buffer.alloc(0),
    });
    assert.equal(none.status, 404);
  });

  it("403 for a pod using another pod's token", () => {
    assert.equal(get(a, 'pod/manifest', IP_B).status, 403);
    assert.equal(get(a, 'apps/web/image/id', IP_B).status, 403);
    assert.equal(post(a, 'sign', { content: 'x' }, IP_B).status, 403);
    assert.equal(ok(get(b, 'pod/uuid', IP_B), TEXT), UUID_B);
  });

  it('403 when the address no longer belongs to the pod on disk', () => {
    probe.addressesOf.set(UUID_A, ['10.9.0.99']);
    assert.equal(get(a, 'pod/uuid').status, 403);
  });

  it('accepts an IPv4-mapped peer address', () => {
    assert.equal(ok(get(a, 'pod/uuid', `::ffff:${IP_A}`), TEXT), UUID_A);
  });

  it('answers a pod on the host network from loopback only', () => {
    const h = registry.add(
      parsePodDescription(UUID_A, registrationBody({ ips: undefined, hostNetwork: true })),
    );
    assert.equal(ok(get(h, 'pod/uuid', '127.0.0.1'), TEXT), UUID_A);
    assert.equal(ok(get(h, 'pod/uuid', '::1'), TEXT), UUID_A);
    assert.equal(get(h, 'pod/uuid', IP_A).status, 403);
  });

  it('does not answer for a pod not started yet, and forgets one that stopped', () => {
    probe.presences.set(UUID_A, 'pending');
    assert.equal(get(a, 'pod/uuid').status, 401);
    assert.equal(registry.withUuid(UUID_A), a);
    probe.presences.set(UUID_A, 'gone');
    assert.equal(get(a, 'pod/uuid').status, 401);
    assert.equal(registry.withUuid(UUID_A), undefined);
    // Running again under the same address (a new pod reusing it) does not revive the old token.
    probe.presences.set(UUID_A, 'running');
    assert.equal(get(a, 'pod/uuid').status, 401);
  });
});

describe('identity endpoints', () => {
  const content = 'Old MacDonald Had A Farm';

  it('signs as text without a newline, and verifies for the signing pod only', () => {
    const sig = ok(post(a, 'sign', { content }), TEXT);
    assert.match(sig, /^[A-Za-z0-9+/]{86}==$/);
    const verify = (from: PodRegistration, source: string, form: Record<string, string>): number =>
      post(from, 'verify', form, source).status;
    assert.equal(verify(a, IP_A, { content, uuid: UUID_A, signature: sig }), 200);
    // Any registered pod may check another's signature.
    assert.equal(verify(b, IP_B, { content, uuid: UUID_A, signature: sig }), 200);
    // Claiming the signature is B's, or changing the content, fails.
    assert.equal(verify(b, IP_B, { content, uuid: UUID_B, signature: sig }), 403);
    assert.equal(verify(a, IP_A, { content: content + '!', uuid: UUID_A, signature: sig }), 403);
    // B's own signature of the same content differs from A's.
    const sigB = ok(post(b, 'sign', { content }, IP_B), TEXT);
    assert.notEqual(sigB, sig);
    assert.equal(verify(a, IP_A, { content, uuid: UUID_B, signature: sigB }), 200);
  });

  it('the verify answer is text, also on 403', () => {
    const r = post(a, 'verify', { content, uuid: UUID_A, signature: Buffer.alloc(64).toString('base64') });
    assert.equal(r.status, 403);
    assert.equal(r.contentType, TEXT);
    assert.equal(
      ok(
        post(a, 'verify', { content, uuid: UUID_A, signature: ok(post(a, 'sign', { content }), TEXT) }),
        TEXT,
      ),
      '',
    );
  });

  it('a signature no longer verifies once its pod is gone', () => {
    const sig = ok(post(a, 'sign', { content }), TEXT);
    probe.presences.set(UUID_A, 'gone');
    assert.equal(post(b, 'verify', { content, uuid: UUID_A, signature: sig }, IP_B).status, 403);
    assert.equal(
      post(b, 'verify', { content, uuid: '6a2b9c1d-0e3f-4a5b-8c7d-9e0f1a2b3c4d', signature: sig }, IP_B)
        .status,
      403,
    );
  });

  it('400 for a missing or malformed field, 415 for a body that is not a form', () => {
    const sig = ok(post(a, 'sign', { content }), TEXT);
    assert.equal(post(a, 'sign', {}).status, 400);
    const forms: Record<string, string>[] = [
      { uuid: UUID_A, signature: sig },
      { content, signature: sig },
      { content, uuid: UUID_A },
      { content, uuid: 'not-a-uuid', signature: sig },
      { content, uuid: UUID_A, signature: 'not base64!' },
      { content, uuid: UUID_A, signature: sig + '\n' },
    ];
    for (const form of forms) assert.equal(post(a, 'verify', form).status, 400, JSON.stringify(form));
    const raw = (contentType: string | undefined, body: string): number =>
      api.handle({
        method: 'POST',
        url: `/${a.token}/acMetadata/v1/pod/hmac/sign`,
        source: IP_A,
        ...(contentType !== undefined ? { contentType } : {}),
        body: Buffer.from(body),
      }).status;
    assert.equal(raw('text/plain', 'content=x'), 415);
    assert.equal(raw(undefined, 'content=x'), 415);
    assert.equal(raw(FORM, 'content=%g0'), 400);
  });

  it('signs the exact bytes sent (no text decoding of the content)', () => {
    const r = api.handle({
      method: 'POST',
      url: `/${a.token}/acMetadata/v1/pod/hmac/sign`,
      source: IP_A,
      contentType: FORM,
      body: Buffer.from('content=%FF%00+'),
    });
    assert.equal(ok(r, TEXT), signContent(a.key, UUID_A, Buffer.from([0xff, 0x00, 0x20])));
  });
});

describe('addresses', () => {
  it('normalizes IPv4-mapped addresses and knows loopback', () => {
    assert.equal(normalizeAddress('::FFFF:10.0.0.1'), '10.0.0.1');
    assert.equal(normalizeAddress('FE80::1'), 'fe80::1');
    assert.ok(isLoopback('127.0.0.1') && isLoopback('127.8.9.10') && isLoopback('::1'));
    assert.ok(isLoopback('::ffff:127.0.0.1'));
    assert.ok(!isLoopback('10.0.0.1') && !isLoopback('::2'));
  });
});
