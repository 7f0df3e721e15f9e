/**
 * The image's final filesystem as a tree of names, built from the layer indexes bottom to top with
 * OCI semantics: `.wh.<name>` deletes the lower path and everything below it, `.wh..wh..opq` hides
 * every lower entry of its directory (docker2aci ignores opaque markers: a bug we do not copy), a
 * non-directory replaces whatever was at its path, a directory over a directory keeps the lower
 * contents. Whiteouts of a layer apply before its own entries, whatever their order in the tar.
 *
 * Every non-directory entry gets a content number; a hard link shares its target's, as the files
 * would share an inode. That is what lets the squashed image keep a link whose target an upper layer
 * deleted or replaced (the link keeps the old content).
 */
import type { TarHeader } from '../../aci/index.js';
import { compareBytes } from '../../aci/tar-writer.js';
import { RocketError } from '../../errors.js';
import type { LayerIndex } from './layer-index.js';

/**
 * A directory of the tree. `header` is the uppermost entry's; a directory without one is implied
 * (no layer names it: the parent of an entry only), except the root. A non-directory is only its
 * content number, so a file costs the tree one map entry.
 */
interface Dir {
  children: Map<string, Node>;
  header?: TarHeader;
}
type Node = Dir | number;

/** A hard-link group of the final tree: the first path gets the data, the others link to it. */
export type Emission = readonly [string, ...string[]];

export interface FinalPlan {
  /** Final directories that some layer names, with the uppermost header. */
  dirs: Map<string, TarHeader>;
  /** The paths that still hold the content layer `layer`'s entry `ordinal` wrote, if any. */
  emission(layer: number, ordinal: number): Emission | undefined;
  /** Whether the final tree has the path. */
  has(rel: string): boolean;
}

const isDir = (n: Node | undefined): n is Dir => n !== undefined && typeof n !== 'number';

export class FinalTree {
  private readonly root: Dir = { children: new Map() };
  /**
   * Where each content's bytes are: the entry (layer, ordinal) that wrote them, and its path.
   * Contents are numbered as layers are applied, so (layer, ordinal) grows with the number.
   */
  private readonly originLayer: number[] = [];
  private readonly originOrdinal: number[] = [];
  private readonly originRel: string[] = [];

  /** Applies one layer (layers must come bottom first). */
  apply(layer: number, index: LayerIndex, source: string): void {
    const n = index.size;
    for (let o = 0; o < n; o++) {
      const kind = index.kind(o);
      if (kind === 'whiteout') this.remove(index.rel(o));
      else if (kind === 'opaque') {
        const d = this.lookup(index.rel(o));
        if (isDir(d)) d.children = new Map();
      }
    }
    for (let o = 0; o < n; o++) {
      if (index.kind(o) !== 'entry') continue;
      const rel = index.rel(o);
      const name = baseName(rel);
      const header = index.dirHeader(o);
      if (header !== undefined) {
        const parent = this.parentOf(rel);
        const existing = parent.get(name);
        if (isDir(existing)) existing.header = header;
        else parent.set(name, { children: new Map(), header });
        continue;
      }
      let content: number;
      const link = index.link(o);
      if (link !== undefined) {
        const target = this.lookup(link.linkRel);
        if (target === undefined || isDir(target)) {
          throw new RocketError(
            `${source}: entry ${JSON.stringify(link.name)}: hard link target ${JSON.stringify(link.linkname)} does not exist`,
          );
        }
        content = target;
      } else {
        content = this.originRel.length;
        this.originLayer.push(layer);
        this.originOrdinal.push(o);
        this.originRel.push(rel);
      }
      this.parentOf(rel).set(name, content);
    }
  }

  /** Every path of the tree now, `/`-prefixed and sorted bytewise (a layer's pathWhitelist). */
  paths(): string[] {
    const out: string[] = [];
    this.walk(this.root, '', (rel) => out.push(`/${rel}`));
    return out.sort(compareBytes);
  }

  /** What pass 2 needs to write the squashed image. */
  plan(): FinalPlan {
    const dirs = new Map<string, TarHeader>();
    // By content number: its one path (most contents), or its hard-link group.
    const groups = new Array<string | string[] | undefined>(this.originRel.length);
    this.walk(this.root, '', (rel, n) => {
      if (isDir(n)) {
        if (n.header !== undefined) dirs.set(rel, n.header);
        return;
      }
      const g = groups[n];
      if (g === undefined) groups[n] = rel;
      else if (typeof g === 'string') groups[n] = [g, rel];
      else g.push(rel);
    });
    const { originLayer, originOrdinal, originRel } = this;
    const emission = (layer: number, ordinal: number): Emission | undefined => {
      // Binary search for the content (layer, ordinal) wrote: the origins are sorted by both.
      let lo = 0;
      let hi = originLayer.length;
      while (lo < hi) {
        const mid = (lo + hi) >>> 1;
        const l = originLayer[mid] as number;
        if (l < layer || (l === layer && (originOrdinal[mid] as number) < ordinal)) lo = mid + 1;
        else hi = mid;
      }
      if (lo === originLayer.length || originLayer[lo] !== layer || originOrdinal[lo] !== ordinal)
        return undefined;
      const g = groups[lo];
      if (g === undefined) return undefined;
      groups[lo] = undefined; // pass 2 asks once per entry: what was written need not be kept
      if (typeof g === 'string') return [g];
      // The origin's own path gets the data when it survived; otherwise the first survivor does.
      const at = g.indexOf(originRel[lo] as string);
      if (at > 0) g.unshift(...g.splice(at, 1));
      return g as unknown as Emission;
    };
    return { dirs, emission, has: (rel) => rel !== '' && this.lookup(rel) !== undefined };
  }

  private walk(d: Dir, rel: string, visit: (rel: string, n: Node) => void): void {
    for (const name of [...d.children.keys()].sort(compareBytes)) {
      const child = d.children.get(name) as Node;
      const childRel = rel === '' ? name : `${rel}/${name}`;
      visit(childRel, child);
      if (isDir(child)) this.walk(child, childRel, visit);
    }
  }

  private lookup(rel: string): Node | undefined {
    let n: Node | undefined = this.root;
    if (rel === '') return n;
    for (const part of rel.split('/')) {
      if (!isDir(n)) return undefined;
      n = n.children.get(part);
      if (n === undefined) return undefined;
    }
    return n;
  }

  private remove(rel: string): void {
    const slash = rel.lastIndexOf('/');
    const parent = this.lookup(slash === -1 ? '' : rel.slice(0, slash));
    if (isDir(parent)) parent.children.delete(rel.slice(slash + 1));
  }

  /**
   * The children map of `rel`'s parent, creating missing directories (implied) on the way; a
   * non-directory in the way is replaced, as extracting the layer over the lower ones would.
   */
  private parentOf(rel: string): Map<string, Node> {
    let d = this.root;
    const parts = rel.split('/');
    parts.pop();
    for (const part of parts) {
      let child = d.children.get(part);
      if (!isDir(child)) {
        child = { children: new Map() };
        d.children.set(part, child);
      }
      d = child;
    }
    return d.children;
  }
}

function baseName(rel: string): string {
  return rel.slice(rel.lastIndexOf('/') + 1);
}
