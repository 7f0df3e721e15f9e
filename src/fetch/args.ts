/**
 * What an image argument of `rkt fetch` names, decided the way rkt's DistFromImageString and
 * guessAppcOrPath do: a URL scheme decides first; without one, an absolute path, an existing
 * regular file, something with `./` or ending in `.aci` is a file, and anything else is an appc name.
 */
import { statSync } from 'node:fs';
import { extname, resolve } from 'node:path';
import { parseAppString, type DiscoveryApp } from '../discovery/app.js';
import { RKT_FAILURE, RocketError, errorMessage, unknownFlagMessage } from '../errors.js';

export type ImageArg =
  | { kind: 'file'; path: string }
  | { kind: 'url'; url: URL }
  | { kind: 'name'; app: DiscoveryApp }
  | { kind: 'id'; id: string }
  /** `docker://…`, converted in-process (the reference's syntax, checked by the docker sources). */
  | { kind: 'docker'; url: string };

/** Go's url.Parse scheme rule: a letter, then letters, digits, `+-.`, up to the first `:`. */
const SCHEME = /^([a-zA-Z][a-zA-Z0-9+.-]*):/;
const IMAGE_ID = /^sha512-[0-9a-f]+$/;

function fail(message: string): never {
  throw new RocketError(message, RKT_FAILURE);
}

function isRegularFile(path: string): boolean {
  try {
    return statSync(path).isFile();
  } catch {
    return false;
  }
}

function nameArg(image: string): ImageArg {
  try {
    return { kind: 'name', app: parseAppString(image) };
  } catch (err) {
    return fail(`invalid appc image string ${JSON.stringify(image)}: ${errorMessage(err)}`);
  }
}

/** rkt's guess for a string without a scheme; `cwd` is where a plain name may exist as a file. */
function guessPathOrName(image: string, cwd: string): ImageArg {
  const asPath: ImageArg = { kind: 'file', path: resolve(cwd, image) };
  if (image.startsWith('/')) return asPath;
  // A file in the working directory takes precedence over an appc name of the same spelling.
  if (isRegularFile(resolve(cwd, image))) return asPath;
  if (image.includes(':')) return nameArg(image);
  if (image.includes('./') || extname(image) === '.aci') return asPath;
  return nameArg(image);
}

function archiveUrl(image: string): ImageArg {
  let url: URL;
  try {
    url = new URL(image);
  } catch (err) {
    return fail(`failed to parse image url ${JSON.stringify(image)}: ${errorMessage(err)}`);
  }
  // rkt takes file/http(s) URLs as archives only when the path ends in .aci.
  if (extname(url.pathname) !== '.aci') fail(`invalid image string ${JSON.stringify(image)}`);
  if (url.protocol === 'file:') return { kind: 'file', path: decodeURIComponent(url.pathname) };
  return { kind: 'url', url };
}

/** Classifies one image argument; `cwd` defaults to the process's working directory. */
export function classifyImage(image: string, cwd: string = process.cwd()): ImageArg {
  if (IMAGE_ID.test(image)) return { kind: 'id', id: image };
  const scheme = SCHEME.exec(image)?.[1]?.toLowerCase();
  if (scheme === undefined) return guessPathOrName(image, cwd);
  if (scheme === 'file' || scheme === 'http' || scheme === 'https') return archiveUrl(image);
  if (scheme === 'docker') return { kind: 'docker', url: image };
  return nameArg(image);
}

/** `<path>.aci.asc` for `<path>.aci` (rkt's ascPathFromImgPath), also for URL paths. */
export function ascPathFor(path: string): string {
  return `${path.endsWith('.aci') ? path.slice(0, -4) : path}.aci.asc`;
}

export function ascUrlFor(url: URL): URL {
  const u = new URL(url.href);
  u.pathname = ascPathFor(u.pathname);
  return u;
}

export interface FetchRequest {
  image: string;
  /** A local signature file given with `--signature` right after the image. */
  signature?: string;
}

export interface FetchArgFlags {
  full?: boolean;
  pullPolicy?: string;
  storeOnly?: boolean;
  noStore?: boolean;
}

/**
 * Splits the operands of `rkt fetch` into images, each with the `--signature` that follows it (rkt
 * stops flag parsing at the first image for exactly this). Flags of the command that appear after
 * an image are honoured too.
 */
export function parseFetchOperands(
  operands: readonly string[],
  flags: FetchArgFlags,
): { requests: FetchRequest[]; flags: FetchArgFlags } {
  const requests: FetchRequest[] = [];
  const out: FetchArgFlags = { ...flags };
  for (let i = 0; i < operands.length; i++) {
    const arg = operands[i] as string;
    const [opt, inline] = splitOption(arg);
    const value = (): string => inline ?? operands[++i] ?? fail(`flag needs an argument: ${opt}`);
    if (opt === '--signature') {
      const last = requests.at(-1);
      if (last === undefined) fail('--signature must follow an image');
      if (last.signature !== undefined) fail(`more than one --signature for image ${last.image}`);
      last.signature = value();
    } else if (opt === '--full') out.full = true;
    else if (opt === '--store-only') out.storeOnly = true;
    else if (opt === '--no-store') out.noStore = true;
    else if (opt === '--pull-policy') out.pullPolicy = value();
    else if (arg.startsWith('-') && arg !== '-') fail(unknownFlagMessage(arg));
    else requests.push({ image: arg });
  }
  return { requests, flags: out };
}

function splitOption(arg: string): [string, string | undefined] {
  if (!arg.startsWith('--')) return [arg, undefined];
  const eq = arg.indexOf('=');
  return eq < 0 ? [arg, undefined] : [arg.slice(0, eq), arg.slice(eq + 1)];
}
