import { viaMappingColumns, type MigrationPlan } from '../core/artifacts/migration-plan.js';
import { planTables } from '../control/control-tables.js';
import { buildWhere, qualified, quoteIdent, type Queryable } from '../core/sql.js';
import { legacyText, lookupParents } from '../core/plan/references.js';
import type { TableInfo } from '../core/artifacts/schema-analysis.js';
import { compileDeriver, programColumns, valueComparer } from '../core/plan/expected-row.js';
import { Problems, type Orphan, type RowFindings } from './findings.js';

/** A column the analysis lacks (derive reports it): values compare by their exact text. */
const UNKNOWN_TYPE = { category: 'other', pgType: '' } as const;

/**
 * Every row re-derived in JavaScript: the source walked with a cursor in key order, the
 * mapped target rows of each chunk looked up beside it. Exact and slow (a round trip per
 * chunk, every value through the driver); validation uses it where the plan has no SQL form
 * (see plan-sql.ts), and `method: 'row_walk'` asks for it. Runs inside the caller's
 * transactions.
 */
export async function walkRows(input: { plan: MigrationPlan; source: Queryable; target: Queryable; targetTable: TableInfo; batchSize?: number }): Promise<RowFindings> {
  const { plan, source, target, targetTable } = input;
  const { sourceTable, targetTable: targetKey } = planTables(plan);
  const pk = plan.target.primaryKey;
  const pkType = targetTable.columns.find((c) => c.name === pk)!.pgType;
  const tgt = qualified(plan.target.schema, plan.target.table);
  const batchSize = input.batchSize ?? 1000;

  const where = buildWhere(plan.source.filters);
  const from = `${qualified(plan.source.schema, plan.source.table)} ${where.sql}`;
  const srcCount = Number((await source.query<{ n: string }>(`SELECT count(*) AS n FROM ${from}`, where.params)).rows[0]?.n ?? 0);
  const q1 = async (sql: string, params: unknown[]) => Number((await target.query<{ n: string }>(sql, params)).rows[0]?.n ?? 0);
  const mappingCount = await q1('SELECT count(*) AS n FROM ferry_control.migration_mappings WHERE source_table = $1 AND target_table = $2', [sourceTable, targetKey]);
  const migrated = await q1(
    `SELECT count(*) AS n FROM ferry_control.migration_mappings m JOIN ${tgt} t ON t.${quoteIdent(pk)} = m.new_id::${pkType} WHERE m.source_table = $1 AND m.target_table = $2`,
    [sourceTable, targetKey],
  );

  const missing = new Problems();
  const content = new Problems();
  let contentRows = 0;
  const fk = new Problems();
  // References through parents' mappings: each must equal the new id its legacy value maps to.
  const refs = viaMappingColumns(plan);
  const orphans: Orphan[] = [];
  let refsChecked = 0;
  // Transform columns are not re-derivable (named in the row_content summary): not fetched, not compared.
  const checked = programColumns(plan)
    .filter((c) => c.origin.kind !== 'transform')
    .map((c) => ({ ...c, same: valueComparer(targetTable.columns.find((x) => x.name === c.target) ?? UNKNOWN_TYPE) }));
  const derive = compileDeriver(plan, targetTable);
  const selectCols = [
    ...checked.map((c) => `t.${quoteIdent(c.target)} AS ${quoteIdent(`c_${c.target}`)}`),
    ...refs.map((r) => `t.${quoteIdent(r.column.target)}::text AS ${quoteIdent(`r_${r.column.target}`)}`),
  ].join(', ');
  const seenKeys = new Set<string>();
  await source.query(`DECLARE ferry_validate NO SCROLL CURSOR FOR SELECT ${plan.source.columns.map(quoteIdent).join(', ')} FROM ${from} ORDER BY ${quoteIdent(plan.source.key)}`, where.params);
  for (;;) {
    const chunk = await source.query(`FETCH ${batchSize} FROM ferry_validate`);
    if (chunk.rows.length === 0) break;
    const keys = chunk.rows.map((r: Record<string, unknown>) => String(r[plan.source.key]));
    for (const k of keys) seenKeys.add(k);
    const rows = await target.query<Record<string, unknown>>(
      `SELECT m.legacy_id, m.new_id, t.${quoteIdent(pk)}::text AS found_pk${selectCols ? `, ${selectCols}` : ''}
         FROM ferry_control.migration_mappings m LEFT JOIN ${tgt} t ON t.${quoteIdent(pk)} = m.new_id::${pkType}
        WHERE m.source_table = $1 AND m.target_table = $2 AND m.legacy_id = ANY($3::text[])`,
      [sourceTable, targetKey, keys],
    );
    const byKey = new Map(rows.rows.map((r) => [String(r.legacy_id), r]));
    for (const { column, origin } of refs) {
      // Both sides are the key's text (the parent's new_id, the column ::text): compared under the column's type.
      const same = valueComparer(targetTable.columns.find((x) => x.name === column.target) ?? UNKNOWN_TYPE);
      const legacyOf = (src: Record<string, unknown>) => legacyText(src[origin.source]);
      const parents = await lookupParents(target, origin, (chunk.rows as Array<Record<string, unknown>>).flatMap((src) => legacyOf(src) ?? []));
      for (const src of chunk.rows as Array<Record<string, unknown>>) {
        const k = String(src[plan.source.key]);
        const t = byKey.get(k);
        if (!t || t.found_pk === null) continue; // counted as missing below
        refsChecked += 1;
        const legacy = legacyOf(src);
        const actual = (t[`r_${column.target}`] as string | null) ?? null;
        const mapped = legacy === null ? null : (parents.get(legacy) ?? null);
        if (legacy !== null && mapped === null) {
          orphans.push({ column: column.target, legacyKey: k, legacyValue: legacy, written: actual, policy: origin.onOrphan });
          if (actual !== null) fk.add(k, `${column.target} is ${actual}, but ${origin.source} = ${legacy} has no ${origin.parent.targetTable} mapping (an orphan), so it should be NULL`);
          continue;
        }
        if (!same(mapped, actual)) {
          fk.add(k, `${column.target} is ${JSON.stringify(actual)}, but ${origin.source} = ${legacy ?? 'NULL'} maps to ${JSON.stringify(mapped)} in ${origin.parent.sourceTable} → ${origin.parent.targetTable}`);
        }
      }
    }
    for (const src of chunk.rows as Array<Record<string, unknown>>) {
      const k = String(src[plan.source.key]);
      const t = byKey.get(k);
      if (!t) {
        missing.add(k, 'source row has no mapping (not migrated)');
        continue;
      }
      if (t.found_pk === null) {
        missing.add(k, `mapping points at ${pk} ${String(t.new_id)}, which does not exist in ${plan.target.table}`);
        continue;
      }
      const expected = derive(src);
      if (!expected.ok) {
        content.add(k, `${expected.column}: ${expected.message}`);
        contentRows += 1;
        continue;
      }
      let differs = false;
      for (const c of checked) {
        const actual = t[`c_${c.target}`];
        if (!c.same(expected.row[c.target], actual)) {
          content.add(k, `${c.target} is ${JSON.stringify(actual)}, expected ${JSON.stringify(expected.row[c.target])}`);
          differs = true;
        }
      }
      if (differs) contentRows += 1;
    }
  }
  await source.query('CLOSE ferry_validate');

  // Mappings whose legacy row is no longer selected by the plan's filter (deleted or changed since).
  const orphanMappings = new Problems();
  const allMapped = await target.query<{ legacy_id: string }>('SELECT legacy_id FROM ferry_control.migration_mappings WHERE source_table = $1 AND target_table = $2', [sourceTable, targetKey]);
  for (const m of allMapped.rows) if (!seenKeys.has(m.legacy_id)) orphanMappings.add(m.legacy_id, 'mapping has no source row under the plan filter');

  for (const d of plan.foreignKeys) {
    const bad = await target.query<{ legacy_id: string; v: string | null; ok: boolean }>(
      `SELECT m.legacy_id, t.${quoteIdent(d.column)}::text AS v, p.${quoteIdent(d.refColumn)} IS NOT NULL AS ok
         FROM ferry_control.migration_mappings m JOIN ${tgt} t ON t.${quoteIdent(pk)} = m.new_id::${pkType}
         LEFT JOIN ${qualified(d.refSchema, d.refTable)} p ON p.${quoteIdent(d.refColumn)} = t.${quoteIdent(d.column)}
        WHERE m.source_table = $1 AND m.target_table = $2 AND (p.${quoteIdent(d.refColumn)} IS NULL OR t.${quoteIdent(d.column)}::text IS DISTINCT FROM $3)`,
      [sourceTable, targetKey, d.value],
    );
    for (const r of bad.rows) {
      fk.add(r.legacy_id, r.ok ? `${d.column} is ${r.v}, the plan decided ${d.value}` : `${d.column} ${r.v} has no ${d.refTable} row`);
    }
  }

  return { sourceRows: srcCount, mappings: mappingCount, migrated, missing, orphanMappings, content, contentRows, fk, orphans, refsChecked };
}
