/**
 * Every command of rkt, actool and docker2aci with bad arguments (unknown flags, missing arguments,
 * nonexistent files and pods, bad values): one line on stderr, never a stack trace, and the exit
 * status the tool documents (rkt: 254 for all its own failures). Each rkt run has its own --dir
 * and config dirs under a temp dir; no case gets as far as fetching over the network or making a pod.
 */
import { strict as assert } from 'node:assert';
import { readdirSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { projectRoot, run, tempDir, type RunResult } from '../../helpers.js';

const RKT = join(projectRoot, 'bin', 'rkt');
const ACTOOL = join(projectRoot, 'bin', 'actool');
const DOCKER2ACI = join(projectRoot, 'bin', 'docker2aci');
const IMG = '/nonexistent/image.aci';
const UUID = 'deadbeef';
const WHOLE = '0b9e7c2e-1111-4222-8333-444455556666';

/** What a failure must look like: no stack trace, no Node error dump. */
function assertNoTrace(what: string, r: RunResult): void {
  const out = r.stderr + r.stdout;
  assert.doesNotMatch(out, /^\s+at /m, `${what}: stack trace:\n${r.stderr}`);
  assert.doesNotMatch(out, /^Node\.js v\d/m, `${what}: Node error dump:\n${r.stderr}`);
  assert.doesNotMatch(out, /^\w*Error(: | \[)/m, `${what}: uncaught error:\n${r.stderr}`);
  assert.doesNotMatch(out, /^\s*\^+\s*$/m, `${what}: source excerpt of a throw:\n${r.stderr}`);
}

function assertOneLine(what: string, r: RunResult): void {
  const lines = r.stderr.split('\n').filter((l) => l !== '');
  assert.equal(lines.length, 1, `${what}: want one line on stderr, got:\n${r.stderr}`);
}

/** The rkt cases, by command (a command missing here fails the coverage test below). */
const RKT_CASES: Record<string, string[][]> = {
  '': [
    ['--bogus-flag', 'list'],
    ['--insecure-options=bogus', 'list'],
    ['--insecure-options=bogus', 'version'],
    ['bogus-command'],
  ],
  image: [['image', 'bogus-command']],
  app: [['app', 'bogus-command']],
  'image cat-manifest': [
    ['image', 'cat-manifest'],
    ['image', 'cat-manifest', 'sha512-0000'],
    ['image', 'cat-manifest', '--bogus-flag', 'x'],
    ['image', 'cat-manifest', '--pretty-print=maybe', 'x'],
  ],
  'image export': [
    ['image', 'export', 'sha512-0000'],
    ['image', 'export', 'sha512-0000', '@OUT@/x.aci'],
  ],
  'image extract': [
    ['image', 'extract', 'sha512-0000'],
    ['image', 'extract', 'sha512-0000', '@OUT@/x'],
  ],
  'image render': [
    ['image', 'render', 'sha512-0000', '@OUT@/x'],
    ['image', 'render', '--bogus-flag'],
  ],
  'image gc': [
    ['image', 'gc', '--grace-period=bogus'],
    ['image', 'gc', '--bogus-flag'],
  ],
  'image list': [
    ['image', 'list', '--bogus-flag'],
    ['image', 'list', '--fields=bogus'],
    ['image', 'list', '--format=bogus'],
  ],
  'image rm': [
    ['image', 'rm'],
    ['image', 'rm', 'sha512-0000'],
  ],
  trust: [
    ['trust', '/nonexistent/key.asc'],
    ['trust', '--prefix'],
    ['trust', '--bogus-flag'],
    ['trust', '--prefix=example.com/app', 'http://127.0.0.1:1/key.asc'],
  ],
  fetch: [['fetch'], ['fetch', IMG], ['fetch', '--bogus-flag', IMG], ['fetch', '--pull-policy=bogus', IMG]],
  run: [
    ['run'],
    ['run', IMG],
    ['run', '--bogus-flag', IMG],
    ['run', '--volume=v1,kind=foo', IMG],
    ['run', '--volume=v1,kind=host', IMG],
    ['run', '--insecure-options=bogus', IMG],
    ['run', '--private-users', IMG],
    ['run', '--stage1-path=/nonexistent/stage1.aci', IMG],
    ['run', '--stage1-url=http://127.0.0.1:1/s.aci', IMG],
    ['run', '--stage1-hash=sha512-0000', IMG],
    ['run', '--memory=bogus', IMG],
    ['run', IMG, '--caps-retain=CAP_FLY'],
    ['run', '--set-env-file=/nonexistent/env', IMG],
    ['run', '--pod-manifest=/nonexistent/manifest'],
    ['run', '--uuid-file-save'],
  ],
  'run-prepared': [['run-prepared'], ['run-prepared', UUID], ['run-prepared', '--bogus-flag', UUID]],
  stop: [['stop'], ['stop', UUID], ['stop', '--uuid-file=/nonexistent/uuid'], ['stop', '--bogus-flag', UUID]],
  enter: [['enter'], ['enter', UUID], ['enter', '--bogus-flag', UUID]],
  prepare: [
    ['prepare'],
    ['prepare', IMG],
    ['prepare', '--bogus-flag', IMG],
    ['prepare', '--volume=v1,kind=foo', IMG],
    ['prepare', '--private-users', IMG],
    ['prepare', '--stage1-path=/nonexistent/stage1.aci', IMG],
  ],
  list: [
    ['list', '--bogus-flag'],
    ['list', '--format=bogus'],
    ['list', 'extra'],
  ],
  status: [
    ['status'],
    ['status', UUID],
    ['status', '--uuid-file=/nonexistent/uuid'],
    ['status', '--wait=bogus', UUID],
    ['status', '--bogus-flag', UUID],
  ],
  rm: [['rm'], ['rm', UUID], ['rm', '--uuid-file=/nonexistent/uuid'], ['rm', '--bogus-flag']],
  gc: [
    ['gc', '--grace-period=bogus'],
    ['gc', '--bogus-flag'],
  ],
  'cat-manifest': [
    ['cat-manifest'],
    ['cat-manifest', UUID],
    ['cat-manifest', '--uuid-file=/nonexistent/uuid'],
    ['cat-manifest', '--bogus-flag'],
  ],
  export: [['export'], ['export', UUID, '@OUT@/x.aci'], ['export', '--bogus-flag']],
  'metadata-service': [
    ['metadata-service', '--listen-port=bogus'],
    ['metadata-service', '--bogus-flag'],
  ],
  'api-service': [
    ['api-service', '--listen=bogus:address:x'],
    ['api-service', '--bogus-flag'],
  ],
  logs: [
    ['logs', UUID],
    ['logs', '--uuid-file=/nonexistent/uuid'],
    ['logs', '--bogus-flag'],
  ],
  version: [['version', '--bogus-flag']],
};

/**
 * Cases whose several lines are rkt's own text: `rm` reports each pod or image and then the
 * failure; `trust` without a prefix explains how to give one.
 */
const RKT_LINES: Record<string, number> = {
  'image rm sha512-0000': 2,
  'rm deadbeef': 2,
  [`stop ${UUID}`]: 2,
  'trust /nonexistent/key.asc': 6,
};

/**
 * The commands `rkt --help` (or `rkt image --help`) lists, under commander's `Commands:` or
 * cobra's `Available Commands:`.
 */
async function listedCommands(args: string[]): Promise<string[]> {
  const r = await run(RKT, [...args, '--help']);
  assert.equal(r.code, 0, r.stderr);
  const section = (r.stdout.split(/^(?:Available )?Commands:$/m)[1] ?? '').split(/\n\s*\n/)[0] ?? '';
  const names = [...section.matchAll(/^ {2}([a-z][a-z0-9-]*)/gm)].map((m) => m[1] as string);
  // commander's `help [command]` entry is no command of rkt's (`rkt help` is the usage text).
  return names.filter((c) => c !== 'help');
}

/** Every listed command's cases: its own, or at least an unknown flag for one added later. */
async function allRktCases(): Promise<[string, string[][]][]> {
  const top = await listedCommands([]);
  const image = (await listedCommands(['image'])).map((c) => `image ${c}`);
  const app = (await listedCommands(['app'])).map((c) => `app ${c}`);
  const listed = [...top, ...image, ...app];
  assert.ok(
    top.includes('run') && image.includes('image list') && app.includes('app start'),
    `commands not found in the help: ${listed.join(' ')}`,
  );
  for (const c of Object.keys(RKT_CASES))
    assert.ok(c === '' || listed.includes(c), `rkt ${c} is tested but not listed by the help`);
  return [
    ['', RKT_CASES[''] ?? []],
    ...listed.map((c): [string, string[][]] => [c, RKT_CASES[c] ?? [[...c.split(' '), '--bogus-flag']]]),
  ];
}

describe('bad arguments never end in a stack trace', () => {
  let dir: { path: string; cleanup: () => Promise<void> };
  before(async () => {
    dir = await tempDir('rocket-badargs-');
  });
  after(async () => {
    await dir.cleanup();
  });

  /** rkt with its own data and config dirs in the temp dir. */
  const rkt = (args: string[]): Promise<RunResult> =>
    run(RKT, [
      `--dir=${join(dir.path, 'data')}`,
      `--system-config=${join(dir.path, 'system')}`,
      `--local-config=${join(dir.path, 'local')}`,
      ...args.map((a) => a.replace('@OUT@', dir.path)),
    ]);

  it('every rkt command (as its help lists them): one line, exit 254', async () => {
    for (const [, cases] of await allRktCases()) {
      for (const args of cases) {
        const what = `rkt ${args.join(' ')}`;
        const r = await rkt(args);
        assertNoTrace(what, r);
        assert.equal(r.code, 254, `${what}: exit ${r.code}\n${r.stderr}`);
        const lines = RKT_LINES[args.join(' ')];
        if (lines === undefined) assertOneLine(what, r);
        else
          assert.equal(r.stderr.split('\n').filter((l) => l !== '').length, lines, `${what}:\n${r.stderr}`);
      }
    }
  });

  it("every rkt command names an unknown flag as rkt's cobra does, long and short", async () => {
    // Verbs that parse rkt's grammar themselves (status, enter, fetch) once took `-z` for a UUID
    // or named it `unknown flag: -z`.
    for (const [verb] of await allRktCases()) {
      if (verb === '') continue;
      const words = verb.split(' ');
      for (const [flag, text] of [
        ['-z', `unknown shorthand flag: 'z' in -z`],
        ['--bogus-flag=1', 'unknown flag: --bogus-flag'],
      ] as const) {
        const r = await rkt([...words, flag]);
        assert.equal(r.stderr, `${verb}: ${text}\n`, `rkt ${verb} ${flag}`);
        assert.equal(r.code, 254, `rkt ${verb} ${flag}`);
      }
    }
  });

  it('names the file, flag or value at fault', async () => {
    const expect: [string[], RegExp][] = [
      [
        ['status', '--uuid-file=/nonexistent/uuid'],
        /^status: unable to resolve UUID from file: .*\/nonexistent\/uuid/,
      ],
      [
        ['cat-manifest', '--uuid-file=/nonexistent/uuid'],
        /^cat-manifest: unable to resolve UUID from file: .*\/nonexistent\/uuid/,
      ],
      [['run', '--volume=v1,kind=foo', IMG], /^run: .*kind/],
      // A flag before the pod's UUID is named as a flag (rkt's cobra text), not looked up as a pod.
      [['app', 'add', '--bogus-flag', UUID, IMG], /^app add: unknown flag: --bogus-flag\n$/],
      [['app', 'add', '--bogus-flag=1', UUID, IMG], /^app add: unknown flag: --bogus-flag\n$/],
      [['app', 'add', '-z', UUID, IMG], /^app add: unknown shorthand flag: 'z' in -z\n$/],
      [['app', 'add', '--name=x', UUID, IMG], /^app add: --name must follow an image\n$/],
      [['app', 'add', '--net=host', UUID, IMG], /^app add: unknown flag: --net\n$/],
      // Commander's own `unknown option` becomes rkt's text too, at every depth.
      [['app', 'status', '--bogus-flag', UUID], /^app status: unknown flag: --bogus-flag\n$/],
      [['app', 'start', '--bogus-flag=1', UUID], /^app start: unknown flag: --bogus-flag\n$/],
      [['app', 'stop', '-z', UUID], /^app stop: unknown shorthand flag: 'z' in -z\n$/],
      [['app', 'rm', '--bogus-flag', UUID], /^app rm: unknown flag: --bogus-flag\n$/],
      [['app', 'list', '--bogus-flag', UUID], /^app list: unknown flag: --bogus-flag\n$/],
      [['stop', '--bogus-flag', UUID], /^stop: unknown flag: --bogus-flag\n$/],
      [
        ['stop', UUID],
        new RegExp(
          `^stop: error stopping "${UUID}": no matches found for "${UUID}"\nstop: failed to stop 1 pod\\(s\\)\n$`,
        ),
      ],
      [['run', '-z', IMG], /^run: unknown shorthand flag: 'z' in -z\n$/],
      // A value its flag refuses, and an unknown command: cobra's words, one line.
      [
        ['image', 'list', '--order=up'],
        /^image list: invalid argument "up" for "--order" flag: wrong sort order\n$/,
      ],
      [['gc', '--grace-period=1x'], /^gc: invalid argument "1x" for "--grace-period" flag: time: .*"1x"\n$/],
      [['list', '--format=yaml'], /^list: invalid argument "yaml" for "--format" flag: .*\n$/],
      [['bogus-command'], /^rkt: unknown command "bogus-command" for "rkt"\n$/],
      [['gc', '--grace-period'], /^gc: flag needs an argument: --grace-period\n$/],
      [['export'], /^export: missing required argument 'uuid'\n$/],
      [['list', 'extra'], /^list: too many arguments for 'list'\. Expected 0 arguments but got 1\.\n$/],
      [['lst'], /^rkt: unknown command "lst" for "rkt" \(did you mean list\?\)\n$/],
      [['image', 'lst'], /^image: unknown command "lst" for "rkt image" \(did you mean list\?\)\n$/],
      // An unknown pod, whole UUID (`app start` answered by the launcher, fast.sh) or prefix:
      // one line naming it, for every verb that takes a pod (docs/stage1.md, "App commands").
      ...[WHOLE, UUID].flatMap((u): [string[], RegExp][] =>
        [
          ['app', 'add', u, IMG],
          ['app', 'start', u, '--app=a'],
          ['app', 'stop', u, '--app=a'],
          ['app', 'rm', u, '--app=a'],
          ['app', 'status', u, '--app=a'],
          ['app', 'list', u],
          ['app', 'exec', u, '/bin/true'],
          ['attach', u],
        ].map((a): [string[], RegExp] => [
          a,
          new RegExp(`^${a.slice(0, a[0] === 'app' ? 2 : 1).join(' ')}: no matches found for "${u}"\n$`),
        ]),
      ),
      [['--insecure-options=bogus', 'list'], /invalid --insecure-options value "bogus"/],
      [['run', '--private-users', IMG], /^run: --private-users is not supported/],
      [
        ['run', '--stage1-path=/nonexistent/stage1.aci', IMG],
        /^run: --stage1-path=\/nonexistent\/stage1\.aci: no such stage1/,
      ],
      [
        ['run', '--stage1-url=http://127.0.0.1:1/s.aci', IMG],
        /^run: --stage1-url=http:\/\/127\.0\.0\.1:1\/s\.aci: no such stage1/,
      ],
    ];
    for (const [args, re] of expect) {
      const r = await rkt(args);
      assert.match(r.stderr, re, `rkt ${args.join(' ')}`);
      assert.equal(r.code, 254, `rkt ${args.join(' ')}`);
    }
    // Nothing was made for any of them.
    let pods: string[];
    try {
      pods = readdirSync(join(dir.path, 'data', 'pods')).flatMap((s) =>
        readdirSync(join(dir.path, 'data', 'pods', s)),
      );
    } catch {
      pods = [];
    }
    assert.deepEqual(pods, []);
  });

  it('accepts the insecure options rkt knows, and only those', async () => {
    for (const v of [
      'none',
      'image',
      'tls',
      'ondisk',
      'http',
      'pubkey',
      'capabilities',
      'paths',
      'seccomp',
      'all-fetch',
      'all-run',
      'all',
      'image,tls',
    ]) {
      const r = await rkt([`--insecure-options=${v}`, 'list', '--no-legend']);
      assert.equal(r.code, 0, `${v}: ${r.stderr}`);
    }
    for (const v of ['bogus', 'image,bogus', 'IMAGE']) {
      const r = await rkt([`--insecure-options=${v}`, 'list']);
      assert.equal(r.code, 254, v);
    }
  });

  describe('rkt fetch docker:// from a plain-http registry', () => {
    let server: Server;
    before(async () => {
      server = createServer((req, res) => {
        res.setHeader('docker-distribution-api-version', 'registry/2.0');
        res.statusCode = req.url === '/v2/' ? 200 : 404;
        res.end('{}');
      });
      await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    });
    after(async () => {
      await new Promise<void>((resolve) => server.close(() => resolve()));
    });

    it("names rkt's flag for plain http, not docker2aci's", async () => {
      const { port } = server.address() as AddressInfo;
      const r = await rkt(['--insecure-options=image', 'fetch', `docker://127.0.0.1:${port}/test/img`]);
      assertNoTrace('rkt fetch docker://', r);
      assert.equal(r.code, 254, r.stderr);
      assert.match(r.stderr, /--insecure-options=http/);
      assert.doesNotMatch(r.stderr, /--insecure-allow-http/);
    });
  });

  // The reference actool's statuses: 2 for what Go's flag package refuses, 1 for the rest; a
  // `discover` without names only complains and exits 0, as the reference does.
  const ACTOOL_CASES: [string[], number][] = [
    [['--bogus-flag'], 2],
    [['bogus-command'], 2],
    [['build'], 1],
    [['build', '/nonexistent/layout', '@OUT@/x.aci'], 1],
    [['build', '--bogus-flag', 'a', 'b'], 2],
    [['cat-manifest'], 1],
    [['cat-manifest', '/nonexistent/x.aci'], 1],
    [['discover'], 0],
    [['discover', '--bogus-flag', 'example.com/app'], 2],
    [['discover', 'Not_A_Name!'], 1],
    // A malformed app string (the reference panics with 2): one line, 1 (docs/compatibility.md).
    [['discover', 'example.com/app:1:2'], 1],
    [['discover', 'example.com/app:1,os'], 1],
    [['patch-manifest'], 1],
    [['patch-manifest', '/nonexistent/x.aci', '@OUT@/y.aci'], 1],
    [['patch-manifest', '--manifest=/nonexistent/m', '/nonexistent/x.aci', '@OUT@/y.aci'], 1],
    [['validate'], 1],
    [['validate', '/nonexistent/x.aci'], 1],
    [['validate', '--type=bogus', '/nonexistent/x.aci'], 2],
    [['version', '--bogus-flag'], 2],
  ];

  it('actool: one line, its documented exit codes', async () => {
    for (const [args, code] of ACTOOL_CASES) {
      const what = `actool ${args.join(' ')}`;
      const r = await run(
        ACTOOL,
        args.map((a) => a.replace('@OUT@', dir.path)),
      );
      assertNoTrace(what, r);
      assert.equal(r.code, code, `${what}: exit ${r.code}\n${r.stderr}`);
      assertOneLine(what, r);
    }
  });

  it('docker2aci: the reference exit codes, one line for a failed conversion', async () => {
    const cases: [string[], number, boolean][] = [
      [['--bogus-flag'], 2, false],
      [[], 2, false],
      [['/nonexistent/image.tar'], 1, true],
      [['-compression=bogus', '/nonexistent/image.tar'], 1, true],
      [['-platform=bogus', '/nonexistent/image.tar'], 2, true],
      [['-experimental-oci', '/nonexistent/image.tar'], 1, true],
      [['-image=x', 'docker://127.0.0.1:1/x'], 1, true],
    ];
    for (const [args, code, oneLine] of cases) {
      const what = `docker2aci ${args.join(' ')}`;
      const r = await run(DOCKER2ACI, args, { cwd: dir.path });
      assertNoTrace(
        what,
        r.code === 1 ? { ...r, stderr: r.stderr.replace(/^Error: conversion error: /, '') } : r,
      );
      assert.equal(r.code, code, `${what}: exit ${r.code}\n${r.stderr}`);
      if (oneLine) assertOneLine(what, r);
    }
  });
});
