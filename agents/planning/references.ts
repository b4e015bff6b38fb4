import type { ColumnMapping } from '../../src/core/artifacts/migration-plan.js';
import type { ColumnInfo, ForeignKeyInfo, SchemaAnalysis, TableInfo } from '../../src/core/artifacts/schema-analysis.js';
import { nameScore } from './columns.js';
import type { PlanProbe } from './probe.js';
import { singular, tokens } from './words.js';

/** The legacy side of a target FK: which source column holds the parent's legacy id. */
export interface LegacyReference {
  sourceColumn: ColumnInfo;
  parentSource: TableInfo;
  parentTarget: TableInfo;
  refColumn: string;
  /** How it was found, for the plan's reason. */
  evidence: string;
}

/** employees ~ employee ~ Employees; legacy_customers does not match customers. */
export function sameSubject(a: string, b: string): boolean {
  return tokens(a).map(singular).join('_') === tokens(b).map(singular).join('_');
}

/**
 * A target FK column whose parent is a migrated table: the source row holds the parent's
 * legacy id, found through the source's FK to the parent's legacy table (or, where the
 * legacy schema never declared one, a column of the same name and a legacy table of the
 * parent's name). The target FK must reference the parent's primary key, because that is
 * the new id migration_mappings records.
 */
export function findLegacyReference(
  column: ColumnInfo,
  fk: ForeignKeyInfo,
  source: TableInfo,
  analysis: SchemaAnalysis,
  subjects: { target: Set<string>; source: Set<string> },
): LegacyReference | null {
  const parentTarget = analysis.target.tables.find((t) => t.schema === fk.refSchema && t.name === fk.refTable);
  const refColumn = fk.refColumns[0];
  if (!parentTarget || !refColumn || parentTarget.primaryKey.length !== 1 || parentTarget.primaryKey[0] !== refColumn) return null;

  const declared = source.foreignKeys
    .filter((s) => s.columns.length === 1 && sameSubject(s.refTable, parentTarget.name))
    .map((s) => ({ s, score: nameScore(column.name, s.columns[0]!, subjects.target, subjects.source) }))
    .sort((a, b) => b.score - a.score);
  // One declared FK to the parent's legacy table is enough; several need the names to agree.
  const pick = declared.length === 1 ? declared[0] : declared[0] && declared[0].score >= 0.7 && (declared[1]?.score ?? 0) < declared[0].score ? declared[0] : undefined;
  if (pick) {
    const parentSource = analysis.source.tables.find((t) => t.schema === pick.s.refSchema && t.name === pick.s.refTable);
    const sourceColumn = source.columns.find((c) => c.name === pick.s.columns[0]);
    if (parentSource && sourceColumn) {
      return { sourceColumn, parentSource, parentTarget, refColumn, evidence: `legacy FK ${source.name}.${sourceColumn.name} → ${parentSource.name}.${pick.s.refColumns[0]}` };
    }
  }

  const parentSource = analysis.source.tables.find((t) => sameSubject(t.name, parentTarget.name) && t.primaryKey.length === 1);
  const sourceColumn = source.columns.find((c) => c.name.toLowerCase() === column.name.toLowerCase());
  const parentKey = parentSource?.columns.find((c) => c.name === parentSource.primaryKey[0]);
  if (parentSource && sourceColumn && parentKey && sourceColumn.category === parentKey.category) {
    return {
      sourceColumn,
      parentSource,
      parentTarget,
      refColumn,
      evidence: `no legacy FK is declared; ${source.name}.${sourceColumn.name} has the target column's name and the type of ${parentSource.name}.${parentKey.name}`,
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
  const parentKey = ref.parentSource.primaryKey[0]!;
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
      origin: { kind: 'via_mapping', source: ref.sourceColumn.name, parent, onOrphan: 'needs_review' },
      reason: `${how}${pass}; ${orphans.count} legacy row(s) point at a ${ref.parentSource.name} row that does not exist (${sample}${orphans.count > orphans.sample.length ? ', …' : ''}); decide: ${choices}`,
      confidence: 0.5,
      status: 'needs_review',
    },
    orphans: orphans.count,
    self: isSelf,
  };
}
