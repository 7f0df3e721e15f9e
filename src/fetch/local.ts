/**
 * Stage0's fast path: an image argument that the store already satisfies (an image ID, or a name
 * under a pull policy that looks in the store first), with no dependencies to fetch, resolves
 * without loading the fetcher (HTTP, discovery, OpenPGP). Anything else returns undefined and goes
 * through the Fetcher, which also gives the errors.
 */
import type { Store } from '../store/index.js';
import { classifyImage } from './args.js';
import { withHostLabels } from './labels.js';
import { checksStoreFirst, type PullPolicy } from './policy.js';

export function resolveStored(store: Store, image: string, policy: PullPolicy): string | undefined {
  let key: string | undefined;
  try {
    const arg = classifyImage(image);
    if (arg.kind === 'id') key = store.resolveKey(arg.id);
    else if (arg.kind === 'name' && checksStoreFirst(policy)) {
      const app = withHostLabels(arg.app);
      key = store.findImage(app.name, app.labels);
    }
  } catch {
    return undefined;
  }
  if (key === undefined) return undefined;
  return (store.manifest(key).dependencies ?? []).length === 0 ? key : undefined;
}
