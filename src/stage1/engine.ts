/**
 * The engine (stage1) interface and the exec-plan hand-off (docs/stage1.md).
 *
 * Node must not stay resident per pod. The `rkt` launcher (bin/rkt, POSIX sh) names a plan file in
 * `RKT_EXEC_PLAN`; stage0 (Node) prepares everything and writes a POSIX sh script there; when
 * stage0 exits 0 and the file is not empty, the launcher `exec`s `/bin/sh PLAN`. The plan removes
 * itself first, then takes the pod lock, and becomes (or starts) the pod's supervisor.
 */
import { spawnSync } from 'node:child_process';
import { closeSync, openSync, readFileSync, rmSync, unlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { RKT_FAILURE, RocketError, errorMessage } from '../errors.js';
import type { PodArgs, PodInfo } from '../pod/index.js';

/** A POSIX sh script that the launcher execs in place of stage0. */
/** Where an engine records in the pod dir what its stop, enter and gc need (`{engine: NAME, ...}`). */
export const ENGINE_STATE = path.join('stage1', 'engine.json');

/** The pod's engine state if the engine named `engine` wrote it, else undefined. */
export function readEngineState<T extends { engine: string }>(
  podPath: string,
  engine: T['engine'],
): T | undefined {
  try {
    const s = JSON.parse(readFileSync(path.join(podPath, ENGINE_STATE), 'utf8')) as T;
    return s.engine === engine ? s : undefined;
  } catch {
    return undefined;
  }
}

export interface ExecPlan {
  script: string;
}

/** What `rkt run` and `rkt run-prepared` hand an engine: a prepared pod (unlocked). */
export interface RunRequest {
  dataDir: string;
  uuid: string;
  /** Pod flags of the command line (net, dns, hostname, hosts entries, interactive, no-overlay). */
  args: PodArgs;
  insecure: { capabilities: boolean; paths: boolean; seccomp: boolean };
  /** Engine variant from `--stage1-name`/`--engine` (e.g. `oci-runc`), if any. */
  variant?: string;
  /** `--system-config` and `--local-config` (network confs in their `net.d`); rkt's defaults if absent. */
  configDirs?: { system: string; local: string };
}

export interface StopRequest {
  pod: PodInfo;
  force: boolean;
}

export interface EnterRequest {
  pod: PodInfo;
  app?: string;
  command: string[];
}

/**
 * An engine. `run` and `enter` only build plans (stage0 must exit for the launcher to exec
 * them); `stop` acts synchronously; `gc` is registered as a PodGcHook when the module loads.
 */
export interface Engine {
  readonly name: string;
  run(req: RunRequest): ExecPlan;
  enter(req: EnterRequest): ExecPlan;
  stop(req: StopRequest): void;
  gc(pod: PodInfo): void;
}

export const PLAN_ENV = 'RKT_EXEC_PLAN';

/**
 * Creates the plan file the launcher named (O_EXCL: a file already there is never written through).
 * The launcher names it after its own pid, which the plan keeps while it runs (exec), so a file of
 * that name is the leftover of a dead launcher that had the same pid (killed before its plan
 * removed it), or a trap: it is unlinked (never followed) and the plan made anew.
 */
function openPlan(target: string): number {
  try {
    return openSync(target, 'wx', 0o600);
  } catch (err) {
    if (
      (err as NodeJS.ErrnoException).code !== 'EEXIST' ||
      path.basename(target) !== `rkt-plan.${process.ppid}`
    )
      throw err;
  }
  unlinkSync(target);
  return openSync(target, 'wx', 0o600);
}

/**
 * Hands a plan to the launcher. Without the launcher (node run directly, as some tests do), runs
 * the plan as a child with the terminal inherited and returns its exit status: Node then stays
 * resident, which is why bin/rkt is the supported entry point.
 */
export function handOff(plan: ExecPlan): number | undefined {
  const target = process.env[PLAN_ENV];
  if (target !== undefined && target !== '') {
    try {
      const fd = openPlan(target);
      try {
        writeFileSync(fd, plan.script);
      } finally {
        closeSync(fd);
      }
    } catch (err) {
      throw new RocketError(`cannot write the exec plan ${target}: ${errorMessage(err)}`, RKT_FAILURE);
    }
    return undefined;
  }
  const file = path.join(tmpdir(), `rkt-plan.${process.pid}.${Date.now()}`);
  writeFileSync(file, plan.script, { mode: 0o600, flag: 'wx' });
  const r = spawnSync('/bin/sh', [file], { stdio: 'inherit' });
  rmSync(file, { force: true });
  if (r.error !== undefined)
    throw new RocketError(`cannot run the exec plan: ${r.error.message}`, RKT_FAILURE);
  return r.status ?? 128 + 9;
}
