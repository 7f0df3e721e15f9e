/**
 * What a rkt user trips over, as root with the real runtimes (crun and runc): capabilities beyond
 * the host's bounding set, a host volume whose source is missing, an exec path missing from the
 * image, and what `--memory`/`--cpu` report. Refusals happen in stage0 before a pod is made.
 */
import assert from 'node:assert/strict';
import { spawnSync, type ChildProcess } from 'node:child_process';
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { unmountUnder } from '../../../src/pod/index.js';
import { podCgroupDirs } from '../../../src/stage1/oci/engine.js';
import { which } from '../../../src/stage1/oci/runtime.js';
import { ALL_CAPABILITIES, hostBoundingSet } from '../../../src/stage1/oci/spec.js';
import { projectRoot, startCollected, type RunResult, skipUnlessCI } from '../../helpers.js';
import { buildBusyboxAci, podTestsMissing } from '../busybox-aci.js';

const rktBin = join(projectRoot, 'bin', 'rkt');
const skip = podTestsMissing;

const children = new Set<ChildProcess>();
const host = hostBoundingSet();
/** A capability this host's bounding set lacks (root on this VM lacks CAP_SYS_RESOURCE), if any. */
const missingCap = ALL_CAPABILITIES.find((c) => !host.includes(c));

describe('rkt run: what a user trips over', { skip: skipUnlessCI(skip, 'rkt run user-error tests') }, () => {
  let work: string;
  let data: string;
  let bb: string;
  const uuids = new Set<string>();

  before(() => {
    work = mkdtempSync(join(tmpdir(), 'rocket-user-errors-'));
    data = join(work, 'data');
    bb = buildBusyboxAci(work, 'busybox', {
      applets: ['sh', 'grep', 'cat', 'true'],
      dirs: ['tmp', 'proc', 'sys', 'dev'],
      app: { exec: ['/bin/sh', '-c', 'exit 0'] },
    });
  });

  after(() => {
    for (const c of children) if (c.pid !== undefined) process.kill(c.pid, 'SIGKILL');
    for (let i = 0; i < 2; i++)
      spawnSync(rktBin, [`--dir=${data}`, 'gc', '--grace-period=0s', '--expire-prepared=0s'], {
        stdio: 'ignore',
      });
    unmountUnder(work);
    for (const uuid of uuids) for (const d of podCgroupDirs(`rkt-${uuid}`)) spawnSync('rmdir', [d]);
    rmSync(work, { recursive: true, force: true });
  });

  let n = 0;
  /** `rkt run` (or another verb) with this suite's data dir; remembers the pod it made, if any. */
  async function rkt(verb: 'run' | 'prepare', engine: string, ...args: string[]): Promise<RunResult> {
    return rktWith('image', verb, engine, ...args);
  }
  async function rktWith(
    insecure: string,
    verb: 'run' | 'prepare',
    engine: string,
    ...args: string[]
  ): Promise<RunResult> {
    const uuidFile = join(work, `uuid-${++n}`);
    const r = await startCollected(
      rktBin,
      [
        `--dir=${data}`,
        `--insecure-options=${insecure}`,
        verb,
        `--stage1-name=${engine}`,
        ...(verb === 'run' ? ['--net=none'] : []),
        `--uuid-file-save=${uuidFile}`,
        ...args,
      ],
      { children },
    ).done;
    if (existsSync(uuidFile)) uuids.add(readFileSync(uuidFile, 'utf8').trim());
    return r;
  }
  const sh = (script: string): string[] => ['--exec', '/bin/sh', '--', '-c', script];
  /** Every pod dir of the data dir, in any state. */
  const pods = (): string[] => {
    const root = join(data, 'pods');
    if (!existsSync(root)) return [];
    return readdirSync(root).flatMap((s) => readdirSync(join(root, s)).map((u) => `${s}/${u}`));
  };
  /** A refusal: 254, one line naming `re`, and no pod left behind. */
  async function refused(r: Promise<RunResult>, re: RegExp): Promise<void> {
    const before = pods();
    const res = await r;
    assert.equal(res.code, 254, res.stderr);
    // Only the refusal, after --insecure-options=image's warning.
    const lines = res.stderr
      .trim()
      .split('\n')
      .filter((l) => !l.startsWith('image: warning:'));
    assert.equal(lines.length, 1, res.stderr);
    assert.match(lines[0] as string, re);
    assert.deepEqual(pods(), before);
  }

  for (const [label, engine] of [
    ['crun', 'oci-crun'],
    ['runc', 'oci-runc'],
  ] as const) {
    describe(
      label,
      { skip: skipUnlessCI(which(label) === undefined ? `${label} is not installed` : false, label) },
      () => {
        it("runs --insecure-options=capabilities with the host's whole bounding set", async () => {
          const r = await rktWith(
            'image,capabilities',
            'run',
            engine,
            bb,
            ...sh('grep CapBnd /proc/self/status'),
          );
          assert.equal(r.code, 0, r.stderr);
          const m = /CapBnd:\s*([0-9a-f]+)/.exec(r.stdout);
          assert.ok(m, r.stdout);
          assert.deepEqual(hostBoundingSet(`CapBnd:\t${m[1] as string}\n`), host);
        });

        it(
          'refuses --caps-retain of a capability the host lacks, naming it',
          { skip: missingCap === undefined ? "the host's bounding set has every capability" : false },
          async () => {
            await refused(
              rkt('run', engine, bb, `--caps-retain=${missingCap as string}`, ...sh('true')),
              new RegExp(
                `^run: app "busybox": capability ${missingCap as string} not in the host's bounding set`,
              ),
            );
            // With insecure capabilities the isolator does not apply: the host's whole set.
            const r = await rktWith(
              'image,capabilities',
              'run',
              engine,
              bb,
              `--caps-retain=${missingCap as string}`,
              ...sh('grep CapBnd /proc/self/status'),
            );
            assert.equal(r.code, 0, r.stderr);
          },
        );

        it('retains a capability the host has', async () => {
          const r = await rkt(
            'run',
            engine,
            bb,
            '--caps-retain=CAP_KILL,CAP_CHOWN',
            ...sh('grep CapBnd /proc/self/status'),
          );
          assert.equal(r.code, 0, r.stderr);
          assert.match(r.stdout, /CapBnd:\s*0+21$/m);
        });
      },
    );
  }

  it('refuses a host volume whose source is missing, naming the volume', async () => {
    await refused(
      rkt(
        'run',
        'oci-crun',
        '--volume=v1,kind=host,source=/nonexistent/rocket-src',
        '--mount=volume=v1,target=/data',
        bb,
        ...sh('true'),
      ),
      /^run: volume "v1": host source "\/nonexistent\/rocket-src" does not exist$/m,
    );
    await refused(
      rkt('prepare', 'oci-crun', '--volume=v1,kind=host,source=/nonexistent/rocket-src', bb),
      /^prepare: volume "v1": host source/m,
    );
  });

  it('refuses an exec path missing from the image, naming the app, before a pod is made', async () => {
    await refused(
      rkt('run', 'oci-crun', bb, '--exec=/bin/nonexistent'),
      /^run: app "busybox": exec "\/bin\/nonexistent" is not an executable file in the app's image$/m,
    );
    await refused(
      rkt('prepare', 'oci-crun', bb, '--name=web', '--exec=/etc/passwd'),
      /^prepare: app "web": exec "\/etc\/passwd"/m,
    );
    // A path a volume provides is left to the volume.
    const r = await rkt(
      'run',
      'oci-crun',
      `--volume=bin,kind=host,source=${join(work, 'layout-busybox', 'rootfs', 'bin')},readOnly=true`,
      '--mount=volume=bin,target=/opt/bin',
      bb,
      '--exec=/opt/bin/true',
    );
    assert.equal(r.code, 0, r.stderr);
  });

  it('says nothing untrue about --memory and --cpu, whose limits are enforced', async () => {
    const r = await rkt('run', 'oci-crun', bb, '--memory=64M', '--cpu=500m', ...sh('true'));
    assert.equal(r.code, 0, r.stderr);
    assert.doesNotMatch(r.stderr, /not enforced|request/);
  });
});
