import type { ColumnInfo, DatabaseAnalysis } from '../artifacts/schema-analysis.js';
import type { Expr, ScalarType } from './ast.js';
import { checkExpr, type Typed } from './check.js';
import { ExprError } from './errors.js';
import { resolveParents, type NamedJoin } from './parents.js';
import { parseExpression } from './parse.js';
import { expressionReads, parentLookups } from './walk.js';

export { expressionReads, parentLookups };

/**
 * A column origin written in the column language, checked end to end against the analysed
 * schemas: parsed by PostgreSQL's parser, parents resolved through the source's foreign keys,
 * typed against the source row, and its type held to the target column's. What a plan stores
 * (`{ kind: 'expression', … }` in migration-plan.ts) is what this returns.
 */
export interface ExpressionOriginValue {
  kind: 'expression';
  text: string;
  expr: Expr;
  reads: string[];
  enumMapped?: boolean;
}

export interface ExpressionContext {
  source: DatabaseAnalysis;
  table: { schema: string; name: string };
  target: ColumnInfo;
  joins?: Readonly<Record<string, NamedJoin>>;
}

/** Which expression types each target category takes as they are (anything else needs a cast, named in the refusal). */
const TAKES: Partial<Record<ColumnInfo['category'], readonly ScalarType[]>> = {
  string: ['text', 'unknown'],
  enum: ['text', 'unknown'],
  integer: ['integer'],
  bigint: ['integer', 'bigint'],
  numeric: ['integer', 'bigint', 'numeric'],
  boolean: ['boolean'],
  date: ['date'],
  timestamp: ['timestamp', 'timestamptz'],
  uuid: ['uuid'],
};

const CAST_FOR: Partial<Record<ColumnInfo['category'], string>> = {
  string: '::text',
  enum: '::text',
  integer: '::integer',
  bigint: '::bigint',
  numeric: '::numeric',
  boolean: '::boolean',
  date: '::date',
  timestamp: '::timestamptz',
  uuid: '::uuid',
};


/**
 * Text → a checked expression origin for `ctx.target`. Refused with ExprError naming the
 * construct or column and what is allowed: syntax, a construct outside the language, a column
 * the source row lacks, a parent no FK explains, a type the target column does not take.
 */
export async function expressionOrigin(text: string, ctx: ExpressionContext): Promise<ExpressionOriginValue> {
  const parsed = await parseExpression(text);
  const table = ctx.source.tables.find((t) => t.schema === ctx.table.schema && t.name === ctx.table.name);
  if (!table) throw new ExprError('EXPR_UNKNOWN_COLUMN', `the source analysis has no table ${ctx.table.schema}.${ctx.table.name}`);
  const resolved = resolveParents(parsed, ctx.source, ctx.table, ctx.joins ?? {});
  const columns = Object.fromEntries(table.columns.map((c) => [c.name, c.pgType]));
  const typed = checkExpr(resolved.expr, { columns, parentColumns: resolved.parentColumns });
  const enumMapped = holdToTarget(typed, text, ctx.target);
  return { kind: 'expression', text, expr: typed, reads: expressionReads(typed), ...(enumMapped ? { enumMapped: true } : {}) };
}

/** Refuses a type the target column does not take; true when the values go through an enum mapping. */
function holdToTarget(typed: Typed, text: string, target: ColumnInfo): boolean {
  const takes = TAKES[target.category];
  if (!takes) {
    throw new ExprError('EXPR_TYPE', `target column ${target.name} is ${target.pgType}, which the column language does not write`, {
      construct: target.name,
      hint: 'give it another origin (a source column, const:<value>, default), or a transform',
    });
  }
  if (!takes.includes(typed.type)) {
    const cast = CAST_FOR[target.category]!;
    throw new ExprError('EXPR_TYPE', `target column ${target.name} is ${target.pgType} but ${JSON.stringify(text)} gives ${typed.type}`, {
      construct: target.name,
      hint: `cast it where PostgreSQL would: (${text})${cast}${target.category === 'integer' ? ' (a bigint or numeric is narrowed only when you write the cast)' : ''}`,
    });
  }
  return target.category === 'enum';
}
