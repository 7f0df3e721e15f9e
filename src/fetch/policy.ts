/**
 * When to use what the store already has (rkt's pull policies and HTTP cache rules), as pure
 * functions so they can be tested without a store or a server.
 */
import { RKT_FAILURE, RocketError } from '../errors.js';

/** `new`: the store first; `update`: always ask the remote (ETag revalidation); `never`: store only. */
export type PullPolicy = 'new' | 'update' | 'never';

export function parsePullPolicy(value: string): PullPolicy {
  if (value === 'new' || value === 'update' || value === 'never') return value;
  throw new RocketError(
    `invalid --pull-policy ${JSON.stringify(value)}: expected one of new, update, never`,
    RKT_FAILURE,
  );
}

/** rkt fetch: the default is update; --store-only means never and --no-store means update. */
export function pullPolicyFromFlags(flags: {
  pullPolicy?: string;
  storeOnly?: boolean;
  noStore?: boolean;
}): PullPolicy {
  if (flags.storeOnly === true && flags.noStore === true) {
    throw new RocketError('both --store-only and --no-store specified', RKT_FAILURE);
  }
  if (flags.storeOnly === true) return 'never';
  if (flags.noStore === true) return 'update';
  return parsePullPolicy(flags.pullPolicy ?? 'update');
}

/** Whether a store lookup comes before any network access (every policy but update). */
export function checksStoreFirst(policy: PullPolicy): boolean {
  return policy !== 'update';
}

/** Whether the network may be used at all. */
export function mayDownload(policy: PullPolicy): boolean {
  return policy !== 'never';
}

/** A cached download is still fresh: max-age given and not yet elapsed (rkt's useCached). */
export function isFresh(downloadTime: Date, maxAgeSeconds: number, now: Date = new Date()): boolean {
  const age = Math.floor((now.getTime() - downloadTime.getTime()) / 1000);
  return maxAgeSeconds > 0 && age < maxAgeSeconds;
}

/**
 * The max-age of a Cache-Control header as rkt reads it: `no-store`/`no-cache` reset it to 0, a
 * malformed or zero-padded value is ignored, later directives win.
 */
export function parseMaxAge(header: string | undefined): number {
  if (header === undefined || header === '') return 0;
  let maxAge = 0;
  for (const part of header.split(',')) {
    const directive = part.trim();
    const eq = directive.indexOf('=');
    const attr = (eq < 0 ? directive : directive.slice(0, eq)).toLowerCase();
    const val = eq < 0 ? '' : directive.slice(eq + 1);
    if (attr === 'no-store' || attr === 'no-cache') maxAge = 0;
    else if (attr === 'max-age') {
      if (!/^-?\d+$/.test(val)) continue;
      const secs = Number(val);
      if (secs !== 0 && val.startsWith('0')) continue;
      maxAge = secs > 0 ? secs : 0;
    }
  }
  return maxAge;
}
