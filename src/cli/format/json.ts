/**
 * JSON text as Go's encoding/json writes it: `<`, `>`, `&`, U+2028 and U+2029 escaped, and
 * MarshalIndent's layout (one member per line, `null` for a nil slice).
 */
const GO_ESCAPES: Readonly<Record<string, string>> = {
  '<': '\\u003c',
  '>': '\\u003e',
  '&': '\\u0026',
  '\u2028': '\\u2028',
  '\u2029': '\\u2029',
};

/** Go's escaping applied to JSON text (those characters only occur inside strings). */
export function goEscape(json: string): string {
  return json.replace(/[<>&\u2028\u2029]/g, (c) => GO_ESCAPES[c] ?? c);
}

/** A string as a Go JSON string literal. */
export function goJsonString(s: string): string {
  return goEscape(JSON.stringify(s));
}

/**
 * Objects whose members are already JSON text (for values JSON.stringify cannot write, like int64
 * nanoseconds as bigint), as a Go JSON array: compact, or indented with `indent` as MarshalIndent.
 */
export function goJsonArray(
  items: readonly (readonly (readonly [string, string])[])[],
  indent?: string,
): string {
  if (indent === undefined) {
    return `[${items.map((o) => `{${o.map(([k, v]) => `${goJsonString(k)}:${v}`).join(',')}}`).join(',')}]`;
  }
  if (items.length === 0) return '[]';
  const i1 = indent;
  const i2 = indent + indent;
  const objects = items.map((o) =>
    o.length === 0
      ? `${i1}{}`
      : `${i1}{\n${o.map(([k, v]) => `${i2}${goJsonString(k)}: ${v}`).join(',\n')}\n${i1}}`,
  );
  return `[\n${objects.join(',\n')}\n]`;
}

/** A JSON value re-indented as Go's MarshalIndent(v, "", indent) would write it. */
export function goIndent(json: string, indent: string): string {
  return goEscape(JSON.stringify(JSON.parse(json), null, indent));
}
