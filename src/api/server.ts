/**
 * The v1alpha PublicAPI over gRPC (`rkt api-service`): read-only views of the pods of one data dir
 * and of its image store, an event stream and pod logs. Serves any number of TCP and unix socket
 * addresses and sockets handed over by systemd, and shuts down cleanly.
 */
import { createServer, type Server as NetServer } from 'node:net';
import * as grpc from '@grpc/grpc-js';
import { RocketError, errorMessage } from '../errors.js';
import {
  PodsLayout,
  listSettledPods,
  locatePod,
  readPod,
  resolveUuidPrefix,
  settlePod,
} from '../pod/index.js';
import { KEY_LENGTH, KEY_PREFIX, type Store } from '../store/index.js';
import { ApiError, toServiceError } from './errors.js';
import { EventWatcher, eventMatches } from './events.js';
import { imageMatches, matchesAny, podMatches } from './filters.js';
import { toApiImage } from './images.js';
import { bindTarget, clearStaleSocket, describeAddress, parseListenAddress } from './listen.js';
import { streamLogs } from './logs.js';
import { toApiPod } from './pods.js';
import { loadApiPackage } from './proto.js';
import {
  int64ToNumber,
  type Event,
  type GetLogsRequest,
  type Image,
  type InspectRequest,
  type ListImagesRequest,
  type ListPodsRequest,
  type ListenEventsRequest,
  type Pod,
  type Info,
} from './types.js';

export interface ApiServiceOptions {
  dataDir: string;
  store: Store;
  /** What GetInfo reports. */
  info: Info;
  /** `--listen` addresses. */
  listen: readonly string[];
  /** Already-listening sockets (systemd socket activation). */
  listenFds?: readonly number[];
  /** How often ListenEvents looks at the data dir (ms). */
  eventIntervalMs?: number;
  /** Diagnostics (stderr). */
  log?: (line: string) => void;
}

type Unary<Req, Res> = grpc.handleUnaryCall<Req, Res>;

export class ApiService {
  private readonly events: EventWatcher;
  /** Open streaming calls, ended on shutdown. */
  private readonly streams = new Set<() => void>();
  private readonly fdServers: NetServer[] = [];
  readonly addresses: string[] = [];

  private constructor(
    private readonly opts: ApiServiceOptions,
    private readonly server: grpc.Server,
  ) {
    this.events = new EventWatcher(opts.dataDir, opts.store, opts.eventIntervalMs, (err) =>
      this.log(`events: ${errorMessage(err)}`),
    );
  }

  private log(line: string): void {
    this.opts.log?.(line);
  }

  static async start(opts: ApiServiceOptions): Promise<ApiService> {
    const addresses = opts.listen.map(parseListenAddress);
    const { PublicAPI } = await loadApiPackage();
    const server = new grpc.Server();
    const svc = new ApiService(opts, server);
    server.addService(PublicAPI.service, svc.handlers());
    try {
      for (const a of addresses) {
        if (a.kind === 'unix') await clearStaleSocket(a.path);
        const port = await new Promise<number>((resolve, reject) =>
          server.bindAsync(bindTarget(a), grpc.ServerCredentials.createInsecure(), (err, p) =>
            err === null ? resolve(p) : reject(err),
          ),
        );
        svc.addresses.push(describeAddress(a, port));
      }
      if ((opts.listenFds ?? []).length > 0) {
        const injector = server.createConnectionInjector(grpc.ServerCredentials.createInsecure());
        for (const fd of opts.listenFds ?? []) {
          const s = createServer((conn) => injector.injectConnection(conn));
          await new Promise<void>((resolve, reject) => {
            s.once('error', reject);
            s.listen({ fd }, () => resolve());
          });
          svc.fdServers.push(s);
          svc.addresses.push(`fd:${fd}`);
        }
      }
    } catch (err) {
      server.forceShutdown();
      for (const s of svc.fdServers) s.close();
      if (err instanceof RocketError) throw err;
      throw new RocketError(`cannot listen: ${errorMessage(err)}`, 254, { cause: err });
    }
    return svc;
  }

  /** Ends open streams, then waits up to `graceMs` for calls in flight before cutting them off. */
  async close(graceMs = 2000): Promise<void> {
    for (const end of [...this.streams]) end();
    this.events.stop();
    for (const s of this.fdServers) s.close();
    await new Promise<void>((resolve) => {
      const timer = setTimeout(() => {
        this.server.forceShutdown();
        resolve();
      }, graceMs);
      this.server.tryShutdown(() => {
        clearTimeout(timer);
        resolve();
      });
    });
  }

  /** A unary call's handler from a function of its request (its result or a promise of it). */
  private unary<Req, Res>(fn: (req: Req) => Res | Promise<Res>): Unary<Req, Res> {
    return (call, callback) => {
      const fail = (err: unknown): void => {
        if (!(err instanceof ApiError)) this.log(`${errorMessage(err)}`);
        callback(toServiceError(err));
      };
      let res: Res | Promise<Res>;
      try {
        res = fn(call.request);
      } catch (err) {
        fail(err);
        return;
      }
      if (res instanceof Promise) res.then((r) => callback(null, r), fail);
      else callback(null, res);
    };
  }

  private handlers(): grpc.UntypedServiceImplementation {
    return {
      GetInfo: this.unary(() => ({ info: this.opts.info })),
      ListPods: this.unary(async (req: ListPodsRequest) => ({ pods: await this.listPods(req) })),
      InspectPod: this.unary(async (req: InspectRequest) => ({ pod: await this.inspectPod(req.id) })),
      ListImages: this.unary((req: ListImagesRequest) => ({ images: this.listImages(req) })),
      InspectImage: this.unary((req: InspectRequest) => ({ image: this.inspectImage(req.id) })),
      ListenEvents: (call: grpc.ServerWritableStream<ListenEventsRequest, unknown>) =>
        this.listenEvents(call),
      GetLogs: (call: grpc.ServerWritableStream<GetLogsRequest, unknown>) => this.getLogs(call),
    };
  }

  /** The pods, each in a local teardown after its status read once that has ended (as `rkt list`). */
  private async listPods(req: ListPodsRequest): Promise<Pod[]> {
    const out: Pod[] = [];
    for (const p of await listSettledPods(this.opts.dataDir)) {
      const pod = toApiPod(p, req.detail);
      if (matchesAny(pod, req.filters, podMatches)) out.push(pod);
    }
    return out;
  }

  private async inspectPod(id: string): Promise<Pod> {
    if (id === '') throw new ApiError(grpc.status.INVALID_ARGUMENT, 'no pod id given');
    const layout = new PodsLayout(this.opts.dataDir);
    let uuid: string;
    try {
      uuid = resolveUuidPrefix(layout, id);
    } catch (err) {
      const ambiguous = errorMessage(err).startsWith('ambiguous');
      throw new ApiError(
        ambiguous ? grpc.status.INVALID_ARGUMENT : grpc.status.NOT_FOUND,
        `pod ${JSON.stringify(id)}: ${errorMessage(err)}`,
      );
    }
    const loc = locatePod(layout, uuid);
    let p = loc === undefined ? undefined : readPod(layout, loc);
    // A local teardown after the pod's status (as `rkt status`): the pod read once it has ended.
    if (p !== undefined) p = await settlePod(layout, p);
    if (p === undefined) throw new ApiError(grpc.status.NOT_FOUND, `pod ${JSON.stringify(id)} is gone`);
    return toApiPod(p, true);
  }

  private listImages(req: ListImagesRequest): Image[] {
    const out: Image[] = [];
    for (const info of this.opts.store.listImages()) {
      const image = toApiImage(this.opts.store, info, true);
      if (image === undefined || !matchesAny(image, req.filters, imageMatches)) continue;
      if (!req.detail) image.manifest = Buffer.alloc(0);
      out.push(image);
    }
    return out;
  }

  /** By store key, full image ID, or (an extension) an unambiguous ID prefix. */
  private inspectImage(id: string): Image {
    const store = this.opts.store;
    if (!id.startsWith(KEY_PREFIX))
      throw new ApiError(grpc.status.INVALID_ARGUMENT, `bad image id ${JSON.stringify(id)}`);
    let key = id.slice(0, KEY_LENGTH);
    if (id.length < KEY_LENGTH) {
      try {
        key = store.resolveKey(id);
      } catch (err) {
        throw new ApiError(grpc.status.NOT_FOUND, `image ${JSON.stringify(id)}: ${errorMessage(err)}`);
      }
    }
    const info = store.imageInfo(key);
    const image = info === undefined ? undefined : toApiImage(store, info, true);
    if (image === undefined)
      throw new ApiError(grpc.status.NOT_FOUND, `no image with id ${JSON.stringify(id)}`);
    return image;
  }

  /** Registers a stream to end on shutdown; returns the unregister function. */
  private track(end: () => void): () => void {
    this.streams.add(end);
    return () => this.streams.delete(end);
  }

  private listenEvents(call: grpc.ServerWritableStream<ListenEventsRequest, unknown>): void {
    const filter = call.request.filter;
    let done = false;
    let unsubscribe = (): void => {};
    let untilTimer: NodeJS.Timeout | undefined;
    const cleanup = (): void => {
      if (done) return;
      done = true;
      clearTimeout(untilTimer);
      unsubscribe();
      untrack();
    };
    const finish = (): void => {
      if (done) return;
      cleanup();
      call.end();
    };
    const untrack = this.track(finish);
    call.on('cancelled', cleanup);
    call.on('close', cleanup);
    const until = int64ToNumber(filter?.until_time);
    if (until > 0) {
      const ms = until * 1000 - Date.now();
      if (ms <= 0) return finish();
      untilTimer = setTimeout(finish, ms);
    }
    unsubscribe = this.events.subscribe((events: Event[]) => {
      const mine = events.filter((e) => eventMatches(e, filter));
      if (mine.length > 0 && !done) call.write({ events: mine });
    });
    // Headers now, so a client knows the stream is open before the first event.
    call.sendMetadata(new grpc.Metadata());
  }

  private getLogs(call: grpc.ServerWritableStream<GetLogsRequest, unknown>): void {
    const abort = new AbortController();
    const untrack = this.track(() => abort.abort());
    call.on('cancelled', () => abort.abort());
    const send = (lines: string[]): void => {
      if (!call.cancelled) call.write({ lines });
    };
    streamLogs(this.opts.dataDir, call.request, send, abort.signal)
      .then(() => {
        if (!call.cancelled) call.end();
      })
      .catch((err: unknown) => {
        if (call.cancelled) return;
        if (abort.signal.aborted) call.end();
        else call.emit('error', toServiceError(err));
      })
      .finally(untrack);
  }
}
