#!/usr/bin/env node
// Writes a corpus of hostile ACIs (plain tar) into a directory, plus index.json describing each:
//   { file, description, expect: "refuse" | "contain" }
// "refuse": validation and extraction must both fail; "contain": the image may be accepted, but
// extracting it must leave everything outside the target untouched.
//
// Usage: node scripts/make-hostile-acis.mjs OUT_DIR [--outside ABS_DIR]
// ABS_DIR (default: $TMPDIR/rocket-hostile-outside) is where absolute symlinks and links aim; a test
// creates it with a sentinel file `victim` and checks afterwards that nothing there changed.
import { mkdirSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import tar from 'tar-stream';

const MANIFEST = '{"acKind":"ImageManifest","acVersion":"0.8.11","name":"example.com/hostile"}';

function usage() {
  process.stderr.write('usage: make-hostile-acis.mjs OUT_DIR [--outside ABS_DIR]\n');
  process.exit(2);
}

const args = process.argv.slice(2);
let outDir;
let outside = join(tmpdir(), 'rocket-hostile-outside');
for (let i = 0; i < args.length; i++) {
  if (args[i] === '--outside') {
    outside = args[++i] ?? usage();
  } else if (outDir === undefined) {
    outDir = args[i];
  } else {
    usage();
  }
}
if (outDir === undefined) usage();
outside = resolve(outside);

const d = (name, extra = {}) => ({ name, type: 'directory', mode: 0o755, ...extra });
const f = (name, body = 'pwned\n', extra = {}) => ({ name, type: 'file', mode: 0o644, body, ...extra });
const sym = (name, linkname) => ({ name, type: 'symlink', linkname, mode: 0o777 });
const hard = (name, linkname) => ({ name, type: 'link', linkname, mode: 0o644 });
const dev = (name, extra = {}) => ({
  name,
  type: 'character-device',
  devmajor: 1,
  devminor: 3,
  mode: 0o666,
  ...extra,
});
const manifest = () => f('manifest', MANIFEST);
/** The usual frame: rootfs directory first, the manifest last. */
const image = (...entries) => [d('rootfs'), ...entries, manifest()];

const corpus = [
  ['dotdot-escape', 'a file named rootfs/../../escape', 'refuse', image(f('rootfs/../../escape'))],
  ['dotdot-top', 'a file named ../escape', 'refuse', image(f('../escape'))],
  [
    'dotdot-inside-rootfs',
    'a file named rootfs/a/../../escape (leaves rootfs)',
    'refuse',
    image(f('rootfs/a/../../escape')),
  ],
  ['absolute-outside', 'a file with an absolute name outside', 'refuse', image(f(`${outside}/absolute`))],
  ['absolute-rootfs', 'a file named /rootfs/a', 'refuse', image(f('/rootfs/a'))],
  [
    'symlink-write-through',
    'rootfs/a -> OUTSIDE, then rootfs/a/x',
    'refuse',
    image(sym('rootfs/a', outside), f('rootfs/a/x')),
  ],
  [
    'symlink-write-through-victim',
    'rootfs/a -> OUTSIDE, then rootfs/a/victim (overwrite the sentinel)',
    'refuse',
    image(sym('rootfs/a', outside), f('rootfs/a/victim')),
  ],
  [
    'symlink-relative-escape',
    'rootfs/up -> ../../../../../../.., then rootfs/up/escape',
    'refuse',
    image(sym('rootfs/up', '../../../../../../..'), f('rootfs/up/escape')),
  ],
  [
    'symlink-dotdot-chain',
    'rootfs/a -> .., rootfs/a/b -> .., then rootfs/a/b/escape',
    'refuse',
    image(sym('rootfs/a', '..'), sym('rootfs/a/b', '..'), f('rootfs/a/b/escape')),
  ],
  [
    'symlink-deep-parent',
    'rootfs/a/b -> /, then rootfs/a/b/tmp/escape',
    'refuse',
    image(d('rootfs/a'), sym('rootfs/a/b', '/'), f('rootfs/a/b/tmp/escape')),
  ],
  [
    'symlink-then-file-same-name',
    'rootfs/a -> OUTSIDE/victim, then a file rootfs/a (would write through the link)',
    'refuse',
    image(sym('rootfs/a', `${outside}/victim`), f('rootfs/a')),
  ],
  [
    'dir-then-symlink-then-file',
    'rootfs/d/ directory, rootfs/d -> OUTSIDE, then rootfs/d/escape',
    'refuse',
    image(d('rootfs/d'), sym('rootfs/d', outside), f('rootfs/d/escape')),
  ],
  [
    'hardlink-etc-passwd',
    'hard link rootfs/pw to /etc/passwd',
    'refuse',
    image(hard('rootfs/pw', '/etc/passwd')),
  ],
  [
    'hardlink-outside-absolute',
    'hard link rootfs/v to OUTSIDE/victim',
    'refuse',
    image(hard('rootfs/v', `${outside}/victim`)),
  ],
  ['hardlink-dotdot', 'hard link rootfs/x to ../../x', 'refuse', image(hard('rootfs/x', '../../x'))],
  [
    'hardlink-rootfs-dotdot',
    'hard link rootfs/x to rootfs/../../../etc/passwd',
    'refuse',
    image(hard('rootfs/x', 'rootfs/../../../etc/passwd')),
  ],
  [
    'hardlink-through-symlink',
    'rootfs/s -> OUTSIDE, then hard link rootfs/h to rootfs/s/victim',
    'refuse',
    image(sym('rootfs/s', outside), hard('rootfs/h', 'rootfs/s/victim')),
  ],
  [
    'hardlink-to-directory',
    'hard link rootfs/h to the directory rootfs/d',
    'refuse',
    image(d('rootfs/d'), hard('rootfs/h', 'rootfs/d')),
  ],
  [
    'hardlink-missing-target',
    'hard link rootfs/h to rootfs/nowhere (not in the archive)',
    'refuse',
    image(hard('rootfs/h', 'rootfs/nowhere')),
  ],
  ['duplicate-entry', 'rootfs/a twice', 'refuse', image(f('rootfs/a', 'one\n'), f('rootfs/a', 'two\n'))],
  [
    'duplicate-entry-dot-slash',
    'rootfs/a and ./rootfs/a',
    'refuse',
    image(f('rootfs/a', 'one\n'), f('./rootfs/a', 'two\n')),
  ],
  ['duplicate-manifest', 'two manifest entries', 'refuse', [d('rootfs'), manifest(), manifest()]],
  ['duplicate-rootfs', 'two rootfs entries', 'refuse', [d('rootfs'), d('./rootfs'), manifest()]],
  [
    'device-through-symlink',
    'rootfs/s -> OUTSIDE, then a char device rootfs/s/null',
    'refuse',
    image(sym('rootfs/s', outside), dev('rootfs/s/null')),
  ],
  [
    'fifo-through-symlink',
    'rootfs/s -> OUTSIDE, then a fifo rootfs/s/fifo',
    'refuse',
    image(sym('rootfs/s', outside), { name: 'rootfs/s/fifo', type: 'fifo', mode: 0o644 }),
  ],
  [
    'manifest-symlink',
    'manifest is a symlink to /etc/passwd',
    'refuse',
    [d('rootfs'), sym('manifest', '/etc/passwd')],
  ],
  [
    'manifest-hardlink',
    'manifest is a hard link to /etc/passwd',
    'refuse',
    [d('rootfs'), hard('manifest', '/etc/passwd')],
  ],
  ['rootfs-file', 'rootfs is a regular file', 'refuse', [f('rootfs', 'x\n'), manifest()]],
  [
    'rootfs-symlink',
    'rootfs -> OUTSIDE, then rootfs/escape',
    'refuse',
    [sym('rootfs', outside), f('rootfs/escape'), manifest()],
  ],
  ['no-rootfs-entry', 'rootfs/x but no rootfs entry', 'refuse', [f('rootfs/x'), manifest()]],
  ['no-manifest', 'no manifest entry', 'refuse', [d('rootfs'), f('rootfs/x')]],
  ['extra-top-level', 'a top-level file next to rootfs', 'refuse', image(f('etc-passwd'))],
  ['rootfs-prefix', 'a top-level rootfsfoo (REF accepts it: prefix bug)', 'refuse', image(f('rootfsfoo'))],
  ['empty-name', 'an entry with an empty name', 'refuse', image(f(''))],
  [
    'pax-path-escape',
    'an innocent ustar name whose PAX path is rootfs/../../escape',
    'refuse',
    image(f('rootfs/innocent', 'pwned\n', { pax: { path: 'rootfs/../../escape-pax' } })),
  ],
  [
    'pax-linkpath-escape',
    'a hard link whose PAX linkpath is /etc/passwd',
    'refuse',
    image(f('rootfs/t'), { ...hard('rootfs/h', 'rootfs/t'), pax: { linkpath: '/etc/passwd' } }),
  ],
  ['file-under-file', 'rootfs/f a file, then rootfs/f/x', 'refuse', image(f('rootfs/f'), f('rootfs/f/x'))],
  [
    'absolute-symlinks-contained',
    'absolute and .. symlinks that are only stored (valid), pointing outside',
    'contain',
    image(
      sym('rootfs/passwd', '/etc/passwd'),
      sym('rootfs/out', outside),
      sym('rootfs/up', '../../..'),
      hard('rootfs/h', 'rootfs/out'),
    ),
  ],
];

function archive(entries) {
  return new Promise((resolvePromise, reject) => {
    const pack = tar.pack();
    const chunks = [];
    pack.on('data', (c) => chunks.push(c));
    pack.on('end', () => resolvePromise(Buffer.concat(chunks)));
    pack.on('error', reject);
    for (const { body, ...header } of entries) {
      const h = { uid: 0, gid: 0, mtime: new Date(1500000000000), ...header };
      if (body !== undefined) pack.entry(h, body);
      else pack.entry(h);
    }
    pack.finalize();
  });
}

mkdirSync(outDir, { recursive: true });
const index = [];
for (const [name, description, expect, entries] of corpus) {
  const file = `${name}.aci`;
  writeFileSync(join(outDir, file), await archive(entries));
  index.push({ file, description, expect });
}
writeFileSync(join(outDir, 'index.json'), `${JSON.stringify({ outside, archives: index }, null, 2)}\n`);
process.stdout.write(`wrote ${index.length} hostile ACIs to ${outDir} (outside = ${outside})\n`);
