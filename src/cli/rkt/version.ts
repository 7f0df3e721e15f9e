import { Command } from 'commander';
import { APPC_SPEC_VERSION } from '../../appc/index.js';
import { hostGoArch, hostGoOS } from '../../discovery/app.js';

/** rkt's own version (the package's); kept here so `rkt version` needs no file read at start. */
export const ROCKET_VERSION = '0.1.0';

/**
 * `rkt version`: rkt's lines (rkt Version, appc Version, Go Version, Go OS/Arch, Features), with
 * Node's version where rkt printed Go's. Features: no TPM; logs are Rocket's own, not journald.
 */
export function versionCommand(): Command {
  return new Command('version').description('Print the version and exit').action(() => {
    process.stdout.write(
      [
        `rkt Version: ${ROCKET_VERSION} (rocket)`,
        `appc Version: ${APPC_SPEC_VERSION}`,
        `Node Version: ${process.version}`,
        `Node OS/Arch: ${hostGoOS()}/${hostGoArch()}`,
        'Features: -TPM -SDJOURNAL +LOGS',
        '',
      ].join('\n'),
    );
  });
}
