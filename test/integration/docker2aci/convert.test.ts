/**
 * bin/docker2aci over shared/testenv's images (built with `build-images.sh --no-push` into a private
 * dir): every input format converts to the expected tree and manifest, the reference actool accepts
 * every ACI, and the --nosquash layers render (dependencies + pathWhitelist) to the squashed tree.
 */
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { createReadStream, existsSync, lstatSync, readdirSync, readFileSync, readlinkSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { extractAci, imageIdOf } from '../../../src/aci/index.js';
import type { ImageManifest } from '../../../src/appc/index.js';
import { flattenDependencies, keyOfImageId, renderImages } from '../../../src/store/index.js';
import { noReferenceActool, projectRoot, referenceActool, run, tempDir } from '../../helpers.js';

const docker2aci = join(projectRoot, 'bin', 'docker2aci');
const testenv = join(projectRoot, '..', 'shared', 'testenv');

function missingTools(): string | false {
  for (const tool of ['umoci', 'skopeo']) {
    try {
      execFileSync('sh', ['-c', `command -v ${tool}`], { stdio: 'ignore' });
    } catch {
      return `${tool} is not installed (shared/testenv/install.sh installs it)`;
    }
  }
  return existsSync(join(testenv, 'build-images.sh')) ? false : `${testenv}/build-images.sh is missing`;
}

const skip = missingTools();

interface Node {
  type: string;
  mode: number;
  uid: number;
  gid: number;
  content?: string;
  link?: string;
  rdev?: number;
  ino: number;
}

/** path → node for every entry below `root`. */
function tree(root: string): Map<string, Node> {
  const out = new Map<string, Node>();
  const walk = (dir: string, rel: string) => {
    for (const name of readdirSync(dir).sort()) {
      const p = join(dir, name);
      const r = rel === '' ? name : `${rel}/${name}`;
      const st = lstatSync(p);
      const type = st.isDirectory()
        ? 'dir'
        : st.isFile()
          ? 'file'
          : st.isSymbolicLink()
            ? 'symlink'
            : st.isFIFO()
              ? 'fifo'
              : st.isCharacterDevice()
                ? 'char'
                : 'other';
      const n: Node = { type, mode: st.mode & 0o7777, uid: st.uid, gid: st.gid, ino: st.ino };
      if (type === 'file') n.content = readFileSync(p, 'utf8');
      if (type === 'symlink') n.link = readlinkSync(p);
      if (type === 'char') n.rdev = st.rdev;
      out.set(r, n);
      if (type === 'dir') walk(p, r);
    }
  };
  walk(root, '');
  return out;
}

/** The expected final tree of testenv's README. */
function checkExpectedTree(t: Map<string, Node>): void {
  const get = (p: string) => {
    const n = t.get(p);
    assert.ok(n !== undefined, `${p} is missing`);
    return n;
  };
  assert.equal(get('bin/busybox').type, 'file');
  assert.equal(get('bin/sh').link, 'busybox');
  assert.equal(get('hello.txt').content, 'hello from layer 2\n'.slice(0, get('hello.txt').content?.length));
  assert.match(get('hello.txt').content ?? '', /^hello from layer 2/);
  assert.equal(get('hello.txt').content, get('hello-hardlink.txt').content);
  assert.equal(
    get('hello.txt').ino,
    get('hello-hardlink.txt').ino,
    'hello.txt and hello-hardlink.txt share an inode',
  );
  assert.equal(get('hello-symlink').link, 'hello.txt');
  assert.equal(get('abs-symlink').link, '/etc/passwd');
  assert.equal(get('hl-b.txt').type, 'file');
  for (const gone of ['to-delete.txt', 'dir-to-delete', 'hl-a.txt', 'etc/opaque/a', 'etc/opaque/b']) {
    assert.ok(!t.has(gone), `${gone} should be gone`);
  }
  assert.ok(
    ![...t.keys()].some((p) => p.split('/').some((c) => c.startsWith('.wh.'))),
    'no whiteout entries',
  );
  assert.equal(get('etc/opaque/c').type, 'file');
  assert.match(get('etc/passwd').content ?? '', /^app:x:1000:/m);
  assert.match(get('etc/group').content ?? '', /^users:x:100:/m);
  const home = get('home/app');
  assert.deepEqual([home.type, home.mode, home.uid, home.gid], ['dir', 0o750, 1000, 1000]);
  assert.equal(get('tmp').mode, 0o1777);
  assert.equal(get('tmp/fifo').type, 'fifo');
  const dev = get('dev/null');
  if (process.getuid?.() === 0) {
    assert.equal(dev.type, 'char');
    assert.equal(dev.rdev, 259); // makedev(1, 3)
  }
  assert.equal(get('empty.txt').content, '');
  assert.ok([...t.keys()].some((p) => p.startsWith('long/') && p.length > 100 + 'long/'.length));
  assert.equal(get('unicode/héllo-wörld.txt').type, 'file');
  assert.equal(get('bin/hello.sh').type, 'file');
  assert.equal(get('data').type, 'dir');
  assert.equal(get('var/cache/app').type, 'dir');
  assert.equal(get('layer2.txt').type, 'file');
  assert.equal(get('dev/stdin').link, '/proc/self/fd/0');
  assert.equal(get('dev/fd').link, '/proc/self/fd');
}

function checkLatestManifest(m: ImageManifest): void {
  const app = m.app;
  assert.ok(app !== undefined);
  assert.deepEqual(app.exec, ['/bin/sh', '-c', 'echo hello from $FOO']);
  assert.deepEqual(app.environment, [
    { name: 'PATH', value: '/bin:/usr/bin' },
    { name: 'FOO', value: 'bar' },
    { name: 'GREETING', value: 'hello world' },
  ]);
  assert.equal(app.user, 'app');
  assert.equal(app.group, 'app');
  assert.equal(app.workingDirectory, '/home/app');
  assert.deepEqual(
    app.mountPoints?.map((mp) => [mp.name, mp.path]),
    [
      ['volume-data', '/data'],
      ['volume-var-cache-app', '/var/cache/app'],
    ],
  );
  assert.deepEqual(
    app.ports?.map((p) => [p.name, p.protocol, p.port, p.count]),
    [
      ['53-udp', 'udp', 53, 1],
      ['8080-tcp', 'tcp', 8080, 1],
      ['9000', 'tcp', 9000, 1],
    ],
  );
  const labels = Object.fromEntries((m.labels ?? []).map((l) => [l.name, l.value]));
  assert.equal(labels.os, 'linux');
  assert.equal(labels.arch, 'amd64');
  assert.equal(labels.version, 'latest');
  const ann = Object.fromEntries((m.annotations ?? []).map((a) => [a.name, a.value]));
  assert.equal(ann.author, 'd2a testenv');
  assert.equal(ann.created, '2000-01-01T00:00:00Z');
  assert.match(ann['appc.io/docker/imageid'] ?? '', /^sha256:[0-9a-f]{64}$/);
  assert.match(ann['appc.io/docker/manifesthash'] ?? '', /^sha256:[0-9a-f]{64}$/);
  assert.equal(ann['appc.io/docker/entrypoint'], '["/bin/sh","-c"]');
  assert.equal(ann['appc.io/docker/cmd'], '["echo hello from $FOO"]');
  assert.equal(m.acVersion, '0.8.11');
}

/** Runs bin/docker2aci; returns the generated paths (relative to cwd) and stdout. */
async function convert(cwd: string, args: string[]): Promise<{ files: string[]; stdout: string }> {
  const r = await run(docker2aci, args, { cwd });
  assert.equal(r.code, 0, `docker2aci ${args.join(' ')}: ${r.stderr}`);
  const at = r.stdout.indexOf('\nGenerated ACI(s):\n');
  assert.ok(at !== -1, r.stdout);
  const files = r.stdout
    .slice(at + '\nGenerated ACI(s):\n'.length)
    .split('\n')
    .filter((l) => l !== '');
  return { files: files.map((f) => join(cwd, f)), stdout: r.stdout };
}

async function validateWithReference(path: string): Promise<void> {
  if (noReferenceActool !== false) return;
  const r = await run(referenceActool, ['validate', path]);
  assert.equal(r.code, 0, `reference actool validate ${path}: ${r.stdout}${r.stderr}`);
}

describe('docker2aci over the testenv images', { skip }, () => {
  let work: { path: string; cleanup: () => Promise<void> };
  const env: Record<string, string> = {};

  before(async () => {
    work = await tempDir('d2a-int-');
    const out = execFileSync('bash', [join(testenv, 'build-images.sh'), '--no-push'], {
      env: { ...process.env, D2A_TESTENV_DIR: join(work.path, 'testenv') },
      encoding: 'utf8',
      stdio: ['ignore', 'pipe', 'ignore'],
    });
    for (const m of out.matchAll(/^export ([A-Z0-9_]+)=(.*)$/gm))
      env[m[1] as string] = (m[2] as string).replace(/^'|'$/g, '');
  });

  after(async () => {
    await work?.cleanup();
  });

  const inputs: [string, () => string, string][] = [
    ['OCI layout (gzip)', () => `oci:${env.OCI_LAYOUT}:latest`, 'oci-latest.aci'],
    ['OCI layout (zstd)', () => `oci:${env.OCI_LAYOUT_ZSTD}:latest`, 'oci-zstd-latest.aci'],
    [
      'OCI layout (uncompressed)',
      () => `oci:${env.OCI_LAYOUT_UNCOMPRESSED}:latest`,
      'oci-uncompressed-latest.aci',
    ],
    ['docker-archive', () => env.DOCKER_ARCHIVE ?? '', 'test-busybox-latest.aci'],
    ['OCI archive', () => `oci-archive:${env.OCI_ARCHIVE}`, ''],
  ];

  for (const [what, arg] of inputs) {
    it(`converts the ${what} to the expected tree and manifest`, async () => {
      const dir = join(work.path, what.replace(/\W+/g, '-'));
      execFileSync('mkdir', ['-p', dir]);
      const { files, stdout } = await convert(dir, [arg()]);
      assert.equal(files.length, 1);
      assert.match(stdout, /\nConverted volumes:\n\tname: "volume-data", path: "\/data", readOnly: false\n/);
      assert.match(
        stdout,
        /\nConverted ports:\n\tname: "53-udp", protocol: "udp", port: 53, count: 1, socketActivated: false\n/,
      );
      const aci = files[0] as string;
      await validateWithReference(aci);
      const ex = await extractAci(aci, join(dir, 'x'));
      checkLatestManifest(ex.manifest);
      checkExpectedTree(tree(join(dir, 'x', 'rootfs')));
    });
  }

  it('maps User "1000" and "1000:100" to user and group', async () => {
    const dir = join(work.path, 'uid');
    execFileSync('mkdir', ['-p', dir]);
    for (const [tag, user, group] of [
      ['uid', '1000', '1000'],
      ['uidgid', '1000', '100'],
    ] as const) {
      const { files, stdout } = await convert(dir, ['-compression=none', `oci:${env.OCI_LAYOUT}:${tag}`]);
      assert.ok(!stdout.includes('Converted volumes'));
      assert.ok(!stdout.includes('Converted ports'));
      const aci = files[0] as string;
      await validateWithReference(aci);
      const ex = await extractAci(aci, join(dir, `x-${tag}`));
      assert.equal(ex.manifest.app?.user, user);
      assert.equal(ex.manifest.app?.group, group);
      assert.deepEqual(ex.manifest.app?.exec, ['/bin/sh', '-c', 'id']);
      assert.equal(ex.manifest.app?.workingDirectory, '/');
      assert.equal(ex.manifest.app?.mountPoints, undefined);
    }
  });

  it('--nosquash layers render to the squashed tree', async () => {
    const dir = join(work.path, 'nosquash');
    execFileSync('mkdir', ['-p', dir]);
    const { files } = await convert(dir, ['-nosquash', `oci:${env.OCI_LAYOUT}:latest`]);
    assert.equal(files.length, 3);
    const byName = new Map<string, { key: string; path: string; manifest: ImageManifest }>();
    for (const f of files) {
      await validateWithReference(f);
      const key = keyOfImageId(await imageIdOf(f));
      const ex = await extractAci(f, join(dir, `m-${byName.size}`));
      byName.set(ex.manifest.name, { key, path: f, manifest: ex.manifest });
    }
    const top = [...byName.values()].find((v) => v.manifest.dependencies !== undefined);
    assert.ok(top !== undefined);
    checkLatestManifest(top.manifest);
    const byKey = new Map([...byName.values()].map((v) => [v.key, v]));
    const flat = await flattenDependencies(
      top.key,
      (k) => (byKey.get(k) as { manifest: ImageManifest }).manifest,
      (dep) => (byName.get(dep.imageName) as { key: string }).key,
    );
    const rendered = join(dir, 'rendered');
    execFileSync('mkdir', ['-p', rendered]);
    await renderImages(flat, rendered, (k) =>
      Promise.resolve(createReadStream((byKey.get(k) as { path: string }).path)),
    );
    const sq = await convert(dir, [`oci:${env.OCI_LAYOUT}:latest`]);
    await extractAci(sq.files[0] as string, join(dir, 'squashed'));
    const a = tree(join(rendered, 'rootfs'));
    const b = tree(join(dir, 'squashed', 'rootfs'));
    checkExpectedTree(a);
    const strip = (t: Map<string, Node>) =>
      [...t].map(([p, n]) => [p, { ...n, ino: 0, mtime: 0 }] as const).sort((x, y) => (x[0] < y[0] ? -1 : 1));
    assert.deepEqual(strip(a), strip(b));
  });

  it('fails with "Error: conversion error:" and exit 1 on a missing file', async () => {
    const r = await run(docker2aci, [join(work.path, 'nope.tar')], { cwd: work.path });
    assert.equal(r.code, 1);
    assert.match(r.stderr, /^Error: conversion error: /);
  });
});
