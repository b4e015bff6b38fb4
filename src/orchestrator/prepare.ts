/**
 * The stages before the first batch: the input checked, the table's advisory lock taken (and
 * released), dead runs marked, the source snapshot opened and its legacy key checked.
 */
import type pg from 'pg';
import type { MigrationPlan } from '../core/artifacts/migration-plan.js';
import { findTable, isBlankPadded, type TableInfo } from '../core/artifacts/schema-analysis.js';
import { FerryError, PlanError } from '../core/errors.js';
import { qualified, quoteIdent, type SqlFragment } from '../core/sql.js';
import { filterSessionSql, planWhere } from '../core/plan/filter-sql.js';
import type { RunInput } from './run-types.js';

/** What the checked input settles before anything is touched. */
export interface RunShape {
  dryRun: boolean;
  parallel: number;
  targetTable: TableInfo;
}

export function checkRunInput(input: RunInput): RunShape {
  const { plan, analysis } = input;
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
  if (input.partition && (parallel > 1 || input.onlyKeys)) throw new PlanError('PARTITION_ALONE', 'a key-range partition runs alone: no parallel, no replayed keys');
  return { dryRun, parallel, targetTable };
}

/** One writer per target table at a time, across processes: a session-level advisory lock. */
export async function lockTable(target: pg.Client, targetKey: string): Promise<void> {
  const lock = await target.query<{ ok: boolean }>(`SELECT pg_try_advisory_lock(hashtext($1)) AS ok`, [`ferry:${targetKey}`]);
  if (!lock.rows[0]?.ok) {
    throw new FerryError('MIGRATION_ALREADY_RUNNING', 'user', `another ferry run is writing ${targetKey} right now`, {
      hint: 'wait for it to finish (ferry runs list), then run again: rows it migrated are skipped',
    });
  }
}

/**
 * A partition of a queued run: the table's lock shared (the run's other ranges hold it too, a
 * whole-table run cannot take it), the range's exclusively. Released by unlockPartition.
 */
export async function lockPartition(target: pg.Client, targetKey: string, label: string): Promise<void> {
  const r = await target.query<{ table: boolean }>(`SELECT pg_try_advisory_lock_shared(hashtext($1)) AS table`, [`ferry:${targetKey}`]);
  if (!r.rows[0]?.table) {
    throw new FerryError('MIGRATION_ALREADY_RUNNING', 'user', `a ferry run of the whole table is writing ${targetKey} right now; partition ${label} waits for it`, {
      hint: 'the queue retries the partition later; or wait for that run (ferry runs list)',
    });
  }
  const part = await target.query<{ ok: boolean }>(`SELECT pg_try_advisory_lock(hashtext($1)) AS ok`, [`ferry:${targetKey}:partition:${label}`]);
  if (part.rows[0]?.ok) return;
  await target.query(`SELECT pg_advisory_unlock_shared(hashtext($1))`, [`ferry:${targetKey}`]);
  throw new FerryError('PARTITION_ALREADY_RUNNING', 'user', `partition ${label} of ${targetKey} is being written by another worker right now`, {
    hint: 'an attempt thought dead still runs; the queue retries this one after it',
  });
}

/** Releases both locks of lockPartition; returns what went wrong, or null (as unlockTable). */
export async function unlockPartition(target: pg.Client, targetKey: string, label: string): Promise<string | null> {
  try {
    const r = await target.query<{ part: boolean; table: boolean }>(
      `SELECT pg_advisory_unlock(hashtext($1)) AS part, pg_advisory_unlock_shared(hashtext($2)) AS table`,
      [`ferry:${targetKey}:partition:${label}`, `ferry:${targetKey}`],
    );
    if (r.rows[0]?.part && r.rows[0].table) return null;
    return `the advisory locks of partition ${label} of ${targetKey} were not held by this connection when it ended`;
  } catch (e) {
    return `the advisory locks of partition ${label} of ${targetKey} could not be released (${(e as Error).message}); PostgreSQL releases them when the connection closes`;
  }
}

/**
 * Releases the table's lock; returns what went wrong, or null. A lock that stays held on a
 * connection that stays open (the service's) keeps every later run of the table out, so a
 * failure is reported, not dropped. On a closed connection PostgreSQL has released it already.
 */
export async function unlockTable(target: pg.Client, targetKey: string): Promise<string | null> {
  try {
    const r = await target.query<{ ok: boolean }>(`SELECT pg_advisory_unlock(hashtext($1)) AS ok`, [`ferry:${targetKey}`]);
    if (r.rows[0]?.ok) return null;
    return `the advisory lock on ${targetKey} was not held by this connection when the run ended; another run of the table may have started alongside — check ferry runs list`;
  } catch (e) {
    return `the advisory lock on ${targetKey} could not be released (${(e as Error).message}); PostgreSQL releases it when the target connection closes — if that connection stays open, close it before the next run of ${targetKey}`;
  }
}

/** The plan's SELECT, in pieces: every worker reads the same rows in key order. */
export interface SourceQuery {
  where: SqlFragment;
  /** The qualified source table. */
  table: string;
  /** `table WHERE …`: what a count or a cursor reads. */
  from: string;
  /** The quoted legacy key column. */
  key: string;
  /** The quoted plan columns, comma-separated. */
  cols: string;
  /** The expression one source column is read by (see sourceColumn): a self-reference's second pass reads its column the same way. */
  column: (name: string) => string;
}

export function sourceQuery(plan: MigrationPlan, sourceTable?: TableInfo): SourceQuery {
  // No alias in FROM: the predicate's columns are qualified by the table's own name.
  const where = planWhere(plan);
  const table = qualified(plan.source.schema, plan.source.table);
  const column = (name: string) => sourceColumn(name, sourceTable);
  const cols = plan.source.columns.map((c) => (column(c) === quoteIdent(c) ? quoteIdent(c) : `${column(c)} AS ${quoteIdent(c)}`)).join(', ');
  return { where, table, from: `${table} ${where.sql}`, key: quoteIdent(plan.source.key), cols, column };
}

/**
 * The expression a source column is read by:
 * - An array column as its PostgreSQL text ('{1.10,NULL}'), which the program receives and
 *   COPY writes back unchanged: pg's parse of it would make JS values of jsonb[] elements
 *   (1.10 → 1.1) and Dates of timestamp[] (zone drift), and no parse is needed to copy it.
 * - A blank-padded character(n) column as text, which drops the padding: what PostgreSQL's own
 *   cast to text or varchar does, what validation derives, and what a char(n) key's mapping
 *   and its children's references must agree on ('GB' in all three, not 'GB   ' in one).
 */
export function sourceColumn(name: string, sourceTable: TableInfo | undefined): string {
  const info = sourceTable?.columns.find((c) => c.name === name);
  return info && (info.category === 'array' || isBlankPadded(info)) ? `${quoteIdent(name)}::text` : quoteIdent(name);
}

/** Opens the run's one consistent, read-only snapshot of the source; returns its row count after checking the key. */
export async function openSnapshot(source: pg.Client, plan: MigrationPlan, q: SourceQuery): Promise<number> {
  await source.query('BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY');
  const settings = filterSessionSql(plan.source.filters);
  if (settings) await source.query(settings);
  const count = await source.query<{ n: string }>(`SELECT count(*) AS n FROM ${q.from}`, q.where.params);
  await assertKeyUsable(source, plan, q.from, q.where.params);
  return Number(count.rows[0]?.n ?? 0);
}

/** Marks the dead `running` runs of a table failed; returns their ids. Call with the table's lock held. */
export async function abandonDeadRuns(db: pg.Client, targetKey: string): Promise<number[]> {
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

/** Marks failed (RUN_ABANDONED) those of `ids` still `running`: a partition's earlier attempts, dead. Call with the range's lock held. */
export async function abandonRunsById(db: pg.Client, ids: readonly number[]): Promise<number[]> {
  if (ids.length === 0) return [];
  const r = await db.query<{ id: string }>(
    `UPDATE ferry_control.migration_control
        SET status = 'failed', error_code = 'RUN_ABANDONED', finished_at = now(),
            error = 'its worker stopped without finishing (last heartbeat ' || to_char(heartbeat_at AT TIME ZONE 'UTC', 'YYYY-MM-DD HH24:MI:SS') || ' UTC, '
                    || batches_committed || ' batch(es) committed); the queue retried the partition after its committed batches'
      WHERE id = ANY($1::bigint[]) AND status = 'running'
      RETURNING id`,
    [ids],
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

/** Mappings of the table whose legacy key falls in `where` (a condition on `legacy_key`, the key cast back to its type). */
export async function countMappedWhere(db: pg.Client, sourceTable: string, targetTable: string, keyType: string, where: SqlFragment): Promise<number> {
  const cond = where.sql.replace(/^WHERE /, '');
  const r = await db.query<{ n: string }>(
    `SELECT count(*) AS n FROM (SELECT legacy_id::${keyType} AS legacy_key FROM ferry_control.migration_mappings WHERE source_table = $${where.params.length + 1} AND target_table = $${where.params.length + 2}) m${cond ? ` WHERE ${cond}` : ''}`,
    [...where.params, sourceTable, targetTable],
  );
  return Number(r.rows[0]?.n ?? 0);
}

export async function countMapped(db: pg.Client, sourceTable: string, targetTable: string): Promise<number> {
  const r = await db.query<{ n: string }>('SELECT count(*) AS n FROM ferry_control.migration_mappings WHERE source_table = $1 AND target_table = $2', [sourceTable, targetTable]);
  return Number(r.rows[0]?.n ?? 0);
}
