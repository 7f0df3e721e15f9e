import { createHash } from 'node:crypto';
import type { Readable } from 'node:stream';
import { RocketError } from '../errors.js';
import { ByteSource } from './byte-source.js';
import { errText, openDecompressed, type Compression } from './compression.js';
import { cleanName } from './paths.js';
import { readTar, StopReading, type EntryHandler } from './tar-reader.js';

export type { EntryHandler, TarEntry } from './tar-reader.js';
export { StopReading } from './tar-reader.js';

export interface ReadAciOptions {
  /** Names the image in error messages (default: the path, or "image" for a stream). */
  source?: string;
  /** Keep each entry's raw header blocks (for byte-exact copies). */
  keepRaw?: boolean;
}

export interface ReadAciResult {
  /** `sha512-` + hex SHA-512 of the whole decompressed tar stream; undefined if a handler stopped early. */
  imageId: string | undefined;
  compression: Compression;
}

export const IMAGE_ID_PREFIX = 'sha512-';

/**
 * Streams the tar entries of an ACI (any supported compression) to `onEntry`, and hashes the
 * decompressed bytes on the way, all of them: the hash is fed before tar parsing, and the stream is
 * drained past the end-of-archive blocks. A handler may throw StopReading to end early.
 */
export async function readAci(
  input: string | Readable,
  onEntry: EntryHandler,
  opts: ReadAciOptions = {},
): Promise<ReadAciResult> {
  const source = opts.source ?? (typeof input === 'string' ? input : 'image');
  const { compression, stream } = await openDecompressed(input, source);
  const hash = createHash('sha512');
  const src = new ByteSource(stream, (chunk) => hash.update(chunk));
  try {
    const complete = await readTar(src, onEntry, {
      source,
      keepRaw: opts.keepRaw === true,
      // Go's archive/tar (and so actool and rkt) reads sparse entries; a byte-for-byte copy cannot.
      ...(opts.keepRaw === true ? {} : { sparse: 'expand' as const }),
    });
    return { imageId: complete ? IMAGE_ID_PREFIX + hash.digest('hex') : undefined, compression };
  } catch (err) {
    throw asRocketError(err, source);
  } finally {
    stream.destroy();
  }
}

/** The image ID of an ACI: the SHA-512 of its decompressed bytes (no tar parsing). */
export async function imageIdOf(input: string | Readable, source?: string): Promise<string> {
  const name = source ?? (typeof input === 'string' ? input : 'image');
  const { stream } = await openDecompressed(input, name);
  const hash = createHash('sha512');
  try {
    for await (const chunk of stream) hash.update(chunk as Buffer);
  } catch (err) {
    throw asRocketError(err, name);
  } finally {
    stream.destroy();
  }
  return IMAGE_ID_PREFIX + hash.digest('hex');
}

/** Largest manifest we hold in memory (real ones are a few KiB). */
export const MAX_MANIFEST_SIZE = 16 * 1024 * 1024;

/** The bytes of the first `manifest` entry, verbatim; reading stops there. */
export async function readManifestBytes(input: string | Readable, source?: string): Promise<Buffer> {
  const name = source ?? (typeof input === 'string' ? input : 'image');
  let found: Buffer | undefined;
  await readAci(
    input,
    async (entry, body) => {
      if (cleanName(entry.header.name) !== 'manifest') return;
      found = await readManifestBody(name, entry.header.type, entry.header.size, body);
      throw new StopReading();
    },
    { source: name },
  );
  if (found === undefined) throw new RocketError(`${name}: no image manifest found in archive`);
  return found;
}

export async function readManifestBody(
  source: string,
  type: string,
  size: number,
  body: AsyncIterable<Buffer>,
): Promise<Buffer> {
  if (type !== 'file') throw new RocketError(`${source}: entry "manifest": not a regular file`);
  if (size > MAX_MANIFEST_SIZE) {
    throw new RocketError(`${source}: entry "manifest": too large (${size} bytes)`);
  }
  const parts: Buffer[] = [];
  for await (const c of body) parts.push(c);
  return Buffer.concat(parts);
}

export function asRocketError(err: unknown, source: string): RocketError {
  if (err instanceof RocketError) return err;
  const text = errText(err);
  return new RocketError(text.startsWith(`${source}:`) ? text : `${source}: ${text}`, 1, { cause: err });
}
