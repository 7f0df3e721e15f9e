import type { Command } from 'commander';
import { RocketError, RKT_FAILURE, errorMessage } from '../../errors.js';
import type { Store as StoreT } from '../../store/index.js';
import { action } from '../run.js';
import { rktGlobals, type RktGlobals } from './globals.js';

interface FetchFlags {
  full: boolean;
  pullPolicy: string;
  storeOnly: boolean;
  noStore: boolean;
}

/** rkt prints `sha512-` and 32 hex digits unless --full. */
const SHORT_ID_LENGTH = 'sha512-'.length + 32;

async function runFetch(operands: string[], cmdFlags: FetchFlags, globals: RktGlobals): Promise<number> {
  // The store (SQLite), openpgp and undici load only when a fetch actually runs.
  const fetch = await import('../../fetch/index.js');
  const { Store, resolveMaxImageSize } = await import('../../store/index.js');
  const { Keystore } = await import('../../trust/keystore.js');
  const { requests, flags } = fetch.parseFetchOperands(operands, cmdFlags);
  if (requests.length === 0) throw new RocketError('must provide at least one image', RKT_FAILURE);
  if (flags.storeOnly === true)
    process.stderr.write('Flag --store-only has been deprecated, please use --pull-policy=never\n');
  if (flags.noStore === true)
    process.stderr.write('Flag --no-store has been deprecated, please use --pull-policy=update\n');
  const pullPolicy = fetch.pullPolicyFromFlags(flags);
  const auth = fetch.loadAuthHeaders([globals.systemConfig, globals.localConfig, globals.userConfig]);
  let store: StoreT;
  try {
    store = Store.open(globals.dir);
  } catch (err) {
    throw new RocketError(`cannot open store: ${errorMessage(err)}`, RKT_FAILURE, { cause: err });
  }
  store.maxImageSize = resolveMaxImageSize(globals.maxImageSize, [
    globals.systemConfig,
    globals.localConfig,
    globals.userConfig,
  ]);
  const io = globals.insecureOptions;
  const fetcher = new fetch.Fetcher({
    store,
    keystore: new Keystore({ systemDir: globals.systemConfig, localDir: globals.localConfig }),
    pullPolicy,
    insecure: { image: io.has('image'), tls: io.has('tls'), http: io.has('http'), pubkey: io.has('pubkey') },
    trustKeysFromHttps: globals.trustKeysFromHttps,
    auth,
    dockerCredentials: fetch.loadDockerCredentials([
      globals.systemConfig,
      globals.localConfig,
      globals.userConfig,
    ]),
    debug: globals.debug,
  });
  const ids: string[] = [];
  try {
    for (const req of requests) {
      const key = await fetcher.fetch(req).catch((err: unknown) => {
        const message = errorMessage(err);
        // Name the argument unless the reason already does.
        throw new RocketError(
          message.includes(req.image) ? message : `${JSON.stringify(req.image)}: ${message}`,
          RKT_FAILURE,
          { cause: err },
        );
      });
      ids.push(flags.full === true ? key : key.slice(0, SHORT_ID_LENGTH));
    }
  } finally {
    await fetcher.close();
    store.close();
  }
  process.stdout.write(ids.map((id) => `${id}\n`).join(''));
  return 0;
}

export function registerFetch(program: Command): void {
  program
    .command('fetch')
    .description('Fetch image(s) and store them in the local store')
    .usage('[--signature=FILE] [--full] [--pull-policy=new|update|never] IMAGE_URL...')
    .option('--full', 'print the full image hash after fetching', false)
    .option('--pull-policy <policy>', 'when to pull an image (new, update, never)', 'update')
    .option('--store-only', 'deprecated: use --pull-policy=never', false)
    .option('--no-store', 'deprecated: use --pull-policy=update')
    .argument('[images...]', 'image names, IDs, files or URLs, each optionally followed by --signature=FILE')
    .allowUnknownOption()
    .action(
      action('fetch', (_images: string[], flags: FetchFlags & { store?: boolean }, cmd: Command) =>
        // cmd.args keeps `--signature` in place after the image it belongs to.
        runFetch(cmd.args, { ...flags, noStore: flags.store === false }, rktGlobals(cmd)),
      ),
    );
}
