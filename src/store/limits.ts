/**
 * The largest image the store takes, uncompressed (not in rkt). An ACI is a compressed tar: a few
 * megabytes of gzip can hold gigabytes of zeros, which the store would write out as a blob and
 * again as a tree. An image larger than this is refused while it is read, with nothing stored.
 *
 * The default, 16 GiB, is above the largest images in common use (CUDA and machine-learning base
 * images reach 10-15 GB uncompressed) and well below what would fill a host's disk twice over
 * (blob and tree). `--max-image-size=SIZE` sets it per command, and `maxImageSize` in a
 * `limits.d/*.json` file of the config dirs (`{"rktKind": "limits", "rktVersion": "v1",
 * "maxImageSize": "32GiB"}`; a later dir overrides an earlier one, as rkt's config does).
 */
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { RocketError } from '../errors.js';

export const DEFAULT_MAX_IMAGE_SIZE = 16 * 1024 ** 3;

const UNITS: Record<string, number> = {
  '': 1,
  B: 1,
  K: 1024,
  KB: 1000,
  KIB: 1024,
  M: 1024 ** 2,
  MB: 1000 ** 2,
  MIB: 1024 ** 2,
  G: 1024 ** 3,
  GB: 1000 ** 3,
  GIB: 1024 ** 3,
  T: 1024 ** 4,
  TB: 1000 ** 4,
  TIB: 1024 ** 4,
};

/** `16GiB`, `500M`, `1048576`...: a positive byte count, or undefined if it is not one. */
export function parseSize(text: string): number | undefined {
  const m = /^\s*([0-9]+(?:\.[0-9]+)?)\s*([a-zA-Z]*)\s*$/.exec(text);
  if (m === null) return undefined;
  const unit = UNITS[(m[2] ?? '').toUpperCase()];
  if (unit === undefined) return undefined;
  const n = Math.floor(Number(m[1]) * unit);
  return Number.isSafeInteger(n) && n > 0 ? n : undefined;
}

/** A byte count for messages: `16 GiB`, `512 MiB`, `1000 bytes`. */
export function formatSize(n: number): string {
  for (const [unit, size] of [
    ['TiB', 1024 ** 4],
    ['GiB', 1024 ** 3],
    ['MiB', 1024 ** 2],
    ['KiB', 1024],
  ] as const) {
    if (n >= size && n % size === 0) return `${n / size} ${unit}`;
  }
  return `${n} bytes`;
}

/** `--max-image-size` checked: one line naming the flag on a bad value. */
export function maxImageSizeFlag(value: string): number {
  const n = parseSize(value);
  if (n === undefined)
    throw new RocketError(
      `invalid --max-image-size ${JSON.stringify(value)}: a size such as 16GiB, 500MB or a byte count`,
      'invalid-argument',
    );
  return n;
}

/** `maxImageSize` from `limits.d/*.json` in these config dirs (later ones override), if any. */
export function maxImageSizeFromConfig(configDirs: readonly string[]): number | undefined {
  let found: number | undefined;
  for (const dir of configDirs) {
    if (dir === '') continue;
    const d = join(dir, 'limits.d');
    let names: string[];
    try {
      names = readdirSync(d)
        .filter((n) => n.endsWith('.json'))
        .sort();
    } catch {
      continue;
    }
    for (const n of names) {
      const file = join(d, n);
      const bad = (why: string) => new RocketError(`${file}: ${why}`, 'invalid-argument');
      let doc: unknown;
      try {
        doc = JSON.parse(readFileSync(file, 'utf8'));
      } catch (err) {
        throw bad(`invalid JSON: ${(err as Error).message}`);
      }
      if (typeof doc !== 'object' || doc === null || Array.isArray(doc)) throw bad('not a JSON object');
      const o = doc as Record<string, unknown>;
      if (o['rktKind'] !== 'limits') continue; // another kind's file
      if (o['rktVersion'] !== 'v1')
        throw bad(`rktVersion: unsupported ${JSON.stringify(o['rktVersion'])}, want "v1"`);
      const v = o['maxImageSize'];
      if (v === undefined) continue;
      const size = typeof v === 'string' ? parseSize(v) : typeof v === 'number' && v > 0 ? v : undefined;
      if (size === undefined || !Number.isSafeInteger(size))
        throw bad(
          `maxImageSize: invalid size ${JSON.stringify(v)} (such as "16GiB", "500MB" or a byte count)`,
        );
      found = size;
    }
  }
  return found;
}

/** The limit for a command: its flag, else the config dirs', else the default. */
export function resolveMaxImageSize(flag: string | undefined, configDirs: readonly string[]): number {
  if (flag !== undefined && flag !== '') return maxImageSizeFlag(flag);
  return maxImageSizeFromConfig(configDirs) ?? DEFAULT_MAX_IMAGE_SIZE;
}
