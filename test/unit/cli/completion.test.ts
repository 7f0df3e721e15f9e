import { strict as assert } from 'node:assert';
import { existsSync } from 'node:fs';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { projectRoot, run } from '../../helpers.js';

const rkt = join(projectRoot, 'bin', 'rkt');

describe('rkt completion', () => {
  let dir: string;
  let script: string;
  before(async () => {
    dir = await mkdtemp(join(tmpdir(), 'rocket-completion-'));
    const r = await run(rkt, ['completion', 'bash']);
    assert.equal(r.code, 0, r.stderr);
    script = join(dir, 'rkt.bash');
    await writeFile(script, r.stdout);
  });
  after(async () => {
    await rm(dir, { recursive: true, force: true });
  });

  /** What bash's completion function offers for the words (the last one is being completed). */
  async function complete(words: readonly string[]): Promise<string[]> {
    const quoted = words.map((w) => `'${w.replace(/'/g, "'\\''")}'`).join(' ');
    const r = await run('bash', [
      '-c',
      `source '${script}' && COMP_WORDS=(${quoted}) && COMP_CWORD=${words.length - 1} && _rkt && printf '%s\\n' "\${COMPREPLY[@]}"`,
    ]);
    assert.equal(r.code, 0, r.stderr);
    return r.stdout.split('\n').filter((l) => l !== '');
  }

  it('completes subcommands at every level', async () => {
    assert.deepEqual(await complete(['rkt', 'ima']), ['image']);
    assert.deepEqual((await complete(['rkt', 'run'])).sort(), ['run', 'run-prepared']);
    assert.deepEqual(await complete(['rkt', 'image', 'ver']), ['verify']);
    assert.deepEqual(await complete(['rkt', 'help', 'sta']), ['status']);
    const all = await complete(['rkt', '']);
    for (const c of ['image', 'trust', 'fetch', 'run', 'status', 'gc', 'completion', 'config', 'version'])
      assert.ok(all.includes(c), c);
  });

  it('completes flags of the command being typed, globals included', async () => {
    assert.deepEqual((await complete(['rkt', 'image', 'list', '--f'])).sort(), [
      '--fields',
      '--format',
      '--full',
    ]);
    assert.deepEqual(await complete(['rkt', 'run', '--ne']), ['--net']);
    assert.deepEqual(await complete(['rkt', 'status', '--wait-r']), ['--wait-ready']);
    assert.deepEqual(await complete(['rkt', 'run', '--insecure-o']), ['--insecure-options']);
    assert.deepEqual(await complete(['rkt', '--de']), ['--debug']);
  });

  it('skips the values of global flags and stops at positional arguments', async () => {
    assert.deepEqual(await complete(['rkt', '--dir', '/tmp/x', 'image', 'l']), ['list']);
    // `image` here is an image argument of run, not the image command.
    assert.deepEqual(await complete(['rkt', 'run', 'image', 'li']), []);
  });

  it('zsh: the same walk, offered with compadd; other shells are refused', async (t) => {
    const z = await run(rkt, ['completion', 'zsh']);
    assert.equal(z.code, 0, z.stderr);
    assert.match(z.stdout, /^#compdef rkt\n/);
    const f = await run(rkt, ['completion', 'fish']);
    assert.equal(f.code, 254);
    assert.equal(f.stderr, 'completion: unsupported shell "fish" (bash or zsh)\n');
    const zsh = ['/usr/bin/zsh', '/bin/zsh'].find((p) => existsSync(p));
    if (zsh === undefined) return t.skip('zsh is not installed');
    const script = join(dir, '_rkt');
    await writeFile(script, z.stdout);
    // compinit's compdef, compadd and _files stand in: compadd prints what it is offered.
    const offered = async (words: readonly string[]): Promise<string[]> => {
      const quoted = words.map((w) => `'${w}'`).join(' ');
      const r = await run(zsh, [
        '-fc',
        `compdef() { :; }; compadd() { [[ $1 == -- ]] && shift; print -l -- "$@"; }; _files() { print FILES; }; ` +
          `source '${script}' && words=(${quoted}) && CURRENT=${words.length} && _rkt`,
      ]);
      assert.equal(r.code, 0, r.stderr);
      return r.stdout.split('\n').filter((l) => l !== '');
    };
    assert.deepEqual(await offered(['rkt', 'image', 'l']), [
      'cat-manifest',
      'export',
      'extract',
      'gc',
      'list',
      'render',
      'rm',
      'verify',
    ]);
    const flags = await offered(['rkt', '--dir', '/x', 'image', 'list', '--f']);
    for (const flag of ['--fields', '--format', '--full', '--dir', '--debug'])
      assert.ok(flags.includes(flag), flag);
    assert.ok(!flags.includes('--net'));
    assert.deepEqual(await offered(['rkt', 'run', 'image', 'x']), ['FILES']);
  });
});
