/**
 * Our actool against the reference Go actool (Debian's golang-github-appc-spec-dev): each must accept
 * the ACIs the other builds, on several layouts, and they must agree on a corpus of manifests except
 * where README documents that we follow the spec instead.
 */
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { copyFile, link, mkdir, symlink, writeFile, chmod } from 'node:fs/promises';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import {
  noReferenceActool,
  notRoot,
  ourActool,
  referenceActool,
  run,
  skipUnlessCI,
  tempDir,
} from '../helpers.js';

const baseManifest = {
  acKind: 'ImageManifest',
  acVersion: '0.8.11',
  name: 'example.com/cross',
  labels: [
    { name: 'version', value: '1.0.0' },
    { name: 'os', value: 'linux' },
    { name: 'arch', value: 'amd64' },
  ],
};

const fullApp = {
  exec: ['/bin/sh', '-c', 'echo hi'],
  user: '0',
  group: '0',
  supplementaryGIDs: [10, 20],
  eventHandlers: [{ name: 'pre-start', exec: ['/bin/true'] }],
  workingDirectory: '/tmp',
  environment: [{ name: 'FOO', value: 'bar' }],
  isolators: [
    { name: 'resource/memory', value: { limit: '128Mi' } },
    { name: 'resource/cpu', value: { request: '250m', limit: '1' } },
    { name: 'os/linux/capabilities-retain-set', value: { set: ['CAP_NET_BIND_SERVICE'] } },
    { name: 'os/linux/no-new-privileges', value: true },
  ],
  mountPoints: [{ name: 'data', path: '/data', readOnly: false }],
  ports: [{ name: 'www', protocol: 'tcp', port: 8080 }],
};

type LayoutMaker = (dir: string) => Promise<void>;

async function busyboxRootfs(rootfs: string): Promise<void> {
  await mkdir(join(rootfs, 'bin'), { recursive: true });
  await copyFile('/bin/busybox', join(rootfs, 'bin', 'busybox'));
  for (const applet of ['sh', 'true', 'ls']) await symlink('busybox', join(rootfs, 'bin', applet));
}

const layouts: Record<string, { manifest: object; make: LayoutMaker; root?: true }> = {
  'minimal, empty rootfs': { manifest: baseManifest, make: async () => {} },
  'busybox with a full app': {
    manifest: { ...baseManifest, app: fullApp, annotations: [{ name: 'authors', value: 'x' }] },
    make: busyboxRootfs,
  },
  'links, modes, long and UTF-8 names': {
    manifest: { ...baseManifest, pathWhitelist: ['/a', '/b', '/lnk'] },
    make: async (rootfs) => {
      await mkdir(join(rootfs, 'deep', 'er', 'est'), { recursive: true });
      await writeFile(join(rootfs, 'a'), 'hello\n');
      await link(join(rootfs, 'a'), join(rootfs, 'b'));
      await symlink('/etc/passwd', join(rootfs, 'lnk'));
      await symlink('../a', join(rootfs, 'deep', 'rel'));
      await writeFile(join(rootfs, 'suid'), '#!/bin/sh\n');
      await chmod(join(rootfs, 'suid'), 0o4755);
      await mkdir(join(rootfs, 'sticky'));
      await chmod(join(rootfs, 'sticky'), 0o1777);
      await writeFile(join(rootfs, 'deep', 'er', 'est', 'n'.repeat(150) + '.txt'), 'long');
      await writeFile(join(rootfs, 'héllo-wörld.txt'), 'utf8');
    },
  },
  'with dependencies': {
    manifest: {
      ...baseManifest,
      dependencies: [
        { imageName: 'example.com/base', labels: [{ name: 'version', value: '1' }] },
        { imageName: 'example.com/other', imageID: 'sha512-' + 'a'.repeat(128), size: 1024 },
      ],
    },
    make: async (rootfs) => writeFile(join(rootfs, 'file'), 'x'),
  },
  'devices and a fifo (root)': {
    manifest: baseManifest,
    root: true,
    make: async (rootfs) => {
      await mkdir(join(rootfs, 'dev'));
      execFileSync('mknod', [join(rootfs, 'dev', 'null'), 'c', '1', '3']);
      execFileSync('mknod', [join(rootfs, 'dev', 'loop9'), 'b', '7', '9']);
      execFileSync('mkfifo', [join(rootfs, 'fifo')]);
      await writeFile(join(rootfs, 'owned'), 'x');
      execFileSync('chown', ['1234:5678', join(rootfs, 'owned')]);
    },
  },
};

let layoutCount = 0;
async function makeLayout(parent: string, name: string): Promise<string> {
  const spec = layouts[name];
  assert.ok(spec);
  const dir = join(parent, `${name.replace(/[^a-z0-9]+/gi, '-')}-${++layoutCount}`);
  await mkdir(join(dir, 'rootfs'), { recursive: true });
  await writeFile(join(dir, 'manifest'), JSON.stringify(spec.manifest, null, 2));
  await spec.make(join(dir, 'rootfs'));
  return dir;
}

describe('ACIs cross-validate with the reference actool', { skip: skipUnlessCI(noReferenceActool) }, () => {
  let work: Awaited<ReturnType<typeof tempDir>>;
  before(async () => {
    work = await tempDir('rocket-cross-');
  });
  after(async () => work.cleanup());

  for (const [name, spec] of Object.entries(layouts)) {
    test(name, { skip: skipUnlessCI(spec.root ? notRoot : false) }, async () => {
      const layout = await makeLayout(work.path, name);
      for (const flags of [[], ['--no-compression'], ['--owner-root']]) {
        const ours = join(work.path, `ours-${flags.join('')}-${Date.now()}.aci`);
        const built = await run(ourActool, ['build', ...flags, layout, ours]);
        assert.equal(built.code, 0, `our build ${flags.join(' ')}: ${built.stderr}`);
        const refCheck = await run(referenceActool, ['--debug', 'validate', ours]);
        assert.equal(refCheck.code, 0, `reference validate of our ACI: ${refCheck.stderr}`);
        assert.match(refCheck.stderr, /valid app container image/);
        const refCat = await run(referenceActool, ['cat-manifest', ours]);
        assert.equal(refCat.code, 0, refCat.stderr);
        const ourCat = await run(ourActool, ['cat-manifest', ours]);
        assert.equal(ourCat.code, 0, ourCat.stderr);
        assert.deepEqual(JSON.parse(refCat.stdout), JSON.parse(ourCat.stdout));
      }
      const theirs = join(work.path, `ref-${Date.now()}.aci`);
      const refBuilt = await run(referenceActool, ['build', layout, theirs]);
      assert.equal(refBuilt.code, 0, `reference build: ${refBuilt.stderr}`);
      const ourCheck = await run(ourActool, ['--debug', 'validate', theirs]);
      assert.equal(ourCheck.code, 0, `our validate of the reference's ACI: ${ourCheck.stderr}`);
      assert.match(ourCheck.stderr, /valid app container image/);
      const layoutCheck = await run(ourActool, ['validate', layout]);
      assert.equal(layoutCheck.code, 0, layoutCheck.stderr);
    });
  }

  test('our build is deterministic and its image ID is the sha512 of the tar', async () => {
    const layout = await makeLayout(work.path, 'links, modes, long and UTF-8 names');
    const a = join(work.path, 'det-a.aci');
    const b = join(work.path, 'det-b.aci');
    assert.equal((await run(ourActool, ['build', layout, a])).code, 0);
    assert.equal((await run(ourActool, ['build', layout, b])).code, 0);
    const sum = (f: string): string =>
      execFileSync('sh', ['-c', `gzip -dc "${f}" | sha512sum`])
        .toString()
        .slice(0, 128);
    assert.equal(sum(a), sum(b));
  });

  test('patch-manifest output is accepted by the reference, and the other way round', async () => {
    const layout = await makeLayout(work.path, 'busybox with a full app');
    const base = join(work.path, 'patch-base.aci');
    assert.equal((await run(ourActool, ['build', layout, base])).code, 0);
    const flags = [
      '--name=example.com/patched',
      '--exec=/bin/ls -l /',
      '--user=1000',
      '--group=100',
      '--supplementary-groups=4,5',
      '--revoke-capability=CAP_MKNOD,CAP_NET_RAW',
      '--mounts=logs,path=/var/log,readOnly=true',
      '--ports=metrics,protocol=tcp,port=9100',
      '--isolators=resource/memory,limit=64Mi:os/linux/oom-score-adj,100',
      '--seccomp-mode=retain,errno=EPERM',
      '--seccomp-set=read,write,exit',
    ];
    const ours = join(work.path, 'patched-ours.aci');
    const theirs = join(work.path, 'patched-ref.aci');
    const o = await run(ourActool, ['patch-manifest', ...flags, base, ours]);
    assert.equal(o.code, 0, o.stderr);
    const r = await run(referenceActool, ['patch-manifest', ...flags, base, theirs]);
    assert.equal(r.code, 0, r.stderr);
    assert.equal((await run(referenceActool, ['validate', ours])).code, 0);
    const ourCheck = await run(ourActool, ['validate', theirs]);
    assert.equal(ourCheck.code, 0, ourCheck.stderr);
    // Compared after normalisation: the reference writes `count: 0` for ports given as strings,
    // which it reads back as 1; we write 1.
    const normalised = async (file: string): Promise<unknown> =>
      JSON.parse((await run(ourActool, ['cat-manifest', '--pretty-print', file])).stdout);
    const ourManifest = await normalised(ours);
    const refManifest = await normalised(theirs);
    assert.deepEqual(ourManifest, refManifest);
  });
});

/** [what, manifest patch, reference accepts, we accept]: the two disagree only where README says so. */
const verdicts: [string, object, boolean, boolean][] = [
  ['the base manifest', {}, true, true],
  ['a full app', { app: fullApp }, true, true],
  ['upper-case name', { name: 'Example.com/x' }, false, false],
  ['label called name', { labels: [{ name: 'name', value: 'x' }] }, false, false],
  ['os=windows', { labels: [{ name: 'os', value: 'windows' }] }, false, false],
  ['acVersion 0.0.0', { acVersion: '0.0.0' }, false, false],
  [
    'memory 1K',
    { app: { ...fullApp, isolators: [{ name: 'resource/memory', value: { limit: '1K' } }] } },
    false,
    false,
  ],
  ['relative workingDirectory', { app: { ...fullApp, workingDirectory: 'tmp' } }, false, false],
  ['dependency sha256 ID', { dependencies: [{ imageName: 'a.com/b', imageID: 'sha256-ab' }] }, false, false],
  [
    'dependency imageID of 128 non-hex characters',
    { dependencies: [{ imageName: 'a.com/b', imageID: 'sha512-' + 'g'.repeat(128) }] },
    true,
    false,
  ],
  ['separator run a--b (spec regex)', { name: 'example.com/a--b' }, true, false],
  [
    'unknown app isolator (kept, warned)',
    { app: { ...fullApp, isolators: [{ name: 'example.com/x', value: 1 }] } },
    false,
    true,
  ],
  [
    'port without protocol (spec requires it)',
    { app: { ...fullApp, ports: [{ name: 'p', port: 1 }] } },
    true,
    false,
  ],
];

describe(
  'manifest verdicts agree with the reference actool',
  { skip: skipUnlessCI(noReferenceActool) },
  () => {
    let work: Awaited<ReturnType<typeof tempDir>>;
    before(async () => {
      work = await tempDir('rocket-verdicts-');
    });
    after(async () => work.cleanup());
    for (const [what, patch, refAccepts, weAccept] of verdicts) {
      test(what, async () => {
        const file = join(work.path, `${what.replace(/[^a-z0-9]+/gi, '-')}.json`);
        await writeFile(file, JSON.stringify({ ...baseManifest, ...patch }));
        const ref = await run(referenceActool, ['validate', '--type=manifest', file]);
        const ours = await run(ourActool, ['validate', '--type=manifest', file]);
        assert.equal(ref.code === 0, refAccepts, `reference: ${ref.stderr}`);
        assert.equal(ours.code === 0, weAccept, `ours: ${ours.stderr}`);
        if (!weAccept)
          assert.match(
            ours.stderr,
            new RegExp(`^${file.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}: invalid ImageManifest: \\S`),
          );
      });
    }
  },
);
