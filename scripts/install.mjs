// `make install` / `make uninstall` (docs/install.md). Installs the built tree (after `npm run build`)
// under PREFIX/lib/rocket with rkt, actool and docker2aci linked into PREFIX/bin, the man pages,
// shell completion, systemd units, and rkt's config layout (/etc/rkt, /usr/lib/rkt). Every file,
// link and directory it makes is listed in PREFIX/lib/rocket/install-manifest.json; uninstall
// removes exactly those (a directory only when it is empty, so what a user added there stays).
//
//   node scripts/install.mjs install|uninstall [--destdir=D] [--prefix=/usr/local]
//     [--sysconfdir=/etc] [--rktlibdir=/usr/lib/rkt] [--unitdir=PREFIX/lib/systemd/system]
//     [--zshdir=PREFIX/share/zsh/site-functions]
import {
  chmodSync,
  copyFileSync,
  existsSync,
  lstatSync,
  mkdirSync,
  readFileSync,
  readdirSync,
  readlinkSync,
  renameSync,
  rmSync,
  rmdirSync,
  symlinkSync,
  utimesSync,
  writeFileSync,
} from 'node:fs';
import { dirname, join, relative } from 'node:path';

const [verb, ...rest] = process.argv.slice(2);
const opt = Object.fromEntries(
  rest.map((a) => {
    const m = /^--([a-z]+)=(.*)$/s.exec(a);
    if (m === null) die(`bad argument ${JSON.stringify(a)}`);
    return [m[1], m[2]];
  }),
);
function die(message) {
  console.error(`install: ${message}`);
  process.exit(1);
}
const destdir = opt.destdir ?? '';
const prefix = opt.prefix ?? '/usr/local';
const dirs = {
  lib: join(prefix, 'lib', 'rocket'),
  bin: join(prefix, 'bin'),
  man1: join(prefix, 'share', 'man', 'man1'),
  bash: join(prefix, 'share', 'bash-completion', 'completions'),
  zsh: opt.zshdir ?? join(prefix, 'share', 'zsh', 'site-functions'),
  units: opt.unitdir ?? join(prefix, 'lib', 'systemd', 'system'),
  tmpfiles: join(prefix, 'lib', 'tmpfiles.d'),
  examples: join(prefix, 'share', 'doc', 'rocket', 'examples', 'systemd'),
  etc: join(opt.sysconfdir ?? '/etc', 'rkt'),
  rktlib: opt.rktlibdir ?? '/usr/lib/rkt',
};
const manifestPath = join(dirs.lib, 'install-manifest.json');
const root = (p) => join(destdir, p);

if (verb === 'install') install();
else if (verb === 'uninstall') uninstall();
else die('usage: install.mjs install|uninstall [--destdir=D] [--prefix=P] ...');

function install() {
  for (const need of [
    'dist/src/cli/rkt.js',
    'dist/bundle/rkt.blob',
    'dist/man/man1/rkt.1',
    'dist/completion/rkt.bash',
  ])
    if (!existsSync(need)) die(`${need} is missing: run \`make build\` first`);
  const old = existsSync(root(manifestPath))
    ? JSON.parse(readFileSync(root(manifestPath), 'utf8'))
    : undefined;
  const made = { dirs: new Set(old?.dirs ?? []), files: new Set(old?.files ?? []) };

  const mkdirs = (dir, mode = 0o755) => {
    const missing = [];
    for (let d = dir; d !== dirname(d) && !existsSync(root(d)); d = dirname(d)) missing.unshift(d);
    if (destdir !== '') mkdirSync(destdir, { recursive: true });
    for (const d of missing) {
      mkdirSync(root(d), { mode });
      chmodSync(root(d), mode);
      made.dirs.add(d);
    }
  };
  const file = (src, dest, mode = 0o644, transform) => {
    mkdirs(dirname(dest));
    const tmp = root(dest) + '.rocket-install';
    if (transform === undefined) copyFileSync(src, tmp);
    else writeFileSync(tmp, transform(readFileSync(src, 'utf8')));
    chmodSync(tmp, mode);
    renameSync(tmp, root(dest));
    made.files.add(dest);
  };
  const link = (target, dest) => {
    mkdirs(dirname(dest));
    rmSync(root(dest), { force: true });
    symlinkSync(target, root(dest));
    made.files.add(dest);
  };
  const tree = (src, dest, keep = () => true) => {
    for (const e of readdirSync(src, { withFileTypes: true })) {
      const s = join(src, e.name);
      if (!keep(s)) continue;
      if (e.isDirectory()) tree(s, join(dest, e.name), keep);
      else if (e.isSymbolicLink()) link(readlinkSync(s), join(dest, e.name));
      else if (e.isFile()) file(s, join(dest, e.name), lstatSync(s).mode & 0o777);
    }
  };

  // The program: what bin/rkt, bin/actool and bin/docker2aci need at run time.
  file('package.json', join(dirs.lib, 'package.json'));
  for (const b of ['rkt', 'actool', 'docker2aci']) file(join('bin', b), join(dirs.lib, 'bin', b), 0o755);
  tree('dist/src', join(dirs.lib, 'dist', 'src'), (p) => !p.endsWith('.map') && !p.endsWith('.d.ts'));
  // Data files read at run time from the source tree (the gRPC .proto files), found from ROCKET_HOME.
  tree('src', join(dirs.lib, 'src'), (p) => lstatSync(p).isDirectory() || !p.endsWith('.ts'));
  for (const n of productionPackages())
    tree(join('node_modules', n), join(dirs.lib, 'node_modules', n), keepInPackage);
  file('dist/bundle/rkt.cjs', join(dirs.lib, 'dist', 'bundle', 'rkt.cjs'));
  file('dist/bundle/rkt.blob', join(dirs.lib, 'dist', 'bundle', 'rkt.blob'));
  // bin/rkt starts from the snapshot only when it is newer than tsc's output.
  const now = Date.now() / 1000;
  utimesSync(root(join(dirs.lib, 'dist', 'src', 'cli', 'rkt.js')), now - 1, now - 1);
  utimesSync(root(join(dirs.lib, 'dist', 'bundle', 'rkt.blob')), now, now);
  for (const b of ['rkt', 'actool', 'docker2aci'])
    link(relative(dirs.bin, join(dirs.lib, 'bin', b)), join(dirs.bin, b));

  // Documentation, completion, units.
  tree('dist/man/man1', dirs.man1);
  file('dist/completion/rkt.bash', join(dirs.bash, 'rkt'));
  file('dist/completion/_rkt', join(dirs.zsh, '_rkt'));
  const withBindir = (text) => text.replaceAll('@BINDIR@', dirs.bin);
  for (const u of readdirSync('packaging/systemd').sort())
    file(join('packaging/systemd', u), join(dirs.units, u), 0o644, withBindir);
  file('packaging/tmpfiles.d/rkt.conf', join(dirs.tmpfiles, 'rkt.conf'));
  tree('docs/systemd', dirs.examples);

  // rkt's config dirs: the admin's (/etc/rkt) and the vendor's (/usr/lib/rkt).
  for (const d of ['auth.d', 'net.d', 'paths.d', 'stage1.d', 'trustedkeys/root.d', 'trustedkeys/prefix.d'])
    mkdirs(join(dirs.etc, d), 0o775);
  for (const d of ['plugins/net', 'stage1-images', 'trustedkeys/root.d', 'trustedkeys/prefix.d'])
    mkdirs(join(dirs.rktlib, d));

  const manifest = {
    prefix,
    files: [...made.files].sort(),
    dirs: [...made.dirs].sort((a, b) => a.split('/').length - b.split('/').length || (a < b ? -1 : 1)),
  };
  writeFileSync(root(manifestPath) + '.tmp', JSON.stringify(manifest, null, 2) + '\n');
  renameSync(root(manifestPath) + '.tmp', root(manifestPath));
  console.log(`installed rkt, actool and docker2aci in ${root(dirs.bin)} (${manifest.files.length} files)`);
}

function uninstall() {
  if (!existsSync(root(manifestPath))) die(`nothing to uninstall: ${root(manifestPath)} not found`);
  const manifest = JSON.parse(readFileSync(root(manifestPath), 'utf8'));
  for (const f of manifest.files) rmSync(root(f), { force: true });
  rmSync(root(manifestPath), { force: true });
  const kept = [];
  for (const d of [...manifest.dirs].reverse()) {
    if (!existsSync(root(d))) continue;
    if (readdirSync(root(d)).length === 0) rmdirSync(root(d));
    else kept.push(d);
  }
  for (const d of kept) console.log(`uninstall: kept ${root(d)} (not empty)`);
  console.log(`removed ${manifest.files.length} files`);
}

/** The packages of package-lock.json that run time needs (not dev-only), that are on disk. */
function productionPackages() {
  const lock = JSON.parse(readFileSync('package-lock.json', 'utf8'));
  const names = Object.entries(lock.packages)
    .filter(([p, v]) => p.startsWith('node_modules/') && v.dev !== true && v.devOptional !== true)
    .map(([p]) => p.slice('node_modules/'.length))
    .filter((n) => !n.startsWith('@types/') && existsSync(join('node_modules', n)));
  // A nested package comes with its parent's tree.
  return names.filter((n) => !names.some((m) => n !== m && n.startsWith(m + '/node_modules/')));
}

/**
 * Leaves out of the packages what only building or type-checking needs: source maps, type
 * declarations, @types, and better-sqlite3's sources and objects.
 */
function keepInPackage(path) {
  if (/(^|\/)node_modules\/\.bin$/.test(path)) return false;
  if (/\.(map|d\.ts|d\.mts|d\.cts)$/.test(path)) return false;
  const m = /^node_modules\/better-sqlite3\/(.*)$/.exec(path);
  if (m === null) return true;
  const p = m[1];
  return (
    p === 'package.json' ||
    p === 'LICENSE' ||
    p === 'lib' ||
    p.startsWith('lib/') ||
    p === 'build' ||
    p === 'build/Release' ||
    p === 'build/Release/better_sqlite3.node'
  );
}
