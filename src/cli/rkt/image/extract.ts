import { Command } from 'commander';
import type { OutputDirOptions, Store } from '../../../store/index.js';
import { action, stderrLine } from '../../run.js';
import { resolveImageArg, withStore } from './common.js';

interface OutputDirFlags {
  rootfsOnly: boolean;
  overwrite: boolean;
  createDevices: boolean;
}

/** `extract` and `render` take the same arguments and flags; only the store call differs. */
function outputDirCommand(
  verb: 'extract' | 'render',
  description: string,
  write: (store: Store, key: string, dir: string, opts: OutputDirOptions) => Promise<string[]>,
): Command {
  return new Command(verb)
    .description(description)
    .argument('<image>', 'image ID or name')
    .argument('<output-dir>', 'directory to write (must not exist unless --overwrite)')
    .option('--rootfs-only', `${verb} rootfs only`, false)
    .option('--overwrite', 'overwrite output directory', false)
    .option(
      '--create-devices',
      "create the image's character and block device nodes (skipped with a warning by default)",
      false,
    )
    .action(
      action(verb, async (ref: string, dir: string, flags: OutputDirFlags, cmd: Command) => {
        const warnings = await withStore(cmd, (store) =>
          write(store, resolveImageArg(store, ref), dir, flags),
        );
        for (const w of warnings) stderrLine(`${verb}: warning: ${w}`);
      }),
    );
}

export function imageExtractCommand(): Command {
  return outputDirCommand('extract', 'Extract a stored image to a directory', (store, key, dir, opts) =>
    store.extractTo(key, dir, opts),
  );
}

export function imageRenderCommand(): Command {
  return outputDirCommand(
    'render',
    'Render a stored image to a directory with all its dependencies',
    (store, key, dir, opts) => store.renderTo(key, dir, opts),
  );
}
