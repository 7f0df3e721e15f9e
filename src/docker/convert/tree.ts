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

/** A hard-link group of the final tree: the first path gets the data, the others link to it. */
export type Emission = readonly [string, ...string[]];

export interface FinalPlan {
  /** A final directory's uppermost header, if some layer names it. */
  dir(rel: string): TarHeader | undefined;
  /** The paths that still hold the content layer `layer`'s entry `ordinal` wrote, if any. */
  emission(layer: number, ordinal: number): Emission | undefined;
  /** Whether the final tree has the path. */
  has(rel: string): boolean;
}

/** An Int32Array that grows (doubling) as values are set past its end. */
class Ints {
  a = new Int32Array(1024);

  set(i: number, v: number): void {
    if (i >= this.a.length) {
      const grown = new Int32Array(Math.max(i + 1, this.a.length * 2));
      grown.set(this.a);
      this.a = grown;
    }
    this.a[i] = v;
  }

  get(i: number): number {
    return this.a[i] as number;
  }
}

const NONE = -1;
/** `value` of a directory; a non-directory's value is its content number (0 or more). */
const DIR = -1;

/**
 * The tree is kept compact, as it grows with the image: nodes are numbers, found by their path in
 * one map (the paths are the layer indexes' own strings), linked to their parent, first child and
 * next sibling in typed arrays; a directory refers to the index entry of its uppermost header
 * (none: implied, a parent of entries only) instead of holding the header. A path in the map has
 * every ancestor in the map, as directories.
 */
export class FinalTree {
  private readonly ids = new Map<string, number>([['', 0]]);
  private readonly rels: string[] = [''];
  private readonly parent = new Ints();
  private readonly firstChild = new Ints();
  private readonly nextSibling = new Ints();
  private readonly value = new Ints();
  private readonly dirLayer = new Ints();
  private readonly dirOrdinal = new Ints();
  private readonly indexes: LayerIndex[] = [];
  /**
   * Where each content's bytes are: the entry (layer, ordinal) that wrote them, and its path.
   * Contents are numbered as layers are applied, so (layer, ordinal) grows with the number.
   */
  private readonly originLayer: number[] = [];
  private readonly originOrdinal: number[] = [];
  private readonly originRel: string[] = [];

  constructor() {
    this.init(0, NONE, DIR);
  }

  /** Applies one layer (layers must come bottom first). */
  apply(layer: number, index: LayerIndex, source: string): void {
    this.indexes[layer] = index;
    const n = index.size;
    for (let o = 0; o < n; o++) {
      const kind = index.kind(o);
      if (kind === 'whiteout') {
        const id = this.ids.get(index.rel(o));
        if (id !== undefined && id !== 0) this.remove(id);
      } else if (kind === 'opaque') {
        const id = this.ids.get(index.rel(o));
        if (id !== undefined && this.isDir(id)) this.clearChildren(id);
      }
    }
    for (let o = 0; o < n; o++) {
      if (index.kind(o) !== 'entry') continue;
      const rel = index.rel(o);
      if (index.isDir(o)) {
        const id = this.place(rel);
        if (!this.isDir(id)) this.value.set(id, DIR);
        this.dirLayer.set(id, layer);
        this.dirOrdinal.set(id, o);
        continue;
      }
      let content: number;
      const link = index.link(o);
      if (link !== undefined) {
        const target = this.ids.get(link.linkRel);
        if (target === undefined || this.isDir(target)) {
          throw new RocketError(
            `${source}: entry ${JSON.stringify(link.name)}: hard link target ${JSON.stringify(link.linkname)} does not exist`,
          );
        }
        content = this.value.get(target);
      } else {
        content = this.originRel.length;
        this.originLayer.push(layer);
        this.originOrdinal.push(o);
        this.originRel.push(rel);
      }
      const id = this.place(rel);
      if (this.isDir(id)) this.clearChildren(id);
      this.value.set(id, content);
      this.dirLayer.set(id, NONE);
    }
  }

  /** Every path of the tree now, `/`-prefixed and sorted bytewise (a layer's pathWhitelist). */
  paths(): string[] {
    const out: string[] = [];
    this.walk((id) => out.push(`/${this.rels[id] as string}`));
    return out.sort(compareBytes);
  }

  /** What pass 2 needs to write the squashed image. */
  plan(): FinalPlan {
    // By content number: its one path (most contents), or its hard-link group.
    const groups = new Array<string | string[] | undefined>(this.originRel.length);
    this.walk((id) => {
      if (this.isDir(id)) return;
      const rel = this.rels[id] as string;
      const c = this.value.get(id);
      const g = groups[c];
      if (g === undefined) groups[c] = rel;
      else if (typeof g === 'string') groups[c] = [g, rel];
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
      if (lo === originLayer.length || originLayer[lo] !== layer || originOrdinal[lo] !== ordinal) {
        return undefined;
      }
      const g = groups[lo];
      if (g === undefined) return undefined;
      groups[lo] = undefined; // pass 2 asks once per entry: what was written need not be kept
      if (typeof g === 'string') return [g];
      // The origin's own path gets the data when it survived; otherwise the first survivor does.
      const at = g.indexOf(originRel[lo] as string);
      if (at > 0) g.unshift(...g.splice(at, 1));
      return g as unknown as Emission;
    };
    const dir = (rel: string): TarHeader | undefined => {
      const id = this.ids.get(rel);
      if (id === undefined || id === 0 || !this.isDir(id)) return undefined;
      const layer = this.dirLayer.get(id);
      return layer === NONE ? undefined : this.indexes[layer]?.dirHeader(this.dirOrdinal.get(id));
    };
    return { dir, emission, has: (rel) => rel !== '' && this.ids.has(rel) };
  }

  private isDir(id: number): boolean {
    return this.value.get(id) === DIR;
  }

  private init(id: number, parent: number, value: number): void {
    this.parent.set(id, parent);
    this.firstChild.set(id, NONE);
    this.nextSibling.set(id, NONE);
    this.value.set(id, value);
    this.dirLayer.set(id, NONE);
  }

  /** Visits every node but the root, depth first, children in bytewise order of their names. */
  private walk(visit: (id: number) => void): void {
    const stack: number[][] = [this.children(0)];
    for (;;) {
      const top = stack.at(-1);
      if (top === undefined) return;
      const id = top.pop();
      if (id === undefined) {
        stack.pop();
        continue;
      }
      visit(id);
      if (this.isDir(id)) stack.push(this.children(id));
    }
  }

  /** A directory's children, last name first (siblings share the parent's prefix, so comparing
   * the paths compares the names). */
  private children(id: number): number[] {
    const out: number[] = [];
    for (let c = this.firstChild.get(id); c !== NONE; c = this.nextSibling.get(c)) out.push(c);
    return out.sort((a, b) => compareBytes(this.rels[b] as string, this.rels[a] as string));
  }

  /**
   * The node at `rel` (a new, implied directory if there was none), with its parent directories
   * created (implied) on the way; a non-directory in the way becomes an (empty) implied directory,
   * as extracting the layer over the lower ones would replace it.
   */
  private place(rel: string): number {
    const existing = this.ids.get(rel);
    if (existing !== undefined) return existing;
    const slash = rel.lastIndexOf('/');
    const parent = slash === -1 ? 0 : this.place(rel.slice(0, slash));
    if (!this.isDir(parent)) {
      this.value.set(parent, DIR);
      this.dirLayer.set(parent, NONE);
    }
    const id = this.rels.length;
    this.rels.push(rel);
    this.ids.set(rel, id);
    this.init(id, parent, DIR);
    this.nextSibling.set(id, this.firstChild.get(parent));
    this.firstChild.set(parent, id);
    return id;
  }

  /** Removes a node and everything below it. */
  private remove(id: number): void {
    this.clearChildren(id);
    const p = this.parent.get(id);
    if (this.firstChild.get(p) === id) this.firstChild.set(p, this.nextSibling.get(id));
    else {
      let c = this.firstChild.get(p);
      while (this.nextSibling.get(c) !== id) c = this.nextSibling.get(c);
      this.nextSibling.set(c, this.nextSibling.get(id));
    }
    this.forget(id);
  }

  private clearChildren(id: number): void {
    const stack: number[] = [];
    for (let c = this.firstChild.get(id); c !== NONE; c = this.nextSibling.get(c)) stack.push(c);
    this.firstChild.set(id, NONE);
    for (let c = stack.pop(); c !== undefined; c = stack.pop()) {
      for (let g = this.firstChild.get(c); g !== NONE; g = this.nextSibling.get(g)) stack.push(g);
      this.forget(c);
    }
  }

  private forget(id: number): void {
    this.ids.delete(this.rels[id] as string);
    this.rels[id] = '';
    this.parent.set(id, NONE);
    this.firstChild.set(id, NONE);
  }
}
