/**
 * The pod tests' image: busybox-static with the applets a test names, built into an ACI by
 * bin/actool. One builder for every suite that runs pods (run, fly, net, systemd/logs, api).
 */
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { copyFileSync, existsSync, mkdirSync, symlinkSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { which } from '../../src/stage1/oci/runtime.js';
import { projectRoot } from '../helpers.js';

/** The host's static busybox, or undefined (suites skip without it). */
export const busybox: string | undefined = ['/bin/busybox', '/usr/bin/busybox'].find((p) => existsSync(p));

/** Why pods of busybox ACIs cannot run here (root, busybox-static and flock are needed), or false. */
export const podTestsMissing: string | false =
  process.getuid?.() !== 0
    ? 'needs root'
    : busybox === undefined
      ? 'needs busybox-static'
      : which('flock') === undefined
        ? 'needs flock (util-linux)'
        : false;

const actoolBin = join(projectRoot, 'bin', 'actool');

export interface BusyboxAci {
  /** Applets linked in /bin. */
  applets: readonly string[];
  /** Directories made in the rootfs besides bin and etc. */
  dirs?: readonly string[];
  /** More files: path in the rootfs → content (etc/passwd and etc/group default to root only). */
  files?: Record<string, string>;
  /** The manifest's app, over `{ user: '0', group: '0' }`. */
  app?: object;
  /** Labels before os and arch (default: version 1.0). */
  labels?: Record<string, string>;
  annotations?: { name: string; value: string }[];
}

/** Builds `<work>/<name>.aci` (image name `example.com/<name>`) and returns its path. */
export function buildBusyboxAci(work: string, name: string, spec: BusyboxAci): string {
  const layout = join(work, `layout-${name}`);
  const rootfs = join(layout, 'rootfs');
  for (const d of ['bin', 'etc', ...(spec.dirs ?? [])]) mkdirSync(join(rootfs, d), { recursive: true });
  copyFileSync(busybox as string, join(rootfs, 'bin/busybox'));
  for (const a of spec.applets) symlinkSync('busybox', join(rootfs, 'bin', a));
  const files = {
    'etc/passwd': 'root:x:0:0:root:/:/bin/sh\n',
    'etc/group': 'root:x:0:\n',
    ...spec.files,
  };
  for (const [path, content] of Object.entries(files)) {
    mkdirSync(dirname(join(rootfs, path)), { recursive: true });
    writeFileSync(join(rootfs, path), content);
  }
  const arch = process.arch === 'x64' ? 'amd64' : process.arch;
  writeFileSync(
    join(layout, 'manifest'),
    JSON.stringify({
      acKind: 'ImageManifest',
      acVersion: '0.8.11',
      name: `example.com/${name}`,
      labels: [
        ...Object.entries(spec.labels ?? { version: '1.0' }).map(([n, value]) => ({ name: n, value })),
        { name: 'os', value: 'linux' },
        { name: 'arch', value: arch },
      ],
      ...(spec.annotations !== undefined && spec.annotations.length > 0
        ? { annotations: spec.annotations }
        : {}),
      app: { user: '0', group: '0', ...spec.app },
    }),
  );
  const aci = join(work, `${name}.aci`);
  const r = spawnSync(actoolBin, ['build', layout, aci], { encoding: 'utf8' });
  assert.equal(r.status, 0, r.stderr);
  return aci;
}
