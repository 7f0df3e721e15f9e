import { Command } from 'commander';
import { errorMessage, RKT_FAILURE } from '../../../errors.js';
import type { Store } from '../../../store/index.js';
import { action, stderrLine } from '../../run.js';
import { resolveImageArg, withStore } from './common.js';

/**
 * Checks each image's rendered tree against the hash kept when it was rendered. Prints one line per
 * image (OK on stdout, a mismatch or a failure on stderr); returns whether every image verified.
 */
export async function verifyImages(store: Store, refs: readonly string[]): Promise<boolean> {
  const { treeStoreIdOf } = await import('../../../store/render.js');
  let ok = true;
  for (const ref of refs) {
    try {
      const key = resolveImageArg(store, ref);
      const id = treeStoreIdOf(await store.flatten(key));
      if (!store.trees.isRendered(id)) {
        stderrLine(`verify: image ${JSON.stringify(ref)} (${key}) has no rendered tree to verify`);
        ok = false;
        continue;
      }
      const { expected, actual } = await store.trees.verify(id);
      if (expected === undefined) {
        stderrLine(
          `verify: tree ${id} of image ${JSON.stringify(ref)} has no stored hash (rendered by an older version)`,
        );
        ok = false;
      } else if (expected !== actual) {
        stderrLine(
          `verify: image ${JSON.stringify(ref)} (${key}): tree ${id} does not match its stored hash: expected ${expected}, got ${actual}`,
        );
        ok = false;
      } else {
        process.stdout.write(`successfully verified checksum for image: ${JSON.stringify(ref)} (${key})\n`);
      }
    } catch (err) {
      stderrLine(`verify: ${errorMessage(err)}`);
      ok = false;
    }
  }
  return ok;
}

export function imageVerifyCommand(): Command {
  return new Command('verify')
    .description('Verify one or more rendered images in the local store against their stored hash')
    .argument('<image...>', 'image IDs or names')
    .action(
      action('verify', async (refs: string[], _flags: object, cmd: Command) => {
        const ok = await withStore(cmd, (store) => verifyImages(store, refs));
        return ok ? 0 : RKT_FAILURE;
      }),
    );
}
