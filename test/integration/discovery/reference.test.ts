/**
 * `actool discover` output, ours (runDiscover) against the reference Go actool, on the same
 * loopback servers: stdout, stderr and exit status must be identical byte for byte.
 */
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { after, before, describe, test } from 'node:test';
import { runDiscover } from '../../../src/cli/actool/discover.js';
import { noReferenceActool, referenceActool, skipUnlessCI, tempDir } from '../../helpers.js';
import { makeCA, startServer, type Route, type TestCA } from './servers.js';

interface Outcome {
  code: number;
  stdout: string;
  stderr: string;
}

function runReference(args: string[], caFile?: string): Promise<Outcome> {
  return new Promise((resolve, reject) => {
    const env = { ...process.env };
    if (caFile) env.SSL_CERT_FILE = caFile;
    else delete env.SSL_CERT_FILE;
    const child = spawn(referenceActool, args, { env, stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.setEncoding('utf8').on('data', (d: string) => (stdout += d));
    child.stderr.setEncoding('utf8').on('data', (d: string) => (stderr += d));
    child.on('error', reject);
    child.on('close', (code) => resolve({ code: code ?? -1, stdout, stderr }));
  });
}

async function runOurs(
  names: string[],
  flags: { json: boolean; insecure: boolean; port: number },
  ca?: string,
): Promise<Outcome> {
  let stdout = '';
  let stderr = '';
  const code = await runDiscover(
    names,
    flags,
    { out: (l) => (stdout += l + '\n'), err: (l) => (stderr += l + '\n') },
    ca ? { ca } : {},
  );
  return { code, stdout, stderr };
}

const ROOT_PAGE = `<!DOCTYPE html>
<html><head>
<META NAME=ac-discovery CONTENT="127.0.0.1 https://storage.example/{os}/{arch}/{name}-{version}.{ext}?a=1&amp;b=<x>">
<meta name="ac-discovery" content="  127.0.0.1   https://storage.example/{name}-{channel}.{ext}  "/>
<meta name="ac-discovery" content="127.0.0.1/other https://nope.example/{name}.{ext}">
<meta name="ac-discovery" content="127.0 hdfs://prefix.example/{name}-{version}.{ext}">
<meta name="ac-discovery" content="127.0.0.1\thttps://tab.example/{name}.{ext}">
<meta name='ac-discovery-pubkeys' content='127.0.0.1 https://keys.example/a.gpg'>
<meta name=ac-discovery-pubkeys content="127.0.0.1 https://keys.example/b.gpg">
<script>document.write('<meta name="ac-discovery" content="127.0.0.1 https://script.example/{name}.{ext}">')</script>
</head><body></body></html>`;

const ENDPOINTS_ONLY =
  '<meta name=ac-discovery content="127.0.0.1 https://only.example/{name}-{version}.{ext}">';

const ROUTES: Record<string, Route> = {
  '/': ROOT_PAGE,
  '/reset/x': { reset: true },
  '/loop': { status: 302, location: '/loop' },
  '/redir': { status: 301, location: '/' },
  '/notags': '<html><head><title>nothing</title></head></html>',
  '/ep': ENDPOINTS_ONLY,
  '/ep/sub': { status: 500 },
};

const NAMES = [
  '127.0.0.1/app',
  '127.0.0.1/app:1.2.3',
  '127.0.0.1/deep/er/app,channel=beta',
  '127.0.0.1/reset/x:2,os=plan9,arch=mips',
  '127.0.0.1/loop/a',
  '127.0.0.1/redir',
  '127.0.0.1/notags/z',
  '127.0.0.1/ep/sub/app',
];

let ca: TestCA;
let cleanup: () => Promise<void>;

describe('actool discover against the reference', { skip: skipUnlessCI(noReferenceActool) }, () => {
  before(async () => {
    const dir = await tempDir('rocket-discover-ref-');
    cleanup = dir.cleanup;
    ca = makeCA(dir.path);
  });
  after(() => cleanup());

  async function compare(
    routes: Parameters<typeof startServer>[0],
    useTLS: boolean,
    names: string[],
    flags: { json?: boolean; insecure?: boolean } = {},
  ): Promise<Outcome> {
    const server = await startServer(routes, useTLS ? ca : undefined);
    try {
      const f = { json: flags.json ?? false, insecure: flags.insecure ?? false, port: server.port };
      const args = ['discover', `--port=${server.port}`];
      if (f.json) args.push('--json');
      if (f.insecure) args.push('--insecure');
      const ref = await runReference([...args, ...names], useTLS ? ca.caFile : undefined);
      const ours = await runOurs(names, f, useTLS ? ca.ca : undefined);
      assert.deepEqual(ours, ref);
      return ours;
    } finally {
      await server.close();
    }
  }

  for (const name of NAMES) {
    test(`insecure over http: ${name}`, async () => {
      const out = await compare({ both: ROUTES }, false, [name], { insecure: true });
      assert.equal(out.code, 0);
    });
  }

  test('insecure over http, --json, several apps', async () => {
    const out = await compare({ both: ROUTES }, false, NAMES.slice(0, 3), { insecure: true, json: true });
    assert.match(out.stdout, /\\u0026b=\\u003cx\\u003e/);
  });

  test('https with a trusted CA (no insecure)', async () => {
    await compare({ https: ROUTES }, true, ['127.0.0.1/app/sub', '127.0.0.1/reset/x']);
  });

  test('https with a trusted CA, --json', async () => {
    await compare({ https: ROUTES }, true, ['127.0.0.1/loop/x'], { json: true });
  });

  test('https→http fallback with --insecure', async () => {
    await compare({ http: ROUTES, https: { '/x': { status: 404 } } }, true, ['127.0.0.1/x/y']);
    const out = await compare({ http: ROUTES, https: { '/x': { status: 404 } } }, true, ['127.0.0.1/x/y'], {
      insecure: true,
    });
    assert.equal(out.code, 0);
  });

  test('nothing found: error line and exit 1', async () => {
    const out = await compare({ both: {} }, false, ['127.0.0.1/a/b'], { insecure: true });
    assert.equal(out.code, 1);
    assert.equal(out.stderr, 'error fetching endpoints for 127.0.0.1/a/b: discovery failed\n');
  });

  test('TLS not trusted: nothing found', async () => {
    const server = await startServer({ https: ROUTES }, ca);
    try {
      const names = ['127.0.0.1/app'];
      const ref = await runReference(['discover', `--port=${server.port}`, ...names]);
      const ours = await runOurs(names, { json: false, insecure: false, port: server.port });
      assert.deepEqual(ours, ref);
      assert.equal(ours.code, 1);
    } finally {
      await server.close();
    }
  });

  test('endpoints but no keys: walk lines, then the public keys error', async () => {
    const out = await compare({ both: { '/ep': ENDPOINTS_ONLY } }, false, ['127.0.0.1/ep/x'], {
      insecure: true,
    });
    assert.equal(out.code, 1);
    assert.equal(out.stderr, 'error fetching public keys for 127.0.0.1/ep/x: discovery failed\n');
  });

  test('second app fails after the first is printed', async () => {
    const out = await compare(
      { both: { '/a': ROOT_PAGE } },
      false,
      ['127.0.0.1/a', '127.0.0.1/b', '127.0.0.1/a'],
      {
        insecure: true,
      },
    );
    assert.equal(out.code, 1);
  });

  test('no names', async () => {
    await compare({ both: {} }, false, []);
  });

  test('known difference: a template without {ext} (reference prints ACI = ASC, we skip it)', async () => {
    const page = '<meta name=ac-discovery content="127.0.0.1 https://s/{name}.tar">' + ROOT_PAGE;
    const server = await startServer({ both: { '/': page } });
    try {
      const args = ['discover', '--insecure', `--port=${server.port}`, '127.0.0.1/app'];
      const ref = await runReference(args);
      const ours = await runOurs(['127.0.0.1/app'], { json: false, insecure: true, port: server.port });
      const skipped = 'ACI: https://s/127.0.0.1/app.tar, ASC: https://s/127.0.0.1/app.tar\n';
      assert.ok(ref.stdout.includes(skipped));
      assert.deepEqual(ours, { ...ref, stdout: ref.stdout.replace(skipped, '') });
    } finally {
      await server.close();
    }
  });
});
