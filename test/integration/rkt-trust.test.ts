/** `rkt trust` as a user runs it: bin/rkt in a child process, keys from files and loopback HTTP. */
import assert from 'node:assert/strict';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { readdir, readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { projectRoot, run, tempDir } from '../helpers.js';
import { makeKey, type TestKey } from '../unit/trust/keys.js';

const rkt = join(projectRoot, 'bin', 'rkt');

describe('rkt trust', () => {
  let work: Awaited<ReturnType<typeof tempDir>>;
  let key: TestKey;
  let keyFile: string;
  let server: Server;
  let keyUrl: string;
  const config = (): string[] => [
    `--local-config=${join(work.path, 'local')}`,
    `--system-config=${join(work.path, 'system')}`,
  ];

  before(async () => {
    work = await tempDir('rocket-trust-');
    key = await makeKey('Rocket Test');
    keyFile = join(work.path, 'key.asc');
    await writeFile(keyFile, key.armoredPublic);
    server = createServer((req, res) => {
      if (req.url === '/key.asc') res.end(key.armoredPublic);
      else res.writeHead(404).end();
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    keyUrl = `http://127.0.0.1:${(server.address() as AddressInfo).port}/key.asc`;
  });
  after(async () => {
    await new Promise((resolve) => server.close(resolve));
    await work.cleanup();
  });

  test('stores a key for a prefix under its lowercase fingerprint', async () => {
    const r = await run(rkt, [
      ...config(),
      'trust',
      '--prefix=example.com/app',
      '--skip-fingerprint-review',
      keyFile,
    ]);
    assert.equal(r.code, 0, r.stderr);
    const path = join(work.path, 'local', 'trustedkeys', 'prefix.d', 'example.com', 'app', key.fingerprint);
    assert.equal(await readFile(path, 'utf8'), key.armoredPublic);
    assert.match(r.stdout, /^gpg key fingerprint is: [0-9A-F]{4} /m);
    assert.match(
      r.stdout,
      /Trusting ".*key\.asc" for prefix "example\.com\/app" without fingerprint review\./,
    );
    assert.ok(r.stdout.includes(`Added key for prefix "example.com/app" at "${path}"`));
  });

  test('stores a root key with --root', async () => {
    const r = await run(rkt, [...config(), 'trust', '--root', '--skip-fingerprint-review', keyFile]);
    assert.equal(r.code, 0, r.stderr);
    const dir = join(work.path, 'local', 'trustedkeys', 'root.d');
    assert.deepEqual(await readdir(dir), [key.fingerprint]);
    assert.match(r.stdout, /Added root key at /);
  });

  test('fetches a key over http only with --insecure-allow-http', async () => {
    const refused = await run(rkt, [
      ...config(),
      'trust',
      '--prefix=example.com/web',
      '--skip-fingerprint-review',
      keyUrl,
    ]);
    assert.equal(refused.code, 254);
    assert.match(refused.stderr, /--insecure-allow-http required for http URLs/);
    const ok = await run(rkt, [
      ...config(),
      'trust',
      '--prefix=example.com/web',
      '--skip-fingerprint-review',
      '--insecure-allow-http',
      keyUrl,
    ]);
    assert.equal(ok.code, 0, ok.stderr);
    const path = join(work.path, 'local', 'trustedkeys', 'prefix.d', 'example.com', 'web', key.fingerprint);
    assert.equal(await readFile(path, 'utf8'), key.armoredPublic);
  });

  const refusals: [string, string[], RegExp][] = [
    ['no prefix and no --root', ['trust', 'key.asc'], /implicit unbounded trust/],
    ['--root with --prefix', ['trust', '--root', '--prefix=a.com', 'key.asc'], /mutually exclusive/],
    ['a prefix with a URL scheme', ['trust', '--prefix=https://a.com', 'key.asc'], /omit https:\/\//],
    ['a missing key file', ['trust', '--prefix=a.com', '--skip-fingerprint-review', 'nope.asc'], /nope\.asc/],
    [
      'a file that is not a key',
      ['trust', '--prefix=a.com', '--skip-fingerprint-review', 'not-a-key'],
      /not-a-key/,
    ],
    ['review without a terminal', ['trust', '--prefix=a.com', 'key.asc'], /lack of tty/],
  ];
  for (const [what, args, message] of refusals) {
    test(`refuses ${what} with exit 254 and stores nothing`, async () => {
      const sandbox = await tempDir('rocket-trust-refused-');
      try {
        await writeFile(join(sandbox.path, 'key.asc'), key.armoredPublic);
        await writeFile(join(sandbox.path, 'not-a-key'), 'hello');
        const r = await run(rkt, [`--local-config=${join(sandbox.path, 'local')}`, ...args], {
          cwd: sandbox.path,
        });
        assert.equal(r.code, 254, r.stderr);
        assert.match(r.stderr, message);
        assert.deepEqual((await readdir(sandbox.path)).sort(), ['key.asc', 'not-a-key']);
      } finally {
        await sandbox.cleanup();
      }
    });
  }
});

test('rkt with no command prints its usage and exits 2, as rkt does', async () => {
  const r = await run(rkt, []);
  assert.equal(r.code, 2);
  assert.match(r.stderr, /^Usage:\n {2}rkt \[command\]$/m);
  assert.match(r.stderr, /^Available Commands:$/m);
});
