/**
 * `--net` (rkt's NetList): comma lists, accumulated over several flags, of `name[:CNI_ARGS]`, where
 * CNI_ARGS is `K=V;K2=V2`. No `--net` at all, or a bare `--net`, means `default`.
 */
import { RocketError } from '../errors.js';

/** A network asked for by name, with the CNI_ARGS given for it (empty when none). */
export interface NetRequest {
  name: string;
  args: string;
}

export type NetSelection =
  | { mode: 'none' }
  | { mode: 'host' }
  /** `all`: every configured network; `nets`: the ones named, in the order given. */
  | { mode: 'cni'; all: boolean; nets: NetRequest[] };

const fail = (message: string): never => {
  throw new RocketError(message, 'invalid-argument');
};

/** Parses the `--net` values (already split on commas, as the argument parser keeps them). */
export function parseNetList(values: readonly string[]): NetSelection {
  const nets: NetRequest[] = [];
  for (const value of values.length === 0 ? ['default'] : values) {
    const parts = value.split(':');
    const name = parts[0] ?? '';
    if (name === '') fail(`--net=${value}: netname must not be empty`);
    if (nets.some((n) => n.name === name)) fail(`--net: found duplicate netname ${JSON.stringify(name)}`);
    if (parts.length > 2)
      fail(
        `--net: network ${JSON.stringify(name)} provided with invalid arguments: ${parts.slice(1).join(':')}`,
      );
    const args = checkCniArgs(name, parts[1] ?? '');
    if (parts.length === 2 && ['all', 'host', 'none'].includes(name))
      fail(`--net: arguments are not supported by special netname ${JSON.stringify(name)}`);
    nets.push({ name, args });
  }
  for (const special of ['none', 'host'] as const) {
    if (!nets.some((n) => n.name === special)) continue;
    if (nets.length > 1)
      fail(`--net=${special} cannot be combined with other networks (${nets.map((n) => n.name).join(',')})`);
    return { mode: special };
  }
  const all = nets.some((n) => n.name === 'all');
  return { mode: 'cni', all, nets: nets.filter((n) => n.name !== 'all') };
}

/** The CNI_ARGS string for a network, validated as `K=V;K2=V2` (CNI's own syntax). */
export function checkCniArgs(name: string, args: string): string {
  if (args === '') return args;
  for (const pair of args.split(';')) {
    const eq = pair.indexOf('=');
    if (eq <= 0) fail(`--net=${name}:${args}: invalid CNI_ARGS pair ${JSON.stringify(pair)}: expected K=V`);
  }
  return args;
}
