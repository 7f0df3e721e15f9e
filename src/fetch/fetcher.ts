/**
 * `rkt fetch`: images by ID, file, URL or appc name into the store, verified against the keystore
 * unless `--insecure-options=image`, then their dependencies. Nothing enters the store unless the
 * signature verified and the manifest answers the request; downloads go to a locked temp file of
 * the store, so a killed fetch leaves only what `image gc` reclaims.
 */
import { readFile, rm } from 'node:fs/promises';
import { PassThrough } from 'node:stream';
import type { ImageManifest } from '../appc/index.js';
import {
  DiscoveryClient,
  DiscoveryError,
  appToString,
  newApp,
  type DiscoveryApp,
} from '../discovery/index.js';
import { RKT_FAILURE, RocketError, errorMessage, isRktFailure } from '../errors.js';
import type { RemoteInfo, Store } from '../store/index.js';
import { createLockedTempDir } from '../store/util.js';
import type { Keystore } from '../trust/keystore.js';
import { checkIdentity, verifyDetachedSignature, type SignerIdentity } from '../trust/verify.js';
import { ascPathFor, ascUrlFor, classifyImage, type FetchRequest, type ImageArg } from './args.js';
import type { AuthHeaders, DockerCredentials } from './auth.js';
import { fanOut, settle, TempDownload } from './download.js';
import { HttpClient, type HttpResponse } from './http.js';
import { manifestMismatch } from './match.js';
import { checksStoreFirst, isFresh, mayDownload, type PullPolicy } from './policy.js';
import { progressStream } from './progress.js';
import { withHostLabels } from './labels.js';
import { PubkeyFetcher } from './pubkeys.js';

export interface InsecureFetch {
  image: boolean;
  tls: boolean;
  http: boolean;
  pubkey: boolean;
}

export interface FetcherOptions {
  store: Store;
  keystore: Keystore;
  pullPolicy: PullPolicy;
  insecure: InsecureFetch;
  trustKeysFromHttps: boolean;
  auth: AuthHeaders;
  /** rkt's `dockerAuth` credentials, for docker:// only. */
  dockerCredentials?: DockerCredentials;
  debug: boolean;
  /** Where log lines go (default stderr); each is prefixed `image: ` as rkt's image logger does. */
  stderr?: { write(s: string): boolean; isTTY?: boolean };
}

function fail(message: string, cause?: unknown): never {
  throw new RocketError(message, RKT_FAILURE, cause === undefined ? undefined : { cause });
}

/** The request an appc name fetch must satisfy: its name and the labels to enforce. */
interface Expectation {
  name: string;
  labels: ReadonlyMap<string, string>;
}

interface RemoteFetch {
  aciUrl: URL;
  /** The signature's URL, or a local file given with --signature. */
  sig: { url: URL } | { file: string };
  remote: RemoteInfo | undefined;
  expect: Expectation | undefined;
  latest: boolean;
}

/** Chunk size of the in-memory branches of a download. */
const IO_CHUNK = 1 << 20;

type SignatureBytes = Buffer | 'deferred';
type TrustedKeys = Awaited<ReturnType<Keystore['trustedKeysFor']>>;

export class Fetcher {
  private readonly http: HttpClient;
  private discovery: DiscoveryClient | undefined;
  private readonly out: { write(s: string): boolean; isTTY?: boolean };

  constructor(private readonly opts: FetcherOptions) {
    this.out = opts.stderr ?? process.stderr;
    this.http = new HttpClient({
      skipTlsVerify: opts.insecure.tls,
      allowHttp: opts.insecure.http,
      auth: opts.auth,
    });
  }

  private log(message: string): void {
    this.out.write(`image: ${message}\n`);
  }

  private diag(message: string): void {
    if (this.opts.debug) this.log(message);
  }

  /** Fetches one image argument and its dependencies; returns its store key. */
  async fetch(req: FetchRequest): Promise<string> {
    const arg = classifyImage(req.image);
    const key = await this.fetchSingle(arg, req.image, req.signature);
    await this.fetchDependencies(key);
    return key;
  }

  private fetchSingle(arg: ImageArg, image: string, signature: string | undefined): Promise<string> {
    switch (arg.kind) {
      case 'id':
        return Promise.resolve(this.fetchById(arg.id));
      case 'file':
        return this.fetchFile(arg.path, signature);
      case 'url':
        return this.fetchUrl(arg.url, signature);
      case 'name':
        return this.fetchName(arg.app, image, signature);
      case 'docker':
        return this.fetchDocker(arg.url);
    }
  }

  private fetchById(id: string): string {
    try {
      return this.opts.store.resolveKey(id);
    } catch (err) {
      return fail(`image ID ${JSON.stringify(id)}: ${errorMessage(err)} in the local store`, err);
    }
  }

  // ---- files ----

  private async fetchFile(path: string, signature: string | undefined): Promise<string> {
    this.diag(`using image from file ${path}`);
    let sig: Buffer | undefined;
    if (this.opts.insecure.image) {
      this.log('warning: image signature verification has been disabled');
    } else {
      sig = await readFile(signature ?? ascPathFor(path)).catch((err: unknown) =>
        fail(`error opening signature file: ${errorMessage(err)}`, err),
      );
    }
    const accept = async (manifest: ImageManifest): Promise<void> => {
      if (sig === undefined) return;
      const keys = await this.opts.keystore.trustedKeysFor(manifest.name);
      const who = await verifyDetachedSignature({
        keys,
        signed: path,
        signature: sig,
        name: manifest.name,
      }).catch((err: unknown) => this.verificationFailed(manifest.name, err));
      this.printIdentities(who);
    };
    const result = await this.opts.store.importImage(path, { source: path, accept });
    return result.key;
  }

  // ---- URLs ----

  /** The remote record of a URL, if the image it points to is still in the store. */
  private liveRemote(url: URL | string): RemoteInfo | undefined {
    const remote = this.opts.store.getRemote(typeof url === 'string' ? url : url.href);
    return remote !== undefined && this.opts.store.hasImage(remote.blobKey) ? remote : undefined;
  }

  private async fetchUrl(url: URL, signature: string | undefined): Promise<string> {
    const remote = this.liveRemote(url);
    if (checksStoreFirst(this.opts.pullPolicy) && remote !== undefined) {
      this.diag(`using image from local store for url ${url.href}`);
      return remote.blobKey;
    }
    if (!mayDownload(this.opts.pullPolicy)) {
      fail(
        `unable to fetch image from URL ${JSON.stringify(url.href)}: either image was not found in the store or store was disabled and fetching from remote yielded nothing or it was disabled`,
      );
    }
    this.diag(`remote fetching from URL ${JSON.stringify(url.href)}`);
    const sig = signature !== undefined ? { file: signature } : { url: ascUrlFor(url) };
    return this.fetchRemote({ aciUrl: url, sig, remote, expect: undefined, latest: false });
  }

  // ---- docker ----

  /**
   * docker:// images, converted in-process to one squashed ACI (as rkt did) and imported. Docker
   * images carry no signature, so rkt requires --insecure-options=image. The manifest digest is the
   * remote's ETag: an unchanged image is not converted again, and a changed one downloads only the
   * layers that are not in the store's layer cache.
   */
  private async fetchDocker(url: string): Promise<string> {
    const { store, insecure } = this.opts;
    if (!insecure.image) {
      fail('signature verification for docker images is not supported (try --insecure-options=image)');
    }
    const remote = this.liveRemote(url);
    if (checksStoreFirst(this.opts.pullPolicy) && remote !== undefined) {
      this.diag(`using image from local store for url ${url}`);
      return remote.blobKey;
    }
    if (!mayDownload(this.opts.pullPolicy)) {
      fail(`unable to fetch docker image ${JSON.stringify(url)}: not in the store and fetching was disabled`);
    }
    const { resolveImage } = await import('../docker/sources/index.js');
    const { convertImage, progressFor, NO_PROGRESS } = await import('../docker/convert/index.js');
    const image = await resolveImage(url, {
      insecure: { http: insecure.http, tls: insecure.tls },
      httpFlag: '--insecure-options=http',
      credentials: this.opts.dockerCredentials ?? {},
      // rkt reads docker credentials from its own configuration only, never ~/.docker.
      dockerConfig: false,
      tmpDir: store.layout.tmpDir,
    });
    const out = createLockedTempDir(store.layout.tmpDir, 'docker');
    const outDir = out.path;
    try {
      if (remote !== undefined && remote.etag === image.manifestDigest) {
        this.diag(`docker image ${url} is unchanged (${image.manifestDigest})`);
        store.setRemote({ ...remote, downloadTime: new Date() });
        return remote.blobKey;
      }
      const converted = await convertImage(image, {
        outDir,
        squash: true,
        compression: 'none',
        blobs: { kind: 'cache', dir: store.layout.dockerLayerCacheDir },
        progress:
          process.stderr.isTTY && this.out === process.stderr ? progressFor(process.stderr) : NO_PROGRESS,
        debug: (line) => this.diag(line),
      });
      const aci = converted.acis[0];
      if (aci === undefined) return fail(`converting ${url} produced no image`);
      const result = await store.importImage(aci.path, {
        latest: image.reference.tag === 'latest',
        source: url,
      });
      store.setRemote({
        aciUrl: url,
        sigUrl: '',
        etag: image.manifestDigest,
        blobKey: result.key,
        cacheMaxAge: 0,
        downloadTime: new Date(),
      });
      return result.key;
    } finally {
      await image.close();
      await rm(outDir, { recursive: true, force: true });
      out.release();
    }
  }

  // ---- names ----

  private async fetchName(
    requested: DiscoveryApp,
    image: string,
    signature: string | undefined,
  ): Promise<string> {
    const app = withHostLabels(requested);
    if (checksStoreFirst(this.opts.pullPolicy)) {
      const key = this.opts.store.findImage(app.name, app.labels);
      if (key !== undefined) {
        this.diag(`using image from local store for image name ${image}`);
        return key;
      }
    }
    if (!mayDownload(this.opts.pullPolicy)) {
      fail(
        `unable to fetch image from image name ${JSON.stringify(image)}: either image was not found in the store or store was disabled and fetching from remote yielded nothing or it was disabled`,
      );
    }
    this.diag(`searching for app image ${app.name}`);
    const endpoint = await this.discover(app);
    this.diag(`remote fetching from URL ${JSON.stringify(endpoint.aci)}`);
    const aciUrl = new URL(endpoint.aci);
    const sig = signature !== undefined ? { file: signature } : { url: new URL(endpoint.asc) };
    return this.fetchRemote({
      aciUrl,
      sig,
      remote: this.liveRemote(aciUrl),
      expect: { name: app.name, labels: app.labels },
      // Fetched without a version: the store marks it as the latest of its name.
      latest: !requested.labels.has('version'),
    });
  }

  private discoveryClient(): DiscoveryClient {
    const hostHeaders = new Map([...this.opts.auth].map(([host, value]) => [host, { authorization: value }]));
    this.discovery ??= new DiscoveryClient({
      insecure: { http: this.opts.insecure.http, tls: this.opts.insecure.tls },
      hostHeaders,
    });
    return this.discovery;
  }

  private async discover(app: DiscoveryApp): Promise<{ aci: string; asc: string }> {
    try {
      const found = await this.discoveryClient().aciEndpoints(app);
      for (const a of found.attempts)
        this.diag(`meta tag 'ac-discovery' not found on ${a.prefix}: ${a.error}`);
      const first = found.endpoints[0];
      if (first === undefined) fail('no endpoints discovered');
      return first;
    } catch (err) {
      if (err instanceof DiscoveryError) {
        for (const a of err.attempts)
          this.diag(`meta tag 'ac-discovery' not found on ${a.prefix}: ${a.error}`);
        const tried = err.attempts.map((a) => `${a.prefix}: ${a.error}`).join('; ');
        fail(
          `discovery failed for ${JSON.stringify(app.name)}${tried === '' ? ': no endpoints discovered' : `: ${tried}`}`,
          err,
        );
      }
      return fail(`discovery failed for ${JSON.stringify(app.name)}: ${errorMessage(err)}`, err);
    }
  }

  // ---- the download itself ----

  private async fetchRemote(r: RemoteFetch): Promise<string> {
    const { store, insecure } = this.opts;
    if (r.remote !== undefined && isFresh(r.remote.downloadTime, r.remote.cacheMaxAge)) {
      this.diag(`image for ${r.aciUrl.href} isn't expired, not fetching.`);
      return r.remote.blobKey;
    }
    if (insecure.tls) this.log('warning: TLS verification has been disabled');
    if (insecure.image) this.log('warning: image signature verification has been disabled');
    const verify = !insecure.image;
    let keysForName: TrustedKeys | undefined;
    let sig: SignatureBytes | undefined;
    if (verify) {
      if (r.expect !== undefined) {
        await new PubkeyFetcher(this.opts, this.http, this.discoveryClient(), (m) => this.log(m)).maybeFetch(
          r.expect.name,
        );
        keysForName = await this.opts.keystore.trustedKeysFor(r.expect.name);
      }
      sig = await this.signature(r);
      // Refuse an unknown signer before downloading a possibly large image (rkt's checkIdentity).
      if (sig !== 'deferred' && r.expect !== undefined && keysForName !== undefined) {
        await checkIdentity(sig, keysForName, r.expect.name).catch((err: unknown) =>
          this.verificationFailed(r.expect?.name ?? '', err),
        );
      }
    }

    this.diag(`fetching image from ${r.aciUrl.href}`);
    const res = await this.http.get(r.aciUrl, r.remote?.etag ?? '');
    if (res.status === 304) {
      res.body.destroy();
      if (r.remote === undefined) fail(`${r.aciUrl.href}: unexpected 304 Not Modified`);
      this.diag(`image for ${r.aciUrl.href} not modified, using the stored one`);
      store.setRemote({ ...r.remote, cacheMaxAge: res.maxAge, downloadTime: new Date() });
      return r.remote.blobKey;
    }
    if (res.status !== 200) {
      res.body.destroy();
      fail(`error downloading ACI: ${r.aciUrl.href}: bad HTTP status code: ${res.status}`);
    }

    const temp = await TempDownload.create(store.layout.tmpDir);
    try {
      const streamedSig = sig instanceof Buffer && keysForName !== undefined ? sig : undefined;
      const key = await this.downloadAndImport(r, res, temp, { verify, keysForName, streamedSig, sig });
      store.setRemote({
        aciUrl: r.aciUrl.href,
        sigUrl: 'url' in r.sig ? r.sig.url.href : r.sig.file,
        etag: res.etag,
        blobKey: key,
        cacheMaxAge: res.maxAge,
        downloadTime: new Date(),
      });
      return key;
    } finally {
      await temp.remove();
    }
  }

  /**
   * One pass over the network: the compressed bytes go to `temp` (for a signature that can only be
   * checked once the manifest names the keys) and, at the same time, into the store's import, which
   * decompresses, hashes and validates them; with the keys known up front a third branch verifies
   * the signature as the bytes arrive. The import commits only after the download completed, the
   * name and labels answer the request (checked before the signature, as rkt does) and the
   * signature verified.
   */
  private async downloadAndImport(
    r: RemoteFetch,
    res: HttpResponse,
    temp: TempDownload,
    v: {
      verify: boolean;
      keysForName: TrustedKeys | undefined;
      streamedSig: Buffer | undefined;
      sig: SignatureBytes | undefined;
    },
  ): Promise<string> {
    const where = r.aciUrl.href;
    const toImport = new PassThrough({ highWaterMark: IO_CHUNK });
    const toVerify = v.streamedSig !== undefined ? new PassThrough({ highWaterMark: IO_CHUNK }) : undefined;
    let importAborted = false;
    let downloadFailedFirst = false;
    const downloading = temp.fill(
      res.body,
      [progressStream('ACI', res.length, this.out)],
      fanOut(toImport, toVerify),
    );
    downloading.catch(() => {
      downloadFailedFirst = !importAborted;
    });
    let streamed: Promise<SignerIdentity> | undefined;
    if (toVerify !== undefined && v.streamedSig !== undefined && v.keysForName !== undefined && r.expect) {
      streamed = verifyDetachedSignature({
        keys: v.keysForName,
        signed: toVerify,
        signature: v.streamedSig,
        name: r.expect.name,
      });
      // A verifier that gives up early must not stall the download by no longer reading.
      streamed.catch(() => toVerify.resume());
    }
    let sig = v.sig;
    const accept = async (manifest: ImageManifest): Promise<void> => {
      await downloading;
      if (sig === 'deferred') sig = await this.signatureAgain(r);
      if (r.expect !== undefined) {
        const mismatch = manifestMismatch(manifest, r.expect.name, r.expect.labels);
        if (mismatch !== undefined) fail(`image ${JSON.stringify(r.expect.name)} from ${where}: ${mismatch}`);
      }
      if (!v.verify) return;
      const settled = streamed === undefined ? undefined : await settle(streamed);
      this.printIdentities(await this.verifyDownloaded(temp.path, manifest.name, sig, settled));
    };
    const importing = this.opts.store.importImage(toImport, { latest: r.latest, source: where, accept });
    importing.catch(() => {
      importAborted = true;
      toImport.destroy();
    });
    const [downloaded, imported] = await Promise.allSettled([downloading, importing]);
    if (imported.status === 'fulfilled') return imported.value.key;
    if (downloaded.status === 'rejected' && downloadFailedFirst) {
      fail(`error downloading ACI: ${where}: ${errorMessage(downloaded.reason)}`, downloaded.reason);
    }
    if (isRktFailure(imported.reason)) throw imported.reason;
    // The store read something that is not a valid image: a failed signature says more, if there is one.
    if (streamed !== undefined) {
      const s = await settle(streamed);
      if (s.status === 'rejected') this.verificationFailed(r.expect?.name ?? '', s.reason);
    }
    return fail(`error importing ACI from ${where}: ${errorMessage(imported.reason)}`, imported.reason);
  }

  private async verifyDownloaded(
    path: string,
    name: string,
    sig: SignatureBytes | undefined,
    streamed: PromiseSettledResult<SignerIdentity> | undefined,
  ): Promise<SignerIdentity> {
    if (streamed !== undefined) {
      if (streamed.status === 'rejected') return this.verificationFailed(name, streamed.reason);
      return streamed.value;
    }
    if (!(sig instanceof Buffer)) return fail('error downloading the signature file');
    // A URL fetch learns the name, and so the keys, only from the downloaded manifest.
    const keys = await this.opts.keystore.trustedKeysFor(name);
    return verifyDetachedSignature({ keys, signed: path, signature: sig, name }).catch((err: unknown) =>
      this.verificationFailed(name, err),
    );
  }

  private verificationFailed(name: string, err: unknown): never {
    if (/no trusted key/.test(errorMessage(err))) {
      this.log('if you expected the signing key to change, try running:');
      this.log(`    rkt trust --prefix ${JSON.stringify(name)}`);
    }
    return fail(`image ${JSON.stringify(name)} verification failed: ${errorMessage(err)}`, err);
  }

  private async signature(r: RemoteFetch): Promise<SignatureBytes> {
    if ('file' in r.sig) {
      const file = r.sig.file;
      return readFile(file).catch((err: unknown) =>
        fail(`error opening signature file: ${errorMessage(err)}`, err),
      );
    }
    this.diag(`downloading signature from ${r.sig.url.href}`);
    const got = await this.http
      .getSmall(r.sig.url)
      .catch((err: unknown) => fail(`error downloading the signature file: ${errorMessage(err)}`, err));
    if (got.status === 202) {
      this.log('server requested deferring the signature download');
      return 'deferred';
    }
    return got.bytes;
  }

  private async signatureAgain(r: RemoteFetch): Promise<Buffer> {
    const again = await this.signature(r);
    if (again === 'deferred')
      fail('error downloading the signature file: server asked to defer the download again');
    return again;
  }

  private printIdentities(who: SignerIdentity): void {
    this.log(['signature verified:', ...who.userIds.map((u) => `  ${u}`)].join('\n'));
  }

  // ---- dependencies ----

  /** Fetches the dependencies of `key`, and theirs, once each (rkt's fetchImageDeps). */
  private async fetchDependencies(key: string): Promise<void> {
    const queue = [key];
    const seen = new Set<string>([key]);
    while (queue.length > 0) {
      const current = queue.shift() as string;
      for (const dep of this.opts.store.manifest(current).dependencies ?? []) {
        const depKey = await this.fetchDependency(current, dep);
        if (seen.has(depKey)) continue;
        seen.add(depKey);
        queue.push(depKey);
      }
    }
  }

  private async fetchDependency(
    parent: string,
    dep: NonNullable<ImageManifest['dependencies']>[number],
  ): Promise<string> {
    const wantedId = dep.imageID ?? '';
    if (wantedId !== '') {
      const inStore = this.tryResolve(wantedId);
      if (inStore !== undefined) return inStore;
    }
    let app: DiscoveryApp;
    try {
      app = newApp(
        dep.imageName,
        (dep.labels ?? []).map((l) => [l.name, l.value] as const),
      );
    } catch (err) {
      return fail(
        `one of image ID's ${JSON.stringify(parent)} dependencies (image ${JSON.stringify(dep.imageName)}) is invalid: ${errorMessage(err)}`,
      );
    }
    const shown = appToString(app);
    this.diag(`fetching dependency ${shown} of ${parent}`);
    const key = await this.fetchName(app, shown, undefined).catch((err: unknown) =>
      fail(`dependency ${shown} of image ${parent}: ${errorMessage(err)}`, err),
    );
    if (wantedId !== '' && !wantedId.startsWith(key) && !key.startsWith(wantedId)) {
      fail(
        `dependency ${shown} of image ${parent}: fetched image ${key} but the manifest requires ${wantedId}`,
      );
    }
    return key;
  }

  private tryResolve(id: string): string | undefined {
    try {
      return this.opts.store.resolveKey(id);
    } catch {
      return undefined;
    }
  }

  async close(): Promise<void> {
    await this.discovery?.close();
    await this.http.close();
  }
}
