import type { MigrationPlan, PlanFilter } from '../artifacts/migration-plan.js';
import type { Typed } from '../expr/check.js';
// The compiler itself, not expr/index: describing a plan's filters (ferry show) needs no parser or checker.
import { compileSql } from '../expr/compile-sql.js';
import { quoteIdent, type SqlFragment } from '../sql.js';

/**
 * A plan's filter as SQL: the one builder behind the run's source query, the plan's counts
 * (`ferry approve` recounting after --exclude / --where) and validation's source side, so the
 * rows moved, the rows counted and the rows checked are the same rows. Values travel as
 * parameters; a --where predicate is the checked AST compiled by the column language's SQL
 * compiler over the source row, which the query names `rowAlias`.
 */
export interface FilterSqlOptions {
  /** The source row's name in the query: its alias (`src`), or the table name when it has none. */
  rowAlias: string;
  /** Parameters already taken before the WHERE ($1…$offset). */
  offset?: number;
}

function conditionSql(f: PlanFilter, col: (name: string) => string, next: (v: unknown) => string, rowAlias: string): string {
  switch (f.op) {
    case 'is_null':
      return `${col(f.column)} IS NULL`;
    case 'is_not_null':
      return `${col(f.column)} IS NOT NULL`;
    case 'in':
      return `${col(f.column)} IN (${f.value.map((v) => next(v)).join(', ')})`;
    case 'exclude':
      // NOT IN alone would also drop the NULL rows (NULL NOT IN … is NULL): they stay unless excluded on their own.
      return `(${col(f.column)} IS NULL OR NOT (${col(f.column)}::text = ANY(${next(f.values)}::text[])))`;
    case 'where': {
      const expr = f.predicate.expr as Typed;
      if (expr.type !== 'boolean') throw new Error(`the filter's predicate ${JSON.stringify(f.predicate.source)} is not a checked boolean expression`);
      return `(${compileSql(expr, { rowAlias })})`;
    }
    default:
      return `${col(f.column)} ${f.op} ${next(f.value)}`;
  }
}

/** `WHERE a = $1 AND (…)` (or empty) for these conditions. */
export function filterWhere(filters: readonly PlanFilter[], options: FilterSqlOptions): SqlFragment {
  const offset = options.offset ?? 0;
  const params: unknown[] = [];
  const next = (v: unknown) => {
    params.push(v);
    return `$${offset + params.length}`;
  };
  const col = (name: string) => `${quoteIdent(options.rowAlias)}.${quoteIdent(name)}`;
  const parts = filters.map((f) => conditionSql(f, col, next, options.rowAlias));
  return { sql: parts.length ? `WHERE ${parts.join(' AND ')}` : '', params };
}

/** The plan's filter over its source table; `rowAlias` defaults to the table's own name (a FROM without alias). */
export function planWhere(plan: Pick<MigrationPlan, 'source'>, options: Partial<FilterSqlOptions> = {}): SqlFragment {
  return filterWhere(plan.source.filters, { rowAlias: options.rowAlias ?? plan.source.table, ...(options.offset === undefined ? {} : { offset: options.offset }) });
}

/**
 * What a --where predicate's SQL assumes of the session (the column language's
 * SESSION_SETTINGS_SQL: text read as dates and timestamps in UTC and ISO order), as SET LOCAL
 * for the transaction that reads under the filter; null when the filter has no predicate, so
 * plans without one read exactly as before.
 */
export function filterSessionSql(filters: readonly PlanFilter[]): string | null {
  return filters.some((f) => f.op === 'where') ? "SET LOCAL TimeZone = 'UTC'; SET LOCAL DateStyle = 'ISO, YMD'" : null;
}

/** One condition in words, for plans, programs and reports. */
export function describePlanFilter(f: PlanFilter): string {
  switch (f.op) {
    case 'is_null':
      return `${f.column} IS NULL`;
    case 'is_not_null':
      return `${f.column} IS NOT NULL`;
    case 'in':
      return `${f.column} IN (${f.value.map((v) => JSON.stringify(v)).join(', ')})`;
    case 'exclude':
      return `${f.column} NOT IN (${f.values.map((v) => JSON.stringify(v)).join(', ')}) (NULL kept)`;
    case 'where':
      return `(${f.predicate.source})`;
    default:
      return `${f.column} ${f.op} ${JSON.stringify(f.value)}`;
  }
}

export function describePlanFilters(filters: readonly PlanFilter[]): string {
  return filters.length === 0 ? 'all rows' : filters.map(describePlanFilter).join(' AND ');
}
