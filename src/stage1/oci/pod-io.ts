/**
 * What the oci engine's supervisor does around its apps besides running them: the pod log
 * (src/logs/capture.ts) and the systemd integration (systemd.ts: readiness, sd_notify, socket
 * activation). Stage0 calls `preparePodIo` once per pod and `decorate` for each main container's
 * config; planScript splices the returned fragments into the plan.
 */
import path from 'node:path';
import type { PodManifest } from '../../appc/index.js';
import { RKT_FAILURE, RocketError } from '../../errors.js';
import { prepareLogCapture } from '../../logs/capture.js';
import { appTreeStoreId } from '../../pod/index.js';
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

export interface PodIo {
  /** First lines of the plan (before it takes fds 3 and 4). */
  prologue: string[];
  /** After the pod's mounts and namespaces, before the apps start; may call `fail`. */
  setup: string[];
  /** Shell functions (`lgs`, `rdy`, `sdstop`). */
  functions: string[];
  /** Lines for the supervisor's cleanup(). */
  cleanup: string[];
  /** How app i's main container is run: `before; rt run ARGS--bundle ... REDIRECTS; rc=$?; after`. */
  main(i: number): { before: string; args: string; redirects: string; after: string };
  /** Called by the supervisor at each wake-up: announces readiness once every app is ready. */
  wake: string;
  /** Called when a stop begins. */
  onStop: string;
}

export interface PodIoInput {
  /** The prepared pod dir (written now), and where it will be when running ($R in the plan). */
  P: string;
  R: string;
  dataDir: string;
  manifest: PodManifest;
  /** `--interactive`: the app has the terminal; its output is not captured. */
  interactive: boolean;
  warn: (m: string) => void;
}

export function preparePodIo(input: PodIoInput): {
  io: PodIo;
  decorate(i: number, config: OciConfig): OciConfig;
} {
  const { P, R, manifest } = input;
  const names = manifest.apps.map((ra) => ra.name);
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
  if (!input.interactive && which('mawk') === undefined)
    throw new RocketError(
      'mawk is needed to keep the pod log: install it (apt-get install mawk)',
      RKT_FAILURE,
    );
  const systemd = prepareSystemd(P, sd, listen);
  const logs = input.interactive ? undefined : prepareLogCapture(P, names);
  const io: PodIo = {
    prologue: systemd.prologue,
    setup: [...(logs?.setup ?? []), ...systemd.setup],
    functions: [...(logs?.functions ?? []), ...systemd.functions],
    cleanup: logs?.cleanup ?? [],
    main(i) {
      const name = names[i] as string;
      const s = systemd.runArgs(i);
      return {
        before: logs !== undefined ? `lgs ${name}; ` : '',
        args: s.args,
        redirects: [logs?.redirects(name) ?? '', s.redirects].filter((r) => r !== '').join(' '),
        after: logs !== undefined ? `; ${logs.wait}` : '',
      };
    },
    wake: 'rdy',
    onStop: 'sdstop',
  };
  return { io, decorate: (i, config) => decorateMainConfig(config, R, sd[i] as AppSystemd) };
}
