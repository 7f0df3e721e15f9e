/**
 * Random access to the files of a tar archive (docker-archive, oci-archive) and of an OCI layout
 * directory. A plain tar is indexed in one pass and read in place by byte range; a compressed one
 * is decompressed once, its files spooled to a temp dir that close() removes.
 */
import { createReadStream, createWriteStream } from 'node:fs';
import { open, readFile, rm, stat } from 'node:fs/promises';
import { createLockedTempDir } from '../../store/util.js';
import { tmpdir } from 'node:os';
import { join, posix } from 'node:path';
import type { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { Readable as ReadableStream } from 'node:stream';
import { ByteSource } from '../../aci/byte-source.js';
import { errText, openDecompressed } from '../../aci/compression.js';
import { readTar } from '../../aci/tar-reader.js';
import { RocketError } from '../../errors.js';

/** Reads files by path relative to an image's root (an archive or a directory). */
export interface FileSource {
  /** Names the source in messages. */
  readonly name: string;
  exists(path: string): boolean | Promise<boolean>;
  /** Size in bytes of a regular file (links followed). */
  size(path: string): Promise<number>;
  open(path: string): Promise<Readable>;
  readSmall(path: string, limit: number): Promise<Buffer>;
  close(): Promise<void>;
}

const MAX_LINK_HOPS = 16;

/** `a/./b/` → `a/b`; null when the name leaves the root. */
export function archivePath(name: string): string | null {
  const clean = posix.normalize(`/${name}`).slice(1).replace(/\/+$/, '');
  return clean.startsWith('..') ? null : clean;
}

interface Entry {
  type: 'file' | 'directory' | 'symlink' | 'link' | 'other';
  size: number;
  linkname: string;
  /** Data offset in a plain tar. */
  offset: number;
  /** Spooled copy, for a compressed tar. */
  spooled?: string;
}

async function readAll(stream: Readable, limit: number, what: string): Promise<Buffer> {
  const parts: Buffer[] = [];
  let total = 0;
  for await (const chunk of stream) {
    total += (chunk as Buffer).length;
    if (total > limit) {
      stream.destroy();
      throw new RocketError(`${what}: larger than ${limit} bytes`);
    }
    parts.push(chunk as Buffer);
  }
  return Buffer.concat(parts);
}

export class TarFileSource implements FileSource {
  private constructor(
    readonly name: string,
    private readonly file: string,
    private readonly entries: Map<string, Entry>,
    private readonly spoolDir: { path: string; release: () => void } | undefined,
  ) {}

  /** Indexes `file` (plain or compressed tar); compressed ones are spooled under `tmpDir`. */
  static async open(file: string, tmpDir?: string): Promise<TarFileSource> {
    const entries = new Map<string, Entry>();
    let decompressed: Awaited<ReturnType<typeof openDecompressed>>;
    try {
      decompressed = await openDecompressed(file, file);
    } catch (err) {
      throw new RocketError(`${file}: cannot read archive: ${errText(err)}`, 1, { cause: err });
    }
    const { compression, stream } = decompressed;
    // Locked while it lives, so a store's `image gc` (when tmpDir is its cas/tmp) leaves it alone.
    const spool =
      compression !== 'none' ? createLockedTempDir(tmpDir ?? tmpdir(), 'rocket-docker-archive') : undefined;
    const spoolDir = spool?.path;
    const src = new ByteSource(stream);
    let count = 0;
    try {
      await readTar(
        src,
        async (entry, body) => {
          const path = archivePath(entry.header.name);
          if (path === null || path === '') return;
          const h = entry.header;
          const type =
            h.type === 'file' || h.type === 'directory' || h.type === 'symlink' || h.type === 'link'
              ? h.type
              : 'other';
          const e: Entry = { type, size: h.size, linkname: h.linkname, offset: src.position };
          if (type === 'file' && spoolDir !== undefined) {
            e.spooled = join(spoolDir, String(count++));
            await pipeline(ReadableStream.from(body), createWriteStream(e.spooled));
          }
          entries.set(path, e);
        },
        { source: file },
      );
    } catch (err) {
      stream.destroy();
      if (spool !== undefined) {
        await rm(spool.path, { recursive: true, force: true });
        spool.release();
      }
      if (err instanceof RocketError) throw err;
      throw new RocketError(`${file}: cannot read archive: ${errText(err)}`, 1, { cause: err });
    }
    return new TarFileSource(file, file, entries, spool);
  }

  /** The regular file an archive path names, following symlinks and hard links inside the archive. */
  private resolve(path: string): Entry {
    let current = archivePath(path);
    for (let hop = 0; hop <= MAX_LINK_HOPS && current !== null; hop++) {
      const e = this.entries.get(current);
      if (e === undefined) break;
      if (e.type === 'file') return e;
      if (e.type === 'symlink') {
        current = archivePath(
          e.linkname.startsWith('/') ? e.linkname : posix.join(posix.dirname(current), e.linkname),
        );
      } else if (e.type === 'link') {
        current = archivePath(e.linkname);
      } else {
        throw new RocketError(`${this.name}: ${path} is not a regular file`);
      }
    }
    throw new RocketError(`${this.name}: no file ${path} in the archive`);
  }

  exists(path: string): boolean {
    try {
      this.resolve(path);
      return true;
    } catch {
      return false;
    }
  }

  size(path: string): Promise<number> {
    return Promise.resolve(this.resolve(path).size);
  }

  open(path: string): Promise<Readable> {
    const e = this.resolve(path);
    if (e.spooled !== undefined)
      return Promise.resolve(createReadStream(e.spooled, { highWaterMark: 1 << 20 }));
    if (e.size === 0) return Promise.resolve(ReadableStream.from([]));
    return Promise.resolve(
      createReadStream(this.file, { start: e.offset, end: e.offset + e.size - 1, highWaterMark: 1 << 20 }),
    );
  }

  async readSmall(path: string, limit: number): Promise<Buffer> {
    return readAll(await this.open(path), limit, `${this.name}: ${path}`);
  }

  async close(): Promise<void> {
    if (this.spoolDir !== undefined) {
      await rm(this.spoolDir.path, { recursive: true, force: true });
      this.spoolDir.release();
    }
  }
}

/** An OCI layout directory. Paths are checked to stay inside it. */
export class DirFileSource implements FileSource {
  constructor(readonly name: string) {}

  private full(path: string): string {
    const rel = archivePath(path);
    if (rel === null) throw new RocketError(`${this.name}: path ${JSON.stringify(path)} leaves the layout`);
    return join(this.name, rel);
  }

  async exists(path: string): Promise<boolean> {
    try {
      return (await stat(this.full(path))).isFile();
    } catch {
      return false;
    }
  }

  async size(path: string): Promise<number> {
    return (await stat(this.full(path))).size;
  }

  async open(path: string): Promise<Readable> {
    const full = this.full(path);
    // Open now so a missing blob fails here, not on the first read.
    const fh = await open(full, 'r').catch((err: unknown) => {
      throw new RocketError(`${this.name}: cannot open ${path}: ${errText(err)}`, 1, { cause: err });
    });
    return fh.createReadStream({ highWaterMark: 1 << 20 });
  }

  async readSmall(path: string, limit: number): Promise<Buffer> {
    const full = this.full(path);
    const st = await stat(full).catch((err: unknown) => {
      throw new RocketError(`${this.name}: cannot read ${path}: ${errText(err)}`, 1, { cause: err });
    });
    if (st.size > limit) throw new RocketError(`${this.name}: ${path}: larger than ${limit} bytes`);
    return readFile(full);
  }

  close(): Promise<void> {
    return Promise.resolve();
  }
}

export function isDirectoryPath(path: string): Promise<boolean> {
  return stat(path).then(
    (s) => s.isDirectory(),
    () => false,
  );
}
