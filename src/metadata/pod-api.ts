/**
 * The API pods see, under `AC_METADATA_URL` = `http://<host address>:<port>/<token>`: every entry of
 * spec/ace.md's metadata service below `/<token>/acMetadata/v1`, plus rkt's single-annotation
 * lookups (`.../annotations/<name>`, text). A request is answered only when its token names a
 * registered pod that is running and it comes from one of that pod's addresses (loopback for a
 * pod on the host's network): 401 for an unknown token or a pod that is not running, 403 for a
 * known token from another address. The signature scheme is in identity.ts.
 */
import { parseUUID } from '../appc/index.js';
import { FormError, isFormContentType, parseForm } from './form.js';
import {
  JSON_TYPE,
  TEXT_TYPE,
  json,
  methodNotAllowed,
  text,
  type ApiRequest,
  type ApiResponse,
} from './http-types.js';
import { decodeBase64Strict, signContent, signatureMatches } from './identity.js';
import type { Liveness } from './liveness.js';
import { mergedAppAnnotations, type PodRegistration } from './registry.js';

/** `::ffff:10.0.0.2` (an IPv4 peer of a dual-stack socket) → `10.0.0.2`. */
export function normalizeAddress(addr: string): string {
  const m = /^::ffff:(\d+\.\d+\.\d+\.\d+)$/i.exec(addr);
  return m?.[1] ?? addr.toLowerCase();
}

export function isLoopback(addr: string): boolean {
  const a = normalizeAddress(addr);
  return a === '::1' || /^127\.\d+\.\d+\.\d+$/.test(a);
}

const GET = ['GET', 'HEAD'];
const POST = ['POST'];

export class PodApi {
  constructor(private readonly live: Liveness) {}

  /** Pending pods (registered, not started) stay registered but are not answered for. */
  private running(reg: PodRegistration): boolean {
    return this.live.check(reg) === 'running';
  }

  /** Whether `source` is one of the pod's addresses, as registered and as its pod dir says now. */
  private fromPod(reg: PodRegistration, source: string): boolean {
    if (reg.hostNetwork) return isLoopback(source);
    const addr = normalizeAddress(source);
    return reg.ips.includes(addr) && this.live.probe.addresses(reg.dataDir, reg.uuid).includes(addr);
  }

  handle(req: ApiRequest): ApiResponse {
    const path = req.url.split('?', 1)[0] ?? '';
    const [empty, token, ac, v1, ...rest] = path.split('/');
    if (empty !== '' || token === undefined || ac !== 'acMetadata' || v1 !== 'v1')
      return text(404, 'not found\n');
    const reg = this.live.registry.withToken(token);
    if (reg === undefined || !this.running(reg)) return text(401, 'unknown pod\n');
    if (!this.fromPod(reg, req.source)) return text(403, 'not this pod\n');
    let segments: string[];
    try {
      segments = rest.map((s) => decodeURIComponent(s));
    } catch {
      return text(400, 'malformed path\n');
    }
    return this.route(reg, req, segments);
  }

  private route(reg: PodRegistration, req: ApiRequest, p: string[]): ApiResponse {
    const only = (methods: string[], answer: () => ApiResponse): ApiResponse =>
      methods.includes(req.method) ? answer() : methodNotAllowed(methods);
    const [area, a1, a2, ...more] = p;
    if (area === 'pod') {
      if (a1 === 'manifest' && a2 === undefined)
        return only(GET, () => ({ status: 200, contentType: JSON_TYPE, body: reg.podManifestText }));
      if (a1 === 'uuid' && a2 === undefined) return only(GET, () => text(200, reg.uuid));
      // As the manifest has them: `null` when it has none, so that the two read back equal.
      if (a1 === 'annotations' && a2 === undefined)
        return only(GET, () => json(200, reg.podManifest.annotations ?? null));
      if (a1 === 'annotations' && a2 !== undefined)
        return only(GET, () => annotation(reg.podManifest.annotations ?? [], [a2, ...more].join('/')));
      if (a1 === 'hmac' && a2 === 'sign' && more.length === 0) return only(POST, () => this.sign(reg, req));
      if (a1 === 'hmac' && a2 === 'verify' && more.length === 0) return only(POST, () => this.verify(req));
    }
    if (area === 'apps' && a1 !== undefined && a2 !== undefined) {
      const app = reg.apps.get(a1);
      if (app === undefined) return text(404, `no app ${JSON.stringify(a1)} in this pod\n`);
      if (a2 === 'annotations' && more.length === 0)
        return only(GET, () => json(200, mergedAppAnnotations(app)));
      if (a2 === 'annotations') return only(GET, () => annotation(mergedAppAnnotations(app), more.join('/')));
      if (a2 === 'image' && more.length === 1 && more[0] === 'manifest')
        return only(GET, () => ({ status: 200, contentType: JSON_TYPE, body: app.imageManifestText }));
      if (a2 === 'image' && more.length === 1 && more[0] === 'id')
        return only(GET, () => text(200, app.imageId));
    }
    return text(404, 'not found\n');
  }

  private form(req: ApiRequest): Map<string, Buffer> | ApiResponse {
    if (!isFormContentType(req.contentType))
      return text(415, 'expected a form (application/x-www-form-urlencoded)\n');
    try {
      return parseForm(req.body);
    } catch (err) {
      if (err instanceof FormError) return text(400, `malformed form: ${err.message}\n`);
      throw err;
    }
  }

  /** `POST .../pod/hmac/sign` with `content`: base64 of the caller pod's HMAC, no newline. */
  private sign(reg: PodRegistration, req: ApiRequest): ApiResponse {
    const form = this.form(req);
    if (!(form instanceof Map)) return form;
    const content = form.get('content');
    if (content === undefined) return text(400, 'content form value not found\n');
    return text(200, signContent(reg.key, reg.uuid, content));
  }

  /**
   * `POST .../pod/hmac/verify` with `content`, `uuid` (the signer) and `signature`: 200 when the
   * pod named by `uuid` is running and made that signature, 403 otherwise, 400 for a malformed form.
   */
  private verify(req: ApiRequest): ApiResponse {
    const form = this.form(req);
    if (!(form instanceof Map)) return form;
    const content = form.get('content');
    const uuidField = form.get('uuid');
    const sigField = form.get('signature');
    if (content === undefined) return text(400, 'content form value not found\n');
    if (uuidField === undefined) return text(400, 'uuid form value not found\n');
    if (sigField === undefined) return text(400, 'signature form value not found\n');
    let uuid: string;
    try {
      uuid = parseUUID(uuidField.toString('latin1'));
    } catch (err) {
      return text(400, `uuid: ${(err as Error).message}\n`);
    }
    const signature = decodeBase64Strict(sigField.toString('latin1'));
    if (signature === undefined) return text(400, 'signature: not standard base64\n');
    const signer = this.live.registry.withUuid(uuid);
    if (signer === undefined || !this.running(signer)) return text(403, 'signature not verified\n');
    return signatureMatches(signer.key, signer.uuid, content, signature)
      ? text(200, '')
      : text(403, 'signature not verified\n');
  }
}

function annotation(list: readonly { name: string; value: string }[], name: string): ApiResponse {
  const found = list.find((a) => a.name === name);
  return found === undefined
    ? text(404, `no annotation ${JSON.stringify(name)}\n`)
    : { status: 200, contentType: TEXT_TYPE, body: found.value };
}
