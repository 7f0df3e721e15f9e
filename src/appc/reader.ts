/**
 * A small checked reader over parsed JSON. Every accessor takes the JSON path of the value it reads,
 * so every error names the exact field (`app.ports[0].port: must be an integer, got "80"`).
 */
import { appcError } from './errors.js';
import type { JsonValue } from './types.js';

export type JsonObject = { [key: string]: JsonValue };

/** `path.key`, or just `key` at the root. */
export function at(path: string, key: string): string {
  return path === '' ? key : `${path}.${key}`;
}

export function index(path: string, i: number): string {
  return `${path}[${i}]`;
}

function describe(v: JsonValue): string {
  if (v === null) return 'null';
  if (Array.isArray(v)) return 'an array';
  if (typeof v === 'object') return 'an object';
  return `${typeof v} ${JSON.stringify(v)}`;
}

export class Reader {
  readonly warnings: string[] = [];

  constructor(readonly source?: string) {}

  fail(path: string, reason: string): never {
    throw appcError(path, reason, this.source);
  }

  warn(path: string, message: string): void {
    const located = path === '' ? message : `${path}: ${message}`;
    this.warnings.push(this.source === undefined ? located : `${this.source}: ${located}`);
  }

  object(v: JsonValue, path: string): JsonObject {
    if (v === null || typeof v !== 'object' || Array.isArray(v))
      this.fail(path, `must be an object, got ${describe(v)}`);
    return v;
  }

  array(v: JsonValue, path: string): JsonValue[] {
    if (!Array.isArray(v)) this.fail(path, `must be an array, got ${describe(v)}`);
    return v;
  }

  string(v: JsonValue, path: string): string {
    if (typeof v !== 'string') this.fail(path, `must be a string, got ${describe(v)}`);
    return v;
  }

  boolean(v: JsonValue, path: string): boolean {
    if (typeof v !== 'boolean') this.fail(path, `must be a boolean, got ${describe(v)}`);
    return v;
  }

  integer(v: JsonValue, path: string, min: number, max: number): number {
    if (typeof v !== 'number' || !Number.isInteger(v))
      this.fail(path, `must be an integer, got ${describe(v)}`);
    if (v < min || v > max) this.fail(path, `must be between ${min} and ${max}, got ${v}`);
    return v;
  }

  /** A string-to-string map (userAnnotations, userLabels, sysctl). */
  stringMap(v: JsonValue, path: string): Record<string, string> {
    const o = this.object(v, path);
    const out: Record<string, string> = {};
    for (const [k, val] of Object.entries(o)) out[k] = this.string(val, at(path, k));
    return out;
  }

  /** Maps every element of an array with its own path. */
  list<T>(v: JsonValue, path: string, item: (v: JsonValue, path: string) => T): T[] {
    return this.array(v, path).map((e, i) => item(e, index(path, i)));
  }
}

/** A field's value; JSON `null` counts as absent, as in the reference (Go leaves the zero value). */
export function field(o: JsonObject, key: string): JsonValue | undefined {
  const v = o[key];
  return v === null ? undefined : v;
}

/** Reads a required field with `read`, failing with `<path>.<key>: is required` when absent. */
export function required<T>(
  r: Reader,
  o: JsonObject,
  key: string,
  path: string,
  read: (v: JsonValue, path: string) => T,
): T {
  const v = field(o, key);
  if (v === undefined) r.fail(at(path, key), 'is required');
  return read(v, at(path, key));
}

/** Reads an optional field with `read`; undefined when absent or null. */
export function optional<T>(
  o: JsonObject,
  key: string,
  path: string,
  read: (v: JsonValue, path: string) => T,
): T | undefined {
  const v = field(o, key);
  return v === undefined ? undefined : read(v, at(path, key));
}

/** An optional list where an empty list means the same as none (the reference omits empty lists). */
export function optionalList<T>(
  r: Reader,
  o: JsonObject,
  key: string,
  path: string,
  item: (v: JsonValue, path: string) => T,
): T[] | undefined {
  const list = optional(o, key, path, (v, p) => r.list(v, p, item));
  return list === undefined || list.length === 0 ? undefined : list;
}

/** Fails on the second element whose key was already seen. */
export function requireUnique<T>(
  r: Reader,
  items: T[] | undefined,
  path: string,
  key: (t: T) => string,
  what: string,
): void {
  const seen = new Set<string>();
  items?.forEach((item, i) => {
    const k = key(item);
    if (seen.has(k)) r.fail(index(path, i), `duplicate ${what} ${JSON.stringify(k)}`);
    seen.add(k);
  });
}
