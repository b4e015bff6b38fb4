import type { PlanFilter } from '../../src/core/artifacts/migration-plan.js';
import type { FilterCondition } from '../../src/core/artifacts/schema-analysis.js';

/**
 * The two facts the planner reads beyond the analysis: which code stands next to which
 * value in the source (to learn abbreviations from the data), and which parent rows a
 * foreign key could point at. Implemented over pg in src/db/plan-probe.ts.
 */
export interface PlanProbe {
  sourcePairs(input: {
    schema: string;
    table: string;
    valueColumn: string;
    codeColumn: string;
    filters: FilterCondition[];
    limit: number;
  }): Promise<Array<{ value: string | null; code: string | null }>>;

  parentRows(input: {
    schema: string;
    table: string;
    keyColumn: string;
    labelColumn: string | null;
    where: { column: string; value: string } | null;
    orderBy: string[];
    limit: number;
  }): Promise<{ total: number; rows: Array<{ key: string; label: string }> }>;

  /**
   * Source rows (under the filter) whose reference column holds a value with no row in the
   * legacy parent table: the orphans a via_mapping column will meet. `sample` is ordered.
   */
  orphanValues(input: {
    schema: string;
    table: string;
    key: string;
    column: string;
    filters: PlanFilter[];
    parentSchema: string;
    parentTable: string;
    parentKey: string;
    limit: number;
  }): Promise<{ count: number; sample: Array<{ key: string; value: string }> }>;

  /**
   * Completed migrations recorded in the target's migration_control (source table → target
   * table, qualified), newest first; empty where ferry never ran there.
   */
  migratedPairs(): Promise<Array<{ sourceTable: string; targetTable: string }>>;

  /**
   * The distinct values (as text) of a column-language expression over the source rows under
   * the filter, with their counts, most rows first: what an enum target built from an
   * expression must map. `sql` is compileSql's output over the row alias `src`.
   */
  expressionValues(input: { schema: string; table: string; sql: string; filters: PlanFilter[]; limit: number }): Promise<Array<{ value: string | null; count: number }>>;

  /**
   * The source table's rows under a plan's filter (the reviewer's exclusions included), and
   * per column asked how many of them carry each value (as text; NULL as null): the plan's
   * estimate, recounted when a reviewer narrows the rows.
   */
  filteredCounts(input: {
    schema: string;
    table: string;
    filters: PlanFilter[];
    columns: string[];
  }): Promise<{ rowCount: number; values: Record<string, Array<{ value: string | null; count: number }>> }>;

  /** Whether a parent row with this key exists (for overrides). */
  parentExists(input: { schema: string; table: string; keyColumn: string; key: string }): Promise<boolean>;
}
