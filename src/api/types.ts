/**
 * The v1alpha messages as JavaScript objects, as proto-loader gives and takes them with
 * LOADER_OPTIONS (proto.ts): field names as in api.proto, enums by name, 64-bit integers as
 * decimal strings (nanosecond times exceed 2^53; numbers are accepted when sending).
 */

export type Int64 = string | number;

export const POD_STATES = [
  'POD_STATE_UNDEFINED',
  'POD_STATE_EMBRYO',
  'POD_STATE_PREPARING',
  'POD_STATE_PREPARED',
  'POD_STATE_RUNNING',
  'POD_STATE_ABORTED_PREPARE',
  'POD_STATE_EXITED',
  'POD_STATE_DELETING',
  'POD_STATE_GARBAGE',
] as const;
export type ApiPodState = (typeof POD_STATES)[number];

export type ApiAppState = 'APP_STATE_UNDEFINED' | 'APP_STATE_RUNNING' | 'APP_STATE_EXITED';
export type ImageType = 'IMAGE_TYPE_UNDEFINED' | 'IMAGE_TYPE_APPC' | 'IMAGE_TYPE_DOCKER' | 'IMAGE_TYPE_OCI';

export const EVENT_TYPES = [
  'EVENT_TYPE_UNDEFINED',
  'EVENT_TYPE_POD_PREPARED',
  'EVENT_TYPE_POD_PREPARE_ABORTED',
  'EVENT_TYPE_POD_STARTED',
  'EVENT_TYPE_POD_EXITED',
  'EVENT_TYPE_POD_GARBAGE_COLLECTED',
  'EVENT_TYPE_APP_STARTED',
  'EVENT_TYPE_APP_EXITED',
  'EVENT_TYPE_IMAGE_IMPORTED',
  'EVENT_TYPE_IMAGE_REMOVED',
] as const;
export type EventType = (typeof EVENT_TYPES)[number];

export interface KeyValue {
  Key: string;
  value: string;
}

export interface ImageFormat {
  type: ImageType;
  version: string;
}

export interface Image {
  base_format: ImageFormat | null;
  id: string;
  name: string;
  version: string;
  import_timestamp: Int64;
  manifest: Buffer;
  size: Int64;
  annotations: KeyValue[];
  labels: KeyValue[];
}

export interface Network {
  name: string;
  ipv4: string;
  ipv6: string;
}

export interface App {
  name: string;
  image: Image | null;
  state: ApiAppState;
  exit_code: number;
  annotations: KeyValue[];
}

export interface Pod {
  id: string;
  pid: number;
  state: ApiPodState;
  apps: App[];
  networks: Network[];
  manifest: Buffer;
  annotations: KeyValue[];
  cgroup: string;
  created_at: Int64;
  started_at: Int64;
  gc_marked_at: Int64;
}

export interface PodFilter {
  ids: string[];
  states: ApiPodState[];
  app_names: string[];
  image_ids: string[];
  network_names: string[];
  annotations: KeyValue[];
  cgroups: string[];
  pod_sub_cgroups: string[];
}

export interface ImageFilter {
  ids: string[];
  prefixes: string[];
  base_names: string[];
  keywords: string[];
  labels: KeyValue[];
  imported_after: Int64;
  imported_before: Int64;
  annotations: KeyValue[];
  full_names: string[];
}

export interface GlobalFlags {
  dir: string;
  system_config_dir: string;
  local_config_dir: string;
  user_config_dir: string;
  insecure_flags: string;
  trust_keys_from_https: boolean;
}

export interface Info {
  rkt_version: string;
  appc_version: string;
  api_version: string;
  global_flags: GlobalFlags | null;
}

export interface Event {
  type: EventType;
  id: string;
  from: string;
  time: Int64;
  data: KeyValue[];
}

export interface EventFilter {
  types: EventType[];
  ids: string[];
  names: string[];
  since_time: Int64;
  until_time: Int64;
}

export interface ListPodsRequest {
  filters: PodFilter[];
  detail: boolean;
}

export interface ListImagesRequest {
  filters: ImageFilter[];
  detail: boolean;
}

export interface InspectRequest {
  id: string;
}

export interface ListenEventsRequest {
  filter: EventFilter | null;
}

export interface GetLogsRequest {
  pod_id: string;
  app_name: string;
  lines: number;
  follow: boolean;
  since_time: Int64;
  until_time: Int64;
}

/** An int64 field as a number (seconds fit easily); 0 for an unset or malformed value. */
export function int64ToNumber(v: Int64 | null | undefined): number {
  const n = typeof v === 'number' ? v : Number(v ?? 0);
  return Number.isFinite(n) ? n : 0;
}

/** Nanoseconds since the epoch as the decimal string of an int64, "0" when unknown. */
export function nanosOf(d: Date | undefined): string {
  return d === undefined ? '0' : (BigInt(d.getTime()) * 1_000_000n).toString();
}

export function keyValues(entries: readonly { name: string; value: string }[] | undefined): KeyValue[] {
  return (entries ?? []).map((e) => ({ Key: e.name, value: e.value }));
}
