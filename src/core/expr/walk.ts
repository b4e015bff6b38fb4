import type { Expr } from './ast.js';

/** What the expression reads, for people: direct source columns, then parent columns as `path.column`. */
export function expressionReads(expr: Expr): string[] {
  const out = new Set<string>();
  const walk = (e: Expr): void => {
    if (e.kind === 'column') out.add(e.name);
    else if (e.kind === 'parent_column') out.add([...e.path, e.column].join('.'));
    for (const child of children(e)) walk(child);
  };
  walk(expr);
  return [...out];
}

/** Every parent column an expression looks up (resolved), once per `path.column`. */
export function parentLookups(expr: Expr): Array<Extract<Expr, { kind: 'parent_column' }>> {
  const out = new Map<string, Extract<Expr, { kind: 'parent_column' }>>();
  const walk = (e: Expr): void => {
    if (e.kind === 'parent_column') out.set([...e.path, e.column].join('.'), e);
    for (const child of children(e)) walk(child);
  };
  walk(expr);
  return [...out.values()];
}

/** Functions whose SQL form puts their first argument under the builtin pg_c_utf8 collation (PostgreSQL 17 or later): compile-sql.ts. */
export const COLLATED = new Set(['lower', 'upper', 'initcap', 'regexp_replace']);

/** The functions of an expression that only a PostgreSQL 17 or later server can re-derive, each once. */
export function collatedCalls(expr: Expr): string[] {
  const out = new Set<string>();
  const walk = (e: Expr): void => {
    if (e.kind === 'call' && COLLATED.has(e.fn)) out.add(e.fn);
    for (const child of children(e)) walk(child);
  };
  walk(expr);
  return [...out];
}

function children(e: Expr): Expr[] {
  switch (e.kind) {
    case 'column':
    case 'parent_column':
    case 'literal':
      return [];
    case 'arith':
    case 'concat_op':
    case 'compare':
      return [e.left, e.right];
    case 'negate':
    case 'not':
    case 'null_test':
    case 'cast':
      return [e.arg];
    case 'bool':
    case 'call':
    case 'coalesce':
      return e.args;
    case 'case':
      return [...e.whens.flatMap((w) => [w.when, w.then]), ...(e.else ? [e.else] : [])];
  }
}
