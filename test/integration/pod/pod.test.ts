/**
 * `rkt prepare`, `list`, `status`, `cat-manifest`, `rm`, `gc` and `image gc` end to end: bin/rkt
 * as a child process against a temp data dir, with an ACI built here by bin/actool from a busybox
 * layout.
 */
import assert from 'node:assert/strict';
import {
  copyFileSync,
  existsSync,
  mkdirSync,
  readdirSync,
  readFileSync,
  rmSync,
  symlinkSync,
  writeFileSync,
} from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { projectRoot, run, type RunResult, skipUnlessCI, tempDir } from '../../helpers.js';

const rktBin = join(projectRoot, 'bin', 'rkt');
const actoolBin = join(projectRoot, 'bin', 'actool');
const BUSYBOX = ['/bin/busybox', '/usr/bin/busybox'].find((p) => existsSync(p));
const UUID_RE = /^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/;

describe(
  'rkt pod lifecycle (no engine)',
  { skip: skipUnlessCI(BUSYBOX === undefined ? 'busybox-static not installed' : false) },
  () => {
    let tmp: { path: string; cleanup: () => Promise<void> };
    let dataDir: string;
    let aci: string;
    const rkt = (...args: string[]): Promise<RunResult> => run(rktBin, ['--dir', dataDir, ...args]);
    const prepare = async (...args: string[]): Promise<string> => {
      const r = await rkt('prepare', '--insecure-options=image', ...args);
      assert.equal(r.code, 0, r.stderr);
      const uuid = r.stdout.trim();
      assert.match(uuid, UUID_RE);
      return uuid;
    };

    before(async () => {
      tmp = await tempDir('rocket-pod-it-');
      dataDir = join(tmp.path, 'data');
      const layout = join(tmp.path, 'layout');
      mkdirSync(join(layout, 'rootfs', 'bin'), { recursive: true });
      copyFileSync(BUSYBOX as string, join(layout, 'rootfs', 'bin', 'busybox'));
      symlinkSync('busybox', join(layout, 'rootfs', 'bin', 'sh'));
      writeFileSync(
        join(layout, 'manifest'),
        JSON.stringify({
          acKind: 'ImageManifest',
          acVersion: '0.8.11',
          name: 'example.com/busybox',
          labels: [
            { name: 'version', value: '1.0' },
            { name: 'os', value: 'linux' },
            { name: 'arch', value: 'amd64' },
          ],
          app: {
            exec: ['/bin/sh', '-c', 'true'],
            user: '0',
            group: '0',
            mountPoints: [{ name: 'data', path: '/data' }],
          },
        }),
      );
      aci = join(tmp.path, 'busybox.aci');
      const b = await run(actoolBin, ['build', layout, aci]);
      assert.equal(b.code, 0, b.stderr);
    });
    after(() => tmp.cleanup());

    it('prepare writes rkt layout, list/status/cat-manifest show it, rm removes it', async () => {
      const saved = join(tmp.path, 'uuid');
      const r = await rkt(
        'prepare',
        '--insecure-options=image',
        `--uuid-file-save=${saved}`,
        '--volume=data,kind=empty,mode=0700',
        aci,
        '--name=first',
        '--environment=X=1',
        '--',
        '-c',
        'echo hi',
        '---',
        aci,
        '--name=second',
        '--exec=/bin/busybox',
      );
      assert.equal(r.code, 0, r.stderr);
      const uuid = r.stdout.trim();
      assert.match(uuid, UUID_RE);
      assert.equal(readFileSync(saved, 'utf8'), uuid);
      const dir = join(dataDir, 'pods', 'prepared', uuid);
      for (const f of [
        'pod',
        'pod-created',
        'list-summary.json',
        'appsinfo/first/manifest',
        'appsinfo/first/treeStoreID',
        'appsinfo/second/treeStoreID',
        'sharedVolumes/data',
      ])
        assert.ok(existsSync(join(dir, f)), f);
      const tree = readFileSync(join(dir, 'appsinfo/first/treeStoreID'), 'utf8');
      assert.ok(existsSync(join(dataDir, 'cas', 'tree', tree, 'rootfs', 'bin', 'busybox')));

      const list = await rkt('list', '--no-legend');
      assert.equal(list.code, 0, list.stderr);
      const lines = list.stdout.trimEnd().split('\n');
      assert.equal(lines.length, 2);
      assert.deepEqual(lines[0]?.split(/\t+/).slice(0, 4), [
        uuid.slice(0, 8),
        'first',
        'example.com/busybox:1.0',
        'prepared',
      ]);
      assert.deepEqual(
        lines[1]?.split(/\t+/).filter((c) => c !== ''),
        ['second', 'example.com/busybox:1.0'],
      );
      const legend = await rkt('list');
      assert.match(
        legend.stdout.split('\n')[0] ?? '',
        /^UUID\s+APP\s+IMAGE NAME\s+STATE\s+CREATED\s+STARTED\s+NETWORKS$/,
      );
      const full = await rkt('list', '--full');
      assert.match(
        full.stdout,
        new RegExp(`^${uuid}\\s+first\\s+example.com/busybox:1.0\\s+sha512-[0-9a-f]{12}\\s+prepared`, 'm'),
      );

      const json = await rkt('list', '--format=json');
      const pods = JSON.parse(json.stdout) as {
        name: string;
        state: string;
        app_names: string[];
        apps: { state: string; image_id: string }[];
      }[];
      assert.equal(pods[0]?.name, uuid);
      assert.equal(pods[0]?.state, 'prepared');
      assert.deepEqual(pods[0]?.app_names, ['first', 'second']);
      assert.equal(pods[0]?.apps[0]?.state, 'created');

      const status = await rkt('status', uuid.slice(0, 6));
      assert.equal(status.code, 0, status.stderr);
      assert.match(
        status.stdout,
        /^state=prepared\ncreated=\d{4}-\d\d-\d\d \d\d:\d\d:\d\d(\.\d+)? [+-]\d{4} \S+\n$/,
      );

      const cat = await rkt('cat-manifest', uuid);
      assert.equal(cat.code, 0, cat.stderr);
      assert.ok(cat.stdout.startsWith('{\n\t"acVersion"'));
      const m = JSON.parse(cat.stdout) as {
        apps: { name: string; app: { exec: string[]; environment: { name: string }[] } }[];
        volumes: { name: string; mode: string }[];
      };
      assert.deepEqual(m.apps[0]?.app.exec, ['/bin/sh', '-c', 'true', '-c', 'echo hi']);
      assert.deepEqual(m.apps[1]?.app.exec, ['/bin/busybox']);
      assert.deepEqual(
        m.volumes.map((v) => [v.name, v.mode]),
        [['data', '0700']],
      );
      const compact = await rkt('cat-manifest', '--pretty-print=false', uuid);
      assert.equal(compact.stdout.split('\n').length, 2);

      const rm = await rkt('rm', uuid.slice(0, 8));
      assert.equal(rm.code, 0, rm.stderr);
      assert.equal(rm.stdout, `"${uuid}"\n`);
      assert.ok(!existsSync(dir));
      assert.deepEqual(readdirSync(join(dataDir, 'pods', 'garbage')), []);
    });

    it('--uuid-file names the pod for status, cat-manifest and rm (as a systemd unit uses them)', async () => {
      const saved = join(tmp.path, 'uuid-file');
      const uuid = await prepare(`--uuid-file-save=${saved}`, aci);
      const status = await rkt('status', `--uuid-file=${saved}`);
      assert.equal(status.code, 0, status.stderr);
      assert.match(status.stdout, /^state=prepared\n/);
      const json = await rkt('status', '--format=json', `--uuid-file=${saved}`);
      assert.equal((JSON.parse(json.stdout) as { name: string }).name, uuid);
      const cat = await rkt('cat-manifest', '--pretty-print=false', `--uuid-file=${saved}`);
      assert.equal(cat.code, 0, cat.stderr);
      assert.equal((JSON.parse(cat.stdout) as { acKind: string }).acKind, 'PodManifest');
      // A file written by hand (with a newline) is read as rkt reads it, trimmed.
      const byHand = join(tmp.path, 'uuid-by-hand');
      writeFileSync(byHand, `${uuid}\n`);
      assert.match((await rkt('status', `--uuid-file=${byHand}`)).stdout, /^state=prepared\n/);
      // A file and a UUID together: refused, nothing removed.
      for (const verb of ['status', 'cat-manifest', 'rm']) {
        const both = await rkt(verb, `--uuid-file=${saved}`, uuid);
        assert.equal(both.code, 254, `${verb}: ${both.stderr}`);
        assert.match(both.stderr, new RegExp(`^${verb}: cannot use both --uuid-file and `));
      }
      const rm = await rkt('rm', `--uuid-file=${saved}`);
      assert.equal(rm.code, 0, rm.stderr);
      assert.equal(rm.stdout, `"${uuid}"\n`);
      assert.equal(rm.stderr, `rm: moving expired prepared pod "${uuid}" to garbage\n`);
      assert.ok(!existsSync(join(dataDir, 'pods', 'prepared', uuid)));
      // The pod is gone: the same file now names nothing (what `ExecStartPre=-rkt rm` meets).
      const again = await rkt('rm', `--uuid-file=${saved}`);
      assert.equal(again.code, 254);
      assert.equal(
        again.stderr,
        `rm: no matches found for "${uuid}"\nrm: failed to remove one or more pods\n`,
      );
    });

    it('list: a pod whose manifest cannot be read shows `-`, the error after the table, exit 0', async () => {
      const uuid = '0badc0de-0000-4000-8000-00000000000b';
      const dir = join(dataDir, 'pods', 'prepared', uuid);
      mkdirSync(dir, { recursive: true });
      writeFileSync(join(dir, 'pod'), '{not json');
      try {
        const r = await rkt('list', '--no-legend');
        assert.equal(r.code, 0, r.stderr);
        assert.deepEqual(r.stdout.trimEnd().split(/\t+/), [uuid.slice(0, 8), '-', '-', 'prepared']);
        assert.match(r.stderr, new RegExp(`^list: warning: .*\\n(.*\\n)*.*${uuid}.*manifest`));
        const json = await rkt('list', '--format=json');
        assert.equal(json.code, 0, json.stderr);
        assert.deepEqual(JSON.parse(json.stdout), [{ name: uuid, state: 'prepared' }]);
      } finally {
        rmSync(dir, { recursive: true, force: true });
      }
    });

    it('status --wait waits for a prepared pod to run and exit: a pod left prepared times out', async () => {
      const uuid = await prepare(aci);
      const r = await rkt('status', '--wait=200ms', uuid);
      assert.equal(r.code, 254);
      assert.equal(r.stdout, '');
      assert.equal(r.stderr, 'status: error waiting for pod to finish: context deadline exceeded\n');
      assert.equal((await rkt('rm', uuid)).code, 0);
    });

    it('errors: unknown uuid, ambiguous prefix, bad flags exit 254', async () => {
      const s = await rkt('status', 'ffffffff');
      assert.equal(s.code, 254);
      assert.match(s.stderr, /no matches found for "ffffffff"/);
      const a = await prepare('--quiet', aci);
      const b = await prepare('--quiet', aci);
      let common = 0;
      while (a[common] === b[common]) common++;
      if (common > 0) {
        const amb = await rkt('status', a.slice(0, common));
        assert.equal(amb.code, 254);
        assert.match(amb.stderr, /ambiguous uuid, 2 matches/);
      }
      const bad = await rkt('prepare', '--insecure-options=image', '--exec=/x', aci);
      assert.equal(bad.code, 254);
      assert.match(bad.stderr, /--exec must follow an image/);
      const rm = await rkt('rm', a, 'deadbeef');
      assert.equal(rm.code, 254);
      assert.match(rm.stderr, /failed to remove one or more pods/);
      assert.equal(rm.stdout, `"${a}"\n`);
      assert.equal((await rkt('rm', b)).code, 0);
    });

    it('gc removes an aborted prepare and, with --expire-prepared=0s, prepared pods', async () => {
      // An aborted prepare: a pod dir left unlocked in prepare/ (what a killed `rkt prepare` leaves).
      const aborted = '0badc0de-0000-4000-8000-000000000000';
      mkdirSync(join(dataDir, 'pods', 'prepare', aborted), { recursive: true });
      const kept = await prepare(aci);
      const gc1 = await rkt('gc', '--mark-only');
      assert.equal(gc1.code, 0, gc1.stderr);
      assert.match(gc1.stderr, new RegExp(`moving failed prepare "${aborted}" to garbage`));
      assert.ok(existsSync(join(dataDir, 'pods', 'garbage', aborted)));
      const gc2 = await rkt('gc');
      assert.equal(gc2.code, 0, gc2.stderr);
      assert.match(gc2.stdout, new RegExp(`Garbage collecting pod "${aborted}"`));
      assert.ok(!existsSync(join(dataDir, 'pods', 'garbage', aborted)));
      assert.ok(existsSync(join(dataDir, 'pods', 'prepared', kept)), 'not expired after 24h default');
      const gc3 = await rkt('gc', '--expire-prepared=0s');
      assert.match(gc3.stderr, new RegExp(`moving expired prepared pod "${kept}" to garbage`));
      assert.match(gc3.stdout, new RegExp(`Garbage collecting pod "${kept}"`));
      assert.deepEqual((await rkt('list', '--no-legend')).stdout, '');
    });

    it('image gc keeps the image and tree of a prepared pod', async () => {
      const uuid = await prepare(aci);
      const tree = readFileSync(
        join(dataDir, 'pods', 'prepared', uuid, 'appsinfo', 'busybox', 'treeStoreID'),
        'utf8',
      );
      const gc = await rkt('image', 'gc', '--grace-period=0s');
      assert.equal(gc.code, 0, gc.stderr);
      assert.ok(existsSync(join(dataDir, 'cas', 'tree', tree)));
      const images = await rkt('image', 'list', '--no-legend');
      assert.match(images.stdout, /example\.com\/busybox:1\.0/);
      assert.equal((await rkt('rm', uuid)).code, 0);
      const gc2 = await rkt('image', 'gc', '--grace-period=0s');
      assert.equal(gc2.code, 0, gc2.stderr);
      assert.ok(!existsSync(join(dataDir, 'cas', 'tree', tree)));
      assert.equal((await rkt('image', 'list', '--no-legend')).stdout.trim(), '');
    });
  },
);
