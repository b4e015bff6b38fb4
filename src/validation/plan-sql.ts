import { escapeLiteral } from '../core/pg-escape.js';
import type { ColumnMapping, ColumnOrigin, MigrationPlan } from '../core/artifacts/migration-plan.js';
import { isBlankPaddedTypeName } from '../core/artifacts/schema-analysis.js';
import { planTables } from '../control/control-tables.js';
import { qualified, quoteIdent, type Queryable, type SqlFragment } from '../core/sql.js';
import { columnsRead, compileSql, type Typed } from '../core/expr/index.js';
import { planWhere } from '../core/plan/filter-sql.js';

/**
 * A plan compiled into SQL, for validation at scale: on the source side, one text expression
 * per checked column giving what the plan says the target column must hold (as the text of
 * the target type); on the target side, the text of what it holds, reached through
 * migration_mappings. Both sides key rows by the legacy key, so a row hash computed from the
 * same texts on both databases agrees exactly when the row is right.
 *
 * Text forms only agree when both sessions print values the same way: see TEXT_SETTINGS.
 */

/** Session settings that make text output identical on both databases (SET LOCAL, inside the validation transaction). */
export const TEXT_SETTINGS = [
  `SET LOCAL TimeZone = 'UTC'`,
  `SET LOCAL DateStyle = 'ISO, YMD'`,
  `SET LOCAL IntervalStyle = 'postgres'`,
  `SET LOCAL extra_float_digits = 3`,
  `SET LOCAL bytea_output = 'hex'`,
  `SET LOCAL standard_conforming_strings = on`,
  // Not text output: room for the hash joins of mappings and target rows to stay in memory.
  `SET LOCAL work_mem = '64MB'`,
];

/** TEXT_SETTINGS as one simple-query string (it may follow a BEGIN in the same round trip). */
export const TEXT_SETTINGS_SQL = TEXT_SETTINGS.join('; ');

/** TEXT_SETTINGS in one round trip (a query without parameters may hold several statements); inside a transaction. */
export async function applyTextSettings(db: Queryable): Promise<void> {
  await db.query(TEXT_SETTINGS_SQL);
}

/** The plan uses something this compiler cannot express in SQL: validation walks rows in JavaScript instead. */
export class PlanSqlUnsupported extends Error {}

/**
 * A string as an SQL literal (pg's escapeLiteral: quotes doubled, an E'' string where a
 * backslash is). A NUL byte no text value can hold sends validation to the JavaScript walk.
 */
export function quoteLiteral(value: string): string {
  if (value.includes('\u0000')) throw new PlanSqlUnsupported(`a literal contains a NUL byte: ${JSON.stringify(value)}`);
  return escapeLiteral(value);
}

/** One column's type as the catalog has it. */
export interface ColumnType {
  name: string;
  /** format_type(): `character varying(50)`, `numeric(10,2)`, `technician_type`. */
  formatType: string;
  /** The type a value is cast to on the source side (built-in only), or 'text' for enums; null when none fits. */
  castType: string | null;
  /** Text-like (text, varchar, char, enum, citext-less): the value's text is the value. */
  textLike: boolean;
}

/** Column types of one table, read from its database's catalog. */
export async function readColumnTypes(db: Queryable, schema: string, table: string): Promise<Map<string, ColumnType>> {
  const r = await db.query<{ name: string; ftype: string; typtype: string; builtin: boolean; base: string | null; base_builtin: boolean | null; cat: string; base_cat: string | null }>(
    `SELECT a.attname AS name, format_type(a.atttypid, a.atttypmod) AS ftype, t.typtype::text AS typtype,
            t.typnamespace = 'pg_catalog'::regnamespace AS builtin, t.typcategory::text AS cat,
            CASE WHEN t.typtype = 'd' THEN format_type(t.typbasetype, t.typtypmod) END AS base,
            CASE WHEN t.typtype = 'd' THEN b.typnamespace = 'pg_catalog'::regnamespace END AS base_builtin,
            b.typcategory::text AS base_cat
       FROM pg_attribute a
       JOIN pg_class c ON c.oid = a.attrelid
       JOIN pg_namespace n ON n.oid = c.relnamespace
       JOIN pg_type t ON t.oid = a.atttypid
       LEFT JOIN pg_type b ON b.oid = t.typbasetype
      WHERE n.nspname = $1 AND c.relname = $2 AND a.attnum > 0 AND NOT a.attisdropped`,
    [schema, table],
  );
  const out = new Map<string, ColumnType>();
  for (const c of r.rows) {
    const enumLike = c.typtype === 'e';
    const cat = c.typtype === 'd' ? c.base_cat : c.cat;
    const castType = enumLike ? 'text' : c.typtype === 'd' ? (c.base_builtin ? c.base : null) : c.builtin ? c.ftype : null;
    out.set(c.name, { name: c.name, formatType: c.ftype, castType, textLike: enumLike || cat === 'S' });
  }
  return out;
}

/** A blank-padded character(n) column (a domain over one too): its text drops the padding. */
export function isBlankPaddedType(t: ColumnType | undefined): boolean {
  return t !== undefined && isBlankPaddedTypeName(t.castType ?? t.formatType);
}

export type ColumnRole =
  /** A value the program writes, re-derived from the source row. */
  | 'content'
  /** A fixed FK value decided in plan.foreignKeys (content too, and an FK check). */
  | 'fixed_fk'
  /** A reference resolved through a parent's mappings: compared in the legacy key space. */
  | 'reference';

export interface CompiledColumn {
  target: string;
  /** The target column's type, as format_type prints it. */
  targetType: string;
  role: ColumnRole;
  origin: ColumnOrigin;
  /** The source column it reads, if any (its raw text is fetched for messages). */
  source: string | null;
  /** Over alias `src`: the text the target column must hold (or, for references, the legacy value). */
  srcExpr: string;
  /** Over aliases `t` / `p<i>`: the text it holds (for references, its parent's legacy id). */
  tgtExpr: string;
  /** For references: the raw target value (`t.col::text`) and the parent pair. */
  ref?: {
    raw: string;
    parentSourceTable: string;
    parentTargetTable: string;
    onOrphan: 'needs_review' | 'set_null' | 'fail';
    /** The legacy FK column on the source. */
    sourceColumn: string;
  };
}

/** How a row's text becomes a 64-bit number to sum. */
export type RowHash = 'md5' | 'hashtextextended';

export interface PlanSql {
  hash: RowHash;
  /** integer: bigint order and equal-width ranges; text: byte order (COLLATE "C") and percentile ranges. */
  keyClass: 'integer' | 'text';
  /** The source table (qualified) and its filter (`WHERE …` over its columns, parameters $1…); alias it `src`. */
  source: { table: string; where: SqlFragment };
  /** The legacy key on the source, in range order (int: the column itself, so its index serves ranges). */
  srcKey: string;
  /** The same as text (what migration_mappings.legacy_id holds). */
  srcKeyText: string;
  /** The legacy key on the target side, in the same order. */
  tgtKey: string;
  /** `FROM ferry_control.migration_mappings m LEFT JOIN <target> t … WHERE m.source_table = $1 AND m.target_table = $2`. */
  targetFrom: SqlFragment;
  /** True when the mapping's target row exists. */
  tgtPresent: string;
  /** The mapping's new id. */
  tgtNewId: string;
  columns: CompiledColumn[];
  /** For an enum_map column: its source value → enum value table (for messages). */
  enumValues: Map<string, Map<string | null, string | null>>;
  /** `src.<source column>::text` per source column named by the columns (raw values, for messages). */
  rawSources: string[];
  /** Where a source column's raw text is in rawSources. */
  rawSourceIndex(name: string): number;
  /** Legacy keys in the order the ranges use (bigint, or UTF-8 bytes as COLLATE "C"). */
  compareKeys(a: string, b: string): number;
}

function keyComparator(keyClass: 'integer' | 'text'): (a: string, b: string) => number {
  if (keyClass === 'integer') return (a, b) => (BigInt(a) < BigInt(b) ? -1 : BigInt(a) > BigInt(b) ? 1 : 0);
  return (a, b) => Buffer.compare(Buffer.from(a, 'utf8'), Buffer.from(b, 'utf8'));
}

const INTEGER_TYPES = new Set(['smallint', 'integer', 'bigint']);

export interface CompileOptions {
  safeCasts?: boolean;
  /** The row hash: hashtextextended (fast; PostgreSQL 11+ on both sides) or md5 (any version). Default md5. */
  hash?: RowHash;
  /** Per reference column (target name): legacy values with no parent mapping, written NULL under set_null. */
  orphanValues?: ReadonlyMap<string, readonly string[]>;
}

/** What compiling one column needs and adds to: the joins, the enum tables and the raw source columns. */
interface ColumnCompiler {
  plan: MigrationPlan;
  sourceTypes: Map<string, ColumnType>;
  options: CompileOptions;
  joins: string[];
  enumValues: Map<string, Map<string | null, string | null>>;
  /** `src.<name>` for a source column of the plan, which is noted as a raw source (throws when it is not in the table). */
  srcCol(name: string): string;
}

/**
 * Compiles the plan. `sourceTypes` / `targetTypes` come from readColumnTypes on each side.
 * Throws PlanSqlUnsupported when a checked column has no SQL form (validation then walks rows).
 */
export function compilePlan(plan: MigrationPlan, sourceTypes: Map<string, ColumnType>, targetTypes: Map<string, ColumnType>, options: CompileOptions = {}): PlanSql {
  const { sourceTable, targetTable } = planTables(plan);
  const keyType = sourceTypes.get(plan.source.key);
  if (!keyType) throw new PlanSqlUnsupported(`the legacy key ${plan.source.key} is not a column of ${sourceTable}`);
  const pk = targetTypes.get(plan.target.primaryKey);
  if (!pk) throw new PlanSqlUnsupported(`the primary key ${plan.target.primaryKey} is not a column of ${targetTable}`);
  const keyClass = INTEGER_TYPES.has(keyType.formatType) ? 'integer' : 'text';
  const key = `src.${quoteIdent(plan.source.key)}`;

  const columns: CompiledColumn[] = [];
  const rawSources = new Set<string>();
  const cc: ColumnCompiler = {
    plan,
    sourceTypes,
    options,
    joins: [],
    enumValues: new Map(),
    srcCol: (name) => {
      if (!sourceTypes.has(name)) throw new PlanSqlUnsupported(`source column ${name} is not in ${sourceTable}`);
      rawSources.add(name);
      return `src.${quoteIdent(name)}`;
    },
  };
  for (const c of plan.columns) {
    const o = c.origin;
    if (o.kind === 'generated_uuid' || o.kind === 'default') continue;
    // Written by a model's function: not re-derived (checked by type at run time only).
    if (o.kind === 'transform') continue;
    const tt = targetTypes.get(c.target);
    if (!tt) throw new PlanSqlUnsupported(`target column ${c.target} is not in ${targetTable}`);
    columns.push(compileColumn(cc, c, o, tt));
  }

  // Every source query of validation names the row `src`.
  const where = planWhere(plan, { rowAlias: 'src' });
  const tgt = qualified(plan.target.schema, plan.target.table);
  const tpk = `t.${quoteIdent(plan.target.primaryKey)}`;
  return {
    hash: options.hash ?? 'md5',
    keyClass,
    source: { table: qualified(plan.source.schema, plan.source.table), where },
    srcKey: keyClass === 'integer' ? key : `${key}::text COLLATE "C"`,
    srcKeyText: `${key}::text`,
    tgtKey: keyClass === 'integer' ? 'm.legacy_id::bigint' : 'm.legacy_id COLLATE "C"',
    targetFrom: {
      sql: `FROM ferry_control.migration_mappings m LEFT JOIN ${tgt} t ON ${tpk} = m.new_id::${pk.formatType} ${cc.joins.join(' ')} WHERE m.source_table = $1 AND m.target_table = $2`,
      params: [sourceTable, targetTable],
    },
    tgtPresent: `(${tpk} IS NOT NULL)`,
    tgtNewId: 'm.new_id',
    columns,
    enumValues: cc.enumValues,
    rawSources: [...rawSources].map((n) => `src.${quoteIdent(n)}::text`),
    rawSourceIndex: (name) => [...rawSources].indexOf(name),
    compareKeys: keyComparator(keyClass),
  };
}

/** The origins validation re-derives (generated, default and transform columns are not). */
type CheckedOrigin = Exclude<ColumnOrigin, { kind: 'generated_uuid' | 'default' | 'transform' }>;

/** One checked column compiled: its expected text on the source, its text on the target. */
function compileColumn(cc: ColumnCompiler, c: ColumnMapping, o: CheckedOrigin, tt: ColumnType): CompiledColumn {
  const tcol = `t.${quoteIdent(c.target)}`;
  const tgtExpr = `${tcol}::text`;
  switch (o.kind) {
    case 'copy':
    case 'cast': {
      const s = cc.srcCol(o.source);
      return { target: c.target, targetType: tt.formatType, role: 'content', origin: o, source: o.source, srcExpr: valueAs(s, cc.sourceTypes.get(o.source)!, tt, c, cc.options.safeCasts === true), tgtExpr };
    }
    case 'constant':
      return { target: c.target, targetType: tt.formatType, role: 'content', origin: o, source: null, srcExpr: literalAs(o.value, tt, c), tgtExpr };
    case 'foreign_key': {
      const d = cc.plan.foreignKeys.find((f) => f.column === c.target);
      if (!d || d.value === null) throw new PlanSqlUnsupported(`${c.target}: no foreign-key value decided`);
      return { target: c.target, targetType: tt.formatType, role: 'fixed_fk', origin: o, source: null, srcExpr: literalAs(d.value, tt, c), tgtExpr };
    }
    case 'enum_map':
      return compileEnumMap(cc, c, o, tt, tgtExpr);
    case 'via_mapping':
      return compileReference(cc, c, o, tt, tcol);
    case 'expression':
      return compileExpression(cc, c, o, tt, tgtExpr);
  }
}

/**
 * A column-language expression re-derived on the source by its SQL compiler (the sandbox ran
 * the TypeScript one): the value as the target type prints it, or through the plan's enum
 * mapping of its distinct values. Parents are read by subqueries through the legacy FKs.
 */
function compileExpression(cc: ColumnCompiler, c: ColumnMapping, o: Extract<ColumnOrigin, { kind: 'expression' }>, tt: ColumnType, tgtExpr: string): CompiledColumn {
  for (const name of columnsRead(o.expr)) cc.srcCol(name);
  const value = `CAST((${compileSql(o.expr as Typed, { rowAlias: 'src' })}) AS text)`;
  const base = { target: c.target, targetType: tt.formatType, role: 'content' as const, origin: o, source: null, tgtExpr };
  if (o.enumMapped) {
    const m = cc.plan.enumMappings.find((e) => e.targetColumn === c.target);
    const table = new Map<string | null, string | null>();
    const arms: string[] = [];
    for (const v of m?.values ?? []) {
      table.set(v.source, v.target);
      if (v.target === null) continue;
      arms.push(v.source === null ? `WHEN ${value} IS NULL THEN ${quoteLiteral(v.target)}` : `WHEN ${value} = ${quoteLiteral(v.source)} THEN ${quoteLiteral(v.target)}`);
    }
    cc.enumValues.set(c.target, table);
    return { ...base, srcExpr: arms.length ? `(CASE ${arms.join(' ')} END)` : 'NULL::text' };
  }
  if (tt.textLike) return { ...base, srcExpr: value };
  if (tt.castType === null) throw new PlanSqlUnsupported(`${c.target} (${tt.formatType}): no built-in type to compare it as`);
  return { ...base, srcExpr: `CAST(CAST((${compileSql(o.expr as Typed, { rowAlias: 'src' })}) AS ${tt.castType}) AS text)` };
}

function compileEnumMap(cc: ColumnCompiler, c: ColumnMapping, o: Extract<ColumnOrigin, { kind: 'enum_map' }>, tt: ColumnType, tgtExpr: string): CompiledColumn {
  const m = cc.plan.enumMappings.find((e) => e.targetColumn === c.target);
  const s = cc.srcCol(o.source);
  const table = new Map<string | null, string | null>();
  const arms: string[] = [];
  for (const v of m?.values ?? []) {
    table.set(v.source, v.target);
    if (v.target === null) continue;
    arms.push(v.source === null ? `WHEN ${s} IS NULL THEN ${quoteLiteral(v.target)}` : `WHEN ${s}::text = ${quoteLiteral(v.source)} THEN ${quoteLiteral(v.target)}`);
  }
  cc.enumValues.set(c.target, table);
  return { target: c.target, targetType: tt.formatType, role: 'content', origin: o, source: o.source, srcExpr: arms.length ? `(CASE ${arms.join(' ')} END)` : 'NULL::text', tgtExpr };
}

function compileReference(cc: ColumnCompiler, c: ColumnMapping, o: Extract<ColumnOrigin, { kind: 'via_mapping' }>, tt: ColumnType, tcol: string): CompiledColumn {
  const alias = `p${cc.joins.length}`;
  // The parent's legacy id of the uuid written, found through the parent migration's mappings.
  cc.joins.push(
    `LEFT JOIN ferry_control.migration_mappings ${alias} ON ${alias}.source_table = ${quoteLiteral(o.parent.sourceTable)} AND ${alias}.target_table = ${quoteLiteral(o.parent.targetTable)} AND ${alias}.new_id = ${tcol}::text`,
  );
  const s = cc.srcCol(o.source);
  const orphanValues = o.onOrphan === 'set_null' ? [...(cc.options.orphanValues?.get(c.target) ?? [])] : [];
  return {
    target: c.target,
    targetType: tt.formatType,
    role: 'reference',
    origin: o,
    source: o.source,
    // L<legacy id> on both sides; a written value no parent mapping knows is N<value>, never equal.
    // A known orphan is NULL, as set_null writes it.
    srcExpr: orphanValues.length
      ? `(CASE WHEN ${s}::text = ANY(${quoteLiteral(arrayLiteral(orphanValues))}::text[]) THEN NULL ELSE 'L' || ${s}::text END)`
      : `('L' || ${s}::text)`,
    tgtExpr: `(CASE WHEN ${tcol} IS NULL THEN NULL WHEN ${alias}.legacy_id IS NULL THEN 'N' || ${tcol}::text ELSE 'L' || ${alias}.legacy_id END)`,
    ref: {
      raw: `${tcol}::text`,
      parentSourceTable: o.parent.sourceTable,
      parentTargetTable: o.parent.targetTable,
      onOrphan: o.onOrphan,
      sourceColumn: o.source,
    },
  };
}

/** A text[] literal (`{"a","b\\"c"}`), to be quoted with quoteLiteral. */
function arrayLiteral(values: readonly string[]): string {
  return `{${values.map((v) => `"${v.replace(/\\/g, '\\\\').replace(/"/g, '\\"')}"`).join(',')}}`;
}

/**
 * A source value as the text of the target type. The value travels as text, as it does
 * through the program (the driver reads text, the program writes text): text → target type
 * → text. Text targets take the text as it is (no varchar(n) truncation that could hide a
 * difference).
 */
function valueAs(s: string, from: ColumnType, to: ColumnType, c: ColumnMapping, safe: boolean): string {
  if (to.textLike) return `${s}::text`;
  if (to.castType === null) throw new PlanSqlUnsupported(`${c.target} (${to.formatType}): no built-in type to compare it as`);
  if (from.formatType === to.castType) return `${s}::text`;
  const cast = `${s}::text::${to.castType}::text`;
  // A value the target type does not take would stop the whole query; with PostgreSQL 16+ it
  // becomes a marker no target text equals (the row differs and is named), else the
  // validation falls back to walking rows.
  return safe ? `(CASE WHEN ${s} IS NULL THEN NULL WHEN pg_input_is_valid(${s}::text, ${quoteLiteral(to.castType)}) THEN ${cast} ELSE ${quoteLiteral(INVALID)} END)` : cast;
}

/** What a source value the target type does not take is compared as. */
export const INVALID = '\u0001not a value of the target type';

function literalAs(value: string | number | boolean | null, to: ColumnType, c: ColumnMapping): string {
  if (value === null) return 'NULL::text';
  const lit = quoteLiteral(String(value));
  if (to.textLike) return `${lit}::text`;
  if (to.castType === null) throw new PlanSqlUnsupported(`${c.target} (${to.formatType}): no built-in type to compare it as`);
  return `${lit}::${to.castType}::text`;
}
