import type { ColumnOrigin, EnumMapping, MigrationPlan, PlanFilter } from '../../src/core/artifacts/migration-plan.js';
import { findEnum, findTable, type ColumnInfo, type SchemaAnalysis } from '../../src/core/artifacts/schema-analysis.js';
import { columnsRead, compileSql, expressionOrigin, type ExpressionOriginValue, type Typed } from '../../src/core/expr/index.js';
import { InputError } from '../../src/core/errors.js';
import { decideValue, type EnumRuleContext } from './enum-rules.js';
import type { PlanProbe } from './probe.js';
import { singular, tokens } from './words.js';

/**
 * A reviewer's `--column target="<expression>"`: checked against the analysis the plan was
 * made from (source row, parents through FKs, the target column's type), the source columns
 * it reads added to what the program is sent, and, for an enum target, an enum mapping of the
 * expression's distinct values decided by the same rules as any enum column, the unsure ones
 * left needs_review for `--map`.
 */
export async function expressionOverride(
  text: string,
  target: string,
  next: MigrationPlan,
  analysis: SchemaAnalysis | undefined,
  probe: PlanProbe,
): Promise<ColumnOrigin> {
  if (!analysis) {
    throw new InputError('OVERRIDE_NEEDS_ANALYSIS', `--column ${target}=${JSON.stringify(text)} is an expression, which is checked against the schema analysis the plan was made from, and none was given`, {
      hint: 'approve through ferry approve or the HTTP API, which load the plan with its analysis',
    });
  }
  const targetTable = findTable(analysis.target, next.target.table, next.target.schema);
  const column = targetTable?.columns.find((c) => c.name === target);
  if (!column) throw new InputError('OVERRIDE_UNKNOWN_COLUMN', `the analysed target table ${next.target.schema}.${next.target.table} has no column "${target}"`);
  const origin = await checkedExpression(text, column, analysis, { schema: next.source.schema, name: next.source.table });
  return placeExpression(origin, target, next, analysis, probe);
}

/**
 * One check for every writer of an expression (a reviewer's --column, a model's proposal):
 * parsed by PostgreSQL's parser, inside the language, parents through the source's FKs,
 * typed against the source row and held to the target column. Refusals are ExprErrors.
 */
export async function checkedExpression(text: string, column: ColumnInfo, analysis: SchemaAnalysis, source: { schema: string; name: string }): Promise<ExpressionOriginValue> {
  return expressionOrigin(text, { source: analysis.source, table: source, target: column });
}

/**
 * A checked expression put into the plan for `target`: the source columns it reads added to
 * what the program is sent, and for an enum target the enum mapping of its distinct values
 * (any other target drops a stale mapping, which would still ask for review).
 */
export async function placeExpression(
  origin: ExpressionOriginValue,
  target: string,
  next: MigrationPlan,
  analysis: SchemaAnalysis,
  probe: PlanProbe,
): Promise<ExpressionOriginValue> {
  for (const c of columnsRead(origin.expr)) if (!next.source.columns.includes(c)) next.source.columns.push(c);
  if (origin.enumMapped) {
    const column = findTable(analysis.target, next.target.table, next.target.schema)?.columns.find((c) => c.name === target);
    const mapping = await expressionEnumMapping({ expr: origin.expr as Typed, text: origin.text, target, enumType: column?.enumType ?? '' }, next.source, analysis, probe);
    next.enumMappings = [...next.enumMappings.filter((m) => m.targetColumn !== target), mapping];
  } else {
    next.enumMappings = next.enumMappings.filter((m) => m.targetColumn !== target);
  }
  return origin;
}

/** Words that say nothing about a value here: the enum type's and the target column's own, unless an enum value is spelled with them. */
export function enumNoise(en: { name: string; values: readonly string[] }, target: string): Set<string> {
  return new Set<string>([...tokens(en.name), ...tokens(target)].map(singular).filter((w) => !en.values.some((v) => tokens(v).includes(w))));
}

/** The expression's distinct values on the source (under the plan's filter), each decided by the enum rules. */
export async function expressionEnumMapping(
  e: { expr: Typed; text: string; target: string; enumType: string },
  from: { schema: string; table: string; filters: PlanFilter[] },
  analysis: SchemaAnalysis,
  probe: PlanProbe,
): Promise<EnumMapping> {
  const { expr, text, target, enumType } = e;
  const en = findEnum(analysis.target, enumType);
  if (!en) throw new InputError('OVERRIDE_UNKNOWN_COLUMN', `enum type ${enumType} of ${target} is not in the analysis`);
  const sql = compileSql(expr, { rowAlias: 'src' });
  const values = await probe.expressionValues({ schema: from.schema, table: from.table, sql, filters: from.filters, limit: 10_000 });
  const ctx: EnumRuleContext = { enumValues: en.values, noise: enumNoise(en, target), learned: new Map() };
  const decided = values.map((v) => decideValue(v.value, v.count, ctx));
  const total = decided.reduce((n, v) => n + v.count, 0);
  const mapped = decided.filter((v) => v.status === 'mapped').reduce((n, v) => n + v.count, 0);
  return {
    targetColumn: target,
    enumType,
    enumValues: en.values,
    sourceColumn: text,
    reason: `the distinct values of ${text}: ${mapped}/${total} rows mapped by rule`,
    values: decided,
  };
}
