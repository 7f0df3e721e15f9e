/**
 * AC Identifier and AC Name (spec/types.md). We follow the spec's regular expressions, so runs of
 * separators (`a--b`, `a..b`, `a//b`) are rejected; the reference actool only checks the character
 * class and the first/last character and accepts them.
 *
 * One exception for AC Identifiers: the spec's regex `^[a-z0-9]+([-._~/][a-z0-9]+)*$` rejects its own
 * example `example.com/~user/app_v1` (and the reference's test vector `example.com/~bob/database`),
 * so `/~` (a home-directory path segment) counts as one separator.
 */

const AC_IDENTIFIER = /^[a-z0-9]+(?:(?:\/~|[-._~/])[a-z0-9]+)*$/;
const AC_NAME = /^[a-z0-9]+(-[a-z0-9]+)*$/;

export function isACIdentifier(s: string): boolean {
  return AC_IDENTIFIER.test(s);
}

export function isACName(s: string): boolean {
  return AC_NAME.test(s);
}

/** Why `s` is not an AC Identifier, or undefined when it is one. */
export function acIdentifierProblem(s: string): string | undefined {
  if (s === '') return 'AC Identifier cannot be empty';
  if (/[^a-z0-9\-._~/]/.test(s)) {
    return `${JSON.stringify(s)} is not an AC Identifier: only lower case alphanumerics and "-._~/" are allowed`;
  }
  if (!AC_IDENTIFIER.test(s)) {
    return `${JSON.stringify(s)} is not an AC Identifier: it must start and end with a lower case alphanumeric and not repeat separators`;
  }
  return undefined;
}

/** Why `s` is not an AC Name, or undefined when it is one. */
export function acNameProblem(s: string): string | undefined {
  if (s === '') return 'AC Name cannot be empty';
  if (/[^a-z0-9-]/.test(s)) {
    return `${JSON.stringify(s)} is not an AC Name: only lower case alphanumerics and "-" are allowed`;
  }
  if (!AC_NAME.test(s)) {
    return `${JSON.stringify(s)} is not an AC Name: it must start and end with a lower case alphanumeric and not repeat "-"`;
  }
  return undefined;
}

/**
 * Turns an arbitrary string into an AC Identifier the way the reference does (lower-case, invalid
 * characters to `_`, separators trimmed from both ends), then also collapses separator runs so the
 * result passes our strict check. Returns undefined when nothing valid is left.
 */
export function sanitizeACIdentifier(s: string): string | undefined {
  const out = s
    .toLowerCase()
    .replace(/[^a-z0-9\-._~/]/g, '_')
    .replace(/^[-._~/]+|[-._~/]+$/g, '')
    .replace(/[-._~/]{2,}/g, (run) => (run === '/~' ? run : run.slice(0, 1)));
  return out === '' ? undefined : out;
}

/** Like sanitizeACIdentifier for AC Names: invalid characters become `-`, runs collapse. */
export function sanitizeACName(s: string): string | undefined {
  const out = s
    .toLowerCase()
    .replace(/[^a-z0-9-]/g, '-')
    .replace(/^-+|-+$/g, '')
    .replace(/--+/g, '-');
  return out === '' ? undefined : out;
}
