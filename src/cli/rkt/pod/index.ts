import type { Command } from 'commander';
import { appCommand } from './app.js';
import { catManifestCommand } from './cat-manifest.js';
import { exportCommand } from './export.js';
import { gcCommand } from './gc.js';
import { listCommand } from './list.js';
import { enterCommand } from './enter.js';
import { prepareCommand } from './prepare.js';
import { runPreparedCommand } from './run-prepared.js';
import { runCommand } from './run.js';
import { stopCommand } from './stop.js';
import { rmCommand } from './rm.js';
import { statusCommand } from './status.js';
import { withPodFlagTable } from './flags.js';

/** The pod lifecycle verbs: run, run-prepared, stop, enter, prepare, list, status, rm, gc, cat-manifest, export, app. */
export function registerPods(program: Command): void {
  for (const make of [
    runCommand,
    runPreparedCommand,
    stopCommand,
    enterCommand,
    prepareCommand,
    listCommand,
    statusCommand,
    rmCommand,
    gcCommand,
    catManifestCommand,
    exportCommand,
    appCommand,
  ])
    program.addCommand(withPodFlagTable(make()));
}
