/**
 * `rkt cri-service`: the CRI v1 RuntimeService and ImageService (runtime.v1) on a unix socket.
 * The ImageService (images.ts); of the RuntimeService, Version, Status and RuntimeConfig here, pod
 * sandboxes, containers and exec in runtime.ts, and the streaming server (streaming/) for Exec,
 * Attach and PortForward. Methods without a handler (events, metrics, checkpoints) are answered
 * UNIMPLEMENTED by grpc.
 */
import { chmodSync, existsSync, readdirSync } from 'node:fs';
import { dirname } from 'node:path';
import { mkdirSync } from 'node:fs';
import * as grpc from '@grpc/grpc-js';
import { RocketError, errorMessage } from '../errors.js';
import { ApiError, toServiceError } from '../api/errors.js';
import { bindTarget, clearStaleSocket, parseListenAddress } from '../api/listen.js';
import type { Store } from '../store/index.js';
import { CriImages, type AuthConfig, type Mirror } from './images.js';
import { loadCriPackage } from './proto.js';
import type { RktGlobals } from '../cli/rkt/globals.js';
import { CriRuntime } from './runtime.js';
import { StreamingServer } from './streaming/server.js';

/** The CRI's default socket. */
export const DEFAULT_CRI_LISTEN = 'unix:///run/rocket/cri.sock';
export const RUNTIME_NAME = 'rocket';
export const RUNTIME_API_VERSION = 'v1';
/** What Version answers in `version` (the kubelet API version, as other runtimes report it). */
const KUBELET_API_VERSION = '0.1.0';

export interface CriServiceOptions {
  store: Store;
  listen: string;
  runtimeVersion: string;
  cniConfDir: string;
  /** `--cni-bin-dir`, split. */
  cniBinDirs?: readonly string[];
  mirrors: ReadonlyMap<string, Mirror>;
  /** The data dir and config dirs the pods are made with. */
  globals: RktGlobals;
  runtime: 'crun' | 'runc';
  /** Where the streaming server listens (port 0: any free port). */
  streamAddress: string;
  streamPort: number;
  log?: (line: string) => void;
}

type Unary<Req, Res> = grpc.handleUnaryCall<Req, Res>;

interface ImageSpecMsg {
  image?: string;
}

/** The CNI network configuration files kubelet's runtimes read (the first one is used). */
export function cniConfFiles(dir: string): string[] {
  try {
    return readdirSync(dir)
      .filter((n) => /\.(conf|conflist|json)$/.test(n))
      .sort();
  } catch {
    return [];
  }
}

export class CriService {
  readonly images: CriImages;
  readonly runtime: CriRuntime;
  readonly streaming = new StreamingServer();
  address = '';

  private constructor(
    private readonly opts: CriServiceOptions,
    private readonly server: grpc.Server,
  ) {
    this.images = new CriImages({
      store: opts.store,
      mirrors: opts.mirrors,
      ...(opts.log !== undefined ? { log: opts.log } : {}),
    });
    this.runtime = new CriRuntime({
      dataDir: opts.globals.dir,
      cniConfDir: opts.cniConfDir,
      ...(opts.cniBinDirs !== undefined ? { cniBinDirs: opts.cniBinDirs } : {}),
      globals: opts.globals,
      runtime: opts.runtime,
      store: opts.store,
      images: this.images,
      log: (line) => this.log(line),
    });
  }

  private log(line: string): void {
    this.opts.log?.(line);
  }

  static async start(opts: CriServiceOptions): Promise<CriService> {
    const address = parseListenAddress(opts.listen);
    if (address.kind !== 'unix')
      throw new RocketError(`--listen ${JSON.stringify(opts.listen)}: the CRI serves on a unix socket only`);
    const { RuntimeService, ImageService } = await loadCriPackage();
    const server = new grpc.Server();
    const svc = new CriService(opts, server);
    server.addService(RuntimeService.service, svc.runtimeHandlers());
    server.addService(ImageService.service, svc.imageHandlers());
    try {
      await svc.streaming.listen(opts.streamAddress, opts.streamPort);
      mkdirSync(dirname(address.path), { recursive: true, mode: 0o755 });
      await clearStaleSocket(address.path);
      // The socket is made with umask 0177: mode 0600 from its first moment.
      const umask = process.umask(0o177);
      try {
        await new Promise<number>((resolve, reject) =>
          server.bindAsync(bindTarget(address), grpc.ServerCredentials.createInsecure(), (err, p) =>
            err === null ? resolve(p) : reject(err),
          ),
        );
      } finally {
        process.umask(umask);
      }
      chmodSync(address.path, 0o600);
    } catch (err) {
      server.forceShutdown();
      await svc.streaming.close();
      if (err instanceof RocketError) throw err;
      throw new RocketError(`cannot listen on ${opts.listen}: ${errorMessage(err)}`, 254, { cause: err });
    }
    svc.address = `unix:${address.path}`;
    return svc;
  }

  /** Stops taking calls; waits up to `graceMs` for calls in flight. */
  async close(graceMs = 2000): Promise<void> {
    await this.streaming.close();
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
    // Pod dirs still being removed (RemovePodSandbox) are finished rather than left to gc.
    await this.runtime.settle();
  }

  private unary<Req, Res>(name: string, fn: (req: Req) => Res | Promise<Res>): Unary<Req, Res> {
    return (call, callback) => {
      Promise.resolve()
        .then(() => fn(call.request))
        .then(
          (res) => callback(null, res),
          (err: unknown) => {
            if (!(err instanceof ApiError)) this.log(`${name}: ${errorMessage(err)}`);
            callback(toServiceError(err));
          },
        );
    };
  }

  private runtimeHandlers(): grpc.UntypedServiceImplementation {
    return {
      Version: this.unary('Version', () => ({
        version: KUBELET_API_VERSION,
        runtime_name: RUNTIME_NAME,
        runtime_version: this.opts.runtimeVersion,
        runtime_api_version: RUNTIME_API_VERSION,
      })),
      Status: this.unary('Status', (req: { verbose?: boolean }) => this.status(req.verbose === true)),
      RuntimeConfig: this.unary('RuntimeConfig', () => ({ linux: { cgroup_driver: 'CGROUPFS' } })),
      ...this.podHandlers(),
    };
  }

  private podHandlers(): grpc.UntypedServiceImplementation {
    const rt = this.runtime;
    type Req = Parameters<CriRuntime['execTarget']>;
    const streamOpts = (r: { stdin?: boolean; stdout?: boolean; stderr?: boolean; tty?: boolean }) => ({
      stdin: r.stdin === true,
      stdout: r.stdout === true,
      stderr: r.stderr === true,
      tty: r.tty === true,
    });
    const url = (fn: () => string): { url: string } => {
      try {
        return { url: fn() };
      } catch (err) {
        if (err instanceof ApiError) throw err;
        throw new ApiError(grpc.status.INVALID_ARGUMENT, errorMessage(err));
      }
    };
    return {
      RunPodSandbox: this.unary('RunPodSandbox', (r: Parameters<CriRuntime['runPodSandbox']>[0]) =>
        rt.runPodSandbox(r),
      ),
      StopPodSandbox: this.unary('StopPodSandbox', (r: { pod_sandbox_id?: string }) => rt.stopPodSandbox(r)),
      RemovePodSandbox: this.unary('RemovePodSandbox', (r: { pod_sandbox_id?: string }) =>
        rt.removePodSandbox(r),
      ),
      PodSandboxStatus: this.unary('PodSandboxStatus', (r: Parameters<CriRuntime['podSandboxStatus']>[0]) =>
        rt.podSandboxStatus(r),
      ),
      ListPodSandbox: this.unary('ListPodSandbox', (r: Parameters<CriRuntime['listPodSandbox']>[0]) =>
        rt.listPodSandbox(r),
      ),
      CreateContainer: this.unary('CreateContainer', (r: Parameters<CriRuntime['createContainer']>[0]) =>
        rt.createContainer(r),
      ),
      StartContainer: this.unary('StartContainer', (r: { container_id?: string }) => rt.startContainer(r)),
      StopContainer: this.unary('StopContainer', (r: Parameters<CriRuntime['stopContainer']>[0]) =>
        rt.stopContainer(r),
      ),
      RemoveContainer: this.unary('RemoveContainer', (r: { container_id?: string }) => rt.removeContainer(r)),
      ContainerStatus: this.unary('ContainerStatus', (r: Parameters<CriRuntime['containerStatus']>[0]) =>
        rt.containerStatus(r),
      ),
      ListContainers: this.unary('ListContainers', (r: Parameters<CriRuntime['listContainers']>[0]) =>
        rt.listContainers(r),
      ),
      ReopenContainerLog: this.unary('ReopenContainerLog', (r: { container_id?: string }) =>
        rt.reopenContainerLog(r),
      ),
      ExecSync: this.unary('ExecSync', (r: Parameters<CriRuntime['execSync']>[0]) => rt.execSync(r)),
      Exec: this.unary(
        'Exec',
        (r: {
          container_id?: Req[0];
          cmd?: Req[1];
          stdin?: boolean;
          stdout?: boolean;
          stderr?: boolean;
          tty?: boolean;
        }) => {
          const target = rt.execTarget(r.container_id, r.cmd);
          return url(() => this.streaming.exec(target, streamOpts(r)));
        },
      ),
      ContainerStats: this.unary('ContainerStats', (r: { container_id?: string }) => rt.containerStats(r)),
      ListContainerStats: this.unary(
        'ListContainerStats',
        (r: Parameters<CriRuntime['listContainerStats']>[0]) => rt.listContainerStats(r),
      ),
      PodSandboxStats: this.unary('PodSandboxStats', (r: { pod_sandbox_id?: string }) =>
        rt.podSandboxStats(r),
      ),
      ListPodSandboxStats: this.unary(
        'ListPodSandboxStats',
        (r: Parameters<CriRuntime['listPodSandboxStats']>[0]) => rt.listPodSandboxStats(r),
      ),
      UpdateContainerResources: this.unary(
        'UpdateContainerResources',
        (r: Parameters<CriRuntime['updateContainerResources']>[0]) => rt.updateContainerResources(r),
      ),
      Attach: this.unary(
        'Attach',
        (r: {
          container_id?: string;
          stdin?: boolean;
          stdout?: boolean;
          stderr?: boolean;
          tty?: boolean;
        }) => {
          const target = rt.attachTarget(r.container_id, r.stdin === true);
          return url(() => this.streaming.attach(target, streamOpts(r)));
        },
      ),
      PortForward: this.unary('PortForward', (r: { pod_sandbox_id?: string }) => {
        const target = rt.portForwardTarget(r.pod_sandbox_id);
        return url(() => this.streaming.portForward(target));
      }),
    };
  }

  private status(verbose: boolean): unknown {
    const confs = cniConfFiles(this.opts.cniConfDir);
    const networkReady = confs.length > 0;
    return {
      status: {
        conditions: [
          { type: 'RuntimeReady', status: true, reason: '', message: '' },
          {
            type: 'NetworkReady',
            status: networkReady,
            reason: networkReady ? '' : 'NetworkPluginNotReady',
            message: networkReady
              ? ''
              : `no CNI network configuration in ${this.opts.cniConfDir}${existsSync(this.opts.cniConfDir) ? '' : ' (no such directory)'}`,
          },
        ],
      },
      info: verbose
        ? { config: JSON.stringify({ cniConfDir: this.opts.cniConfDir, cniConfFiles: confs }) }
        : {},
    };
  }

  private imageHandlers(): grpc.UntypedServiceImplementation {
    const images = this.images;
    const specName = (spec: ImageSpecMsg | null | undefined): string => spec?.image ?? '';
    return {
      ListImages: this.unary('ListImages', (req: { filter?: { image?: ImageSpecMsg | null } | null }) => ({
        images: images.list(specName(req.filter?.image)),
      })),
      ImageStatus: this.unary('ImageStatus', (req: { image?: ImageSpecMsg | null; verbose?: boolean }) => {
        const name = specName(req.image);
        if (name === '') throw new ApiError(grpc.status.INVALID_ARGUMENT, 'image: no image given');
        return images.status(name, req.verbose === true);
      }),
      PullImage: this.unary(
        'PullImage',
        async (req: { image?: ImageSpecMsg | null; auth?: AuthConfig | null }) => {
          const name = specName(req.image);
          this.log(`pulling ${name}`);
          return { image_ref: await images.pull(name, req.auth) };
        },
      ),
      RemoveImage: this.unary('RemoveImage', async (req: { image?: ImageSpecMsg | null }) => {
        const name = specName(req.image);
        if (name === '') throw new ApiError(grpc.status.INVALID_ARGUMENT, 'image: no image given');
        await images.remove(name);
        return {};
      }),
      ImageFsInfo: this.unary('ImageFsInfo', async () => {
        const fs = await images.fsInfo();
        const usage = {
          timestamp: fs.timestamp,
          fs_id: { mountpoint: fs.mountpoint },
          used_bytes: { value: String(fs.usedBytes) },
          inodes_used: { value: String(fs.inodes) },
        };
        return { image_filesystems: [usage], container_filesystems: [] };
      }),
    };
  }
}
