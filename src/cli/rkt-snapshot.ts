/**
 * Entry of stage0's startup snapshot (docs/stage1.md, "Start time"). scripts/bundle.mjs bundles
 * this into one CommonJS file and runs `node --build-snapshot` on it, so the rkt command line is
 * already loaded in the heap Node starts from: bin/rkt runs
 * `node --snapshot-blob dist/bundle/rkt.blob -- ARGS...` and skips module resolution and loading.
 */
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { startupSnapshot } from 'node:v8';
import Database from 'better-sqlite3';
import { provideBundled } from '../native.js';
import { describeForSnapshot, main } from './rkt.js';

// better-sqlite3's JavaScript is in the bundle (its native part loads when the store opens).
provideBundled('better-sqlite3', Database);
// The command tree's description, for telling help requests apart at start (rkt.ts).
describeForSnapshot();

startupSnapshot.setDeserializeMainFunction(() => {
  // Started from a snapshot, argv has no script; give it one so argv[2...] are the arguments as usual.
  const home = process.env['ROCKET_HOME'];
  process.argv.splice(1, 0, home !== undefined && home !== '' ? join(home, 'bin', 'rkt') : 'rkt');
  // import.meta.url of the bundled modules (scripts/bundle.mjs): where the bundle is now.
  if (home !== undefined && home !== '')
    (globalThis as { __rocketModuleUrl?: string }).__rocketModuleUrl = pathToFileURL(
      join(home, 'dist', 'bundle', 'rkt.cjs'),
    ).href;
  void main(process.argv.slice(2));
});
