/**
 * `rkt config [--pretty-print]`: the configuration of the system, local and user config dirs merged
 * as stage0 uses it, printed as rkt did: `{"stage0": [...]}` with one `auth` entry per domain, one
 * `dockerAuth` entry per registry, then `paths` and `stage1`. Each entry is itself a valid config
 * file. Credentials are printed as they are configured (rkt printed them too).
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { Command, Option } from 'commander';
import { RKT_FAILURE, RocketError, errorMessage } from '../../errors.js';
import { jsonFilesIn, loadDockerCredentials, parseAuthFile } from '../../fetch/auth.js';
import { action } from '../run.js';
import { rktGlobals } from './globals.js';

/** The default stage1 images directory of rkt's packages. */
export const DEFAULT_STAGE1_IMAGES_DIR = '/usr/lib/rkt/stage1-images';

type Entry = Record<string, unknown>;

export interface MergedConfig {
  /** Per domain: the auth entry's type and credentials as configured. */
  auth: Map<string, { type: string; credentials: unknown }>;
  docker: Record<string, { user: string; password: string }>;
  paths: { data?: string; 'stage1-images'?: string };
  stage1: { name?: string; version?: string; location?: string };
}

function fail(path: string, message: string): never {
  throw new RocketError(
    `cannot get configuration: failed to parse ${JSON.stringify(path)}: ${message}`,
    RKT_FAILURE,
  );
}

function readJsonObject(path: string): Entry {
  let doc: unknown;
  try {
    doc = JSON.parse(readFileSync(path, 'utf8'));
  } catch (err) {
    return fail(path, errorMessage(err));
  }
  if (typeof doc !== 'object' || doc === null || Array.isArray(doc)) return fail(path, 'not a JSON object');
  return doc as Entry;
}

function str(doc: Entry, field: string): string | undefined {
  const v = doc[field];
  return typeof v === 'string' && v !== '' ? v : undefined;
}

function checkKind(path: string, doc: Entry, kind: string): void {
  const k = str(doc, 'rktKind');
  const v = str(doc, 'rktVersion');
  if (k === undefined) fail(path, 'no rktKind specified');
  if (v === undefined) fail(path, 'no rktVersion specified');
  if (k !== kind) fail(path, `expected configuration files of kind "${kind}", but got ${k}`);
  if (v !== 'v1') fail(path, `no parser available for configuration of kind "${kind}" and version "${v}"`);
}

/** Reads and merges the config dirs in order (later ones override), with rkt's checks. */
export function loadConfig(configDirs: readonly string[]): MergedConfig {
  const dirs = configDirs.filter((d) => d !== '');
  const out: MergedConfig = { auth: new Map(), docker: loadDockerCredentials(dirs), paths: {}, stage1: {} };
  for (const dir of dirs) {
    const seenDomains = new Set<string>();
    for (const path of jsonFilesIn(join(dir, 'auth.d'))) {
      const text = readFileSync(path, 'utf8');
      try {
        parseAuthFile(text, new Map(), seenDomains);
      } catch (err) {
        fail(path, errorMessage(err));
      }
      const doc = JSON.parse(text) as Entry;
      if (doc['rktKind'] !== 'auth') continue;
      const type = str(doc, 'type') ?? '';
      for (const d of doc['domains'] as unknown[])
        if (typeof d === 'string') out.auth.set(d, { type, credentials: doc['credentials'] });
    }
    const paths: MergedConfig['paths'] = {};
    for (const path of jsonFilesIn(join(dir, 'paths.d'))) {
      const doc = readJsonObject(path);
      checkKind(path, doc, 'paths');
      for (const field of ['data', 'stage1-images'] as const) {
        const v = str(doc, field);
        if (v === undefined) continue;
        if (paths[field] !== undefined) fail(path, `${field} path is already specified`);
        paths[field] = v;
      }
    }
    Object.assign(out.paths, paths);
    const stage1: MergedConfig['stage1'] = {};
    for (const path of jsonFilesIn(join(dir, 'stage1.d'))) {
      const doc = readJsonObject(path);
      checkKind(path, doc, 'stage1');
      const name = str(doc, 'name');
      const version = str(doc, 'version');
      const location = str(doc, 'location');
      if ((name === undefined) !== (version === undefined))
        fail(path, 'default stage1 image name and version must be specified together');
      if (name !== undefined) {
        if (stage1.name !== undefined)
          fail(path, 'default stage1 image name and version are already specified');
        stage1.name = name;
        stage1.version = version;
      }
      if (location !== undefined) {
        if (stage1.location !== undefined) fail(path, 'default stage1 image location is already specified');
        stage1.location = location;
      }
    }
    Object.assign(out.stage1, stage1);
  }
  return out;
}

/** The `stage0` entries of `rkt config`; `dataDir` is the data dir in effect (the `--dir` flag). */
export function configEntries(cfg: MergedConfig, dataDir: string): Entry[] {
  const head = (kind: string): Entry => ({ rktVersion: 'v1', rktKind: kind });
  const entries: Entry[] = [];
  for (const domain of [...cfg.auth.keys()].sort()) {
    const a = cfg.auth.get(domain) as { type: string; credentials: unknown };
    entries.push({ ...head('auth'), domains: [domain], type: a.type, credentials: a.credentials });
  }
  for (const registry of Object.keys(cfg.docker).sort()) {
    const c = cfg.docker[registry] as { user: string; password: string };
    entries.push({
      ...head('dockerAuth'),
      registries: [registry],
      credentials: { user: c.user, password: c.password },
    });
  }
  entries.push({
    ...head('paths'),
    data: cfg.paths.data ?? dataDir,
    'stage1-images': cfg.paths['stage1-images'] ?? DEFAULT_STAGE1_IMAGES_DIR,
  });
  entries.push({ ...head('stage1'), ...cfg.stage1 });
  return entries;
}

export function configCommand(): Command {
  return new Command('config')
    .description(
      'Print configuration for each stage in JSON format.\n\n' +
        'The output is JSON with "stage0" as key and rkt configuration entries as values. ' +
        'The entries resemble the configuration files they were read from.',
    )
    .summary('Print configuration for each stage in JSON format')
    .addOption(
      new Option('--pretty-print [bool]', 'apply indent to format the output')
        .default(true)
        .preset('true')
        .argParser((v: string) => !['false', '0', 'f', 'F', 'FALSE', 'False'].includes(v)),
    )
    .action(
      action('config', (flags: { prettyPrint: boolean }, cmd: Command) => {
        const g = rktGlobals(cmd);
        const cfg = loadConfig([g.systemConfig, g.localConfig, g.userConfig]);
        const doc = { stage0: configEntries(cfg, g.dir) };
        process.stdout.write(
          (flags.prettyPrint ? JSON.stringify(doc, null, '\t') : JSON.stringify(doc)) + '\n',
        );
      }),
    );
}
