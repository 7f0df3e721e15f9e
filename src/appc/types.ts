/**
 * The appc 0.8.11 data model as TypeScript types. Optional lists are `undefined` when absent or empty
 * (the reference drops empty lists when it writes a manifest), so parse(serialize(x)) deep-equals x.
 */

export type JsonValue = null | boolean | number | string | JsonValue[] | { [key: string]: JsonValue };

export interface Label {
  name: string;
  value: string;
}

export interface Annotation {
  name: string;
  value: string;
}

export interface EnvironmentVariable {
  name: string;
  value: string;
}

/** `value` is kept as parsed so unknown isolators round-trip unchanged; known ones are validated. */
export interface Isolator {
  name: string;
  value: JsonValue;
}

export interface EventHandler {
  name: 'pre-start' | 'post-stop';
  exec: string[];
}

export interface MountPoint {
  name: string;
  path: string;
  readOnly?: boolean;
}

export interface Port {
  name: string;
  protocol: string;
  port: number;
  /** Normalised to 1 when missing or 0. */
  count: number;
  socketActivated: boolean;
}

export interface App {
  exec?: string[];
  eventHandlers?: EventHandler[];
  user: string;
  group: string;
  supplementaryGIDs?: number[];
  workingDirectory?: string;
  environment?: EnvironmentVariable[];
  mountPoints?: MountPoint[];
  ports?: Port[];
  isolators?: Isolator[];
  userAnnotations?: Record<string, string>;
  userLabels?: Record<string, string>;
}

export interface Dependency {
  imageName: string;
  imageID?: string;
  labels?: Label[];
  size?: number;
}

export interface ImageManifest {
  acKind: 'ImageManifest';
  acVersion: string;
  name: string;
  labels?: Label[];
  app?: App;
  annotations?: Annotation[];
  dependencies?: Dependency[];
  pathWhitelist?: string[];
}

export type VolumeKind = 'host' | 'empty';

export interface Volume {
  name: string;
  kind: VolumeKind;
  /** host volumes only */
  source?: string;
  readOnly?: boolean;
  /** host volumes only */
  recursive?: boolean;
  /** empty volumes only; defaulted to "0755" on parse */
  mode?: string;
  /** empty volumes only; defaulted to 0 on parse */
  uid?: number;
  /** empty volumes only; defaulted to 0 on parse */
  gid?: number;
}

export interface Mount {
  volume: string;
  path: string;
  appVolume?: Volume;
}

export interface RuntimeImage {
  name?: string;
  /** Image ID; required in a runtime pod manifest, absent in a template. */
  id?: string;
  labels?: Label[];
}

export interface RuntimeApp {
  name: string;
  image: RuntimeImage;
  app?: App;
  readOnlyRootFS?: boolean;
  mounts?: Mount[];
  annotations?: Annotation[];
}

export interface ExposedPort {
  name: string;
  hostPort: number;
  hostIP?: string;
  podPort?: Port;
}

export interface PodManifest {
  acVersion: string;
  acKind: 'PodManifest';
  apps: RuntimeApp[];
  volumes?: Volume[];
  isolators?: Isolator[];
  annotations?: Annotation[];
  ports?: ExposedPort[];
  userAnnotations?: Record<string, string>;
  userLabels?: Record<string, string>;
}

export interface ParsedImageManifest {
  manifest: ImageManifest;
  warnings: string[];
}

/** Pod lists (`volumes`, `isolators`, `annotations`, `ports`) keep `[]` distinct from absent (written as `null`). */
export interface ParsedPodManifest {
  manifest: PodManifest;
  warnings: string[];
}
