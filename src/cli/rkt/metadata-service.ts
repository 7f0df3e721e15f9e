import { Command, Option } from 'commander';
import { RKT_FAILURE, RocketError } from '../../errors.js';
import { DEFAULT_LISTEN_PORT, registrationSocket } from '../../metadata/defaults.js';
import { action } from '../run.js';

function parsePort(value: string): number {
  if (!/^\d+$/.test(value) || Number(value) > 65535)
    throw new RocketError(
      `invalid --listen-port ${JSON.stringify(value)}: expected a port number`,
      RKT_FAILURE,
    );
  return Number(value);
}

/**
 * `rkt metadata-service [--listen-port=PORT]`: serves the appc metadata service until SIGTERM or
 * SIGINT. The hidden `--socket` (or `RKT_METADATA_SOCKET`) moves the registration socket, for tests.
 */
export function metadataServiceCommand(): Command {
  return new Command('metadata-service')
    .description('Run metadata service')
    .usage('[--listen-port=PORT]')
    .addOption(new Option('--listen-port <port>', 'listen port').default(String(DEFAULT_LISTEN_PORT)))
    .addOption(new Option('--socket <path>', 'registration socket').hideHelp())
    .action(
      action('metadata-service', async (flags: { listenPort: string; socket?: string }) => {
        const { startMetadataService } = await import('../../metadata/service.js');
        const port = parsePort(flags.listenPort);
        const service = await startMetadataService({ port, socketPath: registrationSocket(flags.socket) });
        process.stderr.write(
          `metadata-service: running on port ${service.port}, registrations on ${service.socketPath}\n`,
        );
        await new Promise<void>((resolve) => {
          const stop = (): void => {
            process.off('SIGTERM', stop);
            process.off('SIGINT', stop);
            resolve();
          };
          process.on('SIGTERM', stop);
          process.on('SIGINT', stop);
        });
        await service.close();
        process.stderr.write('metadata-service: exiting\n');
      }),
    );
}
