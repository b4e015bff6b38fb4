import { contentHash } from '../../src/core/artifacts/hash.js';
import {
  isSelfReference,
  reviewItems,
  type ColumnMapping,
  type EnumMapping,
  type ForeignKeyDecision,
  type MigrationPlan,
} from '../../src/core/artifacts/migration-plan.js';
import {
  analysisHash,
  findEnum,
  findTable,
  type ColumnInfo,
  type EnumTypeInfo,
  type SchemaAnalysis,
  type TableInfo,
} from '../../src/core/artifacts/schema-analysis.js';
import { PlanError } from '../../src/core/errors.js';
import { columnsRead } from '../../src/core/expr/index.js';

/** A target column the program returns, with everything its code needs, looked up once. */
export type ProgramColumn =
  | { kind: 'copy' | 'cast'; target: ColumnInfo; mapping: ColumnMapping; source: ColumnInfo }
  | { kind: 'constant'; target: ColumnInfo; mapping: ColumnMapping; value: string | number | boolean | null }
  | {
      kind: 'enum_map';
      target: ColumnInfo;
      mapping: ColumnMapping;
      source: ColumnInfo;
      enumMapping: EnumMapping;
      /** The target's enum type, when the target column is an enum (a value map onto text has none). */
      enumType: EnumTypeInfo | undefined;
    }
  | { kind: 'foreign_key'; target: ColumnInfo; mapping: ColumnMapping; decision: ForeignKeyDecision }
  /** A column-language expression compiled into the program (see expression-column.ts); `enumMapping` when its values map onto an enum. */
  | {
      kind: 'expression';
      target: ColumnInfo;
      mapping: ColumnMapping;
      origin: Extract<ColumnMapping['origin'], { kind: 'expression' }>;
      enumMapping: EnumMapping | undefined;
      enumType: EnumTypeInfo | undefined;
    }
  /** A model-written function of `sources` (see transform-function.ts). */
  | { kind: 'transform'; target: ColumnInfo; mapping: ColumnMapping; sources: ColumnInfo[]; description: string };

/** A target column the program leaves alone, and who fills it instead. */
export interface LeftOutColumn {
  target: ColumnInfo;
  why: 'generated_uuid' | 'default' | 'via_mapping' | 'not_in_plan';
}

/** A plan read against the analysis it was made from: every name it uses, found. */
export interface ResolvedPlan {
  plan: MigrationPlan;
  analysis: SchemaAnalysis;
  planHash: string;
  analysisHash: string;
  sourceTable: TableInfo;
  targetTable: TableInfo;
  /** plan.source.columns, in the plan's order: what each row sent to the program carries. */
  selected: ColumnInfo[];
  /** In the plan's column order. */
  returned: ProgramColumn[];
  /** In the target table's column order. */
  leftOut: LeftOutColumn[];
}

/**
 * Checks that an approved plan can be turned into a program against this analysis and
 * resolves every name it uses. All problems are reported at once, each naming what is
 * missing, because a reviewer fixes them in one pass.
 */
export function resolvePlan(plan: MigrationPlan, analysis: SchemaAnalysis): ResolvedPlan {
  const givenHash = checkRunnable(plan, analysis);
  const problems: string[] = [];
  const { sourceTable, targetTable } = resolveTables(plan, analysis, problems);
  const { selected, selectedSource } = resolveSelection(plan, sourceTable, problems);
  const { returned, planned } = resolveColumns({ plan, analysis, problems, selectedSource }, targetTable);
  const leftOut = leftOutColumns(targetTable, planned, problems);
  if (problems.length > 0) throw inconsistent(plan, problems);
  return { plan, analysis, planHash: contentHash(plan), analysisHash: givenHash, sourceTable, targetTable, selected, returned, leftOut };
}

/** Refuses a plan that is not approved, still has open items, or was made from another analysis; returns the analysis's hash. */
function checkRunnable(plan: MigrationPlan, analysis: SchemaAnalysis): string {
  if (plan.status !== 'approved') {
    throw new PlanError('PLAN_NOT_APPROVED', `Plan ${plan.id} revision ${plan.revision} is ${plan.status}; only an approved plan gets a program.`, {
      hint: `Review it and approve it: ferry approve ${plan.id}`,
    });
  }
  const review = reviewItems(plan);
  if (review.length > 0) {
    throw new PlanError('PLAN_NEEDS_REVIEW', `Plan ${plan.id} is approved but still has open items:\n${review.map((r) => `  - ${r}`).join('\n')}`, {
      hint: 'Resolve each item, approve the new revision, then generate again.',
    });
  }
  const givenHash = analysisHash(analysis);
  if (plan.analysisHash !== givenHash) {
    throw new PlanError(
      'PLAN_ANALYSIS_MISMATCH',
      `Plan ${plan.id} was made from schema analysis ${plan.analysisHash}, not from the one given (${givenHash}); ` +
        'its row types would describe different schemas than the plan assumed.',
      { hint: 'Generate with the analysis the plan was made from, or plan again from the new analysis.' },
    );
  }
  return givenHash;
}

/** Both tables of the plan, found in the analysis; without either nothing else can be checked, so it throws. */
function resolveTables(plan: MigrationPlan, analysis: SchemaAnalysis, problems: string[]): { sourceTable: TableInfo; targetTable: TableInfo } {
  const sourceTable = findTable(analysis.source, plan.source.table, plan.source.schema);
  const targetTable = findTable(analysis.target, plan.target.table, plan.target.schema);
  if (!sourceTable) problems.push(`source table ${plan.source.schema}.${plan.source.table} is not in the analysis of ${analysis.source.database}`);
  if (!targetTable) problems.push(`target table ${plan.target.schema}.${plan.target.table} is not in the analysis of ${analysis.target.database}`);
  if (!sourceTable || !targetTable) throw inconsistent(plan, problems);
  return { sourceTable, targetTable };
}

/** Looks up a selected source column that a target column reads, noting a problem when it is not selected. */
type SelectedSource = (target: string, name: string) => ColumnInfo | undefined;

/** The source columns the plan selects, and how target columns look them up. */
function resolveSelection(
  plan: MigrationPlan,
  sourceTable: TableInfo,
  problems: string[],
): { selected: ColumnInfo[]; selectedSource: SelectedSource } {
  const sourceName = `${plan.source.schema}.${plan.source.table}`;
  const sourceColumn = (name: string) => sourceTable.columns.find((c) => c.name === name);
  const selected: ColumnInfo[] = [];
  for (const name of new Set(plan.source.columns)) {
    const column = sourceColumn(name);
    if (column) selected.push(column);
    else problems.push(`source column ${JSON.stringify(name)} is selected but ${sourceName} has no such column`);
  }
  if (new Set(plan.source.columns).size !== plan.source.columns.length) {
    problems.push(`plan.source.columns names a column twice: ${plan.source.columns.join(', ')}`);
  }
  const selectedSource: SelectedSource = (target, name) => {
    const column = selected.find((c) => c.name === name);
    if (!column) {
      const why = sourceColumn(name) ? 'is not among the selected source columns (plan.source.columns)' : `does not exist in ${sourceName}`;
      problems.push(`target column ${JSON.stringify(target)} reads source column ${JSON.stringify(name)}, which ${why}`);
    }
    return column;
  };
  return { selected, selectedSource };
}

/** What resolving one column's origin needs; problems are collected, not thrown. */
interface ResolveContext {
  plan: MigrationPlan;
  analysis: SchemaAnalysis;
  problems: string[];
  selectedSource: SelectedSource;
}

/** Each planned column against the target table, in the plan's order; `planned` holds each target column's origin kind. */
function resolveColumns(
  ctx: ResolveContext,
  targetTable: TableInfo,
): { returned: ProgramColumn[]; planned: Map<string, ColumnMapping['origin']['kind']> } {
  const targetName = `${ctx.plan.target.schema}.${ctx.plan.target.table}`;
  const returned: ProgramColumn[] = [];
  const planned = new Map<string, ColumnMapping['origin']['kind']>();
  for (const mapping of ctx.plan.columns) {
    const target = targetTable.columns.find((c) => c.name === mapping.target);
    if (!target) {
      ctx.problems.push(`target column ${JSON.stringify(mapping.target)} has an origin but ${targetName} has no such column`);
      continue;
    }
    if (planned.has(target.name)) {
      ctx.problems.push(`target column ${JSON.stringify(target.name)} has more than one origin`);
      continue;
    }
    planned.set(target.name, mapping.origin.kind);
    const column = resolveOrigin(ctx, target, mapping);
    if (column) returned.push(column);
  }
  return { returned, planned };
}

/** The program column for one mapping, or undefined when the program does not return it (or a problem stops it). */
function resolveOrigin(ctx: ResolveContext, target: ColumnInfo, mapping: ColumnMapping): ProgramColumn | undefined {
  const { plan, problems, selectedSource } = ctx;
  const origin = mapping.origin;
  switch (origin.kind) {
    case 'copy':
    case 'cast': {
      const source = selectedSource(target.name, origin.source);
      return source ? { kind: origin.kind, target, mapping, source } : undefined;
    }
    case 'constant':
      return { kind: 'constant', target, mapping, value: origin.value };
    case 'enum_map':
      return resolveEnumMap(ctx, target, mapping, origin);
    case 'foreign_key': {
      const decision = plan.foreignKeys.find((d) => d.column === target.name);
      if (!decision) problems.push(`target column ${JSON.stringify(target.name)} is a foreign key but the plan has no decision for it`);
      return decision ? { kind: 'foreign_key', target, mapping, decision } : undefined;
    }
    case 'transform': {
      const sources = origin.sources.map((s) => selectedSource(target.name, s));
      return sources.every((s): s is ColumnInfo => s !== undefined) ? { kind: 'transform', target, mapping, sources, description: origin.description } : undefined;
    }
    case 'expression':
      return resolveExpression(ctx, target, mapping, origin);
    case 'via_mapping':
      // The orchestrator reads the legacy value from the row it sent, so it must be selected.
      selectedSource(target.name, origin.source);
      // A self-reference is written NULL first and set in a second pass.
      if (isSelfReference(plan, origin) && !target.nullable) {
        problems.push(`target column ${JSON.stringify(target.name)} references its own table but is NOT NULL; the second pass that sets it needs it nullable`);
      }
      return undefined;
    case 'generated_uuid':
    case 'default':
      return undefined;
  }
}

/**
 * The plan's enumMappings entry for an enum target fed by `fedBy` (a source column or an
 * expression), each source value listed once and each with a target, and the target's enum
 * type from the analysis; what is missing goes to problems.
 */
function enumTarget(ctx: ResolveContext, target: ColumnInfo, fedBy: string): { enumMapping?: EnumMapping; enumType?: EnumTypeInfo } {
  const { plan, analysis, problems } = ctx;
  const enumMapping = plan.enumMappings.find((m) => m.targetColumn === target.name);
  if (!enumMapping) problems.push(`target column ${JSON.stringify(target.name)} maps the values of ${fedBy} but the plan has no enumMappings entry for it`);
  const seen = new Set<string | null>();
  for (const v of enumMapping?.values ?? []) {
    if (seen.has(v.source)) problems.push(`enum mapping for ${JSON.stringify(target.name)} lists source value ${JSON.stringify(v.source)} twice`);
    seen.add(v.source);
    if (v.target === null) problems.push(`enum mapping for ${JSON.stringify(target.name)} has no target for the value ${JSON.stringify(v.source)} of ${fedBy}`);
  }
  const enumType = target.enumType === undefined ? undefined : findEnum(analysis.target, target.enumType);
  if (target.category === 'enum' && !enumType) problems.push(`enum type ${target.enumType ?? '(unnamed)'} of target column ${JSON.stringify(target.name)} is not in the analysis`);
  return { ...(enumMapping ? { enumMapping } : {}), ...(enumType ? { enumType } : {}) };
}

/** An enum-mapped column: its source, its enumMappings entry (keyed on the same source, each value once, each with a target) and the target's enum type. */
function resolveEnumMap(
  ctx: ResolveContext,
  target: ColumnInfo,
  mapping: ColumnMapping,
  origin: Extract<ColumnMapping['origin'], { kind: 'enum_map' }>,
): ProgramColumn | undefined {
  const { problems } = ctx;
  const source = ctx.selectedSource(target.name, origin.source);
  const { enumMapping, enumType } = enumTarget(ctx, target, `source column ${JSON.stringify(origin.source)}`);
  if (enumMapping && enumMapping.sourceColumn !== origin.source) {
    problems.push(
      `target column ${JSON.stringify(target.name)} maps source column ${JSON.stringify(origin.source)} but its enum mapping is keyed on ${JSON.stringify(enumMapping.sourceColumn)}`,
    );
  }
  if (source && enumMapping && (target.category !== 'enum' || enumType)) {
    return { kind: 'enum_map', target, mapping, source, enumMapping, enumType };
  }
  return undefined;
}

/** An expression column: every source column it reads selected; with an enum target, its mapping complete. */
function resolveExpression(
  ctx: ResolveContext,
  target: ColumnInfo,
  mapping: ColumnMapping,
  origin: Extract<ColumnMapping['origin'], { kind: 'expression' }>,
): ProgramColumn | undefined {
  const sources = columnsRead(origin.expr).map((s) => ctx.selectedSource(target.name, s));
  const { enumMapping, enumType } = origin.enumMapped ? enumTarget(ctx, target, origin.text) : {};
  if (sources.some((s) => s === undefined)) return undefined;
  return { kind: 'expression', target, mapping, origin, enumMapping, enumType };
}

/** Target columns the program does not return, in the table's order; a NOT NULL one that nothing fills is a problem. */
function leftOutColumns(targetTable: TableInfo, planned: ReadonlyMap<string, ColumnMapping['origin']['kind']>, problems: string[]): LeftOutColumn[] {
  const leftOut: LeftOutColumn[] = [];
  for (const target of targetTable.columns) {
    const kind = planned.get(target.name);
    if (kind !== undefined && kind !== 'generated_uuid' && kind !== 'default' && kind !== 'via_mapping') continue;
    leftOut.push({ target, why: kind ?? 'not_in_plan' });
    // Left to the database, a NOT NULL column with nothing to fill it fails every insert.
    const filledByDatabase = target.default !== null || target.isIdentity || target.isGenerated;
    if (kind !== 'generated_uuid' && kind !== 'via_mapping' && !target.nullable && !filledByDatabase) {
      problems.push(`target column ${JSON.stringify(target.name)} is NOT NULL and has no default, but the plan ${kind === undefined ? 'gives it no origin' : 'leaves it to the database'}`);
    }
  }
  return leftOut;
}

function inconsistent(plan: MigrationPlan, problems: string[]): PlanError {
  return new PlanError('PLAN_INCONSISTENT', `Plan ${plan.id} does not match its schema analysis:\n${problems.map((p) => `  - ${p}`).join('\n')}`, {
    hint: 'Plan again from the current analysis, or correct the plan and approve the new revision.',
    details: { problems },
  });
}
