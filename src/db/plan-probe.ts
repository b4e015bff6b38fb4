import type { PlanProbe } from '../../agents/planning/probe.js';
import { buildWhere, qualified, quoteIdent, type Queryable } from '../core/sql.js';
import { filterSessionSql, filterWhere } from '../core/plan/filter-sql.js';
import type { PlanFilter } from '../core/artifacts/migration-plan.js';

/** The column language's session settings (SESSION_SETTINGS_SQL) for one transaction. */
const SESSION_SETTINGS_LOCAL = "SET LOCAL TimeZone = 'UTC'; SET LOCAL DateStyle = 'ISO, YMD'";

/** Reads under a plan's filter; with a --where predicate, in one read-only transaction holding its session settings (SET LOCAL). */
async function underFilter<T>(source: Queryable, filters: readonly PlanFilter[], read: () => Promise<T>, alwaysPin = false): Promise<T> {
  const settings = filterSessionSql(filters) ?? (alwaysPin ? SESSION_SETTINGS_LOCAL : null);
  if (!settings) return read();
  await source.query('BEGIN READ ONLY');
  try {
    await source.query(settings);
    return await read();
  } finally {
    await source.query('COMMIT').catch(() => undefined);
  }
}

/** The distinct values of a column-language expression under a plan's filter (PlanProbe.expressionValues). */
async function expressionValues(source: Queryable, input: Parameters<PlanProbe['expressionValues']>[0]): Promise<Array<{ value: string | null; count: number }>> {
  const { schema, table, sql, filters, limit } = input;
  // The expression and the filter are over the row alias src; the expression's SQL assumes
  // the language's session settings (UTC, ISO dates) whether or not the filter has a predicate.
  const w = filterWhere(filters, { rowAlias: 'src' });
  return underFilter(source, filters, async () => {
    const r = await source.query<{ value: string | null; n: string }>(
      `SELECT CAST((${sql}) AS text) AS value, count(*) AS n FROM ${qualified(schema, table)} AS src ${w.sql}
        GROUP BY 1 ORDER BY 2 DESC, 1 LIMIT ${Math.max(1, Math.floor(limit))}`,
      w.params,
    );
    return r.rows.map((x) => ({ value: x.value, count: Number(x.n) }));
  }, true);
}

/** The planner's probe over real connections: read-only queries, parameters only. */
export function createPlanProbe(source: Queryable, target: Queryable): PlanProbe {
  return {
    async sourcePairs({ schema, table, valueColumn, codeColumn, filters, limit }) {
      const w = buildWhere(filters);
      const r = await source.query<{ value: string | null; code: string | null }>(
        `SELECT DISTINCT ${quoteIdent(valueColumn)}::text AS value, ${quoteIdent(codeColumn)}::text AS code
           FROM ${qualified(schema, table)} ${w.sql} ORDER BY 1, 2 LIMIT ${Math.max(1, Math.floor(limit))}`,
        w.params,
      );
      return r.rows;
    },
    async parentRows({ schema, table, keyColumn, labelColumn, where, orderBy, limit }) {
      const cond = where ? `WHERE ${quoteIdent(where.column)}::text = $1` : '';
      const params = where ? [where.value] : [];
      const total = await target.query<{ n: string }>(`SELECT count(*) AS n FROM ${qualified(schema, table)} ${cond}`, params);
      const label = labelColumn ? `${quoteIdent(labelColumn)}::text` : `${quoteIdent(keyColumn)}::text`;
      const rows = await target.query<{ key: string; label: string }>(
        `SELECT ${quoteIdent(keyColumn)}::text AS key, ${label} AS label FROM ${qualified(schema, table)} ${cond}
          ORDER BY ${orderBy.map(quoteIdent).join(', ')} LIMIT ${Math.max(1, Math.floor(limit))}`,
        params,
      );
      return { total: Number(total.rows[0]?.n ?? 0), rows: rows.rows };
    },
    async orphanValues({ schema, table, key, column, filters, parentSchema, parentTable, parentKey, limit }) {
      // No alias in FROM: the filter's columns are qualified by the table's own name.
      const w = filterWhere(filters, { rowAlias: table });
      const cond = `${w.sql ? `${w.sql} AND` : 'WHERE'} ${quoteIdent(column)} IS NOT NULL
        AND NOT EXISTS (SELECT 1 FROM ${qualified(parentSchema, parentTable)} p WHERE p.${quoteIdent(parentKey)} = ${qualified(schema, table)}.${quoteIdent(column)})`;
      const from = `${qualified(schema, table)} ${cond}`;
      return underFilter(source, filters, async () => {
        const total = await source.query<{ n: string }>(`SELECT count(*) AS n FROM ${from}`, w.params);
        const rows = await source.query<{ key: string; value: string }>(
          `SELECT ${quoteIdent(key)}::text AS key, ${quoteIdent(column)}::text AS value FROM ${from} ORDER BY ${quoteIdent(key)} LIMIT ${Math.max(1, Math.floor(limit))}`,
          w.params,
        );
        return { count: Number(total.rows[0]?.n ?? 0), sample: rows.rows };
      });
    },
    async migratedPairs() {
      // Read-only: a target ferry never ran on has no control table, and that is an answer.
      // An older install keeps it in public until its next run moves it to ferry_control.
      const exists = await target.query<{ t: string | null }>(`SELECT coalesce(to_regclass('ferry_control.migration_control'), to_regclass('public.migration_control'))::text AS t`);
      const table = exists.rows[0]?.t;
      if (!table) return [];
      const r = await target.query<{ source_table: string; target_table: string }>(
        `SELECT source_table, target_table FROM ${table} WHERE status = 'completed' GROUP BY 1, 2 ORDER BY max(id) DESC`,
      );
      return r.rows.map((x) => ({ sourceTable: x.source_table, targetTable: x.target_table }));
    },
    expressionValues: (input) => expressionValues(source, input),
    async filteredCounts({ schema, table, filters, columns }) {
      // No alias in FROM: the filter's columns are qualified by the table's own name.
      const w = filterWhere(filters, { rowAlias: table });
      const from = `${qualified(schema, table)} ${w.sql}`;
      return underFilter(source, filters, async () => {
        const total = await source.query<{ n: string }>(`SELECT count(*) AS n FROM ${from}`, w.params);
        const values: Record<string, Array<{ value: string | null; count: number }>> = {};
        for (const c of columns) {
          const r = await source.query<{ v: string | null; n: string }>(`SELECT ${qualified(table, c)}::text AS v, count(*) AS n FROM ${from} GROUP BY 1`, w.params);
          values[c] = r.rows.map((x) => ({ value: x.v, count: Number(x.n) }));
        }
        return { rowCount: Number(total.rows[0]?.n ?? 0), values };
      });
    },
    async parentExists({ schema, table, keyColumn, key }) {
      const r = await target.query(`SELECT 1 FROM ${qualified(schema, table)} WHERE ${quoteIdent(keyColumn)}::text = $1 LIMIT 1`, [key]);
      return r.rows.length > 0;
    },
  };
}
