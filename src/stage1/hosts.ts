/**
 * The pod's /etc/hosts and /etc/resolv.conf texts from `--hostname`, `--hosts-entry` and the
 * `--dns*` flags: stage0's run pipeline writes them for engines with a pod network, the fly engine
 * for its own binds.
 */
import { readFileSync } from 'node:fs';
import { RocketError } from '../errors.js';
import type { DnsSettings } from './engine.js';

/** The pod's host name: `--hostname`, else rkt's `rkt-<uuid>`. */
export function podHostname(uuid: string, flag: string | undefined): string {
  return flag ?? `rkt-${uuid}`;
}

/** `--hosts-entry` values as hosts-file lines: `IP=NAME`, or `host` for the host's /etc/hosts. */
export function hostsEntryLines(entries: readonly string[]): string[] {
  const lines: string[] = [];
  for (const e of entries) {
    if (e === 'host') {
      try {
        lines.push(readFileSync('/etc/hosts', 'utf8').trimEnd());
      } catch {
        // no host file
      }
      continue;
    }
    const eq = e.indexOf('=');
    if (eq <= 0)
      throw new RocketError(
        `invalid --hosts-entry ${JSON.stringify(e)}: expected IP=HOSTNAME`,
        'invalid-argument',
      );
    lines.push(`${e.slice(0, eq)}\t${e.slice(eq + 1)}`);
  }
  return lines;
}

/** A pod's /etc/hosts: localhost, the pod's host name (127.0.1.1) and the `--hosts-entry` lines. */
export function podHostsFile(hostname: string, entries: readonly string[]): string {
  return (
    [
      '127.0.0.1\tlocalhost',
      '::1\tlocalhost ip6-localhost ip6-loopback',
      `127.0.1.1\t${hostname}`,
      ...hostsEntryLines(entries),
    ].join('\n') + '\n'
  );
}

/** A pod's resolv.conf: the host's, or one from the `--dns*` flags; undefined with `--dns=none`. */
export function podResolvConf(d: DnsSettings): string | undefined {
  if (d.dns.includes('none')) return undefined;
  if (d.dns.length === 0 || d.dns.includes('host')) {
    try {
      return readFileSync('/etc/resolv.conf', 'utf8');
    } catch {
      return '';
    }
  }
  return dnsFlagsResolvConf(d);
}

/** The resolv.conf the `--dns*` flags spell (nameservers given). */
export function dnsFlagsResolvConf(d: DnsSettings): string {
  const lines = d.dns.map((s) => `nameserver ${s}`);
  if (d.dnsSearch.length > 0) lines.push(`search ${d.dnsSearch.join(' ')}`);
  if (d.dnsOpt.length > 0) lines.push(`options ${d.dnsOpt.join(' ')}`);
  if (d.dnsDomain !== undefined) lines.push(`domain ${d.dnsDomain}`);
  return lines.join('\n') + '\n';
}
