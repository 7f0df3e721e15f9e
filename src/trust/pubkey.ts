/**
 * What `rkt trust` shows and asks about a key before storing it (rkt/pubkey/pubkey.go). Getting
 * the key bytes (file, https URL, meta discovery) is the fetcher's job; this takes the bytes.
 */
import type { Readable, Writable } from 'node:stream';
import { StringDecoder } from 'node:string_decoder';

import { RKT_FAILURE, RocketError } from '../errors.js';
import { type KeyOrSignatureData, keyProblem, readPublicKeys } from './pgp.js';

export interface PublicKeyInfo {
  /** Lowercase hex fingerprint of the primary key: the file name the key is stored under. */
  fingerprint: string;
  /** Lowercase hex key ID of the primary key. */
  keyId: string;
  userIds: string[];
  subkeyFingerprints: string[];
  /** Why the key cannot be trusted now (revoked, expired), naming it and its expiry (keyProblem). */
  problem?: string;
}

/** Every key in a key file (armored or binary), in file order; the first is the one stored. */
export async function parsePublicKeys(data: KeyOrSignatureData, location = 'key'): Promise<PublicKeyInfo[]> {
  const keys = await readPublicKeys(data, location);
  return Promise.all(
    keys.map(async (key) => {
      const problem = await keyProblem(key);
      return {
        fingerprint: key.getFingerprint(),
        keyId: key.getKeyID().toHex(),
        userIds: key.getUserIDs(),
        subkeyFingerprints: key.getSubkeys().map((subkey) => subkey.getFingerprint()),
        ...(problem !== undefined ? { problem } : {}),
      };
    }),
  );
}

/**
 * A fingerprint as rkt and gpg print it: upper case, groups of four hex digits, two spaces in the
 * middle (`8B86 DE38 890D DB72 9186  7B02 5210 BD88 8818 2190`).
 */
export function formatFingerprint(fingerprint: string): string {
  const groups = fingerprint.toUpperCase().match(/.{1,4}/g) ?? [];
  const half = Math.ceil(groups.length / 2);
  return `${groups.slice(0, half).join(' ')}  ${groups.slice(half).join(' ')}`;
}

/** Go's %q for the strings rkt quotes here (prefixes, paths, URLs). */
function quote(s: string): string {
  return JSON.stringify(s);
}

/**
 * rkt's displayKey output. The first two lines go to stderr through rkt's "pubkey" logger; the
 * fingerprints and user IDs go to stdout.
 */
export function keyReviewText(
  prefix: string,
  location: string,
  keys: readonly PublicKeyInfo[],
): { stderr: string; stdout: string } {
  const stdout: string[] = [];
  for (const key of keys) {
    stdout.push(`gpg key fingerprint is: ${formatFingerprint(key.fingerprint)}`);
    for (const sub of key.subkeyFingerprints)
      stdout.push(`    Subkey fingerprint: ${formatFingerprint(sub)}`);
    for (const uid of key.userIds) stdout.push(`\t${uid}`);
  }
  return {
    stderr: `pubkey: prefix: ${quote(prefix)}\nkey: ${quote(location)}\n`,
    stdout: stdout.map((line) => `${line}\n`).join(''),
  };
}

export const TRUST_QUESTION = 'Are you sure you want to trust this key (yes/no)?';

/** The stdout line rkt prints before storing, once the key is accepted. */
export function trustingMessage(location: string, prefix: string, reviewed: boolean): string {
  const how = reviewed ? 'after fingerprint review' : 'without fingerprint review';
  return `Trusting ${quote(location)} for prefix ${quote(prefix)} ${how}.`;
}

/** The stdout line rkt prints once the key is stored at `path`. */
export function addedKeyMessage(prefix: string, path: string): string {
  return prefix === ''
    ? `Added root key at ${quote(path)}`
    : `Added key for prefix ${quote(prefix)} at ${quote(path)}`;
}

/** The stderr lines rkt prints when it cannot ask (stdin or stderr is not a terminal). */
export function noTerminalHint(prefix: string): string {
  return [
    `To trust the key for ${quote(prefix)}, do one of the following:`,
    ' - call rkt with --trust-keys-from-https',
    ` - run: rkt trust --prefix ${quote(prefix)}`,
  ]
    .map((line) => `pubkey: ${line}\n`)
    .join('');
}

/** Reads lines on demand, leaving the rest buffered for the next question. */
class LineReader {
  private buffered = '';
  private ended = false;
  private readonly decoder = new StringDecoder('utf8');
  private readonly chunks: AsyncIterator<unknown>;

  constructor(input: Readable) {
    this.chunks = input[Symbol.asyncIterator]();
  }

  /** The next line with its "\n", or undefined at end of input before a "\n" (as Go's ReadString). */
  async readLine(): Promise<string | undefined> {
    for (;;) {
      const end = this.buffered.indexOf('\n');
      if (end >= 0) {
        const line = this.buffered.slice(0, end + 1);
        this.buffered = this.buffered.slice(end + 1);
        return line;
      }
      if (this.ended) return undefined;
      const next = await this.chunks.next();
      if (next.done === true) {
        this.buffered += this.decoder.end();
        this.ended = true;
      } else {
        const chunk = next.value;
        this.buffered += typeof chunk === 'string' ? chunk : this.decoder.write(chunk as Buffer);
      }
    }
  }
}

const lineReaders = new WeakMap<Readable, LineReader>();

export interface PromptIO {
  input: Readable;
  output: Writable;
}

/**
 * Asks rkt's question until the answer is exactly "yes" or "no" and returns whether the key is
 * accepted. Several calls on the same input (one per key) share what was read ahead.
 */
export async function reviewKey({ input, output }: PromptIO): Promise<boolean> {
  let reader = lineReaders.get(input);
  if (reader === undefined) {
    reader = new LineReader(input);
    lineReaders.set(input, reader);
  }
  for (;;) {
    output.write(`${TRUST_QUESTION}\n`);
    const answer = await reader.readLine();
    if (answer === undefined) {
      throw new RocketError('error reviewing key: error reading input: EOF', RKT_FAILURE);
    }
    if (answer === 'yes\n') return true;
    if (answer === 'no\n') return false;
    output.write("Please enter 'yes' or 'no'\n");
  }
}
