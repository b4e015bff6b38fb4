import { COMPARISON_OPS, FUNCTIONS, type CastTarget, type Expr, type FunctionName } from './ast.js';
import { ExprError } from './errors.js';

/**
 * Text → AST with PostgreSQL's own parser (libpg-query, the parser of PostgreSQL 17 compiled to
 * wasm): the expression is parsed as `SELECT <expr>` and only its single target is kept. Every
 * node outside the language is refused by name and position, so what validation re-runs in SQL
 * is exactly what the person wrote.
 */

const PREFIX = 'SELECT ';
let loaded: Promise<void> | null = null;
let pgQuery: typeof import('libpg-query') | null = null;

/**
 * Loads the wasm parser once (imported here, not at start: commands that parse no expression,
 * such as --help and show, never load it); `parseExpression` calls it, callers of
 * `parseExpressionSync` must await it first.
 */
export function loadExprParser(): Promise<void> {
  loaded ??= import('libpg-query').then(async (m) => {
    await m.loadModule();
    pgQuery = m;
  });
  return loaded;
}

export async function parseExpression(text: string): Promise<Expr> {
  await loadExprParser();
  return parseExpressionSync(text);
}

type Node = Record<string, unknown>;

const obj = (v: unknown): Node => (typeof v === 'object' && v !== null && !Array.isArray(v) ? (v as Node) : {});
const list = (v: unknown): unknown[] => (Array.isArray(v) ? v : []);
/** A node is `{ TypeName: fields }`. */
function unwrap(node: unknown): [string, Node] {
  const o = obj(node);
  const keys = Object.keys(o);
  if (keys.length !== 1) return ['(empty)', {}];
  return [keys[0]!, obj(o[keys[0]!])];
}
const sval = (node: unknown): string | undefined => {
  const [tag, body] = unwrap(node);
  return tag === 'String' ? String(body.sval ?? '') : undefined;
};

/** Constructs people reach for, by parser node, named as they would write them. */
const NODE_NAMES: Record<string, string> = {
  SubLink: 'a subquery',
  ParamRef: 'a parameter ($n)',
  A_Indirection: 'a subscript or field selection',
  A_ArrayExpr: 'an ARRAY constructor',
  RowExpr: 'a row constructor',
  SQLValueFunction: 'a clock or session value (current_date, now-like: not repeatable)',
  CollateClause: 'COLLATE',
  MinMaxExpr: 'greatest/least',
  BooleanTest: 'IS TRUE / IS FALSE / IS UNKNOWN',
  XmlExpr: 'an XML expression',
  GroupingFunc: 'GROUPING',
  SetToDefault: 'DEFAULT',
};
const AEXPR_NAMES: Record<string, string> = {
  AEXPR_OP_ANY: '= ANY (…)',
  AEXPR_OP_ALL: '= ALL (…)',
  AEXPR_DISTINCT: 'IS DISTINCT FROM',
  AEXPR_NOT_DISTINCT: 'IS NOT DISTINCT FROM',
  AEXPR_IN: 'IN (…)',
  AEXPR_LIKE: 'LIKE',
  AEXPR_ILIKE: 'ILIKE',
  AEXPR_SIMILAR: 'SIMILAR TO',
  AEXPR_BETWEEN: 'BETWEEN',
  AEXPR_NOT_BETWEEN: 'NOT BETWEEN',
  AEXPR_BETWEEN_SYM: 'BETWEEN SYMMETRIC',
  AEXPR_NOT_BETWEEN_SYM: 'NOT BETWEEN SYMMETRIC',
};

const CAST_TYPES: Record<string, CastTarget['type']> = {
  text: 'text',
  int4: 'integer',
  integer: 'integer',
  int: 'integer',
  int8: 'bigint',
  bigint: 'bigint',
  numeric: 'numeric',
  decimal: 'numeric',
  bool: 'boolean',
  boolean: 'boolean',
  date: 'date',
  timestamptz: 'timestamptz',
  uuid: 'uuid',
};

const INT8_MIN = -(2n ** 63n);
const INT8_MAX = 2n ** 63n - 1n;

/** Code-point position in the expression of a byte offset PostgreSQL reports into the statement. */
type CharAt = (location: unknown) => number | undefined;

function charAtOf(source: string): CharAt {
  // PostgreSQL reports byte offsets into the statement; people count characters (code points) of what they wrote.
  return (location) => {
    if (typeof location !== 'number' || location < PREFIX.length) return undefined;
    return Array.from(Buffer.from(source, 'utf8').subarray(PREFIX.length, location).toString('utf8')).length;
  };
}

export function parseExpressionSync(text: string): Expr {
  if (pgQuery === null) throw new Error('await loadExprParser() (or parseExpression) before parseExpressionSync');
  if (text.trim() === '') throw new ExprError('EXPR_SYNTAX', 'the expression is empty', { hint: 'write a column name or an expression such as lower(email)' });
  const source = PREFIX + text;
  const charAt = charAtOf(source);
  let tree: Node;
  try {
    tree = obj(pgQuery.parseSync(source));
  } catch (e) {
    const cursor = (e as { sqlDetails?: { cursorPosition?: number } }).sqlDetails?.cursorPosition;
    throw new ExprError('EXPR_SYNTAX', `PostgreSQL cannot parse ${JSON.stringify(text)}: ${(e as Error).message}`, {
      at: cursor === undefined ? undefined : charAt(cursor),
      cause: e,
    });
  }
  return convert(singleTarget(tree, charAt).val, charAt);
}

/** The one target of `SELECT <expr>`: anything more (clauses, a list, an alias) is not an expression. */
function singleTarget(tree: Node, charAt: CharAt): Node {
  const stmts = list(tree.stmts);
  if (stmts.length !== 1) throw new ExprError('EXPR_UNSUPPORTED', 'several statements are not an expression: write one value', { construct: 'several statements' });
  const [stmtTag, select] = unwrap(obj(stmts[0]).stmt);
  const extra = Object.keys(select).filter((k) => !['targetList', 'limitOption', 'op'].includes(k));
  if (stmtTag !== 'SelectStmt' || extra.length > 0 || select.op !== 'SETOP_NONE') {
    throw new ExprError('EXPR_UNSUPPORTED', `a query clause (${extra.map((k) => k.replace(/Clause$/, '').toUpperCase()).join(', ') || stmtTag}) is not part of an expression: it reads one source row`, { construct: 'a query clause' });
  }
  const targets = list(select.targetList);
  if (targets.length !== 1) throw new ExprError('EXPR_UNSUPPORTED', `a list of ${targets.length} values is not an expression: one expression gives one value`, { construct: 'a list' });
  const [, target] = unwrap(targets[0]);
  if (target.name !== undefined) throw new ExprError('EXPR_UNSUPPORTED', 'an expression has no alias (AS …): the target column names it', { at: charAt(target.location), construct: 'AS' });
  return target;
}

/** One parser node being converted: its fields, position, and how to refuse it. */
interface Site {
  n: Node;
  at: number | undefined;
  withAt: <T extends Expr>(e: T) => T;
  refuse: (construct: string, why?: string) => never;
  convert: (node: unknown) => Expr;
}

function convert(node: unknown, charAt: CharAt): Expr {
  const [tag, n] = unwrap(node);
  const at = charAt(n.location);
  const site: Site = {
    n,
    at,
    withAt: (e) => (at === undefined ? e : { ...e, at }),
    refuse: (construct, why = 'is not part of the column language') => {
      throw new ExprError('EXPR_UNSUPPORTED', `${construct} ${why}`, { at: charAt(n.location), construct });
    },
    convert: (child) => convert(child, charAt),
  };
  const { withAt } = site;
  switch (tag) {
    case 'ColumnRef':
      return columnRef(site);
    case 'A_Const':
      return aConst(site);
    case 'A_Expr':
      return aExpr(site);
    case 'BoolExpr': {
      const args = list(n.args).map(site.convert);
      if (n.boolop === 'NOT_EXPR') return withAt({ kind: 'not', arg: args[0]! });
      return withAt({ kind: 'bool', op: n.boolop === 'AND_EXPR' ? 'and' : 'or', args });
    }
    case 'NullTest':
      return withAt({ kind: 'null_test', negated: n.nulltesttype === 'IS_NOT_NULL', arg: site.convert(n.arg) });
    case 'CoalesceExpr':
      return withAt({ kind: 'coalesce', args: list(n.args).map(site.convert) });
    case 'CaseExpr':
      return caseExpr(site);
    case 'TypeCast':
      return typeCast(site);
    case 'FuncCall':
      return funcCall(site);
    default:
      return site.refuse(NODE_NAMES[tag] ?? `a ${tag} node`);
  }
}

function columnRef({ n, withAt, refuse }: Site): Expr {
  const fields = list(n.fields);
  const names = fields.map(sval);
  if (names.some((s) => s === undefined)) return refuse('*', 'selects whole rows; name one column');
  const parts = names as string[];
  if (parts.length === 1) return withAt({ kind: 'column', name: parts[0]! });
  return withAt({ kind: 'parent_column', path: parts.slice(0, -1), column: parts[parts.length - 1]! });
}

function aConst({ n, withAt, refuse }: Site): Expr {
  if (n.isnull === true) return withAt({ kind: 'literal', literal: 'null', value: null });
  if ('ival' in n) return withAt({ kind: 'literal', literal: 'integer', value: String(obj(n.ival).ival ?? 0) });
  if ('fval' in n) {
    const raw = String(obj(n.fval).fval ?? '0');
    // An integer too wide for int4 is int8 when it fits, numeric beyond (PostgreSQL's make_const).
    if (/^-?\d+$/.test(raw)) {
      const big = BigInt(raw);
      if (big >= INT8_MIN && big <= INT8_MAX) return withAt({ kind: 'literal', literal: 'integer', value: raw });
    }
    if (!/^-?(\d+\.?\d*|\.\d+)(e[-+]?\d+)?$/i.test(raw)) return refuse(`the number ${raw}`, 'is not a decimal literal');
    return withAt({ kind: 'literal', literal: 'numeric', value: raw });
  }
  if ('sval' in n) return withAt({ kind: 'literal', literal: 'string', value: String(obj(n.sval).sval ?? '') });
  if ('boolval' in n) return withAt({ kind: 'literal', literal: 'boolean', value: obj(n.boolval).boolval === true ? 'true' : 'false' });
  return refuse('a bit-string literal');
}

function aExpr({ n, withAt, refuse, convert: conv }: Site): Expr {
  const kind = String(n.kind);
  const op = list(n.name).map(sval).join('.');
  if (kind === 'AEXPR_NULLIF') return withAt({ kind: 'call', fn: 'nullif', args: [conv(n.lexpr), conv(n.rexpr)] });
  if (kind !== 'AEXPR_OP') return refuse(AEXPR_NAMES[kind] ?? kind);
  if (n.lexpr === undefined) {
    if (op === '-') return withAt({ kind: 'negate', arg: conv(n.rexpr) });
    return refuse(`the prefix operator ${op}`);
  }
  if (op === '||') return withAt({ kind: 'concat_op', left: conv(n.lexpr), right: conv(n.rexpr) });
  if (op === '+' || op === '-' || op === '*' || op === '/' || op === '%') return withAt({ kind: 'arith', op, left: conv(n.lexpr), right: conv(n.rexpr) });
  if ((COMPARISON_OPS as readonly string[]).includes(op)) {
    return withAt({ kind: 'compare', op: op as (typeof COMPARISON_OPS)[number], left: conv(n.lexpr), right: conv(n.rexpr) });
  }
  return refuse(`the operator ${op}`);
}

function caseExpr({ n, withAt, convert: conv }: Site): Expr {
  const subject = n.arg === undefined ? null : conv(n.arg);
  const whens = list(n.args).map((w) => {
    const [, cw] = unwrap(w);
    const cond = conv(cw.expr);
    // CASE x WHEN v THEN … is CASE WHEN x = v THEN …
    return { when: subject ? ({ kind: 'compare', op: '=', left: subject, right: cond } as Expr) : cond, then: conv(cw.result) };
  });
  return withAt({ kind: 'case', whens, else: n.defresult === undefined ? null : conv(n.defresult) });
}

function typeCast({ n, at, withAt, refuse, convert: conv }: Site): Expr {
  const typeName = obj(n.typeName);
  const names = list(typeName.names).map(sval);
  const written = names.filter((s) => s !== 'pg_catalog').join('.');
  const mapped = names.length <= 2 && (names.length === 1 || names[0] === 'pg_catalog') ? CAST_TYPES[names[names.length - 1] ?? ''] : undefined;
  if (mapped === undefined || typeName.arrayBounds !== undefined || typeName.setof === true) {
    return refuse(`a cast to ${written}${typeName.arrayBounds !== undefined ? '[]' : ''}`);
  }
  const mods = list(typeName.typmods).map((m) => {
    const [t, c] = unwrap(m);
    return t === 'A_Const' && 'ival' in c ? Number(obj(c.ival).ival ?? 0) : NaN;
  });
  const to: CastTarget = { type: mapped };
  if (mods.length > 0) {
    if (mapped !== 'numeric' || mods.length > 2 || mods.some((m) => !Number.isInteger(m))) return refuse(`a cast to ${written} with a modifier`);
    if (mods[0]! < 1 || mods[0]! > 1000) throw new ExprError('EXPR_TYPE', `NUMERIC precision ${mods[0]} must be between 1 and 1000`, { at });
    const scale = mods[1] ?? 0;
    if (scale < -1000 || scale > 1000) throw new ExprError('EXPR_TYPE', `NUMERIC scale ${scale} must be between -1000 and 1000`, { at });
    to.precision = mods[0]!;
    to.scale = scale;
  }
  return withAt({ kind: 'cast', to, arg: conv(n.arg) });
}

function funcCall({ n, withAt, refuse, convert: conv }: Site): Expr {
  const names = list(n.funcname).map(sval);
  const name = names[names.length - 1] ?? '';
  const qualifiedOk = names.length === 1 || (names.length === 2 && names[0] === 'pg_catalog');
  const fn = name === 'substr' ? 'substring' : name;
  const extras = ['agg_order', 'agg_filter', 'over', 'agg_within_group', 'agg_star', 'agg_distinct', 'func_variadic'].filter((k) => n[k] !== undefined && n[k] !== false);
  if (!qualifiedOk || !(FUNCTIONS as readonly string[]).includes(fn) || fn === 'nullif') return refuse(`the function ${names.join('.')}()`);
  if (extras.length > 0) return refuse(`${name}() with ${extras.join(', ')}`);
  return withAt({ kind: 'call', fn: fn as FunctionName, args: list(n.args).map(conv) });
}
