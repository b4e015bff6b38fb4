import { readFileSync } from 'node:fs';
import { packagePath } from '../package-root.js';
import type { CastTarget, Expr, ScalarType } from './ast.js';
import type { Typed } from './check.js';
import { ExprError } from './errors.js';

/**
 * A checked expression → TypeScript for the sandbox program: calls into `pg` (runtime.ts,
 * inlined into the program by `runtimeSource()`), one per operation, so the generated code
 * reads like the expression. Parent columns come from `parents`, a dictionary streamed in with
 * the run (see `parentDictionarySql`); the program never fetches anything.
 */

const RUNTIME_BODY_MARKER = '// ---- the library: runtimeSource() inlines everything below';
const RUNTIME_EXPORT = 'export const pg = api;';

/**
 * The runtime library's source, to inline into a generated program (it imports nothing).
 * runtime.ts is written as top-level functions; here its library part is wrapped in one
 * immediately invoked function, so the program gains one value, `pg` (plus the Pg* types),
 * and none of the runtime's helper names can clash with the program's own.
 */
export function runtimeSource(): string {
  const text = readFileSync(packagePath('src', 'core', 'expr', 'runtime.ts'), 'utf8');
  const at = text.indexOf(RUNTIME_BODY_MARKER);
  const end = text.lastIndexOf(RUNTIME_EXPORT);
  if (at < 0 || end < at || text.slice(end + RUNTIME_EXPORT.length).trim() !== '') {
    throw new Error(`runtime.ts must hold the marker ${JSON.stringify(RUNTIME_BODY_MARKER)} and end with ${JSON.stringify(RUNTIME_EXPORT)}`);
  }
  const body = text.slice(at, end).trimEnd();
  if (/^export\s/m.test(body)) throw new Error('runtime.ts exports nothing between its marker and its last line: the library is inlined inside pg');
  const indented = body
    .split('\n')
    .map((line) => (line === '' ? '' : `  ${line}`))
    .join('\n');
  return `${text.slice(0, at)}export const pg = (() => {\n${indented}\n  return api;\n})();\n`;
}

/** What a derived value is in the program, by type. */
export function tsTypeOf(type: ScalarType): string {
  switch (type) {
    case 'integer':
      return 'number | null';
    case 'bigint':
      return 'bigint | null';
    case 'boolean':
      return 'boolean | null';
    default:
      return 'string | null';
  }
}

/** The name of the parent dictionary parameter and the key a parent column is looked up by. */
export const PARENTS_PARAM = 'parents';
export const parentKey = (e: Extract<Expr, { kind: 'parent_column' }>): string => [...e.path, e.column].join('.');
/** The TypeScript type of `parents`: per parent column, JSON of the first hop's key texts → the parent's value. */
export const PARENT_VALUES_TYPE = 'ReadonlyMap<string, ReadonlyMap<string, unknown>>';

const str = (s: string): string => JSON.stringify(s);
const castTarget = (to: CastTarget): string => JSON.stringify(to).replace(/"(\w+)":/g, '$1: ');

function need(e: Expr): ScalarType {
  if (e.type === undefined) throw new Error(`compile a checked expression (checkExpr); ${e.kind} has no type`);
  return e.type;
}

export interface TsCompileOptions {
  /** The variable holding the source row (JSON as the harness receives it). */
  row?: string;
}

/** A function call, its arguments already compiled (`args[i]` is `e.args[i]` as TypeScript). */
function compileCall(e: Extract<Expr, { kind: 'call' }>, args: readonly string[]): string {
  switch (e.fn) {
    case 'concat':
      return `pg.concat([${e.args.map((a, i) => `[${args[i]}, ${str(need(a))}]`).join(', ')}])`;
    case 'concat_ws':
      return `pg.concatWs(${args[0]}, [${e.args
        .slice(1)
        .map((a, i) => `[${args[i + 1]}, ${str(need(a))}]`)
        .join(', ')}])`;
    case 'split_part':
      return `pg.splitPart(${args.join(', ')})`;
    case 'regexp_replace':
      return `pg.regexpReplace(${args.join(', ')})`;
    case 'nullif': {
      const lt = need(e.args[0]!);
      const rt = need(e.args[1]!);
      if (lt === rt) return `pg.nullif(${str(lt)}, ${args[0]}, ${args[1]})`;
      return `pg.nullif('numeric', pg.cast(${args[0]}, ${str(lt)}, { type: 'numeric' }), pg.cast(${args[1]}, ${str(rt)}, { type: 'numeric' })) === null ? null : ${args[0]}`;
    }
    default:
      return `pg.${e.fn}(${args.join(', ')})`;
  }
}

/** The expression as one TypeScript expression of the runtime's value type. */
export function compileTs(expr: Typed, options: TsCompileOptions = {}): string {
  const row = options.row ?? 'row';
  const c = (e: Expr): string => {
    const type = need(e);
    switch (e.kind) {
      case 'column':
        return `pg.col(${row}, ${str(e.name)}, ${str(type)})`;
      case 'parent_column': {
        const first = e.hops?.[0];
        if (!first || e.hops!.length !== e.path.length) throw new ExprError('EXPR_PARENT_UNRESOLVED', `${parentKey(e)} has not been resolved to foreign keys`, { at: e.at });
        const keys = first.childColumns.map((k) => `${row}[${str(k)}]`).join(', ');
        return `pg.parent(${PARENTS_PARAM}, ${str(parentKey(e))}, [${keys}], ${str(type)})`;
      }
      case 'literal':
        if (e.literal === 'null' || e.value === null) return 'null';
        if (e.literal === 'boolean') return e.value === 'true' ? 'true' : 'false';
        if (e.literal === 'integer') return type === 'bigint' ? `${BigInt(e.value)}n` : String(Number(BigInt(e.value)));
        if (e.literal === 'numeric') return `pg.literal(${str(e.value)}, { type: 'numeric' })`;
        if (type === 'unknown' || type === 'text') return str(e.value);
        if (type === 'timestamp') return `pg.col({ v: ${str(e.value)} }, 'v', 'timestamp')`;
        return `pg.literal(${str(e.value)}, { type: ${str(type)} })`;
      case 'arith':
        return `pg.arith(${str(type)}, ${str(e.op)}, ${c(e.left)}, ${str(need(e.left))}, ${c(e.right)}, ${str(need(e.right))})`;
      case 'negate':
        return `pg.negate(${str(type)}, ${c(e.arg)})`;
      case 'concat_op':
        return `pg.textcat(${c(e.left)}, ${str(need(e.left))}, ${c(e.right)}, ${str(need(e.right))})`;
      case 'compare': {
        // Both sides have one type after checking, except integer/bigint/numeric mixes, compared as numeric.
        const lt = need(e.left);
        const rt = need(e.right);
        const t = lt === rt ? lt : 'numeric';
        const side = (x: Expr, xt: ScalarType) => (xt === t ? c(x) : `pg.cast(${c(x)}, ${str(xt)}, { type: 'numeric' })`);
        return `pg.compare(${str(t)}, ${str(e.op)}, ${side(e.left, lt)}, ${side(e.right, rt)})`;
      }
      case 'bool':
        return `pg.${e.op}(${e.args.map((a) => `() => ${c(a)}`).join(', ')})`;
      case 'not':
        return `pg.not(${c(e.arg)})`;
      case 'null_test':
        return `(${c(e.arg)} ${e.negated ? '!==' : '==='} null)`;
      case 'coalesce':
        return `pg.coalesce(${e.args.map((a) => `() => ${widen(a, type)}`).join(', ')})`;
      case 'case': {
        const branches = e.whens.map((w) => `pg.isTrue(${c(w.when)}) ? ${widen(w.then, type)} : `).join('');
        return `(${branches}${e.else ? widen(e.else, type) : 'null'})`;
      }
      case 'cast':
        return `pg.cast(${c(e.arg)}, ${str(need(e.arg))}, ${castTarget(e.to)})`;
      case 'call':
        return compileCall(e, e.args.map(c));
    }
  };
  /** A branch of CASE/COALESCE whose type is narrower than the result (integer in a numeric CASE). */
  const widen = (e: Expr, to: ScalarType): string => {
    const from = need(e);
    return from === to || from === 'unknown' ? c(e) : `pg.cast(${c(e)}, ${str(from)}, { type: ${str(to)} })`;
  };
  return c(expr);
}

/**
 * A named function for a generated program: `(row, parents) => value`, annotated with the
 * value's TypeScript type so the program's type check sees what it returns.
 */
export function compileTsFunction(name: string, expr: Typed, source: string): string {
  if (!/^[A-Za-z_$][\w$]*$/.test(name)) throw new Error(`not a TypeScript identifier: ${JSON.stringify(name)}`);
  const comment = source.replace(/\*\//g, '* /').replace(/[\r\n]+/g, ' ');
  return [
    `/** ${comment} */`,
    `export function ${name}(row: Readonly<Record<string, unknown>>, ${PARENTS_PARAM}: ${PARENT_VALUES_TYPE}): ${tsTypeOf(need(expr))} {`,
    `  void ${PARENTS_PARAM};`,
    `  return ${compileTs(expr)} as ${tsTypeOf(need(expr))};`,
    '}',
  ].join('\n');
}
