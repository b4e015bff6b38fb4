import { createHash, randomUUID } from 'node:crypto';
import type pg from 'pg';
import { canonicalJson, contentHash, sha256 } from '../core/artifacts/hash.js';
import type { MigrationPlan } from '../core/artifacts/migration-plan.js';
import type { SandboxRun } from '../core/artifacts/sandbox-run.js';
import { findTable, type SchemaAnalysis } from '../core/artifacts/schema-analysis.js';
import { ensureControlTables, finishControl, insertControl, mappedLegacyIds, planTables } from '../control/control-tables.js';
import { buildWhere, qualified, quoteIdent } from '../core/sql.js';
import { FerryError, PlanError } from '../core/errors.js';
import type { SandboxPolicy } from '../../sandbox/policy.js';
import type { InputRow, OutputRow, SandboxDriver, SandboxSession } from '../../sandbox/types.js';
import { assertParentsMigrated } from '../core/plan/references.js';
import { BatchSizer, keyRanges, sampleRowBytes, type KeyRange } from './batching.js';
import { Progress } from './progress.js';
import { makeRowChecker } from './row-check.js';
import { resolveSelfReferences, type SelfReferenceResolved } from './self-references.js';
import { BatchFailure, isConnectionLoss, makeBatchWriter, type BatchWriter } from './write-batch.js';

export type RunEvent =
  | {
      type: 'started';
      migrationId: number;
      sourceRows: number;
      alreadyMapped: number;
      toMigrate: number;
      /** The most rows a batch may hold (the plan's); batches of wide rows hold fewer. */
      batchSize: number;
      /** Key-range partitions, each with its own sandbox and connections. */
      parallel: number;
    }
  /** Runs of this table whose process died (killed, connection lost) were marked failed; this run goes on after their committed batches. */
  | { type: 'resumed'; abandoned: number[]; alreadyMapped: number }
  | { type: 'sandbox_started'; driver: 'docker' | 'local'; worker: number }
  | {
      type: 'batch_committed';
      batch: number;
      rows: number;
      /** Rows inserted so far by this run (all workers). */
      inserted: number;
      toMigrate: number;
      elapsedMs: number;
      worker: number;
      /** Rows through so far (inserted, or checked in a dry run), the current rate and the time left. */
      done: number;
      rowsPerSec: number;
      etaSeconds: number | null;
    }
  | { type: 'log'; line: string; stream: 'stdout' | 'stderr' }
  /** The second pass over a self-reference: rows whose reference was set, orphans left NULL. */
  | SelfReferenceResolved
  | { type: 'finished'; status: 'completed' | 'failed' };

/** Connections for one more worker; closed by the run when the worker is done. */
export interface WorkerConnections {
  source: pg.Client;
  target: pg.Client;
  close(): Promise<void>;
}

export interface RunInput {
  plan: MigrationPlan;
  analysis: SchemaAnalysis;
  bundle: { path: string; sha256: string };
  source: pg.Client;
  target: pg.Client;
  driver: SandboxDriver;
  policy: SandboxPolicy;
  onEvent?: (e: RunEvent) => void;
  /**
   * Preview: every batch goes through the sandbox and the row checks, and is written in a
   * transaction that is then rolled back. No migration_control row is kept (migrationId 0).
   */
  dryRun?: boolean;
  /**
   * Replay: send exactly these legacy keys (those a recorded run sent), mapped or not, so
   * the checksum covers the same rows. Only with dryRun; already-mapped rows are not written.
   */
  onlyKeys?: ReadonlySet<string>;
  /**
   * Key-range partitions run side by side, each in its own sandbox container with its own
   * source and target connections (opened with `connect`), all reading one exported snapshot.
   * Default 1: the run uses `source` and `target` only.
   */
  parallel?: number;
  connect?: () => Promise<WorkerConnections>;
}

/**
 * What a run would write, as checksums: over the checked rows the program returned, without
 * the uuids the orchestrator mints (they differ every time), and over the source rows sent,
 * both in legacy-key order. A dry run, a replay and a real run of the same rows and program
 * give the same rowsChecksum. Kept for runs of up to REPLAY_ROW_LIMIT rows; a larger run
 * records counts only (hashing every row twice would cost more than writing it).
 */
export interface RunChecksums {
  dryRun: boolean;
  rowsChecksum: string;
  sourceChecksum: string;
  /** Legacy keys sent to the sandbox, in order. */
  keys: string[];
  /**
   * Per key (same order): `<source digest>:<row digest>`, 16 hex characters each, so a replay
   * can name exactly which rows changed, not only that the checksum did.
   */
  digests: string[];
  /** False when the run was too large for per-row digests (then the checksums are empty). */
  digested: boolean;
}

/** Runs of more rows than this record no per-row digests (see RunChecksums). */
export const REPLAY_ROW_LIMIT = 100_000;

/** What every run reports, completed or not. */
interface RunCounts {
  migrationId: number;
  sourceRows: number;
  inserted: number;
  skipped: number;
  batches: number;
  /** The sandbox record (with several workers: the one with the highest peak memory). */
  sandbox: SandboxRun | null;
  /** Every worker's sandbox record. */
  sandboxes: SandboxRun[];
  parallel: number;
  /** Earlier runs of this table found dead and marked failed (RUN_ABANDONED) before this one went on. */
  resumedFrom: number[];
}

export type RunResult = RunChecksums &
  RunCounts &
  (
    | { status: 'completed' }
    | {
        status: 'failed';
        errorCode: string;
        error: string;
        /** The legacy key the failure is about, when there is one. */
        key?: string;
      }
  );

/** One worker's digests, concatenated in key-range order at the end. */
interface Digests {
  keys: string[];
  source: string[];
  rows: string[];
}

/** What the workers of one run share; JavaScript is single-threaded, so plain fields suffice. */
interface Shared {
  input: RunInput;
  migrationId: number;
  /** Look up existing mappings per batch: false on a fresh run, where none can exist. */
  lookupMapped: boolean;
  digests: boolean;
  /** Bytes per source row as JSON, sampled before the first batch. */
  rowBytes: number | null;
  check: (sent: ReadonlyMap<string, Record<string, unknown>>, got: OutputRow[]) => OutputRow[];
  writer: BatchWriter;
  progress: Progress;
  toMigrate: number;
  batchNo: number;
  inserted: number;
  skipped: number;
  batches: number;
  /** Set by the first worker that fails: the others stop after their batch in flight. */
  stop: boolean;
  /** The first failure of any worker: the one the run reports. */
  firstError?: unknown;
  emit: (e: RunEvent) => void;
}

/**
 * Runs an approved plan: reads the source in one read-only snapshot, sends each batch
 * through the sandbox, checks every returned row, and writes the batch (COPY), its mappings
 * (COPY) and the control update in one transaction. Reading the next batch, transforming
 * this one and writing the previous one overlap. Only rows with no mapping yet are sent, so
 * a re-run — after a failure or a death — resumes where the committed batches end and
 * inserts nothing twice. A failed batch leaves nothing behind; the run is recorded `failed`
 * with the error. Expected failures are returned as data.
 */
export async function runMigration(input: RunInput): Promise<RunResult> {
  const { plan, analysis, source, target } = input;
  const emit = input.onEvent ?? (() => {});
  if (plan.status !== 'approved') {
    throw new PlanError('PLAN_NOT_APPROVED', `plan ${plan.id} revision ${plan.revision} is ${plan.status}`, { hint: 'review it and run ferry approve <plan>' });
  }
  const targetTable = findTable(analysis.target, plan.target.table, plan.target.schema);
  if (!targetTable) throw new PlanError('ANALYSIS_MISMATCH', `the analysis has no target table ${plan.target.schema}.${plan.target.table}`);
  const parallel = input.parallel ?? 1;
  if (!Number.isInteger(parallel) || parallel < 1 || parallel > 32) {
    throw new PlanError('PARALLEL_INVALID', `parallel must be a whole number from 1 to 32, got ${String(input.parallel)}`);
  }
  if (parallel > 1 && !input.connect) throw new PlanError('PARALLEL_NEEDS_CONNECT', 'a parallel run opens connections per worker: pass connect');
  const dryRun = input.dryRun === true;
  if (input.onlyKeys && !dryRun) throw new PlanError('REPLAY_NEEDS_DRY_RUN', 'a run restricted to recorded keys must be a dry run');

  await ensureControlTables(target);
  await assertParentsMigrated(target, plan);
  const { sourceTable, targetTable: targetKey } = planTables(plan);
  const lock = await target.query<{ ok: boolean }>(`SELECT pg_try_advisory_lock(hashtext($1)) AS ok`, [`ferry:${targetKey}`]);
  if (!lock.rows[0]?.ok) {
    throw new FerryError('MIGRATION_ALREADY_RUNNING', 'user', `another ferry run is writing ${targetKey} right now`, {
      hint: 'wait for it to finish (ferry runs list), then run again: rows it migrated are skipped',
    });
  }
  let sourceRows = 0;
  let migrationId = 0;
  let resumedFrom: number[] = [];
  let shared: Shared | null = null;
  let sandboxes: SandboxRun[] = [];
  let digestParts: Digests[] = [];
  const empty: RunChecksums = { dryRun, rowsChecksum: '', sourceChecksum: '', keys: [], digests: [], digested: false };
  const sums = (): RunChecksums => (shared?.digests ? checksums(dryRun, digestParts) : empty);
  const counts = (): RunCounts => ({
    migrationId,
    sourceRows,
    inserted: shared?.inserted ?? 0,
    skipped: shared?.skipped ?? 0,
    batches: shared?.batches ?? 0,
    sandbox: sandboxes.reduce<SandboxRun | null>((a, b) => (a === null || (b.peakMemoryBytes ?? 0) > (a.peakMemoryBytes ?? 0) ? b : a), null),
    sandboxes,
    parallel,
    resumedFrom,
  });

  const fail = async (code: string, message: string, key?: string): Promise<RunResult> => {
    // A failure still holds the source snapshot (and its cursor) open; the next run on this
    // connection would find them.
    await source.query('ROLLBACK').catch(() => undefined);
    const c = counts();
    if (!dryRun && migrationId > 0) {
      try {
        await finishControl(target, migrationId, { status: 'failed', rowsSource: sourceRows, rowsSkipped: c.skipped, errorCode: code, error: message, sandbox: c.sandbox });
      } catch (e) {
        // The target is gone: the control row stays `running`, and the next run, finding no
        // process holding this table's lock, marks it RUN_ABANDONED and resumes after it.
        if (!isConnectionLoss(e)) throw e;
        code = 'DB_CONNECTION_LOST';
        message = `${message} — and the failure could not be recorded: the target connection is gone (${(e as Error).message}); the next ferry run marks this run abandoned and resumes after its committed batches`;
      }
    }
    emit({ type: 'finished', status: 'failed' });
    return { ...sums(), ...c, status: 'failed', errorCode: code, error: message, ...(key === undefined ? {} : { key }) };
  };

  try {
    // Any other `running` run of this table holds no lock (we have it), so its process is
    // gone: killed, or cut off from the database. Its committed batches stay; this run
    // goes on after them.
    resumedFrom = await abandonDeadRuns(target, targetKey);
    if (!dryRun) migrationId = await insertControl(target, plan, contentHash(plan));

    // One consistent, read-only snapshot of the source for the whole run.
    await source.query('BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY');
    const where = buildWhere(plan.source.filters);
    const table = qualified(plan.source.schema, plan.source.table);
    const from = `${table} ${where.sql}`;
    const key = quoteIdent(plan.source.key);
    const cols = plan.source.columns.map(quoteIdent).join(', ');
    const count = await source.query<{ n: string }>(`SELECT count(*) AS n FROM ${from}`, where.params);
    sourceRows = Number(count.rows[0]?.n ?? 0);
    await assertKeyUsable(source, plan, from, where.params);

    const alreadyMapped = await countMapped(target, sourceTable, targetKey);
    if (resumedFrom.length > 0) emit({ type: 'resumed', abandoned: resumedFrom, alreadyMapped });
    const toMigrate = input.onlyKeys ? input.onlyKeys.size : Math.max(0, sourceRows - alreadyMapped);
    emit({ type: 'started', migrationId, sourceRows, alreadyMapped, toMigrate, batchSize: plan.strategy.batchSize, parallel });
    shared = {
      input,
      migrationId,
      lookupMapped: alreadyMapped > 0 || input.onlyKeys !== undefined,
      digests: toMigrate <= REPLAY_ROW_LIMIT,
      rowBytes: await sampleRowBytes(source, cols, from, key, where.params),
      check: makeRowChecker(plan, analysis, targetTable),
      writer: makeBatchWriter(plan, migrationId, dryRun),
      progress: new Progress(toMigrate),
      toMigrate,
      batchNo: 0,
      inserted: 0,
      skipped: 0,
      batches: 0,
      stop: false,
      emit,
    };
    const sh = shared;
    let outcomes: Array<PromiseSettledResult<WorkerOut>>;
    if (parallel === 1) {
      await source.query(`DECLARE ferry_source NO SCROLL CURSOR FOR SELECT ${cols} FROM ${from} ORDER BY ${key}`, where.params);
      outcomes = await Promise.allSettled([runWorker(sh, 0, source, target)]);
    } else {
      // Every worker reads the snapshot this transaction exported: one consistent source.
      const snapshot = (await source.query<{ s: string }>('SELECT pg_export_snapshot() AS s')).rows[0]!.s;
      const keyType = findTable(analysis.source, plan.source.table, plan.source.schema)?.columns.find((c) => c.name === plan.source.key)?.pgType ?? 'text';
      const ranges = await keyRanges(source, parallel, key, from, where.params);
      outcomes = await Promise.allSettled(
        ranges.map(async (range, w) => {
          const conn = await input.connect!();
          try {
            await conn.source.query('BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY');
            await conn.source.query(`SET TRANSACTION SNAPSHOT '${snapshot.replace(/'/g, "''")}'`);
            const r = rangeWhere(where.sql, where.params, key, keyType, range);
            await conn.source.query(`DECLARE ferry_source NO SCROLL CURSOR FOR SELECT ${cols} FROM ${table} ${r.sql} ORDER BY ${key}`, r.params);
            const out = await runWorker(sh, w, conn.source, conn.target);
            await conn.source.query('COMMIT');
            return out;
          } catch (e) {
            sh.stop = true;
            throw e;
          } finally {
            await conn.close().catch(() => undefined);
          }
        }),
      );
    }
    sandboxes = outcomes.flatMap((o) => (o.status === 'fulfilled' && o.value.sandbox ? [o.value.sandbox] : o.status === 'rejected' && o.reason instanceof WorkerError && o.reason.sandbox ? [o.reason.sandbox] : []));
    digestParts = outcomes.flatMap((o) => (o.status === 'fulfilled' ? [o.value.digests] : []));
    const failure = outcomes.find((o): o is PromiseRejectedResult => o.status === 'rejected');
    if (failure) throw shared.firstError ?? (failure.reason instanceof WorkerError ? failure.reason.cause : failure.reason);
    for (const s of sandboxes) {
      if (s.exitReason !== 'ok') return await fail(`SANDBOX_${s.exitReason.toUpperCase()}`, s.message ?? `the sandbox ended with ${s.exitReason}`);
    }

    // A dry run's rows are gone again, so there is nothing for a second pass to point at.
    if (!dryRun) {
      for (const e of await resolveSelfReferences(source, target, plan, targetTable, migrationId, from, where.params)) emit(e);
    }
    await source.query('COMMIT');
    if (!dryRun) await finishControl(target, migrationId, { status: 'completed', rowsSource: sourceRows, rowsSkipped: shared.skipped, sandbox: counts().sandbox });
    emit({ type: 'finished', status: 'completed' });
    return { ...sums(), ...counts(), status: 'completed' };
  } catch (e) {
    await source.query('ROLLBACK').catch(() => undefined);
    if (e instanceof BatchFailure) return await fail(e.code, e.message, e.key);
    const err = e as Error & { code?: string };
    if (isConnectionLoss(e)) return await fail('DB_CONNECTION_LOST', `a database connection was lost mid-run: ${err.message}; committed batches are kept, run again to resume after them`);
    const code = e instanceof FerryError ? e.code : 'RUN_FAILED';
    return await fail(code, err.message);
  } finally {
    await target.query(`SELECT pg_advisory_unlock(hashtext($1))`, [`ferry:${targetKey}`]).catch(() => undefined);
  }
}

/** Marks the dead `running` runs of a table failed; returns their ids. Call with the table's lock held. */
async function abandonDeadRuns(db: pg.Client, targetKey: string): Promise<number[]> {
  const r = await db.query<{ id: string }>(
    `UPDATE ferry_control.migration_control
        SET status = 'failed', error_code = 'RUN_ABANDONED', finished_at = now(),
            error = 'its process stopped without finishing (last heartbeat ' || to_char(heartbeat_at AT TIME ZONE 'UTC', 'YYYY-MM-DD HH24:MI:SS') || ' UTC, '
                    || batches_committed || ' batch(es) committed); a later run resumed after its committed batches'
      WHERE target_table = $1 AND status = 'running'
      RETURNING id`,
    [targetKey],
  );
  return r.rows.map((x) => Number(x.id)).sort((a, b) => a - b);
}

/**
 * The legacy key names a row in mappings, so it must be unique and present. Read from the
 * source's catalog as it is now, not from the plan's analysis: a key that was the primary key
 * at planning may have lost it since. A NOT NULL column with a plain unique index is safe;
 * anything else is checked in the snapshot, before anything is written.
 */
async function assertKeyUsable(db: pg.Client, plan: MigrationPlan, from: string, params: unknown[]): Promise<void> {
  const k = plan.source.key;
  const cat = await db.query<{ notnull: boolean; uniq: boolean }>(
    `SELECT a.attnotnull AS notnull,
            EXISTS (SELECT 1 FROM pg_index i
                     WHERE i.indrelid = c.oid AND i.indisunique AND i.indisvalid AND i.indpred IS NULL
                       AND i.indexprs IS NULL AND i.indnkeyatts = 1 AND i.indkey[0] = a.attnum) AS uniq
       FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
       JOIN pg_attribute a ON a.attrelid = c.oid AND NOT a.attisdropped
      WHERE n.nspname = $1 AND c.relname = $2 AND a.attname = $3`,
    [plan.source.schema, plan.source.table, k],
  );
  const notNull = cat.rows[0]?.notnull === true;
  const unique = cat.rows[0]?.uniq === true;
  if (unique && notNull) return;
  const key = quoteIdent(k);
  if (!notNull) {
    const nulls = await db.query<{ n: string }>(`SELECT count(*) AS n FROM ${from}${from.includes(' WHERE ') ? ' AND' : ' WHERE'} ${key} IS NULL`, params);
    const nullCount = Number(nulls.rows[0]?.n ?? 0);
    if (nullCount > 0) {
      throw new FerryError('SOURCE_KEY_NULL', 'user', `${nullCount} source row(s) have a NULL ${k}; the legacy key must name every row (nothing was written)`, {
        hint: `fill in ${k}, filter those rows out, or plan with a key column that is never NULL`,
      });
    }
  }
  if (unique) return;
  const dups = await db.query<{ k: string; n: string }>(`SELECT ${key}::text AS k, count(*) AS n FROM ${from} GROUP BY ${key} HAVING count(*) > 1 ORDER BY ${key} LIMIT 5`, params);
  if (dups.rows.length > 0) {
    throw new FerryError(
      'SOURCE_KEY_NOT_UNIQUE',
      'user',
      `the legacy key ${k} is not unique: ${dups.rows.map((d) => `${d.k} (${d.n} rows)`).join(', ')}${dups.rows.length === 5 ? ', …' : ''}; each row needs its own mapping (nothing was written)`,
      { hint: `deduplicate the source, or plan with a unique key column` },
    );
  }
}

/** The plan's filter plus one worker's key range, numbered after the filter's parameters. */
function rangeWhere(filterSql: string, params: unknown[], key: string, keyType: string, range: KeyRange): { sql: string; params: unknown[] } {
  const parts = filterSql ? [`(${filterSql.replace(/^WHERE /, '')})`] : [];
  const all = [...params];
  if (range.lo !== null) {
    all.push(range.lo);
    parts.push(`${key} > $${all.length}::${keyType}`);
  }
  if (range.hi !== null) {
    all.push(range.hi);
    parts.push(`${key} <= $${all.length}::${keyType}`);
  }
  return { sql: parts.length ? `WHERE ${parts.join(' AND ')}` : '', params: all };
}

interface WorkerOut {
  digests: Digests;
  sandbox: SandboxRun | null;
}

/** A worker's failure, with the sandbox record it still produced. */
class WorkerError extends Error {
  constructor(
    override readonly cause: unknown,
    readonly sandbox: SandboxRun | null,
  ) {
    super((cause as Error)?.message ?? String(cause));
  }
}

type Settled<T> = { ok: true; value: T } | { ok: false; error: unknown };
const settle = <T>(p: Promise<T>): Promise<Settled<T>> => p.then((value) => ({ ok: true as const, value }), (error: unknown) => ({ ok: false as const, error }));

interface Fetched {
  todo: InputRow[];
  /** Keys of the batch that already have a mapping (looked up only when some can). */
  mapped: Set<string>;
}

/**
 * One key range, from the cursor `ferry_source` on `source`, through one sandbox, into
 * `target`. Three stages overlap: the next batch is fetched while this one is in the
 * sandbox, and this one is checked while the previous one commits. One write at a time per
 * connection; a failure anywhere stops the worker after its write in flight settles.
 */
async function runWorker(sh: Shared, worker: number, source: pg.Client, target: pg.Client): Promise<WorkerOut> {
  const { input } = sh;
  const { plan } = input;
  const { sourceTable, targetTable: targetKey } = planTables(plan);
  const sizer = new BatchSizer(plan.strategy.batchSize, sh.rowBytes);
  const digests: Digests = { keys: [], source: [], rows: [] };
  let session: SandboxSession | null = null;

  const fetchBatch = async (): Promise<Fetched | null> => {
    for (;;) {
      if (sh.stop) return null;
      const fetched = await source.query(`FETCH ${sizer.next()} FROM ferry_source`);
      if (fetched.rows.length === 0) return null;
      const keyed: InputRow[] = fetched.rows.map((r: Record<string, unknown>) => ({ k: String(r[plan.source.key]), r }));
      sizer.observe(keyed);
      const mapped = sh.lookupMapped ? await mappedLegacyIds(target, sourceTable, targetKey, keyed.map((r) => r.k)) : new Set<string>();
      const only = input.onlyKeys;
      const todo = only ? keyed.filter((r) => only.has(r.k)) : mapped.size ? keyed.filter((r) => !mapped.has(r.k)) : keyed;
      sh.skipped += keyed.length - todo.length;
      if (todo.length > 0) return { todo, mapped };
    }
  };

  let next = settle(fetchBatch());
  // The write in flight; it settles to the error it failed with, or null.
  let writing: Promise<unknown> | null = null;
  const written = async () => {
    const e = writing ? await writing : null;
    writing = null;
    if (e) throw e;
  };
  try {
    for (;;) {
      const got = await next;
      if (!got.ok) throw got.error;
      const batch = got.value;
      if (!batch || sh.stop) break;
      // A mapping lookup (resuming) shares `target` with the write: it must not land inside it.
      if (sh.lookupMapped) await written();
      next = settle(fetchBatch());
      const batchNo = ++sh.batchNo;
      if (!session) {
        session = await input.driver.start({
          runId: `m${sh.migrationId}-w${worker}-${randomUUID().slice(0, 8)}`,
          bundle: input.bundle,
          policy: input.policy,
          labels: { 'ferry.migration': String(sh.migrationId), 'ferry.plan': plan.id, 'ferry.worker': String(worker) },
          onLog: (line, stream) => sh.emit({ type: 'log', line, stream }),
        });
        sh.emit({ type: 'sandbox_started', driver: session.driver, worker });
      }
      const outcome = await session.transform(batchNo, batch.todo);
      if (outcome.status === 'error') {
        throw new BatchFailure(`SANDBOX_${outcome.reason.toUpperCase()}`, `batch ${batchNo}: ${outcome.message}`, outcome.key);
      }
      const sent = new Map(batch.todo.map((r) => [r.k, r.r]));
      const rows = sh.check(sent, outcome.rows);
      if (sh.digests) digestBatch(digests, batch.todo, rows);
      const toWrite = input.onlyKeys ? rows.filter((r) => !batch.mapped.has(r.k)) : rows;
      // One write at a time on this connection: the previous batch commits before this one begins.
      await written();
      if (sh.stop) break;
      writing = (async () => {
        // The count is what the database says it inserted, never what the program claims.
        const n = toWrite.length > 0 ? await sh.writer.write(target, batchNo, toWrite, sent) : 0;
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
          worker,
          done: p.done,
          rowsPerSec: p.rowsPerSec,
          etaSeconds: p.etaSeconds,
        });
      })().then(
        () => null,
        (e: unknown) => e ?? new Error('batch write failed'),
      );
    }
    await written();
    const last = await next;
    if (!last.ok) throw last.error;
    if (!sh.stop) await source.query('CLOSE ferry_source');
    const s: SandboxSession | null = session;
    session = null;
    return { digests, sandbox: s ? await s.close() : null };
  } catch (e) {
    sh.stop = true;
    sh.firstError ??= e;
    // Nothing may still be writing when the run records its failure.
    if (writing) await writing;
    await next;
    const s: SandboxSession | null = session;
    session = null;
    const record = s ? await s.close().catch(() => null) : null;
    throw new WorkerError(e, record);
  }
}

/** Per row: what went in and what came out, as short digests (see RunChecksums). */
function digestBatch(d: Digests, sent: InputRow[], rows: OutputRow[]): void {
  const out = new Map(rows.map((r) => [r.k, r.r]));
  for (const r of sent) {
    d.keys.push(r.k);
    d.source.push(sha256(`${canonicalJson([r.k, r.r])}\n`));
    d.rows.push(sha256(`${canonicalJson([r.k, out.get(r.k)])}\n`));
  }
}

/** The workers' digests in key-range order (worker 0 holds the lowest keys). */
function checksums(dryRun: boolean, parts: Digests[]): RunChecksums {
  const rowsHash = createHash('sha256');
  const sourceHash = createHash('sha256');
  const keys: string[] = [];
  const digests: string[] = [];
  for (const p of parts) {
    p.keys.forEach((k, i) => {
      keys.push(k);
      sourceHash.update(p.source[i]!);
      rowsHash.update(p.rows[i]!);
      digests.push(`${p.source[i]!.slice(0, 16)}:${p.rows[i]!.slice(0, 16)}`);
    });
  }
  return { dryRun, rowsChecksum: rowsHash.digest('hex'), sourceChecksum: sourceHash.digest('hex'), keys, digests, digested: true };
}

async function countMapped(db: pg.Client, sourceTable: string, targetTable: string): Promise<number> {
  const r = await db.query<{ n: string }>('SELECT count(*) AS n FROM ferry_control.migration_mappings WHERE source_table = $1 AND target_table = $2', [sourceTable, targetTable]);
  return Number(r.rows[0]?.n ?? 0);
}
