import { strict as assert } from 'node:assert';
import { describe, it } from 'node:test';
import { dropLauncherTunables } from '../../../src/cli/rkt.js';

describe("bin/rkt's GLIBC_TUNABLES for Node's start", () => {
  it("removes the launcher's value and its marker, and leaves the user's", () => {
    const ours: NodeJS.ProcessEnv = {
      GLIBC_TUNABLES: 'glibc.malloc.hugetlb=1',
      ROCKET_TUNABLES: '1',
      A: 'b',
    };
    dropLauncherTunables(ours);
    assert.deepEqual(ours, { A: 'b' });
    const users: NodeJS.ProcessEnv = { GLIBC_TUNABLES: 'glibc.malloc.hugetlb=1', ROCKET_TUNABLES: '' };
    dropLauncherTunables(users);
    assert.deepEqual(users, { GLIBC_TUNABLES: 'glibc.malloc.hugetlb=1' });
    // Started without the launcher (node dist/src/cli/rkt.js): nothing is the launcher's.
    const direct: NodeJS.ProcessEnv = { GLIBC_TUNABLES: 'glibc.malloc.hugetlb=1' };
    dropLauncherTunables(direct);
    assert.deepEqual(direct, { GLIBC_TUNABLES: 'glibc.malloc.hugetlb=1' });
  });
});
