import type { Command } from 'commander';
import { RocketError, RKT_FAILURE, errorMessage, isRktFailure } from '../../../errors.js';
import type { Store } from '../../../store/index.js';
import { rktGlobals } from '../globals.js';

/**
 * Opens the store of `--dir` (loaded lazily: better-sqlite3 and the store code are only paid for by
 * the commands that use them), runs `fn`, and closes it.
 */
export async function withStore<T>(cmd: Command, fn: (store: Store) => Promise<T> | T): Promise<T> {
  const { Store } = await import('../../../store/index.js');
  let store: Store;
  try {
    store = Store.open(rktGlobals(cmd).dir);
  } catch (err) {
    throw new RocketError(`cannot open store: ${errorMessage(err)}`, RKT_FAILURE, { cause: err });
  }
  try {
    return await fn(store);
  } finally {
    store.close();
  }
}

/**
 * The store key an `rkt image` argument names: an image ID prefix (`sha512-78c08a541997`), or
 * `NAME[:VERSION][,LABEL=VALUE...]`. Every failure is a rkt failure (254), whatever the parser says.
 */
export function resolveImageArg(store: Store, ref: string): string {
  try {
    return store.resolveImage(ref);
  } catch (err) {
    if (isRktFailure(err)) throw err;
    throw new RocketError(errorMessage(err), RKT_FAILURE, { cause: err });
  }
}
