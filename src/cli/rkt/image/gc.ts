import { join } from 'node:path';
import { Command, Option } from 'commander';
import type { RemovedImage, Store } from '../../../store/index.js';
import { goDurationMsParser } from '../../format/duration.js';
import { action, stderrLine } from '../../run.js';
import { withStore } from './common.js';
import { removedLine } from './rm.js';

/** What pods still use: their trees are kept, and images of running pods are never removed. */
export interface InUse {
  /** Tree store IDs referenced by pods in preparing, prepared, run and exited-garbage. */
  trees: ReadonlySet<string>;
  /** Image keys of the apps of running pods. */
  images: ReadonlySet<string>;
}

/** Until pods exist, nothing is in use; `rkt image gc` will scan pods for these sets. */
export const NOTHING_IN_USE: InUse = { trees: new Set(), images: new Set() };

export interface ImageGcResult {
  removedTrees: string[];
  removedImages: RemovedImage[];
}

/**
 * `rkt image gc`: first every tree no pod references, under the exclusive `prepareLock` (so no pod
 * is being prepared against a tree meanwhile); then images unused for the grace period, except
 * those running pods use; then temp leftovers of killed imports.
 */
export async function imageGc(
  store: Store,
  gracePeriodMs: number,
  inUse: (store: Store) => InUse | Promise<InUse> = () => NOTHING_IN_USE,
): Promise<ImageGcResult> {
  const { withLock } = await import('../../../store/index.js');
  const prepareLock = join(store.layout.locksDir, 'prepareLock');
  const removedTrees = await withLock(prepareLock, 'exclusive', async () =>
    store.trees.gc((await inUse(store)).trees),
  );
  const { removed } = store.gcImages(gracePeriodMs, (await inUse(store)).images);
  await store.gcTemp();
  return { removedTrees, removedImages: removed };
}

export function imageGcCommand(): Command {
  return new Command('gc')
    .description('Garbage collect local store')
    .addOption(
      new Option(
        '--grace-period <duration>',
        'duration to wait since an image was last used before removing it',
      )
        .argParser(goDurationMsParser)
        .default(24 * 60 * 60 * 1000, '24h0m0s'),
    )
    .action(
      action('gc', async (flags: { gracePeriod: number }, cmd: Command) => {
        const res = await withStore(cmd, async (store) => {
          const { podsInUse } = await import('../../../pod/pod.js');
          return imageGc(store, flags.gracePeriod, (s) => podsInUse(s.layout.dataDir));
        });
        for (const id of res.removedTrees) stderrLine(`gc: removed treestore ${JSON.stringify(id)}`);
        for (const image of res.removedImages) process.stdout.write(removedLine(image.key));
        if (res.removedImages.length > 0)
          stderrLine(`gc: ${res.removedImages.length} image(s) successfully removed`);
      }),
    );
}
