/**
 * Stage0's side of the metadata service: registering a pod before its plan is handed off, and the
 * shell command with which the plan's teardown unregisters it. Stage0's engine code is synchronous
 * (it ends by handing a plan to the launcher), so the request over the unix socket is made with
 * curl, as the teardown's is.
 *
 * `--mds-register` decides: absent, the pod registers when a service's socket is there and runs
 * without metadata (empty AC_METADATA_URL, a warning) if that fails; `true` makes `rkt run` fail
 * when no service answers (and refuses `--net=none`, as rkt), checked before the pod's networks are
 * set up; `false` never registers. Registration itself needs the pod's addresses, so it happens
 * after the networks are up, when failing would leave them behind: from then on a failure is a
 * warning.
 */
import { lstatSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { RKT_FAILURE, RocketError, errorMessage } from '../errors.js';
import { stderrLine } from '../stderr.js';
import { readNetInfo } from '../net/info.js';
import { parsePodManifest } from '../appc/index.js';
import { POD_FILES, writeFileAtomic } from '../pod/index.js';
import { host } from '../host/index.js';
import { registrationSocket } from './defaults.js';
import { bareAddress } from './pod-probe.js';

export interface RegisterRequest {
  dataDir: string;
  uuid: string;
  /** The pod dir as stage0 sees it (prepared/), holding `pod`, `appsinfo/` and `net-info.json`. */
  podDir: string;
  /** `none`, `host`, or anything else for CNI networks (addresses in `net-info.json`). */
  net: string;
  /** `--mds-register`: undefined = when a service is there. */
  mode: boolean | undefined;
  socket?: string;
}

/** A word for sh: kept bare when safe, else single-quoted. */
function shWord(s: string): string {
  return /^[A-Za-z0-9_@%+=:,./-]+$/.test(s) ? s : `'${s.replace(/'/g, `'\\''`)}'`;
}

function curlArgs(socket: string, method: string, uuid: string, suffix = ''): string[] {
  const target = uuid === '' ? 'http://localhost/pods' : `http://localhost/pods/${uuid}${suffix}`;
  return ['--unix-socket', socket, '-sS', '--max-time', '10', '-X', method, target];
}

function socketExists(socket: string): boolean {
  try {
    return lstatSync(socket).isSocket();
  } catch {
    return false;
  }
}

/** The pod's addresses and the host address its apps reach the service on. */
function endpoints(req: RegisterRequest): { ips: string[]; host: string } | string {
  if (req.net === 'host') return { ips: [], host: '127.0.0.1' };
  const nets = readNetInfo(req.podDir);
  const ips = nets.flatMap((n) => {
    const a = bareAddress(n.ip);
    return a === undefined ? [] : [a];
  });
  const host = bareAddress(nets[0]?.hostIP ?? '');
  if (ips.length === 0 || host === undefined)
    return `the pod has no address on a network that reaches the host (${path.join(req.podDir, 'net-info.json')})`;
  return { ips, host };
}

/** The pod manifest and its apps' image manifests, as texts from the pod dir's files. */
function appsBody(podDir: string): { podManifest: string; imageManifests: Record<string, string> } {
  const podManifest = readFileSync(path.join(podDir, POD_FILES.manifest), 'utf8');
  const imageManifests: Record<string, string> = {};
  for (const ra of parsePodManifest(podManifest).manifest.apps)
    imageManifests[ra.name] = readFileSync(
      path.join(podDir, POD_FILES.appsInfo, ra.name, 'manifest'),
      'utf8',
    );
  return { podManifest, imageManifests };
}

/** The registration body (registry.ts's parsePodDescription), from the pod dir's files. */
function registrationBody(req: RegisterRequest, ips: string[]): string {
  return JSON.stringify({
    dataDir: path.resolve(req.dataDir),
    ...appsBody(req.podDir),
    ...(req.net === 'host' ? { hostNetwork: true } : { ips }),
  });
}

/** PUT /pods/<uuid>[suffix] through curl: the token and port, or why not ('404' if not registered). */
function put(
  socket: string,
  uuid: string,
  body: string,
  suffix = '',
): { token: string; port: number } | string {
  const r = host().curl.run(
    [
      ...curlArgs(socket, 'PUT', uuid, suffix),
      '-H',
      'Content-Type: application/json',
      '--data-binary',
      '@-',
      '-w',
      '\n%{http_code}',
    ],
    { input: body, timeoutMs: 15_000 },
  );
  if (r.error !== undefined) return `cannot run curl: ${r.error.message}`;
  if (r.status !== 0) return r.stderr.trim() || `curl exited with status ${r.status}`;
  const cut = r.stdout.lastIndexOf('\n');
  const status = r.stdout.slice(cut + 1);
  const text = r.stdout.slice(0, cut);
  if (status === '404') return '404';
  if (status !== '200') return `the service answered ${status}: ${text.trim()}`;
  try {
    const v = JSON.parse(text) as { token?: unknown; port?: unknown };
    if (typeof v.token === 'string' && /^[0-9a-f]+$/.test(v.token) && typeof v.port === 'number')
      return { token: v.token, port: v.port };
  } catch {
    // reported below
  }
  return `unexpected answer from the service: ${text.trim()}`;
}

/** A registration decided on before the networks are set up, made once they are. */
export interface PendingRegistration {
  /**
   * Registers the pod (its addresses are in `net-info.json` by now). Never throws: the networks
   * are up, and a pod without metadata is better than a half-started one; a failure is a warning.
   * Returns the apps' AC_METADATA_URL and the supervisor's unregister command ('' and '' if not
   * registered), and `undo`, which unregisters at once (the pod did not start after all).
   */
  register(): Registration;
}

export interface Registration {
  url: string;
  unregister: string;
  undo(): void;
}

/**
 * Decides whether the pod registers (see the module comment). With `--mds-register=true`, checks
 * now, before anything is set up, that the service answers, and throws if not.
 */
export function metadataRegistration(req: RegisterRequest): PendingRegistration | undefined {
  if (req.mode === false) return undefined;
  if (req.net === 'none') {
    if (req.mode === true)
      throw new RocketError(
        "--mds-register flag does not work with --net=none. Please use 'host', 'default' or an equivalent network",
        RKT_FAILURE,
      );
    return undefined;
  }
  const socket = registrationSocket(req.socket);
  if (req.mode === undefined && !socketExists(socket)) return undefined;
  if (req.mode === true) {
    const why = ping(socket);
    if (why !== undefined)
      throw new RocketError(
        `failed to register the pod with the metadata service on ${socket}: ${why} (start it with \`rkt metadata-service\`, or run with --mds-register=false)`,
        RKT_FAILURE,
      );
  }
  return {
    register() {
      try {
        const registered = registerPod(req, socket);
        return {
          ...registered,
          undo: () => void host().curl.run([...curlArgs(socket, 'DELETE', req.uuid), '-o', '/dev/null']),
        };
      } catch (err) {
        stderrLine(
          `run: warning: pod not registered with the metadata service, AC_METADATA_URL stays empty (${errorMessage(err)})`,
        );
        return { url: '', unregister: '', undo: () => undefined };
      }
    },
  };
}

/** GET /pods: undefined when the service answers, else why not. */
function ping(socket: string): string | undefined {
  if (!socketExists(socket)) return 'no service socket';
  const r = host().curl.run([...curlArgs(socket, 'GET', ''), '-o', '/dev/null', '-w', '%{http_code}'], {
    timeoutMs: 15_000,
  });
  if (r.error !== undefined) return `cannot run curl: ${r.error.message}`;
  if (r.status !== 0) return r.stderr.trim() || `curl exited with status ${r.status}`;
  return r.stdout === '200' ? undefined : `the service answered ${r.stdout}`;
}

/** PUT /pods/<uuid>; throws with the reason on failure. */
function registerPod(req: RegisterRequest, socket: string): { url: string; unregister: string } {
  const ep = endpoints(req);
  if (typeof ep === 'string') throw new Error(ep);
  const answer = put(socket, req.uuid, registrationBody(req, ep.ips));
  if (answer === '404')
    throw new Error(`pod ${req.uuid} is neither prepared nor running under ${path.resolve(req.dataDir)}`);
  if (typeof answer === 'string') throw new Error(answer);
  const host = ep.host.includes(':') ? `[${ep.host}]` : ep.host;
  return {
    url: `http://${host}:${answer.port}/${answer.token}`,
    unregister: `${['curl', ...curlArgs(socket, 'DELETE', req.uuid), '-o', '/dev/null'].map(shWord).join(' ')} >/dev/null 2>&1`,
  };
}

export interface AppsUpdateRequest {
  uuid: string;
  /** The running pod's dir, its manifest already rewritten. */
  podDir: string;
  hostNetwork: boolean;
  socket?: string;
}

/**
 * `rkt app add` and `rkt app rm` on a running pod: tells the metadata service the pod's apps as
 * they are now (the token stays), so that an added app gets the pod's identity and a removed one
 * loses it, and sets AC_METADATA_URL in the given OCI configs (those of an added app). A pod that
 * is not registered (no service, `--mds-register=false`, `--net=none`) leaves the URL empty, as its
 * other apps have it. Never throws: a failure is a warning, and the URL stays empty. The configs
 * come with the URL empty (the engine writes them so), so an empty URL rewrites none of them.
 */
export function updateRegisteredApps(req: AppsUpdateRequest, configFiles: readonly string[]): void {
  const socket = registrationSocket(req.socket);
  let url = '';
  if (socketExists(socket)) {
    try {
      const answer = put(socket, req.uuid, JSON.stringify(appsBody(req.podDir)), '/apps');
      if (answer !== '404') {
        if (typeof answer === 'string') throw new Error(answer);
        const ep = endpoints({
          dataDir: '',
          uuid: req.uuid,
          podDir: req.podDir,
          net: req.hostNetwork ? 'host' : 'cni',
          mode: undefined,
        });
        if (typeof ep === 'string') throw new Error(ep);
        const host = ep.host.includes(':') ? `[${ep.host}]` : ep.host;
        url = `http://${host}:${answer.port}/${answer.token}`;
      }
    } catch (err) {
      stderrLine(
        `warning: the metadata service did not take the pod's apps, AC_METADATA_URL stays empty (${errorMessage(err)})`,
      );
    }
  }
  if (url !== '') for (const file of configFiles) setMetadataUrl(file, url);
}

/** Sets AC_METADATA_URL in an OCI config's process environment (rewritten through a temp file). */
export function setMetadataUrl(configFile: string, url: string): void {
  const config = JSON.parse(readFileSync(configFile, 'utf8')) as { process?: { env?: string[] } };
  const proc = config.process ?? (config.process = {});
  const env = (proc.env ?? []).filter((e) => !e.startsWith('AC_METADATA_URL='));
  env.push(`AC_METADATA_URL=${url}`);
  proc.env = env;
  writeFileAtomic(configFile, JSON.stringify(config, null, 2), 0o644);
}
