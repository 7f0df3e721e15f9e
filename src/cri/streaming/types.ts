/**
 * What the streaming server needs from whoever hands out its URLs: for exec and attach, something
 * that starts (or joins) a process with the requested streams; for port forwarding, a way to dial a
 * TCP port in the pod's network namespace. The CRI's RuntimeService supplies these per pod; the
 * server knows nothing about pods.
 */
import type { Duplex, Readable, Writable } from 'node:stream';

export interface TerminalSize {
  width: number;
  height: number;
}

/** The streams a client asked for (CRI ExecRequest/AttachRequest: stdin, stdout, stderr, tty). */
export interface StreamOptions {
  stdin: boolean;
  stdout: boolean;
  stderr: boolean;
  tty: boolean;
}

/** A running process (or an attached app) as the streaming server sees it. */
export interface StreamProcess {
  stdin: Writable | null;
  stdout: Readable | null;
  /** Null with a tty (the terminal merges stderr into stdout). */
  stderr: Readable | null;
  /** Resolves with the exit status once the process ended and its output streams closed. */
  exit: Promise<number>;
  resize(size: TerminalSize): void;
  /** Ends the process (or detaches) when the client went away first. */
  kill(): void;
}

export interface ExecTarget {
  /** A description for error messages (`[sh -c ...] in pod UUID app NAME`). */
  describe: string;
  start(opts: StreamOptions): StreamProcess;
}

export interface PortForwardTarget {
  describe: string;
  /** Connects to `port` on 127.0.0.1 in the pod's network namespace; the duplex is the connection. */
  dial(port: number): Duplex;
}

export type StreamRequest =
  | { kind: 'exec' | 'attach'; opts: StreamOptions; target: ExecTarget }
  | { kind: 'portforward'; target: PortForwardTarget };
