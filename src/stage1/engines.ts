/**
 * Which engine runs a pod. At run time: from `--engine` or `--stage1-name` (oci, oci-crun, oci-runc,
 * crun, runc, or any name with the word `fly`, e.g. `coreos.com/rkt/stage1-fly:1.30.0`), else
 * from a `--stage1-path`/`--stage1-url`/`--stage1-from-dir` whose file name has the word `fly`
 * (`stage1-fly.aci`); the oci engine otherwise. Afterwards: from the `engine` field of the pod's
 * `stage1/engine.json`, which every engine writes, so stop, enter and gc reach the same engine.
 * Importing this module registers every engine's PodGcHook.
 */
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { RKT_FAILURE, RocketError } from '../errors.js';
import type { PodArgs, PodInfo } from '../pod/index.js';
import type { Engine } from './engine.js';
import { flyEngine } from './fly/engine.js';
import { ENGINE_STATE, ociEngine, runtimeChoice } from './oci/engine.js';

export type EngineName = 'oci' | 'fly';

export interface EngineChoice {
  name: EngineName;
  /** The oci engine's runtime variant (`oci-crun`...), as the user spelled it. */
  variant?: string;
}

const FLY_WORD = /(^|[^a-z0-9])fly([^a-z0-9]|$)/i;

/** The engine a run/prepare command line asks for; throws (254) on a name no engine answers to. */
export function engineChoice(args: Pick<PodArgs, 'engine' | 'stage1'>): EngineChoice {
  const named = args.engine ?? args.stage1.name;
  if (named !== undefined) {
    if (FLY_WORD.test(named)) return { name: 'fly' };
    runtimeChoice(named);
    return { name: 'oci', variant: named };
  }
  for (const p of [args.stage1.path, args.stage1.url, args.stage1.fromDir])
    if (p !== undefined && FLY_WORD.test(path.basename(p))) return { name: 'fly' };
  runtimeChoice(undefined);
  return { name: 'oci' };
}

export function engineByName(name: EngineName): Engine {
  return name === 'fly' ? flyEngine : ociEngine;
}

/** The engine that started a pod, from its `stage1/engine.json`. */
export function engineForPod(pod: PodInfo): Engine {
  const file = path.join(pod.path, ENGINE_STATE);
  let name: unknown;
  try {
    name = (JSON.parse(readFileSync(file, 'utf8')) as { engine?: unknown }).engine;
  } catch {
    throw new RocketError(`pod ${pod.uuid} has no engine state (never run?)`, RKT_FAILURE);
  }
  if (name === 'oci' || name === 'fly') return engineByName(name);
  throw new RocketError(`${file}: unknown engine ${JSON.stringify(name)}`, RKT_FAILURE);
}
