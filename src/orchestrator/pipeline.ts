/**
 * One key range, from the cursor `ferry_source` on `source`, through one sandbox, into
 * `target`. The stages overlap: the next batch is fetched while IN_FLIGHT batches are in
 * the sandbox (so it always has the next one waiting in its socket), and the oldest is
 * checked while the one before it commits. One write at a time per connection, in batch
 * order; a failure anywhere stops the worker after its write in flight settles.
 */
import { randomUUID } from 'node:crypto';
import type pg from 'pg';
import type { SandboxRun } from '../core/artifacts/sandbox-run.js';
import { FerryError } from '../core/errors.js';
import { planTables, mappedLegacyIds } from '../control/control-tables.js';
import { SandboxCleanupError, type BatchOutcome, type InputRow, type OutputRow, type SandboxSession } from '../../sandbox/types.js';
import { BATCH_TARGET_BYTES, BatchSizer } from './batching.js';
import { digestBatch } from './checksums.js';
import type { Digests, Shared } from './run-types.js';
import { BatchFailure, type PreparedBatch } from './write-batch.js';
import { step } from '../core/steps.js';

export interface WorkerOut {
  digests: Digests;
  /**
   * The sandbox's close (its program's exit, its container's removal) and its record: still
   * going on when the worker returns, so the run's next steps overlap it. Never an unhandled
   * rejection; the run awaits it before it judges the exit.
   */
  sandbox: Promise<SandboxRun | null>;
}

/** A worker's failure, with the sandbox record it still produced. */
export class WorkerError extends Error {
  constructor(
    override readonly cause: unknown,
    readonly sandbox: SandboxRun | null,
  ) {
    super((cause as Error)?.message ?? String(cause));
  }
}

export type Settled<T> = { ok: true; value: T } | { ok: false; error: unknown };
/** A promise's outcome as data: awaited later, never an unhandled rejection meanwhile. */
export const settle = <T>(p: Promise<T>): Promise<Settled<T>> => p.then((value) => ({ ok: true as const, value }), (error: unknown) => ({ ok: false as const, error }));

/**
 * Batches sent to the sandbox and not yet checked: two keep the program busy while the
 * orchestrator checks and writes. What is held at once is these, the one being written and
 * the one being fetched, so each gets that share of the byte budget one batch had alone:
 * memory stays flat however many rows, and where one full batch at a time left it.
 */
const IN_FLIGHT = 2;
const HELD_BATCHES = IN_FLIGHT + 2;

interface Fetched {
  todo: InputRow[];
  /** Keys of the batch that already have a mapping (looked up only when some can). */
  mapped: Set<string>;
}

export function runWorker(sh: Shared, worker: number, source: pg.Client, target: pg.Client): Promise<WorkerOut> {
  return new Pipeline(sh, worker, source, target).run();
}

class Pipeline {
  private readonly sizer: BatchSizer;
  private readonly digests: Digests = { keys: [], source: [], rows: [] };
  private session: SandboxSession | null = null;
  /** The session's close, once begun (the end of the stream, or an abort): its one record. */
  private closing: Promise<SandboxRun | null> | null = null;
  /** The next batch being fetched (stage 1). */
  private next: Promise<Settled<Fetched | null>> = Promise.resolve({ ok: true, value: null });
  /** The write in flight (stage 3); it settles to the error it failed with, or null. */
  private writing: Promise<unknown> | null = null;
  /** Batches in the sandbox (stage 2), oldest first. */
  private targetTurn: Promise<unknown> = Promise.resolve();
  private readonly inFlight: Array<{ batchNo: number; batch: Fetched; outcome: Promise<Settled<BatchOutcome>> }> = [];

  constructor(
    private readonly sh: Shared,
    private readonly worker: number,
    private readonly source: pg.Client,
    private readonly target: pg.Client,
  ) {
    this.sizer = new BatchSizer(sh.input.plan.strategy.batchSize, sh.rowBytes, BATCH_TARGET_BYTES / HELD_BATCHES);
  }

  async run(): Promise<WorkerOut> {
    try {
      this.next = settle(this.fetchBatch());
      for (;;) {
        const got = await this.next;
        if (!got.ok) throw got.error;
        if (!got.value || this.sh.stop) break;
        await this.send(got.value);
        if (this.inFlight.length >= IN_FLIGHT && !(await this.finishOldest())) break;
      }
      // No batch follows: the program answers those in flight, then ends, while they are checked and written.
      if (!this.sh.stop) this.session?.end?.();
      while (this.inFlight.length > 0 && !this.sh.stop) if (!(await this.finishOldest())) break;
      return await this.drain();
    } catch (e) {
      throw await this.abort(e);
    }
  }

  /** Stage 1: the next batch of rows with no mapping yet (or the replayed keys); null at the end or on stop. */
  private async fetchBatch(): Promise<Fetched | null> {
    const { plan, onlyKeys } = this.sh.input;
    const { sourceTable, targetTable } = planTables(plan);
    for (;;) {
      if (this.sh.stop) return null;
      const fetched = await this.source.query(`FETCH ${this.sizer.next()} FROM ferry_source`);
      step('fetch');
      if (fetched.rows.length === 0) return null;
      const keyed: InputRow[] = fetched.rows.map((r: Record<string, unknown>) => ({ k: String(r[plan.source.key]), r }));
      this.sizer.observe(keyed);
      const mapped = this.sh.lookupMapped ? await this.onTarget(() => mappedLegacyIds(this.target, sourceTable, targetTable, keyed.map((r) => r.k))) : new Set<string>();
      const todo = onlyKeys ? keyed.filter((r) => onlyKeys.has(r.k)) : mapped.size ? keyed.filter((r) => !mapped.has(r.k)) : keyed;
      this.sh.skipped += keyed.length - todo.length;
      if (todo.length > 0) return { todo, mapped };
    }
  }

  /** A batch into the sandbox (stage 2), not waited for; the next fetch starts. */
  private async send(batch: Fetched): Promise<void> {
    const { sh } = this;
    // A mapping lookup (resuming) shares `target` with the write: it must not land inside it.
    if (sh.lookupMapped) await this.written();
    this.next = settle(this.fetchBatch());
    const batchNo = ++sh.batchNo;
    const session = await this.sandbox();
    this.inFlight.push({ batchNo, batch, outcome: settle(session.transform(batchNo, batch.todo)) });
  }

  /** The oldest batch's answer, checked, handed to stage 3 once the write before it committed. False: stop. */
  private async finishOldest(): Promise<boolean> {
    const { sh } = this;
    const { batchNo, batch, outcome: answered } = this.inFlight.shift()!;
    const settled = await answered;
    if (!settled.ok) throw settled.error;
    const outcome = settled.value;
    if (outcome.status === 'error') {
      throw new BatchFailure(`SANDBOX_${outcome.reason.toUpperCase()}`, `batch ${batchNo}: ${outcome.message}`, outcome.key);
    }
    const sent = new Map<string, Record<string, unknown>>();
    for (const r of batch.todo) sent.set(r.k, r.r);
    step('transform');
    const rows = await sh.check(sent, outcome.rows);
    if (sh.digests) digestBatch(this.digests, batch.todo, rows);
    const toWrite = sh.input.onlyKeys ? rows.filter((r) => !batch.mapped.has(r.k)) : rows;
    // Its COPY text is built while the previous batch still writes (a bad value fails it here, before anything is sent).
    const prepared = toWrite.length > 0 ? await sh.writer.prepare(batchNo, toWrite) : null;
    step('check');
    // One write at a time on this connection: the previous batch commits before this one begins.
    await this.written();
    if (sh.stop) return false;
    this.writing = this.onTarget(() => this.write(batchNo, rows, prepared, sent)).then(
      () => null,
      (e: unknown) => e ?? new Error('batch write failed'),
    );
    return true;
  }

  /**
   * Everything this worker does on `target`, one after another. The next batch's fetch runs
   * while a write is in flight; its mapping lookup (resuming) must never land inside that
   * write's transaction, or after a failed COPY before its ROLLBACK, where it failed with
   * "current transaction is aborted" and hid the batch's own error (the row it names).
   */
  private onTarget<T>(work: () => Promise<T>): Promise<T> {
    const run = this.targetTurn.then(work, work);
    this.targetTurn = run.catch(() => undefined);
    return run;
  }

  /** The worker's sandbox, started with its first batch. */
  private async sandbox(): Promise<SandboxSession> {
    if (this.session) return this.session;
    const { sh, worker } = this;
    const { input } = sh;
    this.session = await input.driver.start({
      runId: `m${sh.migrationId}-w${worker}-${randomUUID().slice(0, 8)}`,
      bundle: input.bundle,
      policy: input.policy,
      labels: { 'ferry.migration': String(sh.migrationId), 'ferry.plan': input.plan.id, 'ferry.worker': String(worker) },
      onLog: (line, stream) => sh.emit({ type: 'log', line, stream }),
    });
    sh.emit({ type: 'sandbox_started', driver: this.session.driver, worker });
    return this.session;
  }

  /** Stage 3: the batch, its mappings and the control update in one transaction. */
  private async write(batchNo: number, rows: OutputRow[], prepared: PreparedBatch | null, sent: ReadonlyMap<string, Record<string, unknown>>): Promise<void> {
    const { sh } = this;
    // The count is what the database says it inserted, never what the program claims.
    const n = prepared ? await sh.writer.write(this.target, batchNo, prepared.rows, sent, prepared) : 0;
    step('write');
    sh.inserted += n;
    sh.batches += 1;
    const p = sh.progress.add(rows.length);
    sh.emit({
      type: 'batch_committed',
      batch: batchNo,
      rows: rows.length,
      inserted: sh.inserted,
      toMigrate: sh.toMigrate,
      elapsedMs: p.elapsedMs,
      worker: this.worker,
      done: p.done,
      rowsPerSec: p.rowsPerSec,
      etaSeconds: p.etaSeconds,
    });
  }

  private async written(): Promise<void> {
    const e = this.writing ? await this.writing : null;
    this.writing = null;
    if (e) throw e;
  }

  /**
   * The last write and fetch settled, the cursor closed; the sandbox's close handed on.
   * Every answer is in (checked, the last one writing): the program's exit and its container's
   * removal go on beside the last commit, and beside what the run does next, instead of after
   * them. The run still waits for both, and judges the sandbox's exit before it completes
   * (run-migration.ts).
   */
  private async drain(): Promise<WorkerOut> {
    const closing = this.closeSandbox();
    // Awaited by the run, or by abort() when the last write fails first: never an unhandled rejection meanwhile.
    closing.catch(() => undefined);
    await this.written();
    const last = await this.next;
    if (!last.ok) throw last.error;
    if (!this.sh.stop) await this.source.query('CLOSE ferry_source');
    step('drain');
    return { digests: this.digests, sandbox: closing };
  }

  /** Stops the other workers and waits until nothing of this one still writes; the error keeps the sandbox record. */
  private async abort(e: unknown): Promise<WorkerError> {
    this.sh.stop = true;
    this.sh.firstError ??= e;
    // Nothing may still be writing when the run records its failure.
    if (this.writing) await this.writing;
    await this.next;
    let record: SandboxRun | null = null;
    try {
      record = await this.closeSandbox();
    } catch (closeError) {
      // The run already fails with `e`; the close failure is reported beside it, not instead.
      const code = closeError instanceof FerryError ? closeError.code : 'SANDBOX_CLOSE_FAILED';
      this.sh.warn(code, `worker ${this.worker}'s sandbox could not be closed after the failure: ${(closeError as Error)?.message ?? String(closeError)}`, closeError);
    }
    return new WorkerError(e, record);
  }

  /**
   * Closes the sandbox and returns its record, once however often asked (drain and abort share
   * it). A sandbox that ran but could not be removed (SANDBOX_CLEANUP_FAILED) does not undo
   * committed batches: it is a warning with the record.
   */
  private closeSandbox(): Promise<SandboxRun | null> {
    this.closing ??= this.closeSession();
    return this.closing;
  }

  private async closeSession(): Promise<SandboxRun | null> {
    const s = this.session;
    if (!s) return null;
    try {
      return await s.close();
    } catch (e) {
      if (!(e instanceof SandboxCleanupError)) throw e;
      this.sh.warn(e.code, `worker ${this.worker}'s sandbox: ${e.message}${e.hint ? `; ${e.hint}` : ''}`, e);
      return e.record;
    }
  }
}
