/**
 * Port forwarding: `--port=NAME:[HOSTIP:]HOSTPORT` becomes the pod manifest's exposed port NAME,
 * matched to the app port of that name; at run time the CNI `portmap` plugin, chained after the
 * network that forwards (the first whose chain takes `portMappings` itself, else the first one
 * that masquerades, else the last one), maps it.
 */
import { isIP } from 'node:net';
import { isACName, type ExposedPort, type PodManifest, type Port } from '../appc/index.js';
import { RocketError } from '../errors.js';

const fail = (message: string): never => {
  throw new RocketError(message, 'invalid-argument');
};

/** Parses one `--port` value (rkt's syntax and messages). */
export function parseExposedPort(value: string): ExposedPort {
  const first = value.indexOf(':');
  if (first < 0) fail(`--port: ${JSON.stringify(value)} is not in name:[ip:]port format`);
  const name = value.slice(0, first);
  const rest = value.slice(first + 1);
  if (!isACName(name)) fail(`--port: ${JSON.stringify(name)} is not a valid port name`);
  const last = rest.lastIndexOf(':');
  let hostIP: string | undefined;
  let portText = rest;
  if (last >= 0) {
    hostIP = rest.slice(0, last).replace(/^\[(.*)\]$/, '$1');
    portText = rest.slice(last + 1);
    if (isIP(hostIP) === 0) fail(`--port: ${JSON.stringify(hostIP)} is not a valid IP`);
  }
  const hostPort = /^\d{1,5}$/.test(portText) ? Number(portText) : NaN;
  if (!(hostPort >= 1 && hostPort <= 65535))
    fail(`--port: ${JSON.stringify(portText)} is not a valid port number`);
  return { name, hostPort, ...(hostIP !== undefined ? { hostIP } : {}) };
}

/** An exposed port with the app port it forwards to. */
export interface ForwardedPort {
  name: string;
  protocol: string;
  podPort: number;
  hostPort: number;
  /** Empty: every address of the host. */
  hostIP: string;
  count: number;
}

function appPort(manifest: PodManifest, name: string): Port {
  let found: Port | undefined;
  for (const ra of manifest.apps) {
    for (const p of ra.app?.ports ?? []) {
      if (p.name !== name) continue;
      if (found !== undefined) fail(`--port: port name ${JSON.stringify(name)} is defined by several apps`);
      found = p;
    }
  }
  if (found === undefined) fail(`--port: port name ${JSON.stringify(name)} could not be found in any apps`);
  return found as Port;
}

const anyAddress = (ip: string): boolean => ip === '' || ip === '0.0.0.0' || ip === '::';

/** The pod manifest's exposed ports matched to app ports; conflicting host ports are an error. */
export function forwardedPorts(manifest: PodManifest): ForwardedPort[] {
  const out: ForwardedPort[] = [];
  for (const ep of manifest.ports ?? []) {
    const pp = ep.podPort ?? appPort(manifest, ep.name);
    const fp: ForwardedPort = {
      name: ep.name,
      protocol: pp.protocol,
      podPort: pp.port,
      hostPort: ep.hostPort,
      hostIP: ep.hostIP ?? '',
      count: Math.max(1, pp.count),
    };
    if (fp.hostPort + fp.count - 1 > 65535) fail(`--port: ${ep.name}: host ports beyond 65535`);
    for (const other of out) {
      const overlap =
        other.protocol === fp.protocol &&
        other.hostPort < fp.hostPort + fp.count &&
        fp.hostPort < other.hostPort + other.count &&
        (anyAddress(other.hostIP) || anyAddress(fp.hostIP) || other.hostIP === fp.hostIP);
      if (overlap)
        fail(
          `--port: port ${fp.protocol}-${fp.hostIP || '0.0.0.0'}:${fp.hostPort} already mapped to pod port ${other.podPort}`,
        );
    }
    out.push(fp);
  }
  return out;
}

/** The `portMappings` capability argument of the portmap plugin. */
export function portMappings(ports: readonly ForwardedPort[]): Record<string, unknown>[] {
  return ports.flatMap((p) =>
    Array.from({ length: p.count }, (_, i) => ({
      hostPort: p.hostPort + i,
      containerPort: p.podPort + i,
      protocol: p.protocol,
      ...(anyAddress(p.hostIP) ? {} : { hostIP: p.hostIP }),
    })),
  );
}

/** rkt's refusal of forwarded ports without a contained network. */
export function requirePortsNetwork(mode: 'none' | 'host' | 'cni', portCount: number): void {
  if (portCount > 0 && mode !== 'cni') fail(`--port flag does not work with '${mode}' networking`);
}
