import { escapeIdentifier } from './pg-escape.js';

/**
 * A description's filter condition (artifacts' FilterCondition), stated structurally: the
 * artifacts import the column language, which builds on this file, so this file imports no artifact.
 */
export type FilterCondition =
  | { column: string; op: '=' | '<>' | '<' | '<=' | '>' | '>='; value: string | number | boolean }
  | { column: string; op: 'in'; value: Array<string | number> }
  | { column: string; op: 'is_null' | 'is_not_null' };

/**
 * SQL is built by small pure functions: identifiers are always quoted, values always
 * travel as parameters. Names that look like SQL injection stay names.
 */

/** pg's escapeIdentifier, refusing a NUL byte by name (PostgreSQL would only say "invalid byte sequence"). */
export function quoteIdent(name: string): string {
  if (name.includes('\u0000')) throw new Error(`identifier contains a NUL byte: ${JSON.stringify(name)}`);
  return escapeIdentifier(name);
}

/** A schema-qualified name, each part quoted on its own (`"public"."order"`). */

export function qualified(schema: string, table: string): string {
  return `${quoteIdent(schema)}.${quoteIdent(table)}`;
}

export interface SqlFragment {
  sql: string;
  params: unknown[];
}

/** `WHERE a = $1 AND b IN ($2, $3)` (or empty) for the plan's filter; numbering starts after `offset`. */
export function buildWhere(filters: readonly FilterCondition[], offset = 0): SqlFragment {
  const parts: string[] = [];
  const params: unknown[] = [];
  const next = (v: unknown) => {
    params.push(v);
    return `$${offset + params.length}`;
  };
  for (const f of filters) {
    const col = quoteIdent(f.column);
    switch (f.op) {
      case 'is_null':
        parts.push(`${col} IS NULL`);
        break;
      case 'is_not_null':
        parts.push(`${col} IS NOT NULL`);
        break;
      case 'in':
        parts.push(`${col} IN (${f.value.map((v) => next(v)).join(', ')})`);
        break;
      default:
        parts.push(`${col} ${f.op} ${next(f.value)}`);
    }
  }
  return { sql: parts.length ? `WHERE ${parts.join(' AND ')}` : '', params };
}

/** A filter in words, for plans and reports: `group_id = 11 AND name IS NOT NULL`. */
export function describeFilters(filters: readonly FilterCondition[]): string {
  if (filters.length === 0) return 'all rows';
  return filters
    .map((f) => {
      if (f.op === 'is_null') return `${f.column} IS NULL`;
      if (f.op === 'is_not_null') return `${f.column} IS NOT NULL`;
      if (f.op === 'in') return `${f.column} IN (${f.value.map((v) => JSON.stringify(v)).join(', ')})`;
      return 'value' in f ? `${f.column} ${f.op} ${JSON.stringify(f.value)}` : f.column;
    })
    .join(' AND ');
}

/** The narrow slice of a pg client/pool every database function here needs. */
export interface Queryable {
  query<R extends Record<string, unknown> = Record<string, unknown>>(
    sql: string,
    params?: unknown[],
  ): Promise<{ rows: R[]; rowCount: number | null }>;
}
