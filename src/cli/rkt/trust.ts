import { readFile } from 'node:fs/promises';
import type { Command } from 'commander';
import { RocketError, RKT_FAILURE, errorMessage } from '../../errors.js';
import type { Keystore, TrustScope } from '../../trust/keystore.js';
import { action } from '../run.js';
import { rktGlobals, type RktGlobals } from './globals.js';

const UNBOUNDED_TRUST = `aborting due to implicit unbounded trust (root domain)
Please provide a specific domain prefix to trust:
    rkt trust --prefix "example.com/foo" [PUBKEY]
    rkt trust --prefix "example.com/foo/*" [PUBKEY]
Otherwise, trust at the root domain (not recommended) must be explicitly requested:
    rkt trust --root PUBKEY`;

interface TrustFlags {
  prefix: string;
  root: boolean;
  skipFingerprintReview: boolean;
  insecureAllowHttp: boolean;
}

function fail(message: string): never {
  throw new RocketError(message, RKT_FAILURE);
}

/** A key location as rkt takes it: a local file, or an https URL (http only when allowed). */
async function readKeyLocation(
  location: string,
  flags: TrustFlags,
  globals: RktGlobals,
): Promise<Uint8Array> {
  const scheme = /^([a-z][a-z0-9+.-]*):/i.exec(location)?.[1]?.toLowerCase();
  if (scheme === undefined) return readFile(location);
  if (scheme === 'http' && !flags.insecureAllowHttp) fail('--insecure-allow-http required for http URLs');
  if (scheme !== 'http' && scheme !== 'https') fail('only local files and http or https URLs supported');
  const { Agent, interceptors, request } = await import('undici');
  // Like discovery and fetch: trust SSL_CERT_FILE's bundle too (the reference's Go runtime does).
  const { caList, extraCaPems } = await import('../../tls-ca.js');
  const ca = caList(extraCaPems());
  const dispatcher = new Agent({
    connect: { rejectUnauthorized: !globals.insecureOptions.has('tls'), ...(ca ? { ca } : {}) },
  });
  try {
    const res = await request(location, {
      dispatcher: dispatcher.compose(interceptors.redirect({ maxRedirections: 10 })),
    });
    if (res.statusCode !== 200) {
      await res.body.dump();
      fail(`bad HTTP status code: ${res.statusCode}`);
    }
    return new Uint8Array(await res.body.arrayBuffer());
  } finally {
    await dispatcher.close();
  }
}

async function discoverKeyLocations(
  prefix: string,
  flags: TrustFlags,
  globals: RktGlobals,
): Promise<string[]> {
  const insecure = { http: flags.insecureAllowHttp, tls: globals.insecureOptions.has('tls') };
  const { discoverPublicKeys, newApp } = await import('../../discovery/index.js');
  const { publicKeys } = await discoverPublicKeys(newApp(prefix), { insecure }).catch((err: unknown) =>
    fail(`error determining key location: ${errorMessage(err)}`),
  );
  if (publicKeys.length === 0)
    fail(`error determining key location: meta discovery on ${prefix} resulted in no keys`);
  return [...publicKeys];
}

async function addKey(
  location: string,
  scope: TrustScope,
  flags: TrustFlags,
  globals: RktGlobals,
  ks: Keystore,
) {
  const { addedKeyMessage, keyReviewText, noTerminalHint, parsePublicKeys, reviewKey, trustingMessage } =
    await import('../../trust/pubkey.js');
  const prefix = 'prefix' in scope ? scope.prefix : '';
  const bytes = await readKeyLocation(location, flags, globals).catch((err: unknown) =>
    fail(`error adding keys: error accessing the key ${location}: ${errorMessage(err)}`),
  );
  const keys = await parsePublicKeys(bytes, location).catch((err: unknown) =>
    fail(`error adding keys: error displaying the key ${location}: ${errorMessage(err)}`),
  );
  // An expired or revoked key can never verify an image: refused before the review.
  const problem = keys[0]?.problem;
  if (problem !== undefined) fail(`error adding keys: ${problem}: not trusting ${location}`);
  const review = keyReviewText(prefix, location, keys);
  process.stderr.write(review.stderr);
  process.stdout.write(review.stdout);
  const reviewed = !flags.skipFingerprintReview;
  if (reviewed) {
    if (!process.stdin.isTTY || !process.stderr.isTTY) {
      process.stderr.write(noTerminalHint(prefix));
      fail(
        'error adding keys: error reviewing key: unable to ask user to review fingerprint due to lack of tty',
      );
    }
    if (!(await reviewKey({ input: process.stdin, output: process.stdout }))) {
      process.stderr.write(`pubkey: not trusting ${JSON.stringify(location)}\n`);
      return;
    }
  }
  if (prefix !== '') process.stdout.write(trustingMessage(location, prefix, reviewed) + '\n');
  const path = await ks.storeTrustedKey(scope, bytes);
  process.stdout.write(addedKeyMessage(prefix, path) + '\n');
}

export function registerTrust(program: Command): void {
  program
    .command('trust')
    .description('Trust a key for image verification')
    .usage('[--prefix=PREFIX] [--insecure-allow-http] [--skip-fingerprint-review] [--root] [PUBKEY ...]')
    .option('--prefix <prefix>', 'prefix to limit trust to', '')
    .option('--root', 'add root key from filesystem without a prefix', false)
    .option('--skip-fingerprint-review', 'accept key without fingerprint confirmation', false)
    .option('--insecure-allow-http', 'allow HTTP use for key discovery and/or retrieval', false)
    .argument('[pubkeys...]')
    .action(
      action('trust', async (locations: string[], flags: TrustFlags, cmd: Command) => {
        const globals = rktGlobals(cmd);
        if (flags.prefix === '' && !flags.root) {
          if (locations.length === 0) process.stderr.write((await import('../help.js')).helpFor(cmd));
          else process.stderr.write(`trust: ${UNBOUNDED_TRUST}\n`);
          return RKT_FAILURE;
        }
        if (flags.prefix !== '' && flags.root) fail('--root and --prefix usage mutually exclusive');
        const scheme = /^([a-z][a-z0-9+.-]*):\/\//i.exec(flags.prefix)?.[1];
        if (scheme !== undefined) fail(`--prefix must not contain a URL scheme, omit ${scheme}://`);
        if (flags.root && locations.length === 0)
          fail('--root requires the path to a key file (no discovery)');
        const { Keystore } = await import('../../trust/keystore.js');
        const ks = new Keystore({ systemDir: globals.systemConfig, localDir: globals.localConfig });
        const scope: TrustScope = flags.root ? { root: true } : { prefix: flags.prefix };
        const keyLocations =
          locations.length > 0 ? locations : await discoverKeyLocations(flags.prefix, flags, globals);
        for (const location of keyLocations) await addKey(location, scope, flags, globals, ks);
        return 0;
      }),
    );
}
