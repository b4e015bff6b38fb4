import {
  makePlanId,
  MigrationPlan,
  type ColumnMapping,
  type EnumMapping,
  type ForeignKeyDecision,
  type ValidationCheckName,
} from '../../src/core/artifacts/migration-plan.js';
import {
  analysisHash,
  findEnum,
  findTable,
  type ColumnInfo,
  type ForeignKeyInfo,
  type SchemaAnalysis,
  type TableInfo,
  type TypeCategory,
  type ValueProfile,
} from '../../src/core/artifacts/schema-analysis.js';
import { PlanError } from '../../src/core/errors.js';
import { columnsRead } from '../../src/core/expr/index.js';
import { proposeDateFromTimestamp, proposeEnumFromParent, proposeWholeName } from './expression-rules.js';
import { conversion, explainScore, isLegacyKeyColumn, nameScore, subjectWords } from './columns.js';
import { legacyKeyOf } from './legacy-key.js';
import { decideValue, learnCodes, type EnumRuleContext } from './enum-rules.js';
import type { MigrationIntent } from './intent.js';
import type { PlanProbe } from './probe.js';
import { decideViaMapping, findLegacyReference, legacyTableOf, referenceStem, type LegacyReference, type TableKnowledge } from './references.js';
import { singular, stem, tokens } from './words.js';

export const PLANNER_VERSION = 'deterministic-1';

export interface PlanInput {
  description: string;
  intent: MigrationIntent;
  /** Must carry `focus` for the intent's source table and filter. */
  analysis: SchemaAnalysis;
  probe: PlanProbe;
  /** The other tables of the plan set being planned with this one: which legacy table becomes which target. */
  planSet?: Array<{ source: TableInfo; target: TableInfo }>;
  now?: () => Date;
  onProgress?: (line: string) => void;
}

/** Plans above this many rows are written in batches of this size. */
/** Upper bound on rows per batch; the orchestrator sizes batches by row width below it (src/orchestrator/batching.ts). */
const MAX_BATCH = 50_000;

export async function buildPlan(input: PlanInput): Promise<MigrationPlan> {
  const say = input.onProgress ?? (() => {});
  const { sourceKey, targetPk, keyNote } = plannableKeys(input);
  const ctx = await startPlan(input, sourceKey, targetPk);
  if (keyNote) ctx.riskReasons.push(keyNote);
  for (const col of input.intent.target.columns) await planColumn(ctx, col);
  const draft = draftPlan(ctx);
  say(`planned ${ctx.columns.length} target columns, ${ctx.enumMappings.length} enum mapping(s), ${ctx.foreignKeys.length} FK decision(s); risk ${draft.risk.level}`);
  const parsed = MigrationPlan.safeParse(draft);
  if (!parsed.success) {
    throw new PlanError('PLAN_INVALID', `the planner produced an invalid plan: ${parsed.error.issues.map((i) => `${i.path.join('.')}: ${i.message}`).join('; ')}`);
  }
  return parsed.data;
}

/** The legacy key each row is tracked by and the target's key: refuses an unfocused analysis and keys ferry cannot track. */
function plannableKeys(input: PlanInput): { sourceKey: string; targetPk: ColumnInfo; keyNote: string | null } {
  const { intent, analysis } = input;
  const focus = analysis.focus;
  if (!focus || focus.table !== intent.source.name || focus.schema !== intent.source.schema) {
    throw new PlanError('ANALYSIS_NOT_FOCUSED', 'the analysis has no profile of the source table under the filter', {
      hint: 'run Schema Analysis focusSource() for the intent before planning',
    });
  }
  const source = intent.source;
  const target = intent.target;
  const { sourceKey, keyNote } = legacyKeyOf(source);
  if (!sourceKey) {
    const pk = source.primaryKey.length === 0 ? 'no primary key' : `a composite primary key (${source.primaryKey.join(', ')})`;
    throw new PlanError('SOURCE_KEY_UNSUPPORTED', `the source table ${source.name} has ${pk} and no single-column unique key of a NOT NULL column; ferry tracks each row by a single-column legacy key`, {
      hint: 'add a single-column primary key or a unique NOT NULL id column to the source table; a table keyed only by several columns together (a link table such as film_actor) cannot be moved yet',
    });
  }
  const targetPk = target.primaryKey.length === 1 ? target.columns.find((c) => c.name === target.primaryKey[0]) : undefined;
  if (!targetPk) {
    throw new PlanError('TARGET_KEY_UNSUPPORTED', `the target table ${target.name} needs a single-column primary key`, {
      hint: 'ferry records each new row by its primary key in migration_mappings',
    });
  }
  return { sourceKey, targetPk, keyNote };
}


/** Everything the per-column decisions read, and what they add to, in decision order. */
interface PlanContext {
  input: PlanInput;
  source: TableInfo;
  target: TableInfo;
  sourceKey: string;
  targetPk: ColumnInfo;
  subjects: { target: Set<string>; source: Set<string> };
  enumNoise: Set<string>;
  known: TableKnowledge;
  fkByColumn: Map<string, ForeignKeyInfo>;
  columns: ColumnMapping[];
  enumMappings: EnumMapping[];
  foreignKeys: ForeignKeyDecision[];
  usedSource: Set<string>;
  transformations: string[];
  riskReasons: string[];
  /** Target tables this plan's rows point into through their mappings: migrated first. */
  parents: Set<string>;
  parentTables: NonNullable<MigrationPlan['parentTables']>;
  /** Source columns named as candidates of a column left for review: why they are not carried yet. */
  candidateFor: Map<string, string>;
}

async function startPlan(input: PlanInput, sourceKey: string, targetPk: ColumnInfo): Promise<PlanContext> {
  const { source, target } = input.intent;
  const targetSubject = subjectWords(target);
  return {
    input,
    source,
    target,
    sourceKey,
    targetPk,
    subjects: { target: targetSubject, source: subjectWords(source) },
    enumNoise: new Set<string>([...targetSubject]),
    known: {
      planSet: [{ source, target }, ...(input.planSet ?? [])],
      migrated: await input.probe.migratedPairs(),
      description: input.description,
    },
    fkByColumn: new Map(target.foreignKeys.filter((fk) => fk.columns.length === 1).map((fk) => [fk.columns[0]!, fk])),
    columns: [],
    enumMappings: [],
    foreignKeys: [],
    usedSource: new Set<string>(),
    transformations: [],
    riskReasons: [],
    parents: new Set<string>(),
    parentTables: [],
    candidateFor: new Map<string, string>(),
  };
}

const baseOf = (col: ColumnInfo) => ({ target: col.name, targetType: col.pgType });

/** One target column's origin, tried in order: key, reference, enum, legacy key, name match, then what is left. */
async function planColumn(ctx: PlanContext, col: ColumnInfo): Promise<void> {
  if (col.isGenerated) return;
  if (col.name === ctx.targetPk.name) return planPrimaryKey(ctx, col);
  const fk = ctx.fkByColumn.get(col.name);
  if (fk) return planReference(ctx, col, fk);
  if (col.category === 'enum' && col.enumType && (await planEnum(ctx, col, col.enumType))) return;
  if (isLegacyKeyColumn(col.name, ctx.sourceKey) && planLegacyKey(ctx, col)) return;
  if (planByName(ctx, col)) return;
  // No column of its name: an expression where the evidence is plain, else what is left.
  const derived =
    (await proposeDateFromTimestamp(col, ctx.source, ctx.usedSource, ctx.input.analysis)) ??
    (await proposeWholeName({ col, source: ctx.source, used: ctx.usedSource, analysis: ctx.input.analysis, subjects: ctx.subjects }));
  if (derived) {
    if (derived.origin.kind === 'expression') for (const c of columnsRead(derived.origin.expr)) ctx.usedSource.add(c);
    ctx.columns.push({ ...baseOf(col), ...derived });
    return;
  }
  planUnmatched(ctx, col, nameMatches(ctx, col));
}

function planPrimaryKey(ctx: PlanContext, col: ColumnInfo): void {
  const { columns, sourceKey } = ctx;
  const base = baseOf(col);
  if (col.category === 'uuid') {
    columns.push({ ...base, origin: { kind: 'generated_uuid' }, reason: 'primary key: a new uuid per row, recorded in migration_mappings', confidence: 1, status: 'mapped' });
    ctx.transformations.push(`generate_uuid_primary_keys (${col.name})`);
    return;
  }
  const src = ctx.source.columns.find((c) => c.name === sourceKey)!;
  const conv = conversion(src.category, col.category);
  if (!conv) {
    throw new PlanError('TARGET_KEY_UNSUPPORTED', `the target key ${col.name} (${col.pgType}) cannot hold the legacy key ${sourceKey} (${src.pgType})`, {
      hint: 'use a uuid primary key in the target, or a key type the legacy key converts to',
    });
  }
  columns.push({ ...base, origin: conv === 'copy' ? { kind: 'copy', source: sourceKey } : { kind: 'cast', source: sourceKey, to: col.category }, reason: 'primary key: kept from the legacy key', confidence: 0.9, status: 'mapped' });
  ctx.usedSource.add(sourceKey);
}

/** A single-column foreign key: through a legacy reference's mappings, else left NULL, else one fixed parent row. */
async function planReference(ctx: PlanContext, col: ColumnInfo, fk: ForeignKeyInfo): Promise<void> {
  const { analysis } = ctx.input;
  const ref = findLegacyReference(col, fk, ctx.source, analysis, ctx.subjects, ctx.known, ctx.usedSource);
  if (ref) return planViaMapping(ctx, col, ref);
  if (col.nullable) return planNullableReference(ctx, col, fk);
  const decision = await decideForeignKey(col.name, fk, analysis, ctx.subjects.target, ctx.input.probe);
  ctx.foreignKeys.push(decision);
  ctx.columns.push({ ...baseOf(col), origin: { kind: 'foreign_key' }, reason: `required reference to ${fk.refTable}.${fk.refColumns[0]}: ${decision.reason}`, confidence: decision.status === 'mapped' ? (decision.candidateCount === 1 ? 0.9 : 0.6) : 0, status: decision.status });
  ctx.transformations.push(`assign_${col.name}_${decision.strategy}`);
  if (decision.candidateCount > 1) {
    ctx.riskReasons.push(`every row gets the same ${col.name} (${decision.candidates[0]?.label ?? decision.value}), chosen among ${decision.candidateCount} candidates — check it`);
  }
}

async function planViaMapping(ctx: PlanContext, col: ColumnInfo, ref: LegacyReference): Promise<void> {
  const { source, sourceKey, target, known, riskReasons, parentTables } = ctx;
  const via = await decideViaMapping({ column: col, ref, source, sourceKey, target, filters: ctx.input.intent.filters, probe: ctx.input.probe });
  ctx.columns.push(via.mapping);
  ctx.usedSource.add(ref.sourceColumn.name);
  if (!via.self) ctx.parents.add(ref.parentTarget.name);
  ctx.transformations.push(via.self ? `resolve_${col.name}_in_a_second_pass_through_own_mappings` : `resolve_${col.name}_through_${ref.parentTarget.name}_mappings`);
  if (via.orphans > 0) riskReasons.push(`${via.orphans} row(s) reference a missing ${ref.parentSource.name} row through ${ref.sourceColumn.name}`);
  const sourceTable = `${ref.parentSource.schema}.${ref.parentSource.name}`;
  const targetTable = `${ref.parentTarget.schema}.${ref.parentTarget.name}`;
  const migrated = via.self || known.migrated.some((m) => m.sourceTable === sourceTable && m.targetTable === targetTable);
  const entry = parentTables.find((p) => p.sourceTable === sourceTable && p.targetTable === targetTable);
  if (entry) entry.columns.push(col.name);
  else parentTables.push({ sourceTable, targetTable, evidence: ref.pair.evidence, detail: ref.pair.detail, columns: [col.name], parentMigrated: migrated });
  if (ref.pair.evidence === 'name') riskReasons.push(`${ref.parentTarget.name} is taken to be made from ${ref.parentSource.name} by name alone; check ${col.name}`);
}

/** A nullable reference the plan could not resolve: NULL, for review when some legacy column could plausibly hold it. */
function planNullableReference(ctx: PlanContext, col: ColumnInfo, fk: ForeignKeyInfo): void {
  const { analysis } = ctx.input;
  const base = baseOf(col);
  const parentTarget = findTable(analysis.target, fk.refTable, fk.refSchema);
  const pair = parentTarget ? legacyTableOf(parentTarget, analysis, ctx.known) : null;
  const parentKey = pair?.source.columns.find((c) => c.name === pair.source.primaryKey[0]);
  const found = referenceCandidates(col, ctx.source, ctx.usedSource, parentKey ?? null);
  if (found.length > 0) {
    for (const c of found) ctx.candidateFor.set(c.column, `candidate for ${col.name} (needs review)`);
    ctx.columns.push({
      ...base,
      origin: { kind: 'default' },
      reason: `reference to ${fk.refTable}${pair ? ` (made from legacy ${pair.source.name}: ${pair.detail})` : ''} that the plan could not resolve, so it would stay NULL; plausible legacy source(s): ${found.map((c) => `${c.column} (${c.why})`).join('; ')}; to carry it, plan again saying which legacy table became ${fk.refTable} ("<legacy table> became ${fk.refTable}"), plan both as one set, or migrate that table first and plan again; to leave it NULL on purpose: --column ${col.name}=default`,
      confidence: 0,
      status: 'needs_review',
    });
    return;
  }
  ctx.columns.push({ ...base, origin: { kind: 'default' }, reason: `nullable reference to ${fk.refTable}; no legacy column could hold it (no unused legacy FK, no column of a matching name and type), so it stays NULL`, confidence: 0.6, status: 'mapped' });
}

/** An enum column fed by the legacy column whose values the rules map best; false when none does. */
async function planEnum(ctx: PlanContext, col: ColumnInfo, enumType: string): Promise<boolean> {
  const { analysis, probe, intent } = ctx.input;
  const mapping = await decideEnum(col.name, enumType, analysis, ctx.source, focusProfiles(analysis), ctx.enumNoise, probe, intent);
  // A parent's label (kind.label through a legacy FK) that the enum's values match better than any own column.
  const parent = await proposeEnumFromParent({ col, enumType, source: ctx.source, analysis, probe, filters: intent.filters, own: mapping });
  if (parent) {
    ctx.enumMappings.push(parent.mapping);
    ctx.columns.push({ ...baseOf(col), ...parent.column });
    ctx.transformations.push(`map_${parent.mapping.sourceColumn.replace(/[^A-Za-z0-9_]+/g, '_')}_to_${col.name}_enum`);
    return true;
  }
  if (!mapping) return false;
  // The source column stays available: role_name can copy the same name the enum reads.
  ctx.enumMappings.push(mapping);
  ctx.columns.push({ ...baseOf(col), origin: { kind: 'enum_map', source: mapping.sourceColumn }, reason: mapping.reason, confidence: 0.9, status: 'mapped' });
  ctx.transformations.push(`map_${mapping.sourceColumn}_to_${col.name}_enum`);
  return true;
}

/** A column named for the legacy id keeps the legacy key, when its type can hold it. */
function planLegacyKey(ctx: PlanContext, col: ColumnInfo): boolean {
  const { source, sourceKey } = ctx;
  const src = source.columns.find((c) => c.name === sourceKey)!;
  const conv = conversion(src.category, col.category);
  if (!conv) return false;
  ctx.columns.push({ ...baseOf(col), origin: conv === 'copy' ? { kind: 'copy', source: sourceKey } : { kind: 'cast', source: sourceKey, to: col.category }, reason: `keeps the legacy key ${source.name}.${sourceKey}`, confidence: 0.95, status: 'mapped' });
  ctx.transformations.push(`preserve_legacy_id_in_${col.name}`);
  return true;
}

/** The unused legacy column that best matches by name with a convertible type; without a single best one, planUnmatched decides. */
function nameCandidates(ctx: PlanContext, col: ColumnInfo) {
  const { subjects, usedSource } = ctx;
  return ctx.source.columns
    .filter((s) => !usedSource.has(s.name))
    .map((s) => ({ s, score: nameScore(col.name, s.name, subjects.target, subjects.source), conv: conversion(s.category, col.category) }))
    .filter((x) => x.score >= 0.7 && x.conv !== null)
    .sort((a, b) => b.score - a.score);
}

/** The name matches none better than the others (for the reason of a column left for review). */
const nameMatches = (ctx: PlanContext, col: ColumnInfo): string[] => nameCandidates(ctx, col).map((c) => c.s.name);

/** The one source column a target column's name points at; false when none (or several equally). */
function planByName(ctx: PlanContext, col: ColumnInfo): boolean {
  const { usedSource, riskReasons } = ctx;
  const candidates = nameCandidates(ctx, col);
  const best = candidates[0];
  if (best && (!candidates[1] || candidates[1].score < best.score)) {
    usedSource.add(best.s.name);
    const lengthRisk = col.maxLength !== null && (best.s.maxLength === null || best.s.maxLength > col.maxLength);
    if (lengthRisk) riskReasons.push(`${best.s.name} (${best.s.pgType}) may not fit ${col.name} (${col.pgType}); longer values fail their batch`);
    if (best.s.nullable && !col.nullable && col.default === null) riskReasons.push(`${best.s.name} may be NULL but ${col.name} is NOT NULL; such rows fail their batch`);
    ctx.columns.push({
      ...baseOf(col),
      origin: best.conv === 'copy' ? { kind: 'copy', source: best.s.name } : { kind: 'cast', source: best.s.name, to: col.category },
      reason: `from ${best.s.name}: ${explainScore(best.score)}${best.conv === 'cast' ? ` (converted ${best.s.category} → ${col.category})` : ''}`,
      confidence: best.score,
      status: 'mapped',
    });
    return true;
  }
  return false;
}

/**
 * No single legacy column matches: the database default, NULL (for review when a similarly
 * named column exists), or, for a required column, review. `matches` are the name matches,
 * none better than the others.
 */
function planUnmatched(ctx: PlanContext, col: ColumnInfo, matches: string[]): void {
  const base = baseOf(col);
  if (col.default !== null || col.isIdentity) {
    ctx.columns.push({ ...base, origin: { kind: 'default' }, reason: `left to the database default (${col.isIdentity ? 'identity' : col.default})`, confidence: 0.9, status: 'mapped' });
  } else if (col.nullable) {
    const similar = similarColumns(col, ctx.source, ctx.usedSource);
    if (similar.length > 0) {
      for (const c of similar) ctx.candidateFor.set(c.name, `candidate for ${col.name} (needs review)`);
      ctx.columns.push({
        ...base,
        origin: { kind: 'default' },
        reason: `no legacy column matches by name, so it would stay NULL; but ${similar.map((c) => `${c.name} (${c.pgType})`).join(', ')} ${similar.length > 1 ? 'have' : 'has'} a similar name and a compatible type: choose one or NULL`,
        confidence: 0,
        status: 'needs_review',
      });
    } else {
      ctx.columns.push({ ...base, origin: { kind: 'default' }, reason: 'no legacy column matches by name or by a similar name of a compatible type; stays NULL', confidence: 0.6, status: 'mapped' });
    }
  } else {
    ctx.columns.push({ ...base, origin: { kind: 'default' }, reason: `required (NOT NULL, no default) and no legacy column matches${matches.length > 0 ? ` (${matches.join(' and ')} match equally)` : ''}`, confidence: 0, status: 'needs_review' });
  }
}

/** The plan's risk: every reason, and a level (high while any decision needs a person). */
function assessRisk(ctx: PlanContext, rowCount: number): { level: 'low' | 'medium' | 'high'; reasons: string[] } {
  const { columns, enumMappings, foreignKeys, riskReasons } = ctx;
  for (const p of ctx.parentTables) {
    if (!p.parentMigrated) {
      riskReasons.push(
        `the parent migration ${p.sourceTable} → ${p.targetTable} (for ${p.columns.join(', ')}) has not completed yet: ferry run refuses this plan (PARENT_NOT_MIGRATED) until it has`,
      );
    }
  }
  const needsReview =
    columns.filter((c) => c.status === 'needs_review').length +
    enumMappings.reduce((n, m) => n + m.values.filter((v) => v.status === 'needs_review').length, 0) +
    foreignKeys.filter((f) => f.status === 'needs_review').length;
  for (const m of enumMappings) {
    const weak = m.values.filter((v) => v.status === 'mapped' && v.confidence < 0.8);
    if (weak.length) riskReasons.push(`${weak.length} ${m.targetColumn} value(s) mapped with confidence below 0.8: ${weak.map((v) => JSON.stringify(v.source)).join(', ')}`);
  }
  if (needsReview > 0) riskReasons.unshift(`${needsReview} decision(s) need a person before this plan can run`);
  if (rowCount === 0) riskReasons.push('the filter selects no rows');
  if (rowCount > 100_000) riskReasons.push(`${rowCount} rows: a long run; watch progress`);
  if (ctx.input.intent.filters.length === 0) riskReasons.push('no filter: every row of the source table moves');
  const level = needsReview > 0 ? 'high' : riskReasons.length > 0 ? 'medium' : 'low';
  return { level, reasons: riskReasons };
}

/** The draft plan from the decisions made, before its schema is checked. */
function draftPlan(ctx: PlanContext) {
  const { input, source, target, sourceKey, columns, enumMappings, foreignKeys, transformations } = ctx;
  const { analysis, intent } = input;
  const rowCount = analysis.focus!.rowCount;
  const read = (o: ColumnMapping['origin']): string[] => (o.kind === 'expression' ? columnsRead(o.expr) : 'source' in o ? [o.source] : []);
  const selected = [...new Set([sourceKey, ...columns.flatMap((c) => read(c.origin))])];
  const notCarried = source.columns
    .filter((c) => !selected.includes(c.name))
    .map((c) => ({ column: c.name, why: ctx.candidateFor.get(c.name) ?? notCarriedWhy(c, source, target) }));
  const risk = assessRisk(ctx, rowCount);

  const validations: ValidationCheckName[] = ['count_match', 'mapping_completeness', 'row_content'];
  if (enumMappings.length) validations.push('enum_distribution');
  if (foreignKeys.length || columns.some((c) => c.origin.kind === 'via_mapping')) validations.push('fk_integrity');
  transformations.push('record_legacy_to_new_id_mappings');

  const classification = source.classification.kind;
  const draft = {
    kind: 'migration_plan' as const,
    version: 1 as const,
    id: '',
    revision: 1,
    status: 'draft' as const,
    createdAt: (input.now?.() ?? new Date()).toISOString(),
    description: input.description,
    analysisHash: analysisHash(analysis),
    generator: { kind: 'deterministic' as const, version: PLANNER_VERSION },
    source: { schema: source.schema, table: source.name, key: sourceKey, columns: selected, filters: intent.filters, rowCount },
    target: { schema: target.schema, table: target.name, primaryKey: ctx.targetPk.name },
    columns,
    enumMappings,
    foreignKeys,
    strategy: {
      type: `${classification === 'unknown' ? 'table' : classification}${enumMappings.length ? '_with_enum_mapping' : '_copy'}`,
      batchSize: Math.max(1, Math.min(rowCount, MAX_BATCH)),
      dependencies: [...new Set([...foreignKeys.map((f) => f.refTable), ...ctx.parents])],
      transformations,
    },
    validations,
    risk,
    overrides: [],
    parentTables: ctx.parentTables,
    notCarried,
  };
  draft.id = makePlanId({ sourceTable: source.name, targetTable: target.name, analysis, what: { d: input.description, s: draft.source, t: draft.target } });
  return draft;
}

function focusProfiles(analysis: SchemaAnalysis): ValueProfile[] {
  return analysis.focus?.profiles ?? [];
}

/**
 * Picks the source column that feeds an enum by how many of its rows the rules map
 * (coverage), on a tie by its name, then decides each distinct value.
 */
async function decideEnum(
  targetColumn: string,
  enumType: string,
  analysis: SchemaAnalysis,
  source: TableInfo,
  profiles: ValueProfile[],
  noise: Set<string>,
  probe: PlanProbe,
  intent: MigrationIntent,
): Promise<EnumMapping | null> {
  const en = findEnum(analysis.target, enumType);
  if (!en) return null;
  for (const w of tokens(en.name)) noise.add(singular(w));
  for (const w of tokens(targetColumn)) if (!en.values.some((v) => tokens(v).map(stem).includes(stem(w)))) noise.add(singular(w));

  const textColumns = source.columns.filter((c) => c.category === 'string' || c.category === 'enum');
  const named = (c: ColumnInfo) => nameScore(targetColumn, c.name, new Set(), new Set());
  // Short codes teach abbreviations for another column's labels; a column named for the enum
  // column (film.rating: 'G', 'PG', 'R' for movies.rating) is the candidate itself.
  const companions = textColumns.filter((c) => named(c) < 0.9 && looksLikeCodes(profiles.find((p) => p.column === c.name)));
  const scored: Array<{ column: string; coverage: number; named: number; mapping: EnumMapping }> = [];
  for (const c of textColumns) {
    const profile = profiles.find((p) => p.column === c.name);
    if (!profile || profile.values.length === 0) continue;
    if (companions.includes(c)) continue;
    const companion = companions[0];
    const pairs = companion
      ? await probe.sourcePairs({ schema: source.schema, table: source.name, valueColumn: c.name, codeColumn: companion.name, filters: intent.filters, limit: 1000 })
      : profile.values.map((v) => ({ value: v.value, code: null }));
    const ctxBase = { enumValues: en.values, noise };
    const { learned, dropped } = learnCodes(
      pairs.filter((p): p is { value: string; code: string | null } => p.value !== null),
      ctxBase,
      companion !== undefined,
    );
    const ctx: EnumRuleContext = { ...ctxBase, learned };
    const values = profile.values.map((v) => decideValue(v.value, v.count, ctx));
    const total = values.reduce((n, v) => n + v.count, 0);
    const mapped = values.filter((v) => v.status === 'mapped').reduce((n, v) => n + v.count, 0);
    const coverage = total === 0 ? 0 : mapped / total;
    const learnedText = learned.size
      ? `; codes learned from ${companion ? companion.name : 'initials'}: ${[...learned.values()].map((l) => `${l.code.toUpperCase()}→${l.target}`).join(', ')}`
      : '';
    scored.push({
      column: c.name,
      coverage,
      named: named(c),
      mapping: {
        targetColumn,
        enumType,
        enumValues: en.values,
        sourceColumn: c.name,
        reason: `${c.name} maps ${mapped}/${total} rows by rule${learnedText}${dropped.length ? `; ambiguous codes ignored: ${dropped.join(', ')}` : ''}`,
        values,
      },
    });
  }
  // Equal coverage (often none: Pagila's rating 'PG-13' → 'parents_strongly_cautioned' follows no
  // rule) is decided by the name: film.rating feeds movies.rating, not film.title.
  scored.sort((a, b) => b.coverage - a.coverage || b.named - a.named);
  const best = scored[0];
  if (!best) return null;
  const others = scored.slice(1).filter((s) => s.coverage > 0).map((s) => `${s.column} ${(s.coverage * 100).toFixed(0)}%`);
  best.mapping.reason += others.length ? ` (other candidates: ${others.join(', ')})` : scored.length > 1 ? ` (other text columns map no rows)` : '';
  return best.mapping;
}

/** A column of short upper-case codes (like `abbrev`): evidence for learning abbreviations. */
function looksLikeCodes(profile: ValueProfile | undefined): boolean {
  if (!profile) return false;
  const nonNull = profile.values.filter((v) => v.value !== null);
  if (nonNull.length < 2) return false;
  const codes = nonNull.filter((v) => /^[A-Z0-9]{1,6}$/.test(v.value!.trim()));
  return codes.length / nonNull.length >= 0.6;
}

/**
 * A required reference that no legacy column can fill: every row points at one parent
 * row, chosen in the open. Candidates are narrowed by a parent column whose values name
 * what the reference is for (technician_id → profiles where profile_type = 'technician').
 */
async function decideForeignKey(
  column: string,
  fk: { refSchema: string; refTable: string; refColumns: string[] },
  analysis: SchemaAnalysis,
  targetSubject: Set<string>,
  probe: PlanProbe,
): Promise<ForeignKeyDecision> {
  const refColumn = fk.refColumns[0]!;
  const parent = findTable(analysis.target, fk.refTable, fk.refSchema);
  const base = { column, refSchema: fk.refSchema, refTable: fk.refTable, refColumn, strategy: 'fixed_value' as const };
  if (!parent) {
    return { ...base, value: null, candidateFilter: 'parent table not analysed', candidateCount: 0, candidates: [], reason: `${fk.refSchema}.${fk.refTable} is not in the analysis`, status: 'needs_review' };
  }
  const words = tokens(column).filter((w) => w !== 'id').map(singular);
  words.push(...targetSubject);
  let where: { column: string; value: string } | null = null;
  for (const p of parent.profiles) {
    const hit = p.values.find((v) => v.value !== null && words.includes(singular(v.value.toLowerCase())));
    if (hit && hit.value !== null) {
      where = { column: p.column, value: hit.value };
      break;
    }
  }
  const label =
    parent.columns.find((c) => /(^|_)(full_?name|name|title|label|email|username)$/.test(c.name) && c.category === 'string')?.name ?? null;
  const created = parent.columns.find((c) => c.category === 'timestamp' && /creat|insert|added/.test(c.name))?.name;
  const orderBy = created ? [created, refColumn] : [refColumn];
  const { total, rows } = await probe.parentRows({ schema: parent.schema, table: parent.name, keyColumn: refColumn, labelColumn: label, where, orderBy, limit: 10 });
  const candidateFilter = where ? `${parent.name}.${where.column} = '${where.value}'` : `all rows of ${parent.name}`;
  const candidates = rows.map((r) => ({ value: r.key, label: r.label }));
  const chosen = rows[0];
  if (!chosen) {
    return { ...base, value: null, candidateFilter, candidateCount: 0, candidates, reason: `no ${parent.name} row matches ${candidateFilter}`, status: 'needs_review' };
  }
  if (!where && total > 1) {
    return {
      ...base,
      value: null,
      candidateFilter,
      candidateCount: total,
      candidates,
      reason: `${total} ${parent.name} rows and nothing in the data says which one ${column} should name`,
      status: 'needs_review',
    };
  }
  const order = created ? `earliest ${created}` : `lowest ${refColumn}`;
  return {
    ...base,
    value: chosen.key,
    candidateFilter,
    candidateCount: total,
    candidates,
    reason:
      total === 1
        ? `the only ${parent.name} row where ${candidateFilter} ("${chosen.label}")`
        : `"${chosen.label}", the ${order} of ${total} ${parent.name} rows where ${candidateFilter}; the legacy rows carry no reference to choose per row`,
    status: 'mapped',
  };
}

/** Why a source column stays behind: said plainly, for the reviewer. */
function notCarriedWhy(c: ColumnInfo, source: TableInfo, target: TableInfo): string {
  const fk = source.foreignKeys.find((f) => f.columns.length === 1 && f.columns[0] === c.name);
  if (fk) return `legacy FK to ${fk.refTable}.${fk.refColumns[0]}; no column of ${target.name} references the table ${fk.refTable} became`;
  return `no column of ${target.name} matches it`;
}

const NUMERIC: TypeCategory[] = ['integer', 'bigint', 'numeric', 'float'];
const TEMPORAL: TypeCategory[] = ['date', 'timestamp'];

/** Types a person could reasonably carry into each other, even where the plan has no cast for it (timestamp → date). */
function compatible(from: TypeCategory, to: TypeCategory): boolean {
  return conversion(from, to) !== null || (NUMERIC.includes(from) && NUMERIC.includes(to)) || (TEMPORAL.includes(from) && TEMPORAL.includes(to));
}

/** Words that say nothing about what a column holds. */
const GENERIC = new Set(['id', 'at', 'on', 'by', 'of', 'is', 'date', 'time', 'ts', 'no', 'num', 'code', 'name', 'type']);

/** Unused source columns whose name shares a word's stem with the target's (hire_date ~ hired_on) and whose type fits. */
function similarColumns(col: ColumnInfo, source: TableInfo, used: ReadonlySet<string>): ColumnInfo[] {
  const words = (n: string) => tokens(n).filter((w) => !GENERIC.has(w));
  const want = words(col.name);
  const alike = (a: string, b: string) => stem(a) === stem(b) || (Math.min(a.length, b.length) >= 4 && (a.startsWith(b.slice(0, 4)) && b.startsWith(a.slice(0, 4))) && Math.abs(a.length - b.length) <= 3);
  return source.columns.filter(
    (s) => !used.has(s.name) && !source.primaryKey.includes(s.name) && compatible(s.category, col.category) && words(s.name).some((w) => want.some((t) => alike(w, t))),
  );
}

/**
 * Source columns that could hold the legacy id of an unresolved reference: unused legacy FK
 * columns, and columns whose name matches the target column's (support_rep_id ~ support_rep)
 * with the type of the parent's legacy key.
 */
function referenceCandidates(col: ColumnInfo, source: TableInfo, used: ReadonlySet<string>, parentKey: ColumnInfo | null): Array<{ column: string; why: string }> {
  const out: Array<{ column: string; why: string }> = [];
  const keyish: TypeCategory[] = parentKey ? [parentKey.category] : ['integer', 'bigint', 'uuid', 'string'];
  for (const s of source.columns) {
    if (used.has(s.name) || source.primaryKey.includes(s.name)) continue;
    const fk = source.foreignKeys.find((f) => f.columns.length === 1 && f.columns[0] === s.name);
    if (fk) {
      out.push({ column: s.name, why: `an unused legacy FK to ${fk.refTable}.${fk.refColumns[0]}` });
      continue;
    }
    if (referenceStem(s.name) === referenceStem(col.name) && keyish.includes(s.category)) {
      out.push({ column: s.name, why: `its name matches ${col.name} and its type (${s.pgType}) ${parentKey ? `is that of the legacy key ${parentKey.name}` : 'can hold a key'}` });
    }
  }
  return out;
}
