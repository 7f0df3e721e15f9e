import type { Command } from 'commander';
import { catManifestCommand } from './cat-manifest.js';
import { gcCommand } from './gc.js';
import { listCommand } from './list.js';
import { prepareCommand } from './prepare.js';
import { rmCommand } from './rm.js';
import { statusCommand } from './status.js';

/** The pod lifecycle verbs: prepare, list, status, rm, gc, cat-manifest. */
export function registerPods(program: Command): void {
  for (const make of [prepareCommand, listCommand, statusCommand, rmCommand, gcCommand, catManifestCommand])
    program.addCommand(make());
}
