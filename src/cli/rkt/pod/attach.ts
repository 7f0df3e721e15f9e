/**
 * `rkt attach [--app=NAME] [--mode=list|auto|tty|tty-in|tty-out|stdin,stdout,stderr] UUID` (rkt
 * 1.30; `RKT_EXPERIMENT_ATTACH` is accepted and not needed): connects this process's stdin, stdout
 * and stderr to the endpoints the pod's supervisor keeps for an app added with `--stdin`,
 * `--stdout` or `--stderr` set to `tty` or `stream` (unix sockets in `stage1/attach/<app>/`, each
 * served by a socat that lives as long as the app; docs/stage1.md). It ends when the app's output
 * endpoints close (the app ended), or, attached to input only, at the end of stdin.
 */
import { existsSync } from 'node:fs';
import { createConnection, type Socket } from 'node:net';
import path from 'node:path';
import { Command } from 'commander';
import { RKT_FAILURE, RocketError } from '../../../errors.js';
import type { PodInfo } from '../../../pod/index.js';
import { action } from '../../run.js';
import { appState } from '../../../pod-layout.js';
import { dataDir } from './common.js';

type Endpoint = 'tty-in' | 'tty-out' | 'stdin' | 'stdout' | 'stderr';
const STREAMS = ['stdin', 'stdout', 'stderr'] as const;

/** The endpoints an app was added with, from its annotations in the pod manifest. */
export function appEndpoints(pod: PodInfo, app: string): Endpoint[] {
  const ra = pod.manifest?.apps.find((a) => a.name === app);
  const mode = (s: string): string | undefined =>
    ra?.annotations?.find((a) => a.name === `coreos.com/rkt/stage2/${s}`)?.value;
  if (STREAMS.some((s) => mode(s) === 'tty')) return ['tty-in', 'tty-out'];
  return STREAMS.filter((s) => mode(s) === 'stream');
}

/** The endpoints `--mode` asks for, among those the app has. */
export function modeEndpoints(mode: string, available: readonly Endpoint[]): Endpoint[] {
  const tty = available.includes('tty-in');
  let wanted: Endpoint[];
  if (mode === 'auto') wanted = [...available];
  else if (mode === 'tty') wanted = ['tty-in', 'tty-out'];
  else if (mode === 'tty-in' || mode === 'tty-out') wanted = [mode];
  else {
    wanted = mode.split(',').map((m) => {
      if (!(STREAMS as readonly string[]).includes(m))
        throw new RocketError(
          `--mode: unknown mode ${JSON.stringify(m)} (list, auto, tty, tty-in, tty-out, or stdin,stdout,stderr)`,
          RKT_FAILURE,
        );
      return m as Endpoint;
    });
  }
  for (const w of wanted)
    if (!available.includes(w))
      throw new RocketError(
        tty
          ? `--mode=${mode}: the app has a tty, attach with --mode=tty, tty-in or tty-out`
          : `--mode=${mode}: the app has no ${w} endpoint (it has: ${available.join(', ') || 'none'})`,
        RKT_FAILURE,
      );
  return [...new Set(wanted)];
}

function socketFile(pod: PodInfo, app: string, e: Endpoint): string {
  const name = e === 'tty-in' || e === 'tty-out' ? 'tty' : e;
  return path.join(pod.path, 'stage1', 'attach', app, `${name}.sock`);
}

function connect(file: string): Promise<Socket> {
  return new Promise((resolve, reject) => {
    const s = createConnection(file);
    s.once('connect', () => resolve(s));
    s.once('error', reject);
  });
}

/** Connects the endpoints and relays until the app's output ends (or stdin, with input only). */
async function relay(pod: PodInfo, app: string, endpoints: readonly Endpoint[]): Promise<void> {
  const { setTimeout: sleep } = await import('node:timers/promises');
  // A stream's socket appears once the app's runtime has opened its FIFO: wait while it runs.
  const files = [...new Set(endpoints.map((e) => socketFile(pod, app, e)))];
  while (!files.every((f) => existsSync(f))) {
    if (appState(pod.path, app) === 'exited')
      throw new RocketError(`app ${JSON.stringify(app)} has exited`, RKT_FAILURE);
    await sleep(10);
  }
  const sockets = new Map<string, Socket>();
  for (const f of files) sockets.set(f, await connect(f));
  const sock = (e: Endpoint): Socket => sockets.get(socketFile(pod, app, e)) as Socket;
  const input = endpoints.find((e) => e === 'tty-in' || e === 'stdin');
  const outputs = endpoints.filter((e) => e !== 'tty-in' && e !== 'stdin');
  const stdin = process.stdin;
  const raw = input === 'tty-in' && stdin.isTTY;
  if (raw) stdin.setRawMode(true);
  try {
    const ended: Promise<void>[] = [];
    for (const e of outputs) {
      const s = sock(e);
      s.pipe(e === 'stderr' ? process.stderr : process.stdout, { end: false });
      ended.push(new Promise((resolve) => s.once('close', () => resolve())));
    }
    if (input !== undefined) {
      const s = sock(input);
      // tty-in alone: what the app writes is not wanted.
      if (!outputs.includes('tty-out')) s.resume();
      stdin.pipe(s);
      if (outputs.length === 0)
        ended.push(
          new Promise((resolve) => {
            s.once('close', () => resolve());
            stdin.once('end', () => s.end());
          }),
        );
    }
    await Promise.all(ended);
  } finally {
    if (raw) stdin.setRawMode(false);
    stdin.unpipe();
    stdin.destroy();
    for (const s of sockets.values()) s.destroy();
  }
}

/** Without --app: the pod's one app that has endpoints. */
function onlyAttachable(pod: PodInfo, names: readonly string[]): string {
  const attachable = names.filter((n) => appEndpoints(pod, n).length > 0);
  const only = attachable[0];
  if (attachable.length !== 1 || only === undefined)
    throw new RocketError(
      attachable.length === 0
        ? `pod ${pod.uuid} has no app to attach to (add one with --stdin, --stdout or --stderr set to tty or stream)`
        : `pod ${pod.uuid} has several apps to attach to (${attachable.join(', ')}): choose one with --app`,
      RKT_FAILURE,
    );
  return only;
}

export function attachCommand(): Command {
  return new Command('attach')
    .description('Attach to an app running within a rkt pod')
    .usage('[--app=NAME] [--mode=list|auto|tty|tty-in|tty-out|stdin,stdout,stderr] UUID')
    .option('--app <name>', 'name of the app to attach to within the specified pod')
    .option('--mode <mode>', 'attaching mode', 'auto')
    .argument('[uuid]')
    .action(
      action('attach', async (uuid: string | undefined, _f: unknown, cmd: Command) => {
        if (uuid === undefined || uuid === '')
          throw new RocketError('must provide the pod UUID', RKT_FAILURE);
        const opts = cmd.opts<{ app?: string; mode: string }>();
        const { getPod } = await import('../../../pod/index.js');
        const pod = getPod(dataDir(cmd), uuid);
        if (pod.state !== 'running') throw new RocketError(`pod ${pod.uuid} is not running`, RKT_FAILURE);
        const names = pod.manifest?.apps.map((a) => a.name) ?? [];
        const app = opts.app ?? onlyAttachable(pod, names);
        if (!names.includes(app))
          throw new RocketError(`pod ${pod.uuid} has no app ${JSON.stringify(app)}`, RKT_FAILURE);
        const available = appEndpoints(pod, app);
        if (opts.mode === 'list') {
          process.stdout.write(available.map((e) => `${e}\n`).join(''));
          return;
        }
        if (available.length === 0)
          throw new RocketError(
            `app ${JSON.stringify(app)} has no endpoint to attach to (add it with --stdin, --stdout or --stderr set to tty or stream)`,
            RKT_FAILURE,
          );
        const endpoints = modeEndpoints(opts.mode, available);
        if (appState(pod.path, app) !== 'running')
          throw new RocketError(`app ${JSON.stringify(app)} is not running`, RKT_FAILURE);
        // An engine that relays the endpoints itself (kvm: they are in the VM) gets a plan.
        const { loadEngineForPod } = await import('../../../stage1/engines.js');
        const engine = await loadEngineForPod(pod);
        if (engine.attach !== undefined) {
          const { handOff } = await import('../../../stage1/engine.js');
          const tty = endpoints.some((e) => e === 'tty-in' || e === 'tty-out');
          const streams = endpoints.map((e) => (e === 'tty-in' ? 'stdin' : e === 'tty-out' ? 'stdout' : e));
          return handOff(engine.attach({ pod, app, streams, ...(tty ? { tty } : {}) }));
        }
        await relay(pod, app, endpoints);
      }),
    );
}
