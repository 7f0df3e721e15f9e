/**
 * The pod flags that `rkt prepare` takes and `rkt run-prepared` must honour (as rkt keeps them in the
 * prepared pod): `--no-overlay` and the stage1 choice (`--stage1-*`, `--engine`). Prepare writes
 * them to `prepare-options.json` in the pod dir; run-prepared merges them into its own flags, which
 * win where they say something.
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { RocketError, errorMessage } from '../errors.js';
import type { PodArgs } from './args.js';

export const PREPARE_OPTIONS_FILE = 'prepare-options.json';

export interface PrepareOptionsRecord {
  noOverlay: boolean;
  engine?: string;
  stage1: PodArgs['stage1'];
}

/** The file's content for a prepare command line. */
export function prepareOptionsJson(args: Pick<PodArgs, 'noOverlay' | 'engine' | 'stage1'>): string {
  const rec: PrepareOptionsRecord = {
    noOverlay: args.noOverlay,
    ...(args.engine !== undefined ? { engine: args.engine } : {}),
    stage1: { ...args.stage1 },
  };
  return JSON.stringify(rec) + '\n';
}

function hasStage1Choice(args: Pick<PodArgs, 'engine' | 'stage1'>): boolean {
  return args.engine !== undefined || Object.values(args.stage1).some((v) => v !== undefined);
}

/**
 * Merges what prepare recorded into run-prepared's flags: `--no-overlay` from either applies; the
 * stage1 choice of run-prepared, if it names one, wins over prepare's. A pod prepared before this
 * file existed has none, and nothing changes.
 */
export function applyPrepareOptions(podDir: string, args: PodArgs): void {
  const file = join(podDir, PREPARE_OPTIONS_FILE);
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return;
    throw new RocketError(`cannot read ${file}: ${errorMessage(err)}`, 'failed-precondition');
  }
  let rec: Partial<PrepareOptionsRecord>;
  try {
    rec = JSON.parse(text) as Partial<PrepareOptionsRecord>;
  } catch (err) {
    throw new RocketError(`${file}: invalid JSON: ${errorMessage(err)}`, 'failed-precondition');
  }
  if (typeof rec !== 'object' || rec === null)
    throw new RocketError(`${file}: expected an object`, 'failed-precondition');
  if (rec.noOverlay !== undefined && typeof rec.noOverlay !== 'boolean')
    throw new RocketError(`${file}: field "noOverlay" must be a boolean`, 'failed-precondition');
  if (rec.noOverlay === true) args.noOverlay = true;
  if (hasStage1Choice(args)) return;
  if (rec.engine !== undefined) {
    if (typeof rec.engine !== 'string')
      throw new RocketError(`${file}: field "engine" must be a string`, 'failed-precondition');
    args.engine = rec.engine;
  }
  const s1 = rec.stage1 ?? {};
  for (const k of ['url', 'path', 'name', 'hash', 'fromDir'] as const) {
    const v = (s1 as Record<string, unknown>)[k];
    if (v === undefined) continue;
    if (typeof v !== 'string')
      throw new RocketError(`${file}: field "stage1.${k}" must be a string`, 'failed-precondition');
    args.stage1[k] = v;
  }
}
