/** Images of the store as v1alpha Images. */
import { APPC_SPEC_VERSION_STRING } from '../appc/version.js';
import type { ImageInfo, Store } from '../store/index.js';
import { keyValues, type Image } from './types.js';

interface ManifestFacts {
  labels?: { name: string; value: string }[];
  annotations?: { name: string; value: string }[];
}

/** The v1alpha Image of a stored image; undefined if it was removed meanwhile. */
export function toApiImage(store: Store, info: ImageInfo, detail: boolean): Image | undefined {
  let bytes: Buffer;
  try {
    bytes = store.manifestBytes(info.key);
  } catch {
    return undefined;
  }
  // Validated when imported; only labels and annotations are taken from it.
  const m = JSON.parse(bytes.toString('utf8')) as ManifestFacts;
  const labels = m.labels ?? info.labels;
  return {
    // Everything in the store is an ACI; docker:// images were converted on fetch (as in rkt).
    base_format: { type: 'IMAGE_TYPE_APPC', version: APPC_SPEC_VERSION_STRING },
    id: info.key,
    name: info.name,
    version: labels.find((l) => l.name === 'version')?.value ?? 'latest',
    import_timestamp: Math.floor(info.importTime.getTime() / 1000),
    manifest: detail ? bytes : Buffer.alloc(0),
    size: info.totalSize,
    annotations: keyValues(m.annotations),
    labels: keyValues(labels),
  };
}
