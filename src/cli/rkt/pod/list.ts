import { Command, Option } from 'commander';
import { listSettledPods, appImageName, type PodInfo } from '../../../pod/index.js';
import { formatNets, readNetInfo } from '../../../net/info.js';
import { formatGoTime, humanizeTime } from '../../format/humanize.js';
import { formatTable } from '../../format/tabwriter.js';
import { action } from '../../run.js';
import { dataDir } from './common.js';
import { goJson, podJsonObject } from './json.js';

export interface PodListOptions {
  full: boolean;
  legend: boolean;
  format: '' | 'json' | 'json-pretty';
}

/** `rkt list` output: one row per app; pod columns on the pod's first row only. */
export function renderPodList(
  pods: readonly PodInfo[],
  opts: PodListOptions,
  now: Date = new Date(),
): string {
  if (opts.format !== '') {
    const objs = pods.map(podJsonObject);
    return goJson(objs.length === 0 ? null : objs, opts.format === 'json-pretty') + '\n';
  }
  const rows: string[][] = [];
  if (opts.legend)
    rows.push(
      opts.full
        ? ['UUID', 'APP', 'IMAGE NAME', 'IMAGE ID', 'STATE', 'CREATED', 'STARTED', 'NETWORKS']
        : ['UUID', 'APP', 'IMAGE NAME', 'STATE', 'CREATED', 'STARTED', 'NETWORKS'],
    );
  const time = (d: Date | undefined) =>
    d === undefined ? '' : opts.full ? formatGoTime(d) : humanizeTime(d, now);
  for (const p of pods) {
    const nets = p.state === 'running' || p.state === 'exited' ? formatNets(readNetInfo(p.path)) : '';
    let pod = [opts.full ? p.uuid : p.uuid.slice(0, 8), p.state, time(p.created), time(p.started), nets];
    const apps = (p.listed ?? p.manifest)?.apps ?? [];
    const lines =
      apps.length === 0
        ? [{ app: '-', image: '-', id: '-' }]
        : apps.map((ra) => ({
            app: ra.name,
            image: p.imageNames?.[ra.name] ?? appImageName(p.path, ra.name) ?? '--',
            id: (ra.image.id ?? '').slice(0, 19),
          }));
    for (const l of lines) {
      const [uuid, state, created, started, nets] = pod as [string, string, string, string, string];
      rows.push(
        opts.full
          ? [uuid, l.app, l.image, l.id, state, created, started, nets]
          : [uuid, l.app, l.image, state, created, started, nets],
      );
      pod = ['', '', '', '', ''];
    }
  }
  return formatTable(rows);
}

export function listCommand(): Command {
  return new Command('list')
    .description('List pods')
    .option('--full', 'use long output format', false)
    .option('--no-legend', 'suppress a legend with the list')
    .addOption(
      new Option('--format <format>', 'choose the output format')
        .choices(['', 'json', 'json-pretty'])
        .default(''),
    )
    .action(
      action(
        'list',
        async (flags: { full: boolean; legend: boolean; format: PodListOptions['format'] }, cmd: Command) => {
          const pods = await listSettledPods(dataDir(cmd), { summaries: true });
          process.stdout.write(renderPodList(pods, flags));
          const errors = pods.filter((p) => p.manifestError !== undefined);
          if (errors.length > 0) {
            process.stderr.write('list: warning: error(s) listing pods:\n');
            for (const p of errors)
              process.stderr.write(
                `  Unable to read pod ${p.uuid} manifest:\n    ${p.manifestError ?? ''}\n`,
              );
          }
        },
      ),
    );
}
