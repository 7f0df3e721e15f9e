/**
 * A pod on disk as a v1alpha Pod. Read fresh on every call (a pod's files are small and its state
 * changes under us); everything read may be stale as soon as it is returned.
 */
import { existsSync, readFileSync } from 'node:fs';
import { isIPv4, isIPv6 } from 'node:net';
import { join } from 'node:path';
import { APPC_SPEC_VERSION_STRING } from '../appc/version.js';
import { POD_FILES, appExitCode, gcMarkedAt, type PodInfo, type PodState } from '../pod/index.js';
import { readNetInfo } from '../net/info.js';
import { readEngineState } from '../stage1/engine.js';
import type { OciPodState } from '../stage1/oci/engine.js';
import { MUTABLE_ANNOTATION } from '../pod-layout.js';
import {
  keyValues,
  nanosOf,
  type ApiPodState,
  type App,
  type Image,
  type Network,
  type Pod,
} from './types.js';

const STATE_NAMES: Record<PodState, ApiPodState> = {
  embryo: 'POD_STATE_EMBRYO',
  preparing: 'POD_STATE_PREPARING',
  'aborted prepare': 'POD_STATE_ABORTED_PREPARE',
  prepared: 'POD_STATE_PREPARED',
  running: 'POD_STATE_RUNNING',
  deleting: 'POD_STATE_DELETING',
  // rkt reported this one as UNDEFINED (a gap in its switch); it is a collection in progress.
  'exited deleting': 'POD_STATE_DELETING',
  exited: 'POD_STATE_EXITED',
  'exited garbage': 'POD_STATE_GARBAGE',
  garbage: 'POD_STATE_GARBAGE',
};

export function apiPodState(s: PodState): ApiPodState {
  return STATE_NAMES[s];
}

/** States in which the pod has run (its apps have exited or are exiting). */
const AFTER_RUN: readonly PodState[] = ['exited', 'exited garbage', 'exited deleting'];

/** The networks the pod joined, from `net-info.json` (absent: none, e.g. --net=none or host). */
export function podNetworks(podDir: string): Network[] {
  return readNetInfo(podDir).map((n) => {
    const addr = typeof n.ip === 'string' ? n.ip.replace(/\/\d+$/, '') : '';
    return { name: n.netName, ipv4: isIPv4(addr) ? addr : '', ipv6: isIPv6(addr) ? addr : '' };
  });
}

/** The cgroup the engine put the pod's apps under (`/rkt-<uuid>` for the oci engine). */
export function podCgroup(podDir: string): string {
  const parent = readEngineState<OciPodState>(podDir, 'oci')?.cgroupParent;
  return parent !== undefined && parent !== '' ? `/${parent}` : '';
}

/** The app's image as the pod recorded it (appsinfo/<app>/manifest): name and version label. */
function appImage(p: PodInfo, app: string, imageId: string): Image {
  let name = '';
  let version = '';
  try {
    const m = JSON.parse(readFileSync(join(p.path, POD_FILES.appsInfo, app, 'manifest'), 'utf8')) as {
      name?: unknown;
      labels?: { name?: unknown; value?: unknown }[];
    };
    if (typeof m.name === 'string') name = m.name;
    const v = Array.isArray(m.labels) ? m.labels.find((l) => l.name === 'version')?.value : undefined;
    version = typeof v === 'string' ? v : 'latest';
  } catch {
    // not prepared (yet): only the ID is known
  }
  return {
    base_format: { type: 'IMAGE_TYPE_APPC', version: APPC_SPEC_VERSION_STRING },
    id: imageId,
    name,
    version,
    import_timestamp: 0,
    manifest: Buffer.alloc(0),
    size: 0,
    annotations: [],
    labels: [],
  };
}

function podApps(p: PodInfo): App[] {
  const running = p.state === 'running';
  const afterRun = AFTER_RUN.includes(p.state);
  // In a sandbox (`rkt app sandbox`, any engine), an app added but not started yet has no state to report.
  const sandbox =
    running &&
    (p.manifest?.annotations ?? []).some((a) => a.name === MUTABLE_ANNOTATION && a.value === 'true');
  const started = (app: string): boolean =>
    !sandbox || existsSync(join(p.path, POD_FILES.appStatusDir, `${app}-started`));
  return (p.manifest?.apps ?? []).map((ra) => {
    const code = running || afterRun ? appExitCode(p.path, ra.name) : undefined;
    // Unlike rkt, an app that ended in a pod still running reads as exited, with its code.
    const state =
      code !== undefined || afterRun
        ? 'APP_STATE_EXITED'
        : running && started(ra.name)
          ? 'APP_STATE_RUNNING'
          : 'APP_STATE_UNDEFINED';
    return {
      name: ra.name,
      image: appImage(p, ra.name, ra.image.id ?? ''),
      state,
      exit_code: code ?? -1,
      annotations: keyValues(ra.annotations),
    };
  });
}

/** The v1alpha Pod of a pod read from disk. The manifest is included only with `detail`. */
export function toApiPod(p: PodInfo, detail: boolean): Pod {
  const pod: Pod = {
    id: p.uuid,
    pid: -1,
    state: apiPodState(p.state),
    apps: [],
    networks: [],
    manifest: Buffer.alloc(0),
    annotations: [],
    cgroup: '',
    created_at: '0',
    started_at: '0',
    gc_marked_at: '0',
  };
  if (p.state === 'embryo') return pod;
  pod.apps = podApps(p);
  pod.annotations = keyValues(p.manifest?.annotations);
  if (detail && p.manifest !== undefined) {
    try {
      pod.manifest = readFileSync(join(p.path, POD_FILES.manifest));
    } catch {
      // removed meanwhile
    }
  }
  if (p.state === 'running' || p.state === 'exited') pod.networks = podNetworks(p.path);
  if (p.state === 'running') pod.cgroup = podCgroup(p.path);
  if (p.pid !== undefined) pod.pid = p.pid;
  pod.created_at = nanosOf(p.created);
  pod.started_at = nanosOf(p.started);
  pod.gc_marked_at = nanosOf(gcMarkedAt(p));
  return pod;
}
