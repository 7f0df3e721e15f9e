import type { Command } from 'commander';
import { RocketError, RKT_FAILURE } from '../../errors.js';
import { DEFAULT_LOCAL_CONFIG_DIR, DEFAULT_SYSTEM_CONFIG_DIR } from '../../trust/keystore.js';

/** rkt's `--insecure-options` values, with its composite names expanded. */
export type InsecureOption = 'image' | 'tls' | 'http' | 'pubkey' | 'capabilities' | 'paths' | 'seccomp';

const COMPOSITES: Record<string, readonly InsecureOption[]> = {
  none: [],
  ondisk: [], // accepted and ignored, as rkt does since it stopped verifying the store on disk
  'all-fetch': ['image', 'tls', 'http', 'pubkey'],
  'all-run': ['capabilities', 'paths', 'seccomp'],
  all: ['image', 'tls', 'http', 'pubkey', 'capabilities', 'paths', 'seccomp'],
};
const SINGLE: readonly InsecureOption[] = COMPOSITES.all ?? [];

export function parseInsecureOptions(value: string): Set<InsecureOption> {
  const out = new Set<InsecureOption>();
  for (const raw of value.split(',')) {
    const name = raw.trim();
    const expanded =
      COMPOSITES[name] ?? (SINGLE.includes(name as InsecureOption) ? [name as InsecureOption] : undefined);
    if (expanded === undefined) {
      throw new RocketError(
        `invalid --insecure-options value ${JSON.stringify(name)}: one of none,image,tls,ondisk,http,pubkey,capabilities,paths,seccomp,all-fetch,all-run,all`,
        RKT_FAILURE,
      );
    }
    for (const o of expanded) out.add(o);
  }
  return out;
}

export interface RktGlobals {
  dir: string;
  systemConfig: string;
  localConfig: string;
  userConfig: string;
  insecureOptions: Set<InsecureOption>;
  trustKeysFromHttps: boolean;
  debug: boolean;
  /** `--max-image-size` as given ('' when not): see src/store/limits.ts. */
  maxImageSize: string;
}

export function addGlobalOptions(program: Command): Command {
  // Every verb refuses a bad --insecure-options, whether it reads the options or not.
  program.hook('preAction', (_program, actionCommand) => {
    parseInsecureOptions(actionCommand.optsWithGlobals<{ insecureOptions: string }>().insecureOptions);
  });
  return program
    .option('--dir <dir>', 'rkt data directory', '/var/lib/rkt')
    .option('--system-config <dir>', 'system configuration directory', DEFAULT_SYSTEM_CONFIG_DIR)
    .option('--local-config <dir>', 'local configuration directory', DEFAULT_LOCAL_CONFIG_DIR)
    .option('--user-config <dir>', 'user configuration directory', '')
    .option('--insecure-options <opts>', 'comma-separated list of security features to disable', 'none')
    .option('--trust-keys-from-https', 'automatically trust gpg keys fetched from https', false)
    .option('--debug', 'print out more debug information to stderr', false)
    .option(
      '--max-image-size <size>',
      'largest image to fetch, uncompressed (default 16GiB, or maxImageSize in limits.d)',
      '',
    );
}

export function rktGlobals(cmd: Command): RktGlobals {
  const o = cmd.optsWithGlobals<{
    dir: string;
    systemConfig: string;
    localConfig: string;
    userConfig: string;
    insecureOptions: string;
    trustKeysFromHttps: boolean;
    debug: boolean;
    maxImageSize: string;
  }>();
  return { ...o, insecureOptions: parseInsecureOptions(o.insecureOptions) };
}
