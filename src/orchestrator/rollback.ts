import type pg from 'pg';
import { MigrationPlan } from '../artifacts/migration-plan.js';
import { getControl } from '../control/control-tables.js';
import { qualified, quoteIdent } from '../db/sql.js';
import { FerryError, NotFoundError } from '../errors.js';

export interface RollbackResult {
  migrationId: number;
  status: 'rolled_back' | 'already_rolled_back';
  rowsDeleted: number;
  mappingsDeleted: number;
}

/**
 * Deletes exactly the rows a run inserted (found through its mappings), then the mappings,
 * and marks the run rolled back — one transaction. Rows the run did not insert are never
 * touched. `batch` limits it to one batch of the run.
 */
export async function rollbackMigration(input: { migrationId: number; target: pg.Client; batch?: number }): Promise<RollbackResult> {
  const { target, migrationId } = input;
  const control = await getControl(target, migrationId);
  if (!control) throw new NotFoundError('MIGRATION_NOT_FOUND', `there is no migration ${migrationId}`, { hint: 'list runs with: ferry runs' });
  if (control.status === 'rolled_back') return { migrationId, status: 'already_rolled_back', rowsDeleted: 0, mappingsDeleted: 0 };
  const plan = MigrationPlan.parse(control.plan);
  const lockKey = `ferry:${plan.target.schema}.${plan.target.table}`;
  const lock = await target.query<{ ok: boolean }>('SELECT pg_try_advisory_lock(hashtext($1)) AS ok', [lockKey]);
  if (!lock.rows[0]?.ok) {
    throw new FerryError('MIGRATION_ALREADY_RUNNING', 'user', `a ferry run is writing ${plan.target.table} right now`, { hint: 'roll back after it ends' });
  }
  const pk = plan.target.primaryKey;
  const pkType = await columnType(target, plan.target.schema, plan.target.table, pk);
  if (!pkType) {
    await target.query('SELECT pg_advisory_unlock(hashtext($1))', [lockKey]);
    throw new NotFoundError('COLUMN_NOT_FOUND', `${plan.target.table}.${pk} no longer exists; nothing was rolled back`);
  }
  const batchCond = input.batch === undefined ? '' : ' AND batch_id = $2';
  const params: unknown[] = input.batch === undefined ? [migrationId] : [migrationId, input.batch];
  try {
    await target.query('BEGIN');
    const del = await target.query(
      `DELETE FROM ${qualified(plan.target.schema, plan.target.table)} t USING migration_mappings m
        WHERE m.migration_id = $1${batchCond.replace('batch_id', 'm.batch_id')} AND t.${quoteIdent(pk)} = m.new_id::${pkType}`,
      params,
    );
    const maps = await target.query(`DELETE FROM migration_mappings WHERE migration_id = $1${batchCond}`, params);
    const remaining = await target.query<{ n: string }>('SELECT count(*) AS n FROM migration_mappings WHERE migration_id = $1', [migrationId]);
    const allGone = Number(remaining.rows[0]?.n ?? 0) === 0;
    await target.query(
      `UPDATE migration_control
          SET rows_rolled_back = COALESCE(rows_rolled_back, 0) + $2,
              status = CASE WHEN $3 THEN 'rolled_back' ELSE status END,
              rolled_back_at = CASE WHEN $3 THEN now() ELSE rolled_back_at END
        WHERE id = $1`,
      [migrationId, del.rowCount ?? 0, allGone],
    );
    await target.query('COMMIT');
    return { migrationId, status: 'rolled_back', rowsDeleted: del.rowCount ?? 0, mappingsDeleted: maps.rowCount ?? 0 };
  } catch (e) {
    await target.query('ROLLBACK').catch(() => undefined);
    throw new FerryError('ROLLBACK_FAILED', 'third_party', `rollback of migration ${migrationId} failed and changed nothing: ${(e as Error).message}`, {
      cause: e,
      hint: 'if another table references these rows, roll back or fix that first',
    });
  } finally {
    await target.query('SELECT pg_advisory_unlock(hashtext($1))', [lockKey]).catch(() => undefined);
  }
}

/** The column's type as format_type prints it, straight from the catalog. */
export async function columnType(db: pg.Client, schema: string, table: string, column: string): Promise<string | null> {
  const r = await db.query<{ t: string }>(
    `SELECT format_type(a.atttypid, a.atttypmod) AS t FROM pg_attribute a
      WHERE a.attrelid = to_regclass($1) AND a.attname = $2 AND NOT a.attisdropped`,
    [qualified(schema, table), column],
  );
  return r.rows[0]?.t ?? null;
}
