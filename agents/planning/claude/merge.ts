import { MigrationPlan, reviewItems, type ColumnMapping, type ColumnOrigin } from '../../../src/core/artifacts/migration-plan.js';
import { findTable, type SchemaAnalysis } from '../../../src/core/artifacts/schema-analysis.js';
import { PlanError } from '../../../src/core/errors.js';
import { columnsRead } from '../../../src/core/expr/index.js';
import { conversion } from '../columns.js';
import type { PlanProposal, ProposalOrigin } from './proposal.js';

/**
 * Lays the model's proposal over the plan the rules made from the same intent. The rules stay
 * the judge of everything they can decide:
 * - enum values: where the model and the rules disagree, the value needs review with both
 *   opinions as evidence; where the rules have no answer, the model's is shown as a
 *   suggestion and the value still needs review. Agreement is recorded, nothing more.
 * - reference choices and structural origins (new uuid, enum map, FK decision): a different
 *   opinion from the model puts the column in review; it never replaces the rules' choice.
 * - plain origins (copy, constant, database default) are what a description legitimately
 *   asks for ("keep the old ids", "everything active"), so the model's, grounded and
 *   type-checked already, replaces the rules' there, with both in the reason.
 */
const PLAIN = new Set<ColumnOrigin['kind']>(['copy', 'cast', 'constant', 'default']);
/** What the model may put in place of a plain origin: those, or a function it describes (written later, type-checked, sandboxed). */
const PLAIN_FROM_MODEL = new Set<ColumnOrigin['kind']>([...PLAIN, 'transform']);

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
      return `the expression ${o.text}`;
    default:
      return o.kind;
  }
}

function sameOrigin(rules: ColumnOrigin, model: ColumnOrigin): boolean {
  // The model says "a reference ferry resolves"; the rules say how (a chosen row, or the parent's mappings).
  if (model.kind === 'foreign_key' && rules.kind === 'via_mapping') return true;
  if (rules.kind !== model.kind) return false;
  return JSON.stringify(rules) === JSON.stringify(model);
}

export function mergeProposal(plan: MigrationPlan, proposal: PlanProposal, analysis: SchemaAnalysis, model: string): MigrationPlan {
  const next = structuredClone(plan);
  const source = findTable(analysis.source, plan.source.table, plan.source.schema);
  const target = findTable(analysis.target, plan.target.table, plan.target.schema);
  if (!source || !target) throw new PlanError('ANALYSIS_MISMATCH', 'the analysis has no tables of the plan');
  const notes: string[] = [];
  const who = `Claude (${model})`;

  for (const pc of proposal.columns) {
    const col = next.columns.find((c) => c.target === pc.target);
    const info = target.columns.find((c) => c.name === pc.target);
    if (!col || !info) continue;
    let origin: ColumnOrigin = pc.origin;
    if (pc.origin.kind === 'copy') {
      const s = source.columns.find((c) => c.name === (pc.origin as { source: string }).source)!;
      origin = conversion(s.category, info.category) === 'cast' ? { kind: 'cast', source: s.name, to: info.category } : pc.origin;
    }
    if (sameOrigin(col.origin, origin)) {
      col.reason += `; ${who} agrees`;
      continue;
    }
    // A rule's proposed expression (full_name ← first_name || ' ' || last_name) is evidence of the same weight as a name match.
    const replaceable = PLAIN.has(col.origin.kind) || col.origin.kind === 'expression';
    if (replaceable && PLAIN_FROM_MODEL.has(origin.kind) && col.status !== 'overridden') {
      notes.push(`${col.target}: ${describe(origin)} as the description asks (the rules had ${describe(col.origin)})`);
      Object.assign(col, {
        origin,
        reason: `${who}: ${pc.why} (the rules had ${describe(col.origin)}: ${col.reason})`,
        confidence: 0.8,
        status: 'mapped',
      } satisfies Partial<ColumnMapping>);
      continue;
    }
    col.reason = `${who} says ${describe(origin)} (${pc.why}); the rules say ${describe(col.origin)} (${col.reason}) — a person decides`;
    col.status = 'needs_review';
    col.confidence = 0;
  }

  const disagreements = mergeEnumValues(next, proposal, who, notes);
  mergeForeignKeys(next, proposal, who);

  // What the program reads: the legacy key and every source column an origin names.
  next.source.columns = [
    ...new Set([next.source.key, ...next.columns.flatMap((c) => (c.origin.kind === 'expression' ? columnsRead(c.origin.expr) : 'source' in c.origin ? [c.origin.source] : 'sources' in c.origin ? c.origin.sources : []))]),
  ];
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
