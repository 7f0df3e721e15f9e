import { chmodSync, readdirSync, realpathSync, renameSync, rmSync } from 'node:fs';
import { resolve } from 'node:path';
import type { Readable } from 'node:stream';
import type { ImageManifest } from '../appc/index.js';
import { RocketError } from '../errors.js';
import { EntryWriter, statOrUndefined } from './entry-writer.js';
import { lockedTempSiblingDir, removeAbandonedSiblings } from './output.js';
import { ArchiveChecker, ROOTFS } from './paths.js';
import { readAci, readManifestBody } from './read.js';
import { parseManifestBytes } from './validate.js';

export interface ExtractOptions {
  /** Extract only the rootfs contents, into `destDir` itself (no `manifest` file). */
  rootfsOnly?: boolean;
  /**
   * If `destDir` exists and is not empty, extract into it, replacing what entries name (a symlink
   * is replaced, never followed). Otherwise a non-empty destination is refused.
   */
  overwrite?: boolean;
  /** Apply the entries' uid/gid (default: when running as root). */
  preserveOwnership?: boolean;
  /** Apply SCHILY.xattr records (default true); failures are warnings. */
  xattrs?: boolean;
  /** Refuse the image (and leave nothing) unless its image ID is this. */
  expectedImageId?: string;
  /** Names the image in messages (default: the path). */
  source?: string;
  /** Character and block devices: made (default) or skipped with a warning (EntryWriter). */
  devices?: 'create' | 'skip';
  /** Appended to the warning for a skipped device node. */
  skippedDeviceHint?: string;
}

export interface ExtractResult {
  imageId: string;
  manifest: ImageManifest;
  manifestBytes: Buffer;
  warnings: string[];
}

/**
 * Extracts an ACI safely. Every entry passes the archive rules (ArchiveChecker), and on disk:
 * each parent directory is checked with lstat below the destination, so a symlink (planted by
 * this archive or already there) is never followed: a parent that is one is refused; an entry
 * that names an existing symlink replaces the link; hard link targets are archive paths inside
 * rootfs resolved the same way. Into a new or empty destination the image is extracted into a temp
 * directory next to it and renamed into place only when it is complete, valid, and has the
 * expected image ID; a refused image leaves nothing behind.
 */
export async function extractAci(
  input: string | Readable,
  destDir: string,
  opts: ExtractOptions = {},
): Promise<ExtractResult> {
  const source = opts.source ?? (typeof input === 'string' ? input : 'image');
  const dest = resolve(destDir);
  const existing = statOrUndefined(dest);
  let inPlace = false;
  if (existing !== undefined) {
    if (!existing.isDirectory()) throw new RocketError(`${dest}: destination exists and is not a directory`);
    if (readdirSync(dest).length > 0) {
      if (opts.overwrite !== true) throw new RocketError(`${dest}: destination is not empty (use overwrite)`);
      inPlace = true;
    }
  }
  // A new destination is written in a locked temp sibling: one that a killed extract left is
  // unlocked, and removed by the next extract into the same place (and by a store's image gc).
  if (!inPlace) removeAbandonedSiblings(dest);
  const temp = inPlace ? undefined : lockedTempSiblingDir(dest);
  const root = temp?.path ?? realpathSync(dest);
  const ex = new Extractor(root, source, opts);
  try {
    const result = await ex.run(input);
    if (opts.expectedImageId !== undefined && result.imageId !== opts.expectedImageId) {
      throw new RocketError(
        `${source}: image ID mismatch: expected ${opts.expectedImageId}, got ${result.imageId}`,
      );
    }
    if (!inPlace) renameSync(root, dest);
    return result;
  } catch (err) {
    if (!inPlace) rmSync(root, { recursive: true, force: true });
    throw err;
  } finally {
    temp?.release();
  }
}

function once(data: Buffer): AsyncIterable<Buffer> {
  return (async function* () {
    yield await Promise.resolve(data);
  })();
}

class Extractor {
  private readonly checker: ArchiveChecker;
  private readonly writer: EntryWriter;

  constructor(
    root: string,
    private readonly source: string,
    private readonly opts: ExtractOptions,
  ) {
    this.checker = new ArchiveChecker(source);
    const chown = opts.preserveOwnership ?? process.getuid?.() === 0;
    this.writer = new EntryWriter(root, {
      source,
      chown,
      xattrs: opts.xattrs !== false,
      ...(opts.devices !== undefined ? { devices: opts.devices } : {}),
      ...(opts.skippedDeviceHint !== undefined ? { skippedDeviceHint: opts.skippedDeviceHint } : {}),
    });
  }

  async run(input: string | Readable): Promise<ExtractResult> {
    let manifestBytes: Buffer | undefined;
    const rootfsOnly = this.opts.rootfsOnly === true;
    const w = this.writer;
    const { imageId } = await readAci(
      input,
      async (entry, body) => {
        const h = entry.header;
        const role = this.checker.check(h);
        switch (role.kind) {
          case 'root':
            return;
          case 'manifest':
            manifestBytes = await readManifestBody(this.source, h.type, h.size, body);
            if (!rootfsOnly) await w.place('manifest', h, once(manifestBytes));
            return;
          case 'rootfs':
            // The `rootfs` entry's metadata applies to the destination itself when only rootfs is extracted.
            if (rootfsOnly) w.placeRoot(h);
            else await w.place(ROOTFS, h, body);
            return;
          case 'rootfs-entry': {
            const rel = rootfsOnly ? role.rel : `${ROOTFS}/${role.rel}`;
            const link =
              role.linkRel === undefined
                ? undefined
                : rootfsOnly
                  ? role.linkRel
                  : `${ROOTFS}/${role.linkRel}`;
            await w.place(rel, h, body, link);
            return;
          }
        }
      },
      { source: this.source },
    );
    this.checker.finish();
    if (manifestBytes === undefined || imageId === undefined) {
      throw new RocketError(`${this.source}: no image manifest found in archive`);
    }
    const { manifest, warnings } = parseManifestBytes(manifestBytes, this.source);
    w.finish();
    if (!rootfsOnly) chmodSync(w.root, 0o755);
    return { imageId, manifest, manifestBytes, warnings: [...warnings, ...w.warnings] };
  }
}
