/**
 * The queue's bookkeeping, beside the run store (same database, schema `ferry_queue`); the
 * jobs themselves live in pg-boss's schema `ferry_jobs` (boss.ts). pg-boss knows jobs; these
 * tables know what a job is to ferry: which plan of which queued run, which key range, which
 * worker holds it, how many rows it moved and which migration_control rows its attempts made.
 *
 * - runs: one per `ferry run --queue`; plans: its plans (one for a plan, several for a set),
 *   each with the run-store run that records it; partitions: a plan's key ranges (state,
 *   attempts, rows, worker); workers: every `ferry worker` (host, pid, heartbeat); events:
 *   every run event of every partition, as the orchestrator emitted it.
 */
import type pg from 'pg';
import { connect } from '../db/connect.js';
import { DatabaseError, NotFoundError } from '../core/errors.js';
import type { KeyRange } from '../orchestrator/batching.js';

export const QUEUE_DDL = `
CREATE SCHEMA IF NOT EXISTS ferry_queue;
CREATE TABLE IF NOT EXISTS ferry_queue.runs (
  id bigserial PRIMARY KEY,
  started_by text NOT NULL,
  status text NOT NULL CHECK (status IN ('running', 'completed', 'failed')),
  error_code text,
  error text,
  created_at timestamptz NOT NULL DEFAULT now(),
  finished_at timestamptz
);
CREATE TABLE IF NOT EXISTS ferry_queue.plans (
  queue_run_id bigint NOT NULL REFERENCES ferry_queue.runs(id),
  idx integer NOT NULL,
  store_run_id bigint NOT NULL,
  plan_id text NOT NULL,
  plan_hash text NOT NULL,
  analysis_hash text NOT NULL,
  bundle_sha256 text NOT NULL,
  target_table text NOT NULL,
  parents integer[] NOT NULL DEFAULT '{}',
  key_type text NOT NULL,
  state text NOT NULL CHECK (state IN ('waiting', 'queued', 'validating', 'completed', 'failed')),
  report_status text,
  PRIMARY KEY (queue_run_id, idx)
);
CREATE TABLE IF NOT EXISTS ferry_queue.partitions (
  queue_run_id bigint NOT NULL,
  plan_idx integer NOT NULL,
  idx integer NOT NULL,
  count integer NOT NULL,
  lo text,
  hi text,
  state text NOT NULL CHECK (state IN ('waiting', 'queued', 'running', 'completed', 'failed', 'cancelled')),
  job_id uuid,
  attempts integer NOT NULL DEFAULT 0,
  worker_id text,
  to_migrate bigint,
  rows_done bigint NOT NULL DEFAULT 0,
  rows_inserted bigint NOT NULL DEFAULT 0,
  rows_skipped bigint NOT NULL DEFAULT 0,
  migration_ids bigint[] NOT NULL DEFAULT '{}',
  error_code text,
  error text,
  error_key text,
  note text,
  updated_at timestamptz NOT NULL DEFAULT now(),
  PRIMARY KEY (queue_run_id, plan_idx, idx),
  FOREIGN KEY (queue_run_id, plan_idx) REFERENCES ferry_queue.plans(queue_run_id, idx)
);
CREATE TABLE IF NOT EXISTS ferry_queue.workers (
  id text PRIMARY KEY,
  host text NOT NULL,
  pid integer NOT NULL,
  concurrency integer NOT NULL,
  state text NOT NULL CHECK (state IN ('running', 'stopping', 'stopped', 'lost', 'refused')),
  detail text,
  started_at timestamptz NOT NULL DEFAULT now(),
  heartbeat_at timestamptz NOT NULL DEFAULT now()
);
CREATE TABLE IF NOT EXISTS ferry_queue.events (
  id bigserial PRIMARY KEY,
  queue_run_id bigint NOT NULL,
  plan_idx integer NOT NULL,
  partition_idx integer NOT NULL,
  attempt integer NOT NULL,
  event jsonb NOT NULL,
  at timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX IF NOT EXISTS events_run ON ferry_queue.events (queue_run_id, id);
-- The worker validating a plan (its ranges all done): a lost one's plan goes back to be finished by another.
ALTER TABLE ferry_queue.plans ADD COLUMN IF NOT EXISTS worker_id text;
CREATE TABLE IF NOT EXISTS ferry_queue.rollbacks (
  queue_run_id bigint PRIMARY KEY REFERENCES ferry_queue.runs(id),
  rolled_back_by text NOT NULL,
  migration_ids bigint[] NOT NULL,
  rows_deleted bigint NOT NULL,
  mappings_deleted bigint NOT NULL,
  at timestamptz NOT NULL DEFAULT now()
);
`;

const DDL_LOCK = 'ferry:queue-ddl';

/**
 * Whether QUEUE_DDL would change nothing, read from the catalogs without a lock. The DDL itself
 * locks even when everything exists (ALTER TABLE … ADD COLUMN IF NOT EXISTS takes ACCESS
 * EXCLUSIVE on plans, CREATE INDEX IF NOT EXISTS a SHARE lock on events): a worker starting
 * while the coordinator updated plans and then wrote an event deadlocked with it. A table,
 * column or index added to QUEUE_DDL later must be checked here too.
 */
const QUEUE_READY = `
SELECT to_regclass('ferry_queue.runs') IS NOT NULL
   AND to_regclass('ferry_queue.plans') IS NOT NULL
   AND to_regclass('ferry_queue.partitions') IS NOT NULL
   AND to_regclass('ferry_queue.workers') IS NOT NULL
   AND to_regclass('ferry_queue.events') IS NOT NULL
   AND to_regclass('ferry_queue.events_run') IS NOT NULL
   AND to_regclass('ferry_queue.rollbacks') IS NOT NULL
   AND EXISTS (SELECT 1 FROM pg_attribute WHERE attrelid = to_regclass('ferry_queue.plans') AND attname = 'worker_id' AND NOT attisdropped) AS ready`;

async function queueReady(db: pg.Client): Promise<boolean> {
  return (await db.query<{ ready: boolean }>(QUEUE_READY)).rows[0]?.ready === true;
}

export type PartitionState = 'waiting' | 'queued' | 'running' | 'completed' | 'failed' | 'cancelled';

export interface PlanRow {
  queueRunId: number;
  idx: number;
  storeRunId: number;
  planId: string;
  planHash: string;
  analysisHash: string;
  bundleSha256: string;
  targetTable: string;
  parents: number[];
  keyType: string;
  state: 'waiting' | 'queued' | 'validating' | 'completed' | 'failed';
  reportStatus: string | null;
}

export interface PartitionRow {
  queueRunId: number;
  planIdx: number;
  idx: number;
  count: number;
  range: KeyRange;
  state: PartitionState;
  jobId: string | null;
  attempts: number;
  workerId: string | null;
  toMigrate: number | null;
  rowsDone: number;
  rowsInserted: number;
  rowsSkipped: number;
  migrationIds: number[];
  errorCode: string | null;
  error: string | null;
  errorKey: string | null;
  note: string | null;
}

export interface RollbackRecord {
  by: string;
  at: string;
  migrationIds: number[];
  rowsDeleted: number;
  mappingsDeleted: number;
}

export interface WorkerRow {
  id: string;
  host: string;
  pid: number;
  concurrency: number;
  state: string;
  detail: string | null;
  startedAt: string;
  heartbeatAt: string;
  /** Seconds since the last heartbeat, as the database counts them. */
  heartbeatAgeSeconds: number;
}

const num = (v: unknown): number => Number(v);

export function toPlan(r: Record<string, unknown>): PlanRow {
  return {
    queueRunId: num(r.queue_run_id),
    idx: num(r.idx),
    storeRunId: num(r.store_run_id),
    planId: String(r.plan_id),
    planHash: String(r.plan_hash),
    analysisHash: String(r.analysis_hash),
    bundleSha256: String(r.bundle_sha256),
    targetTable: String(r.target_table),
    parents: (r.parents as number[]).map(num),
    keyType: String(r.key_type),
    state: r.state as PlanRow['state'],
    reportStatus: (r.report_status as string | null) ?? null,
  };
}

export function toPartition(r: Record<string, unknown>): PartitionRow {
  const s = (v: unknown) => (v === null || v === undefined ? null : String(v));
  return {
    queueRunId: num(r.queue_run_id),
    planIdx: num(r.plan_idx),
    idx: num(r.idx),
    count: num(r.count),
    range: { lo: s(r.lo), hi: s(r.hi) },
    state: r.state as PartitionState,
    jobId: s(r.job_id),
    attempts: num(r.attempts),
    workerId: s(r.worker_id),
    toMigrate: r.to_migrate === null ? null : num(r.to_migrate),
    rowsDone: num(r.rows_done),
    rowsInserted: num(r.rows_inserted),
    rowsSkipped: num(r.rows_skipped),
    migrationIds: (r.migration_ids as Array<string | number>).map(num),
    errorCode: s(r.error_code),
    error: s(r.error),
    errorKey: s(r.error_key),
    note: s(r.note),
  };
}

function toWorker(r: Record<string, unknown>): WorkerRow {
  return {
    id: String(r.id),
    host: String(r.host),
    pid: num(r.pid),
    concurrency: num(r.concurrency),
    state: String(r.state),
    detail: (r.detail as string | null) ?? null,
    startedAt: String(r.started_at),
    heartbeatAt: String(r.heartbeat_at),
    heartbeatAgeSeconds: Number(r.age),
  };
}

/** The queue's tables on one connection to the run store's database. */
export class QueueDb {
  private constructor(readonly db: pg.Client) {}

  static async open(url: string): Promise<QueueDb> {
    const db = await connect(url, 'target', 'ferry-queue');
    try {
      if (!(await queueReady(db))) {
        await db.query('SELECT pg_advisory_lock(hashtext($1))', [DDL_LOCK]);
        try {
          // Checked again under the lock: the process that held it has most likely made them.
          if (!(await queueReady(db))) await db.query(QUEUE_DDL);
        } finally {
          await db.query('SELECT pg_advisory_unlock(hashtext($1))', [DDL_LOCK]);
        }
      }
    } catch (cause) {
      await db.end().catch(() => undefined);
      throw new DatabaseError('QUEUE_INIT_FAILED', `could not create ferry's queue tables (schema ferry_queue): ${(cause as Error).message}`, {
        cause,
        hint: 'the user needs CREATE on the run store database (FERRY_STATE_URL, else the target)',
      });
    }
    return new QueueDb(db);
  }

  /**
   * Reads over a connection someone else opened and closes (the service's, `ferry runs show`'s),
   * to a database whose ferry_queue schema already exists: no DDL.
   */
  static over(db: pg.Client): QueueDb {
    return new QueueDb(db);
  }

  /** Whether the database holds ferry's queue tables at all (a run store that never queued a run has none). */
  static async present(db: pg.Client): Promise<boolean> {
    const r = await db.query<{ present: boolean }>(`SELECT to_regclass('ferry_queue.plans') IS NOT NULL AS present`);
    return r.rows[0]?.present === true;
  }

  async close(): Promise<void> {
    await this.db.end().catch(() => undefined);
  }

  async plans(queueRunId: number): Promise<PlanRow[]> {
    const r = await this.db.query('SELECT * FROM ferry_queue.plans WHERE queue_run_id = $1 ORDER BY idx', [queueRunId]);
    return r.rows.map(toPlan);
  }

  async planOfStoreRun(storeRunId: number): Promise<PlanRow | null> {
    const r = await this.db.query('SELECT * FROM ferry_queue.plans WHERE store_run_id = $1', [storeRunId]);
    return r.rows[0] ? toPlan(r.rows[0]) : null;
  }

  async partitions(queueRunId: number, planIdx?: number): Promise<PartitionRow[]> {
    const r = await this.db.query('SELECT * FROM ferry_queue.partitions WHERE queue_run_id = $1 AND ($2::int IS NULL OR plan_idx = $2) ORDER BY plan_idx, idx', [
      queueRunId,
      planIdx ?? null,
    ]);
    return r.rows.map(toPartition);
  }

  async run(queueRunId: number): Promise<{ status: string; errorCode: string | null; error: string | null }> {
    const r = await this.db.query<{ status: string; error_code: string | null; error: string | null }>('SELECT status, error_code, error FROM ferry_queue.runs WHERE id = $1', [queueRunId]);
    const row = r.rows[0];
    if (!row) throw new NotFoundError('QUEUE_RUN_NOT_FOUND', `there is no queued run ${queueRunId} in ferry_queue.runs`, { hint: 'the queued run ids are the ones ferry run --queue printed ("queued run N"); ferry runs show <run> names a run\'s queued run' });
    return { status: row.status, errorCode: row.error_code, error: row.error };
  }

  /** The whole-run rollback recorded for this queued run, if any. */
  async rollbackOf(queueRunId: number): Promise<RollbackRecord | null> {
    // Queue tables made before whole-run rollbacks existed have no such table until the first rollback opens them.
    const has = await this.db.query<{ ok: boolean }>(`SELECT to_regclass('ferry_queue.rollbacks') IS NOT NULL AS ok`);
    if (!has.rows[0]?.ok) return null;
    const r = await this.db.query('SELECT * FROM ferry_queue.rollbacks WHERE queue_run_id = $1', [queueRunId]);
    const x = r.rows[0] as Record<string, unknown> | undefined;
    if (!x) return null;
    return {
      by: String(x.rolled_back_by),
      at: new Date(x.at as string).toISOString(),
      migrationIds: (x.migration_ids as Array<string | number>).map(num),
      rowsDeleted: num(x.rows_deleted),
      mappingsDeleted: num(x.mappings_deleted),
    };
  }

  /** The workers that held partitions of this run, or every worker seen in the last day. */
  async workers(queueRunId?: number): Promise<WorkerRow[]> {
    const r = await this.db.query(
      `SELECT *, extract(epoch FROM now() - heartbeat_at) AS age FROM ferry_queue.workers w
        WHERE ($1::bigint IS NULL AND heartbeat_at > now() - interval '1 day')
           OR EXISTS (SELECT 1 FROM ferry_queue.events e WHERE e.queue_run_id = $1 AND e.event->>'worker_id' = w.id)
        ORDER BY started_at`,
      [queueRunId ?? null],
    );
    return r.rows.map(toWorker);
  }

  /** Events after `afterId`, oldest first. */
  async events(queueRunId: number, afterId: number): Promise<Array<{ id: number; planIdx: number; partitionIdx: number; event: Record<string, unknown> }>> {
    const r = await this.db.query('SELECT id, plan_idx, partition_idx, event FROM ferry_queue.events WHERE queue_run_id = $1 AND id > $2 ORDER BY id', [queueRunId, afterId]);
    return r.rows.map((x: Record<string, unknown>) => ({ id: num(x.id), planIdx: num(x.plan_idx), partitionIdx: num(x.partition_idx), event: x.event as Record<string, unknown> }));
  }
}
