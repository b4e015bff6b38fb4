import { assertSourceValidates } from '../core/plan/source-version.js';
import { performance } from 'node:perf_hooks';
import { contentHash } from '../core/artifacts/hash.js';
import { MigrationPlan, viaMappingColumns, type ViaMappingOrigin } from '../core/artifacts/migration-plan.js';
import type { TableInfo } from '../core/artifacts/schema-analysis.js';
import { ValidationReport, type ValidationCheck } from '../core/artifacts/validation-report.js';
import { getControl, planTables } from '../control/control-tables.js';
import { qualified, quoteIdent, type Queryable } from '../core/sql.js';
import { NotFoundError } from '../core/errors.js';
import { lookupParents } from '../core/plan/references.js';
import { notRederived, programColumns } from '../core/plan/expected-row.js';
import { Problems, type Orphan, type RowFindings } from './findings.js';
import { compilePlan, INVALID, TEXT_SETTINGS_SQL, PlanSqlUnsupported, readColumnTypes, type CompiledColumn, type PlanSql } from './plan-sql.js';
import { fetchRows, planRelations, probeSegments, rangeDiff, unmappedValues, type RangeDiffStats, type RowTexts } from './range-diff.js';
import { walkRows } from './walk.js';
import { appVisibility } from '../target/app-visibility.js';
import type { DataApiSettings } from '../target/data-api.js';
import { checkRelationships, relationshipSummary } from './relationships.js';
import { step } from '../core/steps.js';

export type ValidationMethod = 'range_checksum' | 'row_walk';

/**
 * Validates a migration run against the source as it is now: counts, mappings both ways,
 * every row's content re-derived from its source row (not a sample), the enum
 * distribution and FK integrity. The report is an artifact; nothing is written.
 *
 * Rows are compared by range checksums (range-diff.ts): the plan compiled into SQL derives
 * each row's expected text on the source, the target's rows are read through the mappings,
 * and only key ranges whose checksums differ are narrowed down to the rows that differ.
 * Where the plan has no SQL form, or the source holds a value SQL cannot cast, rows are
 * re-derived one by one in JavaScript instead (walk.ts); the report says which was used.
 */
export async function validateMigration(input: {
  migrationId: number;
  source: Queryable;
  target: Queryable;
  /** The target table as the plan's analysis has it (chain.ts targetTableOf): its key's type and columns. */
  targetTable: TableInfo;
  batchSize?: number;
  /** Default range_checksum (falls back to row_walk where it cannot be used). */
  method?: ValidationMethod;
  /** The user id `authenticated` reads as in the app-visibility section (--as-user). */
  asUser?: string | null;
  /** SUPABASE_URL and keys: the app-visibility section also reads through the Data API. */
  dataApi?: DataApiSettings | undefined;
  /**
   * The migrations that make up "this run" (default: migrationId alone). A queued run writes
   * one table through several: one per key range and attempt, all of which it inserted.
   */
  runMigrationIds?: readonly number[];
}): Promise<ValidationReport> {
  const { source, target, targetTable } = input;
  const control = await getControl(target, input.migrationId);
  if (!control) {
    throw new NotFoundError('MIGRATION_NOT_FOUND', `there is no migration ${input.migrationId} in migration_control`, {
      hint: 'list runs with: ferry runs',
    });
  }
  const plan = MigrationPlan.parse(control.plan);
  await assertSourceValidates(source, plan);
  const { sourceTable, targetTable: targetKey } = planTables(plan);
  const pk = plan.target.primaryKey;
  const pkType = targetTable.columns.find((c) => c.name === pk)!.pgType;
  const tgt = qualified(plan.target.schema, plan.target.table);

  // One snapshot per side, and the same text output on both (the checksums compare texts):
  // each side's in one round trip, both sides at once (two connections, two servers maybe).
  await openSnapshots(source, target);
  try {
    const compared = await compareRows({ plan, source, target, targetTable, method: input.method ?? 'range_checksum', batchSize: input.batchSize });
    step('validate.rows');
    const { findings } = compared;
    const q1 = async (sql: string, params: unknown[]) => Number((await target.query<{ n: string }>(sql, params)).rows[0]?.n ?? 0);
    const runIds = input.runMigrationIds?.length ? [...input.runMigrationIds] : [control.id];
    const insertedByRun = await q1('SELECT count(*) AS n FROM ferry_control.migration_mappings WHERE migration_id = ANY($1::bigint[])', [runIds]);
    const targetTotal = await q1(`SELECT count(*) AS n FROM ${tgt}`, []);
    const { distributions, enumProblems } = await enumDistributions({ plan, source, target, mapped: { sourceTable, targetKey, pkType }, findings, compiled: compared.compiled });
    const checks = rowChecks(plan, compared, distributions, enumProblems);
    const rel = await checkRelationships({ plan, source, target, targetTable, migrationIds: runIds });
    step('validate.relationships');
    if (rel.results.length) checks.push(check('relationships', rel.problems.count === 0, relationshipSummary(rel.results), rel.problems));
    await Promise.all([source.query('COMMIT'), target.query('COMMIT')]);
    // Information about what the app will read (Supabase's roles); never changes the status.
    const visibility = await appVisibility({ db: target, plan, migrationId: control.id, migrationIds: runIds, asUser: input.asUser ?? null, dataApi: input.dataApi });
    step('validate.visibility');
    const refs = viaMappingColumns(plan);
    return ValidationReport.parse({
      kind: 'validation_report',
      version: 1,
      createdAt: new Date().toISOString(),
      migrationId: control.id,
      planHash: contentHash(plan),
      status: checks.every((c) => c.status === 'pass') ? 'passed' : 'failed',
      counts: { source: findings.sourceRows, migrated: findings.migrated, mappings: findings.mappings, insertedByRun, targetTotal },
      distributions,
      checks,
      ...(refs.length ? { orphans: findings.orphans } : {}),
      method: compared.method,
      ...(compared.scan ? { scan: compared.scan } : {}),
      ...(visibility ? { appVisibility: visibility } : {}),
    });
  } catch (e) {
    await source.query('ROLLBACK').catch(() => undefined);
    await target.query('ROLLBACK').catch(() => undefined);
    throw e;
  }
}

/** Both sides' read-only snapshots with the same text settings, side by side; neither is left open when the other fails. */
async function openSnapshots(source: Queryable, target: Queryable): Promise<void> {
  const open = `BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY; ${TEXT_SETTINGS_SQL}`;
  const opened = await Promise.allSettled([source.query(open), target.query(open)]);
  const failed = opened.find((o): o is PromiseRejectedResult => o.status === 'rejected');
  if (!failed) return;
  await Promise.all([source.query('ROLLBACK').catch(() => undefined), target.query('ROLLBACK').catch(() => undefined)]);
  throw failed.reason;
}

/** How the rows were compared, and what that found. */
interface ComparedRows {
  method: ValidationMethod;
  /** Why range checksums could not be used, when the walk stood in for them. */
  fallback?: string;
  findings: RowFindings;
  scan?: RangeDiffStats;
  compiled?: PlanSql;
}

/**
 * Every row compared: by range checksums when asked and possible, else walked row by row.
 * Inside the caller's transactions (a savepoint undoes a range attempt that fails).
 */
async function compareRows(input: {
  plan: MigrationPlan;
  source: Queryable;
  target: Queryable;
  targetTable: TableInfo;
  method: ValidationMethod;
  batchSize: number | undefined;
}): Promise<ComparedRows> {
  const { plan, source, target, targetTable } = input;
  let fallback: string | undefined;
  if (input.method === 'range_checksum') {
    try {
      await Promise.all([source.query('SAVEPOINT ferry_range'), target.query('SAVEPOINT ferry_range')]);
      const r = await compareByRanges({ plan, compile: await planCompiler(plan, source, target), source, target });
      return { method: 'range_checksum', findings: r.findings, scan: r.stats, compiled: r.sql };
    } catch (e) {
      const sqlState = (e as { code?: unknown }).code;
      // The plan has no SQL form, or a source value stopped a cast (22xxx), or an expression has no function (42883).
      if (!(e instanceof PlanSqlUnsupported) && !(typeof sqlState === 'string' && (sqlState.startsWith('22') || sqlState === '42883' || sqlState === '42846'))) throw e;
      await Promise.all([source.query('ROLLBACK TO SAVEPOINT ferry_range'), target.query('ROLLBACK TO SAVEPOINT ferry_range')]);
      fallback = (e as Error).message;
    }
  }
  const findings = await walkRows({ plan, source, target, targetTable, ...(input.batchSize === undefined ? {} : { batchSize: input.batchSize }) });
  return { method: 'row_walk', findings, ...(fallback === undefined ? {} : { fallback }) };
}

/** compilePlan for these two servers: their column types, and the hash and casts both versions support. */
async function planCompiler(plan: MigrationPlan, source: Queryable, target: Queryable): Promise<(orphanValues?: ReadonlyMap<string, readonly string[]>) => PlanSql> {
  const versionOf = async (db: Queryable) => Number((await db.query<{ v: string }>(`SELECT current_setting('server_version_num') AS v`)).rows[0]?.v ?? 0);
  // Each side's two reads on its own connection, both sides at once.
  const side = async (db: Queryable, schema: string, table: string) => ({ version: await versionOf(db), types: await readColumnTypes(db, schema, table) });
  const [src, tgt] = await Promise.all([side(source, plan.source.schema, plan.source.table), side(target, plan.target.schema, plan.target.table)]);
  const version = src.version;
  const hash = version >= 110000 && tgt.version >= 110000 ? 'hashtextextended' : 'md5';
  const sourceTypes = src.types;
  const targetTypes = tgt.types;
  return (orphanValues) => compilePlan(plan, sourceTypes, targetTypes, { safeCasts: version >= 160000, hash, ...(orphanValues ? { orphanValues } : {}) });
}

/** Each enum column's values on the target, and where they differ from what the plan's mapping of the profiled source gives. */
async function enumDistributions(input: {
  plan: MigrationPlan;
  source: Queryable;
  target: Queryable;
  /** The mapping pair, and the type of the target's key the mappings' new ids cast to. */
  mapped: MappedPair;
  findings: RowFindings;
  compiled: PlanSql | undefined;
}): Promise<{ distributions: ValidationReport['distributions']; enumProblems: Problems }> {
  const { plan, findings, compiled } = input;
  const distributions: ValidationReport['distributions'] = [];
  const enumProblems = new Problems();
  // When the checksums found every source row migrated once and equal to what the plan
  // derives, the target's distribution is the plan's over the source rows: counted there,
  // a scan of one table instead of a second join of a million mappings to their rows.
  const exact = compiled !== undefined && findings.missing.count === 0 && findings.orphanMappings.count === 0 && findings.contentRows === 0 && findings.sourceRows === findings.migrated;
  for (const m of plan.enumMappings) {
    const col = exact ? compiled.columns.find((c) => c.target === m.targetColumn && c.role === 'content') : undefined;
    const dist = col ? await distributionOnSource(input.source, compiled!, col) : await distributionOnTarget(input, m.targetColumn);
    const values = dist.map((r) => ({ value: r.value, count: Number(r.n) }));
    distributions.push({ column: m.targetColumn, values });
    const expected = new Map<string, number>();
    for (const v of m.values) if (v.target) expected.set(v.target, (expected.get(v.target) ?? 0) + v.count);
    for (const v of values) {
      if (v.value === null || !m.enumValues.includes(v.value)) enumProblems.add(null, `${m.targetColumn} holds ${JSON.stringify(v.value)}, not a ${m.enumType} value`);
      const want = expected.get(v.value ?? '') ?? 0;
      if (want !== v.count) enumProblems.add(null, `${m.targetColumn} = ${v.value}: ${v.count} rows, the plan's mapping of the profiled source gives ${want}`);
    }
    for (const [value, want] of expected) {
      if (!values.some((v) => v.value === value)) enumProblems.add(null, `${m.targetColumn} = ${value}: 0 rows, the plan's mapping gives ${want}`);
    }
  }
  return { distributions, enumProblems };
}

type DistributionRow = { value: string | null; n: string };
type MappedPair = { sourceTable: string; targetKey: string; pkType: string };

async function distributionOnSource(source: Queryable, compiled: PlanSql, col: PlanSql['columns'][number]): Promise<DistributionRow[]> {
  const r = await source.query<DistributionRow>(
    `SELECT ${col.srcExpr} AS value, count(*) AS n FROM ${compiled.source.table} src ${compiled.source.where.sql} GROUP BY 1 ORDER BY 2 DESC, 1`,
    compiled.source.where.params,
  );
  return r.rows;
}

async function distributionOnTarget(input: { plan: MigrationPlan; target: Queryable; mapped: MappedPair }, column: string): Promise<DistributionRow[]> {
  const { plan, target } = input;
  const { sourceTable, targetKey, pkType } = input.mapped;
  const pk = plan.target.primaryKey;
  const r = await target.query<DistributionRow>(
    `SELECT t.${quoteIdent(column)}::text AS value, count(*) AS n
       FROM ferry_control.migration_mappings mm JOIN ${qualified(plan.target.schema, plan.target.table)} t ON t.${quoteIdent(pk)} = mm.new_id::${pkType}
      WHERE mm.source_table = $1 AND mm.target_table = $2 GROUP BY 1 ORDER BY 2 DESC, 1`,
    [sourceTable, targetKey],
  );
  return r.rows;
}

function check(name: ValidationCheck['name'], ok: boolean, summary: string, p: Problems = new Problems()): ValidationCheck {
  return { name, status: ok ? 'pass' : 'fail', summary, problems: p.list, more: p.more };
}

/** The checks of the rows' comparison: counts, mappings both ways, content, enum distribution and FK integrity. */
function rowChecks(plan: MigrationPlan, compared: ComparedRows, distributions: ValidationReport['distributions'], enumProblems: Problems): ValidationCheck[] {
  const { missing, orphanMappings, content, fk, sourceRows: srcCount, mappings: mappingCount, migrated } = compared.findings;
  const checks: ValidationCheck[] = [];
  const countOk = srcCount === mappingCount && mappingCount === migrated;
  checks.push(check('count_match', countOk, `source ${srcCount}, mappings ${mappingCount}, target rows through mappings ${migrated}`));
  const both = new Problems();
  for (const p of [...missing.list, ...orphanMappings.list]) both.add(p.legacyKey, p.message);
  both.more += missing.more + orphanMappings.more;
  checks.push(
    check(
      'mapping_completeness',
      missing.count === 0 && orphanMappings.count === 0,
      `${missing.count} source row(s) without a live mapping, ${orphanMappings.count} mapping(s) without a source row`,
      both,
    ),
  );
  checks.push(check('row_content', content.count === 0, rowContentSummary(plan, compared), content));
  if (plan.enumMappings.length) {
    checks.push(
      check(
        'enum_distribution',
        enumProblems.count === 0,
        distributions.map((d) => `${d.column}: ${d.values.map((v) => `${v.value} ${v.count}`).join(', ')}`).join('; '),
        enumProblems,
      ),
    );
  }
  const refs = viaMappingColumns(plan);
  if (plan.foreignKeys.length || refs.length) checks.push(check('fk_integrity', fk.count === 0, fkSummary(plan, compared.findings), fk));
  return checks;
}

function rowContentSummary(plan: MigrationPlan, compared: ComparedRows): string {
  const { migrated, contentRows } = compared.findings;
  const { scan, fallback } = compared;
  const typeOnly = notRederived(plan).map((c) => c.target);
  return (
    `${migrated - contentRows}/${migrated} rows re-derived from their source rows and equal (${programColumns(plan).length - typeOnly.length} columns each)` +
    (compared.method === 'range_checksum' && scan
      ? `, compared by range checksums (${scan.segments} segment(s) in ${scan.levels} level(s), ${scan.rowsFetched} row(s) fetched, ${scan.ms} ms)`
      : `, compared row by row${fallback ? ` (range checksums not usable: ${fallback})` : ''}`) +
    (typeOnly.length ? `; ${typeOnly.join(', ')} written by a model's function: checked by type and nullability only, not re-derived` : '')
  );
}

function fkSummary(plan: MigrationPlan, findings: RowFindings): string {
  const { migrated, fk, orphans, refsChecked } = findings;
  const refs = viaMappingColumns(plan);
  const parts: string[] = [];
  if (plan.foreignKeys.length) parts.push(`${migrated - fk.count}/${migrated} rows point at an existing parent and the decided value`);
  if (refs.length) {
    parts.push(
      `${refsChecked} reference(s) in ${refs.map((r) => r.column.target).join(', ')} checked through the parents' mappings, ${orphans.length} orphan(s)${orphans.length ? ` (legacy keys ${orphans.slice(0, 10).map((o) => o.legacyKey).join(', ')}${orphans.length > 10 ? ', …' : ''}) written NULL` : ''}`,
    );
  }
  return parts.join('; ');
}

const show = (v: string | null) => (v === null ? 'NULL' : JSON.stringify(v));

/**
 * Rows compared by range checksums, then the rows that differ named by legacy key and, for
 * content, by column: what the target holds and what the plan says it must.
 */
async function compareByRanges(input: {
  plan: MigrationPlan;
  compile: (orphanValues?: ReadonlyMap<string, readonly string[]>) => PlanSql;
  source: Queryable;
  target: Queryable;
}): Promise<{ findings: RowFindings; stats: RangeDiffStats; sql: PlanSql }> {
  const { plan, source, target } = input;
  const first = input.compile();
  const t0 = performance.now();
  const { sql, known, setNull } = await withOrphanValues(input, first);
  const extraMs = Math.round(performance.now() - t0);
  const d = await rangeDiff({ source, target, spec: planRelations(sql) });
  d.stats.ms += extraMs;
  const missing = new Problems();
  const orphanMappings = new Problems();
  const pk = plan.target.primaryKey;
  // Source order: not migrated and dangling mappings, by legacy key.
  const absent = [...d.missing.map((k) => ({ key: k, newId: null as string | null })), ...d.dangling].sort((a, b) => sql.compareKeys(a.key, b.key));
  for (const m of absent) {
    missing.add(m.key, m.newId === null ? 'source row has no mapping (not migrated)' : `mapping points at ${pk} ${m.newId}, which does not exist in ${plan.target.table}`);
  }
  for (const x of d.extra) orphanMappings.add(x.key, 'mapping has no source row under the plan filter');

  // Rows with a known orphan value that compared equal: written NULL, as set_null says.
  const skip = new Set([...d.differs, ...absent.map((a) => a.key)]);
  const orphans = await knownOrphans(source, sql, setNull, known, skip);
  const diff = await explainDiffering({ plan, source, target, sql, differs: d.differs, orphans });
  orphans.sort((a, b) => sql.compareKeys(a.legacyKey, b.legacyKey) || a.column.localeCompare(b.column));
  await checkFixedValuesExist(plan, target, diff.fk);

  const refsChecked = (d.sourceRows - d.missing.length - d.dangling.length) * viaMappingColumns(plan).length;
  return {
    findings: { sourceRows: d.sourceRows, mappings: d.mappings, migrated: d.migrated, missing, orphanMappings, content: diff.content, contentRows: diff.contentRows, fk: diff.fk, orphans, refsChecked },
    stats: d.stats,
    sql,
  };
}

/**
 * The plan compiled again with the orphan values of set_null references, where there are many.
 * Orphans written NULL differ from their legacy value, so each would be a differing row to
 * fetch. Few are cheap; when a probe of 64 segments finds more than a tenth differing, the
 * orphan values are found first (the distinct legacy values without a parent mapping) and
 * compared as the NULL set_null writes.
 */
async function withOrphanValues(
  input: { compile: (orphanValues?: ReadonlyMap<string, readonly string[]>) => PlanSql; source: Queryable; target: Queryable },
  first: PlanSql,
): Promise<{ sql: PlanSql; known: Map<string, string[]>; setNull: CompiledColumn[] }> {
  const { source, target } = input;
  let sql = first;
  const setNull = sql.columns.filter((c) => c.ref?.onOrphan === 'set_null');
  const known = new Map<string, string[]>();
  if (setNull.length && (await probeSegments({ source, target, spec: planRelations(sql), count: 64 })) > 0.1) {
    for (const c of setNull) known.set(c.target, await unmappedValues({ source, target, sql, column: c }));
    sql = input.compile(known);
  }
  return { sql, known, setNull };
}

/** The source rows holding a known orphan value of a set_null reference, but for those in `skip`. */
async function knownOrphans(source: Queryable, sql: PlanSql, setNull: CompiledColumn[], known: Map<string, string[]>, skip: Set<string>): Promise<Orphan[]> {
  const orphans: Orphan[] = [];
  for (const c of setNull) {
    const values = known.get(c.target) ?? [];
    if (values.length === 0) continue;
    const w = sql.source.where;
    const r = await source.query<{ k: string; v: string }>(
      `SELECT ${sql.srcKeyText} AS k, src.${quoteIdent(c.ref!.sourceColumn)}::text AS v FROM ${sql.source.table} src ${w.sql ? `${w.sql} AND` : 'WHERE'} src.${quoteIdent(c.ref!.sourceColumn)}::text = ANY($${w.params.length + 1}::text[])`,
      [...w.params, values],
    );
    for (const x of r.rows) if (!skip.has(x.k)) orphans.push({ column: c.target, legacyKey: x.k, legacyValue: x.v, written: null, policy: 'set_null' });
  }
  return orphans;
}

/** One differing row's compiled texts on both sides, with what the comparison adds to. */
interface DiffRow {
  plan: MigrationPlan;
  sql: PlanSql;
  key: string;
  s: RowTexts;
  t: RowTexts;
  /** Per reference column index: legacy value → the parent's new id. */
  parentIds: Map<number, Map<string, string>>;
  content: Problems;
  fk: Problems;
  orphans: Orphan[];
}

/** The differing rows fetched on both sides and each difference named, by column. */
async function explainDiffering(input: {
  plan: MigrationPlan;
  source: Queryable;
  target: Queryable;
  sql: PlanSql;
  differs: string[];
  orphans: Orphan[];
}): Promise<{ content: Problems; contentRows: number; fk: Problems }> {
  const { plan, source, target, sql, differs, orphans } = input;
  const content = new Problems();
  const fk = new Problems();
  let contentRows = 0;
  const rows = await fetchRows({ source, target, sql, keys: differs });
  // The new ids the legacy values of differing references map to, per reference column.
  const parentIds = new Map<number, Map<string, string>>();
  for (const [j, c] of sql.columns.entries()) {
    if (!c.ref) continue;
    const legacy = differs.flatMap((k) => rows.source.get(k)?.raw[sql.rawSourceIndex(c.ref!.sourceColumn)] ?? []);
    parentIds.set(j, await lookupParents(target, c.origin as ViaMappingOrigin, legacy));
  }
  for (const k of differs) {
    const s = rows.source.get(k);
    const t = rows.target.get(k);
    if (!s || !t) {
      content.add(k, 'the row changed while it was being validated');
      contentRows += 1;
      continue;
    }
    if (compareRow({ plan, sql, key: k, s, t, parentIds, content, fk, orphans })) contentRows += 1;
  }
  return { content, contentRows, fk };
}

/** Names each column of one row that differs; true when its content (not only a reference) differs. */
function compareRow(row: DiffRow): boolean {
  const { sql, key: k, s, t, fk, orphans } = row;
  let differs = false;
  let refIndex = 0;
  for (const [j, c] of sql.columns.entries()) {
    const expected = s.values[j] ?? null;
    const actual = t.values[j] ?? null;
    const rawTarget = c.ref ? (t.raw[refIndex++] ?? null) : null;
    const o = c.origin;
    if (c.ref && o.kind === 'via_mapping') {
      const legacy = s.raw[sql.rawSourceIndex(c.ref.sourceColumn)] ?? null;
      const mapped = legacy === null ? null : (row.parentIds.get(j)?.get(legacy) ?? null);
      if (legacy !== null && mapped === null) {
        orphans.push({ column: c.target, legacyKey: k, legacyValue: legacy, written: rawTarget, policy: o.onOrphan });
        if (rawTarget !== null) fk.add(k, `${c.target} is ${rawTarget}, but ${o.source} = ${legacy} has no ${o.parent.targetTable} mapping (an orphan), so it should be NULL`);
        continue;
      }
      if (expected === actual || mapped === rawTarget) continue;
      fk.add(k, `${c.target} is ${JSON.stringify(rawTarget)}, but ${o.source} = ${legacy ?? 'NULL'} maps to ${JSON.stringify(mapped)} in ${o.parent.sourceTable} → ${o.parent.targetTable}`);
      continue;
    }
    if (expected === actual) continue;
    differs = true;
    reportContent(row, c, expected, actual);
  }
  return differs;
}

/** One content column that differs: why, in the row's words (an invalid value, an unmapped enum value, or the two texts). */
function reportContent(row: DiffRow, c: CompiledColumn, expected: string | null, actual: string | null): void {
  const { plan, sql, key: k, s, content, fk } = row;
  const o = c.origin;
  const raw = c.source === null ? null : (s.raw[sql.rawSourceIndex(c.source)] ?? null);
  if (expected === INVALID && c.source !== null) {
    content.add(k, `${c.target}: ${c.source} = ${show(raw)} is not a value of ${c.targetType}`);
  } else if (o.kind === 'enum_map' && expected === null && (raw !== null || !sql.enumValues.get(c.target)?.has(null))) {
    const m = plan.enumMappings.find((e) => e.targetColumn === c.target);
    content.add(k, `${c.target}: source value ${show(raw)} of ${o.source} has no ${m?.enumType ?? 'enum'} value in the plan (it holds ${show(actual)})`);
  } else {
    content.add(k, `${c.target} is ${show(actual)}, the plan says ${show(expected)}${c.source !== null && raw !== expected ? ` (from ${c.source} = ${show(raw)})` : ''}`);
  }
  if (c.role === 'fixed_fk') {
    const dec = plan.foreignKeys.find((f) => f.column === c.target);
    fk.add(k, `${c.target} is ${actual}, the plan decided ${dec?.value ?? 'NULL'}`);
  }
}

/** Fixed FK values: every row holds the decided value (in the checksums); it must exist. */
async function checkFixedValuesExist(plan: MigrationPlan, target: Queryable, fk: Problems): Promise<void> {
  for (const dec of plan.foreignKeys) {
    if (dec.value === null) continue;
    const r = await target.query<{ n: string }>(
      `SELECT count(*) AS n FROM ${qualified(dec.refSchema, dec.refTable)} WHERE ${quoteIdent(dec.refColumn)}::text = $1`,
      [dec.value],
    );
    if (Number(r.rows[0]?.n ?? 0) === 0) fk.add(null, `${dec.column} ${dec.value} has no ${dec.refTable} row (the value every migrated row holds)`);
  }
}
