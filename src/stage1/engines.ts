/**
 * Which engine runs a pod. At run time: from `--engine` or `--stage1-name` (oci, oci-crun, oci-runc,
 * crun, runc, or any name with the word `fly`, e.g. `coreos.com/rkt/stage1-fly:1.30.0`, or `nspawn`,
 * or rkt's `coreos.com/rkt/stage1-coreos[:VERSION]`, for the nspawn engine), else
 * from a `--stage1-path`/`--stage1-url`/`--stage1-from-dir` whose file name names a built-in engine
 * (`stage1-fly.aci`, `stage1-oci-crun.aci`...; any other image is refused); the oci engine otherwise. Afterwards: from the `engine` field of the pod's
 * `stage1/engine.json`, which every engine writes, so stop, enter and gc reach the same engine.
 * Stage0's gc calls every engine's `gc` (src/pod/engine-gc.ts, through engine-table.ts).
 *
 * Only the oci engine (the default, and the one whose helpers stage0 uses) is imported here; the
 * others are loaded when a pod or a command line names them (`loadEngine`), so a command on one
 * pod (`rkt app add`, `stop`, `enter`...) initialises only that pod's engine. engine-table.ts has
 * every engine at once, synchronously, for gc, the CRI service and tests.
 */
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { RKT_FAILURE, RocketError } from '../errors.js';
import type { Engine, EngineApps, EnginePod } from './engine.js';
import { ENGINE_STATE, ociEngine, runtimeChoice } from './oci/engine.js';

export type EngineName = 'oci' | 'fly' | 'nspawn' | 'kvm';

export interface EngineChoice {
  name: EngineName;
  /** The oci engine's runtime variant (`oci-crun`...), as the user spelled it. */
  variant?: string;
}

const FLY_WORD = /(^|[^a-z0-9])fly([^a-z0-9]|$)/i;
const KVM_WORD = /(^|[^a-z0-9])kvm([^a-z0-9]|$)/i;
/** nspawn, or rkt's stage1-coreos by its image name (`coreos.com/rkt/stage1-coreos[:VERSION]`). */
const NSPAWN_WORD = /(^|[^a-z0-9])nspawn([^a-z0-9]|$)|(^|\/)stage1-coreos(:|$)/i;

/** The stage1 flags of a run/prepare command line. */
export interface Stage1Flags {
  /** `--engine` */
  engine?: string;
  /** `--stage1-name`, `--stage1-hash`, `--stage1-path`, `--stage1-url`, `--stage1-from-dir` */
  stage1: { url?: string; path?: string; name?: string; hash?: string; fromDir?: string };
}

/** The engine a run/prepare command line asks for; throws (254) on a name no engine answers to. */
export function engineChoice(args: Stage1Flags): EngineChoice {
  const named = args.engine ?? args.stage1.name;
  if (named !== undefined) {
    if (FLY_WORD.test(named)) return { name: 'fly' };
    if (NSPAWN_WORD.test(named)) return { name: 'nspawn' };
    if (KVM_WORD.test(named)) return { name: 'kvm' };
    runtimeChoice(named);
    return { name: 'oci', variant: named };
  }
  if (args.stage1.hash !== undefined)
    throw new RocketError(
      `--stage1-hash=${args.stage1.hash}: stage1 images are built in, not taken from the store; choose one with --stage1-name or --engine (oci, oci-crun, oci-runc, fly, nspawn)`,
      RKT_FAILURE,
    );
  const images = [
    ['--stage1-path', args.stage1.path],
    ['--stage1-url', args.stage1.url],
    ['--stage1-from-dir', args.stage1.fromDir],
  ] as const;
  let choice: EngineChoice | undefined;
  for (const [flag, p] of images) if (p !== undefined) choice = engineOfImage(flag, p);
  if (choice !== undefined) return choice;
  runtimeChoice(undefined);
  return { name: 'oci' };
}

/** The stage1 image file names that stand for the built-in engines (`stage1-` and `.aci` optional). */
export const STAGE1_IMAGE_NAMES = [
  'stage1-oci.aci',
  'stage1-oci-crun.aci',
  'stage1-oci-runc.aci',
  'stage1-coreos.aci',
  'stage1-fly.aci',
  'stage1-nspawn.aci',
  'stage1-kvm.aci',
];

/**
 * The engine a stage1 image path, URL or file name stands for: the engines are built in, so the
 * file name must name one (`stage1-fly.aci`, `stage1-oci-crun.aci`...). Any other image is an
 * engine that cannot be found: an error naming it, before anything is fetched or made.
 */
function engineOfImage(flag: string, location: string): EngineChoice {
  let base = location;
  try {
    if (/^[a-z][a-z0-9+.-]*:\/\//i.test(location)) base = new URL(location).pathname;
  } catch {
    // not a URL after all: its file name as it is
  }
  const name = path.posix
    .basename(base)
    .replace(/\.aci$/, '')
    .replace(/^stage1-/, '');
  if (FLY_WORD.test(name)) return { name: 'fly' };
  if (NSPAWN_WORD.test(name)) return { name: 'nspawn' };
  if (KVM_WORD.test(name)) return { name: 'kvm' };
  // rkt's default stage1 (stage1-coreos.aci) stands for the default engine.
  if (name === 'oci' || name === 'coreos') {
    runtimeChoice(undefined);
    return { name: 'oci' };
  }
  if (name === 'oci-crun' || name === 'oci-runc') {
    runtimeChoice(name);
    return { name: 'oci', variant: name };
  }
  throw new RocketError(
    `${flag}=${location}: no such stage1: the engines are built in and this image names none (${STAGE1_IMAGE_NAMES.join(', ')})`,
    RKT_FAILURE,
  );
}

/** The engine of that name, its module loaded on first use. */
export async function loadEngine(name: EngineName): Promise<Engine> {
  switch (name) {
    case 'fly':
      return (await import('./fly/engine.js')).flyEngine;
    case 'nspawn':
      return (await import('./nspawn/engine.js')).nspawnEngine;
    case 'kvm':
      return (await import('./kvm/engine.js')).kvmEngine;
    default:
      return ociEngine;
  }
}

/** The name of the engine that started a pod, from its `stage1/engine.json`. */
export function podEngineName(pod: EnginePod): EngineName {
  const file = path.join(pod.path, ENGINE_STATE);
  let name: unknown;
  try {
    name = (JSON.parse(readFileSync(file, 'utf8')) as { engine?: unknown }).engine;
  } catch {
    throw new RocketError(`pod ${pod.uuid} has no engine state (never run?)`, RKT_FAILURE);
  }
  if (name === 'oci' || name === 'fly' || name === 'nspawn' || name === 'kvm') return name;
  throw new RocketError(`${file}: unknown engine ${JSON.stringify(name)}`, RKT_FAILURE);
}

/** The engine that started a pod (only its module loaded). */
export function loadEngineForPod(pod: EnginePod): Promise<Engine> {
  return loadEngine(podEngineName(pod));
}

/**
 * The app operations of an engine (`rkt app sandbox|add|start|stop|rm`); an engine without them
 * (fly, as rkt's stage1-fly) is refused in one line.
 */
export function engineApps(engine: Engine): EngineApps {
  if (engine.apps === undefined)
    throw new RocketError(
      `the ${engine.name} engine cannot run an app sandbox (rkt app): choose another with --engine or --stage1-name`,
      RKT_FAILURE,
    );
  return engine.apps;
}
