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

interface Node {
  /** `implied`: a directory that no layer entry names (parent of an entry only). */
  type: TarHeader['type'] | 'implied';
  children?: Map<string, Node>;
  /** Directories: the uppermost entry's header. */
  header?: TarHeader;
  /** Non-directories: the content number. */
  content?: number;
}

/** Where a content's bytes are: the entry (layer, ordinal) that wrote them. */
export interface ContentOrigin {
  layer: number;
  ordinal: number;
  rel: string;
}

/** A hard-link group of the final tree, emitted when pass 2 reaches its origin entry. */
export interface Emission {
  /** The paths sharing the content; the first gets the data, the others link to it. */
  paths: string[];
}

export interface FinalPlan {
  /** Final directories that some layer names, with the uppermost header. */
  dirs: Map<string, TarHeader>;
  /** Per layer: origin ordinal → the paths that still hold that content. */
  emissions: Map<number, Emission>[];
  /** Every final path (for stdio symlink checks). */
  has(rel: string): boolean;
}

const isDir = (n: Node) => n.type === 'directory' || n.type === 'implied';

export class FinalTree {
  private readonly root: Node = { type: 'directory', children: new Map() };
  private readonly origins: ContentOrigin[] = [];

  /** Applies one layer (layers must come bottom first). */
  apply(layer: number, index: LayerIndex, source: string): void {
    for (const e of index.entries) {
      if (e.kind === 'whiteout') this.remove(e.rel);
      else if (e.kind === 'opaque') {
        const n = this.lookup(e.rel);
        if (n !== undefined && isDir(n)) n.children = new Map();
      }
    }
    for (const e of index.entries) {
      if (e.kind !== 'entry') continue;
      const h = e.header;
      if (h.type === 'directory') {
        const parent = this.parentOf(e.rel);
        const name = baseName(e.rel);
        const existing = parent.get(name);
        if (existing !== undefined && isDir(existing)) {
          existing.type = 'directory';
          existing.header = h;
        } else {
          parent.set(name, { type: 'directory', header: h, children: new Map() });
        }
        continue;
      }
      let content: number;
      if (h.type === 'link') {
        const target = this.lookup(e.linkRel ?? '');
        if (target === undefined || target.content === undefined) {
          throw new RocketError(
            `${source}: entry ${JSON.stringify(h.name)}: hard link target ${JSON.stringify(h.linkname)} does not exist`,
          );
        }
        content = target.content;
      } else {
        content = this.origins.length;
        this.origins.push({ layer, ordinal: e.ordinal, rel: e.rel });
      }
      this.parentOf(e.rel).set(baseName(e.rel), { type: h.type, content });
    }
  }

  /** Every path of the tree now, `/`-prefixed and sorted bytewise (a layer's pathWhitelist). */
  paths(): string[] {
    const out: string[] = [];
    this.walk(this.root, '', (rel) => out.push(`/${rel}`));
    return out.sort(compareBytes);
  }

  /** What pass 2 needs to write the squashed image. */
  plan(layerCount: number): FinalPlan {
    const dirs = new Map<string, TarHeader>();
    const groups = new Map<number, string[]>();
    const all = new Set<string>();
    this.walk(this.root, '', (rel, n) => {
      all.add(rel);
      if (n.type === 'directory' && n.header !== undefined) dirs.set(rel, n.header);
      if (n.content !== undefined) {
        const g = groups.get(n.content);
        if (g === undefined) groups.set(n.content, [rel]);
        else g.push(rel);
      }
    });
    const emissions = Array.from({ length: layerCount }, () => new Map<number, Emission>());
    for (const [content, paths] of groups) {
      const origin = this.origins[content] as ContentOrigin;
      // The origin's own path gets the data when it survived; otherwise the first survivor does.
      const at = paths.indexOf(origin.rel);
      if (at > 0) paths.unshift(...paths.splice(at, 1));
      emissions[origin.layer]?.set(origin.ordinal, { paths });
    }
    return { dirs, emissions, has: (rel) => all.has(rel) };
  }

  private walk(n: Node, rel: string, visit: (rel: string, n: Node) => void): void {
    if (n.children === undefined) return;
    for (const name of [...n.children.keys()].sort(compareBytes)) {
      const child = n.children.get(name) as Node;
      const childRel = rel === '' ? name : `${rel}/${name}`;
      visit(childRel, child);
      this.walk(child, childRel, visit);
    }
  }

  private lookup(rel: string): Node | undefined {
    let n: Node | undefined = this.root;
    if (rel === '') return n;
    for (const part of rel.split('/')) {
      n = n?.children?.get(part);
      if (n === undefined) return undefined;
    }
    return n;
  }

  private remove(rel: string): void {
    const slash = rel.lastIndexOf('/');
    const parent = this.lookup(slash === -1 ? '' : rel.slice(0, slash));
    parent?.children?.delete(rel.slice(slash + 1));
  }

  /**
   * The children map of `rel`'s parent, creating missing directories (implied) on the way; a
   * non-directory in the way is replaced, as extracting the layer over the lower ones would.
   */
  private parentOf(rel: string): Map<string, Node> {
    let n = this.root;
    const parts = rel.split('/');
    parts.pop();
    for (const part of parts) {
      const children = n.children as Map<string, Node>;
      let child = children.get(part);
      if (child === undefined || !isDir(child)) {
        child = { type: 'implied', children: new Map() };
        children.set(part, child);
      }
      n = child;
    }
    return n.children as Map<string, Node>;
  }
}

function baseName(rel: string): string {
  return rel.slice(rel.lastIndexOf('/') + 1);
}
