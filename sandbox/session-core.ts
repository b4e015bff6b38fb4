/**
 * What both drivers share: the per-run directory, the unix socket the orchestrator serves,
 * the frame exchange with its checks, the timeout, the log tail, the classification of how
 * a run ended and the SandboxRun record. A driver only says how to start, stop, measure and
 * remove the program (a container, or a child process).
 */
import { createHash, randomBytes } from 'node:crypto';
import { once } from 'node:events';
import { chmod, chown, copyFile, mkdir, mkdtemp, readFile, rm } from 'node:fs/promises';
import { createServer, type Server, type Socket } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { SandboxRun, type ExitReason } from '../src/core/artifacts/sandbox-run.js';
import { SandboxError } from '../src/core/errors.js';
import { SANDBOX_PATHS, type SandboxPolicy } from './policy.js';
import { LineSplitter, MAX_HELLO_BYTES, checkHello, encodeFrame, excerpt, interpretProgramLine, type Expectation } from './protocol.js';
import type { BatchOutcome, InputRow, SandboxSession, SandboxStartOptions } from './types.js';

/** Where the program finds the socket inside a container. */
export const SOCKET_DIR_IN_CONTAINER = SANDBOX_PATHS.streamDir;
export const SOCKET_NAME = 'stream.sock';
export const BUNDLE_NAME = 'bundle.cjs';
/** Time a program gets to exit after "done" before it is stopped. */
const EXIT_AFTER_DONE_MS = 10_000;
/** Exit codes of the harness itself (sandbox/harness/harness.ts). */
const HARNESS_EXIT: Record<number, string> = {
  70: 'the program could not connect to the row stream',
  71: 'the row stream broke inside the program',
};

export { heapLimitMiB } from './policy.js';

// ---------------------------------------------------------------------------------------
// The run directory: the bundle copy and the socket. It is the stream itself, not an extra
// way out: the container sees the socket directory read-only and the bundle read-only.
//
// Who can reach the socket: root and the uid the program runs as, nobody else. The run
// directory is 0700 (the local driver as root: 0750 with the program's group, so the child
// can read the bundle; nobody but root can write in it), the socket directory below it 0700
// and owned by the program's uid, the socket 0600. A container reaches the socket directory
// through its bind mount, so it never needs to pass through the run directory. When ferry
// is not root it cannot hand anything to another uid: the program then runs as ferry's own
// user (the container's User is overridden, see programUser), and everything stays ferry's.
//
// Past the permissions, a connection must prove it is the program: its first frame carries
// the run's secret (checkHello in protocol.ts), which only the program is given, in its
// environment. The peer's credentials (SO_PEERCRED) are not checked: Node does not expose
// them. A process already running as the program's uid, or root, is not kept out by this.

export interface RunDir {
  root: string;
  bundlePath: string;
  socketDir: string;
  socketPath: string;
  remove(): Promise<void>;
}

/** Who the program runs as on the host; null when it runs as ferry's own user. */
export interface ProgramIdentity {
  uid: number;
  gid: number;
}

export interface RunDirAccess {
  /** The uid:gid the program runs as when it is not ferry's own; they own the socket directory. */
  program: ProgramIdentity | null;
  /**
   * The program reaches the bundle and the socket by their host paths (the local driver),
   * not through bind mounts (Docker): the run directory must then let its group pass.
   */
  viaHostPath: boolean;
}

function isRoot(): boolean {
  return typeof process.getuid === 'function' && process.getuid() === 0;
}

/** The policy's "uid:gid" as numbers (checkPolicy has vetted the shape). */
function policyIds(policy: SandboxPolicy): ProgramIdentity {
  const [uid = Number.NaN, gid = Number.NaN] = policy.user.split(':').map(Number);
  return { uid, gid };
}

/**
 * The uid:gid the program runs as. The policy's, when ferry is root (it can hand the socket
 * to that uid) or already is that user; otherwise ferry's own: only root can give a file to
 * another uid, and a socket others may connect to is what let another local user take the stream.
 */
export function programUser(policy: SandboxPolicy): ProgramIdentity {
  const wanted = policyIds(policy);
  if (isRoot() || typeof process.getuid !== 'function' || typeof process.getgid !== 'function') return wanted;
  return { uid: process.getuid(), gid: process.getgid() };
}

/** What createRunDir needs to know: the program's identity when ferry must hand things over to it. */
export function runDirAccess(policy: SandboxPolicy, viaHostPath: boolean): RunDirAccess {
  const program = programUser(policy);
  const own = typeof process.getuid === 'function' && program.uid === process.getuid();
  return { program: own ? null : program, viaHostPath };
}

export async function createRunDir(bundle: { path: string; sha256: string }, access: RunDirAccess = { program: null, viaHostPath: false }): Promise<RunDir> {
  let content: Buffer;
  try {
    content = await readFile(bundle.path);
  } catch (e) {
    throw new SandboxError('SANDBOX_BUNDLE_UNREADABLE', `cannot read the bundle ${bundle.path}`, { cause: e });
  }
  const actual = createHash('sha256').update(content).digest('hex');
  if (actual !== bundle.sha256) {
    // The run record names the bundle by hash, so it must be the bundle that runs.
    throw new SandboxError('SANDBOX_BUNDLE_MISMATCH', `bundle ${bundle.path} has sha256 ${actual}, expected ${bundle.sha256}`, {
      hint: 'rebuild the bundle or pass the hash of the file as it is now',
    });
  }
  const root = await mkdtemp(join(tmpdir(), 'ferry-run-'));
  const remove = () => rm(root, { recursive: true, force: true });
  const { program } = access;
  try {
    if (program && access.viaHostPath) {
      // The local driver's child must pass through to its bundle, socket and working directory.
      await chown(root, 0, program.gid);
      await chmod(root, 0o750);
    } else {
      await chmod(root, 0o700);
    }
    const bundlePath = join(root, BUNDLE_NAME);
    await copyFile(bundle.path, bundlePath);
    await chmod(bundlePath, 0o444);
    const socketDir = join(root, 'stream');
    await mkdir(socketDir, { mode: 0o700 });
    await chmod(socketDir, 0o700);
    if (program) await chown(socketDir, program.uid, program.gid);
    return { root, bundlePath, socketDir, socketPath: join(socketDir, SOCKET_NAME), remove };
  } catch (e) {
    await remove();
    throw new SandboxError('SANDBOX_RUN_DIR_FAILED', `cannot prepare the run directory ${root}`, { cause: e });
  }
}

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
  const helloTimeoutMs = options.helloTimeoutMs ?? 10_000;
  const waiting = new Set<Socket>();
  let taken = false;
  const report = (why: string) => {
    try {
      options.onRefused(why);
    } catch {
      // Reporting must not break the stream.
    }
  };
  const connection = new Promise<Hello>((resolve) => {
    server.on('connection', (socket) => {
      socket.on('error', () => undefined);
      if (taken) {
        socket.destroy();
        report('refused a connection to the row stream: the program is already connected');
        return;
      }
      if (waiting.size >= MAX_WAITING) {
        socket.destroy();
        report(`refused a connection to the row stream: ${MAX_WAITING} connections are already waiting to say ready`);
        return;
      }
      waiting.add(socket);
      let buffered: Buffer = Buffer.alloc(0);
      const refuse = (why: string) => {
        clearTimeout(timer);
        waiting.delete(socket);
        socket.destroy();
        report(`refused a connection to the row stream: ${why}`);
      };
      const timer = setTimeout(() => refuse(`it did not say ready within ${helloTimeoutMs} ms`), helloTimeoutMs);
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
        const verdict = checkHello(first, options.token);
        if (!verdict.ok) return refuse(verdict.reason);
        if (taken) return refuse('the program is already connected');
        clearTimeout(timer);
        taken = true;
        waiting.delete(socket);
        for (const other of waiting) {
          other.destroy();
          report('refused a connection to the row stream: the program connected first');
        }
        waiting.clear();
        resolve({ socket, first, rest: buffered.subarray(nl + 1) });
      };
      socket.on('data', onData);
      socket.on('close', () => {
        clearTimeout(timer);
        waiting.delete(socket);
      });
    });
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

// ---------------------------------------------------------------------------------------
// Logs: every line to onLog as it comes, and a capped tail for the run record.

const MAX_LINE_BYTES = 16 * 1024;

export interface LogCollectorOptions {
  /** Bytes the program may write in all; the rest is cut with a marker and onLimit is called once. */
  maxBytes: number;
  /** Bytes of the newest lines kept for the record. */
  tailBytes: number;
  onLog?: ((line: string, stream: 'stdout' | 'stderr') => void) | undefined;
  onLimit?: ((bytes: number) => void) | undefined;
}

export class LogCollector {
  private readonly partial: Record<'stdout' | 'stderr', string> = { stdout: '', stderr: '' };
  private readonly decoders = { stdout: new TextDecoder(), stderr: new TextDecoder() };
  private kept: string[] = [];
  private keptBytes = 0;
  private droppedLines = 0;
  private droppedBytes = 0;
  private totalBytes = 0;
  private cut = false;
  private readonly maxBytes: number;
  private readonly tailBytes: number;
  private readonly onLog: LogCollectorOptions['onLog'];
  private readonly onLimit: LogCollectorOptions['onLimit'];

  constructor(options: LogCollectorOptions) {
    this.maxBytes = options.maxBytes;
    this.tailBytes = options.tailBytes;
    this.onLog = options.onLog;
    this.onLimit = options.onLimit;
  }

  write(stream: 'stdout' | 'stderr', chunk: Buffer): void {
    const before = this.totalBytes;
    this.totalBytes += chunk.length;
    if (this.cut) return;
    let data = chunk;
    if (this.totalBytes > this.maxBytes) {
      // Keep what fits, then a marker: a flood cannot push the rest of the log (or memory) away.
      data = chunk.subarray(0, Math.max(0, this.maxBytes - before));
      this.cut = true;
    }
    let text = this.partial[stream] + this.decoders[stream].decode(data, { stream: !this.cut });
    let nl: number;
    while ((nl = text.indexOf('\n')) !== -1) {
      this.line(stream, text.slice(0, nl));
      text = text.slice(nl + 1);
    }
    // A line that never ends is cut rather than buffered without bound.
    while (text.length > MAX_LINE_BYTES) {
      this.line(stream, text.slice(0, MAX_LINE_BYTES));
      text = text.slice(MAX_LINE_BYTES);
    }
    this.partial[stream] = text;
    if (this.cut) {
      this.end();
      this.line('stderr', `[ferry: log cut: the program wrote more than the limit of ${this.maxBytes} bytes]`, true);
      try {
        this.onLimit?.(this.totalBytes);
      } catch {
        // The session decides what the limit means; a failing callback must not break logging.
      }
    }
  }

  end(): void {
    for (const stream of ['stdout', 'stderr'] as const) {
      const rest = this.partial[stream] + this.decoders[stream].decode();
      this.partial[stream] = '';
      if (rest.length > 0) this.line(stream, rest);
    }
  }

  /** A line of ferry's own about the run (not the program's), kept in the tail and passed to onLog. */
  note(text: string): void {
    const line = `[ferry: ${text}]`;
    try {
      this.onLog?.(line, 'stderr');
    } catch {
      // A failing log sink must not break the run.
    }
    this.line('stderr', line, true);
  }

  /** Whether the program wrote past maxBytes. */
  get overLimit(): boolean {
    return this.cut;
  }

  private line(stream: 'stdout' | 'stderr', raw: string, ferryOwn = false): void {
    const line = raw.endsWith('\r') ? raw.slice(0, -1) : raw;
    if (!ferryOwn) {
      try {
        this.onLog?.(line, stream);
      } catch {
        // A failing log sink must not break the run.
      }
    }
    const full = stream === 'stderr' && !ferryOwn ? `[stderr] ${line}` : line;
    // One line longer than the whole tail keeps its beginning rather than vanishing.
    const entry = full.length > this.tailBytes / 2 ? `${full.slice(0, Math.floor(this.tailBytes / 2))} [ferry: line cut]` : full;
    this.kept.push(entry);
    this.keptBytes += Buffer.byteLength(entry) + 1;
    while (this.keptBytes > this.tailBytes && this.kept.length > 1) {
      const first = this.kept.shift() as string;
      const size = Buffer.byteLength(first) + 1;
      this.keptBytes -= size;
      this.droppedLines += 1;
      this.droppedBytes += size;
    }
  }

  /** The kept lines, preceded by a marker when earlier ones were dropped. */
  tail(): string[] {
    if (this.droppedLines === 0) return [...this.kept];
    return [`[ferry: ${this.droppedLines} earlier log lines (${this.droppedBytes} bytes) dropped; record keeps ${this.tailBytes} bytes]`, ...this.kept];
  }

  /** Whether any kept line matches (used to recognise V8's out-of-memory report). */
  contains(pattern: RegExp): boolean {
    return this.kept.some((l) => pattern.test(l));
  }

  /** The line that best says why a program died: its last error line on stderr, else its last lines. */
  errorSummary(): string {
    const stderr = this.kept.filter((l) => l.startsWith('[stderr] ')).map((l) => l.slice('[stderr] '.length));
    const errorLine = [...stderr].reverse().find((l) => /^(\w*(Error|Exception)\b.*:|FATAL ERROR|Uncaught|ferry harness:)/.test(l.trim()));
    if (errorLine) return errorLine.trim();
    return this.kept.filter((l) => l.trim() !== '' && l !== '[stderr] ').slice(-3).join(' | ');
  }

  get bytes(): number {
    return this.totalBytes;
  }
}

// ---------------------------------------------------------------------------------------
// The driver's part.

export interface ProgramExit {
  exitCode: number | null;
  /** The signal that ended a child process (local driver). */
  signal: string | null;
  /** The kernel's OOM killer ended it (Docker's State.OOMKilled). */
  oomKilled: boolean;
}

export interface ProgramHandle {
  readonly containerId: string | null;
  /** Resolves once the program has exited and its logs are drained; never rejects. */
  readonly exited: Promise<ProgramExit>;
  /** SIGTERM, then SIGKILL after policy.killGraceMs. */
  terminate(): Promise<void>;
  /** Peak memory seen so far (cgroup or process), null when none could be read. */
  peakMemoryBytes(): number | null;
  /**
   * Takes a reading now. The core calls it after ready and after each reply, because the
   * cgroup (or /proc entry) disappears with the program and a short run can end between polls.
   */
  sampleMemory(): Promise<void>;
  /** Removes what the run left (the container); safe to call more than once. */
  cleanup(): Promise<void>;
}

export interface LaunchContext {
  runDir: RunDir;
  logs: LogCollector;
  /** The run's secret: handed to the program in its environment (FERRY_STREAM_TOKEN), never in argv. */
  token: string;
}

export interface SessionSetup {
  driver: 'docker' | 'local';
  options: SandboxStartOptions;
  image: string | null;
  imageId: string | null;
  /** The Node version that runs the program (the image's, or the host's for the local driver); null when unknown. */
  nodeVersion: string | null;
  /** The policy as the driver applied it, for the record. */
  appliedPolicy: Record<string, unknown>;
  /** Who may reach the run directory (runDirAccess). */
  access: RunDirAccess;
  launch(ctx: LaunchContext): Promise<ProgramHandle>;
}

type Failure = { reason: Exclude<ExitReason, 'ok'>; message: string; key?: string };

function outcomeOf(f: Failure): BatchOutcome {
  return f.key === undefined
    ? { status: 'error', reason: f.reason, message: f.message }
    : { status: 'error', reason: f.reason, message: f.message, key: f.key };
}

function delay(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms).unref());
}

/** Largest delay setTimeout honours; a longer one would fire at once. */
const MAX_TIMER_MS = 2 ** 31 - 1;

/** Refuses a policy that cannot be applied as written (rather than applying something else). */
export function checkPolicy(policy: SandboxPolicy): void {
  const problems: string[] = [];
  const positiveInt = (name: keyof SandboxPolicy, max = Number.MAX_SAFE_INTEGER) => {
    const v = policy[name];
    if (typeof v !== 'number' || !Number.isSafeInteger(v) || v <= 0 || v > max) problems.push(`${name} must be a positive integer${max < Number.MAX_SAFE_INTEGER ? ` up to ${max}` : ''}`);
  };
  positiveInt('memoryBytes');
  positiveInt('memorySwapBytes');
  positiveInt('pidsLimit');
  positiveInt('timeoutMs', MAX_TIMER_MS);
  positiveInt('tmpfsSizeBytes');
  positiveInt('shmSizeBytes');
  positiveInt('maxLogBytes');
  positiveInt('logTailBytes');
  positiveInt('maxOutputBytes');
  positiveInt('maxFrameBytes');
  positiveInt('nofileLimit');
  positiveInt('killGraceMs', MAX_TIMER_MS);
  if (!(policy.cpus > 0)) problems.push('cpus must be positive');
  if (policy.memorySwapBytes < policy.memoryBytes) problems.push('memorySwapBytes must be at least memoryBytes');
  if (!/^\d+:\d+$/.test(policy.user)) problems.push('user must be "uid:gid" in numbers');
  if (policy.networkMode !== 'none') problems.push('networkMode must be "none"');
  if (problems.length > 0) {
    throw new SandboxError('SANDBOX_POLICY_INVALID', `the sandbox policy cannot be applied: ${problems.join('; ')}`, { details: { problems } });
  }
}

/** Starts a program behind the socket protocol and waits for its "ready" (or its early end). */
export async function startSession(setup: SessionSetup): Promise<SandboxSession> {
  checkPolicy(setup.options.policy);
  const runDir = await createRunDir(setup.options.bundle, setup.access);
  const token = randomBytes(32).toString('hex');
  // Refusals before the session (and its log) exist are kept and told once it does.
  const early: string[] = [];
  let refused = (why: string): void => {
    early.push(why);
  };
  let listening: Awaited<ReturnType<typeof listenOnSocket>>;
  try {
    listening = await listenOnSocket(runDir.socketPath, { token, owner: setup.access.program, onRefused: (why) => refused(why) });
  } catch (e) {
    await runDir.remove();
    throw e;
  }
  const session = new StreamSession(setup, runDir, listening.server, listening.connection, token);
  refused = (why) => session.refused(why);
  for (const why of early.splice(0)) session.refused(why);
  try {
    await session.begin();
  } catch (e) {
    await session[Symbol.asyncDispose]();
    throw e;
  }
  return session;
}

class StreamSession implements SandboxSession {
  readonly driver: 'docker' | 'local';
  private readonly policy: SandboxPolicy;
  private readonly logs: LogCollector;
  private readonly startedAt = new Date();
  private readonly t0 = performance.now();
  private handle: ProgramHandle | null = null;
  private socket: Socket | null = null;
  private expect: Expectation = { phase: 'ready' };
  private failure: Failure | null = null;
  private readyAt: number | null = null;
  private doneSeen = false;
  private timedOut = false;
  private terminating: Promise<void> | null = null;
  private exit: ProgramExit | null = null;
  private timer: NodeJS.Timeout | null = null;
  private inFlight = false;
  private closing: Promise<SandboxRun> | null = null;
  private cleaned: Promise<void> | null = null;
  private batches = 0;
  private rowsIn = 0;
  private rowsOut = 0;
  private outputBytes = 0;
  /** Wakes whoever waits for the next protocol event (ready, a reply, done, a failure, the exit). */
  private waiter: (() => void) | null = null;
  private reply: BatchOutcome | null = null;

  constructor(
    private readonly setup: SessionSetup,
    private readonly runDir: RunDir,
    private readonly server: Server,
    private readonly connection: Promise<Hello>,
    private readonly token: string,
  ) {
    this.driver = setup.driver;
    this.policy = setup.options.policy;
    this.logs = new LogCollector({
      maxBytes: this.policy.maxLogBytes,
      tailBytes: this.policy.logTailBytes,
      onLog: setup.options.onLog,
      onLimit: (bytes) =>
        this.fail({ reason: 'output_limit', message: `the program wrote more than ${this.policy.maxLogBytes} bytes of log (at least ${bytes}); it was stopped and the log cut` }),
    });
  }

  private wake(): void {
    const w = this.waiter;
    this.waiter = null;
    w?.();
  }

  private next(): Promise<void> {
    return new Promise((resolve) => {
      this.waiter = resolve;
    });
  }

  async begin(): Promise<void> {
    this.handle = await this.setup.launch({ runDir: this.runDir, logs: this.logs, token: this.token });
    this.timer = setTimeout(() => this.onTimeout(), this.policy.timeoutMs);
    this.timer.unref();
    void this.handle.exited.then((exit) => this.onExit(exit));
    void this.connection.then((hello) => this.onConnection(hello));
    while (this.readyAt === null && this.failure === null && this.exit === null) await this.next();
    if (this.readyAt !== null) await this.handle.sampleMemory();
  }

  /** A connection the socket refused: in the run's log, where the person and the record see it. */
  refused(why: string): void {
    this.logs.note(why);
  }

  private onConnection({ socket, first, rest }: Hello): void {
    if (this.exit || this.cleaned) {
      socket.destroy();
      return;
    }
    this.socket = socket;
    const splitter = new LineSplitter(this.policy.maxFrameBytes);
    const take = (chunk: Buffer) => {
      if (this.failure && this.failure.reason !== 'error') return;
      this.outputBytes += chunk.length;
      if (this.outputBytes > this.policy.maxOutputBytes) {
        this.fail({ reason: 'output_limit', message: `the program sent more than ${this.policy.maxOutputBytes} bytes on the row stream; it was stopped` });
        return;
      }
      const { lines, overflow } = splitter.push(chunk);
      for (const line of lines) this.onLine(line);
      if (overflow !== null) {
        this.fail({ reason: 'protocol_error', message: `frame of at least ${overflow} bytes is over the limit of ${this.policy.maxFrameBytes} bytes` });
      }
    };
    // The checked "ready" first, then whatever followed it, then the stream as it comes.
    take(Buffer.concat([first, Buffer.from('\n'), rest]));
    socket.on('data', take);
    socket.resume();
    socket.on('error', () => {
      // The program's end of the socket going away is seen through its exit.
    });
    socket.on('close', () => this.wake());
  }

  private onLine(line: Buffer): void {
    if (this.failure && this.failure.reason !== 'error') return;
    const verdict = interpretProgramLine(this.expect, line, this.policy.maxFrameBytes);
    switch (verdict.kind) {
      case 'ready':
        this.readyAt = performance.now();
        this.expect = { phase: 'idle' };
        break;
      case 'done':
        this.doneSeen = true;
        this.expect = { phase: 'finished' };
        break;
      case 'reply':
        this.reply = verdict.outcome;
        this.expect = { phase: 'idle' };
        if (verdict.outcome.status === 'error') {
          const { reason, message } = verdict.outcome;
          this.fail(verdict.outcome.key === undefined ? { reason, message } : { reason, message, key: verdict.outcome.key });
        }
        break;
      case 'violation':
        this.fail({ reason: 'protocol_error', message: verdict.violation.message, ...(verdict.violation.key === undefined ? {} : { key: verdict.violation.key }) });
        break;
    }
    this.wake();
  }

  /** Records the first failure; anything but a program error frame also stops the program. */
  private fail(f: Failure): void {
    if (!this.failure) this.failure = f;
    if (f.reason !== 'error') void this.terminate();
    this.wake();
  }

  /** How a program that ferry stopped went: on SIGTERM, or only on SIGKILL after the grace time. */
  private stopDetail(exit: ProgramExit): string {
    if (this.terminating === null || this.failure?.reason === 'oom') return '';
    if (exit.signal === 'SIGKILL' || exit.exitCode === 137) {
      return `; it did not stop on SIGTERM and was killed with SIGKILL after ${this.policy.killGraceMs} ms`;
    }
    if (exit.signal === 'SIGTERM' || exit.exitCode === 143) return '; it stopped on SIGTERM';
    return '';
  }

  private terminate(): Promise<void> {
    if (!this.terminating) {
      this.terminating = (this.handle?.terminate() ?? Promise.resolve()).catch(() => undefined);
    }
    return this.terminating;
  }

  private onTimeout(): void {
    if (this.exit) return;
    this.timedOut = true;
    this.fail({ reason: 'timeout', message: `the program did not finish within ${this.policy.timeoutMs} ms` });
  }

  private onExit(exit: ProgramExit): void {
    this.exit = exit;
    if (this.timer) clearTimeout(this.timer);
    // The exit is only a failure when the program still owed us something.
    if (!this.doneSeen) {
      const c = this.classifyExit(exit);
      if (c.reason !== 'ok') this.fail(c);
      else if (!this.failure) this.fail({ reason: 'protocol_error', message: 'the program exited without sending "done"' });
    }
    this.wake();
  }

  private classifyExit(exit: ProgramExit): { reason: 'ok'; message: string } | Failure {
    const code = exit.exitCode;
    const how = exit.signal ? `signal ${exit.signal}` : `exit code ${code}`;
    if (this.timedOut) return { reason: 'timeout', message: `the program did not finish within ${this.policy.timeoutMs} ms` };
    const peak = this.handle?.peakMemoryBytes() ?? null;
    const heapOom = this.logs.contains(/JavaScript heap out of memory|Reached heap limit/);
    const atLimit = peak !== null && peak >= this.policy.memoryBytes * 0.95;
    if (exit.oomKilled || heapOom || (code === 137 && atLimit)) {
      return { reason: 'oom', message: `the program ran out of memory (limit ${this.policy.memoryBytes} bytes; ${how})` };
    }
    if (this.failure) return this.failure;
    if (code === 0 && exit.signal === null) return { reason: 'ok', message: '' };
    if (exit.signal !== null || code === 137 || code === 143) {
      return { reason: 'killed', message: `the program was killed from outside the sandbox (${how})` };
    }
    const known = code === null ? undefined : HARNESS_EXIT[code];
    const summary = excerpt(this.logs.errorSummary(), 400);
    return { reason: 'error', message: `${known ?? 'the program failed'} (${how})${summary ? `: ${summary}` : ''}` };
  }

  private async send(text: string): Promise<void> {
    const socket = this.socket;
    if (!socket || socket.destroyed) return;
    if (socket.write(text)) return;
    const ac = new AbortController();
    try {
      await Promise.race([once(socket, 'drain', { signal: ac.signal }), once(socket, 'close', { signal: ac.signal })]);
    } catch {
      // An 'error' on the socket ends the wait; the program's exit tells the rest.
    } finally {
      ac.abort();
    }
  }

  async transform(batch: number, rows: InputRow[]): Promise<BatchOutcome> {
    if (this.closing) throw new SandboxError('SANDBOX_SESSION_CLOSED', 'transform() after close()');
    if (this.inFlight) throw new SandboxError('SANDBOX_CONCURRENT_BATCH', 'transform() called while another batch is pending');
    if (this.failure) return outcomeOf(this.failure);
    const keys = rows.map((r) => r.k);
    const unique = new Set(keys);
    if (unique.size !== keys.length) {
      const dup = keys.find((k, i) => keys.indexOf(k) !== i);
      throw new SandboxError('SANDBOX_DUPLICATE_INPUT_KEY', `batch ${batch} holds key ${JSON.stringify(dup)} more than once`);
    }
    let frame: string;
    try {
      frame = encodeFrame({ v: 1, t: 'batch', b: batch, rows });
    } catch (e) {
      throw new SandboxError('SANDBOX_UNENCODABLE_ROW', `batch ${batch} cannot be encoded as JSON`, { cause: e });
    }
    this.inFlight = true;
    try {
      this.reply = null;
      this.expect = { phase: 'batch', batch, keys };
      await this.send(frame);
      while (this.reply === null && this.failure === null && this.exit === null) await this.next();
      const reply = this.reply as BatchOutcome | null;
      await this.handle?.sampleMemory();
      if (reply?.status === 'ok') {
        this.batches += 1;
        this.rowsIn += rows.length;
        this.rowsOut += reply.rows.length;
        return reply;
      }
      if (this.failure) return outcomeOf(this.failure);
      // Exited cleanly mid-batch: onExit has recorded the failure, but guard the type.
      return { status: 'error', reason: 'protocol_error', message: `the program ended without answering batch ${batch}` };
    } finally {
      this.inFlight = false;
    }
  }

  close(): Promise<SandboxRun> {
    this.closing ??= this.finish();
    return this.closing;
  }

  private async finish(): Promise<SandboxRun> {
    const handle = this.handle;
    if (!handle) throw new SandboxError('SANDBOX_NOT_STARTED', 'close() on a session that never started');
    try {
      // A healthy program (or one that only reported a row error) is asked to end; anything else is stopped.
      const healthy = this.exit === null && (this.failure === null || this.failure.reason === 'error');
      if (healthy && this.socket) {
        this.expect = { phase: 'done' };
        await this.send(encodeFrame({ v: 1, t: 'end' }));
        while (!this.doneSeen && this.exit === null && (this.failure === null || this.failure.reason === 'error')) await this.next();
        if (this.exit === null) {
          const stopper = delay(EXIT_AFTER_DONE_MS).then(() => (this.exit ? undefined : this.terminate()));
          await Promise.race([handle.exited, stopper]);
        }
      } else if (this.exit === null) {
        this.fail(this.failure ?? { reason: 'killed', message: 'the program was stopped by close() before it finished' });
      }
      const exit = await handle.exited;
      this.logs.end();
      const finishedAt = new Date();

      let exitReason: ExitReason;
      let message: string | null;
      if (this.failure) {
        exitReason = this.failure.reason;
        message = this.failure.message + this.stopDetail(exit);
      } else {
        const c = this.classifyExit(exit);
        exitReason = c.reason;
        message = c.reason === 'ok' ? null : c.message;
      }
      const record = {
        kind: 'sandbox_run' as const,
        version: 1 as const,
        runId: this.setup.options.runId,
        driver: this.driver,
        policy: this.setup.appliedPolicy,
        image: this.setup.image,
        imageId: this.setup.imageId,
        nodeVersion: this.setup.nodeVersion,
        containerId: handle.containerId,
        bundleSha256: this.setup.options.bundle.sha256,
        startedAt: this.startedAt.toISOString(),
        finishedAt: finishedAt.toISOString(),
        startupMs: this.readyAt === null ? null : Math.round(this.readyAt - this.t0),
        durationMs: Math.round(performance.now() - this.t0),
        exitReason,
        exitCode: exit.exitCode,
        peakMemoryBytes: handle.peakMemoryBytes(),
        batches: this.batches,
        rowsIn: this.rowsIn,
        rowsOut: this.rowsOut,
        message,
        logTail: this.logs.tail(),
      };
      const parsed = SandboxRun.safeParse(record);
      if (!parsed.success) {
        throw new SandboxError('SANDBOX_RECORD_INVALID', `the run record does not match its schema: ${parsed.error.message}`, { cause: parsed.error });
      }
      return parsed.data;
    } finally {
      await this.cleanup();
    }
  }

  private cleanup(): Promise<void> {
    this.cleaned ??= (async () => {
      if (this.timer) clearTimeout(this.timer);
      this.socket?.destroy();
      this.server.close();
      const errors: unknown[] = [];
      if (this.handle) {
        if (this.exit === null) await this.terminate();
        await this.handle.cleanup().catch((e: unknown) => errors.push(e));
      }
      await this.runDir.remove().catch((e: unknown) => errors.push(e));
      if (errors.length > 0) {
        throw new SandboxError('SANDBOX_CLEANUP_FAILED', `could not remove what run ${this.setup.options.runId} left behind`, {
          cause: errors[0],
          hint: 'list and remove leftovers with `ferry sandbox ps` and `ferry sandbox gc --all`',
        });
      }
    })();
    return this.cleaned;
  }

  async [Symbol.asyncDispose](): Promise<void> {
    if (this.closing) {
      await this.closing.catch(() => undefined);
      return;
    }
    if (!this.failure) this.fail({ reason: 'killed', message: 'the session was disposed before close()' });
    await this.cleanup();
  }
}

/** A short random id for names that must not collide between concurrent runs. */
export function randomSuffix(): string {
  return randomBytes(4).toString('hex');
}
