/**
 * Turns discovery meta tags into download locations for one app: `{name}`, every label (`{version}`,
 * `{os}`, `{arch}`, custom ones) and `{ext}` are substituted; a template that still holds a `{…}`
 * afterwards (a label the user did not give, or no `{ext}`) is skipped, as in the reference.
 */
import type { DiscoveryApp } from './app.js';
import type { ACMeta } from './meta.js';

export interface ACIEndpoint {
  /** The image URL (`{ext}` = `aci`). */
  readonly aci: string;
  /** Its detached signature (`{ext}` = `aci.asc`). */
  readonly asc: string;
}

/** Any `{…}` on one line, like the reference's `{.*?}` (Go's `.` stops only at `\n`). */
const LEFTOVER_PLACEHOLDER = /\{[^\n]*?\}/;

/**
 * Replaces every `{key}` with its value, in order (so `{name}` first, and a label called `name`
 * has nothing left to replace); `complete` is false when some `{…}` remains.
 */
export function renderTemplate(
  template: string,
  vars: Iterable<readonly [string, string]>,
): { rendered: string; complete: boolean } {
  let rendered = template;
  for (const [key, value] of vars) rendered = rendered.split(`{${key}}`).join(value);
  return { rendered, complete: !LEFTOVER_PLACEHOLDER.test(rendered) };
}

function templateVars(app: DiscoveryApp): [string, string][] {
  return [['name', app.name], ...app.labels];
}

/** The app name starts with the tag's prefix (plain string prefix, as the reference). */
export function metaMatches(app: DiscoveryApp, meta: ACMeta): boolean {
  return app.name.startsWith(meta.prefix);
}

/** The endpoints the page's matching `ac-discovery` tags yield for `app`, in document order. */
export function aciEndpointsFromMeta(app: DiscoveryApp, metas: readonly ACMeta[]): ACIEndpoint[] {
  const vars = templateVars(app);
  const out: ACIEndpoint[] = [];
  for (const meta of metas) {
    if (meta.name !== 'ac-discovery' || !metaMatches(app, meta)) continue;
    const { rendered } = renderTemplate(meta.uri, vars);
    const asc = renderTemplate(rendered, [['ext', 'aci.asc']]);
    const aci = renderTemplate(rendered, [['ext', 'aci']]);
    if (asc.complete && aci.complete && rendered !== asc.rendered) {
      out.push({ aci: aci.rendered, asc: asc.rendered });
    }
  }
  return out;
}

/** The public key URLs of the page's matching `ac-discovery-pubkeys` tags (not templates). */
export function publicKeysFromMeta(app: DiscoveryApp, metas: readonly ACMeta[]): string[] {
  return metas.filter((m) => m.name === 'ac-discovery-pubkeys' && metaMatches(app, m)).map((m) => m.uri);
}
