import { readFileSync } from 'node:fs';
import { Command } from 'commander';
import { RKT_FAILURE, RocketError } from '../../errors.js';
import { action } from '../run.js';
import { openStore } from './pod/common.js';
import { rktGlobals, type RktGlobals } from './globals.js';

/** The API version rkt's service reported (supportedAPIVersion). */
const API_VERSION = '1.0.0-alpha';

/** rkt's SecFlags.String(): the single options in effect, or "none". */
function insecureFlagsString(g: RktGlobals): string {
  const order = ['image', 'tls', 'http', 'pubkey', 'capabilities', 'paths', 'seccomp'] as const;
  const on = order.filter((o) => g.insecureOptions.has(o));
  return on.length === 0 ? 'none' : on.join(',');
}

async function runApiService(listen: string[], g: RktGlobals): Promise<void> {
  const [
    { ApiService },
    { DEFAULT_LISTEN, parseListenAddress, systemdListenFds },
    { findAbove },
    { APPC_SPEC_VERSION_STRING },
  ] = await Promise.all([
    import('../../api/server.js'),
    import('../../api/listen.js'),
    import('../../api/proto.js'),
    import('../../appc/version.js'),
  ]);
  const log = (line: string): void => void process.stderr.write(`api-service: ${line}\n`);
  const fds = systemdListenFds();
  if (fds.length > 0 && listen.length > 0)
    throw new RocketError('started under systemd.socket(5), but --listen passed', RKT_FAILURE);
  const addresses = fds.length > 0 ? [] : listen.length > 0 ? listen : [DEFAULT_LISTEN];
  for (const a of addresses) parseListenAddress(a); // bad input fails before anything opens
  const pkg = JSON.parse(readFileSync(findAbove('package.json'), 'utf8')) as { version: string };
  const store = await openStore(g.dir);
  // Handled from here on, so a signal during start-up still shuts down cleanly.
  let signalled!: () => void;
  const stopRequested = new Promise<void>((resolve) => (signalled = resolve));
  const onSignal = (): void => signalled();
  process.on('SIGTERM', onSignal);
  process.on('SIGINT', onSignal);
  log('API service starting...');
  try {
    const service = await ApiService.start({
      dataDir: g.dir,
      store,
      listen: addresses,
      listenFds: fds,
      log,
      info: {
        rkt_version: pkg.version,
        appc_version: APPC_SPEC_VERSION_STRING,
        api_version: API_VERSION,
        global_flags: {
          dir: g.dir,
          system_config_dir: g.systemConfig,
          local_config_dir: g.localConfig,
          user_config_dir: g.userConfig,
          insecure_flags: insecureFlagsString(g),
          trust_keys_from_https: g.trustKeysFromHttps,
        },
      },
    });
    if (fds.length > 0) log(`Listening on ${fds.length} systemd-provided socket(s)`);
    for (const a of service.addresses) if (!a.startsWith('fd:')) log(`Listening on ${a}`);
    log('API service running');
    await stopRequested;
    log('API service exiting...');
    await service.close();
  } finally {
    process.off('SIGTERM', onSignal);
    process.off('SIGINT', onSignal);
    store.close();
  }
}

export function apiServiceCommand(): Command {
  return new Command('api-service')
    .description('Run API service (experimental)')
    .usage('[--listen=ADDR]...')
    .option(
      '--listen <addr>',
      'address to listen for client API requests: HOST:PORT, [IPV6]:PORT, :PORT or unix:PATH (repeatable; default localhost:15441)',
      (v: string, prev: string[] | undefined) => [...(prev ?? []), v],
    )
    .action(
      action('api-service', async (flags: { listen?: string[] }, cmd: Command) => {
        await runApiService(flags.listen ?? [], rktGlobals(cmd));
      }),
    );
}
