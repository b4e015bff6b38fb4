import type pg from 'pg';
import { contentHash } from '../artifacts/hash.js';
import { MigrationPlan } from '../artifacts/migration-plan.js';
import type { SchemaAnalysis, TableInfo } from '../artifacts/schema-analysis.js';
import { ValidationReport, type ValidationCheck } from '../artifacts/validation-report.js';
import { getControl, planTables } from '../control/control-tables.js';
import { buildWhere, qualified, quoteIdent } from '../db/sql.js';
import { NotFoundError } from '../errors.js';
import { deriveRow, notRederived, programColumns, sameValue } from './expected-row.js';
import { viaMappingColumns } from '../artifacts/migration-plan.js';
import { legacyText, lookupParents } from '../orchestrator/references.js';

const MAX_PROBLEMS = 25;

class Problems {
  list: Array<{ legacyKey: string | null; message: string }> = [];
  more = 0;
  add(legacyKey: string | null, message: string) {
    if (this.list.length < MAX_PROBLEMS) this.list.push({ legacyKey, message });
    else this.more += 1;
  }
  get count() {
    return this.list.length + this.more;
  }
}

/**
 * Validates a migration run against the source as it is now: counts, mappings both ways,
 * every row's content re-derived from its source row (not a sample), the enum
 * distribution and FK integrity. The report is an artifact; nothing is written.
 */
export async function validateMigration(input: {
  migrationId: number;
  source: pg.Client;
  target: pg.Client;
  /** The target table as analysed; re-read from the catalog by the caller. */
  targetTable: TableInfo;
  analysis?: SchemaAnalysis;
  batchSize?: number;
}): Promise<ValidationReport> {
  const { source, target, targetTable } = input;
  const control = await getControl(target, input.migrationId);
  if (!control) {
    throw new NotFoundError('MIGRATION_NOT_FOUND', `there is no migration ${input.migrationId} in migration_control`, {
      hint: 'list runs with: ferry runs',
    });
  }
  const plan = MigrationPlan.parse(control.plan);
  const { sourceTable, targetTable: targetKey } = planTables(plan);
  const pk = plan.target.primaryKey;
  const pkType = targetTable.columns.find((c) => c.name === pk)!.pgType;
  const tgt = qualified(plan.target.schema, plan.target.table);
  const batchSize = input.batchSize ?? 1000;

  await source.query('BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY');
  try {
    const where = buildWhere(plan.source.filters);
    const from = `${qualified(plan.source.schema, plan.source.table)} ${where.sql}`;
    const srcCount = Number((await source.query<{ n: string }>(`SELECT count(*) AS n FROM ${from}`, where.params)).rows[0]?.n ?? 0);

    const q1 = async (sql: string, params: unknown[]) => Number((await target.query<{ n: string }>(sql, params)).rows[0]?.n ?? 0);
    const mappingCount = await q1('SELECT count(*) AS n FROM migration_mappings WHERE source_table = $1 AND target_table = $2', [sourceTable, targetKey]);
    const migrated = await q1(
      `SELECT count(*) AS n FROM migration_mappings m JOIN ${tgt} t ON t.${quoteIdent(pk)} = m.new_id::${pkType} WHERE m.source_table = $1 AND m.target_table = $2`,
      [sourceTable, targetKey],
    );
    const insertedByRun = await q1('SELECT count(*) AS n FROM migration_mappings WHERE migration_id = $1', [control.id]);
    const targetTotal = await q1(`SELECT count(*) AS n FROM ${tgt}`, []);

    // Walk the source in key order, with the mapped target rows of each chunk beside it.
    const missing = new Problems();
    const content = new Problems();
    const fk = new Problems();
    // References through parents' mappings: each must equal the new id its legacy value maps to.
    const refs = viaMappingColumns(plan);
    const orphans: NonNullable<ValidationReport['orphans']> = [];
    let refsChecked = 0;
    const cols = programColumns(plan);
    const seenKeys = new Set<string>();
    await source.query(`DECLARE ferry_validate NO SCROLL CURSOR FOR SELECT ${plan.source.columns.map(quoteIdent).join(', ')} FROM ${from} ORDER BY ${quoteIdent(plan.source.key)}`, where.params);
    for (;;) {
      const chunk = await source.query(`FETCH ${batchSize} FROM ferry_validate`);
      if (chunk.rows.length === 0) break;
      const keys = chunk.rows.map((r: Record<string, unknown>) => String(r[plan.source.key]));
      for (const k of keys) seenKeys.add(k);
      const selectCols = [
        ...cols.map((c) => `t.${quoteIdent(c.target)} AS ${quoteIdent(`c_${c.target}`)}`),
        ...refs.map((r) => `t.${quoteIdent(r.column.target)}::text AS ${quoteIdent(`r_${r.column.target}`)}`),
      ].join(', ');
      const rows = await target.query<Record<string, unknown>>(
        `SELECT m.legacy_id, m.new_id, t.${quoteIdent(pk)}::text AS found_pk${selectCols ? `, ${selectCols}` : ''}
           FROM migration_mappings m LEFT JOIN ${tgt} t ON t.${quoteIdent(pk)} = m.new_id::${pkType}
          WHERE m.source_table = $1 AND m.target_table = $2 AND m.legacy_id = ANY($3::text[])`,
        [sourceTable, targetKey, keys],
      );
      const byKey = new Map(rows.rows.map((r) => [String(r.legacy_id), r]));
      for (const { column, origin } of refs) {
        const legacyOf = (src: Record<string, unknown>) => legacyText(src[origin.source]);
        const parents = await lookupParents(target, origin, (chunk.rows as Array<Record<string, unknown>>).flatMap((src) => legacyOf(src) ?? []));
        for (const src of chunk.rows as Array<Record<string, unknown>>) {
          const k = String(src[plan.source.key]);
          const t = byKey.get(k);
          if (!t || t.found_pk === null) continue; // counted as missing above
          refsChecked += 1;
          const legacy = legacyOf(src);
          const actual = (t[`r_${column.target}`] as string | null) ?? null;
          const mapped = legacy === null ? null : (parents.get(legacy) ?? null);
          if (legacy !== null && mapped === null) {
            orphans.push({ column: column.target, legacyKey: k, legacyValue: legacy, written: actual, policy: origin.onOrphan });
            if (actual !== null) fk.add(k, `${column.target} is ${actual}, but ${origin.source} = ${legacy} has no ${origin.parent.targetTable} mapping (an orphan), so it should be NULL`);
            continue;
          }
          if (!sameValue(mapped, actual)) {
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
        const expected = deriveRow(plan, targetTable, src);
        if (!expected.ok) {
          content.add(k, `${expected.column}: ${expected.message}`);
          continue;
        }
        for (const c of cols) {
          if (c.origin.kind === 'transform') continue; // not re-derivable: named in the row_content summary
          const actual = t[`c_${c.target}`];
          if (!sameValue(expected.row[c.target], actual)) {
            content.add(k, `${c.target} is ${JSON.stringify(actual)}, expected ${JSON.stringify(expected.row[c.target])}`);
          }
        }
      }
    }
    await source.query('CLOSE ferry_validate');

    // Mappings whose legacy row is no longer selected by the plan's filter (deleted or changed since).
    const orphanMappings = new Problems();
    const allMapped = await target.query<{ legacy_id: string }>('SELECT legacy_id FROM migration_mappings WHERE source_table = $1 AND target_table = $2', [sourceTable, targetKey]);
    for (const m of allMapped.rows) if (!seenKeys.has(m.legacy_id)) orphanMappings.add(m.legacy_id, 'mapping has no source row under the plan filter');

    for (const d of plan.foreignKeys) {
      const bad = await target.query<{ legacy_id: string; v: string | null; ok: boolean }>(
        `SELECT m.legacy_id, t.${quoteIdent(d.column)}::text AS v, p.${quoteIdent(d.refColumn)} IS NOT NULL AS ok
           FROM migration_mappings m JOIN ${tgt} t ON t.${quoteIdent(pk)} = m.new_id::${pkType}
           LEFT JOIN ${qualified(d.refSchema, d.refTable)} p ON p.${quoteIdent(d.refColumn)} = t.${quoteIdent(d.column)}
          WHERE m.source_table = $1 AND m.target_table = $2 AND (p.${quoteIdent(d.refColumn)} IS NULL OR t.${quoteIdent(d.column)}::text IS DISTINCT FROM $3)`,
        [sourceTable, targetKey, d.value],
      );
      for (const r of bad.rows) {
        fk.add(r.legacy_id, r.ok ? `${d.column} is ${r.v}, the plan decided ${d.value}` : `${d.column} ${r.v} has no ${d.refTable} row`);
      }
    }

    const distributions: ValidationReport['distributions'] = [];
    const enumProblems = new Problems();
    for (const m of plan.enumMappings) {
      const dist = await target.query<{ value: string | null; n: string }>(
        `SELECT t.${quoteIdent(m.targetColumn)}::text AS value, count(*) AS n
           FROM migration_mappings mm JOIN ${tgt} t ON t.${quoteIdent(pk)} = mm.new_id::${pkType}
          WHERE mm.source_table = $1 AND mm.target_table = $2 GROUP BY 1 ORDER BY 2 DESC, 1`,
        [sourceTable, targetKey],
      );
      const values = dist.rows.map((r) => ({ value: r.value, count: Number(r.n) }));
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

    const checks: ValidationCheck[] = [];
    const mk = (name: ValidationCheck['name'], ok: boolean, summary: string, p: Problems = new Problems()): ValidationCheck => ({
      name,
      status: ok ? 'pass' : 'fail',
      summary,
      problems: p.list,
      more: p.more,
    });
    const countOk = srcCount === mappingCount && mappingCount === migrated;
    checks.push(mk('count_match', countOk, `source ${srcCount}, mappings ${mappingCount}, target rows through mappings ${migrated}`));
    const both = new Problems();
    for (const p of [...missing.list, ...orphanMappings.list]) both.add(p.legacyKey, p.message);
    both.more += missing.more + orphanMappings.more;
    checks.push(
      mk(
        'mapping_completeness',
        missing.count === 0 && orphanMappings.count === 0,
        `${missing.count} source row(s) without a live mapping, ${orphanMappings.count} mapping(s) without a source row`,
        both,
      ),
    );
    const typeOnly = notRederived(plan).map((c) => c.target);
    checks.push(
      mk(
        'row_content',
        content.count === 0,
        `${migrated - content.count}/${migrated} rows re-derived from their source rows and equal (${cols.length - typeOnly.length} columns each)` +
          (typeOnly.length ? `; ${typeOnly.join(', ')} written by a model's function: checked by type and nullability only, not re-derived` : ''),
        content,
      ),
    );
    if (plan.enumMappings.length) {
      checks.push(
        mk(
          'enum_distribution',
          enumProblems.count === 0,
          distributions.map((d) => `${d.column}: ${d.values.map((v) => `${v.value} ${v.count}`).join(', ')}`).join('; '),
          enumProblems,
        ),
      );
    }
    if (plan.foreignKeys.length || refs.length) {
      const parts: string[] = [];
      if (plan.foreignKeys.length) parts.push(`${migrated - fk.count}/${migrated} rows point at an existing parent and the decided value`);
      if (refs.length) {
        parts.push(
          `${refsChecked} reference(s) in ${refs.map((r) => r.column.target).join(', ')} checked through the parents' mappings, ${orphans.length} orphan(s)${orphans.length ? ` (legacy keys ${orphans.slice(0, 10).map((o) => o.legacyKey).join(', ')}${orphans.length > 10 ? ', …' : ''}) written NULL` : ''}`,
        );
      }
      checks.push(mk('fk_integrity', fk.count === 0, parts.join('; '), fk));
    }
    await source.query('COMMIT');
    return ValidationReport.parse({
      kind: 'validation_report',
      version: 1,
      createdAt: new Date().toISOString(),
      migrationId: control.id,
      planHash: contentHash(plan),
      status: checks.every((c) => c.status === 'pass') ? 'passed' : 'failed',
      counts: { source: srcCount, migrated, mappings: mappingCount, insertedByRun, targetTotal },
      distributions,
      checks,
      ...(refs.length ? { orphans } : {}),
    });
  } catch (e) {
    await source.query('ROLLBACK').catch(() => undefined);
    throw e;
  }
}
