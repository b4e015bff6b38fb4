import * as z from 'zod';
import { ModelUsage } from './generator.js';
import { contentHash } from './hash.js';

/**
 * How a column's values travel as JSON between the orchestrator and the sandbox, and how
 * generated row types describe them. bigint/numeric/timestamps travel as strings so that no
 * precision or timezone is lost on the way.
 */
export const TypeCategory = z.enum([
  'string',
  'integer',
  'bigint',
  'numeric',
  'float',
  'boolean',
  'uuid',
  'timestamp',
  'date',
  'time',
  'json',
  'bytea',
  'enum',
  'array',
  'other',
]);
export type TypeCategory = z.infer<typeof TypeCategory>;

export const ColumnInfo = z.object({
  name: z.string(),
  ordinal: z.number().int(),
  /** As `format_type` prints it: `character varying(50)`, `technician_type`, `integer[]`. */
  pgType: z.string(),
  category: TypeCategory,
  /** Set when category is `enum`: the enum type's qualified name (`public.technician_type`). */
  enumType: z.string().optional(),
  nullable: z.boolean(),
  /** The column default expression, or null. */
  default: z.string().nullable(),
  isIdentity: z.boolean(),
  isGenerated: z.boolean(),
  maxLength: z.number().int().nullable(),
  /** Set when the base type is blank-padded `character(n)` (bpchar), a domain over it included. */
  blankPadded: z.literal(true).optional(),
  /** What the column seems to hold, written by a model (never a catalog fact). */
  note: z.string().optional(),
});
export type ColumnInfo = z.infer<typeof ColumnInfo>;

export const ForeignKeyInfo = z.object({
  name: z.string(),
  columns: z.array(z.string()).min(1),
  refSchema: z.string(),
  refTable: z.string(),
  refColumns: z.array(z.string()).min(1),
});
export type ForeignKeyInfo = z.infer<typeof ForeignKeyInfo>;

export const EnumTypeInfo = z.object({
  schema: z.string(),
  name: z.string(),
  /** In declaration order. */
  values: z.array(z.string()),
});
export type EnumTypeInfo = z.infer<typeof EnumTypeInfo>;

export const ValueCount = z.object({ value: z.string().nullable(), count: z.number().int().nonnegative() });
export type ValueCount = z.infer<typeof ValueCount>;

/** Distinct values of a low-cardinality column, most frequent first. */
export const ValueProfile = z.object({
  column: z.string(),
  distinctCount: z.number().int().nonnegative(),
  values: z.array(ValueCount),
  /** True when read from a TABLESAMPLE of a large table: counts are the sample's, rare values may be missing. */
  sampled: z.boolean().optional(),
});
export type ValueProfile = z.infer<typeof ValueProfile>;

export const TableClassification = z.object({
  kind: z.enum(['catalog', 'transactional', 'unknown']),
  reasons: z.array(z.string()),
});
export type TableClassification = z.infer<typeof TableClassification>;

export const TableInfo = z.object({
  schema: z.string(),
  name: z.string(),
  columns: z.array(ColumnInfo),
  primaryKey: z.array(z.string()),
  uniqueKeys: z.array(z.array(z.string())),
  foreignKeys: z.array(ForeignKeyInfo),
  rowCount: z.number().int().nonnegative(),
  /** False when the count is the planner's estimate (large tables). */
  rowCountExact: z.boolean(),
  profiles: z.array(ValueProfile),
  classification: TableClassification,
});
export type TableInfo = z.infer<typeof TableInfo>;

export const DatabaseAnalysis = z.object({
  role: z.enum(['source', 'target']),
  database: z.string(),
  /** Server address (or "local") and port; absent in analyses made before ferry recorded it. */
  endpoint: z.string().optional(),
  serverVersion: z.string(),
  schemas: z.array(z.string()),
  tables: z.array(TableInfo),
  enums: z.array(EnumTypeInfo),
});
export type DatabaseAnalysis = z.infer<typeof DatabaseAnalysis>;

/** One condition of the source filter; conditions are AND-ed. */
export const FilterCondition = z.discriminatedUnion('op', [
  z.object({
    column: z.string(),
    op: z.enum(['=', '<>', '<', '<=', '>', '>=']),
    value: z.union([z.string(), z.number(), z.boolean()]),
  }),
  z.object({ column: z.string(), op: z.literal('in'), value: z.array(z.union([z.string(), z.number()])).min(1) }),
  z.object({ column: z.string(), op: z.enum(['is_null', 'is_not_null']) }),
]);
export type FilterCondition = z.infer<typeof FilterCondition>;

/** The source table as the migration will see it: counts and value profiles under the filter. */
export const SourceFocus = z.object({
  schema: z.string(),
  table: z.string(),
  filters: z.array(FilterCondition),
  rowCount: z.number().int().nonnegative(),
  profiles: z.array(ValueProfile),
});
export type SourceFocus = z.infer<typeof SourceFocus>;

export const SchemaAnalysis = z.object({
  kind: z.literal('schema_analysis'),
  version: z.literal(1),
  createdAt: z.string(),
  source: DatabaseAnalysis,
  target: DatabaseAnalysis,
  focus: SourceFocus.optional(),
  /** Set when a model helped (classification, column notes); never for catalog facts. */
  generator: z.enum(['deterministic', 'claude']),
  /** When generator is claude: which model, with which prompt, at what cost. */
  annotatedBy: z
    .object({
      model: z.string(),
      promptHash: z.string(),
      usage: ModelUsage,
      costUsd: z.number().nonnegative().nullable(),
    })
    .optional(),
});
export type SchemaAnalysis = z.infer<typeof SchemaAnalysis>;

/** A table by name (and schema): of an analysis, or of anything listing tables by schema and name (a catalog read). */
/**
 * Whether a column is blank-padded character(n): its values carry trailing spaces that
 * PostgreSQL drops when it casts them to text or varchar. Analyses written before the flag
 * existed are read by the type's name.
 */
export function isBlankPadded(col: Pick<ColumnInfo, 'pgType' | 'blankPadded'>): boolean {
  return col.blankPadded === true || isBlankPaddedTypeName(col.pgType);
}

/** A type name as format_type prints it (`character(3)`, `bpchar`, `char`) that is blank-padded character(n). */
export function isBlankPaddedTypeName(name: string): boolean {
  return /^(character|bpchar|char)(\(\d+\))?$/i.test(name.trim());
}

export function findTable<T extends { schema: string; name: string } = TableInfo>(db: { tables: readonly T[] }, name: string, schema?: string): T | undefined {
  return db.tables.find((t) => t.name === name && (schema === undefined || t.schema === schema));
}

export function findEnum(db: { enums: readonly EnumTypeInfo[] }, qualifiedName: string): EnumTypeInfo | undefined {
  return db.enums.find((e) => `${e.schema}.${e.name}` === qualifiedName);
}

/**
 * The hash a plan records of the analysis it was made from. When the analysis was made is
 * not part of what it says, so createdAt is left out.
 */
export function analysisHash(analysis: SchemaAnalysis): string {
  return contentHash({ ...analysis, createdAt: '' });
}
