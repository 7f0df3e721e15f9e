/**
 * `make install DESTDIR=... PREFIX=/usr`, the installed commands run from another directory (a pod
 * included), `make uninstall`, and `make deb` checked with dpkg-deb and unpacked, run and removed by
 * dpkg in a scratch root (never the host's). Needs root (the pod), make,
 * and dpkg-deb for the package.
 */
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import {
  existsSync,
  lstatSync,
  mkdirSync,
  mkdtempSync,
  readdirSync,
  readFileSync,
  readlinkSync,
  rmSync,
  statSync,
  writeFileSync,
} from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { unmountUnder } from '../../../src/pod/index.js';
import { podCgroupDirs } from '../../../src/stage1/oci/engine.js';
import { which } from '../../../src/stage1/oci/runtime.js';
import { projectRoot, run, skipUnlessCI } from '../../helpers.js';
import { buildBusyboxAci, busybox } from '../busybox-aci.js';

const skip =
  process.getuid?.() !== 0
    ? 'needs root'
    : which('make') === undefined
      ? 'needs make'
      : !existsSync(join(projectRoot, 'dist', 'man', 'man1', 'rkt.1'))
        ? 'needs the build (dist/)'
        : false;

function make(...args: string[]): { code: number; out: string } {
  const r = spawnSync('make', ['--no-print-directory', '-C', projectRoot, ...args], { encoding: 'utf8' });
  return { code: r.status ?? 1, out: r.stdout + r.stderr };
}

/** Every path under `dir`, relative to it. */
function listTree(dir: string, rel = ''): string[] {
  const out: string[] = [];
  for (const name of readdirSync(join(dir, rel)).sort()) {
    const p = rel === '' ? name : `${rel}/${name}`;
    out.push(p);
    if (lstatSync(join(dir, p)).isDirectory()) out.push(...listTree(dir, p));
  }
  return out;
}

describe('make install / uninstall', { skip: skipUnlessCI(skip, 'install integration tests') }, () => {
  let work: string;
  let dest: string;
  const pods = new Set<string>();
  before(() => {
    work = mkdtempSync(join(tmpdir(), 'rocket-install-'));
    dest = join(work, 'root');
    const r = make('install', `DESTDIR=${dest}`, 'PREFIX=/usr');
    assert.equal(r.code, 0, r.out);
  });
  after(() => {
    const rkt = join(dest, 'usr', 'bin', 'rkt');
    if (existsSync(rkt))
      for (let i = 0; i < 2; i++)
        spawnSync(rkt, [`--dir=${join(work, 'data')}`, 'gc', '--grace-period=0s'], { stdio: 'ignore' });
    unmountUnder(work);
    for (const uuid of pods) for (const d of podCgroupDirs(`rkt-${uuid}`)) spawnSync('rmdir', [d]);
    rmSync(work, { recursive: true, force: true });
  });

  it('puts rkt, actool and docker2aci in PREFIX/bin, working from any directory', async () => {
    const bin = join(dest, 'usr', 'bin');
    assert.equal(readlinkSync(join(bin, 'rkt')), '../lib/rocket/bin/rkt');
    const v = await run(join(bin, 'rkt'), ['version'], { cwd: '/' });
    assert.equal(v.code, 0, v.stderr);
    assert.match(v.stdout, /^rkt Version: /);
    const h = await run(join(bin, 'rkt'), ['help'], { cwd: '/' });
    assert.equal(h.code, 0, h.stderr);
    assert.match(h.stdout, /^Available Commands:$/m);
    const rh = await run(join(bin, 'rkt'), ['run', '--help'], { cwd: '/' });
    assert.equal(rh.code, 0, rh.stderr);
    assert.match(rh.stdout, /--net\[=string\]/);
    const a = await run(join(bin, 'actool'), ['version'], { cwd: '/' });
    assert.equal(a.code, 0, a.stderr);
    const d = await run(join(bin, 'docker2aci'), ['--version'], { cwd: '/' });
    assert.equal(d.code, 0, d.stderr);
    // The launcher starts stage0 from the snapshot only when it is newer than tsc's output.
    const lib = join(dest, 'usr', 'lib', 'rocket');
    assert.ok(
      statSync(join(lib, 'dist', 'bundle', 'rkt.blob')).mtimeMs >
        statSync(join(lib, 'dist', 'src', 'cli', 'rkt.js')).mtimeMs,
    );
  });

  it('installs the data files of src/ that run time reads (the .proto files)', () => {
    const data = listTree(join(projectRoot, 'src')).filter(
      (p) => !p.endsWith('.ts') && !statSync(join(projectRoot, 'src', p)).isDirectory(),
    );
    assert.ok(data.includes('api/v1alpha/api.proto'), data.join(' '));
    for (const p of data) assert.ok(existsSync(join(dest, 'usr', 'lib', 'rocket', 'src', p)), p);
  });

  it('every dependency loads from the installed node_modules', async () => {
    const lib = join(dest, 'usr', 'lib', 'rocket');
    const deps = Object.keys(
      (
        JSON.parse(readFileSync(join(lib, 'package.json'), 'utf8')) as {
          dependencies: Record<string, string>;
        }
      ).dependencies,
    );
    const script = `for (const d of ${JSON.stringify(deps)}) await import(d);`;
    const r = await run(process.execPath, ['--input-type=module', '-e', script], { cwd: lib });
    assert.equal(r.code, 0, r.stderr);
  });

  it(
    'the installed rkt runs a pod',
    { skip: skipUnlessCI(busybox === undefined ? 'needs busybox-static' : false) },
    async () => {
      const aci = buildBusyboxAci(work, 'installed', {
        applets: ['sh', 'echo'],
        dirs: ['proc', 'sys', 'dev', 'tmp'],
      });
      const uuidFile = join(work, 'uuid');
      const r = await run(
        join(dest, 'usr', 'bin', 'rkt'),
        [
          `--dir=${join(work, 'data')}`,
          '--insecure-options=image',
          'run',
          '--net=none',
          `--uuid-file-save=${uuidFile}`,
          aci,
          '--exec',
          '/bin/sh',
          '--',
          '-c',
          'echo from-the-installed-rkt',
        ],
        { cwd: '/' },
      );
      if (existsSync(uuidFile)) pods.add(readFileSync(uuidFile, 'utf8').trim());
      assert.equal(r.code, 0, r.stderr);
      assert.match(r.stdout, /from-the-installed-rkt/);
    },
  );

  it("installs man pages, completion, units and rkt's config layout", async () => {
    const usr = join(dest, 'usr');
    for (const page of [
      'rkt.1',
      'rkt-run.1',
      'rkt-image-list.1',
      'rkt-image-verify.1',
      'actool.1',
      'docker2aci.1',
    ])
      assert.ok(existsSync(join(usr, 'share', 'man', 'man1', page)), page);
    if (which('man') !== undefined) {
      const m = await run('man', ['-l', '-P', 'cat', join(usr, 'share', 'man', 'man1', 'rkt-run.1')], {
        env: { ...process.env, MANWIDTH: '100' },
      });
      assert.equal(m.code, 0, m.stderr);
      assert.match(m.stdout, /--volume=string/);
    }
    const completion = join(usr, 'share', 'bash-completion', 'completions', 'rkt');
    const c = spawnSync(
      'bash',
      [
        '-c',
        `source '${completion}' && COMP_WORDS=(rkt ima) && COMP_CWORD=1 && _rkt && echo "\${COMPREPLY[*]}"`,
      ],
      { encoding: 'utf8' },
    );
    assert.equal(c.stdout, 'image\n', c.stderr);
    assert.ok(existsSync(join(usr, 'share', 'zsh', 'site-functions', '_rkt')));
    const gc = readFileSync(join(usr, 'lib', 'systemd', 'system', 'rkt-gc.service'), 'utf8');
    assert.match(gc, /^ExecStart=\/usr\/bin\/rkt gc /m);
    assert.ok(existsSync(join(usr, 'lib', 'tmpfiles.d', 'rkt.conf')));
    assert.ok(existsSync(join(usr, 'share', 'doc', 'rocket', 'examples', 'systemd', 'etcd.service')));
    for (const d of ['net.d', 'auth.d', 'paths.d', 'stage1.d', 'trustedkeys/root.d', 'trustedkeys/prefix.d'])
      assert.ok(statSync(join(dest, 'etc', 'rkt', d)).isDirectory(), d);
    for (const d of ['plugins/net', 'stage1-images', 'trustedkeys/root.d'])
      assert.ok(statSync(join(usr, 'lib', 'rkt', d)).isDirectory(), d);
  });

  it('make uninstall removes exactly what install added', () => {
    // A trusted key the admin added stays, with the directories that hold it.
    const key = join(dest, 'etc', 'rkt', 'trustedkeys', 'root.d', 'admin-key');
    writeFileSync(key, 'key');
    const r = make('uninstall', `DESTDIR=${dest}`, 'PREFIX=/usr');
    assert.equal(r.code, 0, r.out);
    assert.deepEqual(listTree(dest), [
      'etc',
      'etc/rkt',
      'etc/rkt/trustedkeys',
      'etc/rkt/trustedkeys/root.d',
      'etc/rkt/trustedkeys/root.d/admin-key',
    ]);
    rmSync(join(dest, 'etc'), { recursive: true });
    const again = make('uninstall', `DESTDIR=${dest}`, 'PREFIX=/usr');
    assert.notEqual(again.code, 0);
    assert.match(again.out, /nothing to uninstall/);
  });
});

describe(
  'make deb',
  {
    skip: skipUnlessCI(
      skip !== false
        ? skip
        : which('dpkg') === undefined || which('dpkg-deb') === undefined
          ? 'needs dpkg'
          : false,
    ),
  },
  () => {
    let work: string;
    before(() => {
      work = mkdtempSync(join(tmpdir(), 'rocket-deb-'));
    });
    after(() => rmSync(work, { recursive: true, force: true }));

    it('builds a package with its dependencies and the installed layout', async () => {
      const r = make('deb', `DEBDIR=${work}`);
      assert.equal(r.code, 0, r.out);
      const deb = readdirSync(work).find((f) => f.endsWith('.deb'));
      assert.ok(deb !== undefined, r.out);
      const info = spawnSync('dpkg-deb', ['--info', join(work, deb)], { encoding: 'utf8' });
      assert.equal(info.status, 0, info.stderr);
      assert.match(info.stdout, /^ Package: rocket$/m);
      const depends = /^ Depends: (.*)$/m.exec(info.stdout)?.[1] ?? '';
      for (const dep of [
        'nodejs (>= 20',
        'crun | runc',
        'containernetworking-plugins',
        'mawk',
        'iptables',
        'util-linux',
      ])
        assert.ok(depends.includes(dep), `Depends lacks ${dep}: ${depends}`);
      assert.match(info.stdout, /postinst/);
      const contents = spawnSync('dpkg-deb', ['--contents', join(work, deb)], {
        encoding: 'utf8',
        maxBuffer: 64 << 20,
      });
      assert.equal(contents.status, 0, contents.stderr);
      for (const path of [
        './usr/bin/rkt -> ../lib/rocket/bin/rkt',
        './usr/lib/rocket/dist/bundle/rkt.blob',
        './usr/lib/rocket/node_modules/better-sqlite3/build/Release/better_sqlite3.node',
        './usr/share/man/man1/rkt-run.1.gz',
        './usr/share/bash-completion/completions/rkt',
        './usr/lib/systemd/system/rkt-gc.timer',
        './etc/rkt/net.d/',
        './usr/lib/rkt/plugins/net/',
      ])
        assert.ok(contents.stdout.includes(path), path);
      assert.doesNotMatch(
        contents.stdout,
        /install-manifest|node_modules\/typescript\/|node_modules\/eslint\//,
      );
      // dpkg unpacks it into a scratch root (its own database there; no maintainer script runs on
      // unpack or remove), the unpacked rkt runs, and dpkg's removal leaves nothing behind.
      const root = join(work, 'scratch');
      mkdirSync(join(root, 'var', 'lib', 'dpkg', 'info'), { recursive: true });
      mkdirSync(join(root, 'var', 'lib', 'dpkg', 'updates'));
      writeFileSync(join(root, 'var', 'lib', 'dpkg', 'status'), '');
      const dpkg = (...args: string[]) =>
        spawnSync('dpkg', [`--root=${root}`, '--force-depends', ...args], { encoding: 'utf8' });
      const unpack = dpkg('--unpack', join(work, deb));
      assert.equal(unpack.status, 0, unpack.stderr);
      const v = await run(join(root, 'usr', 'bin', 'rkt'), ['version'], { cwd: '/' });
      assert.equal(v.code, 0, v.stderr);
      const h = await run(join(root, 'usr', 'bin', 'rkt'), ['help', 'run'], { cwd: '/' });
      assert.equal(h.code, 0, h.stderr);
      const remove = dpkg('--remove', 'rocket');
      assert.equal(remove.status, 0, remove.stderr);
      assert.deepEqual(
        listTree(root).filter((p) => p !== 'var' && !p.startsWith('var/')),
        [],
      );
    });
  },
);
