import * as z from 'zod';

/**
 * The column language's AST: a closed subset of PostgreSQL expressions over one source row,
 * as stored in a plan. `parse.ts` builds it from text (PostgreSQL's own parser), `check.ts`
 * types it, `compile-sql.ts` and `compile-ts.ts` turn the same tree into SQL (validation) and
 * TypeScript (the sandbox program). `at` is the character offset in the written expression.
 */

/** The value types the language knows; `unknown` is an untyped string literal or NULL, as in PostgreSQL. */
export const ScalarType = z.enum(['text', 'integer', 'bigint', 'numeric', 'boolean', 'date', 'timestamp', 'timestamptz', 'uuid', 'unknown']);
export type ScalarType = z.infer<typeof ScalarType>;

/** A cast target as written: `numeric(10,2)` keeps its precision and scale. */
export const CastTarget = z.object({
  type: z.enum(['text', 'integer', 'bigint', 'numeric', 'boolean', 'date', 'timestamptz', 'uuid']),
  precision: z.number().int().min(1).max(1000).optional(),
  scale: z.number().int().min(-1000).max(1000).optional(),
});
export type CastTarget = z.infer<typeof CastTarget>;

export const ARITHMETIC_OPS = ['+', '-', '*', '/', '%'] as const;
export const COMPARISON_OPS = ['=', '<>', '<', '<=', '>', '>='] as const;

/** Functions by name (PostgreSQL's spelling); `substr` and `substring` are one function. */
export const FUNCTIONS = [
  'concat',
  'concat_ws',
  'lower',
  'upper',
  'initcap',
  'btrim',
  'ltrim',
  'rtrim',
  'replace',
  'substring',
  'left',
  'right',
  'split_part',
  'regexp_replace',
  'nullif',
  'round',
] as const;
export type FunctionName = (typeof FUNCTIONS)[number];

/** One step from a row to its parent: the child's FK columns, the parent table and its key columns. */
export const ParentHop = z.object({
  /** As written: `media_type` in `media_type.name`. */
  name: z.string(),
  childColumns: z.array(z.string()).min(1),
  schema: z.string(),
  table: z.string(),
  parentColumns: z.array(z.string()).min(1),
});
export type ParentHop = z.infer<typeof ParentHop>;

const at = z.number().int().nonnegative().optional();
/** Set by the type checker on every node; compilers need it. */
const type = ScalarType.optional();

export type Expr =
  /** `widened`: the source column's own type, when the language reads it as a wider one (smallint as integer, character(n) as text). */
  | { kind: 'column'; name: string; at?: number | undefined; type?: ScalarType | undefined; widened?: string | undefined }
  | {
      kind: 'parent_column';
      /** The names written before the column: `['media_type']`, or several for several hops. */
      path: string[];
      column: string;
      /** Filled by `resolveParents` from the source's foreign keys (or named join columns). */
      hops?: ParentHop[] | undefined;
      at?: number | undefined;
      type?: ScalarType | undefined;
    }
  | { kind: 'literal'; literal: 'string' | 'integer' | 'numeric' | 'boolean' | 'null'; value: string | null; at?: number | undefined; type?: ScalarType | undefined }
  | { kind: 'arith'; op: (typeof ARITHMETIC_OPS)[number]; left: Expr; right: Expr; at?: number | undefined; type?: ScalarType | undefined }
  | { kind: 'negate'; arg: Expr; at?: number | undefined; type?: ScalarType | undefined }
  | { kind: 'concat_op'; left: Expr; right: Expr; at?: number | undefined; type?: ScalarType | undefined }
  | { kind: 'compare'; op: (typeof COMPARISON_OPS)[number]; left: Expr; right: Expr; at?: number | undefined; type?: ScalarType | undefined }
  | { kind: 'bool'; op: 'and' | 'or'; args: Expr[]; at?: number | undefined; type?: ScalarType | undefined }
  | { kind: 'not'; arg: Expr; at?: number | undefined; type?: ScalarType | undefined }
  | { kind: 'null_test'; negated: boolean; arg: Expr; at?: number | undefined; type?: ScalarType | undefined }
  | { kind: 'call'; fn: FunctionName; args: Expr[]; at?: number | undefined; type?: ScalarType | undefined }
  | { kind: 'coalesce'; args: Expr[]; at?: number | undefined; type?: ScalarType | undefined }
  | { kind: 'cast'; to: CastTarget; arg: Expr; at?: number | undefined; type?: ScalarType | undefined }
  | { kind: 'case'; whens: Array<{ when: Expr; then: Expr }>; else: Expr | null; at?: number | undefined; type?: ScalarType | undefined };

export const Expr: z.ZodType<Expr> = z.lazy(() =>
  z.discriminatedUnion('kind', [
    z.object({ kind: z.literal('column'), name: z.string().min(1), at, type, widened: z.string().optional() }),
    z.object({ kind: z.literal('parent_column'), path: z.array(z.string().min(1)).min(1), column: z.string().min(1), hops: z.array(ParentHop).optional(), at, type }),
    z.object({
      kind: z.literal('literal'),
      literal: z.enum(['string', 'integer', 'numeric', 'boolean', 'null']),
      value: z.string().nullable(),
      at,
      type,
    }),
    z.object({ kind: z.literal('arith'), op: z.enum(ARITHMETIC_OPS), left: Expr, right: Expr, at, type }),
    z.object({ kind: z.literal('negate'), arg: Expr, at, type }),
    z.object({ kind: z.literal('concat_op'), left: Expr, right: Expr, at, type }),
    z.object({ kind: z.literal('compare'), op: z.enum(COMPARISON_OPS), left: Expr, right: Expr, at, type }),
    z.object({ kind: z.literal('bool'), op: z.enum(['and', 'or']), args: z.array(Expr).min(2), at, type }),
    z.object({ kind: z.literal('not'), arg: Expr, at, type }),
    z.object({ kind: z.literal('null_test'), negated: z.boolean(), arg: Expr, at, type }),
    z.object({ kind: z.literal('call'), fn: z.enum(FUNCTIONS), args: z.array(Expr), at, type }),
    z.object({ kind: z.literal('coalesce'), args: z.array(Expr).min(1), at, type }),
    z.object({ kind: z.literal('cast'), to: CastTarget, arg: Expr, at, type }),
    z.object({ kind: z.literal('case'), whens: z.array(z.object({ when: Expr, then: Expr })).min(1), else: Expr.nullable(), at, type }),
  ]),
);

/** A column origin in the language, as a plan stores it: the text the person wrote and its tree. */
export const ColumnExpression = z.object({
  source: z.string(),
  expr: Expr,
});
export type ColumnExpression = z.infer<typeof ColumnExpression>;

/** Every column of the source row an expression reads (parent columns by their first hop's FK columns). */
export function columnsRead(expr: Expr): string[] {
  const out = new Set<string>();
  const walk = (e: Expr): void => {
    switch (e.kind) {
      case 'column':
        out.add(e.name);
        return;
      case 'parent_column':
        for (const c of e.hops?.[0]?.childColumns ?? []) out.add(c);
        return;
      case 'literal':
        return;
      case 'arith':
      case 'concat_op':
      case 'compare':
        walk(e.left);
        walk(e.right);
        return;
      case 'negate':
      case 'not':
      case 'null_test':
      case 'cast':
        walk(e.arg);
        return;
      case 'bool':
      case 'call':
      case 'coalesce':
        e.args.forEach(walk);
        return;
      case 'case':
        for (const w of e.whens) {
          walk(w.when);
          walk(w.then);
        }
        if (e.else) walk(e.else);
        return;
    }
  };
  walk(expr);
  return [...out];
}
