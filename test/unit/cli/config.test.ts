import { strict as assert } from 'node:assert';
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { projectRoot, run } from '../../helpers.js';

const rkt = join(projectRoot, 'bin', 'rkt');

describe('rkt config', () => {
  let dir: string;
  let system: string;
  let local: string;
  const write = async (d: string, kind: string, file: string, doc: object): Promise<void> => {
    await mkdir(join(d, kind), { recursive: true });
    await writeFile(join(d, kind, file), JSON.stringify(doc));
  };
  before(async () => {
    dir = await mkdtemp(join(tmpdir(), 'rocket-config-'));
    system = join(dir, 'system');
    local = join(dir, 'local');
    await write(system, 'auth.d', 'basic.json', {
      rktKind: 'auth',
      rktVersion: 'v1',
      domains: ['foo.com', 'bar.com'],
      type: 'basic',
      credentials: { user: 'sysUser', password: 'sysPassword' },
    });
    await write(local, 'auth.d', 'foo.json', {
      rktKind: 'auth',
      rktVersion: 'v1',
      domains: ['foo.com'],
      type: 'oauth',
      credentials: { token: 'localToken' },
    });
    await write(local, 'auth.d', 'docker.json', {
      rktKind: 'dockerAuth',
      rktVersion: 'v1',
      registries: ['registry.example', 'quay.io'],
      credentials: { user: 'du', password: 'dp' },
    });
    await write(system, 'paths.d', 'paths.json', {
      rktKind: 'paths',
      rktVersion: 'v1',
      'stage1-images': '/opt/stage1',
    });
    await write(local, 'stage1.d', 'stage1.json', {
      rktKind: 'stage1',
      rktVersion: 'v1',
      name: 'example.com/stage1',
      version: '1.0',
      location: '/opt/stage1/s.aci',
    });
    // Not a config file: ignored.
    await writeFile(join(local, 'auth.d', 'README'), 'notes');
  });
  after(async () => {
    await rm(dir, { recursive: true, force: true });
  });

  it('prints the merged config of the system and local dirs, secrets as configured', async () => {
    const r = await run(rkt, [
      `--system-config=${system}`,
      `--local-config=${local}`,
      '--dir=/srv/rkt',
      'config',
    ]);
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stdout, /^\{\n\t"stage0": \[\n/);
    assert.deepEqual(JSON.parse(r.stdout), {
      stage0: [
        {
          rktVersion: 'v1',
          rktKind: 'auth',
          domains: ['bar.com'],
          type: 'basic',
          credentials: { user: 'sysUser', password: 'sysPassword' },
        },
        {
          rktVersion: 'v1',
          rktKind: 'auth',
          domains: ['foo.com'],
          type: 'oauth',
          credentials: { token: 'localToken' },
        },
        {
          rktVersion: 'v1',
          rktKind: 'dockerAuth',
          registries: ['quay.io'],
          credentials: { user: 'du', password: 'dp' },
        },
        {
          rktVersion: 'v1',
          rktKind: 'dockerAuth',
          registries: ['registry.example'],
          credentials: { user: 'du', password: 'dp' },
        },
        { rktVersion: 'v1', rktKind: 'paths', data: '/srv/rkt', 'stage1-images': '/opt/stage1' },
        {
          rktVersion: 'v1',
          rktKind: 'stage1',
          name: 'example.com/stage1',
          version: '1.0',
          location: '/opt/stage1/s.aci',
        },
      ],
    });
  });

  it('--pretty-print=false prints one line', async () => {
    const r = await run(rkt, [
      `--system-config=${system}`,
      `--local-config=${local}`,
      'config',
      '--pretty-print=false',
    ]);
    assert.equal(r.code, 0, r.stderr);
    assert.equal(r.stdout.trimEnd().split('\n').length, 1);
  });

  it('a bad config file is one line naming it, exit 254', async () => {
    const bad = join(dir, 'bad');
    await write(bad, 'stage1.d', 's.json', { rktKind: 'stage1', rktVersion: 'v1', name: 'x' });
    const r = await run(rkt, [`--system-config=${system}`, `--local-config=${bad}`, 'config']);
    assert.equal(r.code, 254);
    assert.equal(r.stdout, '');
    assert.equal(r.stderr.split('\n').length, 2, r.stderr);
    assert.match(r.stderr, /stage1\.d\/s\.json.*name and version must be specified together/);
  });
});
