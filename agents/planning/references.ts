import type { ColumnMapping } from '../../src/core/artifacts/migration-plan.js';
import { findTable, type ColumnInfo, type ForeignKeyInfo, type SchemaAnalysis, type TableInfo } from '../../src/core/artifacts/schema-analysis.js';
import { nameScore } from './columns.js';
import { legacyKeyOf } from './legacy-key.js';
import type { PlanProbe } from './probe.js';
import { singular, tokens } from './words.js';

/** Why a legacy table is taken to be the one a target table was made from, strongest first. */
export type TableEvidence = 'plan_set' | 'migration_control' | 'description' | 'name';

/** A legacy table and the target table it became (or becomes), with the evidence. */
export interface TablePair {
  source: TableInfo;
  target: TableInfo;
  evidence: TableEvidence;
  detail: string;
}

/**
 * What the planner knows about which legacy table became which target table beyond names:
 * the pairs of the plan set being planned (this plan's own pair among them), and the
 * completed migrations recorded in migration_control.
 */
export interface TableKnowledge {
  planSet: Array<{ source: TableInfo; target: TableInfo }>;
  migrated: Array<{ sourceTable: string; targetTable: string }>;
  description: string;
}

const qname = (t: { schema: string; name: string }) => `${t.schema}.${t.name}`;

/**
 * The legacy table that became `target`: from the plan set, then completed migrations, then
 * the description's words ("employee into staff_members"), then names (employees ~ employee).
 */
export function legacyTableOf(target: TableInfo, analysis: SchemaAnalysis, known: TableKnowledge): TablePair | null {
  const inSet = known.planSet.find((p) => qname(p.target) === qname(target));
  if (inSet) return { source: inSet.source, target, evidence: 'plan_set', detail: `planned together: ${qname(inSet.source)} → ${qname(target)}` };
  const runs = known.migrated.filter((m) => m.targetTable === qname(target));
  const fromRuns = [...new Set(runs.map((r) => r.sourceTable))];
  if (fromRuns.length === 1) {
    const source = analysis.source.tables.find((t) => qname(t) === fromRuns[0]);
    if (source) return { source, target, evidence: 'migration_control', detail: `a completed migration ${qname(source)} → ${qname(target)} in migration_control` };
  }
  const said = describedPair(known.description, target, analysis);
  if (said) return { source: said.source, target, evidence: 'description', detail: `the description says "${said.words}"` };
  const byName = analysis.source.tables.filter((t) => sameSubject(t.name, target.name) && t.primaryKey.length === 1);
  if (byName.length === 1) return { source: byName[0]!, target, evidence: 'name', detail: `by name only (${byName[0]!.name} ~ ${target.name})` };
  return null;
}

/** "employee into staff_members", "employee to staff_members", "employee → staff_members". */
function describedPair(description: string, target: TableInfo, analysis: SchemaAnalysis): { source: TableInfo; words: string } | null {
  const re = /"?([A-Za-z_][\w.]*)"?\s+(?:into|to|as|becomes|became|→|->)\s+(?:the\s+)?"?([A-Za-z_][\w.]*)"?/gi;
  for (const m of description.matchAll(re)) {
    const [, from = '', to = ''] = m;
    const toName = to.includes('.') ? to.slice(to.indexOf('.') + 1) : to;
    if (toName.toLowerCase() !== target.name.toLowerCase()) continue;
    const fromName = from.includes('.') ? from.slice(from.indexOf('.') + 1) : from;
    const hits = analysis.source.tables.filter((t) => t.name.toLowerCase() === fromName.toLowerCase());
    const source = hits.length === 1 ? hits[0]! : analysis.source.tables.find((t) => sameSubject(t.name, fromName));
    if (source && legacyKeyOf(source).sourceKey !== null) return { source, words: m[0] };
  }
  return null;
}

/** The legacy side of a target FK: which source column holds the parent's legacy id. */
export interface LegacyReference {
  sourceColumn: ColumnInfo;
  parentSource: TableInfo;
  parentTarget: TableInfo;
  refColumn: string;
  /** How it was found, for the plan's reason. */
  evidence: string;
  /** How the parent's legacy table was tied to its target table. */
  pair: TablePair;
}

/** employees ~ employee ~ Employees; legacy_customers does not match customers. */
export function sameSubject(a: string, b: string): boolean {
  return tokens(a).map(singular).join('_') === tokens(b).map(singular).join('_');
}

/** A reference column's name without its key suffix: support_rep_id → support_rep, manager_uuid → manager. */
export function referenceStem(name: string): string {
  const t = tokens(name);
  while (t.length > 1 && ['id', 'uuid', 'no', 'key', 'fk', 'ref'].includes(t[t.length - 1]!)) t.pop();
  return t.map(singular).join('_');
}

/**
 * A target FK column whose parent is a migrated table: the source row holds the parent's
 * legacy id, found through the source's FK to the legacy table that became the parent
 * (see legacyTableOf) or, where the legacy schema never declared one, a column whose name
 * matches the target column's (support_rep_id ~ support_rep) and whose type is the parent's
 * legacy key's. The target FK must reference the parent's primary key, because that is the
 * new id migration_mappings records.
 */
export function findLegacyReference(
  column: ColumnInfo,
  fk: ForeignKeyInfo,
  source: TableInfo,
  analysis: SchemaAnalysis,
  subjects: { target: Set<string>; source: Set<string> },
  known: TableKnowledge,
  used: ReadonlySet<string> = new Set(),
): LegacyReference | null {
  const parentTarget = findTable(analysis.target, fk.refTable, fk.refSchema);
  const refColumn = fk.refColumns[0];
  if (!parentTarget || !refColumn || parentTarget.primaryKey.length !== 1 || parentTarget.primaryKey[0] !== refColumn) return null;
  const pair = legacyTableOf(parentTarget, analysis, known);
  if (!pair) return null;
  const parentSource = pair.source;

  const declared = source.foreignKeys
    .filter((s) => s.columns.length === 1 && s.refSchema === parentSource.schema && s.refTable === parentSource.name && !used.has(s.columns[0]!))
    .map((s) => ({ s, score: Math.max(nameScore(column.name, s.columns[0]!, subjects.target, subjects.source), referenceStem(column.name) === referenceStem(s.columns[0]!) ? 0.9 : 0) }))
    .sort((a, b) => b.score - a.score);
  // One declared FK to the parent's legacy table is enough; several need the names to agree.
  const pick = declared.length === 1 ? declared[0] : declared[0] && declared[0].score >= 0.7 && (declared[1]?.score ?? 0) < declared[0].score ? declared[0] : undefined;
  if (pick) {
    const sourceColumn = source.columns.find((c) => c.name === pick.s.columns[0]);
    if (sourceColumn) {
      return { sourceColumn, parentSource, parentTarget, refColumn, pair, evidence: `legacy FK ${source.name}.${sourceColumn.name} → ${parentSource.name}.${pick.s.refColumns[0]}; ${parentSource.name} → ${parentTarget.name}: ${pair.detail}` };
    }
  }

  const parentKey = parentSource.columns.find((c) => c.name === legacyKeyOf(parentSource).sourceKey);
  const declaredElsewhere = new Set(source.foreignKeys.flatMap((f) => (f.columns.length === 1 ? [f.columns[0]!] : [])));
  const byName = source.columns.filter(
    (c) =>
      !used.has(c.name) &&
      !declaredElsewhere.has(c.name) &&
      (c.name.toLowerCase() === column.name.toLowerCase() || referenceStem(c.name) === referenceStem(column.name)) &&
      !source.primaryKey.includes(c.name),
  );
  const sourceColumn = byName.length === 1 ? byName[0] : undefined;
  if (sourceColumn && parentKey && sourceColumn.category === parentKey.category) {
    return {
      sourceColumn,
      parentSource,
      parentTarget,
      refColumn,
      pair,
      evidence: `no legacy FK is declared; ${source.name}.${sourceColumn.name} matches the target column's name and has the type of ${parentSource.name}.${parentKey.name}; ${parentSource.name} → ${parentTarget.name}: ${pair.detail}`,
    };
  }
  return null;
}

/**
 * The column's origin through the parent migration's mappings, with the orphan policy the
 * legacy data calls for: none seen → fail (an orphan at run time is a surprise and stops the
 * run); some seen → a person decides between set_null and fail before the plan can run.
 */
export async function decideViaMapping(input: {
  column: ColumnInfo;
  ref: LegacyReference;
  source: TableInfo;
  sourceKey: string;
  target: TableInfo;
  filters: Parameters<PlanProbe['orphanValues']>[0]['filters'];
  probe: PlanProbe;
}): Promise<{ mapping: ColumnMapping; orphans: number; self: boolean }> {
  const { column, ref, source, target } = input;
  const self = ref.parentSource === source || (ref.parentSource.schema === source.schema && ref.parentSource.name === source.name);
  const selfTarget = ref.parentTarget.schema === target.schema && ref.parentTarget.name === target.name;
  const isSelf = self && selfTarget;
  const parentKey = legacyKeyOf(ref.parentSource).sourceKey!;
  const orphans = await input.probe.orphanValues({
    schema: source.schema,
    table: source.name,
    key: input.sourceKey,
    column: ref.sourceColumn.name,
    filters: input.filters,
    parentSchema: ref.parentSource.schema,
    parentTable: ref.parentSource.name,
    parentKey,
    limit: 10,
  });
  const parent = {
    sourceTable: `${ref.parentSource.schema}.${ref.parentSource.name}`,
    targetTable: `${ref.parentTarget.schema}.${ref.parentTarget.name}`,
    refColumn: ref.refColumn,
  };
  const how = `${ref.sourceColumn.name} holds the legacy ${ref.parentSource.name} id (${ref.evidence}); replaced by the new ${ref.parentTarget.name}.${ref.refColumn} from the mappings of ${parent.sourceTable} → ${parent.targetTable}`;
  const pass = isSelf ? '; a reference into this table, so rows are written with it NULL and a second pass sets it once every row has its new id' : '';
  const base = { target: column.name, targetType: column.pgType };
  if (isSelf && !column.nullable) {
    return {
      mapping: {
        ...base,
        targetNullable: column.nullable,
        origin: { kind: 'via_mapping', source: ref.sourceColumn.name, parent, onOrphan: 'needs_review' },
        reason: `${how}; but ${column.name} is NOT NULL, and a self-reference is written in a second pass, which needs it nullable`,
        confidence: 0,
        status: 'needs_review',
      },
      orphans: orphans.count,
      self: isSelf,
    };
  }
  if (orphans.count === 0) {
    return {
      mapping: {
        ...base,
        origin: { kind: 'via_mapping', source: ref.sourceColumn.name, parent, onOrphan: 'fail' },
        reason: `${how}${pass}; every legacy value has its parent, so a value without a mapping at run time fails the run, naming it`,
        confidence: 0.9,
        status: 'mapped',
      },
      orphans: 0,
      self: isSelf,
    };
  }
  const sample = orphans.sample.map((o) => `${input.sourceKey} ${o.key} → ${o.value}`).join(', ');
  const choices = column.nullable ? 'set_null (the column is nullable) or fail' : 'fail (the column is NOT NULL, so set_null is not possible) — or narrow the filter';
  return {
    mapping: {
      ...base,
      targetNullable: column.nullable,
      origin: { kind: 'via_mapping', source: ref.sourceColumn.name, parent, onOrphan: 'needs_review' },
      reason: `${how}${pass}; ${orphans.count} legacy row(s) point at a ${ref.parentSource.name} row that does not exist (${sample}${orphans.count > orphans.sample.length ? ', …' : ''}); decide: ${choices}`,
      confidence: 0.5,
      status: 'needs_review',
    },
    orphans: orphans.count,
    self: isSelf,
  };
}
