/**
 * What the oci engine's supervisor does around its apps besides running them: the pod log
 * (src/logs/capture.ts; stage0's run pipeline sets it up and hands over its settings) and the
 * systemd integration (systemd.ts: readiness, sd_notify, socket activation). The engine calls
 * `preparePodIo` once per pod and `decorate` for each main container's config, and writes the
 * returned settings for the supervisor (supervisor.sh).
 */
import path from 'node:path';
import type { PodManifest } from '../../appc/index.js';
import type { LogCaptureSettings } from '../../logs/capture.js';
import { appTreeStoreId } from '../../pod-layout.js';
import { which } from './runtime.js';
import type { OciConfig } from './spec.js';
import {
  decorateMainConfig,
  listenAssignment,
  prepareSystemd,
  supervisorPidForPlan,
  supportsNotify,
  type AppSystemd,
} from './systemd.js';

/** The supervisor's settings for logs and systemd (written into stage1/sup/ by the engine). */
export interface PodIo {
  /** The loggers' settings; undefined with `--interactive` (nothing captured). */
  logs?: LogCaptureSettings;
  /** Apps that announce READY=1 themselves (the sd_notify relay). */
  relayApps: string[];
  /** Socket-activated fds `rkt run` got. */
  listenCount: number;
  /** Whether app i announces readiness itself (sd_notify). */
  notify(i: number): boolean;
  /** Extra runtime arguments and redirections of app i's main container (socket activation). */
  listen(i: number): { args: string; redirects: string };
}

export interface PodIoInput {
  /** The prepared pod dir (written now), and where it will be when running ($R in the plan). */
  P: string;
  R: string;
  dataDir: string;
  manifest: PodManifest;
  /** The loggers stage0 set up; undefined when nothing is captured (`--interactive`). */
  logs?: LogCaptureSettings;
  warn: (m: string) => void;
  /** A busybox for the poststart hooks (decorateMainConfig). */
  busybox?: string;
}

export function preparePodIo(input: PodIoInput): {
  io: PodIo;
  decorate(i: number, config: OciConfig): OciConfig;
} {
  const { P, R, manifest } = input;
  const listen = listenAssignment(
    manifest.apps.map((ra) => ra.app),
    supervisorPidForPlan(),
    process.env,
    input.warn,
  );
  const sd: AppSystemd[] = manifest.apps.map((ra, i) => {
    const tree = appTreeStoreId(P, ra.name);
    const manifestFile =
      tree === undefined ? undefined : path.join(input.dataDir, 'cas', 'tree', tree, 'manifest');
    const l = listen?.apps.get(i);
    return {
      name: ra.name,
      notify: supportsNotify(ra, manifestFile),
      ...(l !== undefined ? { listen: l } : {}),
    };
  });
  const notifySocket = process.env['NOTIFY_SOCKET'];
  if (notifySocket !== undefined && notifySocket !== '' && which('systemd-notify') === undefined)
    input.warn('NOTIFY_SOCKET is set but systemd-notify is not installed: readiness will not be sent');
  const systemd = prepareSystemd(P, sd, listen);
  const logs = input.logs;
  const io: PodIo = {
    ...(logs !== undefined ? { logs } : {}),
    relayApps: systemd.relayApps,
    listenCount: systemd.listenCount,
    notify: (i) => sd[i]?.notify === true,
    listen: (i) => systemd.runArgs(i),
  };
  return { io, decorate: (i, config) => decorateMainConfig(config, R, sd[i] as AppSystemd, input.busybox) };
}
