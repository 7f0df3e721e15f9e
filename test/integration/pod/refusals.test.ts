/**
 * Requests refused before anything is made (issue 16, point 4, and `--pull-policy=never`): each
 * ends with one line on stderr and exit 254, no stack trace, no pod directory, nothing stored.
 * Through bin/rkt, as root, in a temp `--dir`.
 */
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { projectRoot, run, type RunResult } from '../../helpers.js';
import { makeAciBytes, manifestText } from '../../unit/store/helpers.js';
import { buildBusyboxAci, busybox } from '../busybox-aci.js';

const rktBin = join(projectRoot, 'bin', 'rkt');
const actoolBin = join(projectRoot, 'bin', 'actool');
const skip = process.getuid?.() !== 0 ? 'needs root' : busybox === undefined ? 'needs busybox-static' : false;

/** One line of stderr, exit 254, no Node stack trace. */
function refused(r: RunResult, message: RegExp): void {
  assert.equal(r.code, 254, r.stderr);
  const lines = r.stderr
    .trimEnd()
    .split('\n')
    .filter((l) => l !== 'image: warning: image signature verification has been disabled');
  assert.equal(lines.length, 1, r.stderr);
  assert.match(lines[0] as string, message);
  assert.doesNotMatch(r.stderr, /\n\s+at |ENAMETOOLONG/);
}

describe('refused before anything is made', { skip }, () => {
  let work: string;
  let data: string;
  let bb: string;
  let longLast: string;

  before(() => {
    work = mkdtempSync(join(tmpdir(), 'rocket-refusals-'));
    data = join(work, 'data');
    const app = { exec: ['/bin/sh', '-c', 'exit 0'] };
    bb = buildBusyboxAci(work, 'busybox', { applets: ['sh'], app });
    // example.com/ + 240 characters: a fine image name (252 bytes) whose app name would be too long.
    longLast = join(work, 'long-last.aci');
    const r = spawnSync(
      actoolBin,
      ['patch-manifest', `--name=example.com/${'b'.repeat(240)}`, bb, longLast],
      {
        encoding: 'utf8',
      },
    );
    assert.equal(r.status, 0, r.stderr);
  });
  after(() => {
    spawnSync(rktBin, [`--dir=${data}`, 'gc', '--grace-period=0s', '--expire-prepared=0s'], {
      stdio: 'ignore',
    });
    rmSync(work, { recursive: true, force: true });
  });

  const rkt = (...args: string[]): Promise<RunResult> =>
    run(rktBin, [`--dir=${data}`, '--insecure-options=image', ...args]);
  const pods = (): string[] => {
    const root = join(data, 'pods');
    if (!existsSync(root)) return [];
    return readdirSync(root).flatMap((state) => readdirSync(join(root, state)).map((u) => `${state}/${u}`));
  };
  const images = async (): Promise<string> => {
    const r = await rkt('image', 'list', '--no-legend', '--full');
    assert.equal(r.code, 0, r.stderr);
    return r.stdout;
  };

  it('--name of 300 characters: refused while parsing, for prepare and run', async () => {
    const name = 'a'.repeat(300);
    refused(
      await rkt('prepare', bb, `--name=${name}`),
      /^prepare: --name: app name of 300 bytes is too long \(at most 214/,
    );
    refused(
      await rkt('run', '--net=none', bb, '--name', name),
      /^run: --name: app name of 300 bytes is too long/,
    );
    assert.deepEqual(pods(), []);
  });

  it('an app name from an image too long for the pod: refused before the pod is made', async () => {
    refused(
      await rkt('prepare', longLast),
      /^prepare: image "example\.com\/b{240}": app name of 240 bytes is too long \(at most 214/,
    );
    assert.deepEqual(pods(), []);
    // The same image runs under a shorter --name.
    const ok = await rkt('run', '--net=none', longLast, '--name=short');
    assert.equal(ok.code, 0, ok.stderr);
  });

  it('an image name of 1000 characters: refused at fetch, nothing stored', async () => {
    const aci = join(work, 'long-name.aci');
    writeFileSync(aci, await makeAciBytes(manifestText(`example.com/${'c'.repeat(988)}`), []));
    const before = await images();
    refused(await rkt('fetch', aci), /^fetch: .*: image name of 1000 bytes is too long \(at most 255\)/);
    assert.equal(await images(), before);
    assert.deepEqual(readdirSync(join(data, 'cas', 'tmp')), []);
  });

  it('--pull-policy=never with the image missing: refused, nothing fetched, no pod', async () => {
    const podsBefore = pods();
    // example.com does not resolve here: a fetch, had one been tried, would fail with another message.
    for (const verb of ['run', 'prepare'])
      refused(
        await rkt(
          verb,
          ...(verb === 'run' ? ['--net=none'] : []),
          '--pull-policy=never',
          'example.com/missing:1.0',
        ),
        new RegExp(
          `^${verb}: unable to fetch image from image name "example\\.com/missing:1\\.0": either image was not found in the store`,
        ),
      );
    assert.deepEqual(pods(), podsBefore);
  });
});
