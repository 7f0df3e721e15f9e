import { Command } from 'commander';
import { errorMessage, RKT_FAILURE } from '../../../errors.js';
import type { RemovedImage, Store } from '../../../store/index.js';
import { action, stderrLine } from '../../run.js';
import { resolveImageArg, withStore } from './common.js';

/** rkt's stdout line for each removed image (`rkt image rm` and `rkt image gc`). */
export function removedLine(key: string): string {
  return `successfully removed aci for image: ${JSON.stringify(key)}\n`;
}

/**
 * Removes images as rkt's rmImages does: every argument is resolved first (each failure reported,
 * the rest still removed), duplicates collapse to one removal, and the count goes to stderr.
 * Returns whether everything asked for was removed.
 */
export async function removeImages(store: Store, verb: string, refs: readonly string[]): Promise<boolean> {
  let ok = true;
  const toRemove = new Map<string, string>();
  for (const ref of refs) {
    try {
      const key = resolveImageArg(store, ref);
      toRemove.set(key, store.imageInfo(key)?.name ?? '');
    } catch (err) {
      stderrLine(`${verb}: ${errorMessage(err)}`);
      ok = false;
    }
  }
  const removed: RemovedImage[] = [];
  let failed = 0;
  for (const [key, name] of toRemove) {
    try {
      removed.push(await store.removeImage(key));
      process.stdout.write(removedLine(key));
    } catch (err) {
      failed++;
      stderrLine(
        `${verb}: error removing aci for image ${JSON.stringify(key)} (${JSON.stringify(name)}): ${errorMessage(err)}`,
      );
    }
  }
  if (removed.length > 0) stderrLine(`${verb}: ${removed.length} image(s) successfully removed`);
  if (failed > 0) stderrLine(`${verb}: ${failed} image(s) cannot be removed`);
  return ok && failed === 0;
}

export function imageRmCommand(): Command {
  return new Command('rm')
    .description('Remove one or more images with the given IDs or image names from the local store')
    .argument('<image...>', 'image IDs or names')
    .action(
      action('rm', async (refs: string[], _flags: object, cmd: Command) => {
        const ok = await withStore(cmd, (store) => removeImages(store, 'rm', refs));
        if (ok) return 0;
        stderrLine('rm: error(s) found while removing images');
        return RKT_FAILURE;
      }),
    );
}
