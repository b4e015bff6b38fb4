import { readNamedTables } from '../../agents/schema-analysis/catalog.js';
import type { MigrationPlan } from '../core/artifacts/migration-plan.js';
import type { Queryable } from '../core/sql.js';
import { findEnum, findTable, type ColumnInfo, type EnumTypeInfo, type SchemaAnalysis } from '../core/artifacts/schema-analysis.js';
import { PlanError } from '../core/errors.js';

/** What the drift check reads of a table: its name and columns (an analysis's TableInfo, or a catalog's table). */
interface TableView {
  schema: string;
  name: string;
  columns: readonly ColumnInfo[];
}

/**
 * The databases as they are now: a fresh analysis, or only the tables and enum types the plans
 * name (readDriftCatalogs, what a run reads: no row counts, no profiles, no other tables, which
 * drift never compares).
 */
export interface FreshCatalogs {
  source: { tables: readonly TableView[] };
  target: { tables: readonly TableView[]; enums: readonly EnumTypeInfo[] };
}

/**
 * Both databases' catalogs as the drift check of these plans needs them, and no more: each
 * plan's source table, its target table and the parents its foreign keys name, and its enum
 * types. One query per database, its cost independent of how many other tables they hold.
 */
export async function readDriftCatalogs(conn: { source: Queryable; target: Queryable }, plans: readonly MigrationPlan[]): Promise<FreshCatalogs> {
  const unique = (tables: Array<{ schema: string; name: string }>) => [...new Map(tables.map((t) => [`${t.schema}.${t.name}`, t])).values()];
  const [source, target] = await Promise.all([
    readNamedTables(conn.source, { tables: unique(plans.map((p) => ({ schema: p.source.schema, name: p.source.table }))), enums: [] }),
    readNamedTables(conn.target, {
      tables: unique(plans.flatMap((p) => [{ schema: p.target.schema, name: p.target.table }, ...p.foreignKeys.map((fk) => ({ schema: fk.refSchema, name: fk.refTable }))])),
      enums: [...new Set(plans.flatMap((p) => p.enumMappings.map((m) => m.enumType)))],
    }),
  ]);
  return { source, target };
}

/**
 * The plan was made from an analysis; the databases may have changed since. Before a run,
 * the tables and enum types the plan touches are compared with a fresh read of the catalogs.
 * Any difference in columns, types, nullability or enum values refuses the run.
 */
export function schemaDrift(plan: MigrationPlan, planned: SchemaAnalysis, fresh: FreshCatalogs): string[] {
  const diffs: string[] = [];
  const pick = (a: FreshCatalogs, role: 'source' | 'target', schema: string, table: string) => findTable(a[role], table, schema);
  const compare = (role: 'source' | 'target', schema: string, table: string) => {
    const was = pick(planned, role, schema, table);
    const now = pick(fresh, role, schema, table);
    if (!was) return;
    if (!now) {
      diffs.push(`${role} table ${schema}.${table} no longer exists`);
      return;
    }
    diffs.push(...tableDiff(role, was, now));
  };
  compare('source', plan.source.schema, plan.source.table);
  compare('target', plan.target.schema, plan.target.table);
  for (const m of plan.enumMappings) {
    const now = findEnum(fresh.target, m.enumType);
    if (!now) diffs.push(`enum type ${m.enumType} no longer exists`);
    else if (now.values.join(',') !== m.enumValues.join(',')) diffs.push(`enum ${m.enumType} values changed: [${m.enumValues.join(', ')}] → [${now.values.join(', ')}]`);
  }
  for (const fk of plan.foreignKeys) {
    if (!pick(fresh, 'target', fk.refSchema, fk.refTable)) diffs.push(`parent table ${fk.refSchema}.${fk.refTable} no longer exists`);
  }
  return diffs;
}

function tableDiff(role: string, was: TableView, now: TableView): string[] {
  const diffs: string[] = [];
  const name = `${role} ${was.schema}.${was.name}`;
  for (const c of was.columns) {
    const n = now.columns.find((x) => x.name === c.name);
    if (!n) diffs.push(`${name}.${c.name} was dropped`);
    else {
      if (n.pgType !== c.pgType) diffs.push(`${name}.${c.name} changed type: ${c.pgType} → ${n.pgType}`);
      if (n.nullable !== c.nullable) diffs.push(`${name}.${c.name} is now ${n.nullable ? 'nullable' : 'NOT NULL'}`);
    }
  }
  for (const n of now.columns) {
    if (!was.columns.some((c) => c.name === n.name) && !n.nullable && n.default === null && !n.isIdentity && !n.isGenerated) {
      diffs.push(`${name}.${n.name} is a new required column the plan does not fill`);
    }
  }
  return diffs;
}

export function assertNoDrift(plan: MigrationPlan, planned: SchemaAnalysis, fresh: FreshCatalogs): void {
  const diffs = schemaDrift(plan, planned, fresh);
  if (diffs.length) {
    throw new PlanError('ANALYSIS_STALE', `the databases changed since this plan was made:\n  - ${diffs.join('\n  - ')}`, {
      hint: 'make the plan again (ferry plan …) and review it',
      details: { diffs },
    });
  }
}
