/**
 * `rkt export` as root: an exited pod's app as an ACI (overlay upper dir over the image's tree, with
 * deletions and replaced directories applied; or the `--no-overlay` copy), checked by our actool
 * and the reference actool, with nothing left mounted or in `<dir>/tmp`.
 */
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { existsSync, readFileSync, readdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { which } from '../../../src/stage1/oci/runtime.js';
import {
  canCheck,
  noReferenceActool,
  OCI_RUNTIMES,
  ourActool,
  referenceActool,
  skipUnlessCI,
} from '../../helpers.js';
import { Rkt, buildAci, podTestSkip, waitFor } from '../fly/fixture.js';

const skip = podTestSkip('tar');

const sh = (script: string): string[] => ['--exec', '/bin/sh', '--', '-c', script];
const CHANGES =
  'echo new >/etc/new; rm /etc/motd; rm -rf /var/old; mkdir /var/old; echo fresh >/var/old/fresh; ' +
  'mkdir -p /root; echo "$AC_APP_NAME" >/root/who';

function entries(aci: string): string[] {
  const r = spawnSync('tar', ['-tzf', aci], { encoding: 'utf8' });
  assert.equal(r.status, 0, r.stderr);
  return r.stdout.trim().split('\n');
}

function fileIn(aci: string, name: string): string {
  const r = spawnSync('tar', ['-xzOf', aci, name], { encoding: 'utf8' });
  assert.equal(r.status, 0, r.stderr);
  return r.stdout;
}

function validate(aci: string): void {
  const ours = spawnSync(ourActool, ['validate', aci], { encoding: 'utf8' });
  assert.equal(ours.status, 0, ours.stderr);
  if (!canCheck(noReferenceActool)) return;
  const ref = spawnSync(referenceActool, ['validate', aci], { encoding: 'utf8' });
  assert.equal(ref.status, 0, ref.stderr + ref.stdout);
}

/** The app's changes are in the ACI, and what it deleted is not. */
function assertChanged(aci: string, app: string): void {
  validate(aci);
  const names = entries(aci);
  assert.ok(names.includes('manifest'));
  assert.ok(names.includes('rootfs/bin/busybox'));
  assert.equal(fileIn(aci, 'rootfs/etc/new'), 'new\n');
  assert.equal(fileIn(aci, 'rootfs/var/old/fresh'), 'fresh\n');
  assert.equal(fileIn(aci, 'rootfs/root/who'), `${app}\n`);
  assert.ok(!names.includes('rootfs/etc/motd'), 'a deleted file is exported');
  assert.ok(!names.includes('rootfs/var/old/keep'), 'the replaced directory kept its old content');
  const manifest = JSON.parse(fileIn(aci, 'manifest')) as { name: string };
  assert.equal(manifest.name, `example.com/${app}`);
}

describe('rkt export', { skip: skipUnlessCI(skip, 'rkt export integration tests') }, () => {
  let rkt: Rkt;
  let img: string;
  let other: string;

  before(() => {
    rkt = new Rkt('rocket-export-');
    img = buildAci(rkt.work, 'img', { exec: ['/bin/sh', '-c', 'exit 0'] });
    other = buildAci(rkt.work, 'other', { exec: ['/bin/sh', '-c', 'exit 0'] });
  });

  after(() => rkt.cleanup());

  const noLeftovers = (): void => {
    assert.deepEqual(rkt.hostMounts(), []);
    const tmp = join(rkt.data, 'tmp');
    assert.deepEqual(existsSync(tmp) ? readdirSync(tmp) : [], []);
  };

  it('exports an overlay pod of the fly engine: new files, deletions, replaced directories', async () => {
    const r = await rkt.runPod(['--engine=fly', img, ...sh(CHANGES)]);
    assert.equal(r.code, 0, r.stderr);
    const out = join(rkt.work, 'fly.aci');
    const e = await rkt.run('export', r.uuid, out);
    assert.equal(e.code, 0, e.stderr);
    assertChanged(out, 'img');
    noLeftovers();

    const again = await rkt.run('export', r.uuid, out);
    assert.equal(again.code, 254);
    assert.match(again.stderr, /target file exists \(try --overwrite\)/);
    writeFileSync(out, 'stale');
    const over = await rkt.run('export', '--overwrite', r.uuid, out);
    assert.equal(over.code, 0, over.stderr);
    assertChanged(out, 'img');
    const ext = await rkt.run('export', r.uuid, join(rkt.work, 'fly.tar'));
    assert.equal(ext.code, 254);
    assert.match(ext.stderr, /extension must be \.aci/);
    noLeftovers();
  });

  for (const runtime of OCI_RUNTIMES) {
    it(
      `chooses the app of a multi-app oci pod with --app (${runtime})`,
      { skip: skipUnlessCI(which(runtime) === undefined ? `needs ${runtime}` : false) },
      async () => {
        const r = await rkt.runPod([
          `--stage1-name=oci-${runtime}`,
          '--net=none',
          img,
          ...sh('exit 0'),
          '---',
          other,
          ...sh(CHANGES),
        ]);
        assert.equal(r.code, 0, r.stderr);
        const out = join(rkt.work, `exported-other-${runtime}.aci`);
        const ambiguous = await rkt.run('export', r.uuid, out);
        assert.equal(ambiguous.code, 254);
        assert.match(ambiguous.stderr, /multiple apps \(img, other\)/);
        const missing = await rkt.run('export', '--app=nope', r.uuid, out);
        assert.equal(missing.code, 254);
        const e = await rkt.run('export', '--app=other', r.uuid, out);
        assert.equal(e.code, 0, e.stderr);
        assertChanged(out, 'other');
        noLeftovers();
      },
    );
  }

  it('exports the copy of a pod prepared with --no-overlay (remembered by run-prepared)', async () => {
    const p = await rkt.run('--insecure-options=image', 'prepare', '--no-overlay', img, ...sh(CHANGES));
    assert.equal(p.code, 0, p.stderr);
    const uuid = p.stdout.trim();
    rkt.remember(uuid);
    const r = await rkt.run('run-prepared', '--engine=fly', uuid);
    assert.equal(r.code, 0, r.stderr);
    const dir = join(rkt.data, 'pods', 'run', uuid);
    assert.ok(!existsSync(join(dir, 'overlay')), 'run-prepared used an overlay');
    assert.equal(readFileSync(join(dir, 'apps', 'img', 'rootfs', 'etc', 'new'), 'utf8'), 'new\n');
    const out = join(rkt.work, 'copy.aci');
    const e = await rkt.run('export', uuid, out);
    assert.equal(e.code, 0, e.stderr);
    assertChanged(out, 'img');
    noLeftovers();
  });

  it('refuses a running pod', async () => {
    const { pod, uuid } = await rkt.startPod(['--engine=fly', img, ...sh('echo started; exec sleep 30')]);
    await waitFor('the app', () => pod.stdout().includes('started'));
    const e = await rkt.run('export', uuid, join(rkt.work, 'running.aci'));
    assert.equal(e.code, 254);
    assert.match(e.stderr, /pod is not exited/);
    assert.equal((await rkt.run('stop', '--force', uuid)).code, 0);
    await pod.done;
    assert.ok(!existsSync(join(rkt.work, 'running.aci')));
  });
});
