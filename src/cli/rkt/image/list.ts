import { Command, InvalidArgumentError, Option } from 'commander';
import type { ImageInfo } from '../../../store/index.js';
import { formatGoTime, humanizeIBytes, humanizeTime } from '../../format/humanize.js';
import { goJsonArray, goJsonString } from '../../format/json.js';
import { optionListParser } from '../../format/options.js';
import { formatTable } from '../../format/tabwriter.js';
import { action } from '../../run.js';
import { withStore } from './common.js';

/** `--fields` names and their headers (rkt v1.30 dropped `latest` from the accepted fields). */
export const LIST_FIELDS = ['id', 'name', 'size', 'importtime', 'lastused'] as const;
export type ListField = (typeof LIST_FIELDS)[number];
export const SORT_FIELDS = ['name', 'importtime', 'lastused', 'size'] as const;
export type SortField = (typeof SORT_FIELDS)[number];

const HEADERS: Record<ListField, string> = {
  id: 'ID',
  name: 'NAME',
  size: 'SIZE',
  importtime: 'IMPORT TIME',
  lastused: 'LAST USED',
};

export type OutputFormat = '' | 'json' | 'json-pretty';

export interface ListOptions {
  fields: readonly ListField[];
  sort: readonly SortField[];
  ascending: boolean;
  legend: boolean;
  full: boolean;
  format: OutputFormat;
}

export const DEFAULT_LIST_OPTIONS: ListOptions = {
  fields: LIST_FIELDS,
  sort: ['importtime'],
  ascending: true,
  legend: true,
  full: false,
  format: '',
};

/** `sha512-` and the first 12 hex digits, as rkt's table shows IDs. */
export function shortImageId(id: string): string {
  const dash = id.indexOf('-');
  const end = dash + 13;
  return dash > 0 && end < id.length ? id.slice(0, end) : id;
}

/** NAME as rkt shows it: `name:version` when the image has a version label. */
export function displayName(info: ImageInfo): string {
  const version = info.labels.find((l) => l.name === 'version')?.value;
  return version === undefined ? info.name : `${info.name}:${version}`;
}

/**
 * The order rkt's `ORDER BY f1, f2 ... ASC|DESC` gives: the direction applies to every field (its
 * ql database takes one direction for the list). `size` sorts by the blob size alone (the column rkt
 * orders by), though SIZE shows blob plus tree. Ties keep import order.
 */
export function sortImages(
  images: readonly ImageInfo[],
  sort: readonly SortField[],
  ascending: boolean,
): ImageInfo[] {
  const value = (i: ImageInfo, f: SortField): string | number =>
    f === 'name'
      ? i.name
      : f === 'size'
        ? i.size
        : f === 'importtime'
          ? i.importTime.getTime()
          : i.lastUsed.getTime();
  const dir = ascending ? 1 : -1;
  return [...images].sort((a, b) => {
    for (const f of sort) {
      const x = value(a, f);
      const y = value(b, f);
      if (x < y) return -dir;
      if (x > y) return dir;
    }
    return 0;
  });
}

const nanos = (d: Date) => (BigInt(d.getTime()) * 1_000_000n).toString();

/** `rkt image list` output for these images (already read from the store). */
export function renderImageList(
  images: readonly ImageInfo[],
  opts: ListOptions,
  now: Date = new Date(),
): string {
  const sorted = sortImages(images, opts.sort, opts.ascending);
  if (opts.format !== '') {
    // JSON always has full values; a nil Go slice (no images) marshals to `null`.
    if (sorted.length === 0) return 'null\n';
    const entries = sorted.map((i) => [
      ['id', goJsonString(i.key)] as const,
      ['name', goJsonString(displayName(i))] as const,
      ['import_time', nanos(i.importTime)] as const,
      ['last_used_time', nanos(i.lastUsed)] as const,
      ['size', String(i.totalSize)] as const,
    ]);
    return goJsonArray(entries, opts.format === 'json-pretty' ? '\t' : undefined) + '\n';
  }
  const time = (d: Date) => (opts.full ? formatGoTime(d) : humanizeTime(d, now));
  const cell = (i: ImageInfo, f: ListField): string => {
    switch (f) {
      case 'id':
        return opts.full ? i.key : shortImageId(i.key);
      case 'name':
        return displayName(i);
      case 'size':
        return opts.full ? String(i.totalSize) : humanizeIBytes(i.totalSize);
      case 'importtime':
        return time(i.importTime);
      case 'lastused':
        return time(i.lastUsed);
    }
  };
  const rows: string[][] = [];
  if (opts.legend) rows.push(opts.fields.map((f) => HEADERS[f]));
  for (const i of sorted) rows.push(opts.fields.map((f) => cell(i, f)));
  return formatTable(rows);
}

function parseFormat(value: string): OutputFormat {
  if (value === '' || value === 'json' || value === 'json-pretty') return value;
  throw new InvalidArgumentError(`Invalid format option: ${value}`);
}

function parseOrder(value: string): boolean {
  const v = value.toLowerCase();
  if (v === 'asc' || v === 'desc') return v === 'asc';
  throw new InvalidArgumentError('wrong sort order');
}

interface ListFlags {
  fields: ListField[];
  sort: SortField[];
  order: boolean;
  legend: boolean;
  full: boolean;
  format: OutputFormat;
}

export function imageListCommand(): Command {
  const quoted = (l: readonly string[]) => `"${l.join('", "')}"`;
  return new Command('list')
    .description('List images in the local store')
    .addOption(
      new Option(
        '--fields <fields>',
        `comma-separated list of fields to display. Accepted values: ${quoted(LIST_FIELDS)}`,
      )
        .argParser(optionListParser(LIST_FIELDS))
        .default([...LIST_FIELDS], LIST_FIELDS.join(',')),
    )
    .addOption(
      new Option(
        '--sort <fields>',
        `sort the output according to the provided comma-separated list of fields. Accepted values: ${quoted(SORT_FIELDS)}`,
      )
        .argParser(optionListParser(SORT_FIELDS))
        .default(['importtime'], 'importtime'),
    )
    .addOption(
      new Option(
        '--order <order>',
        'choose the sorting order if at least one sort field is provided (--sort). Accepted values: "asc", "desc"',
      )
        .argParser(parseOrder)
        .default(true, 'asc'),
    )
    .option('--no-legend', 'suppress a legend with the list')
    .option('--full', 'use long output format', false)
    .addOption(
      new Option(
        '--format <format>',
        "choose the output format, allowed format includes 'json', 'json-pretty'. If empty, then the result is printed as key value pairs",
      )
        .argParser(parseFormat)
        .default(''),
    )
    .action(
      action('list', async (flags: ListFlags, cmd: Command) => {
        const images = await withStore(cmd, (store) => store.listImages());
        const out = renderImageList(images, {
          fields: flags.fields,
          sort: flags.sort,
          ascending: flags.order,
          legend: flags.legend,
          full: flags.full,
          format: flags.format,
        });
        process.stdout.write(out);
      }),
    );
}
