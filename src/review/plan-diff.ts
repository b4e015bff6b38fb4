import type { ColumnOrigin, MigrationPlan } from '../core/artifacts/migration-plan.js';
import { canonicalJson } from '../core/artifacts/hash.js';
import { describePlanFilters } from '../core/plan/filter-sql.js';

/** One decision that differs between two plan versions, in a reviewer's words. */
export interface PlanChange {
  area: 'status' | 'column' | 'enum_value' | 'foreign_key' | 'source' | 'risk' | 'override';
  /** What changed: a target column, `role_type: "MT-Quality Check"`, an FK column. */
  subject: string;
  from: string;
  to: string;
}

// An expression is shown as written: its stored tree is what the text parses to.
const origin = (o: ColumnOrigin): string => (o.kind === 'expression' ? `expression ${o.text}${o.enumMapped ? ' (values through the enum mapping)' : ''}` : canonicalJson(o));

/**
 * The difference between two versions of one plan, by decision rather than by JSON path:
 * column origins, enum value targets, FK choices, source columns, risk, status and the
 * overrides added on the way.
 */
export function diffPlans(a: MigrationPlan, b: MigrationPlan): PlanChange[] {
  const out: PlanChange[] = [];
  if (a.status !== b.status) out.push({ area: 'status', subject: 'status', from: a.status, to: b.status });
  const aCols = new Map(a.columns.map((c) => [c.target, c]));
  for (const c of b.columns) {
    const before = aCols.get(c.target);
    if (!before) out.push({ area: 'column', subject: c.target, from: '(absent)', to: origin(c.origin) });
    else if (origin(before.origin) !== origin(c.origin) || before.status !== c.status) {
      out.push({ area: 'column', subject: c.target, from: `${origin(before.origin)} [${before.status}]`, to: `${origin(c.origin)} [${c.status}]` });
    }
  }
  for (const m of b.enumMappings) {
    const before = a.enumMappings.find((x) => x.targetColumn === m.targetColumn);
    for (const v of m.values) {
      const old = before?.values.find((x) => x.source === v.source);
      const was = old ? `${old.target ?? 'unresolved'} (${old.rule ?? 'no rule'}, ${old.status})` : '(absent)';
      const now = `${v.target ?? 'unresolved'} (${v.rule ?? 'no rule'}, ${v.status})`;
      if (was !== now) out.push({ area: 'enum_value', subject: `${m.targetColumn}: ${JSON.stringify(v.source)}`, from: was, to: now });
    }
  }
  for (const fk of b.foreignKeys) {
    const before = a.foreignKeys.find((x) => x.column === fk.column);
    const was = before ? `${before.value ?? 'unresolved'} [${before.status}]` : '(absent)';
    const now = `${fk.value ?? 'unresolved'} [${fk.status}]`;
    if (was !== now) out.push({ area: 'foreign_key', subject: fk.column, from: was, to: now });
  }
  if (a.source.columns.join(',') !== b.source.columns.join(',')) {
    out.push({ area: 'source', subject: 'source columns', from: a.source.columns.join(', '), to: b.source.columns.join(', ') });
  }
  const [fa, fb] = [describePlanFilters(a.source.filters), describePlanFilters(b.source.filters)];
  if (fa !== fb) out.push({ area: 'source', subject: 'rows that move', from: `${fa} (${a.source.rowCount} rows)`, to: `${fb} (${b.source.rowCount} rows)` });
  for (const m of a.enumMappings) {
    const after = b.enumMappings.find((x) => x.targetColumn === m.targetColumn);
    for (const v of m.values) {
      if (after && !after.values.some((x) => x.source === v.source)) out.push({ area: 'enum_value', subject: `${m.targetColumn}: ${JSON.stringify(v.source)}`, from: `${v.target ?? 'unresolved'} (${v.count} rows)`, to: '(no rows left under the filter)' });
    }
  }
  if (a.risk.level !== b.risk.level) out.push({ area: 'risk', subject: 'risk', from: a.risk.level, to: b.risk.level });
  for (const o of b.overrides.slice(a.overrides.length)) out.push({ area: 'override', subject: o.by, from: '', to: o.what });
  return out;
}
