import type { MigrationPlan } from '../core/artifacts/migration-plan.js';
import { viaMappingColumns } from '../core/artifacts/migration-plan.js';
import type { TableInfo } from '../core/artifacts/schema-analysis.js';
import { planTables } from '../control/control-tables.js';
import { qualified, quoteIdent, type Queryable } from '../core/sql.js';
import { planWhere } from '../core/plan/filter-sql.js';
import { Problems } from './findings.js';

/**
 * Relationships re-counted through the remap, independently of what the plan decided: for
 * every legacy FK the source table declares, every migrated row whose legacy value is not
 * NULL must point, in the target, at the row its legacy parent was migrated to. A plan that
 * left the reference NULL (or pointed it elsewhere) fails here, naming legacy keys, even
 * though each row equals what that plan derives.
 *
 * Legacy FKs the plan resolves through mappings (via_mapping) are left out: the row check
 * already re-derives each of their references through the parent's mappings and lists the
 * orphans it set NULL.
 */
export interface RelationshipResult {
  sourceColumn: string;
  parentSourceTable: string;
  /** Null when no completed migration of the legacy parent exists, so nothing can be checked. */
  parentTargetTable: string | null;
  targetColumns: string[];
  /** Migrated rows with a non-NULL legacy value. */
  withLegacyValue: number;
  /** Of those, rows whose target reference points at the parent's mapped row. */
  carried: number;
  /** Legacy values with no parent mapping (orphans): can only be NULL. */
  orphans: number;
}

interface LegacyFk {
  column: string;
  refSchema: string;
  refTable: string;
}

/** The single-column FKs the source table declares, read from the source catalog. */
async function legacyForeignKeys(source: Queryable, schema: string, table: string): Promise<LegacyFk[]> {
  const r = await source.query<{ col: string; ref_schema: string; ref_table: string }>(
    `SELECT a.attname AS col, nr.nspname AS ref_schema, cr.relname AS ref_table
       FROM pg_constraint c
       JOIN pg_class cl ON cl.oid = c.conrelid JOIN pg_namespace n ON n.oid = cl.relnamespace
       JOIN pg_class cr ON cr.oid = c.confrelid JOIN pg_namespace nr ON nr.oid = cr.relnamespace
       JOIN pg_attribute a ON a.attrelid = c.conrelid AND a.attnum = c.conkey[1]
      WHERE c.contype = 'f' AND cardinality(c.conkey) = 1 AND n.nspname = $1 AND cl.relname = $2
      ORDER BY a.attnum`,
    [schema, table],
  );
  return r.rows.map((x) => ({ column: x.col, refSchema: x.ref_schema, refTable: x.ref_table }));
}

export async function checkRelationships(input: {
  plan: MigrationPlan;
  source: Queryable;
  target: Queryable;
  targetTable: TableInfo;
}): Promise<{ results: RelationshipResult[]; problems: Problems }> {
  const { plan, source, target, targetTable } = input;
  const problems = new Problems();
  const results: RelationshipResult[] = [];
  const viaSources = new Set(viaMappingColumns(plan).map((v) => v.origin.source));
  const { sourceTable, targetTable: targetKey } = planTables(plan);
  const fks = (await legacyForeignKeys(source, plan.source.schema, plan.source.table)).filter((f) => !viaSources.has(f.column));

  for (const fk of fks) {
    const parentSourceTable = `${fk.refSchema}.${fk.refTable}`;
    const runs = await target.query<{ target_table: string }>(
      `SELECT DISTINCT target_table FROM ferry_control.migration_control WHERE source_table = $1 AND status = 'completed' ORDER BY 1`,
      [parentSourceTable],
    );
    const parentTargets = runs.rows.map((r) => r.target_table);
    // The target columns that can hold this relationship: FKs into a table the legacy parent became.
    const cols = targetTable.foreignKeys.filter((f) => f.columns.length === 1 && parentTargets.includes(`${f.refSchema}.${f.refTable}`));
    const w = planWhere(plan);
    const legacy = await source.query<{ k: string; v: string }>(
      `SELECT ${quoteIdent(plan.source.key)}::text AS k, ${quoteIdent(fk.column)}::text AS v FROM ${qualified(plan.source.schema, plan.source.table)}
        ${w.sql ? `${w.sql} AND` : 'WHERE'} ${quoteIdent(fk.column)} IS NOT NULL`,
      w.params,
    );
    if (cols.length === 0) {
      results.push({ sourceColumn: fk.column, parentSourceTable, parentTargetTable: parentTargets[0] ?? null, targetColumns: [], withLegacyValue: legacy.rows.length, carried: 0, orphans: 0 });
      // Nothing in the target can hold it: said in the summary, not failed; the schema decided, not the plan.
      continue;
    }
    const parentTargetTable = `${cols[0]!.refSchema}.${cols[0]!.refTable}`;
    const pk = plan.target.primaryKey;
    const refs = cols.map((c) => c.columns[0]!);
    // Each migrated row's references, mapped back to the legacy parent ids they stand for.
    const back = await target.query<{ k: string; parents: Array<string | null>; nulls: boolean[] }>(
      `SELECT cm.legacy_id AS k,
              ARRAY[${refs.map((_, i) => `p${i}.legacy_id`).join(', ')}]::text[] AS parents,
              ARRAY[${refs.map((r) => `t.${quoteIdent(r)} IS NULL`).join(', ')}]::boolean[] AS nulls
         FROM ${qualified(plan.target.schema, plan.target.table)} t
         JOIN ferry_control.migration_mappings cm ON cm.source_table = $1 AND cm.target_table = $2 AND cm.new_id = t.${quoteIdent(pk)}::text
         ${refs.map((r, i) => `LEFT JOIN ferry_control.migration_mappings p${i} ON p${i}.source_table = $3 AND p${i}.target_table = $4 AND p${i}.new_id = t.${quoteIdent(r)}::text`).join('\n')}`,
      [sourceTable, targetKey, parentSourceTable, parentTargetTable],
    );
    const migrated = new Map(back.rows.map((r) => [r.k, r]));
    const values = [...new Set(legacy.rows.map((r) => r.v))];
    const mapped = await target.query<{ legacy_id: string }>(
      `SELECT legacy_id FROM ferry_control.migration_mappings WHERE source_table = $1 AND target_table = $2 AND legacy_id = ANY($3::text[])`,
      [parentSourceTable, parentTargetTable, values],
    );
    const hasParent = new Set(mapped.rows.map((r) => r.legacy_id));
    let withLegacyValue = 0;
    let carried = 0;
    let orphans = 0;
    for (const { k, v } of legacy.rows) {
      const row = migrated.get(k);
      if (!row) continue; // a source row without its target row: the mapping checks name it
      withLegacyValue += 1;
      if (row.parents.includes(v)) {
        carried += 1;
        continue;
      }
      if (!hasParent.has(v)) {
        orphans += 1;
        continue;
      }
      const held = refs.map((r, i) => `${r} = ${row.nulls[i] ? 'NULL' : `the ${parentTargetTable} row of legacy ${row.parents[i] ?? '(unmapped id)'}`}`).join(', ');
      problems.add(k, `${fk.column} = ${v} points at legacy ${parentSourceTable} ${v}, migrated to ${parentTargetTable}; but ${held}: the relationship was dropped`);
    }
    results.push({ sourceColumn: fk.column, parentSourceTable, parentTargetTable, targetColumns: refs, withLegacyValue, carried, orphans });
  }
  return { results, problems };
}

/** The check's summary line, in words. */
export function relationshipSummary(results: RelationshipResult[]): string {
  return results
    .map((r) =>
      r.targetColumns.length === 0
        ? `${r.sourceColumn} → ${r.parentSourceTable}: ${r.parentTargetTable ? `no column of the target references ${r.parentTargetTable}` : 'its parent has no completed migration'}, not checked`
        : `${r.sourceColumn} → ${r.parentSourceTable}: ${r.carried}/${r.withLegacyValue} migrated row(s) with a legacy value point at the parent's migrated row in ${r.targetColumns.join(' or ')}${r.orphans ? `, ${r.orphans} orphan(s) without a parent` : ''}`,
    )
    .join('; ');
}
