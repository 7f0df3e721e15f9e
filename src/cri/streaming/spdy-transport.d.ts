// The part of spdy-transport (CommonJS, untyped) that the streaming server and its tests use.
declare module 'spdy-transport' {
  import type { Duplex } from 'node:stream';
  import type { EventEmitter } from 'node:events';

  export interface SpdyStream extends Duplex {
    readonly id: number;
    readonly headers: Record<string, string>;
    respond(status: number, headers: Record<string, string>, cb?: (err?: Error) => void): void;
    abort(cb?: () => void): void;
    on(event: 'response', listener: (status: number, headers: Record<string, string>) => void): this;
    on(event: string | symbol, listener: (...args: never[]) => void): this;
  }

  export interface SpdyConnection extends EventEmitter {
    start(version: number): void;
    request(
      uri: { method?: string; path: string; headers?: Record<string, string>; host?: string },
      cb?: (err: Error | null, stream: SpdyStream) => void,
    ): SpdyStream;
    end(cb?: () => void): void;
    destroyStreams(err?: Error): void;
    _spdyState: {
      parser: {
        parseKVs: (body: unknown, cb: (err: Error | null, h?: Record<string, string>) => void) => void;
      };
    };
  }

  const transport: {
    connection: {
      create(
        socket: Duplex,
        options: { protocol: 'spdy' | 'http2'; isServer: boolean; windowSize?: number; maxStreams?: number },
      ): SpdyConnection;
    };
  };
  export default transport;
}
