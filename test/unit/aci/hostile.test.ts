import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { mkdirSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join, relative } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { extractAci, validateArchive } from '../../../src/aci/index.js';
import { RocketError } from '../../../src/errors.js';
import { tempDir } from './helpers.js';

interface Corpus {
  outside: string;
  archives: { file: string; description: string; expect: 'refuse' | 'contain' }[];
}

let root: string;
let cleanup: () => void;
let corpusDir: string;
let outside: string;
let targets: string;
let corpus: Corpus;

/** Every path below `dir`, relative to it (symlinks not followed). */
function walk(dir: string, base = dir): string[] {
  const out: string[] = [];
  for (const d of readdirSync(dir, { withFileTypes: true })) {
    const p = join(dir, d.name);
    out.push(relative(base, p));
    if (d.isDirectory()) out.push(...walk(p, base));
  }
  return out.sort();
}

before(() => {
  ({ dir: root, cleanup } = tempDir('hostile'));
  corpusDir = join(root, 'corpus');
  outside = join(root, 'outside');
  targets = join(root, 'targets');
  mkdirSync(outside);
  mkdirSync(targets);
  writeFileSync(join(outside, 'victim'), 'sentinel\n');
  execFileSync(process.execPath, ['scripts/make-hostile-acis.mjs', corpusDir, '--outside', outside], {
    stdio: 'ignore',
  });
  corpus = JSON.parse(readFileSync(join(corpusDir, 'index.json'), 'utf8')) as Corpus;
});
after(() => cleanup());

describe('hostile archives (scripts/make-hostile-acis.mjs)', () => {
  it('the corpus was written', () => {
    assert.equal(corpus.outside, outside);
    assert.ok(corpus.archives.length >= 30);
  });

  it('each is refused by validateArchive and extractAci, or contained', async () => {
    for (const a of corpus.archives) {
      const path = join(corpusDir, a.file);
      const dest = join(targets, a.file.replace(/\.aci$/, ''));
      if (a.expect === 'refuse') {
        await assert.rejects(
          validateArchive(path),
          (err: Error) => {
            assert.ok(err instanceof RocketError, `${a.file}: ${String(err)}`);
            assert.ok(err.message.startsWith(`${path}: `), err.message);
            assert.ok(!err.message.includes('\n'), err.message);
            return true;
          },
          `validate ${a.file}: ${a.description}`,
        );
        await assert.rejects(extractAci(path, dest), RocketError, `extract ${a.file}: ${a.description}`);
        await assert.rejects(
          extractAci(path, dest, { rootfsOnly: true }),
          RocketError,
          `extract rootfs ${a.file}`,
        );
      } else {
        await validateArchive(path);
        await extractAci(path, dest);
      }
    }
  });

  it('nothing outside the targets changed', () => {
    assert.deepEqual(walk(outside), ['victim']);
    assert.equal(readFileSync(join(outside, 'victim'), 'utf8'), 'sentinel\n');
    assert.deepEqual(readdirSync(root).sort(), ['corpus', 'outside', 'targets']);
    // Only contained images produced a target; refused ones left no temp directories either.
    const contained = corpus.archives
      .filter((a) => a.expect === 'contain')
      .map((a) => a.file.replace(/\.aci$/, ''));
    assert.deepEqual(readdirSync(targets).sort(), contained.sort());
    assert.deepEqual(
      walk(root).filter((p) => /(^|\/)(escape[^/]*|absolute)$/.test(p)),
      [],
    );
  });
});
