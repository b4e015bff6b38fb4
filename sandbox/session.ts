/**
 * The stream session both drivers share: the frame exchange with its checks, the timeout,
 * the classification of how a run ended and the SandboxRun record. A driver only says how to
 * start, stop, measure and remove the program (a container, or a child process); the run
 * directory, the socket and the log live in run-dir.ts, stream-socket.ts and logs.ts.
 */
import { randomBytes } from 'node:crypto';
import { once } from 'node:events';
import type { Server, Socket } from 'node:net';
import { performance } from 'node:perf_hooks';
import type { ExitReason, SandboxRun } from '../src/core/artifacts/sandbox-run.js';
import { SandboxError } from '../src/core/errors.js';
import { LogCollector } from './logs.js';
import { checkPolicy } from './policy-check.js';
import type { SandboxPolicy } from './policy.js';
import { encodeFrame, encodeRows, excerpt, interpretProgramFrame, programFrameOf, programReader, type Expectation, type ProgramLine, type Unit } from './protocol.js';
import { createRunDir, type RunDir, type RunDirAccess } from './run-dir.js';
import { listenOnSocket, type Hello } from './stream-socket.js';
import { besideStep, step } from '../src/core/steps.js';
import { SandboxCleanupError, type BatchOutcome, type InputRow, type SandboxSession, type SandboxStartOptions } from './types.js';

/** Batches a session holds in flight at once (sent, not yet answered): enough that neither side waits, few enough to bound memory. */
export const MAX_IN_FLIGHT = 4;
/** Time a program gets to exit after "done" before it is stopped. */
const EXIT_AFTER_DONE_MS = 10_000;
/** Exit codes of the harness itself (sandbox/harness/harness.ts). */
const HARNESS_EXIT: Record<number, string> = {
  70: 'the program could not connect to the row stream',
  71: 'the row stream broke inside the program',
};


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
  /** The program said ready with the run's secret (a warm container's token file is removed here). */
  onReady?(): Promise<void>;
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
  /** The run directory, when the driver brings its own (a warm container's, sandbox/warm.ts); else a fresh one. */
  prepareRunDir?: () => Promise<RunDir>;
}

type Failure = { reason: Exclude<ExitReason, 'ok'>; message: string; key?: string };

function outcomeOf(f: Failure): BatchOutcome {
  return f.key === undefined
    ? { status: 'error', reason: f.reason, message: f.message }
    : { status: 'error', reason: f.reason, message: f.message, key: f.key };
}

/** A batch sent and not yet answered; `settled` once its caller has an outcome (a reply may still be owed). */
interface Pending {
  batch: number;
  keys: readonly string[];
  rows: number;
  settled: boolean;
  resolve: (outcome: BatchOutcome) => void;
}

/** SandboxRun's schema, once a session has started (startSession). */
let recordSchema: typeof import('../src/core/artifacts/sandbox-run.js').SandboxRun | null = null;

function delay(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms).unref());
}

/** Starts a program behind the socket protocol and waits for its "ready" (or its early end). */
export async function startSession(setup: SessionSetup): Promise<SandboxSession> {
  checkPolicy(setup.options.policy);
  // The record's schema (zod) is loaded with the first session, not with this module: `ferry
  // run` starts its container before anything loads zod (src/cli/commands/run.ts).
  recordSchema ??= (await import('../src/core/artifacts/sandbox-run.js')).SandboxRun;
  const runDir = setup.prepareRunDir ? await setup.prepareRunDir() : await createRunDir(setup.options.bundle, setup.access);
  step('sandbox.runDir');
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
  step('sandbox.listen');
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
  private phase: 'ready' | 'stream' | 'finished' = 'ready';
  /** Batches sent and not yet answered, oldest first (replies come in the order sent). */
  private readonly pending: Pending[] = [];
  /** "end" was sent. */
  private ended = false;
  private failure: Failure | null = null;
  private readyAt: number | null = null;
  private doneSeen = false;
  private timedOut = false;
  private terminating: Promise<void> | null = null;
  private exit: ProgramExit | null = null;
  private timer: NodeJS.Timeout | null = null;
  private closing: Promise<SandboxRun> | null = null;
  private cleaned: Promise<void> | null = null;
  private batches = 0;
  private rowsIn = 0;
  private rowsOut = 0;
  private outputBytes = 0;
  /** Wakes whoever waits for the next protocol event (ready, done, a failure, the exit). */
  private waiter: (() => void) | null = null;

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
    step('sandbox.launch');
    this.arm();
    void this.handle.exited.then((exit) => this.onExit(exit));
    void this.connection.then((hello) => this.onConnection(hello));
    while (this.readyAt === null && this.failure === null && this.exit === null) await this.next();
    if (!this.owesWork()) this.disarm();
    step('sandbox.ready');
    if (this.readyAt !== null) {
      await this.handle.onReady?.();
      await this.handle.sampleMemory();
    }
    step('sandbox.afterReady');
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
    const reader = programReader(this.policy.maxFrameBytes);
    const take = (chunk: Buffer) => {
      if (this.failure && this.failure.reason !== 'error') return;
      this.outputBytes += chunk.length;
      if (this.outputBytes > this.policy.maxOutputBytes) {
        this.fail({ reason: 'output_limit', message: `the program sent more than ${this.policy.maxOutputBytes} bytes on the row stream; it was stopped` });
        return;
      }
      const { units, violation } = reader.push(chunk);
      for (const unit of units) this.onUnit(unit);
      if (violation !== null) this.fail({ reason: 'protocol_error', message: violation.message, ...(violation.key === undefined ? {} : { key: violation.key }) });
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

  private expectation(): Expectation {
    return this.phase === 'stream' ? { phase: 'stream', pending: this.pending, ended: this.ended } : { phase: this.phase };
  }

  private onUnit(unit: Unit<ProgramLine>): void {
    if (this.failure && this.failure.reason !== 'error') return;
    const parsed = programFrameOf(unit);
    const verdict = parsed.ok ? interpretProgramFrame(this.expectation(), parsed.frame) : { kind: 'violation' as const, violation: parsed.violation };
    switch (verdict.kind) {
      case 'ready':
        this.readyAt = performance.now();
        besideStep('program.ready');
        this.phase = 'stream';
        break;
      case 'done':
        this.doneSeen = true;
        besideStep('program.done');
        this.phase = 'finished';
        break;
      case 'reply':
        this.onReply(this.pending.shift()!, verdict.outcome);
        break;
      case 'violation':
        this.fail({ reason: 'protocol_error', message: verdict.violation.message, ...(verdict.violation.key === undefined ? {} : { key: verdict.violation.key }) });
        break;
    }
    this.wake();
  }

  /** A reply to the oldest pending batch: its caller's outcome, unless a failure already answered it. */
  private onReply(p: Pending, outcome: BatchOutcome): void {
    if (!p.settled) {
      p.settled = true;
      if (this.exit === null) {
        if (this.owesWork()) this.arm();
        else this.disarm();
      }
      if (outcome.status === 'ok') {
        this.batches += 1;
        this.rowsIn += p.rows;
        this.rowsOut += outcome.rows.length;
      }
      p.resolve(outcome);
    }
    if (outcome.status === 'error') {
      const { reason, message } = outcome;
      this.fail(outcome.key === undefined ? { reason, message } : { reason, message, key: outcome.key });
    }
  }

  /** Records the first failure; anything but a program error frame also stops the program. */
  private fail(f: Failure): void {
    if (!this.failure) this.failure = f;
    // Every batch still waiting gets the run's failure. After a program error the program
    // still answers them (it is healthy): their replies are read, in order, and dropped.
    for (const p of this.pending) {
      if (p.settled) continue;
      p.settled = true;
      p.resolve(outcomeOf(this.failure));
    }
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

  /**
   * The timeout runs only while the program owes ferry something: its "ready", the reply to a
   * batch (restarted by each reply while others are outstanding), or its exit once told to
   * end. While ferry itself is busy (writing the previous batch into a slow target) the
   * program owes nothing and no time counts: a long run is never cut for being long, only a
   * program that stops answering.
   */
  private arm(): void {
    if (this.timer) clearTimeout(this.timer);
    this.timer = setTimeout(() => this.onTimeout(), this.policy.timeoutMs);
    this.timer.unref();
  }

  private disarm(): void {
    if (this.timer) clearTimeout(this.timer);
    this.timer = null;
  }

  private owesWork(): boolean {
    return this.readyAt === null || this.ended || this.pending.some((p) => !p.settled);
  }

  private onTimeout(): void {
    if (this.exit) return;
    this.timedOut = true;
    this.fail({ reason: 'timeout', message: `the program kept ferry waiting and did not finish within ${this.policy.timeoutMs} ms` });
  }

  private onExit(exit: ProgramExit): void {
    besideStep('program.exited');
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
    if (this.timedOut) return { reason: 'timeout', message: `the program kept ferry waiting and did not finish within ${this.policy.timeoutMs} ms` };
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

  /** Writes, then waits while the socket's buffer is over its mark (backpressure). */
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

  /** See SandboxSession.end: the program's exit overlaps the caller's work on the last answers. */
  end(): void {
    if (this.ended || this.closing || this.exit !== null || !this.socket || (this.failure !== null && this.failure.reason !== 'error')) return;
    this.ended = true;
    // From now on the program owes its remaining replies, "done" and its exit: the timeout runs.
    this.arm();
    void this.send(encodeFrame({ v: 1, t: 'end' }));
  }

  async transform(batch: number, rows: InputRow[]): Promise<BatchOutcome> {
    if (this.closing) throw new SandboxError('SANDBOX_SESSION_CLOSED', 'transform() after close()');
    if (this.ended) throw new SandboxError('SANDBOX_SESSION_ENDED', `transform() of batch ${batch} after end(): the program was told no batch follows`);
    if (this.failure) return outcomeOf(this.failure);
    if (this.pending.filter((p) => !p.settled).length >= MAX_IN_FLIGHT) {
      throw new SandboxError('SANDBOX_CONCURRENT_BATCH', `transform() called with ${MAX_IN_FLIGHT} batches already in flight`);
    }
    const keys = rows.map((r) => r.k);
    const unique = new Set(keys);
    if (unique.size !== keys.length) {
      const dup = keys.find((k, i) => keys.indexOf(k) !== i);
      throw new SandboxError('SANDBOX_DUPLICATE_INPUT_KEY', `batch ${batch} holds key ${JSON.stringify(dup)} more than once`);
    }
    let frame: { head: string; body: string };
    try {
      frame = encodeRows(batch, rows);
    } catch (e) {
      throw new SandboxError('SANDBOX_UNENCODABLE_ROW', `batch ${batch} cannot be encoded for the row stream: ${(e as Error)?.message ?? String(e)}`, { cause: e });
    }
    if (!this.owesWork() && this.exit === null) this.arm();
    const answered = new Promise<BatchOutcome>((resolve) => this.pending.push({ batch, keys, rows: rows.length, settled: false, resolve }));
    // Head and body written in one turn, so batches sent by concurrent calls never interleave.
    this.socket?.write(frame.head);
    await this.send(frame.body);
    const outcome = await answered;
    await this.handle?.sampleMemory();
    return outcome;
  }

  close(): Promise<SandboxRun> {
    this.closing ??= this.finish();
    return this.closing;
  }

  private async finish(): Promise<SandboxRun> {
    const handle = this.handle;
    if (!handle) throw new SandboxError('SANDBOX_NOT_STARTED', 'close() on a session that never started');
    let record: SandboxRun | null = null;
    try {
      await this.endProgram(handle);
      step('sandbox.done');
      record = this.recordOf(handle, await handle.exited);
      step('sandbox.exited');
      return record;
    } finally {
      // A cleanup failure still carries the record: the run it describes happened.
      await this.cleanup().catch((e: unknown) => {
        throw e instanceof SandboxCleanupError && record !== null ? e.withRecord(record) : e;
      });
    }
  }

  /** A healthy program (or one that only reported a row error) is asked to end; anything else is stopped. */
  private async endProgram(handle: ProgramHandle): Promise<void> {
    const healthy = this.exit === null && (this.failure === null || this.failure.reason === 'error');
    if (healthy && this.socket) {
      if (!this.ended) {
        this.ended = true;
        this.arm();
        await this.send(encodeFrame({ v: 1, t: 'end' }));
      }
      while (!this.doneSeen && this.exit === null && (this.failure === null || this.failure.reason === 'error')) await this.next();
      if (this.exit === null) {
        const stopper = delay(EXIT_AFTER_DONE_MS).then(() => (this.exit ? undefined : this.terminate()));
        await Promise.race([handle.exited, stopper]);
      }
    } else if (this.exit === null) {
      this.fail(this.failure ?? { reason: 'killed', message: 'the program was stopped by close() before it finished' });
    }
  }

  private recordOf(handle: ProgramHandle, exit: ProgramExit): SandboxRun {
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
    const parsed = recordSchema!.safeParse(record);
    if (!parsed.success) {
      throw new SandboxError('SANDBOX_RECORD_INVALID', `the run record does not match its schema: ${parsed.error.message}`, { cause: parsed.error });
    }
    return parsed.data;
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
        throw new SandboxCleanupError(`could not remove what run ${this.setup.options.runId} left behind: ${errors.map((e) => (e as Error)?.message ?? String(e)).join('; ')}`, {
          cause: errors[0],
          hint: 'list and remove leftovers with `ferry sandbox ps` and `ferry sandbox gc --all` (and the run directory named here)',
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
