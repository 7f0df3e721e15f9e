// Stage0's startup snapshot (docs/stage1.md, "Start time"): esbuild bundles the rkt command line
// into one CommonJS file (dynamic imports become lazily initialised parts of it; koffi and the
// native part of better-sqlite3 stay outside and load from node_modules at run time), then
// `node --build-snapshot` runs it and writes the heap Node starts from. bin/rkt uses the snapshot
// when it is newer than tsc's output, so a stale one is never run.
import { build } from 'esbuild';
import { execFileSync } from 'node:child_process';
import { mkdirSync, readFileSync, renameSync, rmSync } from 'node:fs';

const out = 'dist/bundle';
rmSync(out, { recursive: true, force: true });
mkdirSync(out, { recursive: true });
await build({
  entryPoints: ['src/cli/rkt-snapshot.ts'],
  outfile: `${out}/rkt.cjs`,
  bundle: true,
  format: 'cjs',
  platform: 'node',
  target: 'node20',
  // koffi (native), and the big libraries only some commands use (HTTP, OpenPGP, gRPC, SPDY, HTML,
  // decompressors), stay out of the snapshot: a smaller heap starts faster, and `rkt run` of an image
  // in the store never loads them. They are required from node_modules when first used.
  external: [
    'koffi',
    'undici',
    'openpgp',
    '@grpc/grpc-js',
    '@grpc/proto-loader',
    'spdy-transport',
    'htmlparser2',
    'xz-decompress',
    'unbzip2-stream',
    'fzstd',
  ],
  // A snapshot has no dynamic import() at run time: `await import('node:tls')` and the like become
  // require calls (the bundled modules are inlined by esbuild either way).
  supported: { 'dynamic-import': false },
  // V8 keeps a script's source in the heap as one-byte (Latin-1) only if every character fits: one
  // non-ASCII character makes it two bytes per character, in the blob and in what Node reads at each
  // start. So strings are written with \u escapes, and whitespace minifying drops every comment (JSDoc
  // on class fields survives `legalComments` alone); identifiers keep their names (error text and
  // names are unchanged). The source is 1.1 MB instead of 1.6 MB, the blob 6.4 MB instead of 8.5 MB.
  charset: 'ascii',
  minifyWhitespace: true,
  minifySyntax: true,
  legalComments: 'none',
  logLevel: 'warning',
  // ES modules in the bundle (ours, openpgp) use import.meta.url, which CommonJS lacks: it becomes a
  // global that the snapshot's main function sets to this bundle's URL (under ROCKET_HOME) at start.
  define: { 'import.meta.url': 'globalThis.__rocketModuleUrl' },
  // The snapshot's own `require` loads only Node's built-ins; packages come through createRequire
  // from the project (ROCKET_HOME, set by bin/rkt) at run time.
  banner: {
    js: [
      "globalThis.__rocketModuleUrl ??= require('node:url').pathToFileURL(__filename).href;",
      'const __rocketBuiltin = require;',
      'let __rocketPackages;',
      'require = (id) => {',
      "  if (__rocketBuiltin('node:module').isBuiltin(id)) return __rocketBuiltin(id);",
      '  const home = process.env.ROCKET_HOME;',
      "  __rocketPackages ??= __rocketBuiltin('node:module').createRequire(home ? home + '/package.json' : __filename);",
      '  return __rocketPackages(id);',
      '};',
    ].join('\n'),
  },
});
// esbuild leaves regular expression literals as they are written: a non-ASCII character there (or
// anything else esbuild does not escape) would make the whole source two-byte again.
{
  const source = readFileSync(`${out}/rkt.cjs`, 'utf8');
  const at = source.search(/[\u0080-\uffff]/);
  if (at >= 0) {
    const code = source.codePointAt(at).toString(16).padStart(4, '0');
    const near = source.slice(Math.max(0, at - 40), at).replace(/\s+/g, ' ');
    console.error(
      `bundle: ${out}/rkt.cjs has a non-ASCII character U+${code} after "${near}": write it as an escape ` +
        `(\\u${code}) in the source, or V8 keeps the whole bundle as two-byte characters in the snapshot.`,
    );
    process.exit(1);
  }
}
// --no-warnings: Node notes that some built-ins it loads (child_process for commander, module) are
// "not yet fully verified" in snapshots; the integration tests run every verb through the snapshot.
try {
  execFileSync(
    process.execPath,
    ['--no-warnings', '--snapshot-blob', `${out}/rkt.blob.tmp`, '--build-snapshot', `${out}/rkt.cjs`],
    { stdio: 'inherit' },
  );
} catch (err) {
  rmSync(`${out}/rkt.blob.tmp`, { force: true });
  console.error(
    `bundle: building stage0's snapshot failed (${err.message.split('\n')[0]}).\n` +
      'A module that rkt loads at start-up (before a command runs) must not load node:tls, node:http, ' +
      'node:https or node:http2: those cannot be in a snapshot. Import such modules inside the ' +
      "command's action with `await import(...)`.",
  );
  process.exit(1);
}
renameSync(`${out}/rkt.blob.tmp`, `${out}/rkt.blob`);
