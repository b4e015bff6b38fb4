import type { MigrationPlan } from '../artifacts/migration-plan.js';

// The "schema.table" keys migration_control and migration_mappings store; here (not in
// src/control) because plan semantics in core need them too.
export function tableKey(schema: string, table: string): string {
  return `${schema}.${table}`;
}

export function planTables(plan: MigrationPlan): { sourceTable: string; targetTable: string } {
  return { sourceTable: tableKey(plan.source.schema, plan.source.table), targetTable: tableKey(plan.target.schema, plan.target.table) };
}
