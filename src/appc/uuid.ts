/** Pod UUIDs (RFC 4122), as the reference parses them: dashes are ignored, 32 hex digits needed. */

/** Parses a UUID into its canonical lower-case dashed form; throws with the reason. */
export function parseUUID(s: string): string {
  const hex = s.replace(/-/g, '');
  if (hex.length !== 32) throw new Error(`bad UUID ${JSON.stringify(s)}: length != 32`);
  if (!/^[0-9a-fA-F]{32}$/.test(hex)) throw new Error(`bad UUID ${JSON.stringify(s)}: not hexadecimal`);
  if (/^0+$/.test(hex)) throw new Error('UUID cannot be empty (all zeros)');
  return formatUUID(Buffer.from(hex, 'hex'));
}

/** Formats 16 bytes as `xxxxxxxx-xxxx-xxxx-xxxx-xxxxxxxxxxxx`. */
export function formatUUID(bytes: Uint8Array): string {
  if (bytes.length !== 16) throw new Error('a UUID has 16 bytes');
  const h = Buffer.from(bytes).toString('hex');
  return `${h.slice(0, 8)}-${h.slice(8, 12)}-${h.slice(12, 16)}-${h.slice(16, 20)}-${h.slice(20)}`;
}

/** The 16 raw bytes of a UUID (used e.g. for the metadata service HMAC). */
export function uuidBytes(s: string): Buffer {
  return Buffer.from(parseUUID(s).replace(/-/g, ''), 'hex');
}
