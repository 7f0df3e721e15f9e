// stage0's counted stderr lines (src/stderr.ts): what `rkt run` and `rkt prepare` ask to know
// whether a run said anything. Run in a child Node, whose stderr the test reads.
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { describe, it } from 'node:test';

const moduleUrl = new URL('../../src/stderr.js', import.meta.url).href;

describe('stderr lines', () => {
  it('are counted, said or muted; muted ones are not written', () => {
    const script = `
      const { stderrLine, stderrLinesSaid, unsaid } = await import(${JSON.stringify(moduleUrl)});
      const counts = [stderrLinesSaid()];
      stderrLine('one');
      stderrLine('two\\n');
      counts.push(stderrLinesSaid());
      counts.push(unsaid(() => { stderrLine('muted'); stderrLine('muted too'); }));
      counts.push(unsaid(() => undefined));
      try {
        unsaid(() => { stderrLine('muted before a throw'); throw new Error('x'); });
      } catch {}
      stderrLine('three');
      counts.push(stderrLinesSaid());
      process.stdout.write(JSON.stringify(counts));
    `;
    const r = spawnSync(process.execPath, ['--input-type=module', '-e', script], { encoding: 'utf8' });
    assert.equal(r.status, 0, r.stderr);
    assert.equal(r.stderr, 'one\ntwo\nthree\n');
    assert.deepEqual(JSON.parse(r.stdout), [0, 2, 2, 0, 6]);
  });
});
