import type { ColumnInfo, EnumTypeInfo, ForeignKeyInfo, TypeCategory } from '../../src/core/artifacts/schema-analysis.js';
import type { Queryable } from '../../src/core/sql.js';
import { DatabaseError } from '../../src/core/errors.js';
import { escapeLiteral } from '../../src/core/pg-escape.js';

/**
 * Catalog facts of one database, read in one query per kind (tables, columns, keys, foreign
 * keys, enums) so that the number of round trips does not grow with the number of tables.
 */

/** Schemas that are PostgreSQL's own or ferry's own; everything else is the user's. */
const SCHEMA_FILTER = `n.nspname NOT IN ('pg_catalog', 'information_schema', 'ferry', 'ferry_control')
  AND n.nspname NOT LIKE 'pg\\_toast%' AND n.nspname NOT LIKE 'pg\\_temp\\_%'`;

/** ferry's bookkeeping (schema ferry_control; in public before that, until moved): not data. */
const FERRY_TABLES = `c.relname NOT IN ('migration_control', 'migration_mappings')`;

/** Ordinary and partitioned tables; partitions are reached through their parent. */
const TABLE_FILTER = `c.relkind IN ('r', 'p') AND NOT c.relispartition AND ${FERRY_TABLES} AND ${SCHEMA_FILTER}`;

export interface CatalogTable {
  schema: string;
  name: string;
  /** The planner's estimate; -1 when the table was never vacuumed or analysed. */
  estimatedRows: number;
  /** Whether the connected role may SELECT from it (count and profiles need it). */
  readable: boolean;
  columns: ColumnInfo[];
  primaryKey: string[];
  uniqueKeys: string[][];
  foreignKeys: ForeignKeyInfo[];
}

export interface Catalog {
  database: string;
  /** Where the server listens, as it says itself (address or "local", and port): no credentials. */
  endpoint: string;
  serverVersion: string;
  schemas: string[];
  tables: CatalogTable[];
  enums: EnumTypeInfo[];
}

const CATEGORY_BY_TYPE: Readonly<Record<string, TypeCategory>> = {
  int2: 'integer',
  int4: 'integer',
  int8: 'bigint',
  numeric: 'numeric',
  float4: 'float',
  float8: 'float',
  bool: 'boolean',
  uuid: 'uuid',
  text: 'string',
  varchar: 'string',
  bpchar: 'string',
  char: 'string',
  citext: 'string',
  name: 'string',
  timestamp: 'timestamp',
  timestamptz: 'timestamp',
  date: 'date',
  time: 'time',
  timetz: 'time',
  json: 'json',
  jsonb: 'json',
  bytea: 'bytea',
};

/**
 * The category of a column from its base type (domains already resolved): `typtype` 'e' is
 * an enum, `typcategory` 'A' an array, the rest goes by the type's internal name.
 */
export function categorize(baseType: { typname: string; typtype: string; typcategory: string }): TypeCategory {
  if (baseType.typtype === 'e') return 'enum';
  if (baseType.typcategory === 'A') return 'array';
  return CATEGORY_BY_TYPE[baseType.typname] ?? 'other';
}

interface TableRow extends Record<string, unknown> {
  schema: string;
  name: string;
  estimated_rows: number;
  readable: boolean;
}

interface ColumnRow extends Record<string, unknown> {
  schema: string;
  table: string;
  name: string;
  ordinal: number;
  pg_type: string;
  base_typname: string;
  base_typtype: string;
  base_typcategory: string;
  base_typschema: string;
  not_null: boolean;
  default_expr: string | null;
  is_identity: boolean;
  is_generated: boolean;
  max_length: number | null;
}

interface KeyRow extends Record<string, unknown> {
  schema: string;
  table: string;
  is_primary: boolean;
  columns: string[];
}

interface ForeignKeyRow extends Record<string, unknown> {
  schema: string;
  table: string;
  name: string;
  columns: string[];
  ref_schema: string;
  ref_table: string;
  ref_columns: string[];
}

interface EnumRow extends Record<string, unknown> {
  schema: string;
  name: string;
  values: string[];
}

const TABLES_SQL = `
SELECT n.nspname AS schema, c.relname AS name,
       CASE WHEN c.relkind = 'p'
            THEN coalesce((SELECT sum(greatest(p.reltuples, 0)) FROM pg_inherits i JOIN pg_class p ON p.oid = i.inhrelid
                           WHERE i.inhparent = c.oid), -1)
            ELSE c.reltuples END::float8 AS estimated_rows,
       has_table_privilege(c.oid, 'SELECT') AS readable
FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
WHERE ${TABLE_FILTER}
ORDER BY n.nspname, c.relname`;

// A domain column is categorised by the type underneath it (one level of domain over domain
// is enough in practice; deeper chains fall to 'other' through their own typtype 'd').
const columnsSql = (only = '') => `
SELECT n.nspname AS schema, c.relname AS table, a.attname AS name, a.attnum::int AS ordinal,
       format_type(a.atttypid, a.atttypmod) AS pg_type,
       b.typname AS base_typname, b.typtype::text AS base_typtype, b.typcategory::text AS base_typcategory,
       bn.nspname AS base_typschema,
       a.attnotnull AS not_null,
       CASE WHEN a.attgenerated = '' THEN pg_get_expr(d.adbin, d.adrelid) END AS default_expr,
       a.attidentity <> '' AS is_identity,
       a.attgenerated <> '' AS is_generated,
       CASE WHEN b.typname IN ('varchar', 'bpchar') AND a.atttypmod > 4
            THEN a.atttypmod - 4
            WHEN t.typtype = 'd' AND b.typname IN ('varchar', 'bpchar') AND t.typtypmod > 4
            THEN t.typtypmod - 4 END AS max_length
FROM pg_attribute a
JOIN pg_class c ON c.oid = a.attrelid
JOIN pg_namespace n ON n.oid = c.relnamespace
JOIN pg_type t ON t.oid = a.atttypid
JOIN pg_type b ON b.oid = CASE WHEN t.typtype = 'd' THEN t.typbasetype ELSE t.oid END
JOIN pg_namespace bn ON bn.oid = b.typnamespace
LEFT JOIN pg_attrdef d ON d.adrelid = a.attrelid AND d.adnum = a.attnum
WHERE a.attnum > 0 AND NOT a.attisdropped AND ${TABLE_FILTER}${only}
ORDER BY n.nspname, c.relname, a.attnum`;
const COLUMNS_SQL = columnsSql();

// Unique keys come from unique indexes rather than constraints so that a bare
// CREATE UNIQUE INDEX counts too; partial and expression indexes do not make columns unique.
const KEYS_SQL = `
SELECT n.nspname AS schema, c.relname AS table, x.indisprimary AS is_primary,
       ARRAY(SELECT a.attname FROM unnest(x.indkey::int2[]) WITH ORDINALITY k(attnum, i)
             JOIN pg_attribute a ON a.attrelid = c.oid AND a.attnum = k.attnum
             ORDER BY k.i)::text[] AS columns
FROM pg_index x
JOIN pg_class c ON c.oid = x.indrelid
JOIN pg_class ic ON ic.oid = x.indexrelid
JOIN pg_namespace n ON n.oid = c.relnamespace
WHERE x.indisunique AND x.indpred IS NULL AND NOT (0 = ANY (x.indkey::int2[])) AND ${TABLE_FILTER}
ORDER BY n.nspname, c.relname, NOT x.indisprimary, ic.relname`;

const FOREIGN_KEYS_SQL = `
SELECT n.nspname AS schema, c.relname AS table, con.conname AS name,
       ARRAY(SELECT a.attname FROM unnest(con.conkey) WITH ORDINALITY k(attnum, i)
             JOIN pg_attribute a ON a.attrelid = con.conrelid AND a.attnum = k.attnum ORDER BY k.i)::text[] AS columns,
       rn.nspname AS ref_schema, rc.relname AS ref_table,
       ARRAY(SELECT a.attname FROM unnest(con.confkey) WITH ORDINALITY k(attnum, i)
             JOIN pg_attribute a ON a.attrelid = con.confrelid AND a.attnum = k.attnum ORDER BY k.i)::text[] AS ref_columns
FROM pg_constraint con
JOIN pg_class c ON c.oid = con.conrelid
JOIN pg_namespace n ON n.oid = c.relnamespace
JOIN pg_class rc ON rc.oid = con.confrelid
JOIN pg_namespace rn ON rn.oid = rc.relnamespace
WHERE con.contype = 'f' AND con.conparentid = 0 AND ${TABLE_FILTER}
ORDER BY n.nspname, c.relname, con.conname`;

const enumsSql = (only = '') => `
SELECT n.nspname AS schema, t.typname AS name,
       ARRAY(SELECT e.enumlabel FROM pg_enum e WHERE e.enumtypid = t.oid ORDER BY e.enumsortorder)::text[] AS values
FROM pg_type t JOIN pg_namespace n ON n.oid = t.typnamespace
WHERE t.typtype = 'e' AND ${SCHEMA_FILTER}${only}
ORDER BY n.nspname, t.typname`;
const ENUMS_SQL = enumsSql();

const SCHEMAS_SQL = `
SELECT n.nspname AS schema FROM pg_namespace n
WHERE ${SCHEMA_FILTER}
ORDER BY n.nspname`;

const META_SQL = `SELECT current_database() AS database, current_setting('server_version') AS server_version,
  COALESCE(host(inet_server_addr()), 'local') || ':' || current_setting('port') AS endpoint`;

/** Runs one catalog query; any failure becomes a DatabaseError naming what was being read. */
export async function catalogQuery<R extends Record<string, unknown>>(
  db: Queryable,
  what: string,
  sql: string,
  params: unknown[] = [],
): Promise<R[]> {
  try {
    return (await db.query<R>(sql, params)).rows;
  } catch (e) {
    throw new DatabaseError('CATALOG_QUERY_FAILED', `reading ${what} failed: ${e instanceof Error ? e.message : String(e)}`, {
      cause: e,
      hint: 'Check that the database is reachable and that the connecting role may read pg_catalog and SELECT from the tables.',
    });
  }
}

const key = (schema: string, table: string) => `${schema}\u0000${table}`;

function group<T extends { schema: string; table: string }>(rows: readonly T[]): Map<string, T[]> {
  const out = new Map<string, T[]>();
  for (const r of rows) {
    const k = key(r.schema, r.table);
    const list = out.get(k);
    if (list) list.push(r);
    else out.set(k, [r]);
  }
  return out;
}

/** The whole catalog's reads (readCatalog), in the order their results come back. */
const CATALOG_READS = [
  ['server identity', META_SQL],
  ['schemas', SCHEMAS_SQL],
  ['tables', TABLES_SQL],
  ['columns', COLUMNS_SQL],
  ['primary and unique keys', KEYS_SQL],
  ['foreign keys', FOREIGN_KEYS_SQL],
  ['enum types', ENUMS_SQL],
] as const;


/**
 * Reads that take no parameter, as one simple query: the server runs them one after the other
 * and answers each in turn, in one round trip. Each one's rows, in order; any failure a
 * DatabaseError naming what was being read (`of`: whose, when not the whole catalog).
 */
async function catalogReads(db: Queryable, reads: ReadonlyArray<readonly [string, string]>, of = ''): Promise<Array<Array<Record<string, unknown>>>> {
  let sets: Array<{ rows: Array<Record<string, unknown>> }>;
  try {
    sets = (await db.query(reads.map(([, sql]) => sql.trim()).join(';\n'))) as unknown as Array<{ rows: Array<Record<string, unknown>> }>;
  } catch (e) {
    throw new DatabaseError('CATALOG_QUERY_FAILED', `reading the catalog (${reads.map(([what]) => what).join(', ')}${of}) failed: ${e instanceof Error ? e.message : String(e)}`, {
      cause: e,
      hint: 'Check that the database is reachable and that the connecting role may read pg_catalog and SELECT from the tables.',
    });
  }
  if (!Array.isArray(sets) || sets.length !== reads.length) {
    throw new DatabaseError('CATALOG_QUERY_FAILED', `reading the catalog returned ${Array.isArray(sets) ? sets.length : 1} result(s), not ${reads.length}`, { hint: 'Check the connection: ferry needs a PostgreSQL session that accepts several statements in one query.' });
  }
  return sets.map((set) => set.rows);
}

export async function readCatalog(db: Queryable): Promise<Catalog> {
  const sets = await catalogReads(db, CATALOG_READS);
  const rows = <R>(i: number) => sets[i] as unknown as R[];
  const meta = rows<{ database: string; server_version: string; endpoint: string }>(0);
  const schemas = rows<{ schema: string }>(1);
  const tables = rows<TableRow>(2);
  const columns = group(rows<ColumnRow>(3));
  const keys = group(rows<KeyRow>(4));
  const fks = group(rows<ForeignKeyRow>(5));
  const enums = rows<EnumRow>(6);

  const first = meta[0];
  if (!first) throw new DatabaseError('CATALOG_QUERY_FAILED', 'the server returned no identity row', { hint: 'Check the connection.' });

  return {
    database: first.database,
    endpoint: first.endpoint,
    serverVersion: first.server_version,
    schemas: schemas.map((s) => s.schema),
    enums: enums.map((e) => ({ schema: e.schema, name: e.name, values: e.values })),
    tables: tables.map((t): CatalogTable => {
      const k = key(t.schema, t.name);
      const tableKeys = keys.get(k) ?? [];
      const unique: string[][] = [];
      for (const u of tableKeys) {
        if (u.is_primary) continue;
        // A unique constraint and an equal unique index say the same thing once.
        if (!unique.some((x) => x.length === u.columns.length && x.every((c, i) => c === u.columns[i]))) unique.push(u.columns);
      }
      return {
        schema: t.schema,
        name: t.name,
        estimatedRows: Number(t.estimated_rows),
        readable: t.readable,
        columns: (columns.get(k) ?? []).map(toColumn),
        primaryKey: tableKeys.find((x) => x.is_primary)?.columns ?? [],
        uniqueKeys: unique,
        foreignKeys: (fks.get(k) ?? []).map((f) => ({
          name: f.name,
          columns: f.columns,
          refSchema: f.ref_schema,
          refTable: f.ref_table,
          refColumns: f.ref_columns,
        })),
      };
    }),
  };
}

function toColumn(r: ColumnRow): ColumnInfo {
  const category = categorize({ typname: r.base_typname, typtype: r.base_typtype, typcategory: r.base_typcategory });
  const col: ColumnInfo = {
    name: r.name,
    ordinal: r.ordinal,
    pgType: r.pg_type,
    category,
    nullable: !r.not_null,
    default: r.default_expr,
    isIdentity: r.is_identity,
    isGenerated: r.is_generated,
    maxLength: r.max_length === null ? null : Number(r.max_length),
  };
  if (category === 'enum') col.enumType = `${r.base_typschema}.${r.base_typname}`;
  if (r.base_typname === 'bpchar') col.blankPadded = true;
  return col;
}

const textArray = (values: readonly string[]) => (values.length ? `ARRAY[${values.map(escapeLiteral).join(', ')}]::text[]` : `'{}'::text[]`);

/** The tables asked for that exist (as readCatalog sees tables), with their columns. */
export interface NamedTable {
  schema: string;
  name: string;
  columns: ColumnInfo[];
}

/**
 * Only the named tables (their columns, as readCatalog reads them) and the named enum types
 * ("schema.name"): what a run's drift check compares (src/orchestrator/drift.ts). One round
 * trip whatever the database's size: the whole catalog of an 800-table database takes the
 * server 0.2 s or more on a new connection, and a run paid that on both databases every time.
 * A table asked for that does not exist is absent from the answer.
 */
export async function readNamedTables(db: Queryable, want: { tables: ReadonlyArray<{ schema: string; name: string }>; enums: readonly string[] }): Promise<{ tables: NamedTable[]; enums: EnumTypeInfo[] }> {
  const pairs = `\n  AND (n.nspname, c.relname) IN (SELECT * FROM unnest(${textArray(want.tables.map((t) => t.schema))}, ${textArray(want.tables.map((t) => t.name))}))`;
  const reads = [
    ['tables', `SELECT n.nspname AS schema, c.relname AS name FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace\nWHERE ${TABLE_FILTER}${pairs}\nORDER BY n.nspname, c.relname`],
    ['columns', columnsSql(pairs)],
    ['enum types', enumsSql(`\n  AND n.nspname || '.' || t.typname = ANY (${textArray(want.enums)})`)],
  ] as const;
  const sets = await catalogReads(db, reads, ` of ${want.tables.map((t) => `${t.schema}.${t.name}`).join(', ')}`);
  const columns = group(sets[1] as unknown as ColumnRow[]);
  return {
    tables: (sets[0] as unknown as Array<{ schema: string; name: string }>).map((t) => ({ schema: t.schema, name: t.name, columns: (columns.get(key(t.schema, t.name)) ?? []).map(toColumn) })),
    enums: (sets[2] as unknown as EnumRow[]).map((e) => ({ schema: e.schema, name: e.name, values: e.values })),
  };
}
