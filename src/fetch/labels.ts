/** The host's os/arch labels that rkt adds to image names (kept apart from the fetcher: stage0's fast path). */
import { endianness } from 'node:os';
import { appcOsArchFromNode } from '../appc/index.js';
import type { DiscoveryApp } from '../discovery/app.js';

/** The host's appc os/arch labels (rkt's defaults for names without them). */
export function hostLabels(): [string, string][] {
  const { os, arch } = appcOsArchFromNode(process.platform, process.arch, { endianness: endianness() });
  return [
    ['os', os],
    ['arch', arch],
  ];
}

/** The app with `os` and `arch` set from the host when not given (rkt's setAppDefaults). */
export function withHostLabels(app: DiscoveryApp, host: [string, string][] = hostLabels()): DiscoveryApp {
  const labels = new Map(app.labels);
  for (const [k, v] of host) if (!labels.has(k)) labels.set(k, v);
  return { name: app.name, labels };
}
