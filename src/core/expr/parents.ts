import { quoteIdent } from '../sql.js';
import type { Expr, ParentHop } from './ast.js';
import { ExprError } from './errors.js';

/**
 * Resolves `parent.column` (any number of hops: `a.b.column`) against the source catalog: each
 * name is a foreign key of the current table by its column (`manager_id.last_name`), that
 * column without `_id` / `_no` / `_key` (`manager.last_name`), or its constraint name; else the
 * table the key references (`media_type.name`); where the legacy
 * schema declares no key, a join the person named (`joins`). Two keys that fit one name are
 * refused, never picked.
 */

/** A join the person named where no foreign key is declared: `media_type` = media_type_id → public.media_type(id). */
/**
 * The part of a schema analysis the resolver reads, stated here (structurally) so the language
 * does not import the artifacts: plans store expressions, so artifacts sit above the language.
 */
interface TableInfo {
  schema: string;
  name: string;
  columns: ReadonlyArray<{ name: string; pgType: string }>;
  foreignKeys: ReadonlyArray<{ name: string; columns: string[]; refSchema: string; refTable: string; refColumns: string[] }>;
}
interface DatabaseAnalysis {
  tables: readonly TableInfo[];
}

export interface NamedJoin {
  childColumns: string[];
  schema: string;
  table: string;
  parentColumns: string[];
}

export interface ResolvedParents {
  expr: Expr;
  /** `path.column` → the parent column's PostgreSQL type, for checkExpr's env.parentColumns. */
  parentColumns: Record<string, string>;
}

function findTable(db: DatabaseAnalysis, schema: string, name: string): TableInfo | undefined {
  return db.tables.find((t) => t.schema === schema && t.name === name);
}

function hopFrom(from: TableInfo, name: string, joins: Readonly<Record<string, NamedJoin>>, at: number | undefined): ParentHop {
  // A name is first what the key is called (constraint, column, column without _id / _no / _key …), then the table it references.
  const aliases = (fk: TableInfo['foreignKeys'][number]): string[] =>
    fk.columns.length === 1 ? [fk.name, fk.columns[0]!, fk.columns[0]!.replace(/_(id|no|key|fk|ref|code)$/i, '')] : [fk.name];
  const byAlias = from.foreignKeys.filter((fk) => aliases(fk).includes(name));
  const chosen = byAlias.length > 0 ? byAlias : from.foreignKeys.filter((fk) => fk.refTable === name);
  if (chosen.length === 1) {
    const fk = chosen[0]!;
    return { name, childColumns: fk.columns, schema: fk.refSchema, table: fk.refTable, parentColumns: fk.refColumns };
  }
  if (chosen.length > 1) {
    throw new ExprError('EXPR_PARENT_UNRESOLVED', `${name} fits ${chosen.length} foreign keys of ${from.schema}.${from.name}: ${chosen.map((fk) => `${fk.name} (${fk.columns.join(', ')})`).join(', ')}`, {
      at,
      hint: `name the key by its column instead, for example ${chosen.map((fk) => `${fk.columns.join('_')}.column`).join(' or ')}`,
    });
  }
  const join = Object.prototype.hasOwnProperty.call(joins, name) ? joins[name] : undefined;
  if (join) return { name, ...join };
  const known = from.foreignKeys.map((fk) => `${fk.columns.join(', ')} → ${fk.refTable}`);
  throw new ExprError('EXPR_PARENT_UNRESOLVED', `${from.schema}.${from.name} has no foreign key to ${JSON.stringify(name)} and no join was named for it`, {
    at,
    hint: known.length > 0 ? `its foreign keys: ${known.join('; ')}` : 'it declares no foreign keys: name the join column and the parent table',
  });
}

export function resolveParents(expr: Expr, source: DatabaseAnalysis, table: { schema: string; name: string }, joins: Readonly<Record<string, NamedJoin>> = {}): ResolvedParents {
  const start = findTable(source, table.schema, table.name);
  if (!start) throw new ExprError('EXPR_PARENT_UNRESOLVED', `the source analysis has no table ${table.schema}.${table.name}`);
  const parentColumns: Record<string, string> = {};
  const map = (e: Expr): Expr => {
    switch (e.kind) {
      case 'parent_column': {
        const hops: ParentHop[] = [];
        let current = start;
        for (const name of e.path) {
          const hop = hopFrom(current, name, joins, e.at);
          const next = findTable(source, hop.schema, hop.table);
          if (!next) throw new ExprError('EXPR_PARENT_UNRESOLVED', `${hop.schema}.${hop.table} (reached through ${name}) is not in the source analysis`, { at: e.at });
          hops.push(hop);
          current = next;
        }
        const column = current.columns.find((c) => c.name === e.column);
        if (!column) {
          throw new ExprError('EXPR_UNKNOWN_COLUMN', `${current.schema}.${current.name} has no column ${JSON.stringify(e.column)}`, {
            at: e.at,
            hint: `its columns: ${current.columns.map((c) => c.name).join(', ')}`,
          });
        }
        parentColumns[[...e.path, e.column].join('.')] = column.pgType;
        return { ...e, hops };
      }
      case 'column':
      case 'literal':
        return e;
      case 'arith':
      case 'concat_op':
      case 'compare':
        return { ...e, left: map(e.left), right: map(e.right) };
      case 'negate':
      case 'not':
      case 'null_test':
      case 'cast':
        return { ...e, arg: map(e.arg) };
      case 'bool':
      case 'call':
      case 'coalesce':
        return { ...e, args: e.args.map(map) };
      case 'case':
        return { ...e, whens: e.whens.map((w) => ({ when: map(w.when), then: map(w.then) })), else: e.else ? map(e.else) : null };
    }
  };
  return { expr: map(expr), parentColumns };
}

/**
 * The per-run dictionary for one parent column: each first-hop key (as text, k0…kn) and the
 * parent's value as text. The orchestrator streams it to the sandbox (`parents` in the program).
 */
export function parentDictionarySql(hops: readonly ParentHop[], column: string): string {
  const first = hops[0]!;
  const keys = first.parentColumns.map((c, i) => `CAST(${quoteIdent('ferry_p1')}.${quoteIdent(c)} AS text) AS k${i}`).join(', ');
  const alias = (i: number) => quoteIdent(`ferry_p${i + 1}`);
  const from = hops
    .map((h, i) => {
      const t = `${quoteIdent(h.schema)}.${quoteIdent(h.table)} AS ${alias(i)}`;
      if (i === 0) return t;
      return `JOIN ${t} ON ${h.parentColumns.map((pc, j) => `${alias(i)}.${quoteIdent(pc)} = ${alias(i - 1)}.${quoteIdent(h.childColumns[j]!)}`).join(' AND ')}`;
    })
    .join(' ');
  return `SELECT ${keys}, CAST(${alias(hops.length - 1)}.${quoteIdent(column)} AS text) AS v FROM ${from}`;
}

/** Rows of parentDictionarySql → the map the program's `parents` holds for that column. */
export function parentDictionary(rows: ReadonlyArray<Record<string, unknown>>, keyCount: number): Map<string, unknown> {
  const out = new Map<string, unknown>();
  for (const r of rows) {
    const keys = Array.from({ length: keyCount }, (_, i) => r[`k${i}`]);
    if (keys.some((k) => k === null || k === undefined)) continue;
    out.set(JSON.stringify(keys.map(String)), r.v ?? null);
  }
  return out;
}
