import type { ReadingProbe } from '../../agents/planning/reading/probe.js';
import { qualified, quoteIdent, type Queryable } from '../core/sql.js';

/** The description reader's look-ups in the source: read-only queries, parameters only. */
export function createReadingProbe(source: Queryable): ReadingProbe {
  return {
    async rowsLabelled({ schema, table, keyColumn, labelColumn, label }) {
      const r = await source.query<{ key: string; label: string }>(
        `SELECT ${quoteIdent(keyColumn)}::text AS key, ${quoteIdent(labelColumn)}::text AS label FROM ${qualified(schema, table)}
          WHERE lower(btrim(${quoteIdent(labelColumn)}::text)) = lower(btrim($1)) ORDER BY 1 LIMIT 5`,
        [label],
      );
      return r.rows;
    },
    async someLabels({ schema, table, labelColumn, limit }) {
      const r = await source.query<{ label: string }>(
        `SELECT DISTINCT ${quoteIdent(labelColumn)}::text AS label FROM ${qualified(schema, table)} WHERE ${quoteIdent(labelColumn)} IS NOT NULL ORDER BY 1 LIMIT ${Math.max(1, Math.floor(limit))}`,
      );
      return r.rows.map((x) => x.label);
    },
    async columnsHolding({ schema, table, columns, value }) {
      const out: string[] = [];
      for (const column of columns) {
        const r = await source.query(`SELECT 1 FROM ${qualified(schema, table)} WHERE ${quoteIdent(column)}::text = $1 LIMIT 1`, [value]);
        if (r.rows.length > 0) out.push(column);
      }
      return out;
    },
  };
}
