/**
 * The unix socket the orchestrator serves for one run. Past the run directory's permissions
 * (run-dir.ts), a connection must prove it is the program: its first frame carries the run's
 * secret (checkHello in protocol.ts), which only the program is given, in its environment.
 * The peer's credentials (SO_PEERCRED) are not checked: Node does not expose them. A process
 * already running as the program's uid, or root, is not kept out by this.
 */
import { once } from 'node:events';
import { chmod, chown } from 'node:fs/promises';
import { createServer, type Server, type Socket } from 'node:net';
import { SandboxError } from '../src/core/errors.js';
import { MAX_HELLO_BYTES, checkHello } from './protocol.js';
import type { ProgramIdentity } from './run-dir.js';

/** The program's connection, once its first frame carried the run's secret. */
export interface Hello {
  socket: Socket;
  /** The first line (the "ready" frame), for the session to read like any other. */
  first: Buffer;
  /** Bytes that came after it in the same read. */
  rest: Buffer;
}

export interface ListenOptions {
  /** The run's secret, which the first frame must carry. */
  token: string;
  /** Gets the socket (0600); null when it stays ferry's. */
  owner: ProgramIdentity | null;
  /** Each refused connection, with why. */
  onRefused: (why: string) => void;
  /** How long a connection may take to say ready (default 10 s). */
  helloTimeoutMs?: number;
}

/** Connections waiting to say ready at once; more are refused (the program needs only one). */
const MAX_WAITING = 8;

/**
 * Serves the socket. A connection is the program's when its first frame is a "ready" with
 * the run's secret; any other connection, and every connection after the program's, is
 * refused (closed before it is sent anything) and reported.
 */
export async function listenOnSocket(path: string, options: ListenOptions): Promise<{ server: Server; connection: Promise<Hello> }> {
  const server = createServer({ allowHalfOpen: false });
  const connection = new Promise<Hello>((resolve) => {
    const door = new Door(options, resolve);
    server.on('connection', (socket) => door.admit(socket));
  });
  try {
    server.listen(path);
    await once(server, 'listening');
    if (options.owner) await chown(path, options.owner.uid, options.owner.gid);
    await chmod(path, 0o600);
  } catch (e) {
    server.close();
    throw new SandboxError('SANDBOX_SOCKET_FAILED', `cannot serve the row stream at ${path}`, { cause: e });
  }
  return { server, connection };
}

/** Who gets in: the first connection whose first frame carries the secret; everyone else is refused and reported. */
class Door {
  private readonly waiting = new Set<Socket>();
  private taken = false;
  private readonly helloTimeoutMs: number;

  constructor(
    private readonly options: ListenOptions,
    private readonly resolve: (hello: Hello) => void,
  ) {
    this.helloTimeoutMs = options.helloTimeoutMs ?? 10_000;
  }

  private report(why: string): void {
    try {
      this.options.onRefused(`refused a connection to the row stream: ${why}`);
    } catch {
      // Reporting must not break the stream.
    }
  }

  admit(socket: Socket): void {
    socket.on('error', () => undefined);
    if (this.taken) {
      socket.destroy();
      this.report('the program is already connected');
      return;
    }
    if (this.waiting.size >= MAX_WAITING) {
      socket.destroy();
      this.report(`${MAX_WAITING} connections are already waiting to say ready`);
      return;
    }
    this.waiting.add(socket);
    this.awaitHello(socket);
  }

  /** Reads up to the first newline (bounded in size and time) and checks it. */
  private awaitHello(socket: Socket): void {
    let buffered: Buffer = Buffer.alloc(0);
    const refuse = (why: string) => {
      clearTimeout(timer);
      this.waiting.delete(socket);
      socket.destroy();
      this.report(why);
    };
    const timer = setTimeout(() => refuse(`it did not say ready within ${this.helloTimeoutMs} ms`), this.helloTimeoutMs);
    timer.unref();
    const onData = (chunk: Buffer) => {
      buffered = buffered.length === 0 ? chunk : Buffer.concat([buffered, chunk]);
      const nl = buffered.indexOf(0x0a);
      if (nl === -1) {
        if (buffered.length > MAX_HELLO_BYTES) refuse(`its first frame is over ${MAX_HELLO_BYTES} bytes`);
        return;
      }
      socket.off('data', onData);
      socket.pause();
      const first = buffered.subarray(0, nl);
      const verdict = checkHello(first, this.options.token);
      if (!verdict.ok) return refuse(verdict.reason);
      if (this.taken) return refuse('the program is already connected');
      clearTimeout(timer);
      this.accept({ socket, first, rest: buffered.subarray(nl + 1) });
    };
    socket.on('data', onData);
    socket.on('close', () => {
      clearTimeout(timer);
      this.waiting.delete(socket);
    });
  }

  /** The program's connection: the others still waiting are refused. */
  private accept(hello: Hello): void {
    this.taken = true;
    this.waiting.delete(hello.socket);
    for (const other of this.waiting) {
      other.destroy();
      this.report('the program connected first');
    }
    this.waiting.clear();
    this.resolve(hello);
  }
}
