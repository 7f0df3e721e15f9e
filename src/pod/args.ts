/**
 * What a `run`, `prepare` or `app add` command line asks of a pod, parsed and typed by the command
 * line's grammar (src/cli/rkt/pod/run-flags.ts): stage0's pod code works from these values only.
 */
import type { ExposedPort, Isolator, Mount, Volume } from '../appc/index.js';
import { sanitizeACName } from '../appc/index.js';
import { RocketError } from '../errors.js';

const fail = (message: string): never => {
  throw new RocketError(message, 'invalid-argument');
};

/** The per-app configuration from the command line (rkt's `apps.App`). */
export interface AppArgs {
  image: string;
  /** `--signature` given after the image. */
  signature?: string;
  name?: string;
  exec?: string;
  /** Arguments after `--`; undefined when none were given. */
  args?: string[];
  user?: string;
  group?: string;
  supplementaryGIDs?: number[];
  workingDir?: string;
  readOnlyRootFS?: boolean;
  /** `--environment K=V`, in order (the last one wins). */
  environment: [string, string][];
  mounts: Mount[];
  memory?: Isolator;
  cpu?: Isolator;
  cpuShares?: Isolator;
  capsRetain?: Isolator;
  capsRemove?: Isolator;
  seccomp?: Isolator;
  oomScoreAdj?: Isolator;
  annotations: Record<string, string>;
  userAnnotations?: Record<string, string>;
  userLabels?: Record<string, string>;
}

/** Everything else on the command line: pod-level and stage0 options. */
export interface PodArgs {
  apps: AppArgs[];
  /** `--mount` before the first image: applies to every app. */
  mounts: Mount[];
  volumes: Volume[];
  inheritEnv: boolean;
  /** `--set-env`, in order. */
  setEnv: [string, string][];
  /** `--set-env-file` contents, in order. */
  setEnvFile: [string, string][];
  hostname?: string;
  dns: string[];
  dnsSearch: string[];
  dnsOpt: string[];
  dnsDomain?: string;
  hostsEntries: string[];
  uuidFileSave?: string;
  interactive: boolean;
  podManifest?: string;
  /** `--net` values, comma lists split; empty when not given (rkt's default is `default`). */
  net: string[];
  ports: string[];
  /** A sandbox's exposed ports given with their pod port (the CRI's port mappings). */
  sandboxPorts?: ExposedPort[];
  /** A sandbox's pod-level isolators (the CRI's sysctls). */
  sandboxIsolators?: Isolator[];
  noOverlay: boolean;
  privateUsers: boolean;
  /** `--mds-register`; undefined: register when a metadata service is running (src/metadata). */
  mdsRegister?: boolean;
  ipc?: string;
  pullPolicy: string;
  quiet: boolean;
  stage1: { url?: string; path?: string; name?: string; hash?: string; fromDir?: string };
  /** `--engine=oci|fly|...` (ours: the stage1 engine by name). */
  engine?: string;
  /** `--insecure-options` seen among the run flags (a global flag: the CLI layer applies it). */
  insecureOptions?: string;
  /** Global flags seen among the run flags, e.g. `--dir` (the CLI layer applies them). */
  globals: Record<string, string>;
}

/**
 * The longest app name a pod can hold. App names become file names (`appsinfo/<app>`,
 * `apps/<app>`, `overlay/<app>`, `status/<app>-started`) and the OCI runtime's container ID
 * `rkt-<uuid>-<app>`, which crun and runc make a directory of: 255 bytes (NAME_MAX) less
 * `rkt-`, the 36-character UUID and `-` leaves 214.
 */
export const MAX_APP_NAME_LENGTH = 255 - 'rkt-'.length - 36 - '-'.length;

/** Refuses an app name too long for the files and runtime IDs made from it (one line, 254). */
export function checkAppNameLength(name: string, what: string): void {
  const n = Buffer.byteLength(name);
  if (n > MAX_APP_NAME_LENGTH)
    fail(
      `${what}: app name of ${n} bytes is too long (at most ${MAX_APP_NAME_LENGTH}: it names the pod's files and the runtime's container rkt-<uuid>-<app>)`,
    );
}

export function emptyPodArgs(): PodArgs {
  return {
    apps: [],
    mounts: [],
    volumes: [],
    inheritEnv: false,
    setEnv: [],
    setEnvFile: [],
    dns: [],
    dnsSearch: [],
    dnsOpt: [],
    hostsEntries: [],
    interactive: false,
    net: [],
    ports: [],
    noOverlay: false,
    privateUsers: false,
    pullPolicy: 'new',
    quiet: false,
    stage1: {},
    globals: {},
  };
}

/** An app name from an image name (rkt's `ImageNameToAppName`): its last path part, sanitized. */
export function appNameFromImage(imageName: string): string {
  const last = imageName.split('/').pop() ?? '';
  const s = sanitizeACName(last);
  if (s === undefined || s === '')
    fail(`error converting image name to app name: ${JSON.stringify(imageName)}`);
  return s as string;
}
