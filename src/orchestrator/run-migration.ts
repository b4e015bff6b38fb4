import { assertSourceValidates } from '../core/plan/source-version.js';
import type { SandboxRun } from '../core/artifacts/sandbox-run.js';
import { contentHash } from '../core/artifacts/hash.js';
import { findTable } from '../core/artifacts/schema-analysis.js';
import { ensureControlTables, finishControl, insertControl, planTables, targetIdentity } from '../control/control-tables.js';
import { FerryError } from '../core/errors.js';
import { assertParentsMigrated } from '../core/plan/references.js';
import { createLogger, type Logger } from '../logger.js';
import { sampleRowBytes } from './batching.js';
import { checksums } from './checksums.js';
import { rangeWhere, runPartitions, type WorkerOutcome } from './partitions.js';
import { settle, WorkerError } from './pipeline.js';
import {
  abandonDeadRuns,
  abandonRunsById,
  checkRunInput,
  countMapped,
  countMappedWhere,
  lockPartition,
  lockTable,
  openSnapshot,
  sourceQuery,
  unlockPartition,
  unlockTable,
  type RunShape,
  type SourceQuery,
} from './prepare.js';
import { Progress } from './progress.js';
import { step } from '../core/steps.js';
import { makeRowChecker } from './row-check.js';
import { REPLAY_ROW_LIMIT, type Digests, type RunChecksums, type RunCounts, type RunInput, type RunResult, type Shared } from './run-types.js';
import { resolveSelfReferences } from './self-references.js';
import { BatchFailure, isConnectionLoss, makeBatchWriter } from './write-batch.js';

export { REPLAY_ROW_LIMIT, type RunChecksums, type RunCounts, type RunEvent, type RunInput, type RunPartition, type RunResult, type WorkerConnections } from './run-types.js';

/** One run as it goes: what it has learnt so far, for its result whether it completes or fails. */
interface RunState extends RunShape {
  input: RunInput;
  /** Made on the first warning when the caller gave none. */
  logger: Logger | null;
  targetKey: string;
  sourceRows: number;
  migrationId: number;
  resumedFrom: number[];
  shared: Shared | null;
  sandboxes: SandboxRun[];
  digestParts: Digests[];
  warnings: string[];
}

/**
 * Runs an approved plan: reads the source in one read-only snapshot, sends each batch
 * through the sandbox, checks every returned row, and writes the batch (COPY), its mappings
 * (COPY) and the control update in one transaction. Reading the next batch, transforming
 * this one and writing the previous one overlap (pipeline.ts). Only rows with no mapping yet
 * are sent, so a re-run — after a failure or a death — resumes where the committed batches
 * end and inserts nothing twice. A failed batch leaves nothing behind; the run is recorded
 * `failed` with the error. Expected failures are returned as data; what went wrong without
 * touching the rows (a sandbox not removed, the lock not released) is logged and returned
 * in `warnings`.
 */
export async function runMigration(input: RunInput): Promise<RunResult> {
  const st = newRunState(input, checkRunInput(input));
  await assertSourceValidates(input.source, input.plan);
  await ensureControlTables(input.target);
  step('controlTables');
  await assertParentsMigrated(input.target, input.plan);
  step('parents');
  const part = input.partition;
  if (part) await lockPartition(input.target, st.targetKey, part.label);
  else await lockTable(input.target, st.targetKey);
  step('lock');
  let result: RunResult;
  try {
    result = await migrate(st);
  } catch (e) {
    result = await failWith(st, e);
  } finally {
    const problem = part ? await unlockPartition(input.target, st.targetKey, part.label) : await unlockTable(input.target, st.targetKey);
    if (problem) warn(st, 'LOCK_RELEASE_FAILED', problem);
  }
  return { ...result, warnings: [...st.warnings] };
}

function newRunState(input: RunInput, shape: RunShape): RunState {
  const { targetTable: targetKey } = planTables(input.plan);
  return { ...shape, input, logger: input.logger ?? null, targetKey, sourceRows: 0, migrationId: 0, resumedFrom: [], shared: null, sandboxes: [], digestParts: [], warnings: [] };
}

function warn(st: RunState, code: string, message: string, err?: unknown): void {
  st.logger ??= createLogger();
  st.logger.warn({ code, migrationId: st.migrationId, targetTable: st.targetKey, ...(err === undefined ? {} : { err }) }, message);
  st.warnings.push(`${code}: ${message}`);
}

/** The stages in order: prepare, the partitions' pipelines, finish. */
async function migrate(st: RunState): Promise<RunResult> {
  const { plan, analysis } = st.input;
  const q = partitionQuery(sourceQuery(plan, findTable(analysis.source, plan.source.table, plan.source.schema)), st.input);
  const sh = await prepare(st, q);
  const onAbort = () => (sh.stop = true);
  if (st.input.signal?.aborted) onAbort();
  st.input.signal?.addEventListener('abort', onAbort);
  const outcomes = await runPartitions(sh, q, st.parallel).finally(() => st.input.signal?.removeEventListener('abort', onAbort));
  const failure = outcomes.find((o): o is PromiseRejectedResult => o.status === 'rejected');
  if (failure || st.input.signal?.aborted) {
    // The run fails with its own reason; a sandbox that also could not be closed is said beside it.
    const closed = await settle(collectOutcomes(st, outcomes));
    if (!closed.ok) warn(st, 'SANDBOX_CLOSE_FAILED', `a sandbox could not be closed: ${(closed.error as Error)?.message ?? String(closed.error)}`, closed.error);
    if (failure) throw sh.firstError ?? (failure.reason instanceof WorkerError ? failure.reason.cause : failure.reason);
    return await fail(st, 'RUN_STOPPED', `stopped on request after ${sh.batches} batch(es) (${sh.inserted} rows) committed; run again to resume after them`);
  }
  // Every batch committed. The programs' exits and their containers' removal go on beside the
  // rows' last steps and the caller's work on them (whileSandboxExits); the run waits for both
  // (the caller's work first settles: it may use the run's connections) and judges each exit
  // before it completes.
  const collected = settle(collectOutcomes(st, outcomes));
  const rows = await settle(finishRows(st, q, sh));
  // How the caller's work went is the caller's to tell (it is not this run's failure).
  if (rows.ok) await settle(Promise.resolve().then(() => st.input.whileSandboxExits?.({ migrationId: st.migrationId, inserted: sh.inserted })));
  const closed = await collected;
  if (!rows.ok) throw rows.error;
  if (!closed.ok) throw closed.error;
  for (const s of st.sandboxes) {
    if (s.exitReason !== 'ok') return await fail(st, `SANDBOX_${s.exitReason.toUpperCase()}`, s.message ?? `the sandbox ended with ${s.exitReason}`);
  }
  return finish(st, sh);
}

/** A partition reads only its key range: its count, its cursor, its sample. */
function partitionQuery(q: SourceQuery, input: RunInput): SourceQuery {
  const p = input.partition;
  if (!p) return q;
  const where = rangeWhere(q.where.sql, q.where.params, q.key, p.keyType, p.range);
  return { ...q, where, from: `${q.table} ${where.sql}` };
}

/** Rows of this run's rows already mapped: the table's, or the partition's range's. */
async function mappedSoFar(input: RunInput): Promise<number> {
  const { sourceTable, targetTable } = planTables(input.plan);
  const p = input.partition;
  if (!p) return countMapped(input.target, sourceTable, targetTable);
  return countMappedWhere(input.target, sourceTable, targetTable, p.keyType, rangeWhere('', [], 'legacy_key', p.keyType, p.range));
}

/**
 * Marks dead runs, opens the control row and the source snapshot, counts what is left to
 * migrate and returns what the workers share.
 */
async function prepare(st: RunState, q: SourceQuery): Promise<Shared> {
  const { input, dryRun } = st;
  const { plan, source, target } = input;
  // Any other `running` run of this table holds no lock (we have it), so its process is
  // gone: killed, or cut off from the database. Its committed batches stay; this run
  // goes on after them.
  // A partition marks only its own earlier attempts: the table's other running rows are live ranges.
  st.resumedFrom = input.partition ? await abandonRunsById(target, input.partition.abandon) : await abandonDeadRuns(target, st.targetKey);
  step('abandon');
  if (!dryRun) st.migrationId = await insertControl(target, plan, contentHash(plan));
  step('insertControl');
  const targetId = dryRun ? undefined : await targetIdentity(target);
  step('targetId');
  st.sourceRows = await openSnapshot(source, plan, q);
  step('snapshot');
  const alreadyMapped = await mappedSoFar(input);
  step('mapped');
  const emit = input.onEvent ?? (() => {});
  if (st.resumedFrom.length > 0) emit({ type: 'resumed', abandoned: st.resumedFrom, alreadyMapped });
  const toMigrate = input.onlyKeys ? input.onlyKeys.size : Math.max(0, st.sourceRows - alreadyMapped);
  emit({ type: 'started', migrationId: st.migrationId, ...(targetId ? { targetId } : {}), sourceRows: st.sourceRows, alreadyMapped, toMigrate, batchSize: plan.strategy.batchSize, parallel: st.parallel });
  const rowBytes = await sampleRowBytes(source, q.cols, q.from, q.key, q.where.params);
  step('rowBytes');
  st.shared = {
    input,
    migrationId: st.migrationId,
    // A partition looks up always: a retry's range may hold rows an earlier attempt committed.
    lookupMapped: alreadyMapped > 0 || input.onlyKeys !== undefined || input.partition !== undefined,
    digests: toMigrate <= REPLAY_ROW_LIMIT,
    rowBytes,
    check: makeRowChecker(plan, input.analysis, st.targetTable),
    writer: makeBatchWriter(plan, st.migrationId, dryRun),
    progress: new Progress(toMigrate),
    toMigrate,
    batchNo: 0,
    inserted: 0,
    skipped: 0,
    batches: 0,
    stop: false,
    emit,
    warn: (code, message, err) => warn(st, code, message, err),
  };
  return st.shared;
}

/**
 * Every worker's sandbox record (failed workers' too, once its close ended) and the digests of
 * those that finished. Rejects as the first close that failed (not a cleanup failure: that is a
 * warning with its record, pipeline.ts), after every close ended.
 */
async function collectOutcomes(st: RunState, outcomes: WorkerOutcome[]): Promise<void> {
  const closes = await Promise.all(
    outcomes.map((o) => settle(o.status === 'fulfilled' ? o.value.sandbox : Promise.resolve(o.reason instanceof WorkerError ? o.reason.sandbox : null))),
  );
  step('sandboxClose');
  st.sandboxes = closes.flatMap((c) => (c.ok && c.value ? [c.value] : []));
  st.digestParts = outcomes.flatMap((o) => (o.status === 'fulfilled' ? [o.value.digests] : []));
  const failed = closes.find((c): c is { ok: false; error: unknown } => !c.ok);
  if (failed) throw failed.error;
}

/** The second pass over self-references, and the source snapshot closed: the rows are final. */
async function finishRows(st: RunState, q: SourceQuery, sh: Shared): Promise<void> {
  const { input, dryRun } = st;
  // A dry run's rows are gone again, so there is nothing for a second pass to point at; a
  // queued range's pass waits for every range (RunPartition).
  if (!dryRun && !input.partition) {
    for (const e of await resolveSelfReferences(input.source, input.target, input.plan, st.targetTable, st.migrationId, q)) sh.emit(e);
  }
  step('selfReferences');
  await input.source.query('COMMIT');
  step('sourceCommit');
}

/** The control row completed. */
async function finish(st: RunState, sh: Shared): Promise<RunResult> {
  const { input, dryRun } = st;
  if (!dryRun) await finishControl(input.target, st.migrationId, { status: 'completed', rowsSource: st.sourceRows, rowsSkipped: sh.skipped, sandbox: counts(st).sandbox });
  step('finishControl');
  sh.emit({ type: 'finished', status: 'completed' });
  return { ...sums(st), ...counts(st), status: 'completed' };
}

/** An error from any stage, as the failed result it stands for. */
async function failWith(st: RunState, e: unknown): Promise<RunResult> {
  await st.input.source.query('ROLLBACK').catch(() => undefined);
  if (e instanceof BatchFailure) return await fail(st, e.code, e.message, e.key);
  const err = e as Error & { code?: string };
  if (isConnectionLoss(e)) return await fail(st, 'DB_CONNECTION_LOST', `a database connection was lost mid-run: ${err.message}; committed batches are kept, run again to resume after them`);
  const code = e instanceof FerryError ? e.code : 'RUN_FAILED';
  return await fail(st, code, err.message);
}

async function fail(st: RunState, code: string, message: string, key?: string): Promise<RunResult> {
  const { input, dryRun } = st;
  // A failure still holds the source snapshot (and its cursor) open; the next run on this
  // connection would find them.
  await input.source.query('ROLLBACK').catch(() => undefined);
  const c = counts(st);
  if (!dryRun && st.migrationId > 0) {
    try {
      await finishControl(input.target, st.migrationId, { status: 'failed', rowsSource: st.sourceRows, rowsSkipped: c.skipped, errorCode: code, error: message, sandbox: c.sandbox });
    } catch (e) {
      // The target is gone: the control row stays `running`, and the next run, finding no
      // process holding this table's lock, marks it RUN_ABANDONED and resumes after it.
      if (!isConnectionLoss(e)) throw e;
      code = 'DB_CONNECTION_LOST';
      message = `${message} — and the failure could not be recorded: the target connection is gone (${(e as Error).message}); the next ferry run marks this run abandoned and resumes after its committed batches`;
    }
  }
  (input.onEvent ?? (() => {}))({ type: 'finished', status: 'failed' });
  return { ...sums(st), ...c, status: 'failed', errorCode: code, error: message, ...(key === undefined ? {} : { key }) };
}

function sums(st: RunState): RunChecksums {
  if (st.shared?.digests) return checksums(st.dryRun, st.digestParts);
  return { dryRun: st.dryRun, rowsChecksum: '', sourceChecksum: '', keys: [], digests: [], digested: false };
}

function counts(st: RunState): RunCounts {
  const sh = st.shared;
  return {
    migrationId: st.migrationId,
    sourceRows: st.sourceRows,
    inserted: sh?.inserted ?? 0,
    skipped: sh?.skipped ?? 0,
    batches: sh?.batches ?? 0,
    sandbox: st.sandboxes.reduce<SandboxRun | null>((a, b) => (a === null || (b.peakMemoryBytes ?? 0) > (a.peakMemoryBytes ?? 0) ? b : a), null),
    sandboxes: st.sandboxes,
    parallel: st.parallel,
    resumedFrom: st.resumedFrom,
    warnings: [...st.warnings],
  };
}
