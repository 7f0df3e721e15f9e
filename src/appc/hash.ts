/** Image IDs (`sha512-<hex>`). */

export interface ImageId {
  algorithm: 'sha512';
  /** The part after `sha512-`; only parseFullImageId guarantees 128 lowercase hex digits. */
  hex: string;
}

/**
 * Parses an image ID as manifests may carry it. Like the reference we only require the `sha512`
 * algorithm, exactly one `-` and a non-empty value (the spec's own example image uses
 * `sha512-...`); use isFullImageId to demand a real digest. Throws with the reason.
 */
export function parseImageId(s: string): ImageId {
  const parts = s.split('-');
  if (parts.length !== 2) throw new Error(`badly formatted image ID ${JSON.stringify(s)}`);
  const [algorithm, hex] = parts as [string, string];
  if (algorithm === '') throw new Error(`image ID ${JSON.stringify(s)} has an empty hash type`);
  if (algorithm !== 'sha512') throw new Error(`unrecognized hash type ${JSON.stringify(algorithm)}`);
  if (hex === '') throw new Error(`image ID ${JSON.stringify(s)} has an empty hash value`);
  return { algorithm, hex };
}

/** The length of a full image ID: `sha512-` and 128 hex digits. */
export const FULL_IMAGE_ID_LENGTH = 'sha512-'.length + 128;

/** True for `sha512-` followed by exactly 128 lowercase hex digits. */
export function isFullImageId(s: string): boolean {
  return /^sha512-[0-9a-f]{128}$/.test(s);
}

export function formatImageId(id: ImageId): string {
  return `${id.algorithm}-${id.hex}`;
}

/** appc's short form for display: `sha512-` + 32 hex digits. */
export function shortImageId(s: string): string {
  return s.length > 39 ? s.slice(0, 39) : s;
}
