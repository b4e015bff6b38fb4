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

/**
 * migration_mappings as an earlier ferry made it (a bigserial id as primary key, the legacy key
 * UNIQUE, an FK to migration_control, a btree on (target_table, new_id), the database's
 * collation) brought to today's shape in place, rows kept. Per row the old shape cost a
 * sequence call, an FK check (a query per row), and four btree inserts compared under the
 * database's collation, the random new_id one the dearest. Today: the legacy key is the primary
 * key, key columns compare bytewise (COLLATE "C": the key ranges of validation and resume use
 * it already), new_id has a hash index (every lookup by new_id is an equality), and "no mapping
 * without its control row" is kept by MAPPINGS_GUARDS, once per statement. Each step looks at
 * the catalog first, so the block is idempotent.
 */
const MAPPINGS_SHAPE = `
DO $shape$
DECLARE con record;
BEGIN
  FOR con IN SELECT conname FROM pg_constraint WHERE conrelid = 'ferry_control.migration_mappings'::regclass AND contype = 'f' LOOP
    EXECUTE format('ALTER TABLE ferry_control.migration_mappings DROP CONSTRAINT %I', con.conname);
  END LOOP;
  -- Dropped before the collation changes, so neither is rebuilt only to go.
  DROP INDEX IF EXISTS ferry_control.migration_mappings_new_idx;
  ALTER TABLE ferry_control.migration_mappings DROP COLUMN IF EXISTS id;
  IF NOT EXISTS (SELECT 1 FROM pg_constraint WHERE conrelid = 'ferry_control.migration_mappings'::regclass AND contype = 'p') THEN
    ALTER TABLE ferry_control.migration_mappings DROP CONSTRAINT IF EXISTS migration_mappings_source_table_target_table_legacy_id_key;
  END IF;
  IF EXISTS (SELECT 1 FROM pg_attribute WHERE attrelid = 'ferry_control.migration_mappings'::regclass
              AND attname IN ('source_table', 'legacy_id', 'target_table', 'new_id') AND attcollation <> (SELECT oid FROM pg_collation WHERE collname = 'C' AND collnamespace = 'pg_catalog'::regnamespace)) THEN
    ALTER TABLE ferry_control.migration_mappings
      ALTER COLUMN source_table TYPE text COLLATE "C", ALTER COLUMN legacy_id TYPE text COLLATE "C",
      ALTER COLUMN target_table TYPE text COLLATE "C", ALTER COLUMN new_id TYPE text COLLATE "C";
  END IF;
  IF NOT EXISTS (SELECT 1 FROM pg_constraint WHERE conrelid = 'ferry_control.migration_mappings'::regclass AND contype = 'p') THEN
    ALTER TABLE ferry_control.migration_mappings ADD CONSTRAINT migration_mappings_pkey PRIMARY KEY (source_table, target_table, legacy_id);
  END IF;
END
$shape$;`;

/**
 * "No mapping without its control row", as the FK kept it, without its per-row trigger:
 * - a mapping insert or update is checked once per statement, over its transition table: every
 *   migration_id it wrote must name a control row. The check updates those control rows (a
 *   no-op SET), so a concurrent DELETE of one waits for this transaction and then sees its
 *   mappings, or, at REPEATABLE READ, fails to serialize: the FK's own lock and cross-check;
 * - a control row with mappings cannot be deleted or have its id changed (checked through
 *   migration_mappings_run_idx), and migration_control cannot be truncated without them.
 * Errors carry SQLSTATE 23503 (foreign_key_violation), as the FK's did.
 */
const MAPPINGS_GUARDS = `
CREATE OR REPLACE FUNCTION ferry_control.mappings_need_control() RETURNS trigger LANGUAGE plpgsql AS $fn$
DECLARE wanted bigint[]; held bigint; missing bigint;
BEGIN
  SELECT array_agg(DISTINCT migration_id) INTO wanted FROM ferry_new_mappings;
  IF wanted IS NULL THEN RETURN NULL; END IF;
  UPDATE ferry_control.migration_control SET id = id WHERE id = ANY (wanted);
  GET DIAGNOSTICS held = ROW_COUNT;
  IF held < cardinality(wanted) THEN
    SELECT w INTO missing FROM unnest(wanted) w WHERE NOT EXISTS (SELECT 1 FROM ferry_control.migration_control c WHERE c.id = w) LIMIT 1;
    RAISE EXCEPTION 'ferry: a mapping names migration % , which has no row in ferry_control.migration_control', missing
      USING ERRCODE = 'foreign_key_violation', HINT = 'mappings are written by ferry run, with their control row, in one transaction';
  END IF;
  RETURN NULL;
END
$fn$;
CREATE OR REPLACE FUNCTION ferry_control.control_keeps_mappings() RETURNS trigger LANGUAGE plpgsql AS $fn$
BEGIN
  IF TG_OP = 'TRUNCATE' THEN
    IF EXISTS (SELECT 1 FROM ferry_control.migration_mappings) THEN
      RAISE EXCEPTION 'ferry: migration_control cannot be truncated while migration_mappings has rows'
        USING ERRCODE = 'foreign_key_violation', HINT = 'truncate both in one statement, or roll the migrations back first';
    END IF;
    RETURN NULL;
  END IF;
  IF EXISTS (SELECT 1 FROM ferry_control.migration_mappings WHERE migration_id = OLD.id) THEN
    RAISE EXCEPTION 'ferry: migration % still has mappings; its control row stays', OLD.id
      USING ERRCODE = 'foreign_key_violation', HINT = 'roll the migration back (ferry rollback) first: that deletes its rows and mappings';
  END IF;
  RETURN CASE TG_OP WHEN 'DELETE' THEN OLD ELSE NEW END;
END
$fn$;
REVOKE ALL ON FUNCTION ferry_control.mappings_need_control(), ferry_control.control_keeps_mappings() FROM PUBLIC;
DO $guards$
BEGIN
  IF NOT EXISTS (SELECT 1 FROM pg_trigger WHERE tgrelid = 'ferry_control.migration_mappings'::regclass AND tgname = 'mappings_need_control_insert') THEN
    CREATE TRIGGER mappings_need_control_insert AFTER INSERT ON ferry_control.migration_mappings
      REFERENCING NEW TABLE AS ferry_new_mappings FOR EACH STATEMENT EXECUTE FUNCTION ferry_control.mappings_need_control();
  END IF;
  IF NOT EXISTS (SELECT 1 FROM pg_trigger WHERE tgrelid = 'ferry_control.migration_mappings'::regclass AND tgname = 'mappings_need_control_update') THEN
    CREATE TRIGGER mappings_need_control_update AFTER UPDATE ON ferry_control.migration_mappings
      REFERENCING NEW TABLE AS ferry_new_mappings FOR EACH STATEMENT EXECUTE FUNCTION ferry_control.mappings_need_control();
  END IF;
  IF NOT EXISTS (SELECT 1 FROM pg_trigger WHERE tgrelid = 'ferry_control.migration_control'::regclass AND tgname = 'control_keeps_mappings_delete') THEN
    CREATE TRIGGER control_keeps_mappings_delete BEFORE DELETE ON ferry_control.migration_control
      FOR EACH ROW EXECUTE FUNCTION ferry_control.control_keeps_mappings();
  END IF;
  IF NOT EXISTS (SELECT 1 FROM pg_trigger WHERE tgrelid = 'ferry_control.migration_control'::regclass AND tgname = 'control_keeps_mappings_rekey') THEN
    CREATE TRIGGER control_keeps_mappings_rekey BEFORE UPDATE OF id ON ferry_control.migration_control
      FOR EACH ROW WHEN (OLD.id IS DISTINCT FROM NEW.id) EXECUTE FUNCTION ferry_control.control_keeps_mappings();
  END IF;
  IF NOT EXISTS (SELECT 1 FROM pg_trigger WHERE tgrelid = 'ferry_control.migration_control'::regclass AND tgname = 'control_keeps_mappings_truncate') THEN
    CREATE TRIGGER control_keeps_mappings_truncate AFTER TRUNCATE ON ferry_control.migration_control
      FOR EACH STATEMENT EXECUTE FUNCTION ferry_control.control_keeps_mappings();
  END IF;
END
$guards$;`;

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
  migration_id bigint NOT NULL,
  batch_id integer NOT NULL,
  source_table text COLLATE "C" NOT NULL,
  legacy_id text COLLATE "C" NOT NULL,
  target_table text COLLATE "C" NOT NULL,
  new_id text COLLATE "C" NOT NULL,
  created_at timestamptz NOT NULL DEFAULT now(),
  CONSTRAINT migration_mappings_pkey PRIMARY KEY (source_table, target_table, legacy_id)
);
${MAPPINGS_SHAPE}
CREATE INDEX IF NOT EXISTS migration_mappings_run_idx ON ferry_control.migration_mappings (migration_id, batch_id);
CREATE INDEX IF NOT EXISTS migration_mappings_new_id_idx ON ferry_control.migration_mappings USING hash (new_id);
${MAPPINGS_GUARDS}
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
   AND to_regclass('ferry_control.migration_mappings_new_id_idx') IS NOT NULL
   AND to_regclass('ferry_control.migration_mappings_new_idx') IS NULL
   AND (SELECT count(*) FROM pg_trigger WHERE tgname IN ('mappings_need_control_insert', 'mappings_need_control_update', 'control_keeps_mappings_delete',
          'control_keeps_mappings_rekey', 'control_keeps_mappings_truncate')
          AND tgrelid IN (to_regclass('ferry_control.migration_mappings'), to_regclass('ferry_control.migration_control'))) = 5
   AND NOT EXISTS (SELECT 1 FROM pg_attribute WHERE attrelid = to_regclass('ferry_control.migration_mappings') AND attname = 'id' AND NOT attisdropped)
   AND NOT EXISTS (SELECT 1 FROM pg_constraint WHERE conrelid = to_regclass('ferry_control.migration_mappings') AND contype = 'f')
   AND NOT EXISTS (SELECT 1 FROM pg_attribute WHERE attrelid = to_regclass('ferry_control.migration_mappings')
          AND attname IN ('source_table', 'legacy_id', 'target_table', 'new_id') AND attcollation <> (SELECT oid FROM pg_collation WHERE collname = 'C' AND collnamespace = 'pg_catalog'::regnamespace))
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
    // Checked again under the lock: processes starting together all found nothing, and the one
    // that held the lock made it all. Their DDL would lock tables the first one now writes.
    if ((await db.query<{ ready: boolean }>(CONTROL_READY)).rows[0]?.ready === true) return;
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
