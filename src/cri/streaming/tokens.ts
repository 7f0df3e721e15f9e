/**
 * One-time tokens of the streaming server: Exec, Attach and PortForward each cache their request
 * under a fresh random token and hand out a URL holding it; the first request on that URL takes it
 * out. A token nobody used expires (kubelet's default: 1 minute), and the cache is bounded.
 */
import { randomBytes } from 'node:crypto';

export class TokenCache<T> {
  private readonly entries = new Map<string, { value: T; expires: number }>();

  constructor(
    private readonly ttlMs = 60_000,
    private readonly maxEntries = 1000,
    private readonly now: () => number = Date.now,
  ) {}

  /** Caches `value`; returns its token (URL-safe, 128 random bits). */
  put(value: T): string {
    this.sweep();
    if (this.entries.size >= this.maxEntries)
      throw new Error(`too many pending streaming requests (${this.maxEntries})`);
    const token = randomBytes(16).toString('base64url');
    this.entries.set(token, { value, expires: this.now() + this.ttlMs });
    return token;
  }

  /** The value cached under `token` if it has not expired, removing it; otherwise undefined. */
  take(token: string): T | undefined {
    const e = this.entries.get(token);
    if (e === undefined) return undefined;
    this.entries.delete(token);
    return this.now() < e.expires ? e.value : undefined;
  }

  get size(): number {
    return this.entries.size;
  }

  private sweep(): void {
    const t = this.now();
    for (const [k, e] of this.entries) if (t >= e.expires) this.entries.delete(k);
  }
}
