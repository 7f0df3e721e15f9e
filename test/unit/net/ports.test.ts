import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import type { PodManifest, Port } from '../../../src/appc/index.js';
import {
  forwardedPorts,
  parseExposedPort,
  portMappings,
  requirePortsNetwork,
} from '../../../src/net/ports.js';

const port = (name: string, p: number, protocol = 'tcp', count = 1): Port => ({
  name,
  protocol,
  port: p,
  count,
  socketActivated: false,
});

const manifest = (ports: PodManifest['ports'], appPorts: Port[][]): PodManifest => ({
  acVersion: '0.8.11',
  acKind: 'PodManifest',
  apps: appPorts.map((ps, i) => ({
    name: `app${i}`,
    image: { name: 'example.com/x' },
    app: { user: '0', group: '0', ports: ps },
  })),
  ...(ports !== undefined ? { ports } : {}),
});

describe('port forwarding', () => {
  it('parses NAME:[HOSTIP:]HOSTPORT', () => {
    assert.deepEqual(parseExposedPort('http:8080'), { name: 'http', hostPort: 8080 });
    assert.deepEqual(parseExposedPort('80-tcp:127.0.0.1:8080'), {
      name: '80-tcp',
      hostPort: 8080,
      hostIP: '127.0.0.1',
    });
    assert.deepEqual(parseExposedPort('dns:[::1]:53'), { name: 'dns', hostPort: 53, hostIP: '::1' });
    assert.throws(() => parseExposedPort('http'), /not in name:\[ip:\]port format/);
    assert.throws(() => parseExposedPort('Bad_Name:80'), /not a valid port name/);
    assert.throws(() => parseExposedPort('http:1.2.3:80'), /"1\.2\.3" is not a valid IP/);
    assert.throws(() => parseExposedPort('http:70000'), /not a valid port number/);
    assert.throws(
      () => parseExposedPort('http:0'),
      (e: Error & { kind?: string }) => e.kind === 'invalid-argument',
    );
  });

  it('matches exposed ports to app ports by name', () => {
    const m = manifest(
      [
        { name: 'http', hostPort: 8080 },
        { name: 'dns', hostPort: 5353, hostIP: '10.0.0.1' },
      ],
      [[port('http', 80)], [port('dns', 53, 'udp', 2)]],
    );
    const fps = forwardedPorts(m);
    assert.deepEqual(fps, [
      { name: 'http', protocol: 'tcp', podPort: 80, hostPort: 8080, hostIP: '', count: 1 },
      { name: 'dns', protocol: 'udp', podPort: 53, hostPort: 5353, hostIP: '10.0.0.1', count: 2 },
    ]);
    assert.deepEqual(portMappings(fps), [
      { hostPort: 8080, containerPort: 80, protocol: 'tcp' },
      { hostPort: 5353, containerPort: 53, protocol: 'udp', hostIP: '10.0.0.1' },
      { hostPort: 5354, containerPort: 54, protocol: 'udp', hostIP: '10.0.0.1' },
    ]);
  });

  it('refuses unknown, ambiguous and conflicting ports', () => {
    assert.throws(
      () => forwardedPorts(manifest([{ name: 'nope', hostPort: 1 }], [[port('http', 80)]])),
      /port name "nope" could not be found in any apps/,
    );
    assert.throws(
      () =>
        forwardedPorts(manifest([{ name: 'http', hostPort: 1 }], [[port('http', 80)], [port('http', 81)]])),
      /defined by several apps/,
    );
    assert.throws(
      () =>
        forwardedPorts(
          manifest(
            [
              { name: 'a', hostPort: 8080, hostIP: '10.0.0.1' },
              { name: 'b', hostPort: 8080 },
            ],
            [[port('a', 80), port('b', 81)]],
          ),
        ),
      /port tcp-0\.0\.0\.0:8080 already mapped to pod port 80/,
    );
    // Same host port on two addresses, or another protocol: fine.
    const ok = manifest(
      [
        { name: 'a', hostPort: 8080, hostIP: '10.0.0.1' },
        { name: 'b', hostPort: 8080, hostIP: '10.0.0.2' },
        { name: 'c', hostPort: 8080 },
      ],
      [[port('a', 80), port('b', 81), port('c', 82, 'udp')]],
    );
    assert.equal(forwardedPorts(ok).length, 3);
  });

  it('needs a contained network', () => {
    assert.throws(() => requirePortsNetwork('none', 1), /--port flag does not work with 'none' networking/);
    assert.throws(() => requirePortsNetwork('host', 1), /'host' networking/);
    requirePortsNetwork('cni', 1);
    requirePortsNetwork('none', 0);
  });
});
