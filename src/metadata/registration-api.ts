/**
 * The registration API on the service's unix socket (root only: mode 0600 in a 0700 directory).
 * Stage0 registers a pod before handing it to its supervisor; the supervisor's teardown
 * unregisters it (and the service forgets pods that stopped running in any case):
 *
 * - `PUT /pods/<uuid>`, a JSON body (see parsePodDescription) → 200 `{"token", "port"}`: the app
 *   URL is `http://<host address on the pod's first network>:<port>/<token>`. The pod must exist,
 *   prepared or running, under the given data dir. Registering a UUID again replaces the earlier
 *   registration (new token, new key).
 * - `PUT /pods/<uuid>/apps`, `{"podManifest", "imageManifests"}` (the pod's apps as they are now,
 *   after `rkt app add` or `rkt app rm`) → 200 `{"token", "port"}`, the token unchanged: an added
 *   app gets the pod's identity, a removed one loses it. 404 if the pod is not registered.
 * - `DELETE /pods/<uuid>` → 200, or 404 if it was not registered.
 * - `GET /pods` → the registered pods (no tokens or keys), after forgetting those gone.
 */
import { json, methodNotAllowed, text, type ApiRequest, type ApiResponse } from './http-types.js';
import type { Liveness } from './liveness.js';
import { RegistrationError, parseAppsUpdate, parsePodDescription } from './registry.js';

export class RegistrationApi {
  constructor(
    private readonly live: Liveness,
    /** The TCP port pods reach the service on (the real one when listening on port 0). */
    private readonly port: () => number,
    private readonly log: (line: string) => void = () => {},
  ) {}

  handle(req: ApiRequest): ApiResponse {
    const path = req.url.split('?', 1)[0] ?? '';
    if (path === '/pods') return req.method === 'GET' ? this.list() : methodNotAllowed(['GET']);
    const a = /^\/pods\/([^/]+)\/apps$/.exec(path);
    if (a !== null)
      return req.method === 'PUT' ? this.updateApps(a[1] as string, req.body) : methodNotAllowed(['PUT']);
    const m = /^\/pods\/([^/]+)$/.exec(path);
    if (m === null) return text(404, 'not found\n');
    const uuid = m[1] as string;
    if (req.method === 'PUT') return this.register(uuid, req.body);
    if (req.method === 'DELETE') {
      if (!this.live.registry.remove(uuid)) return text(404, `pod ${uuid} is not registered\n`);
      this.log(`unregistered pod ${uuid}`);
      return text(200, '');
    }
    return methodNotAllowed(['PUT', 'DELETE']);
  }

  private register(uuid: string, body: Buffer): ApiResponse {
    let pod;
    try {
      pod = parsePodDescription(uuid, body.toString('utf8'));
    } catch (err) {
      if (err instanceof RegistrationError) return text(400, `registration of pod ${uuid}: ${err.message}\n`);
      throw err;
    }
    if (this.live.probe.presence(pod.dataDir, pod.uuid) === 'gone')
      return text(404, `pod ${pod.uuid} is neither prepared nor running under ${pod.dataDir}\n`);
    this.live.sweep();
    const reg = this.live.registry.add(pod);
    this.log(
      `registered pod ${reg.uuid} (${reg.hostNetwork ? "host's network" : reg.ips.join(', ')}), ${reg.apps.size} app(s)`,
    );
    return json(200, { token: reg.token, port: this.port() });
  }

  private updateApps(uuid: string, body: Buffer): ApiResponse {
    if (this.live.registry.withUuid(uuid) === undefined) return text(404, `pod ${uuid} is not registered\n`);
    let apps;
    try {
      apps = parseAppsUpdate(body.toString('utf8'));
    } catch (err) {
      if (err instanceof RegistrationError) return text(400, `apps of pod ${uuid}: ${err.message}\n`);
      throw err;
    }
    const reg = this.live.registry.updateApps(uuid, apps);
    if (reg === undefined) return text(404, `pod ${uuid} is not registered\n`);
    this.log(`pod ${uuid} now has ${reg.apps.size} app(s): ${[...reg.apps.keys()].join(', ')}`);
    return json(200, { token: reg.token, port: this.port() });
  }

  private list(): ApiResponse {
    const presence = new Map(this.live.sweep().map((p) => [p.uuid, p.presence]));
    return json(
      200,
      this.live.registry.all().map((r) => ({
        uuid: r.uuid,
        dataDir: r.dataDir,
        ips: r.ips,
        hostNetwork: r.hostNetwork,
        apps: [...r.apps.keys()],
        presence: presence.get(r.uuid),
      })),
    );
  }
}
