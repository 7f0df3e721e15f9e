import { strict as assert } from 'node:assert';
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { allCommands, describe as describeCommand, type CommandDoc } from '../../../src/cli/help.js';
import { makeProgram } from '../../../src/cli/rkt.js';
import { ENTER_FLAGS, STATUS_FLAGS, podFlagTable } from '../../../src/cli/rkt/pod/flags.js';
import { parseEnterArgs } from '../../../src/cli/rkt/pod/enter.js';
import { parseStatusArgs } from '../../../src/cli/rkt/pod/status.js';
import { RUN_FLAG_HELP, parseRunArgs, runFlagNames } from '../../../src/cli/rkt/pod/run-flags.js';
import { errorMessage } from '../../../src/errors.js';
import { projectRoot, run } from '../../helpers.js';

const rkt = join(projectRoot, 'bin', 'rkt');
const root = describeCommand(makeProgram());
const commands = allCommands(root);

/** Runs `rkt` with each argument list, a few at a time (each is one Node start). */
async function runAll(argvs: readonly string[][]): Promise<Awaited<ReturnType<typeof run>>[]> {
  const out: Awaited<ReturnType<typeof run>>[] = [];
  for (let i = 0; i < argvs.length; i += 4)
    out.push(...(await Promise.all(argvs.slice(i, i + 4).map((a) => run(rkt, a)))));
  return out;
}

function assertListsFlags(text: string, doc: CommandDoc, how: string): void {
  const name = doc.path.join(' ');
  assert.match(text, /^Usage:$/m, `${how}: no usage`);
  assert.ok(text.includes(`  ${name} `), `${how}: usage does not name ${JSON.stringify(name)}`);
  for (const f of [...doc.flags, ...doc.inherited]) {
    if (f.hidden === true) continue;
    assert.ok(text.includes(`--${f.name}`), `${how}: --${f.name} missing`);
    assert.ok(
      text.includes(f.description.split('\n')[0] as string),
      `${how}: description of --${f.name} missing`,
    );
    if (f.default !== undefined && f.default !== '')
      assert.ok(text.includes(`(default `), `${how}: default of --${f.name} missing`);
  }
  assert.ok(text.includes('-h, --help'), `${how}: -h, --help missing`);
  for (const sub of doc.subcommands)
    assert.ok(text.includes(sub.path[sub.path.length - 1] as string), `${how}: subcommand missing`);
}

describe('rkt help', () => {
  it('covers run, prepare, run-prepared, enter and status (once unknown flags)', () => {
    for (const verb of ['run', 'prepare', 'run-prepared', 'enter', 'status'])
      assert.ok(
        commands.some((c) => c.path.join(' ') === `rkt ${verb}`),
        verb,
      );
  });

  it('--help, -h and `rkt help CMD` print every command usage and flags, and exit 0', async () => {
    const subs = commands.filter((c) => c.path.length > 1);
    const words = subs.map((c) => c.path.slice(1));
    const argvs = words.flatMap((w) => [
      [...w, '--help'],
      [...w, '-h'],
      ['help', ...w],
    ]);
    const results = await runAll(argvs);
    results.forEach((r, i) => {
      const how = `rkt ${(argvs[i] as string[]).join(' ')}`;
      assert.equal(r.code, 0, `${how}: ${r.stderr}`);
      assertListsFlags(r.stdout, subs[Math.floor(i / 3)] as CommandDoc, how);
    });
  });

  it('`rkt --help` and `rkt help` list every command and the global flags', async () => {
    for (const argv of [['--help'], ['help'], ['-h']]) {
      const r = await run(rkt, argv);
      assert.equal(r.code, 0, r.stderr);
      assertListsFlags(r.stdout, root, argv.join(' '));
      assert.match(r.stdout, /^Available Commands:$/m);
    }
  });

  it('shows flag defaults as rkt did', async () => {
    const r = await run(rkt, ['image', 'list', '--help']);
    assert.match(r.stdout, /--order order +.*\(default "asc"\)/);
    const g = await run(rkt, ['help', 'status']);
    assert.match(g.stdout, /--dir dir +rkt data directory \(default "\/var\/lib\/rkt"\)/);
  });

  it('leaves --help that belongs to an app alone', async () => {
    // After `--` (the app's arguments) and after enter's UUID, --help is not rkt's.
    const r = await run(rkt, ['--dir=/nonexistent-rocket', 'enter', '0123', 'sh', '--help']);
    assert.doesNotMatch(r.stdout, /^Usage:$/m);
    assert.equal(r.code, 254);
  });

  it('a group command without a subcommand prints its help; an unknown topic says so', async () => {
    const r = await run(rkt, ['image']);
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stdout, /^ {2}rkt image \[command\]$/m);
    const u = await run(rkt, ['help', 'nosuchverb']);
    assert.match(u.stdout, /Unknown help topic \[`nosuchverb`\]/);
  });
});

describe('flag tables of the verbs that parse their own arguments', () => {
  it('run/prepare: every flag the parser takes has help, and every flag with help parses', () => {
    assert.deepEqual(Object.keys(RUN_FLAG_HELP).sort(), runFlagNames().sort());
    for (const verb of ['run', 'prepare'] as const) {
      for (const f of podFlagTable(verb) ?? []) {
        try {
          parseRunArgs([`--${f.name}=x`, 'example.com/app'], verb);
        } catch (err) {
          assert.doesNotMatch(errorMessage(err), /unknown flag/, `${verb} --${f.name}`);
        }
      }
    }
    assert.throws(() => parseRunArgs(['--quiet', 'example.com/app'], 'run'), /unknown flag: --quiet/);
    assert.ok(!(podFlagTable('run') ?? []).some((f) => f.name === 'quiet'));
  });

  it('status and enter: their parsers take exactly their tables', () => {
    for (const f of STATUS_FLAGS) {
      try {
        parseStatusArgs([`--${f.name}=x`, 'uuid']);
      } catch (err) {
        assert.doesNotMatch(errorMessage(err), /unknown flag/, `status --${f.name}`);
      }
    }
    assert.throws(() => parseStatusArgs(['--bogus', 'uuid']), /unknown flag: --bogus/);
    for (const f of ENTER_FLAGS) assert.equal(parseEnterArgs([`--${f.name}=a`, 'uuid']).uuid, 'uuid');
    assert.throws(() => parseEnterArgs(['--bogus', 'uuid']), /unknown flag: --bogus/);
  });
});

describe('man pages', () => {
  it('one per command, listing its flags, that man/groff render without error', async () => {
    const dir = join(projectRoot, 'dist', 'man', 'man1');
    for (const doc of commands) {
      const file = join(dir, `${doc.path.join('-')}.1`);
      assert.ok(existsSync(file), file);
      const text = readFileSync(file, 'utf8');
      assert.match(text, /^\.TH "/);
      for (const f of doc.flags.filter((g) => g.hidden !== true))
        assert.ok(text.includes(`\\-\\-${f.name.replace(/-/g, '\\-')}`), `${file}: --${f.name}`);
    }
    for (const page of ['actool.1', 'docker2aci.1', 'actool-build.1'])
      assert.ok(existsSync(join(dir, page)), page);
    const groff = ['/usr/bin/groff', '/bin/groff'].find((p) => existsSync(p));
    if (groff === undefined) return;
    const r = await run(groff, ['-man', '-Tutf8', join(dir, 'rkt-run.1')]);
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stdout, /rkt-run - Run image\(s\) in a pod in rkt/);
    assert.equal(r.stderr, '');
  });
});
