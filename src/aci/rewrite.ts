import { resolve } from 'node:path';
import type { Readable } from 'node:stream';
import { RocketError } from '../errors.js';
import { AciOutput, refuseExisting, requireAciExtension, type OutputOptions } from './output.js';
import { cleanName, MANIFEST } from './paths.js';
import { readAci } from './read.js';
import { padding, paxRecord } from './tar-format.js';
import type { TarEntry } from './tar-reader.js';
import { END_OF_ARCHIVE, putChecksum } from './tar-writer.js';

export interface RewriteOptions extends OutputOptions {
  /** Names the input in messages (default: its path). */
  source?: string;
}

/**
 * Writes a copy of an ACI with the manifest entry's body replaced by `manifest` (bytes as given).
 * Every other entry is copied byte for byte (header blocks, PAX/GNU records, data); the manifest
 * entry keeps its header with only the size changed. Output is gzip unless `compression: 'none'`,
 * written to a temp file and renamed into place, so `outPath` may equal the input.
 */
export async function rewriteManifest(
  input: string | Readable,
  outPath: string,
  manifest: Buffer,
  opts: RewriteOptions = {},
): Promise<{ imageId: string }> {
  const source = opts.source ?? (typeof input === 'string' ? input : 'image');
  requireAciExtension(outPath);
  const sameFile = typeof input === 'string' && resolve(input) === resolve(outPath);
  if (!sameFile) refuseExisting(outPath, opts.overwrite);
  const out = new AciOutput(outPath, { ...opts, overwrite: opts.overwrite === true || sameFile });
  try {
    let replaced = false;
    await readAci(
      input,
      async (entry, body) => {
        const raw = entry.raw as NonNullable<TarEntry['raw']>;
        if (cleanName(entry.header.name) === MANIFEST) {
          if (replaced)
            throw new RocketError(
              `${source}: entry ${JSON.stringify(entry.header.name)}: duplicate entry "manifest"`,
            );
          replaced = true;
          for (const block of manifestPreamble(raw, manifest.length)) await out.write(block);
          await out.write(withSize(raw.header, manifest.length));
          await out.write(manifest);
          await out.write(Buffer.alloc(padding(manifest.length)));
          return;
        }
        for (const block of raw.preamble) await out.write(block);
        await out.write(raw.header);
        let size = 0;
        for await (const chunk of body) {
          size += chunk.length;
          await out.write(chunk);
        }
        await out.write(Buffer.alloc(padding(size)));
      },
      { source, keepRaw: true },
    );
    if (!replaced) throw new RocketError(`${source}: no image manifest found in archive`);
    await out.write(END_OF_ARCHIVE);
    return { imageId: await out.commit() };
  } catch (err) {
    await out.abort();
    throw err;
  }
}

/** The manifest's preamble, with a PAX `size` record (if it had one) rewritten. */
function manifestPreamble(raw: NonNullable<TarEntry['raw']>, size: number): Buffer[] {
  if (!raw.paxLocal.has('size')) return raw.preamble;
  const out: Buffer[] = [];
  let paxHeader: Buffer | undefined;
  for (let i = 0; i < raw.preamble.length; i += 3) {
    const header = raw.preamble[i] as Buffer;
    if (header[156] === 0x78 /* 'x' */) paxHeader ??= header;
    else out.push(header, raw.preamble[i + 1] as Buffer, raw.preamble[i + 2] as Buffer);
  }
  const records = new Map(raw.paxLocal);
  records.set('size', Buffer.from(String(size)));
  const data = Buffer.concat([...records].map(([k, v]) => paxRecord(k, v)));
  out.push(withSize(paxHeader as Buffer, data.length), data, Buffer.alloc(padding(data.length)));
  return out;
}

/** A copy of a header block with another size (octal, or base-256 when too big) and checksum. */
function withSize(block: Buffer, size: number): Buffer {
  const b = Buffer.from(block);
  if (size < 8 ** 11) {
    b.write(size.toString(8).padStart(11, '0'), 124, 11, 'latin1');
    b[135] = 0;
  } else {
    b.fill(0, 124, 136);
    b[124] = 0x80;
    let v = size;
    for (let i = 135; i > 124; i--) {
      b[i] = v % 256;
      v = Math.floor(v / 256);
    }
  }
  putChecksum(b);
  return b;
}
