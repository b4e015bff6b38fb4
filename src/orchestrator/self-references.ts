import type pg from 'pg';
import { isSelfReference, viaMappingColumns, type MigrationPlan } from '../core/artifacts/migration-plan.js';
import type { TableInfo } from '../core/artifacts/schema-analysis.js';
import { planTables } from '../control/control-tables.js';
import { qualified, quoteIdent } from '../core/sql.js';
import { lookupParents, legacyText, resolveReference } from '../core/plan/references.js';
import type { SourceQuery } from './prepare.js';
import { BatchFailure } from './write-batch.js';
import { beginWrite } from '../target/timeouts.js';

export interface SelfReferenceResolved {
  type: 'self_reference_resolved';
  column: string;
  updated: number;
  orphans: number;
}

/**
 * Self-references (employees.reports_to) in a second pass: the first pass wrote them NULL,
 * because a row's parent may come in a later batch, or later in the same one. Now every row
 * of the run has its new id, so one transaction sets each reference through the mappings.
 * It walks every source row under the filter in the run's snapshot, not only this run's, so
 * a run resumed after a failure finishes what the earlier one left NULL; rows already right
 * are not touched. Chosen over ordering rows parents-first (a recursive CTE) because that
 * needs no change to the key-ordered cursor that re-runs rely on, handles any depth and even
 * cycles in the data, and keeps a batch independent of the others.
 */
export async function resolveSelfReferences(
  source: pg.Client,
  db: pg.Client,
  plan: MigrationPlan,
  targetTable: TableInfo,
  migrationId: number,
  q: SourceQuery,
): Promise<SelfReferenceResolved[]> {
  const selfRefs = viaMappingColumns(plan).filter((r) => isSelfReference(plan, r.origin));
  if (selfRefs.length === 0) return [];
  const { sourceTable, targetTable: targetKey } = planTables(plan);
  const pk = plan.target.primaryKey;
  const pkType = targetTable.columns.find((c) => c.name === pk)!.pgType;
  const table = qualified(plan.target.schema, plan.target.table);
  const events: SelfReferenceResolved[] = [];
  await beginWrite(db);
  try {
    for (const { column, origin } of selfRefs) {
      const colType = targetTable.columns.find((c) => c.name === column.target)!.pgType;
      await source.query(`DECLARE ferry_self NO SCROLL CURSOR FOR SELECT ${quoteIdent(plan.source.key)}::text AS k, ${q.column(origin.source)} AS v FROM ${q.from}`, q.where.params);
      let updated = 0;
      let orphans = 0;
      for (;;) {
        const chunk = await source.query<{ k: string; v: unknown }>('FETCH 1000 FROM ferry_self');
        if (chunk.rows.length === 0) break;
        const withRef = chunk.rows.filter((r) => r.v !== null);
        if (withRef.length === 0) continue;
        const children = await db.query<{ legacy_id: string; new_id: string }>(
          'SELECT legacy_id, new_id FROM ferry_control.migration_mappings WHERE source_table = $1 AND target_table = $2 AND legacy_id = ANY($3::text[])',
          [sourceTable, targetKey, withRef.map((r) => r.k)],
        );
        const childIds = new Map(children.rows.map((c) => [c.legacy_id, c.new_id]));
        const parents = await lookupParents(db, origin, withRef.map((r) => legacyText(r.v)!));
        const ids: string[] = [];
        const values: Array<string | null> = [];
        for (const r of withRef) {
          const child = childIds.get(r.k);
          if (child === undefined) continue; // not migrated (a failed batch): nothing to point from
          const res = resolveReference(plan, column.target, origin, r.k, legacyText(r.v), parents);
          if (!res.ok) throw new BatchFailure('FK_ORPHAN', res.message, r.k);
          if (res.orphan) orphans += 1;
          ids.push(child);
          values.push(res.value);
        }
        if (ids.length === 0) continue;
        const col = quoteIdent(column.target);
        const u = await db.query(
          `UPDATE ${table} t SET ${col} = u.p::${colType} FROM unnest($1::text[], $2::text[]) AS u(c, p)
            WHERE t.${quoteIdent(pk)} = u.c::${pkType} AND t.${col} IS DISTINCT FROM u.p::${colType}`,
          [ids, values],
        );
        updated += u.rowCount ?? 0;
      }
      await source.query('CLOSE ferry_self');
      events.push({ type: 'self_reference_resolved', column: column.target, updated, orphans });
    }
    await db.query('UPDATE ferry_control.migration_control SET heartbeat_at = now() WHERE id = $1', [migrationId]);
    await db.query('COMMIT');
  } catch (e) {
    await db.query('ROLLBACK').catch(() => undefined);
    throw e;
  }
  return events;
}
