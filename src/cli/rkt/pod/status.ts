import { readFileSync, readdirSync, readlinkSync } from 'node:fs';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { Command } from 'commander';
import { RKT_FAILURE, RocketError, unknownFlagMessage } from '../../../errors.js';
import { POD_FILES, getPod, getSettledPod, type PodInfo } from '../../../pod/index.js';
import { formatNets, readNetInfo } from '../../../net/info.js';
import { engineSummary } from '../../../stage1/engine.js';
import { parseGoDuration } from '../../format/duration.js';
import { formatGoTime } from '../../format/humanize.js';
import { action } from '../../run.js';
import { dataDir, rawArgsAfterVerb, readUuidFile } from './common.js';
import { goJson, podJsonObject } from './json.js';

const POLL_MS = 100;

/**
 * A `--wait`/`--wait-ready` value as rkt reads it: a bool or a duration; true or a negative
 * duration wait forever (Infinity), false or zero not at all (0).
 */
export function parseWait(value: string, flag: string): number {
  if (['1', 't', 'T', 'TRUE', 'true', 'True'].includes(value)) return Infinity;
  if (['0', 'f', 'F', 'FALSE', 'false', 'False'].includes(value)) return 0;
  let ns: bigint;
  try {
    ns = parseGoDuration(value);
  } catch {
    throw new RocketError(`invalid value for --${flag}: ${JSON.stringify(value)}`, RKT_FAILURE);
  }
  return ns < 0n ? Infinity : Number(ns) / 1e6;
}

interface StatusArgs {
  wait: number;
  waitReady: number;
  format: '' | 'json' | 'json-pretty';
  uuidFile?: string;
  uuid?: string;
}

/** Parses status's own flags (pflag's optional-value `--wait` cannot go through commander). */
export function parseStatusArgs(args: readonly string[]): StatusArgs {
  const out: StatusArgs = { wait: 0, waitReady: 0, format: '' };
  const positional: string[] = [];
  for (let i = 0; i < args.length; i++) {
    const a = args[i] as string;
    if (a.startsWith('-') && !a.startsWith('--') && a !== '-')
      throw new RocketError(unknownFlagMessage(a), RKT_FAILURE);
    if (!a.startsWith('--') || a === '--') {
      if (a === '--') positional.push(...args.slice(i + 1));
      else positional.push(a);
      if (a === '--') break;
      continue;
    }
    const eq = a.indexOf('=');
    const name = a.slice(2, eq < 0 ? undefined : eq);
    const inline = eq < 0 ? undefined : a.slice(eq + 1);
    const value = (): string => {
      if (inline !== undefined) return inline;
      const v = args[++i];
      if (v === undefined) throw new RocketError(`flag needs an argument: --${name}`, RKT_FAILURE);
      return v;
    };
    if (name === 'wait') out.wait = parseWait(inline ?? 'true', name);
    else if (name === 'wait-ready') out.waitReady = parseWait(inline ?? 'true', name);
    else if (name === 'format') {
      const f = value();
      if (f !== '' && f !== 'json' && f !== 'json-pretty')
        throw new RocketError(`invalid argument ${JSON.stringify(f)} for "--format" flag`, RKT_FAILURE);
      out.format = f;
    } else if (name === 'uuid-file') out.uuidFile = value();
    else if (['dir', 'system-config', 'local-config', 'user-config', 'insecure-options'].includes(name)) {
      if (inline === undefined) i++;
    } else if (name !== 'debug' && name !== 'trust-keys-from-https')
      throw new RocketError(`unknown flag: --${name}`, RKT_FAILURE);
  }
  if (out.uuidFile !== undefined) {
    if (positional.length > 0)
      throw new RocketError('cannot use both --uuid-file and a UUID argument', RKT_FAILURE);
  } else if (positional.length !== 1) throw new RocketError('must provide one UUID', RKT_FAILURE);
  else out.uuid = positional[0];
  return out;
}

/** Exit codes the engine recorded, by app name (sorted). */
export function exitStatuses(p: PodInfo): [string, number][] {
  let names: string[];
  try {
    names = readdirSync(join(p.path, POD_FILES.appStatusDir));
  } catch {
    return [];
  }
  const out: [string, number][] = [];
  for (const name of names.sort()) {
    if (name.endsWith('-created') || name.endsWith('-started')) continue;
    try {
      const text = readFileSync(join(p.path, POD_FILES.appStatusDir, name), 'utf8').trim();
      if (/^-?\d+$/.test(text)) out.push([name, Number(text)]);
    } catch {
      // written meanwhile or gone
    }
  }
  return out;
}

/** The key=value lines of `rkt status`. */
export function renderStatus(p: PodInfo): string {
  const lines = [`state=${p.state}`];
  if (p.created !== undefined) lines.push(`created=${formatGoTime(p.created)}`);
  if (p.started !== undefined) lines.push(`started=${formatGoTime(p.started)}`);
  if (p.state === 'running' || p.state === 'exited')
    lines.push(`networks=${formatNets(readNetInfo(p.path))}`);
  const live = ['running', 'deleting', 'exited deleting', 'exited', 'exited garbage'];
  if (live.includes(p.state)) {
    if (p.pid !== undefined) lines.push(`pid=${p.pid}`);
    lines.push(`exited=${p.state === 'exited' || p.state === 'exited garbage'}`);
    if (p.state !== 'running') for (const [app, code] of exitStatuses(p)) lines.push(`app-${app}=${code}`);
  }
  // Ours, after rkt's lines: the engine that ran the pod (and its runtime or accelerator); a
  // prepared pod has run on none (its engine files may be `rkt prepare`'s, for run-prepared).
  const e = p.state === 'prepared' ? undefined : engineSummary(p.path);
  if (e !== undefined) {
    lines.push(`engine=${e.engine}`);
    if (e.runtime !== undefined) lines.push(`runtime=${e.runtime}`);
    if (e.accelerator !== undefined) lines.push(`accelerator=${e.accelerator}`);
  }
  return lines.join('\n') + '\n';
}

async function waitUntil(deadlineMs: number, done: () => boolean, what: string): Promise<void> {
  const end = deadlineMs === Infinity ? Infinity : Date.now() + deadlineMs;
  while (!done()) {
    if (Date.now() >= end) throw new RocketError(`${what}: context deadline exceeded`, RKT_FAILURE);
    await sleep(POLL_MS);
  }
}

/**
 * Whether the pod's supervisor reported ready: `stage1/rootfs/rkt/supervisor-status` is a symlink to
 * `ready` (rkt's form) or a file containing `ready`. A pod that ended without it never will be.
 */
export function isReady(p: PodInfo): boolean {
  const file = join(p.path, 'stage1', 'rootfs', 'rkt', 'supervisor-status');
  let ready = false;
  try {
    ready = readlinkSync(file) === 'ready';
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'EINVAL') {
      try {
        ready = readFileSync(file, 'utf8').trim() === 'ready';
      } catch {
        ready = false;
      }
    }
  }
  const ended = ['exited', 'exited garbage', 'garbage', 'deleting', 'exited deleting', 'aborted prepare'];
  if (!ready && ended.includes(p.state))
    throw new RocketError(`pod ${p.uuid} ended without reporting ready`, RKT_FAILURE);
  return ready;
}

export function statusCommand(): Command {
  return new Command('status')
    .description('Check the status of a rkt pod')
    .usage('[--wait=bool|timeout] [--wait-ready=bool|timeout] --uuid-file=FILE | UUID')
    .argument('[args...]')
    .helpOption(false)
    .allowUnknownOption()
    .allowExcessArguments()
    .action(
      action('status', async (_a: string[], _f: unknown, cmd: Command) => {
        const args = parseStatusArgs(rawArgsAfterVerb('status'));
        const dir = dataDir(cmd);
        const uuid = args.uuid ?? readUuidFile(args.uuidFile as string);
        let pod = await getSettledPod(dir, uuid);
        if (args.waitReady !== 0) {
          await waitUntil(
            args.waitReady,
            () => isReady(getPod(dir, pod.uuid)),
            'error waiting for pod readiness',
          );
        }
        if (args.wait !== 0) {
          // As rkt: a prepared pod is waited for too, to be run (run-prepared) and to exit.
          await waitUntil(
            args.wait,
            () => !['embryo', 'preparing', 'prepared', 'running'].includes(getPod(dir, pod.uuid).state),
            'error waiting for pod to finish',
          );
        }
        pod = await getSettledPod(dir, pod.uuid);
        process.stdout.write(
          args.format === ''
            ? renderStatus(pod)
            : goJson(podJsonObject(pod), args.format === 'json-pretty') + '\n',
        );
      }),
    );
}
