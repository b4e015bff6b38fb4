import { isSelfReference, type EnumMapping, type EnumValueMapping, type MigrationPlan, type PlanFilter } from '../../src/core/artifacts/migration-plan.js';
import { findTable, type SchemaAnalysis, type TableInfo } from '../../src/core/artifacts/schema-analysis.js';
import { InputError } from '../../src/core/errors.js';
import { checkExpr, compileSql, parseExpression, resolveParents, type Expr, type Typed } from '../../src/core/expr/index.js';
import { parseValueGlob } from '../../src/core/glob.js';
import { describePlanFilter } from '../../src/core/plan/filter-sql.js';
import { decideValue, type EnumRuleContext } from './enum-rules.js';
import { enumNoise } from './expression.js';
import type { PlanProbe } from './probe.js';

/**
 * Rows a reviewer leaves out or narrows to: `--exclude <source value>` (an enum source value,
 * or a glob over them), `--exclude-null <column>`, `--where <predicate>` (the column language,
 * type-checked against the source). Each becomes a condition of the plan's filter; then the
 * plan's estimate is recounted under it, and enum values no row carries any more leave the
 * mapping (and with them their review items), named in the revision's note.
 */
export interface RowOverrides {
  exclude?: Array<{ source: string; column?: string }>;
  /** A source column, or an enum's target column (its source column is meant). */
  excludeNull?: string[];
  where?: string[];
  /** A --where taken back, named by its predicate (spacing and case of keywords aside), or `*` for every one. */
  unwhere?: string[];
  /** An --exclude taken back: an excluded source value, or a glob over the excluded ones. */
  include?: Array<{ source: string; column?: string }>;
  /** An --exclude-null taken back: the column (or enum column) named as --exclude-null took it. */
  includeNull?: string[];
}

const quoted = (vs: ReadonlyArray<string | null>): string => vs.map((v) => (v === null ? 'NULL' : JSON.stringify(v))).join(', ');

function sourceTable(plan: MigrationPlan, analysis: SchemaAnalysis | undefined, flag: string): TableInfo {
  const t = analysis ? findTable(analysis.source, plan.source.table, plan.source.schema) : undefined;
  if (!t) throw new InputError('OVERRIDE_NO_ANALYSIS', `${flag} needs the source table's columns, and the schema analysis of plan ${plan.id} is not at hand`, { hint: 'approve with the analysis next to the plan file (ferry plan writes both)' });
  return t;
}

/** Which enum source values an --exclude names: the value as written first, else the glob over every source value. */
function excludedValues(plan: MigrationPlan, e: { source: string; column?: string }): Array<{ mapping: EnumMapping; values: EnumValueMapping[] }> {
  const mappings = plan.enumMappings.filter((m) => e.column === undefined || m.targetColumn === e.column || m.sourceColumn === e.column);
  const glob = parseValueGlob(e.source);
  const exact = mappings.some((m) => m.values.some((v) => v.source === e.source));
  const hit = (v: EnumValueMapping) => v.source !== null && (exact ? v.source === e.source : glob.wildcard ? glob.test(v.source) : v.source === glob.literal);
  const found = mappings.map((mapping) => ({ mapping, values: mapping.values.filter(hit) })).filter((x) => x.values.length > 0);
  if (found.length === 0) {
    const known = mappings.flatMap((m) => m.values.map((v) => v.source)).filter((v) => v !== null);
    throw new InputError('OVERRIDE_UNKNOWN_VALUE', `--exclude ${JSON.stringify(e.source)} names no source value of ${mappings.length ? mappings.map((m) => m.sourceColumn).join(', ') : 'any enum mapping'}`, {
      hint: known.length ? `source values: ${quoted(known.slice(0, 20))}${known.length > 20 ? ', …' : ''}; rows by other conditions: --where "<predicate>"` : 'this plan has no enum mapping: leave rows out with --where "<predicate>"',
    });
  }
  return found;
}

/** The column-language text of an enum mapping's expression origin; undefined for a plain column. */
function expressionOf(plan: MigrationPlan, mapping: EnumMapping): string | undefined {
  const origin = plan.columns.find((c) => c.target === mapping.targetColumn)?.origin;
  return origin?.kind === 'expression' ? origin.text : undefined;
}

/** Rows whose derived value is none of `values` (a NULL value stays, as --exclude on a column keeps NULLs). */
function exclusionPredicate(text: string, values: string[]): string {
  const lit = (v: string) => `'${v.replace(/'/g, "''")}'`;
  return `(${text}) IS NULL OR (${values.map((v) => `CAST((${text}) AS text) <> ${lit(v)}`).join(' AND ')})`;
}

/** The values an exclusionPredicate over `text` leaves out; null when `predicate` is not one (a reviewer's own --where). */
function excludedByPredicate(predicate: string, text: string): string[] | null {
  const head = `(${text}) IS NULL OR (`;
  const term = `CAST((${text}) AS text) <> '`;
  if (!predicate.startsWith(head)) return null;
  const values: string[] = [];
  let i = head.length;
  for (;;) {
    if (!predicate.startsWith(term, i)) return null;
    i += term.length;
    let v = '';
    for (;;) {
      const q = predicate.indexOf("'", i);
      if (q < 0) return null;
      v += predicate.slice(i, q);
      if (predicate[q + 1] === "'") {
        v += "'";
        i = q + 2;
        continue;
      }
      i = q + 1;
      break;
    }
    values.push(v);
    if (predicate.startsWith(' AND ', i)) i += ' AND '.length;
    else return predicate.slice(i) === ')' ? values : null;
  }
}

function addExclusion(plan: MigrationPlan, column: string, values: string[]): void {
  const existing = plan.source.filters.find((f): f is Extract<PlanFilter, { op: 'exclude' }> => f.op === 'exclude' && f.column === column);
  if (existing) existing.values = [...new Set([...existing.values, ...values])];
  else plan.source.filters.push({ op: 'exclude', column, values });
}

function excludeNullColumn(plan: MigrationPlan, name: string, analysis: SchemaAnalysis | undefined): string {
  const mapping = plan.enumMappings.find((m) => m.targetColumn === name);
  if (mapping) return mapping.sourceColumn;
  const known = analysis ? sourceTable(plan, analysis, '--exclude-null').columns.map((c) => c.name) : plan.source.columns;
  if (known.includes(name)) return name;
  throw new InputError('OVERRIDE_UNKNOWN_COLUMN', `--exclude-null ${name}: ${plan.source.schema}.${plan.source.table} has no column "${name}" and no enum column of the plan is called so`, {
    hint: `source columns: ${known.join(', ')}`,
  });
}

/** A --where predicate parsed by PostgreSQL's parser, resolved through the source's FKs and checked to be boolean. */
async function checkedPredicate(plan: MigrationPlan, text: string, analysis: SchemaAnalysis | undefined): Promise<Expr> {
  const table = sourceTable(plan, analysis, '--where');
  const parsed = await parseExpression(text);
  const resolved = resolveParents(parsed, analysis!.source, { schema: table.schema, name: table.name });
  const typed = checkExpr(resolved.expr, { columns: Object.fromEntries(table.columns.map((c) => [c.name, c.pgType])), parentColumns: resolved.parentColumns });
  if (typed.type !== 'boolean') {
    throw new InputError('FILTER_NOT_BOOLEAN', `--where ${JSON.stringify(text)} is ${typed.type === 'unknown' ? 'an untyped value' : `a ${typed.type}`}, not a condition`, {
      hint: `write a comparison, IS [NOT] NULL, or AND / OR / NOT of them, e.g. --where "status <> 'gone' AND joined_on IS NOT NULL"`,
    });
  }
  return typed;
}

/** The conditions as the revision's notes; the plan's filter gains them. */
async function addConditions(plan: MigrationPlan, o: RowOverrides, analysis: SchemaAnalysis | undefined): Promise<string[]> {
  const notes: string[] = [];
  for (const e of o.exclude ?? []) {
    for (const { mapping, values } of excludedValues(plan, e)) {
      const names = values.map((v) => v.source!);
      const derived = expressionOf(plan, mapping);
      if (derived) {
        // An enum fed by an expression has no column to exclude on: the same rows as a predicate.
        const text = exclusionPredicate(derived, names);
        plan.source.filters.push({ op: 'where', predicate: { source: text, expr: await checkedPredicate(plan, text, analysis) } });
        notes.push(`filter: leave out rows whose ${derived} is ${quoted(names)} (--exclude ${JSON.stringify(e.source)}): only rows where ${text}`);
        continue;
      }
      addExclusion(plan, mapping.sourceColumn, names);
      notes.push(`filter: leave out rows whose ${mapping.sourceColumn} is ${quoted(names)}${names.length > 1 || names[0] !== e.source ? ` (--exclude ${JSON.stringify(e.source)})` : ''}`);
    }
  }
  for (const name of o.excludeNull ?? []) {
    const column = excludeNullColumn(plan, name, analysis);
    if (!plan.source.filters.some((f) => f.op === 'is_not_null' && f.column === column)) plan.source.filters.push({ column, op: 'is_not_null' });
    notes.push(`filter: leave out rows whose ${column} is NULL`);
  }
  for (const text of o.where ?? []) {
    plan.source.filters.push({ op: 'where', predicate: { source: text, expr: await checkedPredicate(plan, text, analysis) } });
    notes.push(`filter: only rows where ${text}`);
  }
  return notes;
}

/** The expression-fed enum mapping whose --exclude made this predicate, and the values it leaves out; null for a reviewer's own --where. */
function exclusionOf(plan: MigrationPlan, f: Extract<PlanFilter, { op: 'where' }>): { mapping: EnumMapping; text: string; values: string[] } | null {
  for (const mapping of plan.enumMappings) {
    const text = expressionOf(plan, mapping);
    const values = text === undefined ? null : excludedByPredicate(f.predicate.source, text);
    if (text !== undefined && values) return { mapping, text, values };
  }
  return null;
}

const isWhere = (f: PlanFilter): f is Extract<PlanFilter, { op: 'where' }> => f.op === 'where';
const sqlOf = (expr: Expr): string => compileSql(expr as Typed, { rowAlias: 'src' });

/** --unwhere: a reviewer's --where taken back, named as written or by the same checked tree; `*` takes back every one. */
async function removeWhere(plan: MigrationPlan, text: string, analysis: SchemaAnalysis | undefined): Promise<string> {
  const own = plan.source.filters.filter(isWhere).filter((f) => !exclusionOf(plan, f));
  let hit = own;
  if (text.trim() !== '*') {
    // The same predicate written with other spacing or keyword case compiles to the same SQL; text that does not check is compared as written.
    const wanted = await checkedPredicate(plan, text, analysis).then(sqlOf, () => null);
    hit = own.filter((f) => f.predicate.source.trim() === text.trim() || (wanted !== null && sqlOf(f.predicate.expr) === wanted));
  }
  if (hit.length === 0) {
    throw new InputError('OVERRIDE_UNKNOWN_FILTER', `--unwhere ${JSON.stringify(text)} names no --where condition of plan ${plan.id}`, {
      hint: own.length
        ? `its --where conditions: ${own.map((f) => `--unwhere ${JSON.stringify(f.predicate.source)}`).join(', ')} (or --unwhere "*" for all)`
        : 'it has none; --exclude and --exclude-null are taken back with --include and --include-null, and the description\'s conditions by planning again',
    });
  }
  plan.source.filters = plan.source.filters.filter((f) => !hit.includes(f as Extract<PlanFilter, { op: 'where' }>));
  return `filter: no longer only rows where ${hit.map((f) => f.predicate.source).join('; nor only where ')} (--unwhere ${JSON.stringify(text)})`;
}

/** Which excluded values an --include names: the value as written when one is excluded so, else the glob over them. */
function includeMatcher(e: { source: string }, excluded: string[]): (v: string) => boolean {
  if (excluded.includes(e.source)) return (v) => v === e.source;
  const glob = parseValueGlob(e.source);
  return glob.wildcard ? (v) => glob.test(v) : (v) => v === glob.literal;
}

/** --include: values an --exclude left out move again (the exclusion narrowed, or gone when none is left). */
async function includeValues(plan: MigrationPlan, e: { source: string; column?: string }, analysis: SchemaAnalysis | undefined): Promise<string[]> {
  const named = (target: string | undefined, column: string) => e.column === undefined || e.column === target || e.column === column;
  const columnWise = plan.source.filters.filter((f): f is Extract<PlanFilter, { op: 'exclude' }> => f.op === 'exclude' && named(plan.enumMappings.find((m) => m.sourceColumn === f.column)?.targetColumn, f.column));
  const derived = plan.source.filters.filter(isWhere).flatMap((f) => {
    const x = exclusionOf(plan, f);
    return x && named(x.mapping.targetColumn, x.text) ? [{ f, ...x }] : [];
  });
  const excluded = [...columnWise.flatMap((f) => f.values), ...derived.flatMap((d) => d.values)];
  const matches = includeMatcher(e, excluded);
  const notes: string[] = [];
  for (const f of columnWise) {
    const back = f.values.filter(matches);
    if (back.length === 0) continue;
    f.values = f.values.filter((v) => !matches(v));
    notes.push(`filter: rows whose ${f.column} is ${quoted(back)} move again (--include ${JSON.stringify(e.source)})`);
  }
  for (const d of derived) {
    const back = d.values.filter(matches);
    if (back.length === 0) continue;
    const rest = d.values.filter((v) => !matches(v));
    const text = exclusionPredicate(d.text, rest);
    if (rest.length > 0) d.f.predicate = { source: text, expr: await checkedPredicate(plan, text, analysis) };
    notes.push(`filter: rows whose ${d.text} is ${quoted(back)} move again (--include ${JSON.stringify(e.source)})`);
  }
  if (notes.length === 0) {
    throw new InputError('OVERRIDE_UNKNOWN_VALUE', `--include ${JSON.stringify(e.source)} names no value the plan's filter leaves out`, {
      hint: excluded.length ? `excluded values: ${quoted(excluded)}` : 'nothing is excluded by --exclude; --where conditions are taken back with --unwhere',
    });
  }
  // An exclusion with no value left, and an expression's with none left, are gone.
  plan.source.filters = plan.source.filters.filter((f) => !(f.op === 'exclude' && f.values.length === 0) && !(isWhere(f) && derived.some((d) => d.f === f && d.values.every(matches))));
  return notes;
}

/** --include-null: the rows an --exclude-null left out move again; a condition the description made stays (plan again to change it). */
function includeNull(plan: MigrationPlan, name: string, analysis: SchemaAnalysis | undefined): string {
  const column = excludeNullColumn(plan, name, analysis);
  const at = plan.source.filters.findIndex((f) => f.op === 'is_not_null' && f.column === column);
  if (at < 0) {
    throw new InputError('OVERRIDE_UNKNOWN_FILTER', `--include-null ${name}: plan ${plan.id} does not leave out rows whose ${column} is NULL`, {
      hint: `its filter: ${plan.source.filters.map(describePlanFilter).join(' AND ') || 'none'}`,
    });
  }
  if (analysis?.focus?.filters.some((f) => f.op === 'is_not_null' && f.column === column)) {
    throw new InputError('OVERRIDE_FILTER_FROM_DESCRIPTION', `--include-null ${name}: "${column} IS NOT NULL" is a condition of the plan's description, not a reviewer's --exclude-null`, {
      hint: 'plan again with words that do not ask for it',
    });
  }
  plan.source.filters.splice(at, 1);
  return `filter: rows whose ${column} is NULL move again (--include-null ${name})`;
}

/** Conditions taken back, before any is added: `--unwhere old --where new` replaces a predicate in one revision. */
async function removeConditions(plan: MigrationPlan, o: RowOverrides, analysis: SchemaAnalysis | undefined): Promise<string[]> {
  const notes: string[] = [];
  for (const text of o.unwhere ?? []) notes.push(await removeWhere(plan, text, analysis));
  for (const e of o.include ?? []) notes.push(...(await includeValues(plan, e, analysis)));
  for (const name of o.includeNull ?? []) notes.push(includeNull(plan, name, analysis));
  return notes;
}

/**
 * Values back under a wider filter (an exclusion or predicate taken back): each decided again by
 * the enum rules as at planning, what they cannot decide left to review. A reviewer's earlier
 * --map of such a value is not assumed to hold: the revision names them.
 */
function restoreValues(m: EnumMapping, counts: ReadonlyMap<string | null, number>): string | null {
  const known = new Set(m.values.map((v) => v.source));
  const ctx: EnumRuleContext = { enumValues: m.enumValues, noise: enumNoise({ name: m.enumType, values: m.enumValues }, m.targetColumn), learned: new Map() };
  const back = [...counts].filter(([v, n]) => n > 0 && !known.has(v)).map(([v, n]) => decideValue(v, n, ctx));
  if (back.length === 0) return null;
  m.values.push(...back);
  return `${m.targetColumn} ${back.map((v) => `${quoted([v.source])} back (${v.count} rows) → ${v.target ?? 'needs review'}`).join(', ')}`;
}

/** The estimate under the new filter: row count, each enum value's rows; values left with none leave the mapping. */
async function recount(plan: MigrationPlan, before: number, probe: PlanProbe): Promise<string> {
  // Expression-fed enums are counted by their expression (compiled to SQL), the rest by column.
  const derived = new Map(plan.enumMappings.flatMap((m) => {
    const o = plan.columns.find((c) => c.target === m.targetColumn)?.origin;
    return o?.kind === 'expression' ? [[m.targetColumn, o.expr] as const] : [];
  }));
  const columns = [...new Set(plan.enumMappings.filter((m) => !derived.has(m.targetColumn)).map((m) => m.sourceColumn))];
  const counted = await probe.filteredCounts({ schema: plan.source.schema, table: plan.source.table, filters: plan.source.filters, columns });
  for (const [target, expr] of derived) {
    const sql = compileSql(expr as Typed, { rowAlias: 'src' });
    counted.values[`expression:${target}`] = await probe.expressionValues({ schema: plan.source.schema, table: plan.source.table, sql, filters: plan.source.filters, limit: 10_000 });
  }
  if (counted.rowCount === 0) {
    throw new InputError('FILTER_LEAVES_NO_ROWS', `under this filter no row of ${plan.source.schema}.${plan.source.table} is left to move (${before} before)`, {
      hint: 'check the values and the predicate; nothing was changed',
    });
  }
  const gone: string[] = [];
  const back: string[] = [];
  for (const m of plan.enumMappings) {
    const counts = new Map((counted.values[derived.has(m.targetColumn) ? `expression:${m.targetColumn}` : m.sourceColumn] ?? []).map((x) => [x.value, x.count]));
    for (const v of m.values) v.count = counts.get(v.source) ?? 0;
    const restored = restoreValues(m, counts);
    if (restored) back.push(restored);
    const left = m.values.filter((v) => v.count === 0);
    if (left.length) gone.push(`${m.targetColumn} ${quoted(left.map((v) => v.source))}${left.some((v) => v.status === 'needs_review') ? ' (no longer to review)' : ''}`);
    m.values = m.values.filter((v) => v.count > 0);
  }
  plan.source.rowCount = counted.rowCount;
  return `rows to move: ${before} → ${counted.rowCount}${gone.length ? `; no row left with ${gone.join('; ')}` : ''}${back.length ? `; values back under the filter, decided by rule: ${back.join('; ')}` : ''}`;
}

/**
 * References whose orphans were left to a person, recounted under the new filter: where the
 * filter left no orphan, nothing is left to decide (a value without a mapping at run time
 * still fails the run, naming it). Self-references are decided on other grounds and stay.
 */
async function recountOrphans(plan: MigrationPlan, probe: PlanProbe, analysis: SchemaAnalysis | undefined): Promise<string[]> {
  const notes: string[] = [];
  for (const c of plan.columns) {
    const o = c.origin;
    if (o.kind !== 'via_mapping' || o.onOrphan !== 'needs_review' || isSelfReference(plan, o) || !analysis) continue;
    const dot = o.parent.sourceTable.indexOf('.');
    const [parentSchema, parentTable] = [o.parent.sourceTable.slice(0, dot), o.parent.sourceTable.slice(dot + 1)];
    const parentKey = findTable(analysis.source, parentTable, parentSchema)?.primaryKey[0];
    if (!parentKey) continue;
    const { schema, table, key, filters } = plan.source;
    const orphans = await probe.orphanValues({ schema, table, key, column: o.source, filters, parentSchema, parentTable, parentKey, limit: 1 });
    if (orphans.count > 0) continue;
    c.origin = { ...o, onOrphan: 'fail' };
    const reason = `${c.reason.replace(/; \d+ legacy row\(s\) point at .*$/, '')}; under the filter no legacy value lacks its parent, so a value without a mapping at run time fails the run, naming it`;
    Object.assign(c, { status: 'mapped', confidence: 0.9, reason });
    notes.push(`${c.target}: no orphan left under the filter (no longer to review)`);
  }
  return notes;
}

/** Applies the reviewer's row choices to `plan` (a revision being made); returns the notes. */
export async function applyRowOverrides(plan: MigrationPlan, o: RowOverrides, probe: PlanProbe, analysis?: SchemaAnalysis): Promise<string[]> {
  const asked = [o.exclude, o.excludeNull, o.where].reduce((n, l) => n + (l?.length ?? 0), 0);
  if (asked === 0) return [];
  const before = plan.source.rowCount;
  const notes = await addConditions(plan, o, analysis);
  notes.push(await recount(plan, before, probe));
  notes.push(...(await recountOrphans(plan, probe, analysis)));
  return notes;
}

/**
 * Takes back the reviewer's conditions this revision names (--unwhere, --include, --include-null)
 * and recounts: applied before the value decisions, so the values that come back can be mapped
 * (`--include-null trade --map-null office`) in the same revision.
 */
export async function takeBackRowOverrides(plan: MigrationPlan, o: RowOverrides, probe: PlanProbe, analysis?: SchemaAnalysis): Promise<string[]> {
  const asked = [o.unwhere, o.include, o.includeNull].reduce((n, l) => n + (l?.length ?? 0), 0);
  if (asked === 0) return [];
  const before = plan.source.rowCount;
  const notes = await removeConditions(plan, o, analysis);
  notes.push(await recount(plan, before, probe));
  return notes;
}
