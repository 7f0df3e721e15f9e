/**
 * The seccomp filter compiled by stage0 (src/stage1/oci/seccomp-bpf.ts) and handed to crun as
 * `run.oci.seccomp_bpf_data`: crun's configs carry it, the data dir caches it, and the pods behave
 * as under the filter crun compiles itself (runc's pods, which get the section only, are the
 * reference): a blocked call fails with the errno asked for, or kills the app with SIGSYS; a call
 * outside rkt's default allow-list kills it; a call in it works.
 */
import assert from 'node:assert/strict';
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { SECCOMP_BPF_ANNOTATION } from '../../../src/stage1/oci/seccomp-bpf.js';
import { which } from '../../../src/stage1/oci/runtime.js';
import { skipUnlessCI } from '../../helpers.js';
import { Rkt, buildAci, podTestSkip } from '../fly/fixture.js';

const skip =
  podTestSkip() !== false
    ? podTestSkip()
    : ['crun', 'runc'].some((r) => which(r) === undefined)
      ? 'needs crun and runc'
      : false;

const SH = ['--exec', '/bin/sh', '--', '-c'];

describe('seccomp filter compiled for crun', { skip: skipUnlessCI(skip) }, () => {
  let r: Rkt;
  let img: string;
  before(() => {
    r = new Rkt('rocket-seccomp-bpf-');
    img = buildAci(r.work, 'sc', { exec: ['/bin/true'] });
  });
  after(() => r?.cleanup());

  /** Runs `script` in a pod on `runtime`; its output, exit code and the main config's annotations. */
  async function runOn(
    runtime: 'crun' | 'runc',
    isolator: string[],
    script: string,
  ): Promise<{ out: string; err: string; code: number; annotations: Record<string, string> }> {
    const p = await r.runPod([`--stage1-name=oci-${runtime}`, '--net=none', img, ...isolator, ...SH, script]);
    const config = join(r.data, 'pods', 'run', p.uuid, 'apps', 'sc', 'config.json');
    const annotations = existsSync(config)
      ? ((JSON.parse(readFileSync(config, 'utf8')) as { annotations?: Record<string, string> }).annotations ??
        {})
      : {};
    return { out: p.stdout.trim(), err: p.stderr, code: p.code, annotations };
  }

  const cases: { name: string; isolator: string[]; script: string }[] = [
    {
      name: 'a blocked call fails with the errno asked for',
      isolator: ['--seccomp=mode=remove,errno=EACCES,mkdir,mkdirat'],
      script: 'mkdir /tmp/x 2>/dev/null; echo mkdir=$?',
    },
    {
      name: 'a blocked call without errno kills the app (SIGSYS)',
      isolator: ['--seccomp=mode=remove,mkdir,mkdirat'],
      script: 'mkdir /tmp/x; echo mkdir=$?',
    },
    {
      name: 'an allow-list with errno: the calls left out fail with it',
      isolator: ['--seccomp=mode=retain,errno=EACCES,@rkt/default-whitelist'],
      script: 'unshare -m true 2>&1; echo unshare=$?',
    },
    {
      name: "rkt's default allow-list: unshare is out, mkdir is in",
      isolator: [],
      script: 'mkdir /tmp/x && echo mkdir=$?; unshare -m true 2>/dev/null; echo unshare=$?',
    },
  ];

  for (const c of cases)
    it(c.name, { timeout: 120_000 }, async () => {
      const crun = await runOn('crun', c.isolator, c.script);
      const runc = await runOn('runc', c.isolator, c.script);
      assert.match(
        crun.annotations[SECCOMP_BPF_ANNOTATION] ?? '',
        /^[A-Za-z0-9+/]+=*$/,
        'crun gets the program',
      );
      assert.equal(runc.annotations[SECCOMP_BPF_ANNOTATION], undefined, 'runc does not');
      assert.deepEqual({ out: crun.out, code: crun.code }, { out: runc.out, code: runc.code });
    });

  it('caches one program per filter', () => {
    const cache = join(r.data, 'cache', 'seccomp-bpf');
    // Four distinct filters were asked for (EACCES and SIGSYS block-lists, the EACCES allow-list,
    // the default).
    assert.equal(readdirSync(cache).filter((f) => f.endsWith('.bpf')).length, 4);
  });

  it('what the filters do', { timeout: 60_000 }, async () => {
    const errno = await runOn(
      'crun',
      ['--seccomp=mode=remove,errno=EACCES,mkdir,mkdirat'],
      'mkdir /tmp/x; echo mkdir=$?',
    );
    assert.equal(errno.out, 'mkdir=1');
    assert.match(errno.err, /Permission denied/);
    const kill = await runOn('crun', ['--seccomp=mode=remove,mkdir,mkdirat'], 'mkdir /tmp/x; echo mkdir=$?');
    // busybox's sh runs mkdir in a child: SIGSYS (31) ends it, the shell goes on.
    assert.equal(kill.out, 'mkdir=159');
    const dflt = await runOn(
      'crun',
      [],
      'mkdir /tmp/x && echo mkdir=$?; unshare -m true 2>/dev/null; echo unshare=$?',
    );
    assert.equal(dflt.out, 'mkdir=0\nunshare=159');
    const allow = await runOn(
      'crun',
      ['--seccomp=mode=retain,errno=EACCES,@rkt/default-whitelist'],
      'unshare -m true 2>&1; echo unshare=$?',
    );
    assert.match(allow.out, /Permission denied\nunshare=1$/);
  });
});
