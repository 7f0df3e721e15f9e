/**
 * rkt's `run`/`prepare` argument grammar (rkt/cli_apps.go `parseApps`): one flag set, parsed with
 * interspersed arguments off, shared by pod-level and per-app flags.
 *
 *   [pod flags] IMAGE [app flags] [-- app args... [---]] IMAGE [app flags] ...
 *
 * A non-flag argument starts a new app; a per-app flag modifies the last app (and is an error
 * before the first image, except `--mount`, which then applies to every app); `--` starts the
 * last app's arguments, which run up to a lone `---` or the end. A stray `---` is ignored.
 */
import { readFileSync } from 'node:fs';
import {
  AppcError,
  RESOURCE_CPU,
  RESOURCE_MEMORY,
  capabilitiesRemoveSet,
  capabilitiesRetainSet,
  cpuShares,
  isACName,
  oomScoreAdj,
  parseQuantity,
  parseVolumeString,
  resourceIsolator,
  seccompRemoveSet,
  seccompRetainSet,
  type Isolator,
  type Mount,
} from '../../../appc/index.js';
import { RKT_FAILURE, RocketError, isRktFailure, unknownFlagMessage } from '../../../errors.js';
import { parseNetList } from '../../../net/netlist.js';
import { checkAppNameLength, emptyPodArgs, type AppArgs, type PodArgs } from '../../../pod/args.js';
import type { NetMode } from '../../../stage1/engine.js';

/** `--net`: `none`, `host`, or CNI networks (`default` when not given; src/net). Throws on a bad list. */
export function netMode(net: readonly string[]): NetMode {
  return parseNetList(net).mode;
}

export type Verb = 'run' | 'prepare';

type Kind = 'string' | 'bool' | 'optional';
interface FlagSpec {
  kind: Kind;
  /** Value a bare `--flag` takes (pflag's NoOptDefVal), for `optional` flags. */
  noOptDefault?: string;
  /** Accepted only by this verb (`app-add`: only by `rkt app add`). */
  only?: Verb | 'app-add';
  set(p: PodArgs, value: string, flag: string): void;
}

const fail = (message: string): never => {
  throw new RocketError(message, RKT_FAILURE);
};

function lastApp(p: PodArgs, flag: string, what = 'an image'): AppArgs {
  const app = p.apps[p.apps.length - 1];
  if (app === undefined) fail(`--${flag} must follow ${what}`);
  return app as AppArgs;
}

/** Go's strconv.ParseBool. */
export function parseBool(value: string, flag: string): boolean {
  if (['1', 't', 'T', 'TRUE', 'true', 'True'].includes(value)) return true;
  if (['0', 'f', 'F', 'FALSE', 'false', 'False'].includes(value)) return false;
  return fail(
    `invalid argument ${JSON.stringify(value)} for "--${flag}" flag: strconv.ParseBool: parsing ${JSON.stringify(value)}: invalid syntax`,
  );
}

function parseInt32(value: string, flag: string): number {
  if (!/^[+-]?\d+$/.test(value) || Math.abs(Number(value)) > 2147483647)
    fail(
      `invalid argument ${JSON.stringify(value)} for "--${flag}" flag: strconv.Atoi: parsing ${JSON.stringify(value)}: invalid syntax`,
    );
  return Number(value);
}

function keyValue(value: string, flag: string): [string, string] {
  const eq = value.indexOf('=');
  if (eq <= 0) fail(`invalid format of --${flag} flag ${JSON.stringify(value)}`);
  return [value.slice(0, eq), value.slice(eq + 1)];
}

function withAppc<T>(fn: () => T, prefix?: string): T {
  try {
    return fn();
  } catch (err) {
    if (err instanceof AppcError || err instanceof Error) {
      // A RocketError already names what it refuses; it only needs rkt's exit status.
      if (err instanceof RocketError)
        throw isRktFailure(err) ? err : new RocketError(err.message, RKT_FAILURE, { cause: err });
      throw new RocketError(prefix === undefined ? err.message : `${prefix}: ${err.message}`, RKT_FAILURE, {
        cause: err,
      });
    }
    throw err;
  }
}

/** `volume=NAME,target=PATH` (a query string with `,` for `&`, as rkt parses it). */
export function parseMountFlag(value: string): Mount {
  const seen = new Map<string, string>();
  for (const part of value.split(',')) {
    if (part === '') continue;
    const eq = part.indexOf('=');
    const unescape = (text: string): string => {
      try {
        return decodeURIComponent(text);
      } catch {
        return fail(`invalid URL escape in --mount flag ${JSON.stringify(value)}`);
      }
    };
    const key = unescape(eq < 0 ? part : part.slice(0, eq));
    const val = unescape(eq < 0 ? '' : part.slice(eq + 1));
    if (seen.has(key)) fail(`label ${key} with multiple values ["${seen.get(key)}" "${val}"]`);
    seen.set(key, val);
  }
  const mount: Mount = { volume: '', path: '' };
  for (const [key, val] of seen) {
    if (key === 'volume') {
      if (!isACName(val))
        fail(
          `invalid volume name ${JSON.stringify(val)} in --mount flag ${JSON.stringify(value)}: not a valid ACName`,
        );
      mount.volume = val;
    } else if (key === 'target') {
      mount.path = val;
    } else {
      fail(`unknown mount parameter ${JSON.stringify(key)}`);
    }
  }
  return mount;
}

/**
 * `rkt app add --mnt-volume=name=NAME,kind=host|empty,source=PATH,target=PATH[,readOnly=B]...`: a
 * volume of the app's own (the pod manifest's `appVolume`) mounted at `target`.
 */
export function parseMntVolume(value: string): Mount {
  let target: string | undefined;
  let name: string | undefined;
  const rest: string[] = [];
  for (const part of value.split(',')) {
    if (part === '') continue;
    const key = part.slice(0, part.indexOf('=') + 1);
    if (key === 'target=' || key === 'name=') {
      if ((key === 'name=' ? name : target) !== undefined)
        fail(`--mnt-volume ${JSON.stringify(value)}: ${key.slice(0, -1)} given twice`);
      if (key === 'name=') name = part.slice(key.length);
      else target = part.slice(key.length);
    } else rest.push(part);
  }
  if (name === undefined || name === '') fail(`--mnt-volume ${JSON.stringify(value)}: missing name`);
  if (target === undefined || target === '') fail(`--mnt-volume ${JSON.stringify(value)}: missing target`);
  const volume = withAppc(
    () => parseVolumeString([name, ...rest].join(',')),
    `invalid value in --mnt-volume flag ${JSON.stringify(value)}`,
  );
  return { volume: volume.name, path: target as string, appVolume: volume };
}

/**
 * `--seccomp mode=retain|remove[,errno=EPERM],syscall,...`: the isolator it stands for. Names may be
 * wildcard sets such as `@appc.io/all`, `@rkt/default-whitelist` or `@docker/default-blacklist`.
 */
export function seccompIsolator(value: string): Isolator {
  let mode: string | undefined;
  let errno: string | undefined;
  const set: string[] = [];
  for (const item of value.split(',')) {
    const kv = item.split('=');
    if (kv.length === 2) {
      const [k, v] = kv as [string, string];
      if (k === 'mode') {
        if (v !== 'remove' && v !== 'retain') fail(`invalid seccomp mode ${JSON.stringify(v)}`);
        mode = v;
      } else if (k === 'errno') {
        errno = v;
      } else {
        fail(`invalid seccomp override ${JSON.stringify(item)}`);
      }
    } else if (item !== '') {
      set.push(item);
    }
  }
  if (mode === undefined) fail('--seccomp: missing mode=retain|remove');
  if (set.length === 0) fail('--seccomp: empty syscall set');
  return withAppc(
    () => (mode === 'retain' ? seccompRetainSet(set, errno) : seccompRemoveSet(set, errno)),
    '--seccomp',
  );
}

/** `--memory` as rkt checks it: request = limit, and at least 4 KiB. */
export function memoryIsolator(value: string): Isolator {
  const q = withAppc(() => parseQuantity(value));
  const bytes = q.value();
  if (bytes < 4096n)
    fail(`memory limit of ${bytes} bytes too low. Try a reasonable value, such as --memory=16M`);
  return withAppc(() => resourceIsolator(RESOURCE_MEMORY, { request: q, limit: q }));
}

export function cpuIsolator(value: string): Isolator {
  const q = withAppc(() => parseQuantity(value));
  return withAppc(() => resourceIsolator(RESOURCE_CPU, { request: q, limit: q }));
}

function capsList(value: string): string[] {
  return value.split(',').map((c) => c.trim());
}

function appFlag(set: (app: AppArgs, value: string, flag: string) => void, kind: Kind = 'string'): FlagSpec {
  return {
    kind,
    ...(kind === 'optional' ? { noOptDefault: 'true' } : {}),
    set: (p, value, flag) => set(lastApp(p, flag), value, flag),
  };
}

function once<K extends 'exec' | 'signature'>(key: K) {
  return (app: AppArgs, value: string, flag: string) => {
    if (app[key] !== undefined) fail(`--${flag} specified multiple times for the same image`);
    app[key] = value;
  };
}

function kvInto(key: 'userAnnotations' | 'userLabels') {
  return (app: AppArgs, value: string, flag: string) => {
    const [k, v] = keyValue(value, flag);
    (app[key] ??= {})[k] = v;
  };
}

/** The app annotation rkt keeps an app's `--stdin|--stdout|--stderr` mode in. */
export const IO_MODE_ANNOTATION = (stream: 'stdin' | 'stdout' | 'stderr'): string =>
  `coreos.com/rkt/stage2/${stream}`;

/** `--stdin=null|tty|stream`, `--stdout|--stderr=null|tty|stream|log`: an app annotation, as rkt. */
function ioMode(stream: 'stdin' | 'stdout' | 'stderr') {
  const modes = stream === 'stdin' ? ['null', 'tty', 'stream'] : ['null', 'tty', 'stream', 'log'];
  return (app: AppArgs, value: string) => {
    if (!modes.includes(value))
      fail(`--${stream}: unknown mode ${JSON.stringify(value)} (${modes.join('|')})`);
    app.annotations[IO_MODE_ANNOTATION(stream)] = value;
  };
}

const stringFlag = (set: (p: PodArgs, value: string, flag: string) => void, only?: Verb): FlagSpec =>
  only === undefined ? { kind: 'string', set } : { kind: 'string', set, only };
const boolFlag = (set: (p: PodArgs, value: boolean) => void, only?: Verb): FlagSpec => ({
  kind: 'optional',
  noOptDefault: 'true',
  set: (p, v, flag) => set(p, parseBool(v, flag)),
  ...(only === undefined ? {} : { only }),
});

/** Reads `--set-env-file`: one `K=V` a line; empty lines and lines starting with `#` or `;` skipped. */
export function readEnvFile(path: string): [string, string][] {
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch (err) {
    return fail(`unable to open environment file ${JSON.stringify(path)}: ${(err as Error).message}`);
  }
  const out: [string, string][] = [];
  for (const raw of text.split('\n')) {
    const line = raw.trim();
    if (line === '' || line.startsWith('#') || line.startsWith(';')) continue;
    out.push(keyValue(line, 'set-env-file'));
  }
  return out;
}

/** Global flags (rkt's persistent flags) that may appear among the run flags. */
const GLOBAL_STRING = ['dir', 'system-config', 'local-config', 'user-config', 'max-image-size'];
const GLOBAL_BOOL = ['debug', 'trust-keys-from-https'];

const FLAGS: Record<string, FlagSpec> = {
  // per-app
  name: appFlag((app, v) => {
    checkAppNameLength(v, '--name');
    app.name = v;
  }),
  exec: appFlag(once('exec')),
  signature: appFlag(once('signature')),
  user: appFlag((app, v) => {
    app.user = v;
  }),
  group: appFlag((app, v) => {
    app.group = v;
  }),
  'supplementary-gids': appFlag((app, v) => {
    const gids = v.split(',').map((s) => (/^\d+$/.test(s.trim()) ? Number(s.trim()) : NaN));
    if (gids.some((g) => Number.isNaN(g))) fail('--supplementary-gids must be integers');
    app.supplementaryGIDs = gids;
  }),
  'working-dir': appFlag((app, v) => {
    app.workingDir = v;
  }),
  'readonly-rootfs': appFlag((app, v) => {
    if (!/^(1|t|T|TRUE|true|True|0|f|F|FALSE|false|False)$/.test(v))
      fail('--readonly-rootfs must be set with a boolean');
    app.readOnlyRootFS = parseBool(v, 'readonly-rootfs');
  }, 'optional'),
  environment: appFlag((app, v, flag) => {
    app.environment.push(keyValue(v, flag));
  }),
  memory: appFlag((app, v) => {
    app.memory = memoryIsolator(v);
  }),
  cpu: appFlag((app, v) => {
    app.cpu = cpuIsolator(v);
  }),
  'cpu-shares': appFlag((app, v, flag) => {
    const n = parseInt32(v, flag);
    app.cpuShares = withAppc(() => cpuShares(n), '--cpu-shares');
  }),
  'caps-retain': appFlag((app, v) => {
    app.capsRetain = withAppc(() => capabilitiesRetainSet(capsList(v)), '--caps-retain');
  }),
  'caps-remove': appFlag((app, v) => {
    app.capsRemove = withAppc(() => capabilitiesRemoveSet(capsList(v)), '--caps-remove');
  }),
  seccomp: appFlag((app, v) => {
    app.seccomp = seccompIsolator(v);
  }),
  'oom-score-adj': appFlag((app, v, flag) => {
    const n = parseInt32(v, flag);
    app.oomScoreAdj = withAppc(() => oomScoreAdj(n), '--oom-score-adj');
  }),
  annotation: appFlag((app, v, flag) => {
    const [k, val] = keyValue(v, flag);
    app.annotations[k] = val;
  }),
  'user-annotation': appFlag(kvInto('userAnnotations')),
  'user-label': appFlag(kvInto('userLabels')),
  stdin: appFlag(ioMode('stdin')),
  stdout: appFlag(ioMode('stdout')),
  stderr: appFlag(ioMode('stderr')),
  mount: {
    kind: 'string',
    set: (p, v) => {
      const m = parseMountFlag(v);
      const app = p.apps[p.apps.length - 1];
      (app === undefined ? p.mounts : app.mounts).push(m);
    },
  },
  'mnt-volume': {
    kind: 'string',
    only: 'app-add',
    set: (p, v, flag) => lastApp(p, flag).mounts.push(parseMntVolume(v)),
  },
  // pod-level
  volume: stringFlag((p, v) => {
    p.volumes.push(
      withAppc(() => parseVolumeString(v), `invalid value in --volume flag ${JSON.stringify(v)}`),
    );
  }),
  'inherit-env': boolFlag((p, v) => {
    p.inheritEnv = v;
  }),
  'set-env': stringFlag((p, v, flag) => {
    p.setEnv.push(keyValue(v, flag));
  }),
  'set-env-file': stringFlag((p, v) => {
    p.setEnvFile.push(...readEnvFile(v));
  }),
  hostname: stringFlag((p, v) => {
    p.hostname = v;
  }, 'run'),
  dns: stringFlag((p, v) => {
    p.dns.push(...v.split(','));
  }, 'run'),
  'dns-search': stringFlag((p, v) => {
    p.dnsSearch.push(...v.split(','));
  }, 'run'),
  'dns-opt': stringFlag((p, v) => {
    p.dnsOpt.push(...v.split(','));
  }, 'run'),
  'dns-domain': stringFlag((p, v) => {
    p.dnsDomain = v;
  }, 'run'),
  'hosts-entry': stringFlag((p, v) => {
    p.hostsEntries.push(...v.split(','));
  }, 'run'),
  'uuid-file-save': stringFlag((p, v) => {
    p.uuidFileSave = v;
  }),
  interactive: boolFlag((p, v) => {
    p.interactive = v;
  }, 'run'),
  'pod-manifest': stringFlag((p, v) => {
    p.podManifest = v;
  }),
  net: {
    kind: 'optional',
    noOptDefault: 'default',
    only: 'run',
    set: (p, v) => {
      p.net.push(...v.split(',').filter((s) => s !== ''));
    },
  },
  port: stringFlag((p, v) => {
    p.ports.push(v);
  }),
  'no-overlay': boolFlag((p, v) => {
    p.noOverlay = v;
  }),
  'private-users': boolFlag((p, v) => {
    // The pod's root in a user namespace of its own needs the rootfs shifted to the mapped range,
    // which the engines do not do: refuse rather than run the pod with the host's root.
    if (v)
      fail('--private-users is not supported: pods run in the host user namespace (leave it out to run)');
    p.privateUsers = v;
  }),
  'mds-register': boolFlag((p, v) => {
    p.mdsRegister = v;
  }, 'run'),
  ipc: stringFlag((p, v) => {
    if (!['auto', 'private', 'parent'].includes(v))
      fail(`invalid --ipc value ${JSON.stringify(v)}: one of auto, private, parent`);
    p.ipc = v;
  }, 'run'),
  'pull-policy': stringFlag((p, v) => {
    if (!['new', 'update', 'never'].includes(v))
      fail(`invalid --pull-policy ${JSON.stringify(v)}: expected one of new, update, never`);
    p.pullPolicy = v;
  }),
  quiet: boolFlag((p, v) => {
    p.quiet = v;
  }, 'prepare'),
  'stage1-url': stringFlag((p, v) => {
    p.stage1.url = v;
  }),
  'stage1-path': stringFlag((p, v) => {
    p.stage1.path = v;
  }),
  'stage1-name': stringFlag((p, v) => {
    p.stage1.name = v;
  }),
  'stage1-hash': stringFlag((p, v) => {
    p.stage1.hash = v;
  }),
  'stage1-from-dir': stringFlag((p, v) => {
    p.stage1.fromDir = v;
  }),
  engine: stringFlag((p, v) => {
    p.engine = v;
  }),
  'insecure-options': stringFlag((p, v) => {
    p.insecureOptions = v;
  }),
};
// rkt's deprecated spellings.
FLAGS['cap-retain'] = FLAGS['caps-retain'] as FlagSpec;
FLAGS['cap-remove'] = FLAGS['caps-remove'] as FlagSpec;
for (const g of GLOBAL_STRING)
  FLAGS[g] = stringFlag((p, v) => {
    p.globals[g] = v;
  });
for (const g of GLOBAL_BOOL)
  FLAGS[g] = {
    kind: 'optional',
    noOptDefault: 'true',
    set: (p, v, flag) => {
      p.globals[g] = String(parseBool(v, flag));
    },
  };

function newApp(image: string): AppArgs {
  return { image, environment: [], mounts: [], annotations: {} };
}

/**
 * Parses the arguments that follow `rkt run` or `rkt prepare`. Throws RocketError (exit 254) with
 * rkt's messages on a malformed command line.
 */
/** `knownVolumes`: volumes the pod has already (`rkt app add`), which mounts may name too. */
/** `appAdd`: the arguments of `rkt app add` (its own flags accepted). */
export function parseRunArgs(
  args: readonly string[],
  verb: Verb = 'run',
  knownVolumes: readonly string[] = [],
  appAdd = false,
): PodArgs {
  const p = emptyPodArgs();
  let inAppArgs = false;
  let appsAtLastArgs = 0;
  for (let i = 0; i < args.length; i++) {
    const a = args[i] as string;
    if (a === '') continue;
    if (inAppArgs) {
      if (a === '---') inAppArgs = false;
      else ((p.apps[p.apps.length - 1] as AppArgs).args ??= []).push(a);
      continue;
    }
    if (a === '--') {
      if (appsAtLastArgs === p.apps.length) {
        if (p.apps.length === 0) fail('an image is required before any app arguments');
        fail('only one set of app arguments allowed per image');
      }
      appsAtLastArgs = p.apps.length;
      inAppArgs = true;
      continue;
    }
    if (a === '---') continue;
    if (!a.startsWith('-') || a === '-') {
      p.apps.push(newApp(a));
      continue;
    }
    if (!a.startsWith('--')) fail(unknownFlagMessage(a));
    const eq = a.indexOf('=');
    const name = a.slice(2, eq < 0 ? undefined : eq);
    const spec = FLAGS[name];
    if (
      spec === undefined ||
      (spec.only === 'app-add' ? !appAdd : spec.only !== undefined && spec.only !== verb)
    )
      fail(`unknown flag: --${name}`);
    const s = spec as FlagSpec;
    let value: string;
    if (eq >= 0) {
      value = a.slice(eq + 1);
    } else if (s.kind === 'optional') {
      value = s.noOptDefault ?? 'true';
    } else {
      if (i + 1 >= args.length) fail(`flag needs an argument: --${name}`);
      value = args[++i] as string;
    }
    s.set(p, value, name);
  }
  validateArgs(p, knownVolumes);
  return p;
}

/** rkt's `Apps.Validate` and the conflicts `run`/`prepare` check before doing anything. */
function validateArgs(p: PodArgs, knownVolumes: readonly string[]): void {
  const volumes = new Set([...knownVolumes, ...p.volumes.map((v) => v.name)]);
  const check = (mounts: readonly Mount[]) => {
    for (const m of mounts) {
      if (m.appVolume !== undefined) continue;
      if (!volumes.has(m.volume))
        fail(`dangling mount point ${JSON.stringify(m.path)}: volume ${JSON.stringify(m.volume)} not found`);
    }
  };
  check(p.mounts);
  for (const app of p.apps) {
    check(app.mounts);
    if (app.capsRetain !== undefined && app.capsRemove !== undefined)
      fail('error: cannot use both --caps-retain and --caps-remove on the same image');
  }
  if (p.podManifest !== undefined) {
    // Only --net, --no-overlay and --interactive still apply with a pod manifest.
    const conflicts =
      p.apps.length > 0 ||
      p.volumes.length > 0 ||
      p.mounts.length > 0 ||
      p.ports.length > 0 ||
      p.setEnv.length > 0 ||
      p.setEnvFile.length > 0 ||
      p.inheritEnv ||
      p.pullPolicy !== 'new';
    if (conflicts) fail('conflicting flags set with --pod-manifest (see --help)');
  }
  for (const v of p.volumes) {
    if (p.volumes.filter((w) => w.name === v.name).length > 1)
      fail(`duplicate volume ${JSON.stringify(v.name)}`);
  }
  if (p.interactive && p.apps.length > 1) fail('interactive option only supports one image');
}

/** What `--help`, the man pages and completion say about a run/prepare flag. */
interface RunFlagHelp {
  description: string;
  /** The value's kind as help shows it (absent: a boolean). */
  value?: string;
  default?: string;
}

/**
 * The help of every flag FLAGS parses (rkt's global flags and the deprecated `--cap-*` spellings
 * aside): the flag table's other half. A unit test checks that both name the same flags.
 */
export const RUN_FLAG_HELP: Readonly<Record<string, RunFlagHelp>> = {
  name: {
    value: 'string',
    description: 'set the name of the app (default: the image name without its path)',
  },
  exec: { value: 'string', description: 'override the exec command for the preceding image' },
  signature: {
    value: 'string',
    description: 'local signature file to use in validating the preceding image',
  },
  user: { value: 'string', description: 'user override for the preceding image (example: "--user=user")' },
  group: {
    value: 'string',
    description: 'group override for the preceding image (example: "--group=group")',
  },
  'supplementary-gids': {
    value: 'string',
    description:
      'supplementary group IDs override for the preceding image (examples: "--supplementary-gids=1024,2048")',
  },
  'working-dir': { value: 'string', description: 'override the working directory of the preceding image' },
  'readonly-rootfs': { description: 'mount rootfs read-only' },
  environment: {
    value: 'string',
    description: 'set the app\'s environment variables (example: "--environment=foo=bar")',
  },
  memory: {
    value: 'string',
    description:
      'memory limit for the preceding image (example: "--memory=16Mi", "--memory=50M", "--memory=1G")',
  },
  cpu: { value: 'string', description: 'cpu limit for the preceding image (example: "--cpu=500m")' },
  'cpu-shares': {
    value: 'string',
    description: 'cpu-shares assigns the specified CPU time share weight (example: "--cpu-shares=2048")',
  },
  'caps-retain': {
    value: 'string',
    description: 'capability to retain (example: "--caps-retain=CAP_SYS_ADMIN")',
  },
  'caps-remove': {
    value: 'string',
    description: 'capability to remove (example: "--caps-remove=CAP_MKNOD")',
  },
  stdin: {
    value: 'string',
    description: "stdin mode for the preceding application ('null', 'tty' or 'stream')",
  },
  stdout: {
    value: 'string',
    description: "stdout mode for the preceding application ('null', 'tty', 'stream' or 'log')",
  },
  stderr: {
    value: 'string',
    description: "stderr mode for the preceding application ('null', 'tty', 'stream' or 'log')",
  },
  seccomp: {
    value: 'string',
    description: 'seccomp filter override (example: "--seccomp mode=retain,errno=EPERM,chmod,chown")',
  },
  'oom-score-adj': { value: 'string', description: 'oom-score-adj isolator override' },
  annotation: {
    value: 'string',
    description: 'set an annotation on the preceding app (example: "--annotation=foo=bar")',
  },
  'user-annotation': {
    value: 'string',
    description: 'set the app\'s annotations (example: "--user-annotation=foo=bar")',
  },
  'user-label': { value: 'string', description: 'set the app\'s labels (example: "--user-label=foo=bar")' },
  mount: { value: 'string', description: 'mount point binding a volume to a path within an app' },
  'mnt-volume': {
    value: 'string',
    description:
      "rkt app add: a volume of the app's own mounted in it (name=NAME,kind=host,source=PATH,target=PATH[,readOnly=true])",
  },
  volume: {
    value: 'string',
    description: 'volumes to mount into the pod (example: "--volume=data,kind=host,source=/srv/data")',
  },
  'inherit-env': { description: 'inherit all environment variables not set by apps' },
  'set-env': {
    value: 'string',
    description: 'environment variable to set for all the apps in the form key=value',
  },
  'set-env-file': { value: 'string', description: 'path to an environment variables file' },
  hostname: { value: 'string', description: 'pod\'s hostname (default "rkt-$PODUUID")' },
  dns: {
    value: 'string',
    description: 'name servers to write in /etc/resolv.conf ("host" copies the host\'s, "none" writes none)',
  },
  'dns-search': { value: 'string', description: 'DNS search domains to write in /etc/resolv.conf' },
  'dns-opt': { value: 'string', description: 'DNS options to write in /etc/resolv.conf' },
  'dns-domain': { value: 'string', description: 'DNS domain to write in /etc/resolv.conf' },
  'hosts-entry': {
    value: 'string',
    description: 'entries to add to the pod-wide /etc/hosts: "IP=HOSTNAME", or "host" to copy the host\'s',
  },
  'uuid-file-save': { value: 'string', description: 'write out pod UUID to specified file' },
  interactive: { description: 'run pod interactively; if true, only one image may be supplied' },
  'pod-manifest': {
    value: 'string',
    description: 'the path to the pod manifest; if it is non-empty, other flags are ignored',
  },
  net: {
    value: 'string',
    default: 'default',
    description: 'configure the pod\'s networking: a list of networks, "host" or "none"',
  },
  port: {
    value: 'string',
    description: 'ports to expose on the host (requires contained network) (example: "--port=http:8080")',
  },
  'no-overlay': { description: 'disable overlay filesystem' },
  'private-users': { description: 'run within user namespace (not supported: refused with 254)' },
  'mds-register': {
    description: 'register pod with metadata service (default: when the service is running)',
  },
  ipc: { value: 'string', default: 'auto', description: 'IPC namespace: "auto", "private" or "parent"' },
  'pull-policy': {
    value: 'string',
    default: 'new',
    description: 'when to fetch an image: "new" (not in the store), "update" (always) or "never"',
  },
  quiet: { description: 'suppress superfluous output on stdout, print only the UUID on success' },
  'stage1-url': { value: 'string', description: 'URL to an image to use as stage1' },
  'stage1-path': { value: 'string', description: 'absolute or relative path to an image to use as stage1' },
  'stage1-name': {
    value: 'string',
    description: 'name of an image to use as stage1 (ours: oci, oci-crun, oci-runc, fly)',
  },
  'stage1-hash': { value: 'string', description: 'hash of an image to use as stage1' },
  'stage1-from-dir': {
    value: 'string',
    description: 'filename of an image in stage1 images directory to use as stage1',
  },
  engine: {
    value: 'string',
    description:
      'the stage1 engine that runs the pod: oci (crun or runc), oci-crun, oci-runc, fly, nspawn (systemd-nspawn) or kvm (a VM per pod)',
  },
};

/** The run-time flags `run-prepared` takes (parsed as `run`'s). */
export const RUN_PREPARED_FLAGS: readonly string[] = [
  'dns',
  'dns-domain',
  'dns-opt',
  'dns-search',
  'hostname',
  'hosts-entry',
  'interactive',
  'mds-register',
  'net',
  'no-overlay',
  'engine',
  'stage1-name',
];

/** The flags of `rkt run`/`prepare` (or a subset) for help, man pages and completion. */
export function runFlagDocs(
  verb: Verb,
  only?: readonly string[],
): { name: string; value?: string; noOptValue?: string; description: string; default?: string }[] {
  return Object.entries(FLAGS)
    .filter(([name, spec]) => {
      const help = RUN_FLAG_HELP[name];
      return (
        help !== undefined &&
        (spec.only === undefined || spec.only === verb) &&
        (only?.includes(name) ?? true)
      );
    })
    .sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0))
    .map(([name, spec]) => {
      const help = RUN_FLAG_HELP[name] as RunFlagHelp;
      const value = help.value ?? (spec.kind === 'optional' ? 'bool' : undefined);
      return {
        name,
        description: help.description,
        ...(value !== undefined && !(spec.kind === 'optional' && value === 'bool') ? { value } : {}),
        ...(spec.kind === 'optional' && help.value !== undefined
          ? { noOptValue: spec.noOptDefault ?? 'true' }
          : {}),
        ...(help.default !== undefined ? { default: help.default } : {}),
      };
    });
}

/** The names FLAGS parses that are rkt's run flags (not its globals nor deprecated spellings). */
export function runFlagNames(): string[] {
  return Object.keys(FLAGS).filter(
    (n) =>
      !GLOBAL_STRING.includes(n) &&
      !GLOBAL_BOOL.includes(n) &&
      n !== 'insecure-options' &&
      !n.startsWith('cap-'),
  );
}
