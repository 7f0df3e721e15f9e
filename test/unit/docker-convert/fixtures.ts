/**
 * Test inputs for the converter without any image source: a ResolvedImage over an OCI layout on
 * disk (until and besides src/docker/sources), and small layer tars built in memory.
 */
import { createHash } from 'node:crypto';
import { createReadStream, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import { gzipSync } from 'node:zlib';
import { padding } from '../../../src/aci/tar-format.js';
import { encodeHeader, END_OF_ARCHIVE, type WriteHeader } from '../../../src/aci/tar-writer.js';
import type {
  ImageConfig,
  ImageReference,
  LayerDescriptor,
  ResolvedImage,
} from '../../../src/docker/types.js';

interface Descriptor {
  mediaType?: string;
  digest: string;
  size: number;
  annotations?: Record<string, string>;
}

/** The image tagged `tag` in an OCI layout (no index recursion: the test layouts tag manifests). */
export function imageFromOciLayout(
  dir: string,
  tag: string,
  reference?: Partial<ImageReference>,
): ResolvedImage {
  const blob = (digest: string) => join(dir, 'blobs', ...digest.split(':'));
  const index = JSON.parse(readFileSync(join(dir, 'index.json'), 'utf8')) as { manifests: Descriptor[] };
  const desc = index.manifests.find((m) => m.annotations?.['org.opencontainers.image.ref.name'] === tag);
  if (desc === undefined) throw new Error(`${dir}: no tag ${tag}`);
  const manifest = JSON.parse(readFileSync(blob(desc.digest), 'utf8')) as {
    config: Descriptor;
    layers: Descriptor[];
  };
  const config = JSON.parse(readFileSync(blob(manifest.config.digest), 'utf8')) as ImageConfig;
  const layers: LayerDescriptor[] = manifest.layers.map((l) => ({
    digest: l.digest,
    mediaType: l.mediaType ?? '',
    size: l.size,
    open: () => Promise.resolve(createReadStream(blob(l.digest))),
  }));
  return {
    reference: {
      registry: '127.0.0.1:5000',
      repository: 'test/busybox',
      tag,
      original: `127.0.0.1:5000/test/busybox:${tag}`,
      ...reference,
    },
    manifestDigest: desc.digest,
    configDigest: manifest.config.digest,
    config,
    layers,
    close: () => Promise.resolve(),
  };
}

/** A tar entry for `layerTar`: header fields with defaults, and data for files. */
export interface TestEntry {
  name: string;
  type?: WriteHeader['type'];
  data?: string;
  linkname?: string;
  mode?: number;
  uid?: number;
  devmajor?: number;
  devminor?: number;
}

export function layerTar(entries: readonly TestEntry[], gzip = true): Buffer {
  const parts: Buffer[] = [];
  for (const e of entries) {
    const type = e.type ?? (e.name.endsWith('/') ? 'directory' : 'file');
    const data = Buffer.from(e.data ?? '', 'utf8');
    parts.push(
      encodeHeader({
        name: e.name,
        type,
        mode: e.mode ?? (type === 'directory' ? 0o755 : 0o644),
        uid: e.uid ?? 0,
        gid: e.uid ?? 0,
        uname: '',
        gname: '',
        size: type === 'file' ? data.length : 0,
        mtime: 946684800,
        linkname: e.linkname ?? '',
        devmajor: e.devmajor ?? 0,
        devminor: e.devminor ?? 0,
      }),
    );
    if (type === 'file' && data.length > 0) parts.push(data, Buffer.alloc(padding(data.length)));
  }
  parts.push(END_OF_ARCHIVE);
  const tar = Buffer.concat(parts);
  return gzip ? gzipSync(tar) : tar;
}

/** A ResolvedImage whose layers are in-memory blobs. */
export function imageFromBlobs(
  blobs: readonly Buffer[],
  config: ImageConfig = { os: 'linux', architecture: 'amd64', config: {} },
  reference: Partial<ImageReference> = {},
): ResolvedImage {
  const sha = (b: Buffer) => `sha256:${createHash('sha256').update(b).digest('hex')}`;
  const configBytes = Buffer.from(JSON.stringify(config));
  return {
    reference: {
      registry: 'example.com',
      repository: 'test/img',
      tag: 'latest',
      original: 'example.com/test/img',
      ...reference,
    },
    manifestDigest: sha(Buffer.from('manifest')),
    configDigest: sha(configBytes),
    config,
    layers: blobs.map((b) => ({
      digest: sha(b),
      mediaType: 'application/vnd.oci.image.layer.v1.tar+gzip',
      size: b.length,
      open: () => Promise.resolve(Readable.from([b])),
    })),
    close: () => Promise.resolve(),
  };
}
