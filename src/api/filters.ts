/**
 * ListPods and ListImages filters with rkt's semantics: every non-empty field of one filter must
 * hold (AND), and an object is returned when it matches any of the request's filters (OR; no
 * filters returns everything). Two deliberate extensions, which only add matches rkt would miss:
 * image ids may be given as a full image ID or as the store's shorter key wherever the other form
 * is stored, and a pod_sub_cgroups entry must lie inside the pod's cgroup as a path (rkt tested
 * a plain string prefix).
 */
import { posix } from 'node:path';
import { KEY_LENGTH } from '../store/layout.js';
import {
  int64ToNumber,
  type Image,
  type ImageFilter,
  type KeyValue,
  type Pod,
  type PodFilter,
} from './types.js';

/** Both forms of an image id name the same image: the full ID starts with the store key. */
export function sameImageId(a: string, b: string): boolean {
  if (a === b) return true;
  const [short, long] = a.length <= b.length ? [a, b] : [b, a];
  return short.length === KEY_LENGTH && long.startsWith(short);
}

function hasAllKeyValues(have: readonly KeyValue[], want: readonly KeyValue[]): boolean {
  return want.every((w) => have.some((h) => h.Key === w.Key && h.value === w.value));
}

function insideCgroup(cgroup: string, podCgroup: string): boolean {
  if (podCgroup === '') return false;
  const base = podCgroup.endsWith('/') ? podCgroup.slice(0, -1) : podCgroup;
  return cgroup === base || cgroup.startsWith(base + '/');
}

export function podMatches(pod: Pod, f: PodFilter): boolean {
  if (f.ids.length > 0 && !f.ids.includes(pod.id)) return false;
  if (f.states.length > 0 && !f.states.includes(pod.state)) return false;
  const appNames = pod.apps.map((a) => a.name);
  if (!f.app_names.every((n) => appNames.includes(n))) return false;
  const imageIds = pod.apps.map((a) => a.image?.id ?? '');
  if (!f.image_ids.every((id) => imageIds.some((have) => sameImageId(have, id)))) return false;
  const nets = pod.networks.map((n) => n.name);
  if (!f.network_names.every((n) => nets.includes(n))) return false;
  if (!hasAllKeyValues(pod.annotations, f.annotations)) return false;
  if (f.cgroups.length > 0 && !f.cgroups.includes(pod.cgroup)) return false;
  if (f.pod_sub_cgroups.length > 0 && !f.pod_sub_cgroups.some((c) => insideCgroup(c, pod.cgroup)))
    return false;
  return true;
}

export function imageMatches(image: Image, f: ImageFilter): boolean {
  const name = image.name;
  if (f.ids.length > 0 && !f.ids.some((id) => sameImageId(id, image.id))) return false;
  if (f.full_names.length > 0 && !f.full_names.includes(name)) return false;
  if (f.prefixes.length > 0 && !f.prefixes.some((p) => name.startsWith(p))) return false;
  if (f.base_names.length > 0 && !f.base_names.includes(posix.basename(name))) return false;
  if (f.keywords.length > 0 && !f.keywords.some((k) => name.includes(k))) return false;
  const imported = int64ToNumber(image.import_timestamp);
  const after = int64ToNumber(f.imported_after);
  const before = int64ToNumber(f.imported_before);
  if (after > 0 && imported <= after) return false;
  if (before > 0 && imported >= before) return false;
  if (!hasAllKeyValues(image.labels, f.labels)) return false;
  if (!hasAllKeyValues(image.annotations, f.annotations)) return false;
  return true;
}

/** True with no filters, else when any filter matches. */
export function matchesAny<T, F>(
  item: T,
  filters: readonly F[],
  matches: (item: T, f: F) => boolean,
): boolean {
  return filters.length === 0 || filters.some((f) => matches(item, f));
}
