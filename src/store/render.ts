import { createHash } from 'node:crypto';
import { mkdirSync } from 'node:fs';
import { join } from 'node:path';
import type { Readable } from 'node:stream';
// Only paths.ts statically: flattening and tree IDs (every `rkt app add`, every run) need none of
// the archive reading and writing, loaded when a tree is rendered.
import type { EntryWriter } from '../aci/entry-writer.js';
import { ArchiveChecker, cleanName } from '../aci/paths.js';
import type { EntryType, TarHeader } from '../aci/tar-format.js';
import type { Dependency, ImageManifest } from '../appc/index.js';
import { KEY_PREFIX, keyOfImageId, TREE_ID_PREFIX, TREE_ROOTFS } from './layout.js';
import { storeError } from './util.js';

/** One image of a flattened dependency tree, in the reference renderer's top-down order. */
export interface FlatImage {
  key: string;
  manifest: ImageManifest;
  /** 0 for the image itself, 1 for its direct dependencies, ... */
  level: number;
  /**
   * The pathWhitelist (as `rootfs/...` paths) of the root-most ancestor that has one: entries of
   * this image outside it are dropped. Undefined when no ancestor has a whitelist.
   */
  ancestorWhitelist: ReadonlySet<string> | undefined;
}

/** Finds the store key of a dependency of `dependent` (by imageID if it has one, else name+labels). */
export type DependencyResolver = (
  dep: Dependency,
  dependent: { key: string; manifest: ImageManifest },
) => Promise<string> | string;

export type ManifestLookup = (key: string) => Promise<ImageManifest> | ImageManifest;

/** A pathWhitelist as the set of cleaned `rootfs/<path>` names (REF pwlToMap); undefined if empty. */
export function whitelistOf(manifest: ImageManifest): Set<string> | undefined {
  const pwl = manifest.pathWhitelist ?? [];
  if (pwl.length === 0) return undefined;
  return new Set(pwl.map((p) => cleanName(`${TREE_ROOTFS}/${p}`)));
}

/**
 * The dependency tree of `key` flattened as the reference renderer (appc pkg/acirenderer
 * createDepList) does: the image first, then, depth-first, its dependencies in REVERSE listed order
 * (A→[B,C], C→[D] gives A, C, D, B). A shared dependency appears once per path that reaches it.
 * The first image providing a path wins, so this order is the listed override order B, D, C, A
 * read backwards. Unlike REF (which loops forever), a cycle is an error.
 */
export async function flattenDependencies(
  key: string,
  manifestOf: ManifestLookup,
  resolveDep: DependencyResolver,
): Promise<FlatImage[]> {
  const out: FlatImage[] = [];
  const visit = async (k: string, level: number, path: string[], inherited: Set<string> | undefined) => {
    if (path.includes(k)) {
      throw storeError(`dependency cycle: ${[...path, k].join(' -> ')}`, 'invalid-argument');
    }
    const manifest = await manifestOf(k);
    out.push({ key: k, manifest, level, ancestorWhitelist: inherited });
    // REF getUpperPWLM: the root-most ancestor's whitelist applies, so an inherited one wins.
    const forChildren = inherited ?? whitelistOf(manifest);
    const deps = manifest.dependencies ?? [];
    for (let i = deps.length - 1; i >= 0; i--) {
      const depKey = await resolveDep(deps[i] as Dependency, { key: k, manifest });
      await visit(depKey, level + 1, [...path, k], forChildren);
    }
  };
  await visit(key, 0, [], undefined);
  return out;
}

/** rkt's tree store ID: `deps-` + the store-key form of the SHA-512 of the comma-joined keys. */
export function treeStoreIdOf(images: readonly FlatImage[]): string {
  const digest = createHash('sha512')
    .update(images.map((i) => i.key).join(','))
    .digest('hex');
  return TREE_ID_PREFIX + keyOfImageId(KEY_PREFIX + digest);
}

/**
 * Decides, image by image from the top, which entries each image provides (REF getACIFiles):
 * - an image's own whitelist drops its non-directory entries not listed (directories stay);
 * - the root-most ancestor's whitelist drops every entry not listed, directories included;
 * - a path already provided by an upper image is not provided again;
 * - nothing is provided below a path an upper image provided as a non-directory;
 * - OURS: a non-directory is not provided where an upper image implied a directory (a parent of
 *   one of its entries), so a lower symlink can never replace a directory that holds upper files.
 */
class ProvidedPaths {
  private readonly provided = new Map<string, EntryType>();
  private readonly implied = new Set<string>();

  accept(img: FlatImage, own: ReadonlySet<string> | undefined, rel: string, type: EntryType): boolean {
    const name = `${TREE_ROOTFS}/${rel}`;
    if (type !== 'directory' && own !== undefined && !own.has(name)) return false;
    if (img.ancestorWhitelist !== undefined && !img.ancestorWhitelist.has(name)) return false;
    if (this.provided.has(rel)) return false;
    if (type !== 'directory' && this.implied.has(rel)) return false;
    const parents = parentsOf(rel);
    for (const p of parents) {
      const t = this.provided.get(p);
      if (t !== undefined && t !== 'directory') return false;
    }
    this.provided.set(rel, type);
    for (const p of parents) if (!this.provided.has(p)) this.implied.add(p);
    return true;
  }
}

function parentsOf(rel: string): string[] {
  const out: string[] = [];
  for (let i = rel.indexOf('/'); i !== -1; i = rel.indexOf('/', i + 1)) out.push(rel.slice(0, i));
  return out;
}

export interface RenderResult {
  /** Bytes of file data written. */
  size: number;
  warnings: string[];
}

/**
 * Renders a flattened image list into `dir/rootfs` (the dir must exist and be empty): each image's
 * blob is read once, top-down, writing only the entries it provides, and its SHA-512 is checked
 * against its key. The caller writes the manifest.
 */
export async function renderImages(
  images: readonly FlatImage[],
  dir: string,
  openBlob: (key: string) => Promise<Readable>,
  opts: { chown?: boolean; devices?: 'create' | 'skip'; skippedDeviceHint?: string } = {},
): Promise<RenderResult> {
  if (images.length === 0) throw storeError('image list empty', 'invalid-argument');
  const rootfs = join(dir, TREE_ROOTFS);
  mkdirSync(rootfs, 0o755);
  let size = 0;
  const { EntryWriter } = await import('../aci/entry-writer.js');
  // Layers overlay one another: whatever is in an entry's way is removed, a missing hard link
  // target was filtered out, and a directory placed by an upper layer may have been replaced.
  const writer = new EntryWriter(rootfs, {
    source: 'image',
    chown: opts.chown ?? process.getuid?.() === 0,
    clearWith: 'remove',
    statErrors: 'entry',
    missingLinkTarget: 'was not rendered',
    dirOrder: 'deepest-first',
    ...(opts.devices !== undefined ? { devices: opts.devices } : {}),
    ...(opts.skippedDeviceHint !== undefined ? { skippedDeviceHint: opts.skippedDeviceHint } : {}),
    onData: (bytes) => {
      size += bytes;
    },
  });
  const provided = new ProvidedPaths();
  for (const [index, img] of images.entries()) {
    await renderLayer(img, index === 0, await openBlob(img.key), writer, provided);
  }
  writer.finish();
  return { size, warnings: [...writer.warnings] };
}

async function renderLayer(
  img: FlatImage,
  top: boolean,
  blob: Readable,
  writer: EntryWriter,
  provided: ProvidedPaths,
): Promise<void> {
  const source = `image ${img.key}`;
  writer.source = source;
  const checker = new ArchiveChecker(source);
  const own = whitelistOf(img.manifest);
  const onEntry = async (h: TarHeader, body: AsyncIterable<Buffer>) => {
    const role = checker.check(h);
    if (role.kind === 'rootfs') {
      // The rootfs directory itself is provided by the top image.
      if (top) writer.placeRoot(h);
    } else if (role.kind === 'rootfs-entry' && provided.accept(img, own, role.rel, h.type)) {
      await writer.place(role.rel, h, body, role.linkRel);
    }
  };
  const { readAci } = await import('../aci/read.js');
  const { imageId } = await readAci(blob, (entry, body) => onEntry(entry.header, body), { source });
  checker.finish();
  const got = imageId === undefined ? undefined : keyOfImageId(imageId);
  if (got !== img.key) {
    throw storeError(
      `image hash does not match expected (${got ?? 'incomplete'} != ${img.key})`,
      'failed-precondition',
    );
  }
}
