import { escapeLiteral } from '../pg-escape.js';
import type { CastTarget, Expr, ParentHop, ScalarType } from './ast.js';
import type { Typed } from './check.js';
import { ExprError } from './errors.js';
import { COLLATED } from './walk.js';
import { quoteIdent, qualified } from '../sql.js';

/**
 * A checked expression → SQL over one source row (`"src"."col"`), for validation to re-derive
 * every value on the source independently of the sandbox. Identifiers are quoted, literals go
 * through escapeLiteral, every operation is parenthesised, and where PostgreSQL's behaviour
 * depends on settings the SQL pins it, so it means what the runtime computes:
 *   - text comparisons under COLLATE "C" (code point order);
 *   - lower/upper/initcap and regexp_replace under the builtin pg_c_utf8 collation (Unicode
 *     simple case mapping, PostgreSQL 17+), never the database's libc locale;
 *   - text read as date/timestamptz only in ISO 8601 form and as numeric never as NaN or
 *     Infinity: anything else is turned into text the input function refuses, so both sides fail
 *     with the same SQLSTATE.
 * The session must run with TimeZone = 'UTC' and DateStyle = 'ISO' (SESSION_SETTINGS_SQL).
 */

export const SESSION_SETTINGS_SQL = "SET TimeZone = 'UTC'; SET DateStyle = 'ISO, YMD'";

const lit = (s: string): string => escapeLiteral(s);
const WS = '[ \t\n\r\u000b\f]*';
/** The ISO forms text must have to be read as a date or timestamptz (runtime.ts holds the same). */
export const DATE_PATTERN = `^${WS}[0-9]{4}-[0-9]{2}-[0-9]{2}${WS}$`;
export const TIMESTAMP_PATTERN = `^${WS}[0-9]{4}-[0-9]{2}-[0-9]{2}([ T][0-9]{2}:[0-9]{2}(:[0-9]{2}([.][0-9]{1,6})?)?)?(Z|[-+][0-9]{2}(:[0-9]{2})?)?${WS}$`;

const SQL_TYPE: Record<Exclude<ScalarType, 'unknown'>, string> = {
  text: 'text',
  integer: 'integer',
  bigint: 'bigint',
  numeric: 'numeric',
  boolean: 'boolean',
  date: 'date',
  timestamp: 'timestamp',
  timestamptz: 'timestamptz',
  uuid: 'uuid',
};

function castTypeSql(to: CastTarget): string {
  if (to.type === 'numeric' && to.precision !== undefined) return `numeric(${to.precision}, ${to.scale ?? 0})`;
  return SQL_TYPE[to.type];
}

export interface SqlCompileOptions {
  /** The source row's alias in the query the expression is placed in. */
  rowAlias: string;
}

function need(e: Expr): ScalarType {
  if (e.type === undefined) throw new Error(`compile a checked expression (checkExpr); ${e.kind} has no type`);
  return e.type;
}

/** `(SELECT pN."col" FROM parent p1 JOIN … WHERE p1.key = src.fk)`: one parent row at most, since a FK references a key. */
export function parentSubquery(hops: readonly ParentHop[], column: string, rowAlias: string): string {
  const alias = (i: number) => quoteIdent(`ferry_p${i + 1}`);
  const from = hops
    .map((h, i) => {
      const table = `${qualified(h.schema, h.table)} AS ${alias(i)}`;
      if (i === 0) return table;
      const on = h.parentColumns.map((pc, j) => `${alias(i)}.${quoteIdent(pc)} = ${alias(i - 1)}.${quoteIdent(h.childColumns[j]!)}`).join(' AND ');
      return `JOIN ${table} ON ${on}`;
    })
    .join(' ');
  const first = hops[0]!;
  const where = first.parentColumns.map((pc, j) => `${alias(0)}.${quoteIdent(pc)} = ${quoteIdent(rowAlias)}.${quoteIdent(first.childColumns[j]!)}`).join(' AND ');
  return `(SELECT ${alias(hops.length - 1)}.${quoteIdent(column)} FROM ${from} WHERE ${where})`;
}

function textToTyped(sql: string, to: CastTarget): string {
  // Guards make both compilers refuse the same texts with the same SQLSTATE (see the header).
  switch (to.type) {
    case 'date':
      return `CAST(CASE WHEN ${sql} ~ ${lit(DATE_PATTERN)} THEN ${sql} ELSE 'not ISO 8601: ' || ${sql} END AS date)`;
    case 'timestamptz':
      return `CAST(CASE WHEN ${sql} ~ ${lit(TIMESTAMP_PATTERN)} THEN ${sql} ELSE 'not ISO 8601: ' || ${sql} END AS timestamptz)`;
    case 'numeric':
      return `CAST(CASE WHEN ${sql} ~* ${lit(`^${WS}[-+]?(nan|inf)`)} THEN 'not finite: ' || ${sql} ELSE ${sql} END AS ${castTypeSql(to)})`;
    default:
      return `CAST(${sql} AS ${castTypeSql(to)})`;
  }
}

export function compileSql(expr: Typed, options: SqlCompileOptions): string {
  const row = quoteIdent(options.rowAlias);
  const c = (e: Expr): string => {
    const type = need(e);
    switch (e.kind) {
      case 'column':
        // A widened column (smallint, character(n)) is cast to the language's type: integer
        // arithmetic, and text without the blank padding, as the program computes them.
        return e.widened ? `CAST(${row}.${quoteIdent(e.name)} AS ${SQL_TYPE[type as Exclude<ScalarType, 'unknown'>]})` : `${row}.${quoteIdent(e.name)}`;
      case 'parent_column':
        if (!e.hops || e.hops.length !== e.path.length) throw new ExprError('EXPR_PARENT_UNRESOLVED', `${[...e.path, e.column].join('.')} has not been resolved to foreign keys`, { at: e.at });
        return parentSubquery(e.hops, e.column, options.rowAlias);
      case 'literal': {
        if (e.literal === 'null' || e.value === null) return type === 'unknown' ? 'NULL' : `CAST(NULL AS ${SQL_TYPE[type]})`;
        if (e.literal === 'boolean') return e.value === 'true' ? 'true' : 'false';
        if (e.literal === 'integer') {
          if (!/^-?\d+$/.test(e.value)) throw new ExprError('EXPR_SYNTAX', `not an integer literal: ${JSON.stringify(e.value)}`, { at: e.at });
          return `(${e.value})`;
        }
        if (e.literal === 'numeric') {
          if (!/^-?(\d+\.?\d*|\.\d+)(e[-+]?\d+)?$/i.test(e.value)) throw new ExprError('EXPR_SYNTAX', `not a numeric literal: ${JSON.stringify(e.value)}`, { at: e.at });
          return `(${e.value})`;
        }
        if (type === 'unknown' || type === 'text') return `CAST(${lit(e.value)} AS text)`;
        if (type === 'timestamp') return `CAST(${lit(e.value)} AS timestamp)`;
        return textToTyped(lit(e.value), { type });
      }
      case 'arith':
        return `(${c(e.left)} ${e.op} ${c(e.right)})`;
      case 'negate':
        return `(- ${c(e.arg)})`;
      case 'concat_op':
        return `(${c(e.left)} || ${c(e.right)})`;
      case 'compare': {
        const collate = need(e.left) === 'text' ? ' COLLATE "C"' : '';
        return `(${c(e.left)}${collate} ${e.op} ${c(e.right)})`;
      }
      case 'bool':
        return `(${e.args.map(c).join(e.op === 'and' ? ' AND ' : ' OR ')})`;
      case 'not':
        return `(NOT ${c(e.arg)})`;
      case 'null_test':
        return `(${c(e.arg)} IS ${e.negated ? 'NOT ' : ''}NULL)`;
      case 'coalesce':
        return `COALESCE(${e.args.map(c).join(', ')})`;
      case 'case':
        return `(CASE ${e.whens.map((w) => `WHEN ${c(w.when)} THEN ${c(w.then)}`).join(' ')}${e.else ? ` ELSE ${c(e.else)}` : ''} END)`;
      case 'cast': {
        const from = need(e.arg);
        if (from === 'text' || from === 'unknown') return textToTyped(c(e.arg), e.to);
        return `CAST(${c(e.arg)} AS ${castTypeSql(e.to)})`;
      }
      case 'call': {
        const args = e.args.map(c);
        if (COLLATED.has(e.fn)) return `${e.fn}(${[`${args[0]} COLLATE pg_c_utf8`, ...args.slice(1)].join(', ')})`;
        switch (e.fn) {
          case 'substring':
            return `substr(${args.join(', ')})`;
          case 'nullif':
            return `NULLIF(${args.join(', ')})`;
          default:
            return `${e.fn}(${args.join(', ')})`;
        }
      }
    }
  };
  return c(expr);
}
