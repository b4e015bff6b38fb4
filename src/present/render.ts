import { reviewItems, type ColumnOrigin, type MigrationPlan } from '../core/artifacts/migration-plan.js';
import { describeSpan } from '../core/artifacts/description-reading.js';
import type { ValidationReport } from '../core/artifacts/validation-report.js';
import { parentKey } from '../core/expr/compile-ts.js';
import { parentLookups } from '../core/expr/walk.js';
import { describePlanFilters } from '../core/plan/filter-sql.js';
import { renderAppVisibility } from './app-visibility.js';

/** Plain-text tables for a terminal: no colours, so logs and CI keep them readable. */
export function table(headers: string[], rows: string[][]): string {
  const widths = headers.map((h, i) => Math.min(60, Math.max(h.length, ...rows.map((r) => (r[i] ?? '').length))));
  const last = headers.length - 1;
  // The last column (reasons, evidence) is never cut: it is what a reviewer reads.
  const fit = (s: string, w: number, i: number) => (i === last ? s : s.length > w ? `${s.slice(0, w - 1)}…` : s.padEnd(w));
  const line = (cells: string[]) => `  ${cells.map((c, i) => fit(c, widths[i]!, i)).join('  ')}`.trimEnd();
  return [line(headers), `  ${widths.map((w) => '─'.repeat(w)).join('  ')}`, ...rows.map(line)].join('\n');
}

export function describeOrigin(o: ColumnOrigin): string {
  switch (o.kind) {
    case 'copy':
      return `copy ${o.source}`;
    case 'cast':
      return `${o.source} as ${o.to}`;
    case 'constant':
      return `constant ${JSON.stringify(o.value)}`;
    case 'generated_uuid':
      return 'new uuid';
    case 'enum_map':
      return `enum map of ${o.source}`;
    case 'foreign_key':
      return 'FK decision';
    case 'via_mapping':
      return `${o.source} → ${o.parent.targetTable} via mappings (orphans: ${o.onOrphan})`;
    case 'transform':
      // "checked by type only" first: the origin column of `ferry show` is cut at 60 characters.
      return `function, checked by type only, of ${o.sources.join(', ')}: ${o.description}`;
    case 'expression':
      return `= ${o.text}`;
    case 'default':
      return 'database default';
  }
}

/** Each expression column as code, with the source columns and parent paths (through which key) it reads. */
export function renderExpressions(plan: MigrationPlan): string[] {
  const out: string[] = [];
  for (const c of plan.columns) {
    if (c.origin.kind !== 'expression') continue;
    if (out.length === 0) out.push('', 'Column expressions (compiled into the program; validation re-derives every value from the same expression in SQL)');
    out.push(`  ${c.target} = ${c.origin.text}`);
    const parents = parentLookups(c.origin.expr).map((p) => `${parentKey(p)} through ${(p.hops ?? []).map((h) => `${h.childColumns.join(', ')} → ${h.schema}.${h.table}`).join(', then ')}`);
    const direct = c.origin.reads.filter((r) => !r.includes('.'));
    out.push(`      reads ${[direct.join(', '), ...parents].filter((x) => x !== '').join('; ') || 'no column'}${c.origin.enumMapped ? '; each value through the enum mapping below' : ''}`);
  }
  return out;
}

function renderParentTables(plan: MigrationPlan): string[] {
  if (!plan.parentTables?.length) return [];
  return [
    '',
    'Referenced tables (which legacy table became which target table)',
    ...plan.parentTables.map(
      (p) => `  ${p.sourceTable} → ${p.targetTable} for ${p.columns.join(', ')}: ${p.evidence} (${p.detail})${p.parentMigrated ? '' : '; not migrated yet: run it first'}`,
    ),
  ];
}

/** The rules' reading beside the model's: agreement, or each disagreement numbered after the spans. */
function renderComparison(reading: NonNullable<MigrationPlan['reading']>): string[] {
  const c = reading.comparison;
  if (!c) return [];
  const rules = 'refused' in c.rules ? `the rules could not read it (${c.rules.refused})` : `the rules' reading ${c.rules.hash.slice(0, 12)}…`;
  if (c.disagreements.length === 0) return [`  Compared with ${rules}: they agree on every span.`];
  const n0 = reading.artifact.spans.length;
  return [
    `  Compared with ${rules}: ${c.disagreements.length} disagreement(s), each a decision (--ack <n> keeps the model's reading):`,
    ...c.disagreements.map((d, k) => {
      const ack = reading.acknowledged.includes(n0 + k + 1) ? ' (acknowledged)' : '';
      return `    #${n0 + k + 1} ⚠ "${d.text}": the model read ${d.model}; the rules read ${d.rules}${ack}`;
    }),
  ];
}

/** The description as read, span by span (numbered as --ack takes them); filler words are left out. */
export function renderReading(reading: NonNullable<MigrationPlan['reading']>): string[] {
  const out = [`  Read word by word (${reading.artifact.reader}, reading ${reading.hash.slice(0, 12)}…):`];
  reading.artifact.spans.forEach((s, i) => {
    if (s.binding.kind === 'filler') return;
    const ack = reading.acknowledged.includes(i + 1) ? ' (acknowledged)' : '';
    out.push(`    #${i + 1} ${s.binding.kind === 'unread' ? '⚠ ' : ''}${describeSpan(s)}${ack}`);
  });
  return [...out, ...renderComparison(reading)];
}

export function renderPlan(plan: MigrationPlan): string {
  const out: string[] = [];
  out.push(`Plan ${plan.id}  (revision ${plan.revision}, ${plan.status.toUpperCase()}${plan.approvedBy ? ` by ${plan.approvedBy}` : ''})`);
  out.push(`  "${plan.description}"`);
  out.push(`  ${plan.source.schema}.${plan.source.table} [${describePlanFilters(plan.source.filters)}] → ${plan.target.schema}.${plan.target.table}`, ...(plan.reading ? renderReading(plan.reading) : []));
  out.push(`  ${plan.source.rowCount} source rows; legacy key ${plan.source.key}; strategy ${plan.strategy.type}; batch size ${plan.strategy.batchSize}`);
  if (plan.strategy.dependencies.length) out.push(`  depends on: ${plan.strategy.dependencies.join(', ')}`);
  out.push('');
  out.push('Columns');
  out.push(
    table(
      ['target', 'type', 'from', 'conf', 'why'],
      plan.columns.map((c) => [
        `${c.status === 'needs_review' ? '⚠ ' : ''}${c.target}`,
        c.targetType,
        describeOrigin(c.origin),
        c.confidence.toFixed(2),
        c.reason,
      ]),
    ),
  );
  out.push(...renderExpressions(plan));
  for (const m of plan.enumMappings) {
    out.push('');
    out.push(`Enum mapping: ${m.sourceColumn} → ${m.targetColumn} (${m.enumType})`);
    out.push(`  ${m.reason}`);
    out.push(
      table(
        ['source value', 'rows', '→ value', 'rule', 'conf', 'evidence'],
        m.values.map((v) => [
          `${v.status === 'needs_review' ? '⚠ ' : ''}${v.source ?? 'NULL'}`,
          String(v.count),
          v.target ?? 'NEEDS REVIEW',
          v.rule ?? '—',
          v.confidence.toFixed(2),
          v.detail,
        ]),
      ),
    );
    const dist = new Map<string, number>();
    for (const v of m.values) if (v.target) dist.set(v.target, (dist.get(v.target) ?? 0) + v.count);
    out.push(`  distribution: ${[...dist].sort((a, b) => b[1] - a[1]).map(([k, n]) => `${k} ${n}`).join(', ')}`);
  }
  for (const fk of plan.foreignKeys) {
    out.push('');
    out.push(`Foreign key: ${fk.column} → ${fk.refSchema}.${fk.refTable}.${fk.refColumn} (${fk.strategy})`);
    out.push(`  value: ${fk.value ?? 'NEEDS REVIEW'}  [${fk.status}]`);
    out.push(`  why: ${fk.reason}`);
    out.push(`  candidates (${fk.candidateCount}, ${fk.candidateFilter}): ${fk.candidates.map((c) => `${c.label} ${c.value}`).join('; ') || 'none'}`);
  }
  out.push(...renderParentTables(plan));
  if (plan.notCarried?.length) {
    out.push('');
    out.push(`Not carried (${plan.notCarried.length} source column(s) no origin reads: they stay behind)`);
    out.push(table(['source column', 'why'], plan.notCarried.map((c) => [c.column, c.why])));
  }
  out.push('');
  out.push(`Transformations: ${plan.strategy.transformations.join(', ')}`);
  out.push(`Validations: ${plan.validations.join(', ')}`);
  out.push(`Risk: ${plan.risk.level.toUpperCase()}${plan.risk.reasons.length ? '' : ' (nothing flagged)'}`);
  for (const r of plan.risk.reasons) out.push(`  - ${r}`);
  if (plan.overrides.length) {
    out.push('Overrides:');
    for (const o of plan.overrides) out.push(`  - ${o.at} ${o.by}: ${o.what}`);
  }
  const items = reviewItems(plan);
  out.push('');
  if (items.length) {
    out.push(`Needs review (${items.length}) — the plan cannot run until these are decided:`);
    for (const i of items) out.push(`  ⚠ ${i}`);
  } else {
    out.push(plan.status === 'approved' ? 'Approved: ready to run.' : 'Nothing needs review: approve it with ferry approve <plan>.');
  }
  return out.join('\n');
}

export function renderReport(report: ValidationReport): string {
  const out: string[] = [];
  out.push(`Validation of migration ${report.migrationId}: ${report.status === 'passed' ? '✅ ALL VALIDATIONS PASSED' : '❌ FAILED'}`);
  out.push(
    `  source ${report.counts.source} · migrated ${report.counts.migrated} · mappings ${report.counts.mappings} · inserted by this run ${report.counts.insertedByRun} · target total ${report.counts.targetTotal}`,
  );
  for (const d of report.distributions) {
    out.push(`  ${d.column} distribution: ${d.values.map((v) => `${v.value} ${v.count}`).join(', ')}`);
  }
  out.push(table(['check', 'result', 'summary'], report.checks.map((c) => [c.name, c.status === 'pass' ? '✅ pass' : '❌ FAIL', c.summary])));
  for (const c of report.checks.filter((x) => x.problems.length)) {
    out.push(`  ${c.name}:`);
    for (const p of c.problems) out.push(`    - ${p.legacyKey === null ? '' : `legacy ${p.legacyKey}: `}${p.message}`);
    if (c.more) out.push(`    … and ${c.more} more`);
  }
  if (report.orphans?.length) {
    out.push(`  orphans (legacy references with no migrated parent):`);
    for (const o of report.orphans) out.push(`    - legacy ${o.legacyKey}: ${o.column} ← ${o.legacyValue}, written ${o.written ?? 'NULL'} (${o.policy})`);
  }
  if (report.appVisibility) out.push(renderAppVisibility(report.appVisibility));
  return out.join('\n');
}
