/**
 * The check of a downloaded manifest against what was asked for (appc discovery: the name must be
 * equal; every requested label must be present with the same value), with rkt's messages.
 */
import type { ImageManifest } from '../appc/index.js';

/** Why `manifest` does not answer the request, or undefined when it does. */
export function manifestMismatch(
  manifest: Pick<ImageManifest, 'name' | 'labels'>,
  name: string,
  labels: ReadonlyMap<string, string>,
): string | undefined {
  if (manifest.name !== name) {
    return `error when reading the app name: ${JSON.stringify(name)} expected but ${JSON.stringify(manifest.name)} found`;
  }
  const have = new Map((manifest.labels ?? []).map((l) => [l.name, l.value]));
  for (const [label, wanted] of labels) {
    const got = have.get(label);
    if (got === undefined)
      return `requested label ${JSON.stringify(label)} not provided by the image manifest`;
    if (got !== wanted) {
      return `requested value for label ${JSON.stringify(label)}: ${JSON.stringify(wanted)} differs from fetched aci label value: ${JSON.stringify(got)}`;
    }
  }
  return undefined;
}
