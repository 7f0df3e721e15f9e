import { execFileSync } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import tar from 'tar-stream';

export const MANIFEST_TEXT = '{"acKind":"ImageManifest","acVersion":"0.8.11","name":"example.com/app"}';

/** A temp dir under os.tmpdir() with the `rocket-` prefix; removed by the returned cleanup. */
export function tempDir(tag: string): { dir: string; cleanup: () => void } {
  const dir = mkdtempSync(join(tmpdir(), `rocket-aci-${tag}-`));
  return { dir, cleanup: () => rmSync(dir, { recursive: true, force: true }) };
}

export type TarSpec = Partial<tar.Header> & {
  name: string;
  body?: string | Buffer;
  pax?: Record<string, string>;
};

/** A tar archive (tar-stream's writer, independent of ours) with the given entries. */
export function makeTar(entries: TarSpec[]): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    const pack = tar.pack();
    const chunks: Buffer[] = [];
    pack.on('data', (c: unknown) => void chunks.push(c as Buffer));
    pack.on('end', () => resolve(Buffer.concat(chunks)));
    pack.on('error', reject);
    for (const { body, ...header } of entries) {
      const h: Partial<tar.Header> & { name: string } = {
        mtime: new Date(1_500_000_000_000),
        uid: 0,
        gid: 0,
        ...header,
      };
      if (body !== undefined) pack.entry(h, body);
      else pack.entry(h);
    }
    pack.finalize();
  });
}

export const dirEntry = (name: string): TarSpec => ({ name, type: 'directory', mode: 0o755 });
export const fileEntry = (name: string, body: string | Buffer = 'data\n'): TarSpec => ({
  name,
  type: 'file',
  mode: 0o644,
  body,
});
export const manifestEntry = (body = MANIFEST_TEXT): TarSpec => fileEntry('manifest', body);

/** A minimal valid image layout: manifest + rootfs with a file. */
export function makeLayout(dir: string, manifest = MANIFEST_TEXT): string {
  mkdirSync(join(dir, 'rootfs', 'etc'), { recursive: true });
  writeFileSync(join(dir, 'manifest'), manifest);
  writeFileSync(join(dir, 'rootfs', 'etc', 'hello'), 'hello\n');
  return dir;
}

/** `sh -c` a pipeline and return stdout as text. */
export function sh(script: string): string {
  return execFileSync('sh', ['-c', script], { encoding: 'utf8', maxBuffer: 64 * 1024 * 1024 });
}

export function hasCommand(cmd: string): boolean {
  try {
    sh(`command -v ${cmd}`);
    return true;
  } catch {
    return false;
  }
}

/** The reference actool binary, if built. */
export const ACTOOL = join(process.cwd(), '.cache', 'tools', 'actool');
export const hasActool = existsSync(ACTOOL);

export const isRoot = process.getuid?.() === 0;
