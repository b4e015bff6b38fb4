import type { ColumnInfo, FilterCondition, TypeCategory, ValueProfile } from '../../src/core/artifacts/schema-analysis.js';
import { buildWhere, qualified, quoteIdent, type Queryable } from '../../src/core/sql.js';
import { DatabaseError, InputError } from '../../src/core/errors.js';
import { catalogQuery } from './catalog.js';

/** Below this planner estimate a table is counted exactly; above it the estimate stands. */
export const EXACT_COUNT_LIMIT = 1_000_000;
/** Above this many rows, whole-table profiles read a sample so analysis stays fast. */
export const SAMPLE_ABOVE_ROWS = 200_000;
/** How many rows a sampled profile aims to read. */
const SAMPLE_TARGET_ROWS = 100_000;
/** A column is low-cardinality, and profiled, up to this many distinct values. */
export const PROFILE_MAX_DISTINCT = 50;
/** Under a focus filter the planner needs every value feeding an enum, so the bar is higher. */
export const FOCUS_MAX_DISTINCT = 100;

/** Whole-table profiles: the categories whose values a plan maps one by one. */
export const PROFILED_CATEGORIES: ReadonlySet<TypeCategory> = new Set(['string', 'enum', 'integer', 'boolean']);
/**
 * Focus profiles: every category with an equality operator and a readable text form. json
 * (no equality), arrays, bytea and 'other' are left out: their values are not mapped one by one.
 */
export const FOCUS_CATEGORIES: ReadonlySet<TypeCategory> = new Set([
  'string',
  'enum',
  'integer',
  'bigint',
  'numeric',
  'float',
  'boolean',
  'uuid',
  'timestamp',
  'date',
  'time',
]);

export interface TableRef {
  schema: string;
  name: string;
}

/** Tables up to this many per statement are counted in one round trip. */
const COUNT_BATCH = 50;

/**
 * Exact `count(*)` for every table whose estimate is under the limit (or unknown), in a few
 * UNION ALL statements; the estimate for the rest. Unreadable tables keep their estimate.
 */
export async function countRows(
  db: Queryable,
  tables: ReadonlyArray<TableRef & { estimatedRows: number; readable: boolean }>,
): Promise<Array<{ rowCount: number; exact: boolean }>> {
  const out = tables.map((t) => ({ rowCount: Math.max(0, Math.round(t.estimatedRows)), exact: false }));
  const toCount = tables.flatMap((t, i) => (t.readable && t.estimatedRows < EXACT_COUNT_LIMIT ? [i] : []));
  for (let start = 0; start < toCount.length; start += COUNT_BATCH) {
    const batch = toCount.slice(start, start + COUNT_BATCH);
    const sql = batch
      .map((i) => `SELECT ${i}::int AS i, count(*)::bigint AS n FROM ${qualified(tables[i]!.schema, tables[i]!.name)}`)
      .join('\nUNION ALL\n');
    const rows = await catalogQuery<{ i: number; n: string }>(db, 'row counts', sql);
    for (const r of rows) out[r.i] = { rowCount: Number(r.n), exact: true };
  }
  return out;
}

export function isUniqueOnItsOwn(column: string, primaryKey: readonly string[], uniqueKeys: readonly string[][]): boolean {
  if (primaryKey.length === 1 && primaryKey[0] === column) return true;
  return uniqueKeys.some((k) => k.length === 1 && k[0] === column);
}

/** Columns worth a profile: the right category, and not a key whose values are all distinct anyway. */
export function profileCandidates(
  columns: readonly ColumnInfo[],
  primaryKey: readonly string[],
  uniqueKeys: readonly string[][],
  categories: ReadonlySet<TypeCategory>,
): ColumnInfo[] {
  return columns.filter((c) => categories.has(c.category) && !isUniqueOnItsOwn(c.name, primaryKey, uniqueKeys));
}

export interface ProfileOptions {
  maxDistinct: number;
  filters?: readonly FilterCondition[];
  /** Percent of pages to read with TABLESAMPLE SYSTEM; undefined reads everything. */
  samplePercent?: number;
}

/** The sample percentage for a whole-table profile, or undefined when the table is small enough. */
export function samplePercentFor(rowCount: number): number | undefined {
  if (rowCount <= SAMPLE_ABOVE_ROWS) return undefined;
  return Math.max(0.01, Math.min(100, (100 * SAMPLE_TARGET_ROWS) / rowCount));
}

/**
 * One GROUP BY per column, LIMIT maxDistinct + 1: getting that extra row back is how a
 * high-cardinality column is recognised without counting all its distinct values. Values are
 * ordered by frequency, then by the column's own order (enums in declaration order, numbers
 * numerically), so the same data always gives the same profile.
 */
export async function profileColumn(
  db: Queryable,
  table: TableRef,
  column: string,
  options: ProfileOptions,
): Promise<ValueProfile | undefined> {
  // $1 is the limit, so the filter's parameters start at $2.
  const where = buildWhere(options.filters ?? [], 1);
  const sample =
    options.samplePercent === undefined ? '' : ` TABLESAMPLE SYSTEM (${options.samplePercent.toFixed(4)}) REPEATABLE (0)`;
  const col = quoteIdent(column);
  const sql = `SELECT ${col}::text AS value, count(*)::bigint AS n
FROM ${qualified(table.schema, table.name)}${sample}
${where.sql}
GROUP BY ${col}
ORDER BY n DESC, ${col} NULLS LAST
LIMIT $1`;
  const rows = await profileQuery<{ value: string | null; n: string }>(
    db,
    `the values of ${table.schema}.${table.name}.${column}`,
    sql,
    [options.maxDistinct + 1, ...where.params],
  );
  if (rows.length > options.maxDistinct) return undefined;
  // An empty sample says nothing about the column (the estimate may be stale); better no profile.
  if (rows.length === 0 && options.samplePercent !== undefined) return undefined;
  const profile: ValueProfile = {
    column,
    distinctCount: rows.length,
    values: rows.map((r) => ({ value: r.value, count: Number(r.n) })),
  };
  if (options.samplePercent !== undefined) profile.sampled = true;
  return profile;
}

/** `count(*)` under a filter. */
export async function countWhere(db: Queryable, table: TableRef, filters: readonly FilterCondition[]): Promise<number> {
  const where = buildWhere(filters);
  const rows = await profileQuery<{ n: string }>(
    db,
    `the row count of ${table.schema}.${table.name}`,
    `SELECT count(*)::bigint AS n FROM ${qualified(table.schema, table.name)} ${where.sql}`,
    where.params,
  );
  return Number(rows[0]?.n ?? 0);
}

/**
 * Like catalogQuery, but a data exception (SQLSTATE class 22: a filter value that does not
 * fit the column's type) is the user's to fix, not the database's fault.
 */
async function profileQuery<R extends Record<string, unknown>>(
  db: Queryable,
  what: string,
  sql: string,
  params: unknown[],
): Promise<R[]> {
  try {
    return (await db.query<R>(sql, params)).rows;
  } catch (e) {
    const code = typeof e === 'object' && e !== null && 'code' in e ? String((e as { code: unknown }).code) : '';
    const message = e instanceof Error ? e.message : String(e);
    if (code.startsWith('22')) {
      throw new InputError('FILTER_VALUE_INVALID', `reading ${what} failed: ${message}`, {
        cause: e,
        hint: "Give each filter a value of its column's type (see the column's pgType in the analysis).",
        details: { sqlstate: code },
      });
    }
    throw new DatabaseError('PROFILE_QUERY_FAILED', `reading ${what} failed: ${message}`, {
      cause: e,
      hint: 'Check that the database is reachable and that the connecting role may SELECT from the table.',
      details: { sqlstate: code },
    });
  }
}
