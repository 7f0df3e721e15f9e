/**
 * Writes one ACI entry by entry: every header is checked against the archive rules as it goes out
 * (so an output our own tools would refuse is never produced), data is streamed, the manifest is
 * validated when it is serialized.
 */
import { mkdirSync } from 'node:fs';
import { dirname } from 'node:path';
import { ArchiveChecker, type TarHeader } from '../../aci/index.js';
import { AciOutput, type OutputCompression } from '../../aci/output.js';
import { BLOCK, padding } from '../../aci/tar-format.js';
import { encodeHeader, END_OF_ARCHIVE, type WriteHeader } from '../../aci/tar-writer.js';
import { imageManifestToJSON, type ImageManifest } from '../../appc/index.js';
import { RocketError } from '../../errors.js';

const ZEROS = Buffer.alloc(BLOCK);

/** The header docker2aci gives `manifest` and `rootfs`: root-owned ("0"/"0"), mtime 0. */
function topLevelHeader(name: string, type: 'file' | 'directory', size: number): WriteHeader {
  return {
    name,
    type,
    mode: type === 'file' ? 0o644 : 0o755,
    uid: 0,
    gid: 0,
    uname: '0',
    gname: '0',
    size,
    mtime: 0,
    linkname: '',
    devmajor: 0,
    devminor: 0,
  };
}

/** A layer header renamed below `rootfs/` (hard link targets too). */
export function rootfsHeader(h: TarHeader, rel: string, linkRel?: string): WriteHeader {
  if (h.type === 'unsupported') throw new RocketError(`entry ${JSON.stringify(h.name)}: unsupported type`);
  const w: WriteHeader = {
    name: `rootfs/${rel}`,
    type: h.type,
    mode: h.mode,
    uid: h.uid,
    gid: h.gid,
    uname: h.uname,
    gname: h.gname,
    size: h.type === 'file' ? h.size : 0,
    mtime: Math.max(0, Math.floor(h.mtime)),
    linkname: h.type === 'link' ? `rootfs/${linkRel ?? ''}` : h.type === 'symlink' ? h.linkname : '',
    devmajor: h.devmajor,
    devminor: h.devminor,
  };
  if (h.xattrs.size > 0) w.xattrs = h.xattrs;
  return w;
}

/** The symlinks every docker2aci image gets unless it has the path (§5). */
export const STDIO_SYMLINKS: readonly (readonly [string, string])[] = [
  ['dev/stdin', '/proc/self/fd/0'],
  ['dev/stdout', '/dev/console'],
  ['dev/stderr', '/dev/console'],
  ['dev/fd', '/proc/self/fd'],
];

export function stdioSymlinkHeader(rel: string, target: string): WriteHeader {
  return {
    name: `rootfs/${rel}`,
    type: 'symlink',
    mode: 0o777,
    uid: 0,
    gid: 0,
    uname: '',
    gname: '',
    size: 0,
    mtime: 0,
    linkname: target,
    devmajor: 0,
    devminor: 0,
  };
}

export class AciWriter {
  private readonly out: AciOutput;
  private readonly checker: ArchiveChecker;

  constructor(
    readonly path: string,
    compression: OutputCompression,
  ) {
    mkdirSync(dirname(path), { recursive: true });
    this.out = new AciOutput(path, { compression, overwrite: true });
    this.checker = new ArchiveChecker(path);
  }

  async manifest(m: ImageManifest): Promise<void> {
    const body = Buffer.from(imageManifestToJSON(m), 'utf8');
    await this.entry(topLevelHeader('manifest', 'file', body.length), [body]);
  }

  async rootfs(): Promise<void> {
    await this.entry(topLevelHeader('rootfs', 'directory', 0));
  }

  /** A header-only entry, or a file whose data follows (exactly `h.size` bytes from `body`). */
  async entry(h: WriteHeader, body?: AsyncIterable<Buffer> | Iterable<Buffer>): Promise<void> {
    this.checker.check({ ...h, typeflag: '', xattrs: h.xattrs ?? new Map<string, Buffer>() });
    await this.out.write(encodeHeader(h));
    if (h.type !== 'file' || h.size === 0) return;
    let left = h.size;
    if (body !== undefined) {
      for await (const chunk of body) {
        const c = chunk.length > left ? chunk.subarray(0, left) : chunk;
        await this.out.write(c);
        left -= c.length;
        if (left === 0) break;
      }
    }
    if (left !== 0) throw new RocketError(`${this.path}: entry ${JSON.stringify(h.name)}: data is short`);
    await this.out.write(ZEROS.subarray(0, padding(h.size)));
  }

  async commit(): Promise<string> {
    this.checker.finish();
    await this.out.write(END_OF_ARCHIVE);
    return this.out.commit();
  }

  async abort(): Promise<void> {
    await this.out.abort();
  }
}
