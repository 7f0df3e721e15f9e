import { Command } from 'commander';
import { RKT_FAILURE, RocketError } from '../../errors.js';
import { action } from '../run.js';
import { serveUntilSignalled } from './serve.js';
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
    { APPC_SPEC_VERSION_STRING },
  ] = await Promise.all([
    import('../../api/server.js'),
    import('../../api/listen.js'),
    import('../../appc/version.js'),
  ]);
  const fds = systemdListenFds();
  if (fds.length > 0 && listen.length > 0)
    throw new RocketError('started under systemd.socket(5), but --listen passed', RKT_FAILURE);
  const addresses = fds.length > 0 ? [] : listen.length > 0 ? listen : [DEFAULT_LISTEN];
  for (const a of addresses) parseListenAddress(a); // bad input fails before anything opens
  await serveUntilSignalled({
    name: 'api-service',
    dir: g.dir,
    starting: 'API service starting...',
    start: ({ store, version, log }) =>
      ApiService.start({
        dataDir: g.dir,
        store,
        listen: addresses,
        listenFds: fds,
        log,
        info: {
          rkt_version: version,
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
      }),
    started: (service, log) => {
      if (fds.length > 0) log(`Listening on ${fds.length} systemd-provided socket(s)`);
      for (const a of service.addresses) if (!a.startsWith('fd:')) log(`Listening on ${a}`);
      log('API service running');
    },
    exiting: 'API service exiting...',
  });
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
