// The rules of the source tree's layers, checked on the TypeScript sources (docs/design.md):
// libraries throw error kinds and leave exit codes to the command line; the engines (src/stage1)
// import nothing of stage0's pod, network or metadata code (the arrow runs from stage0 to them).
import assert from 'node:assert/strict';
import { readFileSync, readdirSync } from 'node:fs';
import { join, relative } from 'node:path';
import { describe, it } from 'node:test';
import { projectRoot } from '../helpers.js';

function sources(dir: string): string[] {
  const out: string[] = [];
  for (const e of readdirSync(dir, { withFileTypes: true })) {
    const p = join(dir, e.name);
    if (e.isDirectory()) out.push(...sources(p));
    else if (e.name.endsWith('.ts')) out.push(p);
  }
  return out;
}

describe('layering', () => {
  it('pod/, net/ and store/ throw error kinds and choose no exit code', () => {
    const offences: string[] = [];
    for (const lib of ['pod', 'net', 'store'])
      for (const file of sources(join(projectRoot, 'src', lib))) {
        const text = readFileSync(file, 'utf8');
        const where = relative(projectRoot, file);
        if (/\bRKT_FAILURE\b/.test(text)) offences.push(`${where}: RKT_FAILURE`);
        if (/\bexitCode\s*(:|=(?!=))/.test(text)) offences.push(`${where}: sets an exit code`);
        // A RocketError made with a number as its second argument.
        for (const m of text.matchAll(/new RocketError\(\s*(?:`[^`]*`|'[^']*'|"[^"]*"|[\w.]+)\s*,\s*(\d+)/g))
          offences.push(`${where}: new RocketError(..., ${m[1]})`);
      }
    assert.deepEqual(offences, []);
  });

  it('src/stage1 imports nothing from src/pod, src/net or src/metadata', () => {
    const offences: string[] = [];
    for (const file of sources(join(projectRoot, 'src', 'stage1'))) {
      const text = readFileSync(file, 'utf8');
      for (const m of text.matchAll(/\bfrom\s+'([^']+)'|\bimport\(\s*'([^']+)'\s*\)/g)) {
        const spec = m[1] ?? m[2] ?? '';
        if (!spec.startsWith('.')) continue;
        const target = relative(join(projectRoot, 'src'), join(file, '..', spec));
        if (/^(pod|net|metadata)(\/|$)/.test(target))
          offences.push(`${relative(projectRoot, file)}: ${spec}`);
      }
    }
    assert.deepEqual(offences, []);
  });
});
