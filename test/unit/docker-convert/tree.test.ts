/**
 * The compact layer index and final tree against a plain model of the layers extracted one over the
 * other, on an image with many entries: whiteouts of files and of whole directories, opaque
 * directories, hard links within and across layers (some whose target goes away above), files
 * replacing directories and the reverse, and directory headers changed by upper layers.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { readAci, type TarHeader } from '../../../src/aci/index.js';
import { convertImage } from '../../../src/docker/convert/index.js';
import { tempDir } from '../../helpers.js';
import { imageFromBlobs, layerTar, type TestEntry } from './fixtures.js';

/** A deterministic pseudo-random sequence (the test must not depend on the run). */
function lcg(seed: number): () => number {
  let s = seed;
  return () => {
    s = (s * 1103515245 + 12345) % 2147483648;
    return s / 2147483648;
  };
}

type ModelNode = { kind: 'dir'; mode: number | undefined } | { kind: 'file'; content: string };

/** The final tree as extracting the layers in order gives it (whiteouts before a layer's entries). */
function model(layers: TestEntry[][]): Map<string, ModelNode> {
  const tree = new Map<string, ModelNode>();
  const dropBelow = (rel: string) => {
    for (const p of [...tree.keys()]) if (p.startsWith(`${rel}/`)) tree.delete(p);
  };
  const ensureParents = (rel: string) => {
    const parts = rel.split('/');
    for (let i = 1; i < parts.length; i++) {
      const p = parts.slice(0, i).join('/');
      if (tree.get(p)?.kind !== 'dir') tree.set(p, { kind: 'dir', mode: undefined });
    }
  };
  for (const layer of layers) {
    for (const e of layer) {
      const slash = e.name.lastIndexOf('/');
      const base = e.name.slice(slash + 1);
      const dir = e.name.slice(0, Math.max(slash, 0));
      if (base === '.wh..wh..opq') dropBelow(dir);
      else if (base.startsWith('.wh.')) {
        const rel = dir === '' ? base.slice(4) : `${dir}/${base.slice(4)}`;
        tree.delete(rel);
        dropBelow(rel);
      }
    }
    for (const e of layer) {
      if (e.name.split('/').some((p) => p.startsWith('.wh.'))) continue;
      const rel = e.name.replace(/\/$/, '');
      ensureParents(rel);
      if (e.type === 'directory' || e.name.endsWith('/')) {
        const old = tree.get(rel);
        if (old?.kind !== 'dir') tree.set(rel, { kind: 'dir', mode: e.mode ?? 0o755 });
        else old.mode = e.mode ?? 0o755;
        continue;
      }
      if (tree.get(rel)?.kind === 'dir') dropBelow(rel);
      if (e.type === 'link') {
        const target = tree.get(e.linkname as string);
        assert.ok(target?.kind === 'file', `test layers: ${e.name} links to a file`);
        tree.set(rel, { kind: 'file', content: target.content });
      } else tree.set(rel, { kind: 'file', content: e.data ?? '' });
    }
  }
  return tree;
}

/** Layers of many entries whose operations hit one another across layers. */
function layers(): TestEntry[][] {
  const rnd = lcg(42);
  const pick = <T>(xs: readonly T[]): T => xs[Math.floor(rnd() * xs.length)] as T;
  const out: TestEntry[][] = [];
  const files: string[] = [];
  for (let l = 0; l < 4; l++) {
    const layer: TestEntry[] = [];
    const whiteouts: TestEntry[] = [];
    for (let d = 0; d < 40; d++) {
      const dir = `d${d % 25}/s${(d * 7 + l) % 9}`;
      layer.push({ name: `d${d % 25}/`, type: 'directory', mode: 0o700 + l });
      layer.push({ name: `${dir}/`, type: 'directory', mode: 0o750 + l });
      for (let f = 0; f < 40; f++) {
        const name = `${dir}/f${f}-${Math.floor(rnd() * 40)}`;
        layer.push({ name, data: `l${l} ${name} ${rnd()}` });
        files.push(name);
      }
    }
    if (l > 0) {
      for (let i = 0; i < 60; i++) {
        const target = pick(files);
        const slash = target.lastIndexOf('/');
        whiteouts.push({ name: `${target.slice(0, slash)}/.wh.${target.slice(slash + 1)}` });
      }
      whiteouts.push({ name: `d${l + 3}/.wh.s${l}` }); // a whole directory
      whiteouts.push({ name: `d${l + 10}/s${l + 1}/.wh..wh..opq` }); // its lower contents
      // A file over a lower directory, and a directory over a lower file.
      layer.push({ name: `d${l + 15}/s${(l * 3) % 9}`, data: `file over dir ${l}` });
      const file = pick(files);
      layer.push({ name: `${file}/`, type: 'directory', mode: 0o711 });
      layer.push({ name: `${file}/inner`, data: `under ${file}` });
    }
    // Hard links: to this layer's files and, in upper layers, to files below.
    for (let i = 0; i < 40; i++) {
      const own = layer.filter((e) => e.data !== undefined && !e.name.endsWith('/inner'));
      const target = i % 2 === 0 || l === 0 ? pick(own).name : pick(files);
      layer.push({ name: `links/l${l}-${i}`, type: 'link', linkname: target });
    }
    out.push([...whiteouts, ...layer]);
  }
  return out;
}

/** Drops the hard links whose target is not a file when they come (the layers end with them). */
function valid(ls: TestEntry[][]): TestEntry[][] {
  const kept: TestEntry[][] = [];
  for (const layer of ls) {
    const others = layer.filter((e) => e.type !== 'link');
    const state = model([...kept, others]);
    const links = layer.filter((e) => e.type === 'link' && state.get(e.linkname as string)?.kind === 'file');
    kept.push([...others, ...links]);
  }
  return kept;
}

describe('the final tree of many entries', () => {
  it('matches the layers extracted in order: paths, contents, hard links, directory headers', async () => {
    const ls = valid(layers());
    const expected = model(ls);
    assert.ok(expected.size > 3000, `${expected.size} paths`);
    const dir = await tempDir('d2a-tree-');
    try {
      const image = imageFromBlobs(ls.map((l) => layerTar(l)));
      const result = await convertImage(image, { outDir: dir.path, blobs: { kind: 'reopen' } });
      const got = new Map<string, { header: TarHeader; data: string }>();
      const order: string[] = [];
      await readAci((result.acis[0] as { path: string }).path, async (entry, body) => {
        const parts: Buffer[] = [];
        for await (const c of body) parts.push(c);
        const name = entry.header.name;
        order.push(name);
        if (!name.startsWith('rootfs/') || name.startsWith('rootfs/dev/')) return;
        got.set(name.slice(7), { header: entry.header, data: Buffer.concat(parts).toString('utf8') });
      });
      // Every path the layers name, nothing else (implied directories are not written).
      const named = [...expected].filter(([, n]) => n.kind === 'file' || n.mode !== undefined);
      assert.deepEqual([...got.keys()].sort(), named.map(([p]) => p).sort());
      for (const [rel, n] of named) {
        const g = got.get(rel) as { header: TarHeader; data: string };
        if (n.kind === 'dir') {
          assert.equal(g.header.type, 'directory', rel);
          assert.equal(g.header.mode, n.mode, `${rel}: the uppermost header`);
          continue;
        }
        // A hard link's data is its target's, which must come first.
        const data = g.header.type === 'link' ? got.get(g.header.linkname.slice(7))?.data : g.data;
        if (g.header.type === 'link') {
          assert.ok(order.indexOf(g.header.linkname) < order.indexOf(`rootfs/${rel}`), rel);
        }
        assert.equal(data, n.content, rel);
      }
      // Parents come before their children.
      const at = new Map(order.map((n, i) => [n, i]));
      for (const n of order) {
        const parent = n.slice(0, n.lastIndexOf('/'));
        if (at.has(parent)) assert.ok((at.get(parent) as number) < (at.get(n) as number), n);
      }
    } finally {
      await dir.cleanup();
    }
  });
});
