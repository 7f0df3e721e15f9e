import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import {
  chownSync,
  chmodSync,
  existsSync,
  linkSync,
  lstatSync,
  mkdirSync,
  readdirSync,
  readFileSync,
  readlinkSync,
  statSync,
  symlinkSync,
  utimesSync,
  writeFileSync,
} from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { buildAci, extractAci, imageIdOf, readAci, validateArchive } from '../../../src/aci/index.js';
import { RocketError } from '../../../src/errors.js';
import { ACTOOL, hasActool, makeLayout, MANIFEST_TEXT, sh, tempDir } from './helpers.js';
import { skipUnlessCI } from '../../helpers.js';

let dir: string;
let cleanup: () => void;
let layout: string;
const T = 1_600_000_000;

before(() => {
  ({ dir, cleanup } = tempDir('build'));
  layout = makeLayout(join(dir, 'layout'), `  ${MANIFEST_TEXT}\n`);
  const r = join(layout, 'rootfs');
  mkdirSync(join(r, 'usr', 'bin'), { recursive: true });
  mkdirSync(join(r, 'tmp'));
  chmodSync(join(r, 'tmp'), 0o1777);
  writeFileSync(join(r, 'usr', 'bin', 'tool'), Buffer.alloc(200_000, 7));
  chmodSync(join(r, 'usr', 'bin', 'tool'), 0o4755);
  linkSync(join(r, 'usr', 'bin', 'tool'), join(r, 'usr', 'bin', 'tool-alias'));
  symlinkSync('/etc/passwd', join(r, 'abs-link'));
  symlinkSync('usr/bin/tool', join(r, 'rel-link'));
  writeFileSync(join(r, 'a.txt'), 'sorted after "a" dir? no: "a" < "a.txt" < "a0"\n');
  mkdirSync(join(r, 'a'));
  writeFileSync(join(r, 'a', 'inner'), 'x');
  writeFileSync(join(r, 'a0'), 'y');
  writeFileSync(join(r, 'empty'), '');
  execFileSync('mkfifo', [join(r, 'fifo')]);
  for (const p of ['usr/bin/tool', 'a.txt', 'a/inner', 'a0', 'empty', 'a', 'usr/bin', 'usr', 'tmp', '.']) {
    utimesSync(join(r, p), T, T);
  }
  utimesSync(join(layout, 'manifest'), T, T);
});
after(() => cleanup());

async function entryNames(path: string): Promise<string[]> {
  const names: string[] = [];
  await readAci(path, (e) => void names.push(e.header.name));
  return names;
}

describe('buildAci', () => {
  it('writes rootfs first, a sorted depth-first walk, and the canonical manifest last', async () => {
    const out = join(dir, 'order.aci');
    await buildAci(layout, out, { compression: 'none' });
    assert.deepEqual(await entryNames(out), [
      'rootfs',
      'rootfs/a',
      'rootfs/a/inner',
      'rootfs/a.txt',
      'rootfs/a0',
      'rootfs/abs-link',
      'rootfs/empty',
      'rootfs/etc',
      'rootfs/etc/hello',
      'rootfs/fifo',
      'rootfs/rel-link',
      'rootfs/tmp',
      'rootfs/usr',
      'rootfs/usr/bin',
      'rootfs/usr/bin/tool',
      'rootfs/usr/bin/tool-alias',
      'manifest',
    ]);
    const v = await validateArchive(out);
    assert.equal(v.manifestBytes.toString(), MANIFEST_TEXT, 'manifest re-serialized, not copied');
    let manifestHeader: { mode: number; uid: number; gid: number; uname: string; mtime: number } | undefined;
    let link: { type: string; linkname: string; size: number } | undefined;
    await readAci(out, (e) => {
      if (e.header.name === 'manifest') manifestHeader = e.header;
      if (e.header.name === 'rootfs/usr/bin/tool-alias') link = e.header;
    });
    assert.deepEqual(
      { ...manifestHeader },
      { ...manifestHeader, mode: 0o644, uid: 0, gid: 0, uname: 'root', mtime: T },
    );
    assert.deepEqual({ ...link }, { ...link, type: 'link', linkname: 'rootfs/usr/bin/tool', size: 0 });
  });

  it('is deterministic: the same tree gives the same bytes and image ID', async () => {
    const a = await buildAci(layout, join(dir, 'det1.aci'));
    const b = await buildAci(layout, join(dir, 'det2.aci'));
    assert.equal(a.imageId, b.imageId);
    assert.deepEqual(readFileSync(join(dir, 'det1.aci')), readFileSync(join(dir, 'det2.aci')));
    assert.equal(a.imageId, await imageIdOf(join(dir, 'det1.aci')));
    assert.equal(a.imageId, `sha512-${sh(`gzip -dc ${join(dir, 'det1.aci')} | sha512sum`).slice(0, 128)}`);
  });

  it('records 0:0 root/root with ownerRoot', async () => {
    const out = join(dir, 'owner.aci');
    // Run as root, the tree is root's already: give a file another owner, so the flag must act.
    const tool = join(layout, 'rootfs/usr/bin/tool');
    const was = statSync(tool);
    if (was.uid === 0) chownSync(tool, 1234, 4321);
    try {
      await buildAci(layout, out, { ownerRoot: true, compression: 'none' });
    } finally {
      chownSync(tool, was.uid, was.gid);
      chmodSync(tool, was.mode & 0o7777); // chown clears setuid and setgid
    }
    const owners = new Map<string, string>();
    await readAci(out, (e) => {
      owners.set(e.header.name, `${e.header.uid}:${e.header.gid} ${e.header.uname}/${e.header.gname}`);
    });
    // Every entry, the manifest and the tree's files among them (the callback may not run at all).
    assert.ok(owners.has('manifest') && owners.has('rootfs/usr/bin/tool'), [...owners.keys()].join(' '));
    for (const [name, owner] of owners) assert.equal(owner, '0:0 root/root', name);
  });

  it('refuses an output not ending in .aci', async () => {
    await assert.rejects(buildAci(layout, join(dir, 'x.tar')), /x\.tar: extension must be \.aci/);
  });

  it('refuses an existing output unless overwrite, and leaves no temp file', async () => {
    const out = join(dir, 'exists.aci');
    writeFileSync(out, 'old');
    await assert.rejects(
      buildAci(layout, out),
      (err: Error) => err instanceof RocketError && /target file exists/.test(err.message),
    );
    assert.equal(readFileSync(out, 'utf8'), 'old');
    await buildAci(layout, out, { overwrite: true });
    await validateArchive(out);
    assert.deepEqual(
      readdirSync(dir).filter((f) => f.includes('rocket-tmp')),
      [],
    );
  });

  it('refuses an invalid layout before writing anything', async () => {
    const bad = join(dir, 'bad-layout');
    mkdirSync(join(bad, 'rootfs'), { recursive: true });
    await assert.rejects(buildAci(bad, join(dir, 'never.aci')), /no image manifest found in layout/);
    assert.equal(existsSync(join(dir, 'never.aci')), false);
  });

  it('refuses an output inside the rootfs being archived', async () => {
    await assert.rejects(buildAci(layout, join(layout, 'rootfs', 'self.aci')), /inside the layout's rootfs/);
  });

  it(
    'writes the same tar as REF actool build (but the manifest entry)',
    { skip: skipUnlessCI(!hasActool && 'no reference actool') },
    async () => {
      const ours = join(dir, 'ours-ref.aci');
      const refOut = join(dir, 'ref.aci');
      await buildAci(layout, ours, { compression: 'none', xattrs: false });
      execFileSync(ACTOOL, ['build', '--no-compression', layout, refOut]);
      const a = readFileSync(ours);
      const b = readFileSync(refOut);
      let manifestAt = -1;
      await readAci(ours, (e) => {
        if (e.header.name === 'manifest') manifestAt = e.offset;
      });
      assert.ok(manifestAt > 0);
      assert.deepEqual(a.subarray(0, manifestAt), b.subarray(0, manifestAt));
      assert.equal(a.length, b.length);
    },
  );
});

describe('build → extract round trip', () => {
  let out: string;
  let dest: string;
  before(async () => {
    out = join(dir, 'roundtrip.aci');
    dest = join(dir, 'extracted');
    await buildAci(layout, out);
    await extractAci(out, dest);
  });

  it('keeps contents, modes (setuid, sticky) and mtimes', () => {
    const r = join(dest, 'rootfs');
    assert.deepEqual(readFileSync(join(r, 'usr/bin/tool')), Buffer.alloc(200_000, 7));
    assert.equal(lstatSync(join(r, 'usr/bin/tool')).mode & 0o7777, 0o4755);
    assert.equal(lstatSync(join(r, 'tmp')).mode & 0o7777, 0o1777);
    for (const p of ['usr/bin/tool', 'a/inner', 'a', 'usr', 'tmp', '.']) {
      assert.equal(lstatSync(join(r, p)).mtimeMs, T * 1000, p);
    }
    assert.equal(readFileSync(join(dest, 'manifest'), 'utf8'), MANIFEST_TEXT);
  });

  it('keeps symlinks as links, targets as stored', () => {
    assert.equal(readlinkSync(join(dest, 'rootfs/abs-link')), '/etc/passwd');
    assert.equal(readlinkSync(join(dest, 'rootfs/rel-link')), 'usr/bin/tool');
  });

  it('keeps hard links as one inode', () => {
    const a = lstatSync(join(dest, 'rootfs/usr/bin/tool'));
    const b = lstatSync(join(dest, 'rootfs/usr/bin/tool-alias'));
    assert.equal(a.ino, b.ino);
    assert.equal(a.nlink, 2);
  });

  it('keeps fifos', () => {
    assert.ok(lstatSync(join(dest, 'rootfs/fifo')).isFIFO());
  });

  it('rebuilding the extracted layout gives the same image ID', async () => {
    utimesSync(join(dest, 'manifest'), T, T);
    // The extracted manifest is the canonical one, so the rebuilt manifest entry is identical.
    const again = await buildAci(dest, join(dir, 'again.aci'));
    assert.equal(again.imageId, await imageIdOf(out));
  });
});
