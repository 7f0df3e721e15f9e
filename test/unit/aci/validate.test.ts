import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { mkdirSync, symlinkSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import {
  imageIdOf,
  readAci,
  readManifestBytes,
  validateArchive,
  validateLayout,
} from '../../../src/aci/index.js';
import { paxRecord } from '../../../src/aci/tar-format.js';
import { RocketError } from '../../../src/errors.js';
import {
  ACTOOL,
  dirEntry,
  fileEntry,
  hasActool,
  makeLayout,
  makeTar,
  manifestEntry,
  MANIFEST_TEXT,
  tempDir,
  type TarSpec,
} from './helpers.js';
import { canCheck } from '../../helpers.js';

let dir: string;
let cleanup: () => void;
before(() => ({ dir, cleanup } = tempDir('validate')));
after(() => cleanup());

let n = 0;
async function aci(entries: TarSpec[] | Buffer): Promise<string> {
  const path = join(dir, `a${n++}.aci`);
  writeFileSync(path, Buffer.isBuffer(entries) ? entries : await makeTar(entries));
  return path;
}

function refOk(path: string): boolean {
  try {
    execFileSync(ACTOOL, ['validate', path], { stdio: 'ignore' });
    return true;
  } catch {
    return false;
  }
}

describe('validateArchive: accepted (as REF, §J)', () => {
  const good: [string, TarSpec[]][] = [
    ['plain layout', [dirEntry('rootfs'), fileEntry('rootfs/a'), manifestEntry()]],
    [
      './-prefixed names',
      [dirEntry('./rootfs/'), fileEntry('./rootfs/a'), fileEntry('./manifest', MANIFEST_TEXT)],
    ],
    ['manifest first', [manifestEntry(), dirEntry('rootfs')]],
    ['an entry "./" for the root', [dirEntry('./'), dirEntry('rootfs'), manifestEntry()]],
    [
      'symlink to /etc/passwd',
      [dirEntry('rootfs'), { name: 'rootfs/pw', type: 'symlink', linkname: '/etc/passwd' }, manifestEntry()],
    ],
    [
      'hard link to an earlier file',
      [
        dirEntry('rootfs'),
        fileEntry('rootfs/a'),
        { name: 'rootfs/b', type: 'link', linkname: 'rootfs/a' },
        manifestEntry(),
      ],
    ],
    [
      'entries without their parent directories',
      [dirEntry('rootfs'), fileEntry('rootfs/x/y/z'), manifestEntry()],
    ],
    [
      'a directory entry after its contents',
      [dirEntry('rootfs'), fileEntry('rootfs/d/f'), dirEntry('rootfs/d'), manifestEntry()],
    ],
    [
      'a fifo and devices',
      [
        dirEntry('rootfs'),
        { name: 'rootfs/p', type: 'fifo' },
        { name: 'rootfs/null', type: 'character-device', devmajor: 1, devminor: 3 },
        manifestEntry(),
      ],
    ],
  ];
  for (const [what, entries] of good) {
    it(what, async () => {
      const path = await aci(entries);
      const v = await validateArchive(path);
      assert.equal(v.manifest.name, 'example.com/app');
      assert.equal(v.manifestBytes.toString(), MANIFEST_TEXT);
      assert.match(v.imageId, /^sha512-[0-9a-f]{128}$/);
      if (canCheck(hasActool ? false : 'no reference actool')) assert.ok(refOk(path), 'REF accepts it too');
    });
  }
});

describe('validateArchive: refused', () => {
  const bad: [string, TarSpec[], RegExp, boolean][] = [
    // [what, entries, message, does REF refuse it too]
    [
      'an extra top-level file',
      [dirEntry('rootfs'), fileEntry('extra'), manifestEntry()],
      /entry "extra": unrecognized file path/,
      true,
    ],
    ['no rootfs entry', [fileEntry('rootfs/a'), manifestEntry()], /: no rootfs found in archive$/, true],
    [
      'a duplicate entry',
      [dirEntry('rootfs'), fileEntry('rootfs/a'), fileEntry('rootfs/a'), manifestEntry()],
      /entry "rootfs\/a": duplicate entry$/,
      true,
    ],
    ['no manifest', [dirEntry('rootfs')], /: no image manifest found in archive$/, true],
    [
      'an absolute name',
      [dirEntry('rootfs'), fileEntry('/rootfs/a'), manifestEntry()],
      /entry "\/rootfs\/a": path "\/rootfs\/a" is absolute$/,
      true,
    ],
    [
      'a ..-escaping name',
      [dirEntry('rootfs'), fileEntry('rootfs/../../x'), manifestEntry()],
      /entry "rootfs\/..\/..\/x": path escapes the archive$/,
      true,
    ],
    [
      'rootfs as a regular file',
      [fileEntry('rootfs'), manifestEntry()],
      /entry "rootfs": rootfs is not a directory$/,
      true,
    ],
    ['an invalid manifest', [dirEntry('rootfs'), manifestEntry('{"acKind":"PodManifest"')], /manifest/, true],
    // Stricter than REF:
    [
      'top-level rootfsfoo (REF prefix bug)',
      [dirEntry('rootfs'), fileEntry('rootfsfoo'), manifestEntry()],
      /entry "rootfsfoo": unrecognized file path/,
      false,
    ],
    [
      'a duplicate manifest',
      [dirEntry('rootfs'), manifestEntry(), manifestEntry()],
      /duplicate entry "manifest"/,
      true,
    ],
    [
      'a non-escaping .. component',
      [dirEntry('rootfs'), fileEntry('rootfs/a/../b'), manifestEntry()],
      /contains ".."/,
      false,
    ],
    [
      'a hard link out of rootfs',
      [dirEntry('rootfs'), { name: 'rootfs/h', type: 'link', linkname: '/etc/passwd' }, manifestEntry()],
      /hard link target "\/etc\/passwd" is absolute/,
      false,
    ],
    [
      'a write through a symlink entry',
      [
        dirEntry('rootfs'),
        { name: 'rootfs/l', type: 'symlink', linkname: '/tmp' },
        fileEntry('rootfs/l/x'),
        manifestEntry(),
      ],
      /parent "rootfs\/l" is a symlink/,
      false,
    ],
    [
      'a manifest that is a symlink',
      [dirEntry('rootfs'), { name: 'manifest', type: 'symlink', linkname: '/etc/passwd' }],
      /manifest is not a regular file/,
      true,
    ],
  ];
  for (const [what, entries, message, refRefuses] of bad) {
    it(what, async () => {
      const path = await aci(entries);
      await assert.rejects(validateArchive(path), (err: Error) => {
        assert.ok(err instanceof RocketError, String(err));
        assert.ok(err.message.startsWith(`${path}: `), err.message);
        assert.match(err.message, message);
        assert.ok(!err.message.includes('\n'));
        return true;
      });
      if (canCheck(hasActool ? false : 'no reference actool'))
        assert.equal(refOk(path), !refRefuses, 'REF agrees as documented');
    });
  }

  it('an empty file', async () => {
    await assert.rejects(validateArchive(await aci(Buffer.alloc(0))), /unknown image filetype/);
  });

  it('a truncated archive', async () => {
    const whole = await makeTar([
      dirEntry('rootfs'),
      fileEntry('rootfs/a', 'x'.repeat(5000)),
      manifestEntry(),
    ]);
    await assert.rejects(validateArchive(await aci(whole.subarray(0, 2048))), /truncated/);
  });

  it('a corrupt header checksum', async () => {
    const whole = await makeTar([dirEntry('rootfs'), manifestEntry()]);
    whole[600] = (whole[600] ?? 0) ^ 0xff;
    await assert.rejects(validateArchive(await aci(whole)), /checksum/);
  });
});

describe('tar dialects', () => {
  it('reads GNU and PAX archives written by GNU tar (long names, xattr records)', async () => {
    const { dir: src, cleanup: done } = tempDir('dialects');
    try {
      const long = `rootfs/${'d'.repeat(120)}/${'f'.repeat(110)}`;
      mkdirSync(join(src, long, '..'), { recursive: true });
      writeFileSync(join(src, long), 'long\n');
      symlinkSync('x'.repeat(150), join(src, 'rootfs', 'longlink'));
      writeFileSync(join(src, 'manifest'), MANIFEST_TEXT);
      for (const format of ['gnu', 'pax', 'ustar']) {
        const out = join(dir, `dialect-${format}.aci`);
        const files = format === 'ustar' ? 'manifest rootfs/' : 'manifest rootfs';
        const args =
          format === 'ustar' ? ['--exclude=rootfs/longlink', `--exclude=rootfs/${'d'.repeat(120)}`] : [];
        execFileSync('tar', [`--format=${format}`, '-C', src, '-cf', out, ...args, ...files.split(' ')]);
        const v = await validateArchive(out);
        assert.equal(v.manifest.name, 'example.com/app', format);
      }
    } finally {
      done();
    }
  });

  it('applies PAX global headers (REF refuses them as an unrecognized entry)', async () => {
    const records = paxRecord('uid', '7');
    const block = Buffer.alloc(512);
    block.write('pax_global_header', 0, 'latin1');
    block.write('0000644\0', 100, 'latin1');
    block.write(records.length.toString(8).padStart(11, '0'), 124, 'latin1');
    block[156] = 'g'.charCodeAt(0);
    block.write('ustar\x0000', 257, 'latin1');
    block.fill(0x20, 148, 156);
    let sum = 0;
    for (const c of block) sum += c;
    block.write(`${sum.toString(8).padStart(6, '0')}\0 `, 148, 'latin1');
    const body = Buffer.concat([records, Buffer.alloc(512 - records.length)]);
    const path = await aci(
      Buffer.concat([block, body, await makeTar([dirEntry('rootfs'), manifestEntry()])]),
    );
    const uids: number[] = [];
    await readAci(path, (e) => void uids.push(e.header.uid));
    assert.deepEqual(uids, [7, 7]);
    await validateArchive(path);
  });

  it('ignores entries after the end-of-archive blocks (as Go and GNU tar do), but hashes them', async () => {
    const trailing = Buffer.concat([
      await makeTar([dirEntry('rootfs'), manifestEntry()]),
      await makeTar([fileEntry('junk')]),
    ]);
    const path = await aci(trailing);
    assert.equal((await validateArchive(path)).imageId, await imageIdOf(path));
  });
});

describe('readManifestBytes', () => {
  it('returns the manifest bytes verbatim', async () => {
    const text = `  ${MANIFEST_TEXT}\n\n`;
    assert.equal(
      (await readManifestBytes(await aci([dirEntry('rootfs'), manifestEntry(text)]))).toString(),
      text,
    );
  });
  it('fails without a manifest', async () => {
    await assert.rejects(readManifestBytes(await aci([dirEntry('rootfs')])), /no image manifest found/);
  });
});

describe('validateLayout (aci/layout_test.go and more)', () => {
  it('accepts a layout with rootfs/manifest and rootfs/dir/rootfs decoys', async () => {
    const l = makeLayout(join(dir, 'layout-good'));
    writeFileSync(join(l, 'rootfs', 'manifest'), 'malformedManifest');
    mkdirSync(join(l, 'rootfs', 'dir', 'rootfs'), { recursive: true });
    const v = await validateLayout(l);
    assert.equal(v.manifest.name, 'example.com/app');
  });
  const bad: [string, (l: string) => void, RegExp][] = [
    [
      'no manifest',
      (l) => {
        makeLayout(l);
        execFileSync('rm', [join(l, 'manifest')]);
      },
      /no image manifest found in layout/,
    ],
    [
      'no rootfs',
      (l) => {
        mkdirSync(l);
        writeFileSync(join(l, 'manifest'), MANIFEST_TEXT);
      },
      /no rootfs found in layout/,
    ],
    [
      'rootfs a file',
      (l) => {
        mkdirSync(l);
        writeFileSync(join(l, 'manifest'), MANIFEST_TEXT);
        writeFileSync(join(l, 'rootfs'), '');
      },
      /rootfs is not a directory/,
    ],
    [
      'an extra top-level file',
      (l) => {
        makeLayout(l);
        writeFileSync(join(l, 'extra'), '');
      },
      /unrecognized file path in layout: "extra"/,
    ],
    [
      'rootfsfoo (REF prefix bug; stricter)',
      (l) => {
        makeLayout(l);
        mkdirSync(join(l, 'rootfsfoo'));
      },
      /unrecognized file path in layout: "rootfsfoo"/,
    ],
    ['an invalid manifest', (l) => void makeLayout(l, '{"acKind":"PodManifest"}'), /manifest/],
    ['a missing directory', () => undefined, /error accessing layout/],
  ];
  for (const [what, make, message] of bad) {
    it(`refuses ${what}`, async () => {
      const l = join(dir, `layout-${n++}`);
      make(l);
      await assert.rejects(
        validateLayout(l),
        (err: Error) => err instanceof RocketError && message.test(err.message),
      );
    });
  }
});
