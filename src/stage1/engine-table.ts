/**
 * Every built-in engine at once, loaded synchronously: for stage0's gc (each engine's `gc`), the
 * CRI service and tests. A command on one pod loads only that pod's engine instead (engines.ts,
 * `loadEngine`).
 */
import type { Engine, EnginePod } from './engine.js';
import { podEngineName, type EngineName } from './engines.js';
import { flyEngine } from './fly/engine.js';
import { kvmEngine } from './kvm/engine.js';
import { nspawnEngine } from './nspawn/engine.js';
import { ociEngine } from './oci/engine.js';

/** Every built-in engine (stage0's gc calls each one's `gc`). */
export const ENGINES: readonly Engine[] = [ociEngine, flyEngine, nspawnEngine, kvmEngine];

export function engineByName(name: EngineName): Engine {
  if (name === 'kvm') return kvmEngine;
  return name === 'fly' ? flyEngine : name === 'nspawn' ? nspawnEngine : ociEngine;
}

/** The engine that started a pod, from its `stage1/engine.json`. */
export function engineForPod(pod: EnginePod): Engine {
  return engineByName(podEngineName(pod));
}
