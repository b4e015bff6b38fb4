import { MigrationPlan, reviewItems, shellText, type ColumnMapping, type ColumnOrigin } from '../../../src/core/artifacts/migration-plan.js';
import { findTable, type ColumnInfo, type SchemaAnalysis, type TableInfo } from '../../../src/core/artifacts/schema-analysis.js';
import { columnsRead, type ExpressionOriginValue } from '../../../src/core/expr/index.js';
import { PlanError } from '../../../src/core/errors.js';
import { MAX_REPAIRS } from '../../../src/core/llm/tool-step.js';
import { conversion } from '../columns.js';
import { placeExpression } from '../expression.js';
import type { PlanProbe } from '../probe.js';
import type { ColumnsGrounding, ExpressionRefusal } from './ground.js';
import type { PlanProposal, ProposalOrigin } from './proposal.js';

/**
 * Lays the model's proposal over the plan the rules made from the same intent. The rules stay
 * the judge of everything they can decide:
 * - enum values: where the model and the rules disagree, the value needs review with both
 *   opinions as evidence; where the rules have no answer, the model's is shown as a
 *   suggestion and the value still needs review. Agreement is recorded, nothing more.
 * - reference choices, structural origins (new uuid, enum map, FK decision) and the rules'
 *   expressions: a different opinion from the model puts the column in review with both; it
 *   never replaces the rules' choice.
 * - plain origins (copy, constant, database default) are what a description legitimately
 *   asks for ("keep the old ids", "everything active"), so the model's, grounded and
 *   type-checked already, replaces the rules' there, with both in the reason. So does its
 *   expression (checked by ferry from its text) or, where the language cannot say it, a
 *   described function, which the reason marks as checked by type only.
 * - an expression ferry still refused after the repair turns is a review item quoting it and
 *   the refusal; the rules' origin stays pre-filled.
 */
const PLAIN = new Set<ColumnOrigin['kind']>(['copy', 'cast', 'constant', 'default']);
/** What the model may put in place of a plain origin: those, an expression, or a function it describes (written later, type-checked, sandboxed). */
const PLAIN_FROM_MODEL = new Set<ColumnOrigin['kind']>([...PLAIN, 'expression', 'transform']);

function describe(o: ColumnOrigin | ProposalOrigin): string {
  switch (o.kind) {
    case 'copy':
      return `copy ${o.source}`;
    case 'cast':
      return `${o.source} cast to ${o.to}`;
    case 'constant':
      return `constant ${JSON.stringify(o.value)}`;
    case 'enum_map':
      return `enum map of ${o.source}`;
    case 'generated_uuid':
      return 'a new uuid';
    case 'foreign_key':
      return 'the FK decision';
    case 'default':
      return 'the database default';
    case 'transform':
      return `a function of ${o.sources.join(', ')} (${o.description})`;
    case 'expression':
      return `= ${o.text}`;
    default:
      return o.kind;
  }
}

/** An expression's meaning: its checked tree without the character offsets (`x::date` is `CAST(x AS date)`). */
const treeOf = (o: Extract<ColumnOrigin, { kind: 'expression' }>) => JSON.stringify(o.expr, (k, v: unknown) => (k === 'at' ? undefined : v));

function sameOrigin(rules: ColumnOrigin, model: ColumnOrigin): boolean {
  // The model says "a reference ferry resolves"; the rules say how (a chosen row, or the parent's mappings).
  if (model.kind === 'foreign_key' && rules.kind === 'via_mapping') return true;
  if (rules.kind !== model.kind) return false;
  if (rules.kind === 'expression' && model.kind === 'expression') return treeOf(rules) === treeOf(model);
  return JSON.stringify(rules) === JSON.stringify(model);
}

const TYPE_ONLY = 'a model-written function: this column is checked by type and nullability only, not re-derived by validation';

/** The model's origin as ferry will use it: its expression as ferry checked it, a transform the language can say as that expression. */
type ModelOrigin = { origin: ColumnOrigin; said?: string } | { refused: ExpressionRefusal };

function modelOrigin(pc: PlanProposal['columns'][number], source: TableInfo, info: ColumnInfo, grounding: ColumnsGrounding): ModelOrigin | null {
  const o = pc.origin;
  if (o.kind === 'expression') {
    const checked = grounding.expressions.get(pc.target);
    if (checked) return { origin: checked };
    const refused = grounding.refused.find((r) => r.target === pc.target);
    return refused ? { refused } : null;
  }
  if (o.kind === 'transform') {
    const said = grounding.fromTransforms.get(pc.target);
    return said ? { origin: said, said: `${describe(o)} was proposed, but the column language says it as ${said.text}, which validation re-derives row by row, so the expression is used` } : { origin: o };
  }
  if (o.kind === 'copy') {
    const s = source.columns.find((c) => c.name === o.source)!;
    return { origin: conversion(s.category, info.category) === 'cast' ? { kind: 'cast', source: s.name, to: info.category } : o };
  }
  return { origin: o };
}

/**
 * The rules' enum map that maps no row by rule is a guess at the column, not evidence: the
 * model's checked expression feeds the enum instead, and its values are decided by the
 * same rules (what they cannot decide still needs a person).
 */
function feedsUnmappedEnum(next: MigrationPlan, col: ColumnMapping, origin: ColumnOrigin): boolean {
  if (col.origin.kind !== 'enum_map' || origin.kind !== 'expression' || !origin.enumMapped) return false;
  const m = next.enumMappings.find((e) => e.targetColumn === col.target);
  return m !== undefined && !m.values.some((v) => v.status !== 'needs_review');
}

const acceptCmd = (target: string, text: string) => `ferry approve <plan> --column ${target}=${shellText(text)}`;

interface MergeContext {
  next: MigrationPlan;
  grounding: ColumnsGrounding;
  who: string;
  notes: string[];
  /** The model's expressions taken into the plan: placed after the loop (reads, enum mappings). */
  placed: Array<{ target: string; origin: ExpressionOriginValue }>;
}

/** One column: agreement noted, a plain origin replaced, anything else (or a refused expression) left to a person. */
function mergeColumn(ctx: MergeContext, pc: PlanProposal['columns'][number], source: TableInfo, target: TableInfo): void {
  const { next, who, notes } = ctx;
  const col = next.columns.find((c) => c.target === pc.target);
  const info = target.columns.find((c) => c.name === pc.target);
  if (!col || !info) return;
  const m = modelOrigin(pc, source, info, ctx.grounding);
  if (!m) return;
  if ('refused' in m) {
    const r = m.refused;
    notes.push(`${col.target}: ${who}'s expression ${r.text} was still refused after ${MAX_REPAIRS} repair turns: a person decides`);
    Object.assign(col, {
      reason: `${who} proposed ${col.target} = ${r.text} (${pc.why}), which ferry refuses: ${r.refusal} [${r.code}]; the rules had ${describe(col.origin)} (${col.reason}) — a person decides`,
      status: 'needs_review',
      confidence: 0,
    } satisfies Partial<ColumnMapping>);
    return;
  }
  const { origin, said } = m;
  const typeOnly = origin.kind === 'transform' ? `; ${TYPE_ONLY}` : '';
  if (sameOrigin(col.origin, origin)) {
    col.reason += `; ${who} agrees${said ? ` (${said})` : ''}`;
    return;
  }
  const replaces = (PLAIN.has(col.origin.kind) && PLAIN_FROM_MODEL.has(origin.kind)) || feedsUnmappedEnum(ctx.next, col, origin);
  if (replaces && col.status !== 'overridden') {
    notes.push(`${col.target}: ${describe(origin)} as the description asks (the rules had ${describe(col.origin)})${said ? `; ${said}` : typeOnly}`);
    Object.assign(col, {
      origin,
      reason: `${who}: ${pc.why} (the rules had ${describe(col.origin)}: ${col.reason})${said ? `; ${said}` : typeOnly}`,
      confidence: 0.8,
      status: 'mapped',
    } satisfies Partial<ColumnMapping>);
    if (origin.kind === 'expression') ctx.placed.push({ target: col.target, origin: origin as ExpressionOriginValue });
    return;
  }
  // The model's expression (and the rules', if one) is a command the CLI accepts: both were checked against this column.
  const accept =
    origin.kind === 'expression'
      ? `: ${acceptCmd(col.target, origin.text)}${col.origin.kind === 'expression' ? ` — or: ${acceptCmd(col.target, col.origin.text)}` : ''}`
      : '';
  col.reason = `${who} says ${describe(origin)} (${pc.why}${said ? `; ${said}` : typeOnly}); the rules say ${describe(col.origin)} (${col.reason}) — a person decides${accept}`;
  col.status = 'needs_review';
  col.confidence = 0;
}

export async function mergeProposal(input: {
  plan: MigrationPlan;
  proposal: PlanProposal;
  grounding: ColumnsGrounding;
  analysis: SchemaAnalysis;
  model: string;
  probe: PlanProbe;
}): Promise<MigrationPlan> {
  const { plan, proposal, analysis } = input;
  const next = structuredClone(plan);
  const source = findTable(analysis.source, plan.source.table, plan.source.schema);
  const target = findTable(analysis.target, plan.target.table, plan.target.schema);
  if (!source || !target) throw new PlanError('ANALYSIS_MISMATCH', 'the analysis has no tables of the plan');
  const ctx: MergeContext = { next, grounding: input.grounding, who: `Claude (${input.model})`, notes: [], placed: [] };
  const { who, notes } = ctx;

  for (const pc of proposal.columns) mergeColumn(ctx, pc, source, target);
  // An enum fed by the model's expression maps that expression's distinct values (the rules decide each).
  for (const p of ctx.placed) await placeExpression(p.origin, p.target, next, analysis, input.probe);

  const disagreements = mergeEnumValues(next, proposal, who, notes);
  mergeForeignKeys(next, proposal, who);

  // What the program reads: the legacy key and every source column an origin names or an expression reads.
  const reads = (o: ColumnOrigin): string[] => (o.kind === 'expression' ? columnsRead(o.expr) : 'source' in o ? [o.source] : 'sources' in o ? o.sources : []);
  const before = next.source.columns;
  next.source.columns = [...new Set([next.source.key, ...next.columns.flatMap((c) => reads(c.origin))])];
  // What stays behind is shown: columns an origin of the model's now reads leave the list, columns only a replaced rule read join it.
  const dropped = before.filter((c) => !next.source.columns.includes(c)).map((column) => ({ column, why: `no longer read: ${who}'s origins replaced the rules' that read it` }));
  if (next.notCarried) next.notCarried = [...next.notCarried.filter((n) => !next.source.columns.includes(n.column)), ...dropped];
  const open = reviewItems(next).length;
  const reasons = next.risk.reasons.filter((r) => !/decision\(s\) need a person/.test(r));
  if (disagreements) reasons.unshift(`${who} and the rules disagree on ${disagreements} enum value(s): a person decides each`);
  if (open) reasons.unshift(`${open} decision(s) need a person before this plan can run`);
  reasons.push(...notes);
  next.risk = { level: open > 0 ? 'high' : reasons.length > 0 ? 'medium' : 'low', reasons };
  return MigrationPlan.parse(next);
}

/** The model's enum values merged into the rules': agreement noted, a disagreement left to a person. Returns how many disagree. */
function mergeEnumValues(next: MigrationPlan, proposal: PlanProposal, who: string, notes: string[]): number {
  let disagreements = 0;
  const unknownValues: string[] = [];
  for (const pm of proposal.enumMappings) {
    const m = next.enumMappings.find((e) => e.targetColumn === pm.targetColumn);
    if (!m) continue;
    if (m.sourceColumn !== pm.sourceColumn) {
      notes.push(`${m.targetColumn}: ${who} reads values from ${pm.sourceColumn}, the rules from ${m.sourceColumn}; the rules' column is kept`);
      continue;
    }
    for (const pv of pm.values) {
      const v = m.values.find((x) => x.source === pv.source);
      if (!v) {
        unknownValues.push(JSON.stringify(pv.source));
        continue;
      }
      const suggestion = { target: pv.target, rule: 'claude', detail: `proposed by ${who}`, confidence: 0 };
      if (v.status === 'overridden') continue;
      if (v.status === 'mapped' && v.target === pv.target) {
        v.detail += `; ${who} agrees`;
      } else if (v.status === 'mapped') {
        disagreements += 1;
        const rules = { target: v.target!, rule: v.rule ?? 'rules', detail: v.detail, confidence: v.confidence };
        Object.assign(v, {
          target: null,
          rule: null,
          detail: `the rules say ${v.target} (${v.rule}: ${v.detail}); ${who} says ${pv.target}`,
          confidence: 0,
          status: 'needs_review' as const,
          alternatives: [rules, suggestion, ...v.alternatives.filter((a) => a.target !== rules.target)],
        });
      } else {
        v.detail += `; ${who} suggests ${pv.target}`;
        v.alternatives.push(suggestion);
      }
    }
  }
  if (unknownValues.length) notes.push(`${who} mapped value(s) the data does not hold, ignored: ${unknownValues.slice(0, 10).join(', ')}`);
  return disagreements;
}

/** The model's reference choices: agreement noted, a different choice left to a person. */
function mergeForeignKeys(next: MigrationPlan, proposal: PlanProposal, who: string): void {
  for (const pf of proposal.foreignKeys) {
    const d = next.foreignKeys.find((f) => f.column === pf.column);
    if (!d || pf.value === null || d.status === 'overridden') continue;
    if (pf.value === d.value) {
      d.reason += `; ${who} agrees`;
      continue;
    }
    const col = next.columns.find((c) => c.target === d.column);
    d.reason = `the rules chose ${d.value ?? 'nothing'} (${d.reason}); ${who} chose ${pf.value} (${pf.why})${d.candidates.some((c) => c.value === pf.value) ? '' : ', which is not among the candidates'}`;
    d.value = null;
    d.status = 'needs_review';
    if (col) Object.assign(col, { status: 'needs_review', confidence: 0, reason: `required reference to ${d.refTable}.${d.refColumn}: ${d.reason}` });
  }
}
