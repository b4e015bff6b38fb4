import type { MigrationPlan } from '../artifacts/migration-plan.js';
import { PlanError } from '../errors.js';
import { collatedCalls } from '../expr/index.js';
import type { Queryable } from '../sql.js';

/**
 * The plan's expressions (columns and --where) that use lower/upper/initcap/regexp_replace are
 * re-derived by validation under the builtin pg_c_utf8 collation, which PostgreSQL has from
 * version 17: on an older source the rows would be written and their validation then fail to
 * run. Refused before anything is written, naming the columns and what to do.
 */
export async function assertSourceValidates(source: Queryable, plan: MigrationPlan): Promise<void> {
  const uses = [
    ...plan.columns.flatMap((c) => (c.origin.kind === 'expression' ? [{ what: c.target, fns: collatedCalls(c.origin.expr) }] : [])),
    ...plan.source.filters.flatMap((f) => ('predicate' in f ? [{ what: '--where', fns: collatedCalls(f.predicate.expr) }] : [])),
  ].filter((u) => u.fns.length > 0);
  if (uses.length === 0) return;
  const r = await source.query<{ v: string; version: string }>(`SELECT current_setting('server_version_num') AS v, current_setting('server_version') AS version`);
  if (Number(r.rows[0]?.v ?? 0) >= 170000) return;
  throw new PlanError(
    'EXPR_NEEDS_PG17',
    `the source server is PostgreSQL ${r.rows[0]?.version ?? '?'}; ${uses.map((u) => `${u.what} uses ${u.fns.join(', ')}`).join('; ')}, which validation re-derives on the source under the pg_c_utf8 collation of PostgreSQL 17 and later; nothing was written`,
    { hint: 'give such a column a transform origin instead (checked by type only), or migrate from a copy of the source on PostgreSQL 17 or later', details: { uses } },
  );
}
