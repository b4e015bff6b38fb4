import { viaMappingColumns, type MigrationPlan } from '../core/artifacts/migration-plan.js';
import { planTables } from '../control/control-tables.js';
import { qualified, quoteIdent, type Queryable } from '../core/sql.js';
import { planWhere } from '../core/plan/filter-sql.js';
import { legacyText, lookupParents } from '../core/plan/references.js';
import type { TableInfo } from '../core/artifacts/schema-analysis.js';
import { compileDeriver, EXPRESSION_VALUE_PREFIX, programColumns, valueComparer } from '../core/plan/expected-row.js';
import { compileSql, type Typed } from '../core/expr/index.js';
import { Problems, type Orphan, type RowFindings } from './findings.js';
import { isBlankPaddedType, readColumnTypes } from './plan-sql.js';

/** A column the analysis lacks (derive reports it): values compare by their exact text. */
const UNKNOWN_TYPE = { category: 'other', pgType: '' } as const;

type SourceRow = Record<string, unknown>;

/** What the walk needs of the plan and the target, worked out once. */
interface WalkContext {
  plan: MigrationPlan;
  target: Queryable;
  targetTable: TableInfo;
  sourceTable: string;
  targetKey: string;
  pk: string;
  pkType: string;
  /** The target table, qualified. */
  tgt: string;
}

/** The findings gathered chunk by chunk. */
interface WalkTally {
  missing: Problems;
  content: Problems;
  contentRows: number;
  fk: Problems;
  orphans: Orphan[];
  refsChecked: number;
}

/** A checked column, with how its values compare under its type. */
type CheckedColumn = ReturnType<typeof programColumns>[number] & { same: ReturnType<typeof valueComparer> };

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
  const ctx: WalkContext = { plan, target, targetTable, sourceTable, targetKey, pk, pkType, tgt: qualified(plan.target.schema, plan.target.table) };
  const batchSize = input.batchSize ?? 1000;

  // Aliased src: the filter and the expression columns (derived by their SQL compiler in the cursor, see EXPRESSION_VALUE_PREFIX) read the row as src.
  const where = planWhere(plan, { rowAlias: 'src' });
  const from = `${qualified(plan.source.schema, plan.source.table)} AS src ${where.sql}`;
  const srcCount = Number((await source.query<{ n: string }>(`SELECT count(*) AS n FROM ${from}`, where.params)).rows[0]?.n ?? 0);
  const { mappingCount, migrated } = await mappingCounts(ctx);

  const tally: WalkTally = { missing: new Problems(), content: new Problems(), contentRows: 0, fk: new Problems(), orphans: [], refsChecked: 0 };
  // Transform columns are not re-derivable (named in the row_content summary): not fetched, not compared.
  const checked: CheckedColumn[] = programColumns(plan)
    .filter((c) => c.origin.kind !== 'transform')
    .map((c) => ({ ...c, same: valueComparer(targetTable.columns.find((x) => x.name === c.target) ?? UNKNOWN_TYPE) }));
  const derive = compileDeriver(plan, targetTable);
  const seenKeys = new Set<string>();
  const derived = plan.columns.flatMap((c) =>
    c.origin.kind === 'expression' ? [`CAST((${compileSql(c.origin.expr as Typed, { rowAlias: 'src' })}) AS text) AS ${quoteIdent(`${EXPRESSION_VALUE_PREFIX}${c.target}`)}`] : [],
  );
  // Read as the run reads them (prepare.ts sourceColumn): a character(n) value without its padding.
  const types = await readColumnTypes(source, plan.source.schema, plan.source.table);
  const read = (c: string) => (isBlankPaddedType(types.get(c)) ? `src.${quoteIdent(c)}::text AS ${quoteIdent(c)}` : `src.${quoteIdent(c)}`);
  const selected = [...plan.source.columns.map(read), ...derived].join(', ');
  await source.query(`DECLARE ferry_validate NO SCROLL CURSOR FOR SELECT ${selected} FROM ${from} ORDER BY src.${quoteIdent(plan.source.key)}`, where.params);
  for (;;) {
    const chunk = await source.query(`FETCH ${batchSize} FROM ferry_validate`);
    if (chunk.rows.length === 0) break;
    const rows = chunk.rows as SourceRow[];
    const keys = rows.map((r) => String(r[plan.source.key]));
    for (const k of keys) seenKeys.add(k);
    const byKey = await mappedTargetRows(ctx, checked, keys);
    await checkReferences(ctx, rows, byKey, tally);
    checkContent(ctx, rows, byKey, checked, derive, tally);
  }
  await source.query('CLOSE ferry_validate');

  const orphanMappings = await mappingsWithoutSource(ctx, seenKeys);
  await checkFixedForeignKeys(ctx, tally.fk);
  const { missing, content, contentRows, fk, orphans, refsChecked } = tally;
  return { sourceRows: srcCount, mappings: mappingCount, migrated, missing, orphanMappings, content, contentRows, fk, orphans, refsChecked };
}

/** The pair's mappings, and those whose target row exists. */
async function mappingCounts(ctx: WalkContext): Promise<{ mappingCount: number; migrated: number }> {
  const { target, sourceTable, targetKey, pk, pkType, tgt } = ctx;
  const q1 = async (sql: string, params: unknown[]) => Number((await target.query<{ n: string }>(sql, params)).rows[0]?.n ?? 0);
  const mappingCount = await q1('SELECT count(*) AS n FROM ferry_control.migration_mappings WHERE source_table = $1 AND target_table = $2', [sourceTable, targetKey]);
  const migrated = await q1(
    `SELECT count(*) AS n FROM ferry_control.migration_mappings m JOIN ${tgt} t ON t.${quoteIdent(pk)} = m.new_id::${pkType} WHERE m.source_table = $1 AND m.target_table = $2`,
    [sourceTable, targetKey],
  );
  return { mappingCount, migrated };
}

const isJson = (ctx: WalkContext, column: string) => ctx.targetTable.columns.find((x) => x.name === column)?.category === 'json';

/** The mappings of a chunk's legacy keys and their target rows (found_pk null where none), by legacy key. */
async function mappedTargetRows(ctx: WalkContext, checked: CheckedColumn[], keys: string[]): Promise<Map<string, SourceRow>> {
  const { target, sourceTable, targetKey, pk, pkType, tgt } = ctx;
  const selectCols = [
    // json/jsonb as text, as the source reads it: JSON.parse would round its numbers before the comparison.
    ...checked.map((c) => `t.${quoteIdent(c.target)}${isJson(ctx, c.target) ? '::text' : ''} AS ${quoteIdent(`c_${c.target}`)}`),
    ...viaMappingColumns(ctx.plan).map((r) => `t.${quoteIdent(r.column.target)}::text AS ${quoteIdent(`r_${r.column.target}`)}`),
  ].join(', ');
  const rows = await target.query<SourceRow>(
    `SELECT m.legacy_id, m.new_id, t.${quoteIdent(pk)}::text AS found_pk${selectCols ? `, ${selectCols}` : ''}
       FROM ferry_control.migration_mappings m LEFT JOIN ${tgt} t ON t.${quoteIdent(pk)} = m.new_id::${pkType}
      WHERE m.source_table = $1 AND m.target_table = $2 AND m.legacy_id = ANY($3::text[])`,
    [sourceTable, targetKey, keys],
  );
  return new Map(rows.rows.map((r) => [String(r.legacy_id), r]));
}

/** References through parents' mappings: each must equal the new id its legacy value maps to. */
async function checkReferences(ctx: WalkContext, rows: SourceRow[], byKey: Map<string, SourceRow>, tally: WalkTally): Promise<void> {
  const { plan, target, targetTable } = ctx;
  for (const { column, origin } of viaMappingColumns(plan)) {
    // Both sides are the key's text (the parent's new_id, the column ::text): compared under the column's type.
    const same = valueComparer(targetTable.columns.find((x) => x.name === column.target) ?? UNKNOWN_TYPE);
    const legacyOf = (src: SourceRow) => legacyText(src[origin.source]);
    const parents = await lookupParents(target, origin, rows.flatMap((src) => legacyOf(src) ?? []));
    for (const src of rows) {
      const k = String(src[plan.source.key]);
      const t = byKey.get(k);
      if (!t || t.found_pk === null) continue; // counted as missing below
      tally.refsChecked += 1;
      const legacy = legacyOf(src);
      const actual = (t[`r_${column.target}`] as string | null) ?? null;
      const mapped = legacy === null ? null : (parents.get(legacy) ?? null);
      if (legacy !== null && mapped === null) {
        tally.orphans.push({ column: column.target, legacyKey: k, legacyValue: legacy, written: actual, policy: origin.onOrphan });
        if (actual !== null) tally.fk.add(k, `${column.target} is ${actual}, but ${origin.source} = ${legacy} has no ${origin.parent.targetTable} mapping (an orphan), so it should be NULL`);
        continue;
      }
      if (!same(mapped, actual)) {
        tally.fk.add(k, `${column.target} is ${JSON.stringify(actual)}, but ${origin.source} = ${legacy ?? 'NULL'} maps to ${JSON.stringify(mapped)} in ${origin.parent.sourceTable} → ${origin.parent.targetTable}`);
      }
    }
  }
}

/** Each source row of a chunk: mapped to a live target row, and that row equal to the one re-derived from it. */
function checkContent(ctx: WalkContext, rows: SourceRow[], byKey: Map<string, SourceRow>, checked: CheckedColumn[], derive: ReturnType<typeof compileDeriver>, tally: WalkTally): void {
  const { plan, pk } = ctx;
  for (const src of rows) {
    const k = String(src[plan.source.key]);
    const t = byKey.get(k);
    if (!t) {
      tally.missing.add(k, 'source row has no mapping (not migrated)');
      continue;
    }
    if (t.found_pk === null) {
      tally.missing.add(k, `mapping points at ${pk} ${String(t.new_id)}, which does not exist in ${plan.target.table}`);
      continue;
    }
    const expected = derive(src);
    if (!expected.ok) {
      tally.content.add(k, `${expected.column}: ${expected.message}`);
      tally.contentRows += 1;
      continue;
    }
    let differs = false;
    for (const c of checked) {
      const actual = t[`c_${c.target}`];
      if (!c.same(expected.row[c.target], actual)) {
        tally.content.add(k, `${c.target} is ${JSON.stringify(actual)}, expected ${JSON.stringify(expected.row[c.target])}`);
        differs = true;
      }
    }
    if (differs) tally.contentRows += 1;
  }
}

/** Mappings whose legacy row is no longer selected by the plan's filter (deleted or changed since). */
async function mappingsWithoutSource(ctx: WalkContext, seenKeys: Set<string>): Promise<Problems> {
  const orphanMappings = new Problems();
  const allMapped = await ctx.target.query<{ legacy_id: string }>('SELECT legacy_id FROM ferry_control.migration_mappings WHERE source_table = $1 AND target_table = $2', [ctx.sourceTable, ctx.targetKey]);
  for (const m of allMapped.rows) if (!seenKeys.has(m.legacy_id)) orphanMappings.add(m.legacy_id, 'mapping has no source row under the plan filter');
  return orphanMappings;
}

/** Fixed FK values: every migrated row holds the decided value, and a parent row has it. */
async function checkFixedForeignKeys(ctx: WalkContext, fk: Problems): Promise<void> {
  const { plan, target, sourceTable, targetKey, pk, pkType, tgt } = ctx;
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
}
