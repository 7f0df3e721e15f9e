import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { chmodSync, chownSync, lchownSync, lstatSync, mkdirSync, symlinkSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { buildAci, extractAci, readAci, validateArchive } from '../../../src/aci/index.js';
import { splitDev } from '../../../src/aci/syscalls.js';
import { hasCommand, isRoot, makeLayout, sh, tempDir } from '../../unit/aci/helpers.js';
import { skipUnlessCI } from '../../helpers.js';

const skip = isRoot ? false : 'needs root (mknod, chown, trusted.* xattrs)';

describe('devices, ownership and xattrs (root)', { skip: skipUnlessCI(skip) }, () => {
  let dir: string;
  let cleanup: () => void;
  let aci: string;
  const CAP = Buffer.from('0100000200200000000000000000000000000000', 'hex'); // cap_net_raw+ep, v2

  before(async () => {
    ({ dir, cleanup } = tempDir('devices'));
    const layout = makeLayout(join(dir, 'layout'));
    const r = join(layout, 'rootfs');
    mkdirSync(join(r, 'dev'));
    execFileSync('mknod', [join(r, 'dev', 'null'), 'c', '1', '3']);
    execFileSync('mknod', [join(r, 'dev', 'loop9'), 'b', '7', '9']);
    execFileSync('mknod', [join(r, 'dev', 'bigminor'), 'c', '4', '300']);
    execFileSync('mkfifo', [join(r, 'dev', 'fifo')]);
    writeFileSync(join(r, 'ping'), 'binary');
    chownSync(join(r, 'ping'), 1234, 5678);
    chmodSync(join(r, 'ping'), 0o4755);
    execFileSync('setfattr', [
      '-n',
      'security.capability',
      '-v',
      `0x${CAP.toString('hex')}`,
      join(r, 'ping'),
    ]);
    execFileSync('setfattr', ['-n', 'user.note', '-v', 'hello', join(r, 'ping')]);
    execFileSync('setfattr', ['-n', 'trusted.dir', '-v', 'on-a-dir', join(r, 'dev')]);
    symlinkSync('/nowhere', join(r, 'link'));
    lchownSync(join(r, 'link'), 42, 43);
    execFileSync('setfattr', ['-h', '-n', 'trusted.link', '-v', 'on-a-symlink', join(r, 'link')]);
    aci = join(dir, 'dev.aci');
    await buildAci(layout, aci);
  });
  after(() => cleanup());

  it('builds device, fifo, ownership and xattr entries', async () => {
    const seen = new Map<
      string,
      {
        type: string;
        uid: number;
        gid: number;
        mode: number;
        devmajor: number;
        devminor: number;
        xattrs: Map<string, Buffer>;
      }
    >();
    await readAci(aci, (e) => void seen.set(e.header.name, e.header));
    assert.deepEqual(
      [
        seen.get('rootfs/dev/null')?.type,
        seen.get('rootfs/dev/null')?.devmajor,
        seen.get('rootfs/dev/null')?.devminor,
      ],
      ['char-device', 1, 3],
    );
    assert.deepEqual(
      [
        seen.get('rootfs/dev/loop9')?.type,
        seen.get('rootfs/dev/loop9')?.devmajor,
        seen.get('rootfs/dev/loop9')?.devminor,
      ],
      ['block-device', 7, 9],
    );
    assert.equal(seen.get('rootfs/dev/bigminor')?.devminor, 300);
    assert.equal(seen.get('rootfs/dev/fifo')?.type, 'fifo');
    const ping = seen.get('rootfs/ping');
    assert.deepEqual([ping?.uid, ping?.gid, ping?.mode], [1234, 5678, 0o4755]);
    assert.deepEqual(ping?.xattrs.get('security.capability'), CAP);
    assert.deepEqual(seen.get('rootfs/link')?.xattrs.get('trusted.link'), Buffer.from('on-a-symlink'));
    await validateArchive(aci);
    // GNU tar reads our PAX xattr records.
    assert.match(sh(`tar --xattrs --xattrs-include='*' -xOf ${aci} --to-command='true' 2>&1; echo ok`), /ok/);
  });

  it('extracts devices, fifos, owners, setuid after chown, and xattrs (capability after chown)', async () => {
    const dest = join(dir, 'out');
    const r = await extractAci(aci, dest);
    assert.deepEqual(r.warnings, []);
    const root = join(dest, 'rootfs');
    const nul = lstatSync(join(root, 'dev/null'));
    assert.ok(nul.isCharacterDevice());
    assert.deepEqual(splitDev(nul.rdev), { major: 1, minor: 3 });
    const loop = lstatSync(join(root, 'dev/loop9'));
    assert.ok(loop.isBlockDevice());
    assert.deepEqual(splitDev(loop.rdev), { major: 7, minor: 9 });
    assert.deepEqual(splitDev(lstatSync(join(root, 'dev/bigminor')).rdev), { major: 4, minor: 300 });
    assert.ok(lstatSync(join(root, 'dev/fifo')).isFIFO());
    const ping = lstatSync(join(root, 'ping'));
    assert.deepEqual([ping.uid, ping.gid, ping.mode & 0o7777], [1234, 5678, 0o4755]);
    const link = lstatSync(join(root, 'link'));
    assert.deepEqual([link.uid, link.gid], [42, 43]);
    if (hasCommand('getcap')) assert.match(sh(`getcap ${join(root, 'ping')}`), /cap_net_raw[=+]ep/);
    assert.match(sh(`getfattr -n user.note --only-values ${join(root, 'ping')}`), /hello/);
    assert.match(sh(`getfattr -n trusted.dir --only-values ${join(root, 'dev')}`), /on-a-dir/);
    assert.match(sh(`getfattr -h -n trusted.link --only-values ${join(root, 'link')}`), /on-a-symlink/);
  });

  it('keeps the extractor as owner with preserveOwnership: false', async () => {
    const dest = join(dir, 'noown');
    await extractAci(aci, dest, { preserveOwnership: false });
    const ping = lstatSync(join(dest, 'rootfs/ping'));
    assert.deepEqual([ping.uid, ping.gid, ping.mode & 0o7777], [0, 0, 0o4755]);
  });

  it('rebuilding the extracted tree gives the same image ID', async () => {
    const dest = join(dir, 'again');
    await extractAci(aci, dest);
    execFileSync('touch', ['-r', join(dir, 'layout', 'manifest'), join(dest, 'manifest')]);
    // The layout manifest was not canonical JSON only if it had extra whitespace; it is canonical here.
    const again = await buildAci(dest, join(dir, 'again.aci'));
    const first = await validateArchive(aci);
    assert.equal(again.imageId, first.imageId);
  });
});
