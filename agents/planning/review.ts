import { MigrationPlan, reviewItems, type ColumnMapping } from '../../src/core/artifacts/migration-plan.js';
import type { SchemaAnalysis } from '../../src/core/artifacts/schema-analysis.js';
import { InputError, PlanError } from '../../src/core/errors.js';
import { columnsRead } from '../../src/core/expr/index.js';
import { expressionOverride } from './expression.js';
import { overrideEnumValues, overrideNullValue, type MapNullOverride, type MapOverride } from './enum-overrides.js';
import type { PlanProbe } from './probe.js';
import { applyRowOverrides, takeBackRowOverrides, type RowOverrides } from './row-filters.js';

/** What a reviewer changes: enum values, FK choices, column origins, the rows that move. */
export interface PlanOverrides extends RowOverrides {
  /** source value (or a glob over the flagged ones) → enum value, for a plan's (single or named) enum mapping. */
  map?: MapOverride[];
  /** The enum value rows with a NULL source value take. */
  mapNull?: MapNullOverride[];
  /** FK column → parent key. */
  fk?: Array<{ column: string; value: string }>;
  /** target column → source column, const:<json or text>, default, or an expression in the column language. */
  column?: Array<{ target: string; origin: string }>;
  /** via_mapping column → what to do with a legacy value that has no parent mapping. */
  orphans?: Array<{ column: string; policy: string }>;
  /** Numbers of the description's spans (review items) a person acknowledges: the plan goes ahead without them. */
  ack?: number[];
}

/** Acknowledges description spans by number; each must be one of the plan's reading review items. */
function acknowledge(next: MigrationPlan, ns: number[]): string[] {
  const r = next.reading;
  const notes: string[] = [];
  for (const n of ns) {
    const disagreement = r?.comparison?.disagreements[n - 1 - r.artifact.spans.length];
    if (r && disagreement) {
      if (!r.acknowledged.includes(n)) r.acknowledged.push(n);
      notes.push(`description words #${n} "${disagreement.text}" acknowledged: the plan keeps the model's reading (${disagreement.model}) over the rules' (${disagreement.rules})`);
      continue;
    }
    const span = r?.artifact.spans[n - 1];
    const b = span?.binding;
    if (!r || !span || !b || (b.kind !== 'unread' && b.kind !== 'derivation') || ('item' in b && b.item !== r.item)) {
      const spans = r ? r.artifact.spans.flatMap((s, i) => (s.binding.kind === 'unread' || s.binding.kind === 'derivation' ? [`${i + 1} ("${s.text}")`] : [])) : [];
      const open = [...spans, ...(r?.comparison?.disagreements ?? []).map((d, k) => `${r!.artifact.spans.length + k + 1} ("${d.text}", read differently)`)];
      throw new InputError('OVERRIDE_UNKNOWN_ACK', `--ack ${n} names no unread words or derivation of this plan's description`, {
        hint: open.length ? `words to acknowledge: ${open.join(', ')}` : 'this plan has no description words to acknowledge',
      });
    }
    if (!r.acknowledged.includes(n)) r.acknowledged.push(n);
    notes.push(`description words #${n} "${span.text}" acknowledged: the plan does not act on them`);
  }
  return notes;
}

/** A bare name is a source column (a copy, as before the column language); anything else is an expression. */
const BARE_NAME = /^[A-Za-z_][A-Za-z0-9_$]*$/;

/**
 * A source column the description names as a whole origin ("description as synopsis"): a bare
 * name `--column` copies, and one the column language reads as itself (no quotes, no case to fold).
 */
export const isPlainColumnName = (name: string): boolean => /^[a-z_][a-z0-9_$]*$/.test(name);

/** `const:<json or text>`, `default`, a source column (added to what the program reads), or an expression. */
async function overrideOrigin(
  text: string,
  target: string,
  next: MigrationPlan,
  ctx: { analysis: SchemaAnalysis | undefined; probe: PlanProbe },
): Promise<ColumnMapping['origin']> {
  if (text.startsWith('const:')) {
    const raw = text.slice('const:'.length);
    let value: string | number | boolean | null;
    try {
      const parsed: unknown = JSON.parse(raw);
      value = parsed === null || ['string', 'number', 'boolean'].includes(typeof parsed) ? (parsed as string | number | boolean | null) : raw;
    } catch {
      value = raw;
    }
    return { kind: 'constant', value };
  }
  if (text === 'default') return { kind: 'default' };
  if (!BARE_NAME.test(text.trim())) return expressionOverride(text, target, next, ctx.analysis, ctx.probe);
  text = text.trim();
  // The source column must exist in the analysed source; the plan only lists selected ones.
  if (!next.source.columns.includes(text)) next.source.columns.push(text);
  return { kind: 'copy', source: text };
}

/** --fk: each parent key must exist in the parent table; returns the notes. */
async function overrideForeignKeys(next: MigrationPlan, fks: NonNullable<PlanOverrides['fk']>, by: string, probe: PlanProbe): Promise<string[]> {
  const notes: string[] = [];
  for (const f of fks) {
    const decision = next.foreignKeys.find((d) => d.column === f.column);
    if (!decision) {
      throw new InputError('OVERRIDE_UNKNOWN_FK', `the plan has no foreign-key decision for "${f.column}"`, {
        hint: `FK columns in this plan: ${next.foreignKeys.map((d) => d.column).join(', ') || 'none'}`,
      });
    }
    const exists = await probe.parentExists({ schema: decision.refSchema, table: decision.refTable, keyColumn: decision.refColumn, key: f.value });
    if (!exists) {
      throw new InputError('OVERRIDE_UNKNOWN_PARENT', `${decision.refTable} has no row with ${decision.refColumn} = ${JSON.stringify(f.value)}`, {
        hint: `candidates: ${decision.candidates.map((c) => `${c.value} (${c.label})`).join(', ') || 'none'}`,
      });
    }
    notes.push(`${f.column}: ${decision.value ?? 'unresolved'} → ${f.value}`);
    Object.assign(decision, { value: f.value, reason: `set by ${by}`, status: 'overridden' as const });
    const col = next.columns.find((c) => c.target === f.column);
    if (col) Object.assign(col, { status: 'overridden', confidence: 1, reason: `required reference to ${decision.refTable}.${decision.refColumn}: set by ${by}` });
  }
  return notes;
}

/**
 * Applies a reviewer's changes and returns the next revision (draft). Every value is
 * grounded: an enum value must belong to the enum, a source value to the data, a parent key
 * to the parent table, a source column to the source columns.
 */
export async function applyOverrides(
  plan: MigrationPlan,
  overrides: PlanOverrides,
  by: string,
  probe: PlanProbe,
  now: Date = new Date(),
  /** Whether a target column allows NULL (from the analysis the plan was made from). */
  nullability?: (column: string) => boolean | undefined,
  /** The analysis the plan was made from: column expressions, --where and --exclude-null are checked against it. */
  analysis?: SchemaAnalysis,
): Promise<MigrationPlan> {
  const next: MigrationPlan = structuredClone(plan);
  const notes: string[] = [];
  // Columns first: an expression feeding an enum brings the distinct values --map then resolves.
  await applyColumnOverrides(next, overrides, by, { analysis, probe }, notes);
  // Conditions taken back next: values that come back are there for this revision's --map / --map-null.
  notes.push(...(await takeBackRowOverrides(next, overrides, probe, analysis)));
  for (const m of overrides.mapNull ?? []) notes.push(overrideNullValue(next, m, by));
  for (const m of overrides.map ?? []) notes.push(overrideEnumValues(next, m, by));
  notes.push(...(await overrideForeignKeys(next, overrides.fk ?? [], by, probe)));
  for (const o of overrides.orphans ?? []) {
    const col = next.columns.find((x) => x.target === o.column);
    if (!col || col.origin.kind !== 'via_mapping') {
      throw new InputError('OVERRIDE_UNKNOWN_REFERENCE', `"${o.column}" is not a column resolved through a parent's mappings`, {
        hint: `such columns in this plan: ${next.columns.filter((x) => x.origin.kind === 'via_mapping').map((x) => x.target).join(', ') || 'none'}`,
      });
    }
    if (o.policy !== 'set_null' && o.policy !== 'fail') {
      throw new InputError('OVERRIDE_INVALID_ORPHAN_POLICY', `orphan policy "${o.policy}" is not set_null or fail`, { hint: `--orphans ${o.column}=set_null or --orphans ${o.column}=fail` });
    }
    if (o.policy === 'set_null' && nullability?.(o.column) === false) {
      throw new InputError('OVERRIDE_INVALID_ORPHAN_POLICY', `${o.column} is NOT NULL in the target, so orphans cannot be set to NULL`, {
        hint: `--orphans ${o.column}=fail, or narrow the plan's filter to leave the orphan rows out`,
      });
    }
    notes.push(`${o.column}: orphans ${col.origin.onOrphan} → ${o.policy}`);
    col.origin = { ...col.origin, onOrphan: o.policy };
    Object.assign(col, { status: 'overridden', confidence: 1, reason: `${col.reason.replace(/; decide: .*$/, '')}; orphans: ${o.policy}, set by ${by}` });
  }
  notes.push(...acknowledge(next, overrides.ack ?? []));
  // Last: the recount sees the enum values as this revision leaves them.
  notes.push(...(await applyRowOverrides(next, overrides, probe, analysis)));
  next.revision = plan.revision + 1;
  next.status = 'draft';
  delete next.approvedAt;
  delete next.approvedBy;
  next.overrides.push(...notes.map((what) => ({ at: now.toISOString(), by, what })));
  return MigrationPlan.parse(next);
}

/** Each `--column`, grounded (an expression checked against the analysis), noted in words. */
async function applyColumnOverrides(
  next: MigrationPlan,
  overrides: PlanOverrides,
  by: string,
  ctx: { analysis: SchemaAnalysis | undefined; probe: PlanProbe },
  notes: string[],
): Promise<void> {
  for (const c of overrides.column ?? []) {
    const col = next.columns.find((x) => x.target === c.target);
    if (!col) {
      throw new InputError('OVERRIDE_UNKNOWN_COLUMN', `the target table has no column "${c.target}"`, {
        hint: `target columns: ${next.columns.map((x) => x.target).join(', ')}`,
      });
    }
    const origin = await overrideOrigin(c.origin, c.target, next, ctx);
    const shown = (o: ColumnMapping['origin']) => (o.kind === 'expression' ? `expression ${o.text}` : JSON.stringify(o));
    notes.push(`${c.target}: origin ${shown(col.origin)} → ${shown(origin)}`);
    Object.assign(col, { origin, status: 'overridden', confidence: 1, reason: `set by ${by}` });
    // What the new origin reads is carried now: it no longer "stays behind".
    const read = origin.kind === 'expression' ? columnsRead(origin.expr) : origin.kind === 'copy' ? [origin.source] : [];
    if (next.notCarried) next.notCarried = next.notCarried.filter((n) => !read.includes(n.column));
  }
}

/** Approves a plan with nothing left to review. */
export function approvePlan(plan: MigrationPlan, by: string, now: Date = new Date()): MigrationPlan {
  const items = reviewItems(plan);
  if (items.length > 0) {
    throw new PlanError('PLAN_NEEDS_REVIEW', `the plan has ${items.length} decision(s) a person must make first:\n  - ${items.join('\n  - ')}`, {
      hint: 'resolve them with the --map / --fk / --column flags shown, then approve again',
      details: { items },
    });
  }
  if (plan.status === 'rejected') {
    throw new PlanError('PLAN_REJECTED', `plan ${plan.id} revision ${plan.revision} was rejected`, { hint: 'make a new plan with ferry plan' });
  }
  return MigrationPlan.parse({ ...plan, status: 'approved', approvedAt: now.toISOString(), approvedBy: by });
}
