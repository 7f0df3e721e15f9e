import assert from 'node:assert/strict';
import {
  existsSync,
  lstatSync,
  mkdirSync,
  readdirSync,
  readFileSync,
  readlinkSync,
  symlinkSync,
  writeFileSync,
} from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import {
  extractAci,
  imageIdOf,
  readAci,
  readManifestBytes,
  rewriteManifest,
  validateArchive,
} from '../../../src/aci/index.js';
import { RocketError } from '../../../src/errors.js';
import {
  dirEntry,
  fileEntry,
  makeTar,
  manifestEntry,
  MANIFEST_TEXT,
  sh,
  tempDir,
  type TarSpec,
} from './helpers.js';

let dir: string;
let cleanup: () => void;
before(() => ({ dir, cleanup } = tempDir('extract')));
after(() => cleanup());

let n = 0;
async function aci(entries: TarSpec[]): Promise<string> {
  const path = join(dir, `img${n++}.aci`);
  writeFileSync(path, await makeTar(entries));
  return path;
}
const fresh = () => join(dir, `dest${n++}`);
const leftovers = () => readdirSync(dir).filter((f) => f.includes('rocket-tmp'));

describe('extractAci', () => {
  it('extracts only rootfs contents into the destination with rootfsOnly', async () => {
    const path = await aci([
      { ...dirEntry('rootfs'), mode: 0o750 },
      fileEntry('rootfs/etc/os-release', 'ID=x\n'),
      manifestEntry(),
    ]);
    const dest = fresh();
    const r = await extractAci(path, dest, { rootfsOnly: true });
    assert.deepEqual(readdirSync(dest), ['etc']);
    assert.equal(readFileSync(join(dest, 'etc/os-release'), 'utf8'), 'ID=x\n');
    assert.equal(lstatSync(dest).mode & 0o777, 0o750, 'the rootfs entry applies to the destination');
    assert.equal(r.manifest.name, 'example.com/app');
    assert.equal(r.imageId, await imageIdOf(path));
  });

  it('extracts into an existing empty directory', async () => {
    const dest = fresh();
    mkdirSync(dest);
    await extractAci(await aci([dirEntry('rootfs'), manifestEntry()]), dest);
    assert.deepEqual(readdirSync(dest).sort(), ['manifest', 'rootfs']);
  });

  it('refuses a non-empty destination unless overwrite', async () => {
    const dest = fresh();
    mkdirSync(dest);
    writeFileSync(join(dest, 'keep'), '');
    await assert.rejects(extractAci(await aci([dirEntry('rootfs'), manifestEntry()]), dest), /not empty/);
    assert.deepEqual(readdirSync(dest), ['keep']);
  });

  it('leaves nothing behind when the image ID does not match', async () => {
    const dest = fresh();
    const path = await aci([dirEntry('rootfs'), fileEntry('rootfs/a'), manifestEntry()]);
    await assert.rejects(extractAci(path, dest, { expectedImageId: 'sha512-00' }), /image ID mismatch/);
    assert.equal(existsSync(dest), false);
    assert.deepEqual(leftovers(), []);
  });

  it('leaves nothing behind when the manifest is invalid (seen only at the end)', async () => {
    const dest = fresh();
    const path = await aci([
      dirEntry('rootfs'),
      fileEntry('rootfs/a'),
      manifestEntry('{"acKind":"PodManifest"}'),
    ]);
    await assert.rejects(extractAci(path, dest), (err: Error) => err instanceof RocketError);
    assert.equal(existsSync(dest), false);
    assert.deepEqual(leftovers(), []);
  });

  it('overwrite in place: an existing symlink is replaced, not followed', async () => {
    const { dir: outside, cleanup: done } = tempDir('outside');
    try {
      writeFileSync(join(outside, 'victim'), 'sentinel');
      const dest = fresh();
      mkdirSync(dest);
      symlinkSync(join(outside, 'victim'), join(dest, 'file'));
      await extractAci(
        await aci([dirEntry('rootfs'), fileEntry('rootfs/file', 'new'), manifestEntry()]),
        dest,
        {
          rootfsOnly: true,
          overwrite: true,
        },
      );
      assert.equal(readFileSync(join(outside, 'victim'), 'utf8'), 'sentinel');
      assert.ok(lstatSync(join(dest, 'file')).isFile());
      assert.equal(readFileSync(join(dest, 'file'), 'utf8'), 'new');
    } finally {
      done();
    }
  });

  it('overwrite in place: a symlinked parent already on disk is refused, nothing written through it', async () => {
    const { dir: outside, cleanup: done } = tempDir('outside');
    try {
      const dest = fresh();
      mkdirSync(dest);
      symlinkSync(outside, join(dest, 'etc'));
      const path = await aci([dirEntry('rootfs'), fileEntry('rootfs/etc/passwd', 'pwned'), manifestEntry()]);
      await assert.rejects(
        extractAci(path, dest, { rootfsOnly: true, overwrite: true }),
        /entry "rootfs\/etc\/passwd": parent "etc" is a symlink/,
      );
      assert.deepEqual(readdirSync(outside), []);
      assert.equal(readlinkSync(join(dest, 'etc')), outside);
    } finally {
      done();
    }
  });

  it('overwrite in place: a directory replaces a file and a file replaces a directory', async () => {
    const dest = fresh();
    mkdirSync(join(dest, 'was-dir', 'sub'), { recursive: true });
    writeFileSync(join(dest, 'was-file'), '');
    await extractAci(
      await aci([
        dirEntry('rootfs'),
        dirEntry('rootfs/was-file'),
        fileEntry('rootfs/was-dir'),
        manifestEntry(),
      ]),
      dest,
      {
        rootfsOnly: true,
        overwrite: true,
      },
    );
    assert.ok(lstatSync(join(dest, 'was-file')).isDirectory());
    assert.ok(lstatSync(join(dest, 'was-dir')).isFile());
  });

  it('keeps binary xattr values byte for byte (PAX SCHILY.xattr)', async () => {
    const value = Buffer.from([0x01, 0x00, 0x00, 0x02, 0xff, 0xfe, 0x80, 0x00]);
    const path = join(dir, 'xattr.aci');
    // Our writer: tar-stream cannot write binary PAX values.
    const { encodeHeader } = await import('../../../src/aci/tar-writer.js');
    const base = {
      mode: 0o644,
      uid: 0,
      gid: 0,
      uname: '',
      gname: '',
      mtime: 0,
      linkname: '',
      devmajor: 0,
      devminor: 0,
    };
    const body = Buffer.from('x');
    writeFileSync(
      path,
      Buffer.concat([
        encodeHeader({ ...base, name: 'rootfs', type: 'directory', size: 0, mode: 0o755 }),
        encodeHeader({
          ...base,
          name: 'rootfs/f',
          type: 'file',
          size: 1,
          xattrs: new Map([['user.bin', value]]),
        }),
        body,
        Buffer.alloc(511),
        encodeHeader({ ...base, name: 'manifest', type: 'file', size: MANIFEST_TEXT.length }),
        Buffer.from(MANIFEST_TEXT),
        Buffer.alloc(512 - MANIFEST_TEXT.length),
        Buffer.alloc(1024),
      ]),
    );
    let seen: Buffer | undefined;
    await readAci(path, (e) => {
      if (e.header.name === 'rootfs/f') seen = e.header.xattrs.get('user.bin');
    });
    assert.deepEqual(seen, value);
    assert.match(sh(`tar --xattrs --xattrs-include='*' -tvf ${path} 2>&1`), /rootfs\/f/);
    const dest = fresh();
    const r = await extractAci(path, dest);
    if (r.warnings.some((w) => w.includes('ENOTSUP'))) return; // filesystem without user xattrs
    assert.equal(
      sh(`getfattr --only-values -n user.bin ${join(dest, 'rootfs/f')} | od -An -tx1`)
        .replace(/\s+/g, ' ')
        .trim(),
      '01 00 00 02 ff fe 80 00',
    );
  });
});

describe('rewriteManifest', () => {
  it('replaces the manifest and copies every other entry byte for byte', async () => {
    const long = `rootfs/${'d'.repeat(120)}/file`;
    const input = await aci([
      dirEntry('rootfs'),
      manifestEntry(),
      fileEntry(long, 'long name via PAX\n'),
      { name: 'rootfs/l', type: 'symlink', linkname: '/etc/passwd' },
      fileEntry('rootfs/z', 'z'.repeat(1000)),
    ]);
    const out = join(dir, 'patched.aci');
    const next = Buffer.from(MANIFEST_TEXT.replace('example.com/app', 'example.com/patched'));
    const { imageId } = await rewriteManifest(input, out, next, { compression: 'none' });
    assert.deepEqual(await readManifestBytes(out), next);
    const v = await validateArchive(out);
    assert.equal(v.imageId, imageId);
    const a = readFileSync(input);
    const b = readFileSync(out);
    // Up to the manifest header, identical; after the manifest, identical (shifted by nothing: same block count).
    assert.deepEqual(b.subarray(0, 512), a.subarray(0, 512));
    const afterManifest = 512 + 512 + 512;
    assert.deepEqual(
      b.subarray(afterManifest, b.length - 1024),
      a.subarray(afterManifest, afterManifest + b.length - 1024 - afterManifest),
    );
    const ha = a.subarray(512, 1024);
    const hb = b.subarray(512, 1024);
    assert.deepEqual(
      hb.subarray(0, 124),
      ha.subarray(0, 124),
      'manifest header kept but for size and checksum',
    );
    assert.deepEqual(hb.subarray(156), ha.subarray(156));
  });

  it('gzips by default, refuses an existing output, and can replace the input in place', async () => {
    const input = await aci([dirEntry('rootfs'), manifestEntry()]);
    const out = join(dir, 'gz.aci');
    await rewriteManifest(input, out, Buffer.from(MANIFEST_TEXT));
    assert.equal((await validateArchive(out)).compression, 'gzip');
    await assert.rejects(rewriteManifest(input, out, Buffer.from(MANIFEST_TEXT)), /target file exists/);
    await assert.rejects(
      rewriteManifest(input, join(dir, 'x.tgz'), Buffer.from(MANIFEST_TEXT)),
      /extension must be \.aci/,
    );
    const next = Buffer.from(MANIFEST_TEXT.replace('app', 'app2'));
    await rewriteManifest(out, out, next);
    assert.deepEqual(await readManifestBytes(out), next);
    assert.deepEqual(leftovers(), []);
  });

  it('fails without a manifest and leaves no output', async () => {
    const out = join(dir, 'none.aci');
    await assert.rejects(
      rewriteManifest(await aci([dirEntry('rootfs')]), out, Buffer.from('{}')),
      /no image manifest/,
    );
    assert.equal(existsSync(out), false);
    assert.deepEqual(leftovers(), []);
  });
});
