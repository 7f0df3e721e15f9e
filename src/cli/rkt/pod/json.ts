import { appExitCode, gcMarkedAt, type ListedManifest, type PodInfo } from '../../../pod/index.js';
import { netInfoJson, readNetInfo } from '../../../net/info.js';
import { goEscape } from '../../format/json.js';
import { engineSummary } from '../../../stage1/engine.js';

/** rkt's api/v1 JSON for pods (`rkt list --format`, `rkt status --format`). */

const BIG = '\u0000big:';
/** A JSON integer that may exceed 2^53 (nanoseconds since the epoch). */
const big = (n: bigint): string => BIG + n.toString();
const nanos = (d: Date): string => big(BigInt(d.getTime()) * 1_000_000n);
const seconds = (d: Date): number => Math.floor(d.getTime() / 1000);

function sortedMap(m: Record<string, string> | undefined): Record<string, string> | undefined {
  if (m === undefined || Object.keys(m).length === 0) return undefined;
  return Object.fromEntries(Object.entries(m).sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0)));
}

function appState(p: PodInfo): string {
  switch (p.state) {
    case 'prepared':
      return 'created';
    case 'running':
      return 'running';
    case 'embryo':
    case 'preparing':
    case 'aborted prepare':
      return 'unknown';
    default:
      return 'exited';
  }
}

export function podJsonObject(p: PodInfo): Record<string, unknown> {
  const o: Record<string, unknown> = { name: p.uuid, state: p.state };
  const nets = p.state === 'running' || p.state === 'exited' ? readNetInfo(p.path) : [];
  if (nets.length > 0) o['networks'] = netInfoJson(nets);
  const m: ListedManifest | undefined = p.listed ?? p.manifest;
  const apps = m?.apps ?? [];
  if (apps.length > 0) o['app_names'] = apps.map((a) => a.name);
  if (apps.length > 0) {
    const volumes = new Map((m?.volumes ?? []).map((v) => [v.name, v]));
    const finished = gcMarkedAt(p);
    o['apps'] = apps.map((ra) => {
      const app: Record<string, unknown> = { name: ra.name, state: appState(p) };
      if (p.created !== undefined) app['created_at'] = nanos(p.created);
      if (p.started !== undefined) app['started_at'] = nanos(p.started);
      if (finished !== undefined) app['finished_at'] = nanos(finished);
      const code = appExitCode(p.path, ra.name);
      if (code !== undefined) {
        app['state'] = 'exited';
        app['exit_code'] = code;
      }
      app['image_id'] = ra.image.id ?? '';
      const mounts = (ra.mounts ?? []).map((m) => {
        const v = m.appVolume ?? volumes.get(m.volume);
        return {
          name: m.volume,
          container_path: m.path,
          host_path: v?.source ?? '',
          read_only: v?.readOnly ?? false,
        };
      });
      if (mounts.length > 0) app['mounts'] = mounts;
      const ua = sortedMap(ra.app?.userAnnotations);
      if (ua !== undefined) app['user_annotations'] = ua;
      const ul = sortedMap(ra.app?.userLabels);
      if (ul !== undefined) app['user_labels'] = ul;
      return app;
    });
  }
  if (p.created !== undefined) o['created_at'] = seconds(p.created);
  if (p.started !== undefined) o['started_at'] = seconds(p.started);
  const ua = sortedMap(m?.userAnnotations);
  if (ua !== undefined) o['user_annotations'] = ua;
  const ul = sortedMap(m?.userLabels);
  if (ul !== undefined) o['user_labels'] = ul;
  // Ours, after rkt's keys: the engine that ran the pod (and its runtime or accelerator); a
  // prepared pod has run on none (its engine files may be `rkt prepare`'s, for run-prepared).
  const e = p.state === 'prepared' ? undefined : engineSummary(p.path);
  if (e !== undefined) {
    o['engine'] = e.engine;
    if (e.runtime !== undefined) o['runtime'] = e.runtime;
    if (e.accelerator !== undefined) o['accelerator'] = e.accelerator;
  }
  return o;
}

/** Go's json.Marshal / MarshalIndent(v, "", "\t") of a value built by podJsonObject. */
export function goJson(value: unknown, pretty: boolean): string {
  const text = JSON.stringify(value ?? null, null, pretty ? '\t' : undefined);
  return goEscape(text.replace(/"\\u0000big:(-?\d+)"/g, '$1'));
}
