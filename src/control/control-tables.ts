import type { MigrationPlan } from '../core/artifacts/migration-plan.js';
import type { Queryable } from '../core/sql.js';
import { DatabaseError } from '../core/errors.js';
import { planTables } from '../core/plan/tables.js';

/**
 * ferry's bookkeeping in the target database, in its own schema `ferry_control`:
 * - migration_control: one row per run (status, counts, timings, the plan it ran);
 * - migration_mappings: legacy id → new id per migrated row, with the run and batch that
 *   wrote it. Unique per (source table, target table, legacy id): a row moves once.
 * A batch's rows, its mappings and its control update commit in one transaction.
 *
 * Its own schema, not `ferry` (the run store's): the run store may live in another database
 * (FERRY_STATE_URL), while these tables must sit in the target, in the batch's transaction.
 * Not `public`: Supabase's default privileges there give `anon` and `authenticated` every
 * table created in it. Row-level security is on with no policy, and every privilege is
 * revoked from PUBLIC and from `anon` / `authenticated` where those roles exist, on each
 * start (a grant added later, or a database-wide default privilege, is taken back again).
 * Only the owner (the role ferry connects as) reads and writes them.
 */
export const CONTROL_SCHEMA = 'ferry_control';

/**
 * Installations from before ferry_control kept both tables in `public`: they are moved
 * (ALTER TABLE … SET SCHEMA: rows, ids, sequences, indexes and the FK move with them) in
 * the same transaction as the rest of the DDL, under the DDL lock. Both places holding a
 * migration_control is refused (see ensureControlTables).
 */
const MOVE_FROM_PUBLIC = `
DO $move$
BEGIN
  IF to_regclass('public.migration_control') IS NOT NULL THEN
    IF to_regclass('ferry_control.migration_control') IS NOT NULL THEN
      RAISE EXCEPTION 'ferry: public.migration_control and ferry_control.migration_control both exist' USING ERRCODE = 'FC001';
    END IF;
    ALTER TABLE public.migration_control SET SCHEMA ferry_control;
    IF to_regclass('public.migration_mappings') IS NOT NULL THEN
      ALTER TABLE public.migration_mappings SET SCHEMA ferry_control;
    END IF;
  END IF;
END
$move$;`;

const LOCK_DOWN = `
ALTER TABLE ferry_control.migration_control ENABLE ROW LEVEL SECURITY;
ALTER TABLE ferry_control.migration_mappings ENABLE ROW LEVEL SECURITY;
ALTER TABLE ferry_control.target_identity ENABLE ROW LEVEL SECURITY;
REVOKE ALL ON SCHEMA ferry_control FROM PUBLIC;
REVOKE ALL ON ALL TABLES IN SCHEMA ferry_control FROM PUBLIC;
REVOKE ALL ON ALL SEQUENCES IN SCHEMA ferry_control FROM PUBLIC;
DO $revoke$
DECLARE r text;
BEGIN
  FOREACH r IN ARRAY ARRAY['anon', 'authenticated'] LOOP
    IF EXISTS (SELECT 1 FROM pg_roles WHERE rolname = r) THEN
      EXECUTE format('REVOKE ALL ON SCHEMA ferry_control FROM %I', r);
      EXECUTE format('REVOKE ALL ON ALL TABLES IN SCHEMA ferry_control FROM %I', r);
      EXECUTE format('REVOKE ALL ON ALL SEQUENCES IN SCHEMA ferry_control FROM %I', r);
    END IF;
  END LOOP;
END
$revoke$;`;

export const CONTROL_DDL = `
CREATE SCHEMA IF NOT EXISTS ferry_control;
${MOVE_FROM_PUBLIC}
CREATE TABLE IF NOT EXISTS ferry_control.migration_control (
  id bigserial PRIMARY KEY,
  plan_id text NOT NULL,
  plan_revision integer NOT NULL,
  plan_hash text NOT NULL,
  plan jsonb NOT NULL,
  source_table text NOT NULL,
  target_table text NOT NULL,
  status text NOT NULL CHECK (status IN ('running', 'completed', 'failed', 'rolled_back')),
  rows_source integer,
  rows_skipped integer NOT NULL DEFAULT 0,
  rows_inserted integer NOT NULL DEFAULT 0,
  rows_rolled_back integer,
  batches_committed integer NOT NULL DEFAULT 0,
  error_code text,
  error text,
  sandbox jsonb,
  started_at timestamptz NOT NULL DEFAULT now(),
  heartbeat_at timestamptz NOT NULL DEFAULT now(),
  finished_at timestamptz,
  rolled_back_at timestamptz
);
CREATE TABLE IF NOT EXISTS ferry_control.migration_mappings (
  id bigserial PRIMARY KEY,
  migration_id bigint NOT NULL REFERENCES ferry_control.migration_control(id),
  batch_id integer NOT NULL,
  source_table text NOT NULL,
  legacy_id text NOT NULL,
  target_table text NOT NULL,
  new_id text NOT NULL,
  created_at timestamptz NOT NULL DEFAULT now(),
  UNIQUE (source_table, target_table, legacy_id)
);
CREATE INDEX IF NOT EXISTS migration_mappings_run_idx ON ferry_control.migration_mappings (migration_id, batch_id);
CREATE INDEX IF NOT EXISTS migration_mappings_new_idx ON ferry_control.migration_mappings (target_table, new_id);
CREATE TABLE IF NOT EXISTS ferry_control.target_identity (
  id uuid NOT NULL DEFAULT gen_random_uuid(),
  one boolean PRIMARY KEY DEFAULT true CHECK (one)
);
INSERT INTO ferry_control.target_identity DEFAULT VALUES ON CONFLICT DO NOTHING;
${LOCK_DOWN}
`;

/**
 * Whether CONTROL_DDL would change nothing, read from the catalogs without a lock: both tables
 * and indexes in ferry_control, none left in public, RLS on, and no privilege on the schema, its
 * tables or its sequences for PUBLIC, anon or authenticated (a grant added since is taken back by
 * the DDL path). A column added to CONTROL_DDL later must be checked here too.
 */
const CONTROL_READY = `
SELECT to_regclass('public.migration_control') IS NULL
   AND coalesce((SELECT relrowsecurity FROM pg_class WHERE oid = to_regclass('ferry_control.migration_control')), false)
   AND coalesce((SELECT relrowsecurity FROM pg_class WHERE oid = to_regclass('ferry_control.migration_mappings')), false)
   AND coalesce((SELECT relrowsecurity FROM pg_class WHERE oid = to_regclass('ferry_control.target_identity')), false)
   AND to_regclass('ferry_control.migration_mappings_run_idx') IS NOT NULL
   AND to_regclass('ferry_control.migration_mappings_new_idx') IS NOT NULL
   AND NOT EXISTS (
     SELECT 1 FROM pg_namespace n, aclexplode(coalesce(n.nspacl, acldefault('n'::"char", n.nspowner))) a
      WHERE n.nspname = 'ferry_control'
        AND (a.grantee = 0 OR a.grantee IN (SELECT oid FROM pg_roles WHERE rolname IN ('anon', 'authenticated')))
     UNION ALL
     SELECT 1 FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace,
            aclexplode(coalesce(c.relacl, acldefault((CASE WHEN c.relkind = 'S' THEN 's' ELSE 'r' END)::"char", c.relowner))) a
      WHERE n.nspname = 'ferry_control' AND c.relkind IN ('r', 'p', 'S')
        AND (a.grantee = 0 OR a.grantee IN (SELECT oid FROM pg_roles WHERE rolname IN ('anon', 'authenticated')))
   ) AS ready`;

/**
 * This target database's identity: a uuid made once, when ferry first writes here. The run
 * store records it with each run, so one store serving several targets (staging and
 * production, both starting at migration 1) never mistakes one target's migration for
 * another's when it vouches for a rollback.
 */
export async function targetIdentity(db: Queryable): Promise<string> {
  // Made here too when missing: a deleted row becomes a new identity, and runs recorded under
  // the old one are then refused as unrecorded (CONTROL_UNRECORDED), never trusted.
  const r = await db.query<{ id: string }>(
    `WITH made AS (INSERT INTO ferry_control.target_identity DEFAULT VALUES ON CONFLICT DO NOTHING RETURNING id)
     SELECT id::text AS id FROM made UNION ALL SELECT id::text FROM ferry_control.target_identity LIMIT 1`,
  );
  const id = r.rows[0]?.id;
  if (!id) throw new DatabaseError('CONTROL_NO_IDENTITY', 'ferry_control.target_identity has no row and none could be made', { hint: 'check that the role ferry connects as owns ferry_control' });
  return id;
}

/** Advisory lock keys: one for DDL, one per target table while a run writes it. */
const DDL_LOCK = 0x66657272; // "ferr"

/**
 * Creates (or moves from public, see MOVE_FROM_PUBLIC) and locks down the bookkeeping.
 * One simple-protocol query: all its statements commit together or not at all.
 */
export async function ensureControlTables(db: Queryable): Promise<void> {
  // Already in place: no DDL at all. ALTER TABLE … ENABLE ROW LEVEL SECURITY takes an ACCESS
  // EXCLUSIVE lock even when RLS is on, and CREATE INDEX IF NOT EXISTS a SHARE lock: run while
  // another process writes batches (a ferry worker starting a range next to one writing), it
  // queued behind that writer's lock on migration_control and deadlocked with its next one.
  if ((await db.query<{ ready: boolean }>(CONTROL_READY)).rows[0]?.ready === true) return;
  // CREATE ... IF NOT EXISTS still races with itself; the lock makes it idempotent for real.
  await db.query('SELECT pg_advisory_lock($1)', [DDL_LOCK]);
  try {
    await db.query(CONTROL_DDL);
  } catch (cause) {
    if ((cause as { code?: string }).code === 'FC001') {
      throw new DatabaseError('CONTROL_TABLES_DUPLICATED', 'the target has migration_control both in public (an older ferry) and in ferry_control; ferry will not choose between them', {
        cause,
        hint: 'compare the two, keep ferry_control.migration_control/migration_mappings, and rename or drop public.migration_control and public.migration_mappings',
      });
    }
    throw cause;
  } finally {
    await db.query('SELECT pg_advisory_unlock($1)', [DDL_LOCK]);
  }
}

export { planTables, tableKey } from '../core/plan/tables.js';

export type ControlStatus = 'running' | 'completed' | 'failed' | 'rolled_back';

export interface ControlRow {
  id: number;
  planId: string;
  planRevision: number;
  planHash: string;
  plan: unknown;
  sourceTable: string;
  targetTable: string;
  status: ControlStatus;
  rowsSource: number | null;
  rowsSkipped: number;
  rowsInserted: number;
  rowsRolledBack: number | null;
  batchesCommitted: number;
  errorCode: string | null;
  error: string | null;
  sandbox: unknown;
  startedAt: Date;
  heartbeatAt: Date;
  finishedAt: Date | null;
  rolledBackAt: Date | null;
}

interface RawControl extends Record<string, unknown> {
  id: string;
  plan_id: string;
  plan_revision: number;
  plan_hash: string;
  plan: unknown;
  source_table: string;
  target_table: string;
  status: ControlStatus;
  rows_source: number | null;
  rows_skipped: number;
  rows_inserted: number;
  rows_rolled_back: number | null;
  batches_committed: number;
  error_code: string | null;
  error: string | null;
  sandbox: unknown;
  started_at: Date;
  heartbeat_at: Date;
  finished_at: Date | null;
  rolled_back_at: Date | null;
}

function toControl(r: RawControl): ControlRow {
  return {
    id: Number(r.id),
    planId: r.plan_id,
    planRevision: r.plan_revision,
    planHash: r.plan_hash,
    plan: r.plan,
    sourceTable: r.source_table,
    targetTable: r.target_table,
    status: r.status,
    rowsSource: r.rows_source,
    rowsSkipped: r.rows_skipped,
    rowsInserted: r.rows_inserted,
    rowsRolledBack: r.rows_rolled_back,
    batchesCommitted: r.batches_committed,
    errorCode: r.error_code,
    error: r.error,
    sandbox: r.sandbox,
    startedAt: r.started_at,
    heartbeatAt: r.heartbeat_at,
    finishedAt: r.finished_at,
    rolledBackAt: r.rolled_back_at,
  };
}

export async function insertControl(db: Queryable, plan: MigrationPlan, planHash: string): Promise<number> {
  const { sourceTable, targetTable } = planTables(plan);
  const r = await db.query<{ id: string }>(
    `INSERT INTO ferry_control.migration_control (plan_id, plan_revision, plan_hash, plan, source_table, target_table, status)
     VALUES ($1, $2, $3, $4, $5, $6, 'running') RETURNING id`,
    [plan.id, plan.revision, planHash, JSON.stringify(plan), sourceTable, targetTable],
  );
  return Number(r.rows[0]!.id);
}

export async function getControl(db: Queryable, id: number): Promise<ControlRow | null> {
  // An older installation's tables in public are moved on first contact (validate, rollback).
  await ensureControlTables(db);
  const r = await db.query<RawControl>('SELECT * FROM ferry_control.migration_control WHERE id = $1', [id]);
  return r.rows[0] ? toControl(r.rows[0]) : null;
}

export async function listControls(db: Queryable, limit = 50): Promise<ControlRow[]> {
  // An older installation's tables are moved on first contact, not only by the next run.
  await ensureControlTables(db);
  const r = await db.query<RawControl>('SELECT * FROM ferry_control.migration_control ORDER BY id DESC LIMIT $1', [limit]);
  return r.rows.map(toControl);
}

export async function finishControl(
  db: Queryable,
  id: number,
  update: { status: 'completed' | 'failed'; rowsSource?: number; rowsSkipped?: number; errorCode?: string | null; error?: string | null; sandbox?: unknown },
): Promise<void> {
  await db.query(
    `UPDATE ferry_control.migration_control
        SET status = $2, rows_source = COALESCE($3, rows_source), rows_skipped = COALESCE($4, rows_skipped),
            error_code = $5, error = $6, sandbox = COALESCE($7, sandbox), finished_at = now(), heartbeat_at = now()
      WHERE id = $1`,
    [
      id,
      update.status,
      update.rowsSource ?? null,
      update.rowsSkipped ?? null,
      update.errorCode ?? null,
      update.error ?? null,
      update.sandbox === undefined ? null : JSON.stringify(update.sandbox),
    ],
  );
}

/** Legacy ids of this source/target pair that already have a live mapping (any run). */
export async function mappedLegacyIds(db: Queryable, sourceTable: string, targetTable: string, legacyIds: string[]): Promise<Set<string>> {
  if (legacyIds.length === 0) return new Set();
  const r = await db.query<{ legacy_id: string }>(
    'SELECT legacy_id FROM ferry_control.migration_mappings WHERE source_table = $1 AND target_table = $2 AND legacy_id = ANY($3::text[])',
    [sourceTable, targetTable, legacyIds],
  );
  return new Set(r.rows.map((x) => x.legacy_id));
}

/** A run still `running` with no heartbeat (a committed batch) for this long is shown as stale. */
export const STALE_AFTER_MS = 60_000;

/**
 * "running" said carefully: a run whose process died stays `running` until the next run of its
 * table takes the lock and marks it RUN_ABANDONED; until then its heartbeat tells.
 */
export function describeStatus(r: Pick<ControlRow, 'status' | 'heartbeatAt'>, now = Date.now()): string {
  if (r.status !== 'running') return r.status;
  const quiet = now - new Date(r.heartbeatAt).getTime();
  return quiet > STALE_AFTER_MS ? `running? no heartbeat for ${Math.round(quiet / 1000)} s (stale: the next ferry run of this table marks it abandoned and resumes after it)` : 'running';
}
