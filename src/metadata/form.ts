/**
 * `application/x-www-form-urlencoded` bodies, decoded to bytes: the identity endpoint signs the
 * exact bytes a pod sent, so `content` must not pass through a lossy text decoding (a signed blob
 * need not be UTF-8). As with Go's url.ParseQuery: `+` is a space, `%XX` a byte, a malformed
 * escape makes the whole body invalid, and the first of repeated keys wins.
 */

export class FormError extends Error {}

function decodeComponent(raw: Buffer): Buffer {
  const out = Buffer.alloc(raw.length);
  let n = 0;
  for (let i = 0; i < raw.length; i++) {
    const c = raw[i] as number;
    if (c === 0x2b) out[n++] = 0x20;
    else if (c === 0x25) {
      const hex = raw.subarray(i + 1, i + 3).toString('latin1');
      if (!/^[0-9a-fA-F]{2}$/.test(hex)) throw new FormError(`invalid URL escape at byte ${i}`);
      out[n++] = parseInt(hex, 16);
      i += 2;
    } else out[n++] = c;
  }
  return out.subarray(0, n);
}

/** Decodes a form body into its fields (names as latin1 strings, values as bytes). */
export function parseForm(body: Buffer): Map<string, Buffer> {
  const fields = new Map<string, Buffer>();
  let start = 0;
  while (start <= body.length) {
    let end = body.indexOf(0x26, start);
    if (end < 0) end = body.length;
    const pair = body.subarray(start, end);
    start = end + 1;
    if (pair.length === 0) continue;
    const eq = pair.indexOf(0x3d);
    const name = decodeComponent(eq < 0 ? pair : pair.subarray(0, eq)).toString('latin1');
    const value = eq < 0 ? Buffer.alloc(0) : decodeComponent(pair.subarray(eq + 1));
    if (!fields.has(name)) fields.set(name, value);
  }
  return fields;
}

/** Whether a Content-Type header names a urlencoded form (parameters such as charset allowed). */
export function isFormContentType(header: string | undefined): boolean {
  const type = (header ?? '').split(';', 1)[0]?.trim().toLowerCase();
  return type === 'application/x-www-form-urlencoded';
}
