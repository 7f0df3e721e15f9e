import { isIP } from 'node:net';
import { Command } from 'commander';
import { RKT_FAILURE, RocketError, errorMessage } from '../../errors.js';
import { action } from '../run.js';
import { serveUntilSignalled } from './serve.js';
import { rktGlobals, type RktGlobals } from './globals.js';

export interface CriServiceFlags {
  listen: string;
  cniConfDir: string;
  cniBinDir: string;
  registryMirror: string[];
  streamAddress: string;
  streamPort: string;
  runtime: 'crun' | 'runc';
}

function bad(flag: string, why: string): never {
  throw new RocketError(`--${flag}: ${why}`, RKT_FAILURE);
}

async function runCriService(flags: CriServiceFlags, g: RktGlobals): Promise<void> {
  const [{ CriService }, { parseMirror }, { parseListenAddress }] = await Promise.all([
    import('../../cri/server.js'),
    import('../../cri/images.js'),
    import('../../api/listen.js'),
  ]);
  // Every flag is checked before anything opens.
  if (parseListenAddress(flags.listen).kind !== 'unix')
    bad('listen', `${JSON.stringify(flags.listen)}: the CRI serves on a unix socket (unix:///PATH)`);
  if (flags.cniConfDir === '') bad('cni-conf-dir', 'empty');
  if (flags.cniBinDir.split(':').some((d) => d === '')) bad('cni-bin-dir', 'an empty directory in the list');
  if (isIP(flags.streamAddress) === 0)
    bad('stream-address', `${JSON.stringify(flags.streamAddress)} is not an IP address`);
  if (!/^\d{1,5}$/.test(flags.streamPort) || Number(flags.streamPort) > 65535)
    bad('stream-port', `${JSON.stringify(flags.streamPort)} is not a port number (0 for any free port)`);
  if (flags.runtime !== 'crun' && flags.runtime !== 'runc')
    bad('runtime', `${JSON.stringify(flags.runtime)}: expected crun or runc`);
  const mirrors = new Map<string, { host: string; http: boolean }>();
  for (const m of flags.registryMirror) {
    try {
      const [registry, mirror] = parseMirror(m);
      mirrors.set(registry, mirror);
    } catch (err) {
      throw new RocketError(errorMessage(err), RKT_FAILURE);
    }
  }
  await serveUntilSignalled({
    name: 'cri-service',
    dir: g.dir,
    start: ({ store, version, log }) =>
      CriService.start({
        store,
        listen: flags.listen,
        runtimeVersion: version,
        cniConfDir: flags.cniConfDir,
        cniBinDirs: flags.cniBinDir.split(':'),
        mirrors,
        globals: g,
        runtime: flags.runtime,
        streamAddress: flags.streamAddress,
        streamPort: Number(flags.streamPort),
        log,
      }),
    started: (service, log) => log(`Listening on ${service.address}`),
    exiting: 'exiting',
  });
}

export function criServiceCommand(): Command {
  return new Command('cri-service')
    .description('Serve the Kubernetes Container Runtime Interface (CRI v1) on a unix socket (experimental)')
    .option('--listen <addr>', 'unix socket to serve on', 'unix:///run/rocket/cri.sock')
    .option(
      '--cni-conf-dir <dir>',
      "CNI network configurations (the first one is the pods' network)",
      '/etc/cni/net.d',
    )
    .option('--cni-bin-dir <dirs>', 'CNI plugin directories, colon separated', '/usr/lib/cni:/opt/cni/bin')
    .option(
      '--registry-mirror <registry=url>',
      'pull images of REGISTRY from URL (http:// allowed), e.g. registry.k8s.io=http://127.0.0.1:5000 (repeatable)',
      (v: string, prev: string[]) => [...prev, v],
      [] as string[],
    )
    .option(
      '--stream-address <ip>',
      'address of the streaming server (exec, attach, port-forward)',
      '127.0.0.1',
    )
    .option('--stream-port <port>', 'port of the streaming server (0: any free port)', '0')
    .option('--runtime <name>', 'OCI runtime: crun or runc', 'crun')
    .action(
      action('cri-service', async (flags: CriServiceFlags, cmd: Command) => {
        await runCriService(flags, rktGlobals(cmd));
      }),
    );
}
