/**
 * README's "A first pod by hand", run as written: the shell block is taken from README.md itself, so
 * the commands a newcomer copies are the ones tested. Only the places change: /tmp/hello becomes a
 * temp dir, and every `bin/rkt` gets that dir's own --dir and config dirs.
 */
import assert from 'node:assert/strict';
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';
import { projectRoot, run, skipUnlessCI, tempDir } from '../../helpers.js';

const skip =
  process.getuid?.() !== 0 ? 'needs root' : !existsSync('/bin/busybox') ? 'needs busybox-static' : false;

/** The first ```sh block after the "A first pod by hand" heading. */
function firstPodBlock(): string {
  const readme = readFileSync(join(projectRoot, 'README.md'), 'utf8');
  const section = readme.slice(readme.indexOf('## A first pod by hand'));
  const m = /```sh\n([\s\S]*?)```/.exec(section);
  assert.ok(m !== null, 'README.md has no sh block under "A first pod by hand"');
  return m[1] as string;
}

test("README's first pod by hand works as written", { skip: skipUnlessCI(skip) }, async () => {
  const work = await tempDir('rocket-readme-');
  const rkt = `bin/rkt --dir=${work.path}/store --local-config=${work.path}/etc --system-config=${work.path}/lib --user-config=${work.path}/user`;
  try {
    const script = firstPodBlock()
      .replaceAll('/tmp/hello', `${work.path}/hello`)
      .replaceAll(/^bin\/rkt /gm, `${rkt} `);
    assert.match(script, /bin\/actool build/);
    const r = await run('bash', ['-euo', 'pipefail', '-c', script], { cwd: projectRoot });
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stdout, /^hello from busybox, args: world$/m);
    assert.match(r.stdout, /^[0-9a-f]{8}\tbusybox\texample\.com\/busybox:1\.0\.0\texited\t/m);
    assert.match(r.stdout, /Garbage collecting pod "[0-9a-f-]{36}"/);
  } finally {
    await run('sh', ['-c', `${rkt} gc --grace-period=0s`], { cwd: projectRoot });
    await work.cleanup();
  }
});
