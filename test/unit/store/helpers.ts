import { lstatSync, mkdtempSync, readdirSync, readlinkSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import tar from 'tar-stream';

/** A temp dir under os.tmpdir() with the `rocket-` prefix, and its cleanup. */
export function tempDir(tag: string): { dir: string; cleanup: () => void } {
  const dir = mkdtempSync(join(tmpdir(), `rocket-store-${tag}-`));
  return { dir, cleanup: () => rmSync(dir, { recursive: true, force: true }) };
}

export interface EntrySpec {
  name: string;
  type?: 'file' | 'directory' | 'symlink' | 'link' | 'block-device' | 'character-device' | 'fifo';
  body?: string | Buffer;
  mode?: number;
  linkname?: string;
  devmajor?: number;
  devminor?: number;
}

export function manifestText(name: string, extra: Record<string, unknown> = {}): string {
  return JSON.stringify({ acKind: 'ImageManifest', acVersion: '0.8.11', name, ...extra });
}

/** An uncompressed ACI with these rootfs entries (a `rootfs` entry is added first), as bytes. */
export function makeAciBytes(manifest: string, entries: readonly EntrySpec[]): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    const pack = tar.pack();
    const chunks: Buffer[] = [];
    pack.on('data', (c: unknown) => void chunks.push(c as Buffer));
    pack.on('end', () => resolve(Buffer.concat(chunks)));
    pack.on('error', reject);
    const base = {
      mtime: new Date(1_500_000_000_000),
      uid: process.getuid?.() ?? 0,
      gid: process.getgid?.() ?? 0,
    };
    pack.entry({ ...base, name: 'manifest', type: 'file', mode: 0o644 }, manifest);
    pack.entry({ ...base, name: 'rootfs', type: 'directory', mode: 0o755 });
    for (const e of entries) {
      const type = e.type ?? 'file';
      const mode = e.mode ?? (type === 'directory' ? 0o755 : 0o644);
      const header = {
        ...base,
        name: e.name,
        type,
        mode,
        linkname: e.linkname,
        ...(e.devmajor !== undefined ? { devmajor: e.devmajor, devminor: e.devminor ?? 0 } : {}),
      };
      if (type === 'file') pack.entry(header, e.body ?? '');
      else pack.entry(header);
    }
    pack.finalize();
  });
}

/** makeAciBytes written to `<dir>/<file>`; returns the path. */
export async function writeAci(
  dir: string,
  file: string,
  manifest: string,
  entries: readonly EntrySpec[] = [],
): Promise<string> {
  const path = join(dir, file);
  writeFileSync(path, await makeAciBytes(manifest, entries));
  return path;
}

export interface Seen {
  type: 'file' | 'directory' | 'symlink' | 'other';
  size: number;
  mode: number;
  target?: string;
}

/** Every path below `root` (relative, `/`-separated) with its type, size and permission bits. */
export function snapshot(root: string): Map<string, Seen> {
  const out = new Map<string, Seen>();
  const walk = (rel: string) => {
    for (const name of readdirSync(join(root, rel)).sort()) {
      const r = rel === '' ? name : `${rel}/${name}`;
      const st = lstatSync(join(root, r));
      const type = st.isFile()
        ? 'file'
        : st.isDirectory()
          ? 'directory'
          : st.isSymbolicLink()
            ? 'symlink'
            : 'other';
      const seen: Seen = { type, size: st.size, mode: st.mode & 0o7777 };
      if (type === 'symlink') seen.target = readlinkSync(join(root, r));
      out.set(r, seen);
      if (type === 'directory') walk(r);
    }
  };
  walk('');
  return out;
}

/** The non-directory paths of a snapshot, sorted. */
export function nonDirs(snap: Map<string, Seen>): string[] {
  return [...snap].filter(([, s]) => s.type !== 'directory').map(([p]) => p);
}
