import type { DatabaseAnalysis, FilterCondition, TableInfo } from '../../src/core/artifacts/schema-analysis.js';
import { closestNames } from '../schema-analysis/names.js';

/** What the description asks for, resolved against the analysed names (from a DescriptionReading). */
export interface MigrationIntent {
  source: TableInfo;
  target: TableInfo;
  filters: FilterCondition[];
  /** The parts of the description that decided each choice, for the plan's reasons. */
  evidence: string[];
}

export const EXAMPLE_DESCRIPTION =
  'Migrate the technician roles of group 11 from dispatch_role into technician_roles';

/** Closest table names, bare in `public` and qualified elsewhere (as suggestions show them). */
export function closestTables(db: DatabaseAnalysis, name: string, n = 3): string[] {
  return closestNames(name, db.tables.map((t) => (t.schema === 'public' ? t.name : `${t.schema}.${t.name}`)), n);
}
