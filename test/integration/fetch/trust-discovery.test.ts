/**
 * Key discovery end to end, as root: `rkt trust --prefix P` without a key (ac-discovery-pubkeys over
 * HTTPS with the test CA), `rkt fetch NAME` with and without --trust-keys-from-https when no key is
 * trusted yet, and the download progress bar, drawn on a terminal (util-linux `script` gives the
 * child a pseudo-terminal) and not when stderr is a pipe.
 */
import assert from 'node:assert/strict';
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { hostLabels } from '../../../src/fetch/index.js';
import { Store } from '../../../src/store/index.js';
import { notRoot, type RunResult, skipUnlessCI, tempDir } from '../../helpers.js';
import { FetchServer, Gpg, RktRunner, buildAci, makeTls, randomLoopback, type Tls } from './fixture.js';

describe(
  'key discovery for rkt trust and rkt fetch, and the progress bar',
  { skip: skipUnlessCI(notRoot) },
  () => {
    const ip = randomLoopback();
    const [[, os], [, arch]] = hostLabels() as [[string, string], [string, string]];
    let work: Awaited<ReturnType<typeof tempDir>>;
    let tls: Tls;
    let gpg: Gpg;
    let server: FetchServer;
    let fpr: string;
    let armored: Buffer;
    let runs = 0;

    const manifest = (name: string, version: string): object => ({
      acKind: 'ImageManifest',
      acVersion: '0.8.11',
      name,
      labels: [
        { name: 'version', value: version },
        { name: 'os', value: os },
        { name: 'arch', value: arch },
      ],
    });
    const imagePath = (name: string, version: string): string =>
      `/images/${name}-${version}-${os}-${arch}.aci`;
    /** A fresh store and fresh (empty) keystores for one case. */
    const fresh = (): { dir: string; local: string; globals: string[] } => {
      const n = ++runs;
      const local = join(work.path, `local-${n}`);
      return {
        dir: join(work.path, `data-${n}`),
        local,
        globals: [
          `--dir=${join(work.path, `data-${n}`)}`,
          `--local-config=${local}`,
          `--system-config=${join(work.path, `system-${n}`)}`,
        ],
      };
    };
    const keyPath = (local: string, prefix: string): string =>
      join(local, 'trustedkeys', 'prefix.d', ...prefix.split('/'), fpr.toLowerCase());

    const rkt = new RktRunner(
      () => work.path,
      () => tls.caFile,
    );
    const runRkt = (args: string[]): Promise<RunResult> => rkt.run(args);

    /** Runs bin/rkt under a pseudo-terminal; returns what the terminal showed. */
    const runRktOnTerminal = (args: string[]): Promise<RunResult> => rkt.run(args, { terminal: true });

    function publish(name: string, version: string, aci: Buffer): void {
      const file = join(work.path, `tosign-${name.replace(/\W/g, '_')}-${version}.aci`);
      writeFileSync(file, aci);
      server.routes.set(imagePath(name, version), { body: aci });
      server.routes.set(imagePath(name, version) + '.asc', { body: gpg.sign(fpr, file) });
    }

    before(async () => {
      work = await tempDir('rocket-trust-discovery-');
      tls = makeTls(work.path, ip);
      gpg = new Gpg(join(work.path, 'gnupg'));
      fpr = gpg.genKey('Rocket Discovery Test <discovery@example.com>');
      armored = gpg.exportKey(fpr);
      server = new FetchServer(ip, tls);
      server.discoveryPage = `<html><head>
<meta name="ac-discovery" content="${ip} https://${ip}/images/{name}-{version}-{os}-{arch}.{ext}">
<meta name="ac-discovery-pubkeys" content="${ip} https://${ip}/keys/key.asc">
</head></html>`;
      server.routes.set('/keys/key.asc', { body: armored });
      for (const app of ['app', 'other']) {
        const name = `${ip}/${app}`;
        publish(name, '1.0.0', buildAci(work.path, manifest(name, '1.0.0'), join(work.path, `${app}.aci`)));
      }
      const big = buildAci(
        work.path,
        manifest(`${ip}/big`, '1.0.0'),
        join(work.path, 'big.aci'),
        4 * 1024 * 1024,
      );
      server.routes.set('/big.aci', { body: big, rate: 8 * 1024 * 1024 });
      await server.start();
    });

    after(async () => {
      rkt.killAll();
      await server?.close();
      gpg?.close();
      await work?.cleanup();
    });

    test('rkt trust --prefix P without a key discovers it over HTTPS and stores it', async () => {
      const { local, globals } = fresh();
      const prefix = `${ip}/app`;
      const before = server.seen.length;
      const r = await runRkt([...globals, 'trust', `--prefix=${prefix}`, '--skip-fingerprint-review']);
      assert.equal(r.code, 0, r.stderr);
      const asked = server.seen.slice(before).map((s) => s.url);
      assert.ok(
        asked.some((u) => u.includes('ac-discovery=1')),
        asked.join(', '),
      );
      assert.ok(asked.includes('/keys/key.asc'), asked.join(', '));
      const path = keyPath(local, prefix);
      assert.deepEqual(readFileSync(path), armored);
      assert.match(r.stdout, /gpg key fingerprint is: [0-9A-F]{4} /);
      assert.ok(
        r.stdout.includes(
          `Trusting "https://${ip}/keys/key.asc" for prefix "${prefix}" without fingerprint review.`,
        ),
        r.stdout,
      );
      assert.ok(r.stdout.includes(`Added key for prefix "${prefix}" at "${path}"`), r.stdout);
    });

    test('rkt trust --prefix P without a key and without a terminal to review it fails 254', async () => {
      const { local, globals } = fresh();
      const prefix = `${ip}/app`;
      const r = await runRkt([...globals, 'trust', `--prefix=${prefix}`]);
      assert.equal(r.code, 254, r.stderr);
      assert.ok(
        r.stderr.includes(
          `pubkey: To trust the key for "${prefix}", do one of the following:\n` +
            'pubkey:  - call rkt with --trust-keys-from-https\n' +
            `pubkey:  - run: rkt trust --prefix "${prefix}"\n`,
        ),
        r.stderr,
      );
      assert.match(r.stderr, /unable to ask user to review fingerprint due to lack of tty/);
      assert.equal(existsSync(keyPath(local, prefix)), false);
    });

    test('rkt fetch --trust-keys-from-https trusts the discovered key for the name and fetches', async () => {
      const { dir, local, globals } = fresh();
      const name = `${ip}/app`;
      const r = await runRkt([...globals, '--trust-keys-from-https', 'fetch', `${name}:1.0.0`]);
      assert.equal(r.code, 0, r.stderr);
      assert.match(r.stdout, /^sha512-[0-9a-f]{32}\n$/);
      const path = keyPath(local, name);
      assert.deepEqual(readFileSync(path), armored);
      assert.ok(r.stderr.includes(`Added key for prefix "${name}" at "${path}"`), r.stderr);
      assert.match(r.stderr, /signature verified:\n {2}Rocket Discovery Test <discovery@example\.com>/);
      const store = Store.open(dir);
      try {
        assert.deepEqual(
          store.listImages().map((i) => i.name),
          [name],
        );
      } finally {
        store.close();
      }
      // The key is now trusted for the name: a second fetch does not look for keys again.
      const again = await runRkt([...globals, 'fetch', '--pull-policy=update', `${name}:1.0.0`]);
      assert.equal(again.code, 0, again.stderr);
      assert.match(again.stderr, /keys already exist for prefix/);
    });

    test('rkt fetch without --trust-keys-from-https and no terminal: 254 and how to trust', async () => {
      const { dir, local, globals } = fresh();
      const name = `${ip}/other`;
      const r = await runRkt([...globals, 'fetch', `${name}:1.0.0`]);
      assert.equal(r.code, 254, r.stderr);
      assert.equal(r.stdout, '');
      assert.ok(
        r.stderr.includes(
          `pubkey: To trust the key for "${name}", do one of the following:\n` +
            'pubkey:  - call rkt with --trust-keys-from-https\n' +
            `pubkey:  - run: rkt trust --prefix "${name}"\n`,
        ),
        r.stderr,
      );
      assert.match(r.stderr, /no trusted key/);
      assert.ok(r.stderr.includes(`rkt trust --prefix ${JSON.stringify(name)}`), r.stderr);
      assert.equal(existsSync(keyPath(local, name)), false);
      if (existsSync(dir)) {
        const store = Store.open(dir);
        try {
          assert.equal(store.listImages().length, 0);
        } finally {
          store.close();
        }
      }
    });

    test('a download draws the progress bar on a terminal', async () => {
      const { globals } = fresh();
      const r = await runRktOnTerminal([
        ...globals,
        '--insecure-options=image',
        'fetch',
        `https://${ip}/big.aci`,
      ]);
      assert.equal(r.code, 0, r.stdout + r.stderr);
      // The terminal shows stdout and stderr together; the bar is redrawn in place with \r.
      assert.match(r.stdout, /\rDownloading ACI: \[[=> ]{30}\] [0-9.]+ [KM]?B\/4\.[0-9] MB/);
      assert.match(r.stdout, /\rDownloading ACI: \[={30}\] 4\.[0-9] MB\/4\.[0-9] MB/);
      assert.match(r.stdout, /sha512-[0-9a-f]{32}\r?\n/);
    });

    test('no progress bar when stderr is a pipe', async () => {
      const { globals } = fresh();
      const r = await runRkt([...globals, '--insecure-options=image', 'fetch', `https://${ip}/big.aci`]);
      assert.equal(r.code, 0, r.stderr);
      assert.match(r.stdout, /^sha512-[0-9a-f]{32}\n$/);
      assert.doesNotMatch(r.stderr, /Downloading|\r/);
    });
  },
);
