/** Image manifests (spec/aci.md "Image Manifest Schema"). */
import { APPC_SPEC_VERSION_STRING } from './version.js';
import {
  readAnnotations,
  readAbsolutePath,
  readACIdentifier,
  readApp,
  readDependency,
  readLabels,
} from './fields.js';
import { parseJsonText } from './kind.js';
import { Reader, optional, optionalList, required } from './reader.js';
import { goJSON, imageManifestObject } from './serialize.js';
import type { ImageManifest, JsonValue, ParsedImageManifest } from './types.js';
import { readAcVersion } from './version.js';

/** Checks an already-parsed JSON value as an image manifest. */
export function readImageManifest(r: Reader, doc: JsonValue): ImageManifest {
  const o = r.object(doc, '');
  const acKind = required(r, o, 'acKind', '', (v, p) => r.string(v, p));
  if (acKind !== 'ImageManifest') r.fail('acKind', `must be "ImageManifest", got ${JSON.stringify(acKind)}`);
  const m: ImageManifest = {
    acKind,
    acVersion: required(r, o, 'acVersion', '', (v, p) => readAcVersion(r, v, p)),
    name: required(r, o, 'name', '', (v, p) => readACIdentifier(r, v, p)),
  };
  const labels = readLabels(r, o, '');
  if (labels) m.labels = labels;
  const app = optional(o, 'app', '', (v, p) => readApp(r, v, p));
  if (app) m.app = app;
  const annotations = readAnnotations(r, o, '');
  if (annotations) m.annotations = annotations;
  const dependencies = optionalList(r, o, 'dependencies', '', (v, p) => readDependency(r, v, p));
  if (dependencies) m.dependencies = dependencies;
  // The spec says absolute paths; the reference accepts anything.
  const pathWhitelist = optionalList(r, o, 'pathWhitelist', '', (v, p) => readAbsolutePath(r, v, p));
  if (pathWhitelist) m.pathWhitelist = pathWhitelist;
  return m;
}

/** Parses and validates an image manifest; throws AppcError (`<source>: <json path>: <reason>`). */
export function parseImageManifest(text: string, source?: string): ParsedImageManifest {
  const r = new Reader(source);
  const manifest = readImageManifest(r, parseJsonText(text, source));
  return { manifest, warnings: r.warnings };
}

/**
 * Canonical JSON of an image manifest (the reference's key order, compact, or 4-space indented with
 * `pretty`). The manifest is validated first, like the reference does before writing.
 */
export function imageManifestToJSON(m: ImageManifest, opts: { pretty?: boolean } = {}): string {
  const obj = imageManifestObject(m);
  readImageManifest(new Reader(), obj);
  return goJSON(obj, opts.pretty === true);
}

/** A new minimal image manifest at our spec version. */
export function blankImageManifest(name: string): ImageManifest {
  return { acKind: 'ImageManifest', acVersion: APPC_SPEC_VERSION_STRING, name };
}
