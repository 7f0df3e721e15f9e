/** The mount table as stage0 reads it (/proc/self/mountinfo), and unmounting what a dir holds. */
import { readFileSync } from 'node:fs';
import { host } from './index.js';

/** Unescapes the octal escapes (`\040`) of /proc/self/mountinfo paths. */
export function unescapeMountPath(s: string): string {
  return s.replace(/\\([0-7]{3})/g, (_, o: string) => String.fromCharCode(parseInt(o, 8)));
}

/** Mount points at or under `dir`, deepest first, from mountinfo text. */
export function mountsUnder(mountinfo: string, dir: string): string[] {
  const prefix = dir.endsWith('/') ? dir : dir + '/';
  const found = new Set<string>();
  for (const line of mountinfo.split('\n')) {
    const fields = line.split(' ');
    const mp = fields[4];
    if (mp === undefined) continue;
    const path = unescapeMountPath(mp);
    if (path === dir || path.startsWith(prefix)) found.add(path);
  }
  return [...found].sort((a, b) => b.split('/').length - a.split('/').length || b.localeCompare(a));
}

/** Lazily unmounts everything mounted under `dir` (root only; a no-op otherwise). */
export function unmountUnder(dir: string): string[] {
  if (process.getuid?.() !== 0) return [];
  let info: string;
  try {
    info = readFileSync('/proc/self/mountinfo', 'utf8');
  } catch {
    return [];
  }
  const done: string[] = [];
  for (const mp of mountsUnder(info, dir)) {
    // A failure: already gone (e.g. unmounted with its parent).
    if (host().mount.umount(mp, { lazy: true }).status === 0) done.push(mp);
  }
  return done;
}
