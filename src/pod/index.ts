/** Pods: their typed arguments, the pod manifest, the pod dir and its state machine, gc. */
export * from './args.js';
export * from './manifest.js';
export * from './state.js';
export * from './lock.js';
export * from './pod.js';
export * from './gc.js';
export * from './prepare-options.js';
export * from './launcher.js';
export * from './mutate.js';
export * from './summary.js';
