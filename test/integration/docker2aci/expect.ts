/** What the testenv images must convert to, shared by the file and registry conversion tests. */
import assert from 'node:assert/strict';
import { lstatSync, readdirSync, readFileSync, readlinkSync } from 'node:fs';
import { join } from 'node:path';
import type { ImageManifest } from '../../../src/appc/index.js';
import { canCheck, noReferenceActool, projectRoot, referenceActool, run } from '../../helpers.js';

export const docker2aci = join(projectRoot, 'bin', 'docker2aci');

export interface Node {
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
export function tree(root: string): Map<string, Node> {
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
export function checkExpectedTree(t: Map<string, Node>): void {
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

export function checkLatestManifest(m: ImageManifest): void {
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
export async function convert(
  cwd: string,
  args: string[],
  env?: NodeJS.ProcessEnv,
): Promise<{ files: string[]; stdout: string }> {
  const r = await run(docker2aci, args, { cwd, env });
  assert.equal(r.code, 0, `docker2aci ${args.join(' ')}: ${r.stderr}`);
  const at = r.stdout.indexOf('\nGenerated ACI(s):\n');
  assert.ok(at !== -1, r.stdout);
  const files = r.stdout
    .slice(at + '\nGenerated ACI(s):\n'.length)
    .split('\n')
    .filter((l) => l !== '');
  return { files: files.map((f) => join(cwd, f)), stdout: r.stdout };
}

export async function validateWithReference(path: string): Promise<void> {
  if (!canCheck(noReferenceActool)) return;
  const r = await run(referenceActool, ['validate', path]);
  assert.equal(r.code, 0, `reference actool validate ${path}: ${r.stdout}${r.stderr}`);
}
