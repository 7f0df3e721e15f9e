// The command-line wrapper every tool runs through (src/cli/run.ts): whatever an action throws, and
// whatever escapes it, ends as one line and the tool's failure status. Each case is its own Node
// process, since runProgram installs process-wide handlers.
import { strict as assert } from 'node:assert';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { describe, it } from 'node:test';
import { projectRoot, run } from '../../helpers.js';

const runModule = pathToFileURL(join(projectRoot, 'dist', 'src', 'cli', 'run.js')).href;
const commander = pathToFileURL(join(projectRoot, 'node_modules', 'commander', 'index.js')).href;

/** Runs a one-command program `tool` whose action is `body`, with runProgram's options `opts`. */
function tool(body: string, opts: string, env: NodeJS.ProcessEnv = process.env) {
  const script = `
    import { runProgram, action } from ${JSON.stringify(runModule)};
    import commander from ${JSON.stringify(commander)};
    const program = new commander.Command('tool');
    program.command('verb').action(action('verb', async () => { ${body} }));
    await runProgram(program, ['verb'], 2, ${opts});
  `;
  return run(process.execPath, ['--input-type=module', '-e', script], { env });
}

describe('runProgram and action', () => {
  it('turns an error that is not a RocketError into one line, with the failure status', async () => {
    const r = await tool("throw new TypeError('cannot read x\\n  of undefined');", '{ failureExit: 254 }');
    assert.equal(r.code, 254);
    assert.equal(r.stderr, 'verb: cannot read x; of undefined\n');
    const plain = await tool("throw new Error('boom');", '{}');
    assert.equal(plain.code, 1);
    assert.equal(plain.stderr, 'verb: boom\n');
  });

  it('keeps a RocketError exit code unless the tool has one failure status', async () => {
    const body = `const { RocketError } = await import(${JSON.stringify(
      pathToFileURL(join(projectRoot, 'dist', 'src', 'errors.js')).href,
    )}); throw new RocketError('refused', 3);`;
    assert.equal((await tool(body, '{}')).code, 3);
    const rkt = await tool(body, '{ failureExit: 254 }');
    assert.equal(rkt.code, 254);
    assert.equal(rkt.stderr, 'verb: refused\n');
  });

  it('reports an exception that escapes the action (a callback throwing later) as one line', async () => {
    const r = await tool("setTimeout(() => { throw new RangeError('late'); }, 0);", '{ failureExit: 254 }');
    assert.equal(r.code, 254);
    assert.equal(r.stderr, 'tool: late\n');
    const rejected = await tool("void Promise.reject(new Error('unhandled'));", '{ failureExit: 254 }');
    assert.equal(rejected.code, 254);
    assert.equal(rejected.stderr, 'tool: unhandled\n');
  });

  it('adds the stack with ROCKET_STACK_TRACES=1, for debugging', async () => {
    const r = await tool("throw new Error('boom');", '{}', { ...process.env, ROCKET_STACK_TRACES: '1' });
    assert.equal(r.code, 1);
    assert.match(r.stderr, /^verb: boom\nError: boom\n\s+at /);
  });
});
