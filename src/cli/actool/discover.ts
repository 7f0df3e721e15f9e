/**
 * `actool discover [--json] [--port=N] [--insecure] APP...`, printing what the reference prints:
 * the failed walk levels, then `ACI: …, ASC: …` lines and `PublicKeys: …` (or Go-style indented
 * JSON). Its failure messages carry no `discover:` prefix, so they are written here and the exit
 * status is returned. The discovery library is loaded only when the command runs.
 */
import { InvalidArgumentError, type Command } from 'commander';
import type { DiscoveryOptions } from '../../discovery/index.js';
import { errorMessage } from '../../errors.js';
import { action } from '../run.js';

export interface DiscoverFlags {
  readonly json: boolean;
  readonly insecure: boolean;
  readonly port: number;
}

export interface DiscoverIO {
  out(line: string): void;
  err(line: string): void;
}

const processIO: DiscoverIO = {
  out: (line) => process.stdout.write(line + '\n'),
  err: (line) => process.stderr.write(line + '\n'),
};

/** Go's json.Marshal string escaping (HTML-safe: `<`, `>`, `&` become \u003c, \u003e, \u0026). */
function goJSONString(s: string): string {
  let out = '"';
  for (const ch of s) {
    const c = ch.codePointAt(0) ?? 0;
    if (ch === '"' || ch === '\\') out += '\\' + ch;
    else if (ch === '\n') out += '\\n';
    else if (ch === '\r') out += '\\r';
    else if (ch === '\t') out += '\\t';
    else if (c < 0x20 || ch === '<' || ch === '>' || ch === '&' || c === 0x2028 || c === 0x2029) {
      out += '\\u' + c.toString(16).padStart(4, '0');
    } else out += ch;
  }
  return out + '"';
}

type GoJSON = string | readonly GoJSON[] | { readonly [key: string]: GoJSON } | null;

/** Go's json.MarshalIndent(v, "", "    "). */
export function goMarshalIndent(value: GoJSON, indent = ''): string {
  const inner = indent + '    ';
  if (value === null) return 'null';
  if (typeof value === 'string') return goJSONString(value);
  if (Array.isArray(value)) {
    const items = value as readonly GoJSON[];
    if (items.length === 0) return '[]';
    return `[\n${items.map((v) => inner + goMarshalIndent(v, inner)).join(',\n')}\n${indent}]`;
  }
  const entries = Object.entries(value);
  if (entries.length === 0) return '{}';
  return `{\n${entries.map(([k, v]) => `${inner}${goJSONString(k)}: ${goMarshalIndent(v, inner)}`).join(',\n')}\n${indent}}`;
}

/**
 * Discovers each app in turn and prints as the reference does; returns the exit status (1 at the
 * first app that fails, after what was already printed). `extra` adds library options (tests pass
 * a CA there).
 */
export async function runDiscover(
  names: readonly string[],
  flags: DiscoverFlags,
  io: DiscoverIO = processIO,
  extra: DiscoveryOptions = {},
): Promise<number> {
  // The reference prints this and still exits 0.
  if (names.length === 0) io.err('discover: at least one name required');
  const { DiscoveryClient, DiscoveryError, hostGoArch, hostGoOS, parseAppString, withDefaultLabels } =
    await import('../../discovery/index.js');
  const client = new DiscoveryClient({
    ...extra,
    port: flags.port,
    insecure: flags.insecure ? { http: true, tls: true } : {},
  });
  const failed = (what: string, name: string, err: unknown): number => {
    if (!(err instanceof DiscoveryError)) throw err;
    io.err(`error fetching ${what} for ${name}: ${err.message}`);
    return 1;
  };
  try {
    for (const name of names) {
      let app;
      try {
        app = withDefaultLabels(parseAppString(name), [
          ['os', hostGoOS()],
          ['arch', hostGoArch()],
        ]);
      } catch (err) {
        io.err(`${name}: ${errorMessage(err)}`);
        return 1;
      }
      let endpoints;
      try {
        endpoints = await client.aciEndpoints(app);
      } catch (err) {
        return failed('endpoints', name, err);
      }
      for (const a of endpoints.attempts)
        io.out(`discover endpoints walk: prefix: ${a.prefix} error: ${a.error}`);
      let keys;
      try {
        keys = await client.publicKeys(app);
      } catch (err) {
        return failed('public keys', name, err);
      }
      for (const a of keys.attempts)
        io.out(`discover public keys walk: prefix: ${a.prefix} error: ${a.error}`);

      if (flags.json) {
        io.out(
          goMarshalIndent({
            ACIEndpoints: endpoints.endpoints.map((e) => ({ ACI: e.aci, ASC: e.asc })),
            PublicKeys: keys.publicKeys,
          }),
        );
      } else {
        for (const e of endpoints.endpoints) io.out(`ACI: ${e.aci}, ASC: ${e.asc}`);
        if (keys.publicKeys.length > 0) io.out(`PublicKeys: ${keys.publicKeys.join(',')}`);
      }
    }
    return 0;
  } finally {
    await client.close();
  }
}

function parsePort(value: string): number {
  if (!/^\d+$/.test(value) || Number(value) > 65535) {
    throw new InvalidArgumentError(`invalid value ${JSON.stringify(value)} for flag -port: parse error`);
  }
  return Number(value);
}

export function registerDiscover(program: Command): void {
  program
    .command('discover')
    .description('Discover the download URLs for one or more app container images')
    .usage('[--json] [--port] [--insecure] APP...')
    .option('--json', 'Output result as JSON', false)
    .option('--port <port>', 'Port to connect to when performing discovery', parsePort, 0)
    .option(
      '--insecure',
      "Don't check TLS certificates and allow insecure non-TLS downloads over http",
      false,
    )
    .argument('[app...]')
    .action(action('discover', (names: string[], flags: DiscoverFlags) => runDiscover(names, flags)));
}
