import type { CastTarget, Expr, ScalarType } from './ast.js';
import { isBlankPaddedTypeName } from '../artifacts/schema-analysis.js';
import { ExprError } from './errors.js';

/**
 * The type checker: infers every node's type by PostgreSQL's rules for the subset and returns
 * the tree with `type` set on each node (the compilers need it: `/` on integers truncates, on
 * numeric it does not). An untyped 'string' literal takes the type its other side needs, as
 * PostgreSQL coerces unknown literals; anything PostgreSQL would refuse is refused here first.
 */

/** A source column's type as `format_type` prints it (`character varying(50)`, `numeric(10,2)`) to the language's type. */
export function scalarTypeOf(pgType: string): ScalarType | undefined {
  const t = pgType.toLowerCase().replace(/\(.*\)$/, '').trim();
  switch (t) {
    case 'text':
    case 'character varying':
    case 'varchar':
      return 'text';
    case 'integer':
    case 'int4':
      return 'integer';
    case 'bigint':
    case 'int8':
      return 'bigint';
    case 'numeric':
    case 'decimal':
      return 'numeric';
    case 'boolean':
    case 'bool':
      return 'boolean';
    case 'date':
      return 'date';
    case 'timestamp without time zone':
    case 'timestamp':
      return 'timestamp';
    case 'timestamp with time zone':
    case 'timestamptz':
      return 'timestamptz';
    case 'uuid':
      return 'uuid';
    default:
      return undefined;
  }
}

export interface CheckEnv {
  /** Source columns: name → PostgreSQL type as printed by format_type. */
  columns: Readonly<Record<string, string>>;
  /** Parent columns reached through foreign keys, by `path.column` (`media_type.name`) → type. */
  parentColumns?: Readonly<Record<string, string>>;
}

export type Typed = Expr & { type: ScalarType };

const NUMERIC_RANK: Partial<Record<ScalarType, number>> = { integer: 1, bigint: 2, numeric: 3 };
const isNumeric = (t: ScalarType): boolean => NUMERIC_RANK[t] !== undefined;
const label = (t: ScalarType): string => (t === 'timestamp' ? 'timestamp without time zone' : t === 'timestamptz' ? 'timestamp with time zone' : t);

/** Which casts exist (PostgreSQL's pg_cast for these types, plus text I/O casts). */
const CASTS: Record<CastTarget['type'], readonly ScalarType[]> = {
  text: ['text', 'integer', 'bigint', 'numeric', 'boolean', 'date', 'timestamp', 'timestamptz', 'uuid', 'unknown'],
  integer: ['text', 'unknown', 'integer', 'bigint', 'numeric', 'boolean'],
  bigint: ['text', 'unknown', 'integer', 'bigint', 'numeric'],
  numeric: ['text', 'unknown', 'integer', 'bigint', 'numeric'],
  boolean: ['text', 'unknown', 'integer', 'boolean'],
  date: ['text', 'unknown', 'date', 'timestamp', 'timestamptz'],
  timestamptz: ['text', 'unknown', 'date', 'timestamp', 'timestamptz'],
  uuid: ['text', 'unknown', 'uuid'],
};

/**
 * The regular expressions where PostgreSQL's (POSIX, leftmost-longest) and JavaScript's
 * (backtracking) engines give the same matches: literals, `.`, bracket classes with ranges,
 * `^ $`, unquantified capture groups, and `* + ? {m,n}` on single atoms (greedy). Refused:
 * alternation `|`, quantified groups, lazy quantifiers, `\d \w \s` and other escapes of letters
 * (locale-dependent or different), back-references, lookaround and `[[:class:]]`.
 */
export function checkRegexSubset(pattern: string): string | null {
  const cs = Array.from(pattern);
  let depth = 0;
  let canQuantify = false;
  for (let i = 0; i < cs.length; i++) {
    const c = cs[i]!;
    if (c === '\\') {
      const n = cs[i + 1];
      if (n === undefined) return 'a trailing backslash';
      if (!'^$\\.*+?()[]{}|/-'.includes(n)) return `the escape \\${n} (escape only punctuation; write classes as [0-9])`;
      i++;
      canQuantify = true;
    } else if (c === '|') return 'alternation |';
    else if (c === '(') {
      if (cs[i + 1] === '?') return 'a (?…) group';
      depth++;
      canQuantify = false;
    } else if (c === ')') {
      if (depth === 0) return 'an unmatched )';
      depth--;
      const n = cs[i + 1];
      if (n === '*' || n === '+' || n === '?' || n === '{') return 'a quantified group';
      canQuantify = false;
    } else if (c === '[') {
      let j = i + 1;
      if (cs[j] === '^') j++;
      const start = j;
      for (; j < cs.length && (cs[j] !== ']' || j === start); j++) {
        if (cs[j] === '[' || cs[j] === '\\') return `${cs[j]} inside a bracket expression`;
        if (cs[j] === ']' && j === start) return '] first in a bracket expression';
      }
      if (j >= cs.length) return 'an unclosed [';
      if (j === start) return 'an empty bracket expression';
      i = j;
      canQuantify = true;
    } else if (c === '*' || c === '+' || c === '?' || c === '{') {
      if (!canQuantify) return `a quantifier ${c} with nothing to repeat`;
      if (c === '{') {
        const m = /^\{(\d{1,3})(,(\d{1,3})?)?\}/.exec(cs.slice(i).join(''));
        if (!m) return 'a { that is not a quantifier {m,n}';
        if (m[3] !== undefined && Number(m[3]) < Number(m[1])) return 'a quantifier {m,n} with n < m';
        i += Array.from(m[0]).length - 1;
      }
      const n = cs[i + 1];
      if (n === '?') return 'a lazy quantifier';
      if (n === '*' || n === '+' || n === '{') return 'two quantifiers in a row';
      canQuantify = false;
    } else if (c === '}' || c === ']') return `an unmatched ${c}`;
    else canQuantify = !(c === '^' || c === '$');
  }
  if (depth !== 0) return 'an unclosed (';
  return null;
}

const typeError = (message: string, at: number | undefined, hint?: string): never => {
  throw new ExprError('EXPR_TYPE', message, { at, ...(hint ? { hint } : {}) });
};

function sourceType(pgType: string, what: string, at: number | undefined): ScalarType {
  const t = scalarTypeOf(pgType);
  if (t === undefined) {
    return typeError(
      `${what} is of type ${pgType}, which the column language does not read`,
      at,
      'the language reads text, varchar, character(n), smallint, integer, bigint, numeric, boolean, date, timestamp, timestamptz and uuid columns (a parent\'s smallint or character(n) column not yet); use a transform for others',
    );
  }
  return t;
}

/** The common type of CASE branches, COALESCE and comparisons (select_common_type, for the subset). */
function common(types: ScalarType[], what: string, at: number | undefined): ScalarType {
  const known = types.filter((t) => t !== 'unknown');
  if (known.length === 0) return 'text';
  if (known.every((t) => t === known[0])) return known[0]!;
  if (known.every(isNumeric)) return known.reduce((a, b) => (NUMERIC_RANK[a]! >= NUMERIC_RANK[b]! ? a : b));
  const distinct = [...new Set(known)];
  return typeError(`${what} types ${label(distinct[0]!)} and ${label(distinct[1]!)} cannot be matched`, at, 'cast one side so both have the same type');
}

/** Settles an unknown literal (or NULL) to the type its context needs. */
function settle(node: Typed, to: ScalarType): Typed {
  // PostgreSQL reads the literal with the type's input function: '5' becomes 5, 'x' is an error.
  if (node.type !== 'unknown' || to === 'unknown') return node;
  return { ...node, type: to };
}

function expectType(node: Typed, allowed: readonly ScalarType[], context: string): Typed {
  if (node.type === 'unknown') return settle(node, allowed[0]!);
  if (!allowed.includes(node.type)) {
    return typeError(`${context} takes ${allowed.map(label).join(' or ')}, not ${label(node.type)}`, node.at, `cast it, for example (…)::${allowed[0]}`);
  }
  return node;
}

type Node<K extends Expr['kind']> = Extract<Expr, { kind: K }>;

/**
 * Types a row column reads as a wider one of the language: smallint as integer, blank-padded
 * character(n) as text (the run reads it without its padding, as PostgreSQL's cast does; the
 * SQL compiler writes the same cast). Only a row's own columns: a parent's value is read apart.
 */
function widenedTypeOf(pgType: string): ScalarType | undefined {
  const t = pgType.toLowerCase().trim();
  if (t === 'smallint' || t === 'int2') return 'integer';
  return isBlankPaddedTypeName(t) ? 'text' : undefined;
}

function columnType(e: Node<'column'>, env: CheckEnv): Typed {
  const pgType = Object.prototype.hasOwnProperty.call(env.columns, e.name) ? env.columns[e.name] : undefined;
  if (pgType === undefined) {
    throw new ExprError('EXPR_UNKNOWN_COLUMN', `the source row has no column ${JSON.stringify(e.name)}`, {
      at: e.at,
      hint: `its columns: ${Object.keys(env.columns).join(', ')}. Unquoted names are lower-cased; quote mixed case ("FirstName")`,
    });
  }
  const widened = scalarTypeOf(pgType) === undefined ? widenedTypeOf(pgType) : undefined;
  if (widened) return { ...e, type: widened, widened: pgType };
  return { ...e, type: sourceType(pgType, `column ${e.name}`, e.at) };
}

function parentColumnType(e: Node<'parent_column'>, env: CheckEnv): Typed {
  const key = [...e.path, e.column].join('.');
  const pgType = env.parentColumns && Object.prototype.hasOwnProperty.call(env.parentColumns, key) ? env.parentColumns[key] : undefined;
  if (pgType === undefined) {
    throw new ExprError('EXPR_PARENT_UNRESOLVED', `${key} is not a column of a parent reached through a foreign key of the source table`, {
      at: e.at,
      hint: 'write parent_table.column where the source table has a foreign key to parent_table (several hops: a.b.column)',
    });
  }
  return { ...e, type: sourceType(pgType, `parent column ${key}`, e.at) };
}

function literalType(e: Node<'literal'>): Typed {
  if (e.literal === 'string' || e.literal === 'null') return { ...e, type: 'unknown' };
  if (e.literal === 'boolean') return { ...e, type: 'boolean' };
  if (e.literal === 'numeric') return { ...e, type: 'numeric' };
  const v = BigInt(e.value ?? '0');
  return { ...e, type: v >= -2147483648n && v <= 2147483647n ? 'integer' : 'bigint' };
}

function arithType(e: Node<'arith'>, l: Typed, r: Typed): Typed {
  if (l.type === 'unknown' && r.type === 'unknown') return typeError(`operator is not unique: unknown ${e.op} unknown`, e.at, 'cast one side, for example \'1\'::integer');
  const lt = l.type === 'unknown' ? r.type : l.type;
  const rt = r.type === 'unknown' ? l.type : r.type;
  if (!isNumeric(lt) || !isNumeric(rt)) {
    return typeError(`operator does not exist: ${label(lt)} ${e.op} ${label(rt)}`, e.at, 'arithmetic takes integer, bigint or numeric; cast text first, for example price::numeric');
  }
  const type = NUMERIC_RANK[lt]! >= NUMERIC_RANK[rt]! ? lt : rt;
  return { ...e, left: settle(l, lt), right: settle(r, rt), type };
}

function concatOpType(e: Node<'concat_op'>, l: Typed, r: Typed): Typed {
  const textish = (t: ScalarType) => t === 'text' || t === 'unknown';
  if (!textish(l.type) && !textish(r.type)) {
    return typeError(`operator does not exist: ${label(l.type)} || ${label(r.type)}`, e.at, 'one side of || must be text; cast one, for example a::text || b');
  }
  return { ...e, left: settle(l, 'text'), right: settle(r, 'text'), type: 'text' };
}

function caseType(e: Node<'case'>, walk: (e: Expr) => Typed): Typed {
  const whens = e.whens.map((w) => ({ when: expectType(walk(w.when), ['boolean'], 'CASE WHEN'), then: walk(w.then) }));
  const otherwise = e.else === null ? null : walk(e.else);
  const t = common([...whens.map((w) => w.then.type), ...(otherwise ? [otherwise.type] : [])], 'CASE', e.at);
  return { ...e, whens: whens.map((w) => ({ when: w.when, then: settle(w.then, t) })), else: otherwise === null ? null : settle(otherwise, t), type: t };
}

function castType(e: Node<'cast'>, a: Typed): Typed {
  if (!CASTS[e.to.type].includes(a.type)) return typeError(`cannot cast type ${label(a.type)} to ${e.to.type}`, e.at, a.type === 'bigint' && e.to.type === 'boolean' ? 'cast through integer: x::integer::boolean' : undefined);
  return { ...e, arg: a, type: e.to.type };
}

/** The node's type from its children's, after checking them (depth first, left to right). */
function typeNode(e: Expr, env: CheckEnv): Typed {
  const walk = (child: Expr): Typed => typeNode(child, env);
  switch (e.kind) {
    case 'column':
      return columnType(e, env);
    case 'parent_column':
      return parentColumnType(e, env);
    case 'literal':
      return literalType(e);
    case 'arith': {
      const l = walk(e.left);
      return arithType(e, l, walk(e.right));
    }
    case 'negate': {
      const a = walk(e.arg);
      if (a.type === 'unknown' || !isNumeric(a.type)) return typeError(`operator does not exist: - ${label(a.type)}`, e.at);
      return { ...e, arg: a, type: a.type };
    }
    case 'concat_op': {
      const l = walk(e.left);
      return concatOpType(e, l, walk(e.right));
    }
    case 'compare': {
      const l = walk(e.left);
      const r = walk(e.right);
      const t = common([l.type, r.type], 'comparison', e.at);
      return { ...e, left: settle(l, t), right: settle(r, t), type: 'boolean' };
    }
    case 'bool':
      return { ...e, args: e.args.map((a) => expectType(walk(a), ['boolean'], e.op.toUpperCase())), type: 'boolean' };
    case 'not':
      return { ...e, arg: expectType(walk(e.arg), ['boolean'], 'NOT'), type: 'boolean' };
    case 'null_test':
      return { ...e, arg: walk(e.arg), type: 'boolean' };
    case 'coalesce': {
      const args = e.args.map(walk);
      const t = common(args.map((a) => a.type), 'COALESCE', e.at);
      return { ...e, args: args.map((a) => settle(a, t)), type: t };
    }
    case 'case':
      return caseType(e, walk);
    case 'cast':
      return castType(e, walk(e.arg));
    case 'call':
      return callType(e, e.args.map(walk));
  }
}

export function checkExpr(expr: Expr, env: CheckEnv): Typed {
  return typeNode(expr, env);
}

/** The checks a function's arguments share, bound to one call. */
function argumentChecks(e: Node<'call'>, args: Typed[]) {
  return {
    arity(min: number, max: number, signature: string): void {
      if (args.length < min || args.length > max) typeError(`${e.fn} takes ${signature}; it was given ${args.length} argument${args.length === 1 ? '' : 's'}`, e.at);
    },
    text: (a: Typed, what: string) => expectType(a, ['text'], `${e.fn}'s ${what}`),
    // A quoted '2' where a number goes would make PostgreSQL pick another overload (substring(text, text) is a regex): refuse it.
    int(a: Typed, what: string) {
      if (a.kind === 'literal' && a.literal === 'string') typeError(`${e.fn}'s ${what} is a number: write ${a.value}, not '${a.value}'`, a.at);
      return expectType(a, ['integer'], `${e.fn}'s ${what}`);
    },
    done: (typedArgs: Typed[], type: ScalarType): Typed => ({ ...e, args: typedArgs, type }),
  };
}

function callType(e: Node<'call'>, args: Typed[]): Typed {
  const { arity, text, int, done } = argumentChecks(e, args);
  switch (e.fn) {
    case 'concat':
      arity(1, 100, '(value, …)');
      return done(args.map((a) => settle(a, 'text')), 'text');
    case 'concat_ws':
      arity(2, 100, '(separator text, value, …)');
      return done([text(args[0]!, 'separator'), ...args.slice(1).map((a) => settle(a, 'text'))], 'text');
    case 'lower':
    case 'upper':
    case 'initcap':
      arity(1, 1, '(text)');
      return done([text(args[0]!, 'argument')], 'text');
    case 'btrim':
    case 'ltrim':
    case 'rtrim':
      arity(1, 2, '(text [, characters text])');
      return done([text(args[0]!, 'argument'), ...args.slice(1).map((a) => text(a, 'characters'))], 'text');
    case 'replace':
      arity(3, 3, '(text, from text, to text)');
      return done(args.map((a, i) => text(a, ['string', 'from', 'to'][i]!)), 'text');
    case 'substring':
      arity(2, 3, '(text, start integer [, count integer])');
      return done([text(args[0]!, 'string'), ...args.slice(1).map((a, i) => int(a, i === 0 ? 'start' : 'count'))], 'text');
    case 'left':
    case 'right':
      arity(2, 2, '(text, n integer)');
      return done([text(args[0]!, 'string'), int(args[1]!, 'length')], 'text');
    case 'split_part':
      arity(3, 3, '(text, delimiter text, n integer)');
      return done([text(args[0]!, 'string'), text(args[1]!, 'delimiter'), int(args[2]!, 'field')], 'text');
    case 'regexp_replace':
      return regexpReplaceType(e, args);
    case 'nullif': {
      arity(2, 2, '(a, b)');
      const t = common([args[0]!.type, args[1]!.type], 'NULLIF', e.at);
      return done([settle(args[0]!, t), settle(args[1]!, t)], args[0]!.type === 'unknown' ? t : args[0]!.type);
    }
    case 'round':
      return roundType(e, args);
  }
}

function regexpReplaceType(e: Node<'call'>, args: Typed[]): Typed {
  const { arity, text, done } = argumentChecks(e, args);
  arity(3, 4, "(text, pattern 'literal', replacement text [, flags 'literal'])");
  const pattern = args[1]!;
  if (pattern.kind !== 'literal' || pattern.literal !== 'string') return typeError("regexp_replace's pattern must be a 'quoted literal' (it is checked before the run)", pattern.at);
  const problem = checkRegexSubset(pattern.value ?? '');
  if (problem !== null) {
    throw new ExprError('EXPR_UNSUPPORTED', `regexp_replace pattern ${JSON.stringify(pattern.value)} uses ${problem}, where PostgreSQL and the sandbox could match differently`, {
      at: pattern.at,
      construct: problem,
      hint: 'patterns may use literals, ., [a-z] classes, ^ $, (groups) and * + ? {m,n} on single characters; flags g and i',
    });
  }
  const flags = args[3];
  if (flags !== undefined && (flags.kind !== 'literal' || flags.literal !== 'string' || !/^(g?i?|ig)$/.test(flags.value ?? ''))) {
    throw new ExprError('EXPR_UNSUPPORTED', `regexp_replace flags must be a literal made of g (every match) and i (ignore case)`, { at: flags.at, construct: 'regexp_replace flags' });
  }
  return done([text(args[0]!, 'string'), text(pattern, 'pattern'), text(args[2]!, 'replacement'), ...(flags ? [text(flags, 'flags')] : [])], 'text');
}

function roundType(e: Node<'call'>, args: Typed[]): Typed {
  const { arity, int, done } = argumentChecks(e, args);
  arity(1, 2, '(numeric [, places integer])');
  const v = args[0]!;
  // round('2.5') would be round(double precision) in PostgreSQL, which rounds half to even.
  if (v.type === 'unknown') return typeError("round of an untyped literal is ambiguous: write round('2.5'::numeric)", v.at);
  if (v.type !== 'numeric') {
    return typeError(`round takes numeric, not ${label(v.type)}`, v.at, `PostgreSQL would round ${label(v.type)} as double precision; cast it: round(x::numeric)`);
  }
  return done([settle(v, 'numeric'), ...args.slice(1).map((a) => int(a, 'places'))], 'numeric');
}
