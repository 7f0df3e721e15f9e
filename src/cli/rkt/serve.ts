import { readFileSync } from 'node:fs';
import type { Store } from '../../store/index.js';
import { openStore } from './pod/common.js';

/** What a long-running service verb is given to start its server with. */
export interface ServeContext {
  store: Store;
  /** Rocket's version (package.json). */
  version: string;
  /** Writes one line to stderr, prefixed with the verb's name. */
  log: (line: string) => void;
}

export interface ServeOptions<S extends { close(): Promise<void> }> {
  /** The verb, the prefix of every log line. */
  name: string;
  /** The store's directory (--dir). */
  dir: string;
  /** Logged once the signals are handled, before the server starts. */
  starting?: string;
  start: (ctx: ServeContext) => Promise<S>;
  /** Logs where the started server listens. */
  started: (service: S, log: (line: string) => void) => void;
  /** Logged when a signal asks the service to stop, before it closes. */
  exiting: string;
}

/**
 * Runs a service verb (api-service, cri-service) until SIGTERM or SIGINT: opens the store, starts
 * the server, then on the signal closes the server and the store. The flags are checked by the
 * caller before; the signals are handled from before the start, so one that comes during start-up
 * still shuts down cleanly.
 */
export async function serveUntilSignalled<S extends { close(): Promise<void> }>(
  opts: ServeOptions<S>,
): Promise<void> {
  const { findAbove } = await import('../../api/proto.js');
  const pkg = JSON.parse(readFileSync(findAbove('package.json'), 'utf8')) as { version: string };
  const log = (line: string): void => void process.stderr.write(`${opts.name}: ${line}\n`);
  const store = await openStore(opts.dir);
  let signalled!: () => void;
  const stopRequested = new Promise<void>((resolve) => (signalled = resolve));
  const onSignal = (): void => signalled();
  process.on('SIGTERM', onSignal);
  process.on('SIGINT', onSignal);
  if (opts.starting !== undefined) log(opts.starting);
  try {
    const service = await opts.start({ store, version: pkg.version, log });
    opts.started(service, log);
    await stopRequested;
    log(opts.exiting);
    await service.close();
  } finally {
    process.off('SIGTERM', onSignal);
    process.off('SIGINT', onSignal);
    store.close();
  }
}
