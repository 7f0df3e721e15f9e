/**
 * `rkt export`: an exited pod's app back into an ACI, with the app's image manifest. The app's tree
 * is its overlay (the image's tree under the pod's upper dir, whiteouts and opaque directories
 * applied by overlayfs itself) or, for a `--no-overlay` pod, its copy. Node cannot mount, so a
 * helper process (`unshare --mount`) mounts that tree read-only in a private mount namespace, on
 * `rootfs` of a temp layout dir under `<dir>/tmp`, and waits; the ACI is built in-process through
 * `/proc/<helper>/root`, which is the helper's view. Closing the helper's stdin ends it, and its
 * namespace and mount with it, even if rkt is killed: nothing is ever mounted on the host. The
 * ACI is written to a temp file and renamed into place.
 */
import type { ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import { copyFileSync, existsSync, mkdirSync, mkdtempSync, rmSync } from 'node:fs';
import path from 'node:path';
import { buildAci } from '../aci/index.js';
import { refuseExisting, requireAciExtension } from '../aci/output.js';
import { RocketError, errorMessage } from '../errors.js';
import { host } from '../host/index.js';
import { appTreeStoreId, getSettledPod, type PodInfo } from './pod.js';
import { POD_FILES } from './state.js';

export interface ExportOptions {
  /** `--app`: which app (required in a pod of several apps). */
  app?: string;
  overwrite: boolean;
}

const fail = (message: string): never => {
  throw new RocketError(message, 'failed-precondition');
};

function chooseApp(pod: PodInfo, wanted: string | undefined): string {
  const names = (pod.manifest?.apps ?? []).map((a) => a.name);
  if (pod.manifest === undefined) fail(`pod ${pod.uuid}: cannot read its manifest`);
  if (wanted !== undefined) {
    if (!names.includes(wanted)) fail(`app ${wanted} is not present in pod`);
    return wanted;
  }
  if (names.length === 1) return names[0] as string;
  if (names.length === 0) fail('pod contains zero apps');
  return fail(`pod contains multiple apps (${names.join(', ')}): specify one with --app`);
}

/** The mount that makes the app's tree appear at `target`, as an sh command line (`$1` = target). */
function mountCommand(pod: PodInfo, dataDir: string, app: string): string {
  const q = (s: string): string => `'${s.replace(/'/g, `'\\''`)}'`;
  const upper = path.join(pod.path, 'overlay', app, 'upper');
  if (existsSync(upper)) {
    const tree = appTreeStoreId(pod.path, app) ?? fail(`pod ${pod.uuid}: app ${app} has no tree store ID`);
    const lower = path.join(dataDir, 'cas', 'tree', tree, 'rootfs');
    if (!existsSync(lower)) fail(`pod ${pod.uuid}: the tree of app ${app} is gone from the store (${lower})`);
    // The upper dir as the top lower layer: read-only, no work dir, whiteouts still applied.
    return `mount -t overlay overlay -o ${q(`ro,lowerdir=${upper}:${lower}`)} "$1"`;
  }
  const copy = path.join(pod.path, 'apps', app, 'rootfs');
  if (!existsSync(copy)) fail(`pod ${pod.uuid}: app ${app} has no rootfs (${copy})`);
  return `mount --bind ${q(copy)} "$1" && mount -o remount,bind,ro "$1"`;
}

/** Starts the helper and resolves with it once the tree is mounted at `target` in its namespace. */
async function startMountHelper(mount: string, target: string): Promise<ChildProcess> {
  const child = host().unshare.start([
    '--mount',
    '--propagation',
    'private',
    '--',
    '/bin/sh',
    '-c',
    `${mount} && echo ready && read x`,
    'rkt-export',
    target,
  ]);
  let out = '';
  let err = '';
  child.stdout.setEncoding('utf8').on('data', (d: string) => (out += d));
  child.stderr.setEncoding('utf8').on('data', (d: string) => (err += d));
  const ready = new Promise<void>((resolve, reject) => {
    child.stdout.on('data', () => {
      if (out.includes('ready\n')) resolve();
    });
    child.on('error', reject);
    child.on('exit', () => reject(new Error(err.trim() || 'the mount helper ended')));
  });
  try {
    await ready;
  } catch (e) {
    child.stdin.end();
    fail(`cannot mount the app's tree: ${errorMessage(e)}`);
  }
  return child;
}

export async function exportPod(
  dataDir: string,
  uuid: string,
  outPath: string,
  opts: ExportOptions,
): Promise<void> {
  const out = path.resolve(outPath);
  try {
    requireAciExtension(out);
    refuseExisting(out, opts.overwrite);
  } catch (err) {
    fail(errorMessage(err));
  }
  const pod = await getSettledPod(dataDir, uuid);
  if (pod.state !== 'exited' && pod.state !== 'exited garbage')
    fail('pod is not exited. Only exited pods can be exported');
  const app = chooseApp(pod, opts.app);
  const manifest = path.join(pod.path, POD_FILES.appsInfo, app, 'manifest');
  if (!existsSync(manifest)) fail(`pod ${pod.uuid}: app ${app} has no image manifest (${manifest})`);
  const mount = mountCommand(pod, dataDir, app);

  const tmpRoot = path.join(dataDir, 'tmp');
  mkdirSync(tmpRoot, { recursive: true });
  const layout = mkdtempSync(path.join(tmpRoot, `rkt-export-${pod.uuid}-`));
  let helper: ChildProcess | undefined;
  try {
    copyFileSync(manifest, path.join(layout, 'manifest'));
    mkdirSync(path.join(layout, 'rootfs'));
    helper = await startMountHelper(mount, path.join(layout, 'rootfs'));
    try {
      await buildAci(`/proc/${helper.pid}/root${layout}`, out, { overwrite: opts.overwrite });
    } catch (err) {
      if (err instanceof RocketError) fail(`error building aci: ${err.message}`);
      throw err;
    }
  } finally {
    if (helper !== undefined && helper.exitCode === null && helper.signalCode === null) {
      const exited = once(helper, 'exit');
      helper.stdin?.end();
      await exited;
    }
    rmSync(layout, { recursive: true, force: true });
  }
}
