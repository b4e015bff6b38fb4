import type { TableInfo } from '../../src/core/artifacts/schema-analysis.js';

/**
 * The column each row is tracked by: the primary key when it is one column, else a unique key
 * of one NOT NULL column (Pagila's payment is keyed by (payment_date, payment_id) across its
 * partitions; a table may declare `code UNIQUE NOT NULL` and no primary key). Said on the plan.
 */
export function legacyKeyOf(source: TableInfo): { sourceKey: string | null; keyNote: string | null } {
  if (source.primaryKey.length === 1) return { sourceKey: source.primaryKey[0]!, keyNote: null };
  const unique = source.uniqueKeys.filter((k) => k.length === 1 && source.columns.some((c) => c.name === k[0] && !c.nullable)).map((k) => k[0]!);
  const key = unique.find((k) => /(^|_)(id|no|num|code|key|uuid)$/.test(k)) ?? unique[0];
  if (!key) return { sourceKey: null, keyNote: null };
  const pk = source.primaryKey.length === 0 ? 'has no primary key' : `has a composite primary key (${source.primaryKey.join(', ')})`;
  return { sourceKey: key, keyNote: `rows are tracked by ${key}, a unique NOT NULL column: ${source.name} ${pk}` };
}
