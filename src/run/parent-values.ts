import type { ParentValues } from '../../agents/code-interpreter/index.js';
import type { MigrationPlan } from '../core/artifacts/migration-plan.js';
import { parentDictionarySql, parentKey, parentLookups } from '../core/expr/index.js';
import type { Queryable } from '../core/sql.js';

/**
 * The parent values a plan's expressions look up (`media_type.name`), read from the source
 * once per run with parentDictionarySql: per `path.column`, the JSON of the first hop's key
 * texts → the parent's value as text. Handed to the program in its run bundle; the program
 * has no database. Null when no expression reads a parent.
 */
export async function parentValuesFor(plan: MigrationPlan, source: Queryable): Promise<ParentValues | null> {
  const out: Record<string, Array<readonly [string, string | null]>> = {};
  for (const c of plan.columns) {
    if (c.origin.kind !== 'expression') continue;
    for (const lookup of parentLookups(c.origin.expr)) {
      const key = parentKey(lookup);
      if (out[key] || !lookup.hops?.length) continue;
      const keyCount = lookup.hops[0]!.parentColumns.length;
      const r = await source.query<Record<string, string | null>>(parentDictionarySql(lookup.hops, lookup.column));
      out[key] = r.rows.flatMap((row) => {
        const keys = Array.from({ length: keyCount }, (_, i) => row[`k${i}`]);
        return keys.some((k) => k === null || k === undefined) ? [] : [[JSON.stringify(keys), row.v ?? null] as const];
      });
    }
  }
  return Object.keys(out).length > 0 ? out : null;
}
