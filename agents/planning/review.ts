import { MigrationPlan, reviewItems, type ColumnMapping } from '../../src/core/artifacts/migration-plan.js';
import { InputError, PlanError } from '../../src/core/errors.js';
import type { PlanProbe } from './probe.js';

/** What a reviewer changes: enum values, FK choices, column origins. */
export interface PlanOverrides {
  /** source value → enum value, for a plan's (single or named) enum mapping. */
  map?: Array<{ source: string; target: string; column?: string }>;
  /** FK column → parent key. */
  fk?: Array<{ column: string; value: string }>;
  /** target column → source column, or const:<json or text>. */
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
    const span = r?.artifact.spans[n - 1];
    const b = span?.binding;
    if (!r || !span || !b || (b.kind !== 'unread' && b.kind !== 'derivation') || ('item' in b && b.item !== r.item)) {
      const open = r ? r.artifact.spans.flatMap((s, i) => (s.binding.kind === 'unread' || s.binding.kind === 'derivation' ? [`${i + 1} ("${s.text}")`] : [])) : [];
      throw new InputError('OVERRIDE_UNKNOWN_ACK', `--ack ${n} names no unread words or derivation of this plan's description`, {
        hint: open.length ? `words to acknowledge: ${open.join(', ')}` : 'this plan has no description words to acknowledge',
      });
    }
    if (!r.acknowledged.includes(n)) r.acknowledged.push(n);
    notes.push(`description words #${n} "${span.text}" acknowledged: the plan does not act on them`);
  }
  return notes;
}

/** `const:<json or text>`, `default`, or a source column (added to what the program reads). */
function overrideOrigin(text: string, next: MigrationPlan): ColumnMapping['origin'] {
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
  // The source column must exist in the analysed source; the plan only lists selected ones.
  if (!next.source.columns.includes(text)) next.source.columns.push(text);
  return { kind: 'copy', source: text };
}

/** One enum value set by the reviewer, grounded in the mapping's source values and enum; returns the note. */
function overrideEnumValue(next: MigrationPlan, m: NonNullable<PlanOverrides['map']>[number], by: string): string {
  const candidates = next.enumMappings.filter((e) => m.column === undefined || e.targetColumn === m.column);
  const mapping = candidates.find((e) => e.values.some((v) => v.source === m.source));
  if (!mapping) {
    const known = next.enumMappings.flatMap((e) => e.values.map((v) => JSON.stringify(v.source)));
    throw new InputError('OVERRIDE_UNKNOWN_VALUE', `no enum mapping has the source value ${JSON.stringify(m.source)}`, {
      hint: `source values in this plan: ${known.slice(0, 12).join(', ')}${known.length > 12 ? ', …' : ''}`,
    });
  }
  if (!mapping.enumValues.includes(m.target)) {
    throw new InputError('OVERRIDE_UNKNOWN_ENUM_VALUE', `"${m.target}" is not a value of ${mapping.enumType}`, {
      hint: `use one of: ${mapping.enumValues.join(', ')}`,
    });
  }
  const v = mapping.values.find((x) => x.source === m.source)!;
  const note = `${mapping.targetColumn}: ${JSON.stringify(m.source)} → ${m.target} (was ${v.target ?? 'unresolved'})`;
  Object.assign(v, { target: m.target, rule: 'override', detail: `set by ${by}`, confidence: 1, status: 'overridden' as const });
  return note;
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
): Promise<MigrationPlan> {
  const next: MigrationPlan = structuredClone(plan);
  const notes: string[] = [];
  for (const m of overrides.map ?? []) notes.push(overrideEnumValue(next, m, by));
  for (const f of overrides.fk ?? []) {
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
  for (const c of overrides.column ?? []) {
    const col = next.columns.find((x) => x.target === c.target);
    if (!col) {
      throw new InputError('OVERRIDE_UNKNOWN_COLUMN', `the target table has no column "${c.target}"`, {
        hint: `target columns: ${next.columns.map((x) => x.target).join(', ')}`,
      });
    }
    const origin = overrideOrigin(c.origin, next);
    notes.push(`${c.target}: origin ${JSON.stringify(col.origin)} → ${JSON.stringify(origin)}`);
    Object.assign(col, { origin, status: 'overridden', confidence: 1, reason: `set by ${by}` });
  }
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
  next.revision = plan.revision + 1;
  next.status = 'draft';
  delete next.approvedAt;
  delete next.approvedBy;
  next.overrides.push(...notes.map((what) => ({ at: now.toISOString(), by, what })));
  return MigrationPlan.parse(next);
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
