/**
 * Key discovery during a fetch by name (rkt's maybeFetchPubKeys): when no key is trusted for any
 * prefix of the name, the `ac-discovery-pubkeys` keys are fetched and, with --trust-keys-from-https
 * (https only) or a "yes" at the terminal, stored for the name. Failures are logged, not fatal:
 * the signature check that follows says what is missing.
 */
import type { DiscoveryClient } from '../discovery/index.js';
import { newApp } from '../discovery/index.js';
import { errorMessage } from '../errors.js';
import type { Keystore } from '../trust/keystore.js';
import {
  addedKeyMessage,
  keyReviewText,
  noTerminalHint,
  parsePublicKeys,
  reviewKey,
} from '../trust/pubkey.js';
import type { HttpClient } from './http.js';

interface PubkeyOptions {
  keystore: Keystore;
  insecure: { tls: boolean; http: boolean; pubkey: boolean };
  trustKeysFromHttps: boolean;
  stderr?: { write(s: string): boolean; isTTY?: boolean };
}

export class PubkeyFetcher {
  constructor(
    private readonly opts: PubkeyOptions,
    private readonly http: HttpClient,
    private readonly discovery: DiscoveryClient,
    private readonly log: (message: string) => void,
  ) {}

  async maybeFetch(name: string): Promise<void> {
    const { keystore, insecure } = this.opts;
    if (await keystore.trustedKeyPrefixExists(name)) {
      this.log(`keys already exist for prefix ${JSON.stringify(name)}, not fetching again`);
      return;
    }
    if (insecure.pubkey) this.log('signing keys may be downloaded from an insecure connection');
    // Keys over an unverified TLS connection only when insecure keys were asked for as well.
    if (insecure.tls && !insecure.pubkey) return;
    let locations: readonly string[];
    try {
      locations = (await this.discovery.publicKeys(newApp(name))).publicKeys;
    } catch (err) {
      this.log(`error determining key location: ${errorMessage(err)}`);
      return;
    }
    for (const location of locations) {
      try {
        await this.addKey(location, name);
      } catch (err) {
        this.log(`error adding keys: ${errorMessage(err)}`);
      }
    }
  }

  private async addKey(location: string, prefix: string): Promise<void> {
    const url = new URL(location);
    const allowHttp = this.opts.insecure.pubkey && this.opts.insecure.http;
    if (url.protocol === 'http:' && !allowHttp)
      throw new Error(`refusing to fetch key ${location} over http`);
    const { bytes } = await this.http.getSmall(url);
    const keys = await parsePublicKeys(bytes, location);
    const err = this.opts.stderr ?? process.stderr;
    const review = keyReviewText(prefix, location, keys);
    // stdout carries only image IDs in fetch, so the whole review goes to stderr.
    err.write(review.stderr + review.stdout);
    const forced = this.opts.trustKeysFromHttps && url.protocol === 'https:';
    if (!forced) {
      if (!process.stdin.isTTY || err.isTTY !== true) {
        err.write(noTerminalHint(prefix));
        return;
      }
      if (!(await reviewKey({ input: process.stdin, output: process.stderr }))) {
        this.log(`not trusting ${JSON.stringify(location)}`);
        return;
      }
    }
    const path = await this.opts.keystore.storeTrustedKey({ prefix }, bytes);
    err.write(addedKeyMessage(prefix, path) + '\n');
  }
}
