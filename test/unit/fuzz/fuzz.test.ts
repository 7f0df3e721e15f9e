/**
 * Property-based fuzzing (fast-check, a fixed seed, bounded runs and time) of what reads untrusted
 * input: the appc image and pod manifest parsers, the tar reader and the extractor, the CNI result
 * parser, the Docker manifest and config readers, and rkt's flag parsers. Every input must be
 * accepted or refused with a RocketError: anything else thrown is a crash and fails the test with
 * fast-check's shrunk counterexample, a run over its time limit is a hang, and the extractor must
 * write nothing outside its destination (a sentinel beside it stays as it was, and a refused image
 * leaves nothing). Each target prints its counts (tried, refused, crashed) as a test diagnostic.
 */
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import { after, before, describe, it, type TestContext } from 'node:test';
import { gzipSync } from 'node:zlib';
import { InvalidArgumentError } from 'commander';
import fc from 'fast-check';
import { extractAci, readAci } from '../../../src/aci/index.js';
import { encodeHeader, type WriteHeader } from '../../../src/aci/tar-writer.js';
import { parseImageManifest } from '../../../src/appc/image.js';
import { parsePodManifest } from '../../../src/appc/pod.js';
import { parseVolumeString, parsePortString } from '../../../src/appc/strings.js';
import { parseSince } from '../../../src/cli/rkt/logs.js';
import { parseInsecureOptions } from '../../../src/cli/rkt/globals.js';
import { parseEnterArgs } from '../../../src/cli/rkt/pod/enter.js';
import { parseStatusArgs } from '../../../src/cli/rkt/pod/status.js';
import { parseConfig, parseManifest } from '../../../src/docker/sources/manifest.js';
import { parseDockerReference } from '../../../src/docker/sources/reference.js';
import { RocketError } from '../../../src/errors.js';
import { parsePullPolicy } from '../../../src/fetch/policy.js';
import { parseCniResult } from '../../../src/net/cni.js';
import { parseNetList } from '../../../src/net/netlist.js';
import { parseExposedPort } from '../../../src/net/ports.js';
import { parseMountFlag, parseRunArgs } from '../../../src/cli/rkt/pod/run-flags.js';

/** One seed for every target, so a failure here is reproduced by running the file again. */
const SEED = 0x16f022;

interface Counts {
  tried: number;
  accepted: number;
  refused: number;
  crashed: number;
}

const totals: Counts = { tried: 0, accepted: 0, refused: 0, crashed: 0 };

/**
 * Runs `check` on `numRuns` generated inputs: a RocketError is a refusal, a return an acceptance,
 * anything else a crash (which fails the property). Async checks time out after `timeout` ms.
 */
async function fuzz<T>(
  t: TestContext,
  arb: fc.Arbitrary<T>,
  check: (input: T) => unknown,
  numRuns: number,
  timeout = 5_000,
  isRefusal: (err: unknown) => boolean = (err) => err instanceof RocketError,
): Promise<void> {
  const counts: Counts = { tried: 0, accepted: 0, refused: 0, crashed: 0 };
  const property = fc.asyncProperty(arb, async (input) => {
    counts.tried++;
    try {
      await check(input);
      counts.accepted++;
    } catch (err) {
      if (
        isRefusal(err) &&
        err instanceof Error &&
        err.message !== '' &&
        !err.message.includes('\n    at ')
      ) {
        counts.refused++;
        return;
      }
      counts.crashed++;
      throw err;
    }
  });
  try {
    await fc.assert(property, {
      seed: SEED,
      numRuns,
      timeout,
      // Shrinking re-runs the property: keep the first counterexample's report short.
      endOnFailure: false,
      interruptAfterTimeLimit: 60_000,
    });
  } finally {
    for (const k of ['tried', 'accepted', 'refused', 'crashed'] as const) totals[k] += counts[k];
    t.diagnostic(
      `fuzz ${t.name}: ${counts.tried} tried, ${counts.accepted} accepted, ${counts.refused} refused, ${counts.crashed} crashed`,
    );
  }
  assert.ok(counts.tried >= numRuns, `only ${counts.tried} of ${numRuns} inputs were tried`);
  assert.ok(counts.accepted > 0 && counts.refused > 0, `not both outcomes: ${JSON.stringify(counts)}`);
}

// ---- structured mutation: a valid document with some of its fields replaced ----

type Json = null | boolean | number | string | Json[] | { [k: string]: Json };

/** Paths into a document, as key lists. */
function paths(doc: Json, prefix: (string | number)[] = [], out: (string | number)[][] = []) {
  out.push(prefix);
  if (Array.isArray(doc)) doc.forEach((v, i) => paths(v, [...prefix, i], out));
  else if (doc !== null && typeof doc === 'object')
    for (const [k, v] of Object.entries(doc)) paths(v, [...prefix, k], out);
  return out;
}

function setAt(doc: Json, path: (string | number)[], value: Json | undefined): Json {
  if (path.length === 0) return value ?? null;
  const copy = structuredClone(doc) as Record<string | number, Json>;
  let cur = copy;
  for (const key of path.slice(0, -1)) cur = cur[key] as Record<string | number, Json>;
  const last = path[path.length - 1] as string | number;
  if (value === undefined) delete cur[last];
  else cur[last] = value;
  return copy;
}

/** Values that probe the edges of the fields: types, empties, huge and hostile strings. */
const edgeValue: fc.Arbitrary<Json> = fc.oneof(
  fc.jsonValue({ maxDepth: 2 }) as fc.Arbitrary<Json>,
  fc.constantFrom<Json>(
    '',
    '..',
    '/',
    '../../etc/passwd',
    'a'.repeat(300),
    'sha512-' + 'g'.repeat(64),
    'sha512-' + '0'.repeat(128),
    '0.8.11',
    '1.0.0-rc',
    -1,
    2 ** 53,
    0.5,
    [],
    {},
    null,
    true,
  ),
);

/**
 * Documents made from `base` by up to four edits (replace a field with an edge value, or drop it),
 * sometimes serialized with a byte flipped or cut short; sometimes free JSON text.
 */
function mutatedJson(base: Json): fc.Arbitrary<string> {
  const all = paths(base);
  const edit = fc.tuple(fc.nat({ max: all.length - 1 }), fc.option(edgeValue, { freq: 5 }));
  const edited = fc.array(edit, { maxLength: 4 }).map((edits) => {
    let doc = base;
    for (const [i, v] of edits) {
      const p = all[i] as (string | number)[];
      try {
        doc = setAt(doc, p, v ?? undefined);
      } catch {
        // the path went away with an earlier edit
      }
    }
    return JSON.stringify(doc);
  });
  const damaged = fc
    .tuple(edited, fc.nat(), fc.integer({ min: 0, max: 255 }), fc.boolean())
    .map(([text, at, byte, cut]) => {
      const b = Buffer.from(text);
      const i = at % Math.max(1, b.length);
      if (cut) return b.subarray(0, i).toString('latin1');
      b[i] = byte;
      return b.toString('latin1');
    });
  return fc.oneof(
    { weight: 6, arbitrary: edited },
    { weight: 2, arbitrary: damaged },
    { weight: 1, arbitrary: fc.json({ maxDepth: 3 }) },
    { weight: 1, arbitrary: fc.string() },
  );
}

const IMAGE: Json = {
  acKind: 'ImageManifest',
  acVersion: '0.8.11',
  name: 'example.com/app',
  labels: [
    { name: 'version', value: '1.0.0' },
    { name: 'os', value: 'linux' },
    { name: 'arch', value: 'amd64' },
  ],
  app: {
    exec: ['/bin/app', '--serve'],
    user: '1000',
    group: '1000',
    supplementaryGIDs: [10],
    workingDirectory: '/srv',
    environment: [{ name: 'MODE', value: 'prod' }],
    eventHandlers: [{ name: 'pre-start', exec: ['/bin/prep'] }],
    mountPoints: [{ name: 'data', path: '/var/data', readOnly: false }],
    ports: [{ name: 'http', protocol: 'tcp', port: 8080, count: 1, socketActivated: false }],
    isolators: [
      { name: 'resource/memory', value: { limit: '512Mi' } },
      { name: 'os/linux/capabilities-retain-set', value: { set: ['CAP_NET_BIND_SERVICE'] } },
      { name: 'os/linux/seccomp-remove-set', value: { set: ['@docker/default-blacklist'], errno: 'EPERM' } },
    ],
  },
  dependencies: [{ imageName: 'example.com/base', labels: [{ name: 'version', value: '2' }], size: 10 }],
  pathWhitelist: ['/bin/app'],
  annotations: [{ name: 'authors', value: 'Alice <alice@example.com>' }],
};

const POD: Json = {
  acKind: 'PodManifest',
  acVersion: '0.8.11',
  apps: [
    {
      name: 'web',
      image: {
        name: 'example.com/app',
        id: 'sha512-' + 'a'.repeat(128),
        labels: [{ name: 'version', value: '1' }],
      },
      app: (IMAGE as Record<string, Json>)['app'] as Json,
      readOnlyRootFS: true,
      mounts: [{ volume: 'data', path: '/var/data' }],
      annotations: [{ name: 'x', value: 'y' }],
    },
  ],
  volumes: [
    { name: 'data', kind: 'host', source: '/srv/data', readOnly: true, recursive: true },
    { name: 'scratch', kind: 'empty', mode: '0755', uid: 0, gid: 0 },
  ],
  isolators: [{ name: 'resource/cpu', value: { limit: '500m' } }],
  annotations: [],
  ports: [
    {
      name: 'http',
      hostPort: 8080,
      hostIP: '127.0.0.1',
      podPort: { name: 'http', protocol: 'tcp', port: 80 },
    },
  ],
  userAnnotations: { team: 'a' },
  userLabels: { tier: 'web' },
};

const CNI: Json = {
  cniVersion: '1.0.0',
  interfaces: [{ name: 'eth0', mac: '0a:58:0a:01:00:02', sandbox: '/var/run/netns/x' }],
  ips: [{ address: '10.1.0.2/24', gateway: '10.1.0.1', interface: 0 }],
  routes: [{ dst: '0.0.0.0/0', gw: '10.1.0.1' }],
  dns: { nameservers: ['10.1.0.1'], domain: 'example.com', search: ['example.com'], options: ['ndots:2'] },
};

const sha = (s: string): string => 'sha256:' + createHash('sha256').update(s).digest('hex');

const DOCKER_MANIFEST: Json = {
  schemaVersion: 2,
  mediaType: 'application/vnd.docker.distribution.manifest.v2+json',
  config: { mediaType: 'application/vnd.docker.container.image.v1+json', digest: sha('c'), size: 100 },
  layers: [
    { mediaType: 'application/vnd.docker.image.rootfs.diff.tar.gzip', digest: sha('l1'), size: 10 },
    { mediaType: 'application/vnd.oci.image.layer.v1.tar+zstd', digest: sha('l2'), size: 20 },
  ],
};

const DOCKER_INDEX: Json = {
  schemaVersion: 2,
  mediaType: 'application/vnd.oci.image.index.v1+json',
  manifests: [
    {
      mediaType: 'application/vnd.oci.image.manifest.v1+json',
      digest: sha('m'),
      size: 300,
      platform: { os: 'linux', architecture: 'arm64', variant: 'v8' },
    },
  ],
};

const DOCKER_CONFIG: Json = {
  architecture: 'amd64',
  os: 'linux',
  config: {
    User: '1000:1000',
    Env: ['PATH=/usr/bin', 'A=b'],
    Entrypoint: ['/bin/sh'],
    Cmd: ['-c', 'true'],
    WorkingDir: '/srv',
    ExposedPorts: { '80/tcp': {} },
    Volumes: { '/data': {} },
    Labels: { a: 'b' },
  },
  rootfs: { type: 'layers', diff_ids: [sha('d1')] },
  history: [{ created: '2024-01-01T00:00:00Z', created_by: 'x' }],
};

const MANIFEST_TYPES = [
  'application/vnd.docker.distribution.manifest.v2+json',
  'application/vnd.docker.distribution.manifest.list.v2+json',
  'application/vnd.docker.distribution.manifest.v1+prettyjws',
  'application/vnd.oci.image.manifest.v1+json',
  'application/vnd.oci.image.index.v1+json',
  'application/json',
  'text/plain; charset=utf-8',
  '',
];

// ---- flags: argument lists from the grammar's own pieces ----

const FLAG_PIECES = [
  '--volume=',
  '--mount',
  'volume=data',
  'target=/data',
  'kind=host',
  'kind=empty',
  'source=/',
  'readOnly=true',
  'recursive=maybe',
  'mode=0755',
  '--port=',
  'http:8080',
  '127.0.0.1:',
  '--set-env=',
  'A=b',
  '--exec=',
  '/bin/sh',
  '--name=',
  '--memory=',
  '--cpu=',
  '512Mi',
  '-1',
  '1e999',
  '--user=',
  '--group=',
  '--caps-retain=',
  '--caps-remove=',
  'CAP_SYS_ADMIN',
  '--seccomp=',
  'mode=retain',
  'mode=remove',
  'errno=EPERM',
  '@docker/default-blacklist',
  '--net=',
  'default',
  'none',
  'host',
  'all',
  '--dns=',
  '--hostname=',
  '--uuid-file-save=',
  '--stage1-name=',
  'oci-crun',
  '--insecure-options=',
  'image,http',
  '--annotation=',
  '--label=',
  '--readonly-rootfs=',
  '--working-dir=',
  '--supplementary-gids=',
  '--interactive',
  '--',
  '---',
  '=',
  ',',
  ':',
  '..',
  '../..',
  'docker://busybox',
  'example.com/app:1.0',
  'sha512-' + 'a'.repeat(64),
  'x'.repeat(300),
];

const piece = fc.oneof(
  { weight: 4, arbitrary: fc.constantFrom(...FLAG_PIECES) },
  { weight: 1, arbitrary: fc.string({ maxLength: 12 }) },
);
/** One argument: one to three pieces run together. */
const arg = fc.array(piece, { minLength: 1, maxLength: 3 }).map((p) => p.join(''));
const argv = fc.array(arg, { maxLength: 10 });

// ---- tar archives: entries from a hostile alphabet, sometimes damaged or compressed ----

const NAMES = [
  'manifest',
  'rootfs',
  'rootfs/',
  'rootfs/etc',
  'rootfs/etc/passwd',
  'rootfs/a/b',
  './rootfs/x',
  'rootfs/../../outside/pwned',
  '../outside/pwned',
  '/rootfs/abs',
  '/etc/pwned',
  'rootfs/link',
  'rootfs/link/through',
  'rootfs/' + 'n'.repeat(200),
  'other',
  '',
];
const LINKS = [
  '',
  'rootfs/etc',
  '../outside',
  '../../outside/pwned',
  '/',
  '/etc',
  'rootfs/link',
  'link',
  '.',
];
const TYPES = ['file', 'directory', 'symlink', 'link', 'fifo', 'char-device'] as const;

const VALID_MANIFEST = JSON.stringify({
  acKind: 'ImageManifest',
  acVersion: '0.8.11',
  name: 'example.com/fuzz',
});

const entry = fc.record({
  name: fc.constantFrom(...NAMES),
  type: fc.constantFrom(...TYPES),
  linkname: fc.constantFrom(...LINKS),
  mode: fc.constantFrom(0o644, 0o755, 0o4755, 0o000, 0o7777),
  body: fc.oneof(fc.constant(VALID_MANIFEST), fc.string({ maxLength: 64 })),
  uid: fc.constantFrom(0, 1000, 2 ** 21),
});

interface EntryInput {
  name: string;
  type: (typeof TYPES)[number];
  linkname: string;
  mode: number;
  body: string;
  uid: number;
}

function tarOf(entries: EntryInput[]): Buffer {
  const parts: Buffer[] = [];
  for (const e of entries) {
    const body = e.type === 'file' ? Buffer.from(e.body) : Buffer.alloc(0);
    const h: WriteHeader = {
      name: e.name,
      type: e.type,
      mode: e.mode,
      uid: e.uid,
      gid: 0,
      uname: '',
      gname: '',
      size: body.length,
      mtime: 0,
      linkname: e.type === 'symlink' || e.type === 'link' ? e.linkname : '',
      // Only ever /dev/null's numbers: a fuzz run as root makes no node that matters.
      devmajor: e.type === 'char-device' ? 1 : 0,
      devminor: e.type === 'char-device' ? 3 : 0,
    };
    parts.push(encodeHeader(h), body, Buffer.alloc((512 - (body.length % 512)) % 512));
  }
  parts.push(Buffer.alloc(1024));
  return Buffer.concat(parts);
}

const archive = fc
  .tuple(
    fc.array(entry, { maxLength: 8 }),
    fc.boolean(),
    // Mostly whole archives; some with bytes flipped, some cut short.
    fc.oneof(
      { weight: 3, arbitrary: fc.constant([] as [number, number][]) },
      {
        weight: 1,
        arbitrary: fc.array(fc.tuple(fc.nat(), fc.integer({ min: 0, max: 255 })), { maxLength: 3 }),
      },
    ),
    fc.oneof({ weight: 4, arbitrary: fc.constant(null) }, { weight: 1, arbitrary: fc.nat() }),
    fc.boolean(),
  )
  .map(([entries, withManifest, flips, cut, gzip]) => {
    const all: EntryInput[] = withManifest
      ? [
          {
            name: 'manifest',
            type: 'file',
            linkname: '',
            mode: 0o644,
            body: VALID_MANIFEST,
            uid: 0,
          },
          { name: 'rootfs', type: 'directory', linkname: '', mode: 0o755, body: '', uid: 0 },
          ...entries,
        ]
      : entries;
    let tar = tarOf(all);
    if (flips.length > 0) {
      tar = Buffer.from(tar);
      for (const [at, byte] of flips) tar[at % tar.length] = byte;
    }
    if (cut !== null) tar = tar.subarray(0, cut % (tar.length + 1));
    return gzip ? gzipSync(tar) : tar;
  });

/** Every path under `dir` (not following symlinks), relative to it. */
function tree(dir: string, prefix = ''): string[] {
  const out: string[] = [];
  for (const d of readdirSync(join(dir, prefix), { withFileTypes: true })) {
    const rel = prefix === '' ? d.name : `${prefix}/${d.name}`;
    out.push(rel);
    if (d.isDirectory()) out.push(...tree(dir, rel));
  }
  return out;
}

describe('fuzzing (fast-check, fixed seed)', () => {
  let work: string;
  before(() => {
    work = mkdtempSync(join(tmpdir(), 'rocket-fuzz-'));
  });
  after(() => rmSync(work, { recursive: true, force: true }));

  it('image manifests', async (t) => {
    await fuzz(t, mutatedJson(IMAGE), (text) => parseImageManifest(text, 'fuzz.json'), 3000);
  });

  it('pod manifests', async (t) => {
    await fuzz(t, mutatedJson(POD), (text) => parsePodManifest(text, 'fuzz.json'), 3000);
  });

  it('CNI results', async (t) => {
    await fuzz(t, mutatedJson(CNI), (text) => parseCniResult(text), 3000);
  });

  it('docker manifests and indexes, under every content type', async (t) => {
    const input = fc.tuple(
      fc.oneof(mutatedJson(DOCKER_MANIFEST), mutatedJson(DOCKER_INDEX)),
      fc.constantFrom(...MANIFEST_TYPES),
    );
    await fuzz(
      t,
      input,
      ([text, type]) => parseManifest(Buffer.from(text, 'latin1'), type, 'fuzz manifest'),
      3000,
    );
  });

  it('docker image configs', async (t) => {
    await fuzz(
      t,
      mutatedJson(DOCKER_CONFIG),
      (text) => parseConfig(Buffer.from(text, 'latin1'), 'fuzz config'),
      3000,
    );
  });

  it('rkt run and prepare arguments', async (t) => {
    const input = fc.tuple(argv, fc.constantFrom('run', 'prepare' as const));
    await fuzz(t, input, ([args, verb]) => parseRunArgs(args, verb), 3000);
  });

  it('single-value flags: --volume, --mount, --port, --net, --insecure-options, --since, docker refs...', async (t) => {
    const parsers: [string, (v: string) => unknown][] = [
      ['volume', parseVolumeString],
      ['appc port', parsePortString],
      ['--mount', parseMountFlag],
      ['--port', parseExposedPort],
      ['--net', (v) => parseNetList(v.split(' '))],
      ['--insecure-options', parseInsecureOptions],
      ['--since', (v) => parseSince(v, 0)],
      ['--pull-policy', parsePullPolicy],
      ['docker reference', parseDockerReference],
      ['status', (v) => parseStatusArgs(v.split(' '))],
      ['enter', (v) => parseEnterArgs(v.split(' '))],
    ];
    const input = fc.tuple(fc.nat({ max: parsers.length - 1 }), arg);
    // Commander's InvalidArgumentError is how an option's parser refuses: rkt prints it on one line
    // and exits 254.
    await fuzz(
      t,
      input,
      ([i, v]) => (parsers[i] as [string, (v: string) => unknown])[1](v),
      4000,
      5_000,
      (err) => err instanceof RocketError || err instanceof InvalidArgumentError,
    );
  });

  it('the tar reader', async (t) => {
    await fuzz(
      t,
      archive,
      async (bytes) => {
        await readAci(Readable.from([bytes]), () => {}, { source: 'fuzz.aci' });
      },
      2000,
    );
  });

  it('the extractor: nothing outside its destination, nothing left by a refusal', async (t) => {
    let n = 0;
    await fuzz(
      t,
      archive,
      async (bytes) => {
        const root = join(work, `x${n++}`);
        const outside = join(root, 'outside');
        mkdirSync(outside, { recursive: true });
        writeFileSync(join(outside, 'sentinel'), 'untouched\n');
        const dest = join(root, 'dest', 'image');
        mkdirSync(join(root, 'dest'));
        let extracted = false;
        try {
          await extractAci(Readable.from([bytes]), dest, { source: 'fuzz.aci', xattrs: false });
          extracted = true;
        } finally {
          assert.deepEqual(tree(outside), ['sentinel'], 'a write outside the destination');
          assert.equal(readFileSync(join(outside, 'sentinel'), 'utf8'), 'untouched\n');
          // Accepted: the image alone; refused: nothing at all (no temp dir left beside it).
          assert.deepEqual(readdirSync(join(root, 'dest')), extracted ? ['image'] : []);
          rmSync(root, { recursive: true, force: true });
        }
      },
      1000,
    );
  });

  it('crashed on no input at all', (t) => {
    const c = totals;
    t.diagnostic(
      `fuzz total: ${c.tried} tried, ${c.accepted} accepted, ${c.refused} refused, ${c.crashed} crashed`,
    );
    assert.equal(c.crashed, 0);
    assert.ok(c.tried >= 25_000, `${c.tried} inputs`);
  });
});
