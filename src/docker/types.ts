/**
 * The contract between where a Docker/OCI image comes from (registry, docker-archive, OCI layout or
 * archive: src/docker/sources) and the conversion to ACIs (src/docker/convert). A source resolves
 * one image for one platform; the converter never knows where the bytes came from.
 */
import type { Readable } from 'node:stream';

/** Where the image was named from, for the ACI name, labels, file names and annotations. */
export interface ImageReference {
  /** Registry host[:port] as docker2aci calls it the "index", e.g. `registry-1.docker.io`, `127.0.0.1:5000`. */
  readonly registry: string;
  /** Repository path, e.g. `library/busybox`, `test/busybox`. */
  readonly repository: string;
  /** Tag, or undefined when pulled by digest (then no `version` label, as docker2aci). */
  readonly tag?: string;
  /** Manifest digest when pulled by digest. */
  readonly digest?: string;
  /** The argument exactly as the user gave it (annotation `appc.io/docker/originalname`). */
  readonly original: string;
}

/** The parts of an OCI / Docker image config the conversion reads (others are ignored). */
export interface ImageConfig {
  readonly architecture?: string;
  readonly os?: string;
  readonly variant?: string;
  readonly created?: string;
  readonly author?: string;
  readonly config?: {
    readonly User?: string;
    readonly Env?: readonly string[] | null;
    readonly Entrypoint?: readonly string[] | null;
    readonly Cmd?: readonly string[] | null;
    readonly WorkingDir?: string;
    readonly ExposedPorts?: Readonly<Record<string, object>> | null;
    readonly Volumes?: Readonly<Record<string, object>> | null;
    readonly Labels?: Readonly<Record<string, string>> | null;
  } | null;
  readonly rootfs?: { readonly type: string; readonly diff_ids: readonly string[] };
}

export interface LayerDescriptor {
  /** Digest of the blob as stored (compressed), `sha256:<hex>`; the cache key for converted layers. */
  readonly digest: string;
  readonly mediaType: string;
  /** Bytes, if known (for progress bars). */
  readonly size?: number;
  /**
   * The blob's bytes, possibly compressed (gzip, zstd or none: sniff, do not trust mediaType). The
   * stream errors at its end if the bytes do not hash to `digest`, so nothing unverified is kept.
   */
  open(): Promise<Readable>;
}

export interface ResolvedImage {
  readonly reference: ImageReference;
  /** Digest of the image manifest (annotation `appc.io/docker/manifesthash`). */
  readonly manifestDigest: string;
  /** Digest of the config blob (the image ID, annotation `appc.io/docker/imageid`). */
  readonly configDigest: string;
  readonly config: ImageConfig;
  /** Bottom layer first. */
  readonly layers: readonly LayerDescriptor[];
  /** Releases connections and temp files the source holds. */
  close(): Promise<void>;
}
