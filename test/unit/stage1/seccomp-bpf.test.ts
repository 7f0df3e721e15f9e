/**
 * What stage0 leaves to crun: a filter with argument conditions or an action rkt's isolators never
 * make (a CRI localhost profile's) is not compiled (no annotation), so crun compiles the section
 * itself instead of running a filter that lost its conditions.
 */
import assert from 'node:assert/strict';
import { mkdtempSync, readdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { after, describe, it } from 'node:test';
import type { OciSeccomp } from '../../../src/stage1/oci/seccomp.js';
import { seccompBpfData } from '../../../src/stage1/oci/seccomp-bpf.js';

const cache = mkdtempSync(path.join(tmpdir(), 'rocket-bpf-'));
after(() => rmSync(cache, { recursive: true, force: true }));

describe('seccompBpfData: what is left to crun', () => {
  it('a rule with argument conditions is not compiled', () => {
    const s: OciSeccomp = {
      defaultAction: 'SCMP_ACT_ALLOW',
      syscalls: [
        { names: ['chmod'], action: 'SCMP_ACT_ERRNO', args: [{ index: 1, value: 0o777, op: 'SCMP_CMP_EQ' }] },
      ],
    };
    assert.equal(seccompBpfData(s, cache), undefined);
  });

  it('an action rkt never makes is not compiled', () => {
    for (const action of ['SCMP_ACT_LOG', 'SCMP_ACT_TRAP', 'SCMP_ACT_KILL'] as const) {
      assert.equal(
        seccompBpfData({ defaultAction: 'SCMP_ACT_ALLOW', syscalls: [{ names: ['chmod'], action }] }, cache),
        undefined,
      );
      assert.equal(
        seccompBpfData(
          { defaultAction: action, syscalls: [{ names: ['read'], action: 'SCMP_ACT_ALLOW' }] },
          cache,
        ),
        undefined,
      );
    }
    assert.deepEqual(readdirSync(cache), []);
  });
});
