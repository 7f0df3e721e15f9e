/** Small value checks shared by the manifests: dates, URLs, environment names, os/arch labels. */

// RFC 3339 date-time as Go's time.RFC3339 parses it: upper-case `T` and `Z`, optional fraction,
// numeric offsets with a colon.
const RFC3339 = /^(\d{4})-(\d{2})-(\d{2})T(\d{2}):(\d{2}):(\d{2})(\.\d+)?(Z|[+-](\d{2}):(\d{2}))$/;

/** Why `s` is not an RFC 3339 date-time, or undefined when it is one. */
export function rfc3339Problem(s: string): string | undefined {
  const m = RFC3339.exec(s);
  if (m === null) return `bad date ${JSON.stringify(s)}: not an RFC 3339 date-time`;
  const [year, month, day, hour, minute, second] = m.slice(1, 7).map(Number) as [
    number,
    number,
    number,
    number,
    number,
    number,
  ];
  const daysInMonth = new Date(Date.UTC(year, month, 0)).getUTCDate();
  if (month < 1 || month > 12 || day < 1 || day > daysInMonth)
    return `bad date ${JSON.stringify(s)}: day out of range`;
  if (hour > 23 || minute > 59 || second > 59) return `bad date ${JSON.stringify(s)}: time out of range`;
  const offsetHours = m[9];
  const offsetMinutes = m[10];
  if (offsetHours !== undefined && (Number(offsetHours) > 23 || Number(offsetMinutes) > 59)) {
    return `bad date ${JSON.stringify(s)}: zone offset out of range`;
  }
  return undefined;
}

export function isRFC3339(s: string): boolean {
  return rfc3339Problem(s) === undefined;
}

/** Why `s` is not an http(s) URL (homepage/documentation annotations), or undefined. */
export function httpUrlProblem(s: string): string | undefined {
  let url: URL;
  try {
    url = new URL(s);
  } catch {
    return `bad URL ${JSON.stringify(s)}`;
  }
  if (url.protocol !== 'http:' && url.protocol !== 'https:') {
    return `bad URL ${JSON.stringify(s)}: scheme must be http or https`;
  }
  return undefined;
}

/** Environment variable names as the reference accepts them (letters, digits, `_`, `.`, `-`). */
export const ENV_NAME = /^[A-Za-z_][A-Za-z_0-9.-]*$/;

export function isEnvName(s: string): boolean {
  return ENV_NAME.test(s);
}

/**
 * The os/arch label values the reference accepts (a superset of the spec text's table; the spec
 * lets implementations extend it).
 */
export const VALID_OS_ARCH: Readonly<Record<string, readonly string[]>> = {
  linux: [
    'amd64',
    'i386',
    'aarch64',
    'aarch64_be',
    'armv6l',
    'armv7l',
    'armv7b',
    'ppc64',
    'ppc64le',
    's390x',
  ],
  freebsd: ['amd64', 'i386', 'arm'],
  darwin: ['x86_64', 'i386'],
};

/**
 * Why an os/arch label pair is not allowed, or undefined. `arch` is only checked when `os` is given
 * (an arch without os is meaningless but accepted, as by the reference).
 */
export function validateOsArch(os: string | undefined, arch: string | undefined): string | undefined {
  if (os === undefined) return undefined;
  const archs = VALID_OS_ARCH[os];
  if (archs === undefined) {
    return `bad os ${JSON.stringify(os)} (must be one of: ${Object.keys(VALID_OS_ARCH).sort().join(', ')})`;
  }
  if (arch !== undefined && !archs.includes(arch)) {
    return `bad arch ${JSON.stringify(arch)} for ${os} (must be one of: ${archs.join(', ')})`;
  }
  return undefined;
}

/** Options for appcArchFromNode where process.arch alone is ambiguous. */
export interface NodeArchHints {
  /** os.endianness(); Node calls both big- and little-endian 64-bit PowerPC `ppc64`. */
  endianness?: 'BE' | 'LE';
  /** ARM architecture version (process.config.variables.arm_version); Go's default without it is 6. */
  armVersion?: string;
}

/**
 * The appc `os` and `arch` label values for a Node platform/arch pair (the reference's Go→appc table
 * translated to Node's names: x64→amd64, ia32→i386, arm64→aarch64, arm→armv6l/armv7l, darwin x64→x86_64).
 * Throws for combinations appc has no name for.
 */
export function appcOsArchFromNode(
  platform: string,
  arch: string,
  hints: NodeArchHints = {},
): { os: string; arch: string } {
  const os = platform;
  let appcArch: string | undefined;
  if (os === 'linux') {
    const armFlavour = hints.armVersion === '7' ? 'armv7l' : 'armv6l';
    const table: Record<string, string> = {
      x64: 'amd64',
      ia32: 'i386',
      arm64: 'aarch64',
      arm: armFlavour,
      ppc64: hints.endianness === 'BE' ? 'ppc64' : 'ppc64le',
      s390x: 's390x',
    };
    appcArch = table[arch];
  } else if (os === 'freebsd') {
    appcArch = ({ x64: 'amd64', ia32: 'i386', arm: 'arm' } as Record<string, string>)[arch];
  } else if (os === 'darwin') {
    appcArch = ({ x64: 'x86_64', ia32: 'i386' } as Record<string, string>)[arch];
  }
  if (appcArch === undefined) throw new Error(`no appc os/arch for node platform ${platform}/${arch}`);
  return { os, arch: appcArch };
}

/** The appc `arch` label for a Node arch on Linux (see appcOsArchFromNode). */
export function appcArchFromNode(arch: string, hints: NodeArchHints = {}): string {
  return appcOsArchFromNode('linux', arch, hints).arch;
}

/** Every Linux capability, in number order (0 … 40). */
export const ALL_CAPABILITIES: readonly string[] = [
  'CAP_CHOWN',
  'CAP_DAC_OVERRIDE',
  'CAP_DAC_READ_SEARCH',
  'CAP_FOWNER',
  'CAP_FSETID',
  'CAP_KILL',
  'CAP_SETGID',
  'CAP_SETUID',
  'CAP_SETPCAP',
  'CAP_LINUX_IMMUTABLE',
  'CAP_NET_BIND_SERVICE',
  'CAP_NET_BROADCAST',
  'CAP_NET_ADMIN',
  'CAP_NET_RAW',
  'CAP_IPC_LOCK',
  'CAP_IPC_OWNER',
  'CAP_SYS_MODULE',
  'CAP_SYS_RAWIO',
  'CAP_SYS_CHROOT',
  'CAP_SYS_PTRACE',
  'CAP_SYS_PACCT',
  'CAP_SYS_ADMIN',
  'CAP_SYS_BOOT',
  'CAP_SYS_NICE',
  'CAP_SYS_RESOURCE',
  'CAP_SYS_TIME',
  'CAP_SYS_TTY_CONFIG',
  'CAP_MKNOD',
  'CAP_LEASE',
  'CAP_AUDIT_WRITE',
  'CAP_AUDIT_CONTROL',
  'CAP_SETFCAP',
  'CAP_MAC_OVERRIDE',
  'CAP_MAC_ADMIN',
  'CAP_SYSLOG',
  'CAP_WAKE_ALARM',
  'CAP_BLOCK_SUSPEND',
  'CAP_AUDIT_READ',
  'CAP_PERFMON',
  'CAP_BPF',
  'CAP_CHECKPOINT_RESTORE',
];

/** The bounding set an app gets when it has no capability isolator (spec/ace.md). */
export const DEFAULT_CAPABILITIES: readonly string[] = [
  'CAP_AUDIT_WRITE',
  'CAP_CHOWN',
  'CAP_DAC_OVERRIDE',
  'CAP_FSETID',
  'CAP_FOWNER',
  'CAP_KILL',
  'CAP_MKNOD',
  'CAP_NET_RAW',
  'CAP_NET_BIND_SERVICE',
  'CAP_SETUID',
  'CAP_SETGID',
  'CAP_SETPCAP',
  'CAP_SETFCAP',
  'CAP_SYS_CHROOT',
];
