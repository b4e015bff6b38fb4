import { isSelfReference, viaMappingColumns, type MigrationPlan, type ViaMappingOrigin } from '../artifacts/migration-plan.js';
import { planTables } from './tables.js';
import { PlanError } from '../errors.js';
import type { Queryable } from '../sql.js';

/**
 * Foreign keys through earlier runs' mappings. The sandbox has no database, so the
 * orchestrator resolves via_mapping columns itself, inside the transaction that writes the
 * batch: the legacy FK value is looked up in the parent migration's mappings and replaced by
 * the parent's new id. A reference into the plan's own table is written NULL first and set in
 * a second pass (see run-migration.ts), once every row of the run has its new id.
 */

export interface ParentMigration {
  sourceTable: string;
  targetTable: string;
  planId?: string;
  columns: string[];
}

/** The distinct parent migrations a plan reads mappings of, self-references left out. */
export function parentMigrations(plan: MigrationPlan): ParentMigration[] {
  const byPair = new Map<string, ParentMigration>();
  for (const { column, origin } of viaMappingColumns(plan)) {
    if (isSelfReference(plan, origin)) continue;
    const key = `${origin.parent.sourceTable}→${origin.parent.targetTable}`;
    const p = byPair.get(key) ?? { sourceTable: origin.parent.sourceTable, targetTable: origin.parent.targetTable, columns: [] };
    if (origin.parent.planId !== undefined) p.planId = origin.parent.planId;
    p.columns.push(column.target);
    byPair.set(key, p);
  }
  return [...byPair.values()];
}

/**
 * A child runs only after its parents: each parent pair needs a completed, not rolled back
 * run. Otherwise every reference would be an orphan, so the run is refused before it starts,
 * naming the parent and the command that migrates it.
 */
export async function assertParentsMigrated(db: Queryable, plan: MigrationPlan): Promise<void> {
  for (const p of parentMigrations(plan)) {
    const runs = await db.query<{ id: string; status: string; plan_id: string; rows_source: number | null }>(
      `SELECT id, status, plan_id, rows_source FROM ferry_control.migration_control WHERE source_table = $1 AND target_table = $2 ORDER BY id DESC`,
      [p.sourceTable, p.targetTable],
    );
    const mapped = await db.query<{ n: string }>('SELECT count(*) AS n FROM ferry_control.migration_mappings WHERE source_table = $1 AND target_table = $2', [p.sourceTable, p.targetTable]);
    const completed = runs.rows.find((r) => r.status === 'completed');
    // A completed re-run that inserted nothing outlives the rollback of the run that did: the mappings say what is there.
    if (completed && (Number(mapped.rows[0]?.n ?? 0) > 0 || completed.rows_source === 0)) continue;
    const last = runs.rows[0];
    const rolledBack = runs.rows.find((r) => r.status === 'rolled_back');
    const planId = p.planId ?? last?.plan_id;
    const state = !last
      ? 'it has never run'
      : completed && rolledBack
        ? `its rows were rolled back (migration ${rolledBack.id})`
        : `its last run, migration ${last.id}, is ${last.status}`;
    const [, sourceName = p.sourceTable] = p.sourceTable.split('.');
    const [, targetName = p.targetTable] = p.targetTable.split('.');
    throw new PlanError(
      'PARENT_NOT_MIGRATED',
      `plan ${plan.id} resolves ${p.columns.join(', ')} through the mappings of the parent migration ${p.sourceTable} → ${p.targetTable}, but ${state}`,
      {
        hint: planId
          ? `run the parent migration first: ferry run .ferry/plans/${planId}.json (or run the plan set that holds both)`
          : `plan and run the parent migration first: ferry plan "move ${sourceName} into ${targetName}", then ferry run <that plan>`,
        details: { parent: p, planId: planId ?? null, lastRun: last ? { id: Number(last.id), status: last.status } : null },
      },
    );
  }
}

/** The new ids of `legacyIds` in one parent migration's mappings. */
export async function lookupParents(db: Queryable, origin: ViaMappingOrigin, legacyIds: string[]): Promise<Map<string, string>> {
  if (legacyIds.length === 0) return new Map();
  const r = await db.query<{ legacy_id: string; new_id: string }>(
    `SELECT legacy_id, new_id FROM ferry_control.migration_mappings WHERE source_table = $1 AND target_table = $2 AND legacy_id = ANY($3::text[])`,
    [origin.parent.sourceTable, origin.parent.targetTable, [...new Set(legacyIds)]],
  );
  return new Map(r.rows.map((x) => [x.legacy_id, x.new_id]));
}

/** Legacy FK values travel as JSON scalars; mappings key them as text. */
export function legacyText(v: unknown): string | null {
  if (v === null || v === undefined) return null;
  return typeof v === 'string' ? v : String(v);
}

export type Resolution = { ok: true; value: string | null; orphan: boolean } | { ok: false; message: string };

/** One reference, decided by the mapping found (or not) and the column's orphan policy. */
export function resolveReference(plan: MigrationPlan, column: string, origin: ViaMappingOrigin, legacyKey: string, legacy: string | null, found: Map<string, string>): Resolution {
  if (legacy === null) return { ok: true, value: null, orphan: false };
  const hit = found.get(legacy);
  if (hit !== undefined) return { ok: true, value: hit, orphan: false };
  if (origin.onOrphan === 'set_null') return { ok: true, value: null, orphan: true };
  const { sourceTable } = planTables(plan);
  return {
    ok: false,
    message: `${sourceTable} row with legacy key ${legacyKey}: ${column} ← ${origin.source} = ${legacy} has no mapping in ${origin.parent.sourceTable} → ${origin.parent.targetTable} (an orphan: no such parent was migrated); the plan says ${origin.onOrphan === 'fail' ? 'fail' : 'decide first (needs review)'}`,
  };
}
