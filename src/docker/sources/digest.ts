/** Content digests: parsing, hashing buffers, and streams that fail unless their bytes match. */
import { createHash, type Hash } from 'node:crypto';
import { pipeline, Transform, type Readable, type TransformCallback } from 'node:stream';
import { RocketError } from '../../errors.js';

const ALGORITHMS: Readonly<Record<string, { node: string; hexLength: number }>> = {
  sha256: { node: 'sha256', hexLength: 64 },
  sha512: { node: 'sha512', hexLength: 128 },
};

/** Splits and checks `algorithm:hex`; only sha256 and sha512 (the OCI registered ones) are accepted. */
export function parseDigest(digest: string, what: string): { algorithm: string; hex: string } {
  const colon = digest.indexOf(':');
  const algorithm = digest.slice(0, colon);
  const hex = digest.slice(colon + 1);
  const known = ALGORITHMS[algorithm];
  if (colon === -1 || known === undefined || hex.length !== known.hexLength || !/^[a-f0-9]+$/.test(hex)) {
    throw new RocketError(`${what}: invalid or unsupported digest ${JSON.stringify(digest)}`);
  }
  return { algorithm, hex };
}

export function sha256Of(bytes: Uint8Array): string {
  return 'sha256:' + createHash('sha256').update(bytes).digest('hex');
}

export function digestOf(bytes: Uint8Array, algorithm: string): string {
  return `${algorithm}:${createHash(ALGORITHMS[algorithm]?.node ?? algorithm)
    .update(bytes)
    .digest('hex')}`;
}

/** Throws unless `bytes` hash to `digest`. */
export function verifyBytes(bytes: Uint8Array, digest: string, what: string): void {
  const { algorithm } = parseDigest(digest, what);
  const actual = digestOf(bytes, algorithm);
  if (actual !== digest) throw new RocketError(`${what}: digest mismatch: expected ${digest}, got ${actual}`);
}

/** Passes bytes through, hashing them; fails at the end (or early on excess size) unless they match. */
class DigestVerifier extends Transform {
  private readonly hash: Hash;
  private seen = 0;

  constructor(
    private readonly expected: string,
    algorithm: string,
    private readonly size: number | undefined,
    private readonly what: string,
  ) {
    super({ highWaterMark: 1 << 20 });
    this.hash = createHash(algorithm);
  }

  override _transform(chunk: Buffer, _enc: BufferEncoding, done: TransformCallback): void {
    this.seen += chunk.length;
    if (this.size !== undefined && this.seen > this.size) {
      done(new RocketError(`${this.what}: more than the ${this.size} bytes its descriptor says`));
      return;
    }
    this.hash.update(chunk);
    done(null, chunk);
  }

  override _flush(done: TransformCallback): void {
    const actual = `${this.expected.slice(0, this.expected.indexOf(':'))}:${this.hash.digest('hex')}`;
    if (actual !== this.expected) {
      done(new RocketError(`${this.what}: digest mismatch: expected ${this.expected}, got ${actual}`));
      return;
    }
    if (this.size !== undefined && this.seen !== this.size) {
      done(new RocketError(`${this.what}: ${this.seen} bytes, but its descriptor says ${this.size}`));
      return;
    }
    done();
  }
}

/**
 * `source` piped through a digest check: the result errors at its end if the bytes do not hash to
 * `digest` (or exceed `size`), and an error on either side destroys both.
 */
export function verifyingStream(source: Readable, digest: string, what: string, size?: number): Readable {
  const { algorithm } = parseDigest(digest, what);
  const verifier = new DigestVerifier(digest, ALGORITHMS[algorithm]?.node ?? algorithm, size, what);
  pipeline(source, verifier, () => undefined);
  return verifier;
}
