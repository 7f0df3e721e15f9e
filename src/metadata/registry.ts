/**
 * The service's registrations: what stage0 sends when a pod registers (checked here), and the
 * in-memory table of registered pods by token and by UUID. Registrations live as long as the
 * service process; a restarted service knows no pod until pods register again.
 */
import { isAbsolute } from 'node:path';
import {
  parseImageManifest,
  parsePodManifest,
  parseUUID,
  type Annotation,
  type ImageManifest,
  type PodManifest,
  type RuntimeApp,
} from '../appc/index.js';
import { errorMessage } from '../errors.js';
import { newPodKey, newPodToken } from './identity.js';
import { bareAddress } from './pod-probe.js';

export class RegistrationError extends Error {}

export interface RegisteredApp {
  runtime: RuntimeApp;
  imageId: string;
  /** The image manifest exactly as registered (the spec's "original image manifest"). */
  imageManifestText: string;
  imageManifest: ImageManifest;
}

/** A registration request, checked. */
export interface PodDescription {
  uuid: string;
  /** The rkt data dir holding `pods/<state>/<uuid>`, where liveness is checked. */
  dataDir: string;
  /** The pod's addresses; empty when it shares the host's network (then only loopback may ask). */
  ips: string[];
  hostNetwork: boolean;
  podManifestText: string;
  podManifest: PodManifest;
  apps: Map<string, RegisteredApp>;
}

export interface PodRegistration extends PodDescription {
  token: string;
  key: Buffer;
}

function fail(message: string): never {
  throw new RegistrationError(message);
}

function stringField(doc: Record<string, unknown>, name: string): string {
  const v = doc[name];
  if (typeof v !== 'string') fail(`${name}: must be a string`);
  return v;
}

/**
 * Checks a registration body: `{"dataDir", "podManifest", "imageManifests": {app: text},
 * "ips": [...]}` or `"hostNetwork": true` instead of `ips`. Manifests are sent as their text, so the
 * service serves them byte for byte.
 */
export function parsePodDescription(uuidText: string, body: string): PodDescription {
  let uuid: string;
  try {
    uuid = parseUUID(uuidText);
  } catch (err) {
    return fail(errorMessage(err));
  }
  if (uuid !== uuidText) fail(`UUID ${JSON.stringify(uuidText)} is not in canonical form (${uuid})`);
  let doc: unknown;
  try {
    doc = JSON.parse(body);
  } catch (err) {
    return fail(`invalid JSON: ${errorMessage(err)}`);
  }
  if (typeof doc !== 'object' || doc === null || Array.isArray(doc)) fail('the body must be a JSON object');
  const o = doc as Record<string, unknown>;
  for (const k of Object.keys(o))
    if (!['dataDir', 'podManifest', 'imageManifests', 'ips', 'hostNetwork'].includes(k))
      fail(`${k}: unknown field`);

  const dataDir = stringField(o, 'dataDir');
  if (!isAbsolute(dataDir)) fail('dataDir: must be an absolute path');

  const hostNetwork = o['hostNetwork'] ?? false;
  if (typeof hostNetwork !== 'boolean') fail('hostNetwork: must be a boolean');
  const ipsRaw = o['ips'] ?? [];
  if (!Array.isArray(ipsRaw)) fail('ips: must be an array of IP addresses');
  const ips = ipsRaw.map((ip: unknown, i) => {
    const a = typeof ip === 'string' && !ip.includes('/') ? bareAddress(ip) : undefined;
    return a ?? fail(`ips[${i}]: not an IP address`);
  });
  if (hostNetwork && ips.length > 0) fail('ips: must be absent with hostNetwork');
  if (!hostNetwork && ips.length === 0) fail('ips: the pod needs an address (or hostNetwork)');

  return { uuid, dataDir, ips, hostNetwork, ...parseApps(o) };
}

/** The pod manifest and the apps' image manifests of a registration (or of an update of its apps). */
function parseApps(
  o: Record<string, unknown>,
): Pick<PodDescription, 'podManifestText' | 'podManifest' | 'apps'> {
  const podManifestText = stringField(o, 'podManifest');
  let podManifest: PodManifest;
  try {
    podManifest = parsePodManifest(podManifestText, 'podManifest').manifest;
  } catch (err) {
    return fail(errorMessage(err));
  }
  const images = o['imageManifests'];
  if (typeof images !== 'object' || images === null || Array.isArray(images))
    fail('imageManifests: must be an object of app name to image manifest text');
  const imageTexts = images as Record<string, unknown>;
  const apps = new Map<string, RegisteredApp>();
  for (const ra of podManifest.apps) {
    const text = imageTexts[ra.name];
    if (typeof text !== 'string') fail(`imageManifests.${ra.name}: missing (app of the pod manifest)`);
    if (ra.image.id === undefined) fail(`podManifest: app ${ra.name}: the image has no id (not reified)`);
    let imageManifest: ImageManifest;
    try {
      imageManifest = parseImageManifest(text, `imageManifests.${ra.name}`).manifest;
    } catch (err) {
      return fail(errorMessage(err));
    }
    apps.set(ra.name, { runtime: ra, imageId: ra.image.id, imageManifestText: text, imageManifest });
  }
  for (const name of Object.keys(imageTexts))
    if (!apps.has(name)) fail(`imageManifests.${name}: no such app in the pod manifest`);
  return { podManifestText, podManifest, apps };
}

/**
 * Checks the body of an update of a registered pod's apps (`rkt app add` and `rkt app rm`):
 * `{"podManifest", "imageManifests": {app: text}}`, the pod's whole app list as it is now.
 */
export function parseAppsUpdate(
  body: string,
): Pick<PodDescription, 'podManifestText' | 'podManifest' | 'apps'> {
  let doc: unknown;
  try {
    doc = JSON.parse(body);
  } catch (err) {
    return fail(`invalid JSON: ${errorMessage(err)}`);
  }
  if (typeof doc !== 'object' || doc === null || Array.isArray(doc)) fail('the body must be a JSON object');
  const o = doc as Record<string, unknown>;
  for (const k of Object.keys(o))
    if (!['podManifest', 'imageManifests'].includes(k)) fail(`${k}: unknown field`);
  return parseApps(o);
}

/**
 * The annotations an app sees: its image's, overridden (in place) and extended by the pod
 * manifest's annotations for the app, as the spec's "merged" reads.
 */
export function mergedAppAnnotations(app: RegisteredApp): Annotation[] {
  const merged = (app.imageManifest.annotations ?? []).map((a) => ({ ...a }));
  for (const a of app.runtime.annotations ?? []) {
    const same = merged.find((m) => m.name === a.name);
    if (same !== undefined) same.value = a.value;
    else merged.push({ ...a });
  }
  return merged;
}

export class Registry {
  private readonly byToken = new Map<string, PodRegistration>();
  private readonly byUuid = new Map<string, PodRegistration>();

  /** Registers a pod with a new token and key, replacing an earlier registration of its UUID. */
  add(pod: PodDescription): PodRegistration {
    this.remove(pod.uuid);
    const reg: PodRegistration = { ...pod, token: newPodToken(), key: newPodKey() };
    this.byToken.set(reg.token, reg);
    this.byUuid.set(reg.uuid, reg);
    return reg;
  }

  remove(uuid: string): boolean {
    const reg = this.byUuid.get(uuid);
    if (reg === undefined) return false;
    this.byUuid.delete(uuid);
    this.byToken.delete(reg.token);
    return true;
  }

  /**
   * Replaces a registered pod's manifest and apps, keeping its token and key (apps added to or
   * removed from a running sandbox); undefined when the pod is not registered.
   */
  updateApps(
    uuid: string,
    apps: Pick<PodDescription, 'podManifestText' | 'podManifest' | 'apps'>,
  ): PodRegistration | undefined {
    const reg = this.byUuid.get(uuid);
    if (reg === undefined) return undefined;
    reg.podManifestText = apps.podManifestText;
    reg.podManifest = apps.podManifest;
    reg.apps = apps.apps;
    return reg;
  }

  withToken(token: string): PodRegistration | undefined {
    return this.byToken.get(token);
  }

  withUuid(uuid: string): PodRegistration | undefined {
    return this.byUuid.get(uuid);
  }

  all(): PodRegistration[] {
    return [...this.byUuid.values()];
  }
}
