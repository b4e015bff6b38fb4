import { MigrationPlan } from '../core/artifacts/migration-plan.js';
import { contentHash } from '../core/artifacts/hash.js';
import { getControl, planTables, targetIdentity, type ControlRow } from '../control/control-tables.js';
import type { RunStore } from '../store/run-store.js';
import { qualified, quoteIdent, type Queryable } from '../core/sql.js';
import { FerryError, NotFoundError } from '../core/errors.js';
import { createLogger } from '../logger.js';
import { beginWrite } from '../target/timeouts.js';

export interface RollbackResult {
  migrationId: number;
  status: 'rolled_back' | 'already_rolled_back';
  rowsDeleted: number;
  mappingsDeleted: number;
  /** With cascade: the dependant runs rolled back first, in the order they were. */
  cascaded?: RollbackResult[];
}

/**
 * Deletes exactly the rows a run inserted (found through its mappings), then the mappings,
 * and marks the run rolled back — one transaction. Rows the run did not insert are never
 * touched. `batch` limits it to one batch of the run.
 */
export interface RollbackInput {
  migrationId: number;
  target: Queryable;
  batch?: number;
  /** Roll back the runs whose rows reference this run's rows first (latest first), then this one. */
  cascade?: boolean;
  /** Runs being rolled back further up a cascade: a reference back to one of them is a cycle. */
  chain?: ReadonlySet<number>;
  /**
   * The run store (the CLI and the service always pass it): what to delete comes from the
   * plan it recorded for the run, never from migration_control alone (CONTROL_TAMPERED).
   */
  store?: Pick<RunStore, 'migrationRecord'>;
  /**
   * A run the store has no record of (made before the run store kept runs, or recorded in
   * another FERRY_STATE_URL) is refused (CONTROL_UNRECORDED) unless the person says to trust
   * its migration_control row (ferry rollback --trust-control).
   */
  trustControl?: boolean;
}

export async function rollbackMigration(input: RollbackInput): Promise<RollbackResult> {
  const { target, migrationId } = input;
  const control = await getControl(target, migrationId);
  if (!control) throw new NotFoundError('MIGRATION_NOT_FOUND', `there is no migration ${migrationId}`, { hint: 'list runs with: ferry runs' });
  if (control.status === 'rolled_back') return { migrationId, status: 'already_rolled_back', rowsDeleted: 0, mappingsDeleted: 0 };
  const plan = await trustedPlan(control, input.store, input.trustControl === true, input.store ? await targetIdentity(target) : undefined);
  const cascaded = await rollBackDependants(input, plan);
  const lockKey = `ferry:${plan.target.schema}.${plan.target.table}`;
  const lock = await target.query<{ ok: boolean }>('SELECT pg_try_advisory_lock(hashtext($1)) AS ok', [lockKey]);
  if (!lock.rows[0]?.ok) {
    throw new FerryError('MIGRATION_ALREADY_RUNNING', 'user', `a ferry run is writing ${plan.target.table} right now`, { hint: 'roll back after it ends' });
  }
  try {
    const pk = plan.target.primaryKey;
    const pkType = await columnType(target, plan.target.schema, plan.target.table, pk);
    if (!pkType) throw new NotFoundError('COLUMN_NOT_FOUND', `${plan.target.table}.${pk} no longer exists; nothing was rolled back`);
    const deleted = await deleteRunRows(target, plan, migrationId, input.batch, pkType);
    return { migrationId, status: 'rolled_back', ...deleted, ...(cascaded.length ? { cascaded } : {}) };
  } finally {
    const unlocked = await target.query('SELECT pg_advisory_unlock(hashtext($1))', [lockKey]).then(
      () => null,
      (e: unknown) => e,
    );
    // Not dropped: a lock left on an open connection keeps every run of the table out.
    if (unlocked) createLogger().warn({ code: 'LOCK_RELEASE_FAILED', err: unlocked, migrationId, lockKey }, `the advisory lock ${lockKey} could not be released after the rollback; PostgreSQL releases it when the connection closes`);
  }
}

/** With cascade, rolls back (latest first) the runs whose rows point at this run's; refuses otherwise. */
async function rollBackDependants(input: Parameters<typeof rollbackMigration>[0], plan: MigrationPlan): Promise<RollbackResult[]> {
  const { target, migrationId } = input;
  const cascaded: RollbackResult[] = [];
  const deps = await findDependants(target, plan, migrationId, input.batch);
  if (deps.untracked.length > 0) {
    throw new FerryError(
      'ROLLBACK_REFERENCED',
      'user',
      `migration ${migrationId}'s rows are referenced by rows no ferry run wrote: ${deps.untracked.map((u) => `${u.rows} row(s) of ${u.table}.${u.column}`).join(', ')}; nothing was rolled back`,
      { hint: 'change or delete those rows first; ferry only removes rows it wrote', details: { untracked: deps.untracked } },
    );
  }
  if (deps.migrations.length > 0) {
    if (!input.cascade) {
      throw new FerryError(
        'ROLLBACK_HAS_DEPENDANTS',
        'user',
        `migration ${migrationId} (${plan.target.table}) has rows that later migrations point at: ${deps.migrations.map((d) => `migration ${d.id} (${d.table}.${d.column}, ${d.rows} row(s))`).join(', ')}; nothing was rolled back`,
        {
          hint: `roll those back first (ferry rollback ${[...new Set(deps.migrations.map((d) => d.id))].sort((a, b) => b - a).join(', then ferry rollback ')}), or run ferry rollback ${migrationId} --cascade`,
          details: { dependants: deps.migrations },
        },
      );
    }
    const chain = new Set([...(input.chain ?? []), migrationId]);
    // Latest run first: the reverse of the order they ran in.
    for (const id of [...new Set(deps.migrations.map((d) => d.id))].sort((a, b) => b - a)) {
      if (chain.has(id)) {
        throw new FerryError('ROLLBACK_CYCLE', 'user', `migrations ${[...chain].join(', ')} and ${id} reference each other's rows; they cannot be rolled back one after the other`, {
          hint: 'set the references between them to NULL first',
        });
      }
      const r = await rollbackMigration({ migrationId: id, target, cascade: true, chain, ...(input.store ? { store: input.store } : {}) });
      cascaded.push(...(r.cascaded ?? []), { ...r, cascaded: [] });
    }
  }
  return cascaded;
}

/** The run's rows (through its mappings), then the mappings, then its control row: one transaction. */
async function deleteRunRows(target: Queryable, plan: MigrationPlan, migrationId: number, batch: number | undefined, pkType: string): Promise<{ rowsDeleted: number; mappingsDeleted: number }> {
  const batchCond = batch === undefined ? '' : ' AND batch_id = $2';
  const params: unknown[] = batch === undefined ? [migrationId] : [migrationId, batch];
  try {
    await beginWrite(target);
    const del = await target.query(
      `DELETE FROM ${qualified(plan.target.schema, plan.target.table)} t USING ferry_control.migration_mappings m
        WHERE m.migration_id = $1${batchCond.replace('batch_id', 'm.batch_id')} AND m.target_table = $${params.length + 1} AND t.${quoteIdent(plan.target.primaryKey)} = m.new_id::${pkType}`,
      [...params, planTables(plan).targetTable],
    );
    const maps = await target.query(`DELETE FROM ferry_control.migration_mappings WHERE migration_id = $1${batchCond}`, params);
    const remaining = await target.query<{ n: string }>('SELECT count(*) AS n FROM ferry_control.migration_mappings WHERE migration_id = $1', [migrationId]);
    const allGone = Number(remaining.rows[0]?.n ?? 0) === 0;
    await target.query(
      `UPDATE ferry_control.migration_control
          SET rows_rolled_back = COALESCE(rows_rolled_back, 0) + $2,
              status = CASE WHEN $3 THEN 'rolled_back' ELSE status END,
              rolled_back_at = CASE WHEN $3 THEN now() ELSE rolled_back_at END
        WHERE id = $1`,
      [migrationId, del.rowCount ?? 0, allGone],
    );
    await target.query('COMMIT');
    return { rowsDeleted: del.rowCount ?? 0, mappingsDeleted: maps.rowCount ?? 0 };
  } catch (e) {
    await target.query('ROLLBACK').catch(() => undefined);
    throw new FerryError('ROLLBACK_FAILED', 'third_party', `rollback of migration ${migrationId} failed and changed nothing: ${(e as Error).message}`, {
      cause: e,
      hint: 'if another table references these rows, roll back or fix that first',
    });
  }
}


/**
 * The plan whose rows a rollback may delete: the one the run store recorded for the run.
 * migration_control sits in the target, where another role may have written it; when it
 * disagrees with the store (plan, plan hash, source or target table), nothing is deleted
 * and the difference is named. A run the store has no record of is refused unless the
 * person trusts its control row; without a store (a library caller that keeps none) the
 * control row is all there is.
 */
export async function trustedPlan(control: ControlRow, store: Pick<RunStore, 'migrationRecord'> | undefined, trustControl = false, targetId?: string): Promise<MigrationPlan> {
  const claimed = MigrationPlan.parse(control.plan);
  const recorded = store ? await store.migrationRecord(control.id, targetId) : null;
  if (!recorded) {
    if (store && !trustControl) {
      throw new FerryError(
        'CONTROL_UNRECORDED',
        'user',
        `the run store has no record of migration ${control.id} (${control.targetTable}); its only description is its row in ferry_control.migration_control, which the run store cannot vouch for; nothing was rolled back`,
        {
          hint: `if this run was made before ferry recorded runs, or with another FERRY_STATE_URL, point FERRY_STATE_URL at that store, or read the row (${control.targetTable}) and, if it is right, run ferry rollback ${control.id} --trust-control`,
          details: { migrationId: control.id, targetTable: control.targetTable },
        },
      );
    }
    return claimed;
  }
  const expected = planTables(recorded.plan);
  const differences: string[] = [];
  if (control.targetTable !== expected.targetTable) differences.push(`target_table: migration_control says ${control.targetTable}, the run store ${expected.targetTable}`);
  if (control.sourceTable !== expected.sourceTable) differences.push(`source_table: migration_control says ${control.sourceTable}, the run store ${expected.sourceTable}`);
  const claimedTables = planTables(claimed);
  if (claimedTables.targetTable !== expected.targetTable) differences.push(`plan.target: migration_control says ${claimedTables.targetTable}, the run store ${expected.targetTable}`);
  if (claimedTables.sourceTable !== expected.sourceTable) differences.push(`plan.source: migration_control says ${claimedTables.sourceTable}, the run store ${expected.sourceTable}`);
  if (claimed.target.primaryKey !== recorded.plan.target.primaryKey) differences.push(`plan.target.primaryKey: migration_control says ${claimed.target.primaryKey}, the run store ${recorded.plan.target.primaryKey}`);
  if (control.planHash !== recorded.planHash) differences.push(`plan_hash: migration_control says ${control.planHash}, the run store ${recorded.planHash}`);
  else if (contentHash(control.plan) !== recorded.planHash) differences.push(`plan: its content hash is ${contentHash(control.plan)}, the run store recorded ${recorded.planHash}`);
  if (differences.length > 0) {
    throw new FerryError('CONTROL_TAMPERED', 'user', `migration ${control.id}'s row in ferry_control.migration_control disagrees with the run store (run ${recorded.runId}): ${differences.join('; ')}; nothing was rolled back`, {
      hint: 'someone changed ferry_control.migration_control; restore it from the run store (ferry runs show <run>) and find out who could write it',
      details: { migrationId: control.id, runId: recorded.runId, differences },
    });
  }
  return recorded.plan;
}

/** The column's type as format_type prints it, straight from the catalog. */
export async function columnType(db: Queryable, schema: string, table: string, column: string): Promise<string | null> {
  const r = await db.query<{ t: string }>(
    `SELECT format_type(a.atttypid, a.atttypmod) AS t FROM pg_attribute a
      WHERE a.attrelid = to_regclass($1) AND a.attname = $2 AND NOT a.attisdropped`,
    [qualified(schema, table), column],
  );
  return r.rows[0]?.t ?? null;
}

export interface Dependants {
  /** Live runs whose rows point at the rows being rolled back, per referencing column. */
  migrations: Array<{ id: number; table: string; column: string; rows: number }>;
  /** Referencing rows no run's mappings account for (written by hand or by the application). */
  untracked: Array<{ table: string; column: string; rows: number }>;
}

/**
 * Who points at the rows this run (or one batch of it) inserted, through the target's
 * declared FKs: each referencing row is attributed to the run whose mapping names it.
 * Rows that go in the same rollback (a self-reference inside the run) do not count.
 */
export async function findDependants(db: Queryable, plan: MigrationPlan, migrationId: number, batch?: number): Promise<Dependants> {
  const parentKey = `${plan.target.schema}.${plan.target.table}`;
  const pk = plan.target.primaryKey;
  const pkType = await columnType(db, plan.target.schema, plan.target.table, pk);
  if (!pkType) return { migrations: [], untracked: [] };
  const fks = await db.query<{ child_schema: string; child_table: string; child_column: string; parent_column: string; child_pk: string | null }>(
    `SELECT n.nspname AS child_schema, cl.relname AS child_table, a.attname AS child_column, pa.attname AS parent_column,
            (SELECT ka.attname FROM pg_index i JOIN pg_attribute ka ON ka.attrelid = i.indrelid AND ka.attnum = i.indkey[0]
              WHERE i.indrelid = c.conrelid AND i.indisprimary AND i.indnatts = 1) AS child_pk
       FROM pg_constraint c
       JOIN pg_class cl ON cl.oid = c.conrelid JOIN pg_namespace n ON n.oid = cl.relnamespace
       JOIN pg_attribute a ON a.attrelid = c.conrelid AND a.attnum = c.conkey[1]
       JOIN pg_attribute pa ON pa.attrelid = c.confrelid AND pa.attnum = c.confkey[1]
      WHERE c.contype = 'f' AND c.confrelid = to_regclass($1) AND cardinality(c.conkey) = 1
      ORDER BY 1, 2, 3`,
    [qualified(plan.target.schema, plan.target.table)],
  );
  const out: Dependants = { migrations: [], untracked: [] };
  for (const fk of fks.rows) {
    const childKey = `${fk.child_schema}.${fk.child_table}`;
    const child = qualified(fk.child_schema, fk.child_table);
    const batchCond = batch === undefined ? '' : ' AND pm.batch_id = $4';
    const sameBatch = batch === undefined ? '' : ' AND cm.batch_id = $4';
    const params: unknown[] = [migrationId, childKey, parentKey, ...(batch === undefined ? [] : [batch])];
    const attributed = fk.child_pk
      ? `LEFT JOIN ferry_control.migration_mappings cm ON cm.target_table = $2 AND cm.new_id = c.${quoteIdent(fk.child_pk)}::text`
      : 'LEFT JOIN (SELECT NULL::bigint AS migration_id, NULL::integer AS batch_id) cm ON true';
    const r = await db.query<{ migration_id: string | null; n: string }>(
      `SELECT cm.migration_id, count(*) AS n
         FROM ${child} c
         JOIN ${qualified(plan.target.schema, plan.target.table)} p ON p.${quoteIdent(fk.parent_column)} = c.${quoteIdent(fk.child_column)}
         JOIN ferry_control.migration_mappings pm ON pm.migration_id = $1${batchCond} AND p.${quoteIdent(pk)} = pm.new_id::${pkType}
         ${attributed}
        WHERE NOT COALESCE(cm.migration_id = $1${sameBatch} AND $2::text = $3::text, false)
        GROUP BY 1`,
      params,
    );
    for (const row of r.rows) {
      if (row.migration_id === null) out.untracked.push({ table: childKey, column: fk.child_column, rows: Number(row.n) });
      else out.migrations.push({ id: Number(row.migration_id), table: childKey, column: fk.child_column, rows: Number(row.n) });
    }
  }
  return out;
}
