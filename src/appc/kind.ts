import { appcError } from './errors.js';
import type { JsonValue } from './types.js';

/** Parses JSON text, reporting a syntax error as an AppcError. */
export function parseJsonText(text: string, source?: string): JsonValue {
  try {
    return JSON.parse(text) as JsonValue;
  } catch (err) {
    throw appcError('', `invalid JSON: ${err instanceof Error ? err.message : String(err)}`, source);
  }
}

/** Which manifest a JSON document is, from its `acKind`. */
export function manifestKind(text: string, source?: string): 'ImageManifest' | 'PodManifest' {
  const doc = parseJsonText(text, source);
  if (doc === null || typeof doc !== 'object' || Array.isArray(doc)) {
    throw appcError('', 'manifest must be a JSON object', source);
  }
  const kind = doc['acKind'];
  if (kind === 'ImageManifest' || kind === 'PodManifest') return kind;
  if (kind === undefined) throw appcError('acKind', 'is required', source);
  throw appcError('acKind', `bad ACKind ${JSON.stringify(kind)}`, source);
}
