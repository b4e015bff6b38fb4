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

/** Inside the caller's transaction on the source (its snapshot; a cursor reads the rows). */
export async function checkRelationships(input: {
  plan: MigrationPlan;
  source: Queryable;
  target: Queryable;
  targetTable: TableInfo;
  /** Source rows per round trip (default 10,000). */
  chunkRows?: number;
  /**
   * The migrations under validation: their rows count as a parent's whatever their control
   * row says yet (a self-referencing table's run is validated before its row says completed,
   * while its sandbox exits: src/run/execute-run.ts).
   */
  migrationIds?: readonly number[];
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
      `SELECT DISTINCT target_table FROM ferry_control.migration_control WHERE source_table = $1 AND (status = 'completed' OR id = ANY($2::bigint[])) ORDER BY 1`,
      [parentSourceTable, [...(input.migrationIds ?? [])]],
    );
    const parentTargets = runs.rows.map((r) => r.target_table);
    // The target columns that can hold this relationship: FKs into a table the legacy parent became.
    const cols = targetTable.foreignKeys.filter((f) => f.columns.length === 1 && parentTargets.includes(`${f.refSchema}.${f.refTable}`));
    if (cols.length === 0) {
      const rows = withValue(plan, fk.column);
      const n = await source.query<{ n: string }>(`SELECT count(*) AS n ${rows.sql}`, rows.params);
      results.push({ sourceColumn: fk.column, parentSourceTable, parentTargetTable: parentTargets[0] ?? null, targetColumns: [], withLegacyValue: Number(n.rows[0]?.n ?? 0), carried: 0, orphans: 0 });
      // Nothing in the target can hold it: said in the summary, not failed; the schema decided, not the plan.
      continue;
    }
    const parentTargetTable = `${cols[0]!.refSchema}.${cols[0]!.refTable}`;
    const pkType = targetTable.columns.find((c) => c.name === plan.target.primaryKey)!.pgType;
    const refs = cols.map((c) => c.columns[0]!);
    const counted = await followReferences({ plan, source, target, fk, pkType, chunkRows: input.chunkRows ?? CHUNK, refs, pair: [sourceTable, targetKey, parentSourceTable, parentTargetTable], problems });
    results.push({ sourceColumn: fk.column, parentSourceTable, parentTargetTable, targetColumns: refs, ...counted });
  }
  return { results, problems };
}

/** `FROM … WHERE …`: the plan's source rows whose `column` holds a value. */
function withValue(plan: MigrationPlan, column: string): { sql: string; params: unknown[] } {
  const w = planWhere(plan);
  return { sql: `FROM ${qualified(plan.source.schema, plan.source.table)} ${w.sql ? `${w.sql} AND` : 'WHERE'} ${quoteIdent(column)} IS NOT NULL`, params: w.params };
}

/** Source rows read per round trip: memory stays bounded however many rows the run moved. */
const CHUNK = 10_000;

/**
 * One legacy FK followed for every source row with a value, a chunk at a time (a cursor in
 * the caller's source snapshot, in key order): per row, whether it was migrated, the new id
 * its legacy parent was migrated to (looked up by legacy id, the mappings' unique key), and
 * what the target row's reference columns hold. Carried when one of them holds that id. The
 * next chunk is read from the source while the target looks up this one.
 */
async function followReferences(input: {
  plan: MigrationPlan;
  source: Queryable;
  target: Queryable;
  fk: LegacyFk;
  /** The target key's type: mappings' new ids are cast to it to find the row by its key. */
  pkType: string;
  chunkRows: number;
  refs: string[];
  /** The child's and the parent's mapping pairs: source table, target table, twice. */
  pair: [string, string, string, string];
  problems: Problems;
}): Promise<{ withLegacyValue: number; carried: number; orphans: number }> {
  const { plan, source, fk } = input;
  const rows = withValue(plan, fk.column);
  const cursor = `ferry_relationships_${fk.column.replace(/[^a-z0-9_]/gi, '_').slice(0, 40)}`;
  await source.query(
    `DECLARE ${quoteIdent(cursor)} NO SCROLL CURSOR FOR
       SELECT ${quoteIdent(plan.source.key)}::text AS k, ${quoteIdent(fk.column)}::text AS v ${rows.sql} ORDER BY ${quoteIdent(plan.source.key)}`,
    rows.params,
  );
  const fetch = () => source.query<{ k: string; v: string }>(`FETCH ${input.chunkRows} FROM ${quoteIdent(cursor)}`).then((r) => r.rows);
  const tally = { withLegacyValue: 0, carried: 0, orphans: 0 };
  try {
    let chunk = await fetch();
    while (chunk.length) {
      const [next, looked] = await Promise.all([chunk.length === input.chunkRows ? fetch() : Promise.resolve([]), lookUp(input, chunk)]);
      await tallyChunk(input, looked, tally);
      chunk = next;
    }
  } finally {
    await source.query(`CLOSE ${quoteIdent(cursor)}`).catch(() => undefined);
  }
  return tally;
}

type Looked = { k: string; v: string; migrated: boolean; parent_new: string | null; held: Array<string | null> };

/** A chunk's rows looked up on the target, in the chunk's order. */
async function lookUp(input: { plan: MigrationPlan; target: Queryable; pkType: string; refs: string[]; pair: [string, string, string, string] }, chunk: Array<{ k: string; v: string }>): Promise<Looked[]> {
  const { plan, refs } = input;
  const pk = quoteIdent(plan.target.primaryKey);
  const r = await input.target.query<Looked>(
    `SELECT x.k, x.v, cm.legacy_id IS NOT NULL AND t.${pk} IS NOT NULL AS migrated, pm.new_id AS parent_new,
            ARRAY[${refs.map((c) => `t.${quoteIdent(c)}::text`).join(', ')}]::text[] AS held
       FROM unnest($5::text[], $6::text[]) WITH ORDINALITY AS x(k, v, n)
       LEFT JOIN ferry_control.migration_mappings cm ON cm.source_table = $1 AND cm.target_table = $2 AND cm.legacy_id = x.k
       LEFT JOIN ${qualified(plan.target.schema, plan.target.table)} t ON t.${pk} = cm.new_id::${input.pkType}
       LEFT JOIN ferry_control.migration_mappings pm ON pm.source_table = $3 AND pm.target_table = $4 AND pm.legacy_id = x.v
      ORDER BY x.n`,
    [...input.pair, chunk.map((c) => c.k), chunk.map((c) => c.v)],
  );
  return r.rows;
}

async function tallyChunk(
  input: { target: Queryable; fk: LegacyFk; refs: string[]; pair: [string, string, string, string]; problems: Problems },
  looked: Looked[],
  tally: { withLegacyValue: number; carried: number; orphans: number },
): Promise<void> {
  const dropped: Looked[] = [];
  for (const row of looked) {
    if (!row.migrated) continue; // a source row without its target row: the mapping checks name it
    tally.withLegacyValue += 1;
    if (row.parent_new === null) tally.orphans += 1;
    else if (row.held.includes(row.parent_new)) tally.carried += 1;
    else dropped.push(row);
  }
  if (dropped.length === 0) return;
  // What the references hold instead, as legacy parent ids: looked up only for the rows that failed.
  const [, , parentSourceTable, parentTargetTable] = input.pair;
  const held = [...new Set(dropped.flatMap((r) => r.held.filter((h): h is string => h !== null)))];
  const back = await input.target.query<{ legacy_id: string; new_id: string }>(
    'SELECT legacy_id, new_id FROM ferry_control.migration_mappings WHERE source_table = $1 AND target_table = $2 AND new_id = ANY($3::text[])',
    [parentSourceTable, parentTargetTable, held],
  );
  const legacyOf = new Map(back.rows.map((b) => [b.new_id, b.legacy_id]));
  for (const row of dropped) {
    const now = input.refs.map((r, i) => `${r} = ${row.held[i] === null ? 'NULL' : `the ${parentTargetTable} row of legacy ${legacyOf.get(row.held[i]!) ?? '(unmapped id)'}`}`).join(', ');
    input.problems.add(row.k, `${input.fk.column} = ${row.v} points at legacy ${parentSourceTable} ${row.v}, migrated to ${parentTargetTable}; but ${now}: the relationship was dropped`);
  }
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
