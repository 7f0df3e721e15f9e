/**
 * `rkt fetch` of an image with dependencies, as root: both found by meta discovery on an HTTPS
 * server with its own CA and signed with GnuPG; the dependency named by name and labels, or also by
 * image ID; a dependency whose image ID does not match; `rkt image render` of the result.
 */
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { gunzipSync } from 'node:zlib';
import { after, before, describe, test } from 'node:test';
import { hostLabels } from '../../../src/fetch/index.js';
import { notRoot, projectRoot, type RunResult, skipUnlessCI, tempDir } from '../../helpers.js';
import { FetchServer, Gpg, RktRunner, makeTls, randomLoopback, type Tls } from './fixture.js';

interface Listed {
  id: string;
  name: string;
}

describe('rkt fetch with dependencies', { skip: skipUnlessCI(notRoot) }, () => {
  const ip = randomLoopback();
  const [[, os], [, arch]] = hostLabels() as [[string, string], [string, string]];
  let work: Awaited<ReturnType<typeof tempDir>>;
  let tls: Tls;
  let gpg: Gpg;
  let fpr: string;
  let server: FetchServer;
  let baseId: string;
  let dirs = 0;
  const ids = new Map<string, string>();

  const labels = (version: string): { name: string; value: string }[] => [
    { name: 'version', value: version },
    { name: 'os', value: os },
    { name: 'arch', value: arch },
  ];
  const imagePath = (name: string, version: string): string => `/images/${name}-${version}-${os}-${arch}.aci`;
  const freshDir = (): string => join(work.path, `data-${++dirs}`);
  const config = (): string[] => [
    `--local-config=${join(work.path, 'local')}`,
    `--system-config=${join(work.path, 'system')}`,
  ];

  const rkt = new RktRunner(
    () => work.path,
    () => tls.caFile,
  );
  const runRkt = (args: string[]): Promise<RunResult> => rkt.run(args);

  /** Builds `name:version` with bin/actool from these rootfs files, signs it and serves it. */
  function publish(name: string, version: string, files: Record<string, string>, extra: object = {}): void {
    const tag = `${name.replace(/\W/g, '_')}-${version}`;
    const layout = join(work.path, `layout-${tag}`);
    mkdirSync(join(layout, 'rootfs'), { recursive: true });
    const manifest = {
      acKind: 'ImageManifest',
      acVersion: '0.8.11',
      name,
      labels: labels(version),
      ...extra,
    };
    writeFileSync(join(layout, 'manifest'), JSON.stringify(manifest));
    for (const [file, content] of Object.entries(files)) writeFileSync(join(layout, 'rootfs', file), content);
    const out = join(work.path, `${tag}.aci`);
    execFileSync(join(projectRoot, 'bin', 'actool'), ['build', '--overwrite', layout, out], {
      stdio: 'pipe',
    });
    const aci = readFileSync(out);
    ids.set(name, 'sha512-' + createHash('sha512').update(gunzipSync(aci)).digest('hex'));
    server.routes.set(imagePath(name, version), { body: aci });
    server.routes.set(imagePath(name, version) + '.asc', { body: gpg.sign(fpr, out) });
  }

  async function listed(dir: string): Promise<Listed[]> {
    const r = await runRkt([`--dir=${dir}`, ...config(), 'image', 'list', '--format=json']);
    assert.equal(r.code, 0, r.stderr);
    const parsed = JSON.parse(r.stdout) as Listed[] | null;
    return (parsed ?? []).map(({ id, name }) => ({ id, name })).sort((a, b) => a.name.localeCompare(b.name));
  }

  const key = (name: string): string => (ids.get(name) ?? '').slice(0, 'sha512-'.length + 64);
  const short = (name: string): string => (ids.get(name) ?? '').slice(0, 'sha512-'.length + 32);

  before(async () => {
    work = await tempDir('rocket-fetch-deps-');
    tls = makeTls(work.path, ip);
    gpg = new Gpg(join(work.path, 'gnupg'));
    fpr = gpg.genKey('Rocket Deps Test <deps@example.com>');
    writeFileSync(join(work.path, 'key.asc'), gpg.exportKey(fpr));
    server = new FetchServer(ip, tls);
    server.discoveryPage = `<html><head>
<meta name="ac-discovery" content="${ip} https://${ip}/images/{name}-{version}-{os}-{arch}.{ext}">
</head></html>`;
    const base = `${ip}/base`;
    publish(base, '1.0.0', { 'base-file': 'base\n', shared: 'from base\n' });
    baseId = ids.get(base) ?? '';
    const byName = { imageName: base, labels: [{ name: 'version', value: '1.0.0' }] };
    publish(`${ip}/app`, '1.0.0', { 'app-file': 'app\n', shared: 'from app\n' }, { dependencies: [byName] });
    publish(
      `${ip}/app-by-id`,
      '1.0.0',
      { 'app-file': 'app by id\n' },
      { dependencies: [{ ...byName, imageID: baseId }] },
    );
    publish(
      `${ip}/app-bad-id`,
      '1.0.0',
      { 'app-file': 'app with a bad dependency\n' },
      { dependencies: [{ ...byName, imageID: 'sha512-' + '0'.repeat(128) }] },
    );
    await server.start();
    const trusted = await runRkt([
      ...config(),
      'trust',
      `--prefix=${ip}`,
      '--skip-fingerprint-review',
      join(work.path, 'key.asc'),
    ]);
    assert.equal(trusted.code, 0, trusted.stderr);
  });

  after(async () => {
    rkt.killAll();
    await server?.close();
    gpg?.close();
    await work?.cleanup();
  });

  test('fetches an image and its dependency by name and labels; render puts both together', async () => {
    const dir = freshDir();
    const app = `${ip}/app`;
    const base = `${ip}/base`;
    const r = await runRkt([`--dir=${dir}`, ...config(), 'fetch', `${app}:1.0.0`]);
    assert.equal(r.code, 0, r.stderr);
    // Only the requested image's ID is printed.
    assert.equal(r.stdout, short(app) + '\n');
    assert.equal(r.stderr.match(/signature verified:/g)?.length, 2, r.stderr);
    assert.deepEqual(await listed(dir), [
      { id: key(app), name: `${app}:1.0.0` },
      { id: key(base), name: `${base}:1.0.0` },
    ]);

    const out = join(work.path, 'rendered');
    const rendered = await runRkt([`--dir=${dir}`, ...config(), 'image', 'render', short(app), out]);
    assert.equal(rendered.code, 0, rendered.stderr);
    const rootfs = join(out, 'rootfs');
    assert.equal(readFileSync(join(rootfs, 'app-file'), 'utf8'), 'app\n');
    assert.equal(readFileSync(join(rootfs, 'base-file'), 'utf8'), 'base\n');
    // The image's own files win over its dependency's.
    assert.equal(readFileSync(join(rootfs, 'shared'), 'utf8'), 'from app\n');
    assert.equal((JSON.parse(readFileSync(join(out, 'manifest'), 'utf8')) as { name: string }).name, app);

    // `extract` is the image alone.
    const extracted = join(work.path, 'extracted');
    const ex = await runRkt([`--dir=${dir}`, ...config(), 'image', 'extract', short(app), extracted]);
    assert.equal(ex.code, 0, ex.stderr);
    assert.equal(existsSync(join(extracted, 'rootfs', 'base-file')), false);
  });

  test('fetches a dependency given by image ID (and name), and uses the stored one next time', async () => {
    const dir = freshDir();
    const app = `${ip}/app-by-id`;
    const base = `${ip}/base`;
    const r = await runRkt([`--dir=${dir}`, ...config(), 'fetch', `${app}:1.0.0`]);
    assert.equal(r.code, 0, r.stderr);
    assert.equal(r.stdout, short(app) + '\n');
    assert.deepEqual(await listed(dir), [
      { id: key(app), name: `${app}:1.0.0` },
      { id: key(base), name: `${base}:1.0.0` },
    ]);
    // With the dependency's ID in the store, it is not looked for again.
    const before = server.seen.length;
    const again = await runRkt([
      `--dir=${dir}`,
      ...config(),
      'fetch',
      '--pull-policy=update',
      `${app}:1.0.0`,
    ]);
    assert.equal(again.code, 0, again.stderr);
    const asked = server.seen.slice(before).map((s) => s.url);
    assert.ok(!asked.some((u) => u.includes('/base')), asked.join(', '));
    assert.ok(
      asked.some((u) => u.includes('/app-by-id')),
      asked.join(', '),
    );
  });

  test('a dependency whose image ID does not match fails 254; what was imported stays', async () => {
    const dir = freshDir();
    const app = `${ip}/app-bad-id`;
    const base = `${ip}/base`;
    const r = await runRkt([`--dir=${dir}`, ...config(), 'fetch', `${app}:1.0.0`]);
    assert.equal(r.code, 254, r.stderr);
    assert.equal(r.stdout, '');
    assert.ok(
      r.stderr.includes(`fetched image ${key(base)} but the manifest requires sha512-${'0'.repeat(128)}`),
      r.stderr,
    );
    // As in rkt, the image is imported before its dependencies are fetched, and each fetched image
    // is a valid, verified image on its own: both stay, and `image gc`/`image rm` can remove them.
    assert.deepEqual(await listed(dir), [
      { id: key(app), name: `${app}:1.0.0` },
      { id: key(base), name: `${base}:1.0.0` },
    ]);
    // Rendering resolves the dependency by its image ID, which is not there.
    const rendered = await runRkt([
      `--dir=${dir}`,
      ...config(),
      'image',
      'render',
      short(app),
      join(work.path, 'rendered-bad'),
    ]);
    assert.notEqual(rendered.code, 0);
    assert.match(rendered.stderr, /sha512-0{10}/);
  });
});
