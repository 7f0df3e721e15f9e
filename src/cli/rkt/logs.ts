/**
 * `rkt logs [--app=NAME] [--since=DURATION|TIME] [--lines=N] [--follow] [--timestamps]
 * [--uuid-file=FILE | UUID]`: the pod's app output (src/logs), every app's stdout and stderr merged
 * by time. rkt itself had no such verb (its pods logged to the journal only).
 */
import { once } from 'node:events';
import { Command, InvalidArgumentError } from 'commander';
import { RKT_FAILURE, RocketError, errorMessage } from '../../errors.js';
import { parseGoDuration } from '../format/duration.js';
import { action } from '../run.js';
import { dataDir, podUuidArgs } from './pod/common.js';

/**
 * `--since`: a duration back from now (Go syntax: `90s`, `10m`, `1h30m`), or a time: RFC 3339
 * (`2026-01-02T15:04:05Z`, fractions and offsets allowed) or a date (`2026-01-02`, UTC midnight).
 */
export function parseSince(value: string, now = Date.now()): Date {
  if (/^[+-]?(\d+(\.\d*)?|\.\d+)[a-z\u00b5\u03bc]/i.test(value) || value === '0') {
    let ns: bigint;
    try {
      ns = parseGoDuration(value);
    } catch (err) {
      throw new InvalidArgumentError(errorMessage(err));
    }
    return new Date(now - Math.abs(Number(ns / 1_000_000n)));
  }
  const m = /^(\d{4}-\d{2}-\d{2})(?:[T ](\d{2}:\d{2}(?::\d{2}(?:\.\d+)?)?)(Z|[+-]\d{2}:?\d{2})?)?$/i.exec(
    value,
  );
  const t = m === null ? NaN : Date.parse(m[2] === undefined ? `${m[1]}T00:00:00Z` : value.replace(' ', 'T'));
  if (Number.isNaN(t))
    throw new InvalidArgumentError(
      `expected a duration (e.g. 10m) or a time (e.g. 2026-01-02T15:04:05Z), got ${JSON.stringify(value)}`,
    );
  return new Date(t);
}

function parseLines(value: string): number {
  if (!/^\d+$/.test(value)) throw new InvalidArgumentError(`expected a number of lines, got ${value}`);
  return Number(value);
}

interface LogsFlags {
  app?: string;
  since?: Date;
  lines?: number;
  follow: boolean;
  timestamps: boolean;
  uuidFile: string;
}

export function logsCommand(): Command {
  return new Command('logs')
    .description("Print a pod's app output (stdout and stderr of every app, merged by time)")
    .usage('[--app=NAME] [--since=DURATION|TIME] [--lines=N] [--follow] [--timestamps] UUID')
    .option('--app <name>', 'only this app')
    .option('--since <when>', 'only lines since a time (RFC 3339) or a duration ago (e.g. 10m)', (v) =>
      parseSince(v),
    )
    .option('-n, --lines <n>', 'only the last N lines', parseLines)
    .option('-f, --follow', 'keep printing new lines until the pod exits', false)
    .option('--timestamps', 'prefix each line with its time (RFC 3339, UTC)', false)
    .option('--uuid-file <file>', 'read pod UUID from file instead of argument', '')
    .argument('[uuid]')
    .action(
      action('logs', async (uuid: string | undefined, flags: LogsFlags, cmd: Command) => {
        const { getPod } = await import('../../pod/index.js');
        const { readLogs } = await import('../../logs/read.js');
        const [wanted] = podUuidArgs(uuid === undefined ? [] : [uuid], flags.uuidFile);
        const pod = getPod(dataDir(cmd), wanted as string);
        if (flags.app !== undefined && !pod.manifest?.apps.some((a) => a.name === flags.app))
          throw new RocketError(`pod ${pod.uuid} has no app ${JSON.stringify(flags.app)}`, RKT_FAILURE);
        const abort = new AbortController();
        const onSignal = (): void => abort.abort();
        process.once('SIGINT', onSignal).once('SIGTERM', onSignal);
        let broken = false;
        process.stdout.on('error', () => {
          broken = true;
          abort.abort();
        });
        try {
          for await (const e of readLogs(pod.path, {
            ...(flags.app !== undefined ? { app: flags.app } : {}),
            ...(flags.since !== undefined ? { since: flags.since } : {}),
            ...(flags.lines !== undefined ? { lines: flags.lines } : {}),
            follow: flags.follow,
            signal: abort.signal,
          })) {
            if (broken) break;
            const prefix =
              (flags.timestamps ? `${e.time.toISOString()} ` : '') +
              (flags.app === undefined ? `${e.app}: ` : '');
            if (!process.stdout.write(prefix + e.line + '\n'))
              await Promise.race([once(process.stdout, 'drain'), once(abort.signal, 'abort')]);
          }
        } catch (err) {
          if ((err as NodeJS.ErrnoException).code === 'ENOENT')
            throw new RocketError(`pod ${pod.uuid} is gone`, RKT_FAILURE);
          throw err;
        } finally {
          process.off('SIGINT', onSignal).off('SIGTERM', onSignal);
        }
        return 0;
      }),
    );
}
