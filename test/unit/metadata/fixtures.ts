// Manifests and a fake pod probe for the metadata service's unit tests.
import type { PodPresence, PodProbe } from '../../../src/metadata/pod-probe.js';

export const UUID_A = '3f1d8a52-6b2e-4c1a-9a0e-1c2d3e4f5a6b';
export const UUID_B = '0b7c2f64-9d41-4e8a-b3c5-7f6e5d4c3b2a';
export const IMAGE_ID = 'sha512-' + 'ab12'.repeat(32);

export function podManifestText(annotations: unknown = [{ name: 'pod-note', value: 'p' }]): string {
  return JSON.stringify({
    acVersion: '0.8.11',
    acKind: 'PodManifest',
    apps: [
      {
        name: 'web',
        image: { name: 'example.com/web', id: IMAGE_ID },
        annotations: [
          { name: 'shared', value: 'from-pod' },
          { name: 'only-pod', value: 'x' },
        ],
      },
    ],
    volumes: [],
    isolators: null,
    annotations,
    ports: [],
  });
}

/** Spacing kept on purpose: the service must serve these bytes unchanged. */
export const IMAGE_MANIFEST_TEXT =
  '{ "acKind": "ImageManifest", "acVersion": "0.8.11", "name": "example.com/web",\n' +
  '  "annotations": [{"name": "shared", "value": "from-image"}, {"name": "only-image", "value": "y"}] }';

export function registrationBody(over: Record<string, unknown> = {}): string {
  return JSON.stringify({
    dataDir: '/var/lib/rkt',
    podManifest: podManifestText(),
    imageManifests: { web: IMAGE_MANIFEST_TEXT },
    ips: ['10.9.0.2'],
    ...over,
  });
}

/** A probe whose answers the test sets per pod UUID. */
export class FakeProbe implements PodProbe {
  readonly presences = new Map<string, PodPresence>();
  readonly addressesOf = new Map<string, string[]>();

  presence(_dataDir: string, uuid: string): PodPresence {
    return this.presences.get(uuid) ?? 'gone';
  }

  addresses(_dataDir: string, uuid: string): string[] {
    return this.addressesOf.get(uuid) ?? [];
  }
}
