/**
 * `rkt fetch` end to end, as root: bin/rkt in child processes against an HTTPS server with its own
 * CA on a random 127.77.x.y address (port 443), images and keys made by bin/actool and real GnuPG.
 * The child trusts the CA through SSL_CERT_FILE, which the fetch and discovery code read.
 */
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { copyFileSync, mkdirSync, readdirSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { gunzipSync } from 'node:zlib';
import { after, before, describe, test } from 'node:test';
import { Store } from '../../../src/store/index.js';
import { hostLabels } from '../../../src/fetch/index.js';
import { notRoot, skipUnlessCI, tempDir } from '../../helpers.js';
import { FetchServer, Gpg, RktRunner, buildAci, makeTls, randomLoopback, type Tls } from './fixture.js';

function filesUnder(dir: string): string[] {
  let out: string[] = [];
  let entries: string[];
  try {
    entries = readdirSync(dir);
  } catch {
    return [];
  }
  for (const e of entries) {
    const p = join(dir, e);
    out = statSync(p).isDirectory() ? [...out, ...filesUnder(p)] : [...out, p];
  }
  return out;
}

describe('rkt fetch over HTTPS with discovery and GnuPG signatures', { skip: skipUnlessCI(notRoot) }, () => {
  const ip = randomLoopback();
  const [[, os], [, arch]] = hostLabels() as [[string, string], [string, string]];
  let work: Awaited<ReturnType<typeof tempDir>>;
  let tls: Tls;
  let gpg: Gpg;
  let server: FetchServer;
  let goodFpr: string;
  let appAci: Buffer;
  let bigAci: Buffer;
  let dirs = 0;

  const manifest = (name: string, version: string, extra: object = {}): object => ({
    acKind: 'ImageManifest',
    acVersion: '0.8.11',
    name,
    labels: [
      { name: 'version', value: version },
      { name: 'os', value: os },
      { name: 'arch', value: arch },
    ],
    ...extra,
  });
  const imagePath = (name: string, version: string): string => `/images/${name}-${version}-${os}-${arch}.aci`;
  const sha512 = (gz: Buffer): string =>
    'sha512-' + createHash('sha512').update(gunzipSync(gz)).digest('hex');
  const freshDir = (): string => join(work.path, `data-${++dirs}`);
  const config = (): string[] => [
    `--local-config=${join(work.path, 'local')}`,
    `--system-config=${join(work.path, 'system')}`,
  ];

  const rkt = new RktRunner(
    () => work.path,
    () => tls.caFile,
  );
  const spawnRkt = rkt.spawn.bind(rkt);
  const runRkt = rkt.run.bind(rkt);

  /** Store contents as the store itself and the disk show them. */
  function storeState(dir: string): { images: number; blobs: string[]; tmp: string[] } {
    const store = Store.open(dir);
    try {
      return {
        images: store.listImages().length,
        blobs: filesUnder(join(dir, 'cas', 'blob')),
        tmp: filesUnder(join(dir, 'cas', 'tmp')),
      };
    } finally {
      store.close();
    }
  }

  function assertEmptyStore(dir: string): void {
    assert.deepEqual(storeState(dir), { images: 0, blobs: [], tmp: [] });
  }

  /** Serves `aci` at the discovery location of name:version, with a signature by `fpr`. */
  function publish(name: string, version: string, aci: Buffer, sig: Buffer): void {
    server.routes.set(imagePath(name, version), { body: aci });
    server.routes.set(imagePath(name, version) + '.asc', { body: sig });
  }

  function signed(aci: Buffer, fpr: string): Buffer {
    const f = join(work.path, `tosign-${Math.random().toString(36).slice(2)}.aci`);
    writeFileSync(f, aci);
    return gpg.sign(fpr, f);
  }

  before(async () => {
    work = await tempDir('rocket-fetch-');
    tls = makeTls(work.path, ip);
    gpg = new Gpg(join(work.path, 'gnupg'));
    goodFpr = gpg.genKey('Rocket Fetch Test <good@example.com>');
    const wrongFpr = gpg.genKey('Somebody Else <wrong@example.com>');
    writeFileSync(join(work.path, 'good.asc'), gpg.exportKey(goodFpr));
    server = new FetchServer(ip, tls);
    server.discoveryPage = `<html><head>
<meta name="ac-discovery" content="${ip} https://${ip}/images/{name}-{version}-{os}-{arch}.{ext}">
<meta name="ac-discovery-pubkeys" content="${ip} https://${ip}/pubkeys.asc">
</head></html>`;
    server.routes.set('/pubkeys.asc', { body: gpg.exportKey(goodFpr) });

    const app = `${ip}/app`;
    appAci = buildAci(work.path, manifest(app, '1.0.0'), join(work.path, 'app.aci'));
    publish(app, '1.0.0', appAci, signed(appAci, goodFpr));
    // Tampered: the signature is of the original bytes; the served image has other content.
    const original = buildAci(work.path, manifest(app, '2.0.0'), join(work.path, 'app2.aci'));
    const tampered = buildAci(
      work.path,
      manifest(app, '2.0.0', { annotations: [{ name: 'x', value: 'y' }] }),
      join(work.path, 'app2t.aci'),
    );
    publish(app, '2.0.0', tampered, signed(original, goodFpr));
    const v3 = buildAci(work.path, manifest(app, '3.0.0'), join(work.path, 'app3.aci'));
    publish(app, '3.0.0', v3, signed(v3, wrongFpr));
    const mismatch = buildAci(work.path, manifest(`${ip}/other`, '4.0.0'), join(work.path, 'other.aci'));
    publish(app, '4.0.0', mismatch, signed(mismatch, goodFpr));
    const untrusted = buildAci(
      work.path,
      manifest(`${ip}/untrusted`, '1.0.0'),
      join(work.path, 'untrusted.aci'),
    );
    publish(`${ip}/untrusted`, '1.0.0', untrusted, signed(untrusted, goodFpr));
    bigAci = buildAci(
      work.path,
      manifest(`${ip}/big`, '1.0.0'),
      join(work.path, 'big.aci'),
      50 * 1024 * 1024,
    );
    publish(`${ip}/big`, '1.0.0', bigAci, signed(bigAci, goodFpr));
    server.routes.set('/etag/app.aci', { body: appAci, etag: '"v1"' });
    server.routes.set('/etag/app.aci.asc', { body: signed(appAci, goodFpr) });
    await server.start();

    for (const prefix of [app, `${ip}/big`]) {
      const trusted = await runRkt([
        ...config(),
        'trust',
        `--prefix=${prefix}`,
        '--skip-fingerprint-review',
        join(work.path, 'good.asc'),
      ]);
      assert.equal(trusted.code, 0, trusted.stderr);
    }
  });

  after(async () => {
    rkt.killAll();
    await server?.close();
    gpg?.close();
    await work?.cleanup();
  });

  test('fetches by name: discovery, signature verified, ID on stdout', async () => {
    const dir = freshDir();
    const r = await runRkt([`--dir=${dir}`, ...config(), 'fetch', `${ip}/app:1.0.0`]);
    assert.equal(r.code, 0, r.stderr);
    const id = sha512(appAci);
    assert.equal(r.stdout, id.slice(0, 'sha512-'.length + 32) + '\n');
    assert.match(r.stderr, /image: signature verified:\n {2}Rocket Fetch Test <good@example\.com>/);
    const store = Store.open(dir);
    try {
      const images = store.listImages();
      assert.equal(images.length, 1);
      assert.equal(images[0]?.key, id.slice(0, 'sha512-'.length + 64));
      assert.equal(images[0]?.name, `${ip}/app`);
      assert.equal(
        store.getRemote(`https://${ip}${imagePath(`${ip}/app`, '1.0.0')}`)?.blobKey,
        images[0]?.key,
      );
    } finally {
      store.close();
    }
    const full = await runRkt([
      `--dir=${dir}`,
      ...config(),
      'fetch',
      '--full',
      '--pull-policy=new',
      `${ip}/app:1.0.0`,
    ]);
    assert.equal(full.code, 0, full.stderr);
    assert.equal(full.stdout, id.slice(0, 'sha512-'.length + 64) + '\n');
  });

  const failures: [string, string, RegExp][] = [
    ['a tampered image', `${ip}/app:2.0.0`, /verification failed: signature verification failed/],
    ['a signature by an untrusted key', `${ip}/app:3.0.0`, /no trusted key for .*app/],
    ['an untrusted prefix', `${ip}/untrusted:1.0.0`, /no trusted key for .*untrusted.*rkt trust --prefix/],
    [
      'a manifest name mismatch',
      `${ip}/app:4.0.0`,
      /"127\.77\.[0-9.]+\/app" expected but "127\.77\.[0-9.]+\/other" found/,
    ],
  ];
  for (const [what, image, message] of failures) {
    test(`refuses ${what}: exit 254, a clear message, nothing in the store`, async () => {
      const dir = freshDir();
      const r = await runRkt([`--dir=${dir}`, ...config(), 'fetch', image]);
      assert.equal(r.code, 254, r.stderr);
      assert.equal(r.stdout, '');
      assert.match(r.stderr, /^fetch: /m);
      assert.match(r.stderr, message);
      assertEmptyStore(dir);
    });
  }

  test('fetches by https URL, the signature from <url>.asc, with auth.d credentials', async () => {
    const dir = freshDir();
    const user = join(work.path, 'user-config');
    mkdirSync(join(user, 'auth.d'), { recursive: true });
    const creds = {
      rktKind: 'auth',
      rktVersion: 'v1',
      domains: [ip],
      type: 'oauth',
      credentials: { token: 's3cret' },
    };
    writeFileSync(join(user, 'auth.d', 'test.json'), JSON.stringify(creds));
    const url = `https://${ip}${imagePath(`${ip}/app`, '1.0.0')}`;
    const before = server.seen.length;
    const r = await runRkt([`--dir=${dir}`, ...config(), `--user-config=${user}`, 'fetch', url]);
    assert.equal(r.code, 0, r.stderr);
    const asked = server.seen.slice(before);
    assert.deepEqual(
      asked.map((s) => [s.url, s.headers.authorization]),
      [
        [new URL(url).pathname + '.asc', 'Bearer s3cret'],
        [new URL(url).pathname, 'Bearer s3cret'],
      ],
    );
    assert.equal(r.stdout, sha512(appAci).slice(0, 39) + '\n');
    assert.match(r.stderr, /signature verified:/);
  });

  test('trusts a CA given in NODE_EXTRA_CA_CERTS (bin/rkt hands it to the HTTPS clients, not to Node)', async () => {
    const dir = freshDir();
    const r = await runRkt([`--dir=${dir}`, ...config(), 'fetch', `${ip}/app:1.0.0`], {
      caVia: 'NODE_EXTRA_CA_CERTS',
    });
    assert.equal(r.code, 0, r.stderr);
    assert.equal(r.stdout, sha512(appAci).slice(0, 39) + '\n');
    const untrusted = await runRkt([`--dir=${freshDir()}`, ...config(), 'fetch', `${ip}/app:1.0.0`], {
      caVia: 'none',
    });
    assert.equal(untrusted.code, 254);
    assert.match(untrusted.stderr, /certificate/);
  });

  test('fetches a local file with --signature after it', async () => {
    const dir = freshDir();
    const file = join(work.path, 'local-copy.aci');
    copyFileSync(join(work.path, 'app.aci'), file);
    const sig = join(work.path, 'elsewhere.sig');
    writeFileSync(sig, signed(appAci, goodFpr));
    const missing = await runRkt([`--dir=${dir}`, ...config(), 'fetch', file]);
    assert.equal(missing.code, 254);
    assert.match(missing.stderr, /error opening signature file/);
    const r = await runRkt([`--dir=${dir}`, ...config(), 'fetch', file, `--signature=${sig}`]);
    assert.equal(r.code, 0, r.stderr);
    assert.equal(r.stdout, sha512(appAci).slice(0, 39) + '\n');
  });

  test("--insecure-options=image skips verification with rkt's warning", async () => {
    const dir = freshDir();
    const r = await runRkt([
      `--dir=${dir}`,
      ...config(),
      '--insecure-options=image',
      'fetch',
      `${ip}/app:3.0.0`,
    ]);
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stderr, /image: warning: image signature verification has been disabled/);
    assert.doesNotMatch(r.stderr, /signature verified/);
    assert.equal(storeState(dir).images, 1);
  });

  test('--pull-policy=update revalidates with the ETag and reuses the image on 304', async () => {
    const dir = freshDir();
    const url = `https://${ip}/etag/app.aci`;
    const first = await runRkt([`--dir=${dir}`, ...config(), 'fetch', url]);
    assert.equal(first.code, 0, first.stderr);
    const before = server.seen.length;
    const second = await runRkt([`--dir=${dir}`, ...config(), 'fetch', '--pull-policy=update', url]);
    assert.equal(second.code, 0, second.stderr);
    assert.equal(second.stdout, first.stdout);
    const aciRequests = server.seen.slice(before).filter((s) => s.url === '/etag/app.aci');
    assert.equal(aciRequests.length, 1);
    assert.equal(aciRequests[0]?.headers['if-none-match'], '"v1"');
    assert.equal(aciRequests[0]?.status, 304);
    assert.equal(aciRequests[0]?.bodyBytes, 0);
    const cached = await runRkt([`--dir=${dir}`, ...config(), 'fetch', '--pull-policy=never', url]);
    assert.equal(cached.code, 0, cached.stderr);
  });

  test('a fetch killed mid-download leaves the store consistent, and the next one succeeds', async () => {
    const dir = freshDir();
    const path = imagePath(`${ip}/big`, '1.0.0');
    const route = server.routes.get(path);
    assert.ok(route);
    route.rate = 4 * 1024 * 1024;
    const { child, done } = spawnRkt([`--dir=${dir}`, ...config(), 'fetch', `${ip}/big:1.0.0`]);
    const deadline = Date.now() + 20_000;
    for (;;) {
      const sent = server.seen.filter((s) => s.url === path).at(-1)?.bodyBytes ?? 0;
      if (sent > 8 * 1024 * 1024) break;
      assert.ok(Date.now() < deadline, 'the download did not start');
      await new Promise((r) => setTimeout(r, 50));
    }
    assert.ok(child.pid !== undefined);
    process.kill(child.pid, 'SIGKILL');
    const killed = await done;
    assert.notEqual(killed.code, 0);
    const state = storeState(dir);
    assert.equal(state.images, 0);
    assert.deepEqual(state.blobs, []);
    assert.ok(state.tmp.length > 0, 'the partial download is left in cas/tmp');
    const store = Store.open(dir);
    try {
      assert.ok((await store.gcTemp(0)).length > 0);
    } finally {
      store.close();
    }
    assert.deepEqual(storeState(dir).tmp, []);
    route.rate = undefined;
    const r = await runRkt([`--dir=${dir}`, ...config(), 'fetch', `${ip}/big:1.0.0`]);
    assert.equal(r.code, 0, r.stderr);
    assert.equal(r.stdout, sha512(bigAci).slice(0, 39) + '\n');
    assert.equal(storeState(dir).images, 1);
  });

  test('three parallel fetches of one image end with one image', async () => {
    const dir = freshDir();
    const results = await Promise.all(
      [1, 2, 3].map(() => runRkt([`--dir=${dir}`, ...config(), 'fetch', `${ip}/app:1.0.0`])),
    );
    for (const r of results) {
      assert.equal(r.code, 0, r.stderr);
      assert.equal(r.stdout, sha512(appAci).slice(0, 39) + '\n');
    }
    const state = storeState(dir);
    assert.equal(state.images, 1);
    assert.equal(state.blobs.length, 1);
    assert.deepEqual(state.tmp, []);
  });
});
