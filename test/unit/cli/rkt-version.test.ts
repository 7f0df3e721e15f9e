import { strict as assert } from 'node:assert';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { ROCKET_VERSION } from '../../../src/cli/rkt/version.js';
import { projectRoot, run } from '../../helpers.js';

describe('rkt version', () => {
  it('prints rkt version lines with the package version and the appc spec version', async () => {
    const pkg = JSON.parse(readFileSync(join(projectRoot, 'package.json'), 'utf8')) as { version: string };
    assert.equal(ROCKET_VERSION, pkg.version);
    const r = await run(join(projectRoot, 'bin', 'rkt'), ['version']);
    assert.equal(r.code, 0, r.stderr);
    const lines = r.stdout.trimEnd().split('\n');
    assert.equal(lines[0], `rkt Version: ${pkg.version} (rocket)`);
    assert.equal(lines[1], 'appc Version: 0.8.11');
    assert.match(lines[3] ?? '', /^Node OS\/Arch: linux\/(amd64|arm64)$/);
    assert.match(lines[4] ?? '', /^Features: /);
  });
});
