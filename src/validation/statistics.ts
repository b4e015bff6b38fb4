import type { MigrationPlan } from '../core/artifacts/migration-plan.js';
import { qualified, type Queryable } from '../core/sql.js';

/** Rows a run must insert before validation asks for fresh statistics: below it, stale ones plan the same. */
export const ANALYZE_FROM_ROWS = 1000;

/**
 * The target table and migration_mappings analyzed after a run that grew them by a tenth or
 * more: validation joins the two right after the load, before autovacuum has looked at
 * either, and a planner that still thinks the table is empty picks nested loops over a million
 * rows by a million (a 1M-row validation ran minutes instead of seconds). ANALYZE samples a
 * fixed number of rows, so this costs well under a second at any size. Without the right to
 * analyze (not the owner) PostgreSQL skips the table with a warning: nothing fails.
 * Returns the tables analyzed.
 */
export async function refreshStatistics(target: Queryable, plan: MigrationPlan, inserted: number): Promise<string[]> {
  if (inserted < ANALYZE_FROM_ROWS) return [];
  const tables = [qualified(plan.target.schema, plan.target.table), 'ferry_control.migration_mappings'];
  // reltuples: PostgreSQL's estimate of the table's rows (-1 until first analyzed).
  const r = await target.query<{ t: string; est: number }>(`SELECT t, coalesce((SELECT reltuples FROM pg_class WHERE oid = t::regclass), -1)::float8 AS est FROM unnest($1::text[]) AS t`, [tables]);
  const stale = r.rows.filter((row) => row.est < 0 || inserted >= 0.1 * row.est).map((row) => row.t);
  if (stale.length) await target.query(`ANALYZE ${stale.join(', ')}`);
  return stale;
}
