import type { PlanFilter } from '../../src/core/artifacts/migration-plan.js';
import type { ColumnInfo, DatabaseAnalysis, EnumTypeInfo, TableInfo } from '../../src/core/artifacts/schema-analysis.js';
import type { ProgramColumn, ResolvedPlan } from './resolve.js';
import { NameAllocator, commentText, pascalCase, propertyKey, tsString } from './ts-text.js';

/** The generated row-types module, and the names in it the program refers to. */
export interface RowTypes {
  /** TypeScript source of `row-types.ts`. */
  text: string;
  sourceRowName: 'SourceRow';
  outputName: 'ProgramOutput';
  /** The exported union for an enum, by side and qualified name (`public.technician_type`). */
  enumTypeName(side: 'source' | 'target', qualifiedName: string): string | undefined;
  /** Every name the module exports; a program importing from it must not declare them again. */
  exportedNames: string[];
}

/**
 * Names the module never declares: its two fixed exports, and the global types that it or
 * a program importing from it uses (an enum called `map` must not shadow `ReadonlyMap`).
 */
const RESERVED = [
  'SourceRow',
  'ProgramOutput',
  'Pick',
  'Omit',
  'Record',
  'Partial',
  'Readonly',
  'ReadonlyMap',
  'ReadonlyArray',
  'ReturnType',
  'Exclude',
  'Extract',
  'Array',
  'Map',
  'Set',
  'Error',
  'String',
  'Number',
  'Boolean',
  'Object',
  'Function',
  'Symbol',
  'Date',
  'JSON',
  'Math',
  'RegExp',
  'Promise',
];

const LINE_WIDTH = 100;

/**
 * The TypeScript type of a column's value as it travels as JSON (without `| null`). A source
 * json/jsonb value arrives as its exact JSON text (string; JSON.parse it to read it, at the
 * cost of number precision); a target json value may be that text, passed on untouched, or a
 * value ferry serializes with JSON.stringify.
 */
export function jsonTypeOf(column: ColumnInfo, enumName: string | undefined, side: 'source' | 'target' = 'target'): string {
  switch (column.category) {
    case 'integer':
    case 'float':
      return 'number';
    case 'boolean':
      return 'boolean';
    case 'enum':
      return enumName ?? 'string';
    case 'json':
      return side === 'source' ? 'string' : 'unknown';
    case 'array':
      return side === 'source' ? 'string' : 'unknown';
    case 'bigint':
    case 'numeric':
    case 'timestamp':
    case 'date':
    case 'time':
    case 'bytea':
    case 'uuid':
    case 'string':
    case 'other':
      return 'string';
  }
}

/** `unknown` already includes null; everything else says it when the column allows it. */
function withNull(type: string, nullable: boolean): string {
  return nullable && type !== 'unknown' ? `${type} | null` : type;
}

function unionText(prefix: string, members: string[], suffix: string): string {
  if (members.length === 0) return `${prefix}never${suffix}`;
  const oneLine = `${prefix}${members.join(' | ')}${suffix}`;
  if (oneLine.length <= LINE_WIDTH) return oneLine;
  return `${prefix.trimEnd()}\n${members.map((m) => `  | ${m}`).join('\n')}${suffix}`;
}

function describeColumn(column: ColumnInfo, table: TableInfo): string {
  const parts = [column.pgType, column.nullable ? 'null' : 'not null'];
  if (table.primaryKey.includes(column.name)) parts.push('primary key');
  const fk = table.foreignKeys.find((f) => f.columns.length === 1 && f.columns[0] === column.name);
  if (fk) parts.push(`references ${fk.refSchema}.${fk.refTable}(${fk.refColumns.join(', ')})`);
  if (column.isIdentity) parts.push('identity');
  if (column.isGenerated) parts.push('generated');
  if (column.default !== null) parts.push(`default ${column.default}`);
  return commentText(parts.join(', '));
}

function describeOrigin(c: ProgramColumn): string {
  switch (c.kind) {
    case 'copy':
      return `copied from ${c.source.name}`;
    case 'cast':
      return `${c.source.name} (${c.source.pgType}) cast to ${c.target.pgType}`;
    case 'constant':
      return `the constant ${JSON.stringify(c.value)}`;
    case 'enum_map':
      return `${c.source.name} mapped value by value`;
    case 'foreign_key':
      return `the ${c.decision.refTable} row chosen in the plan`;
    case 'transform':
      return `a model-written function of ${c.sources.map((s) => s.name).join(', ')}`;
    case 'expression':
      return `${c.origin.text}${c.enumMapping ? ', mapped value by value' : ''}`;
  }
}

/**
 * Generates `row-types.ts`: the enums the two tables use, the full source and target rows,
 * `SourceRow` (the selected source columns) and `ProgramOutput` (exactly the target columns
 * the program returns). The program is type-checked against these, so a column the
 * analysis does not know cannot be read or written.
 */
export function generateRowTypes(resolved: ResolvedPlan): RowTypes {
  const { analysis, sourceTable, targetTable } = resolved;
  const names = new NameAllocator(RESERVED);
  const sourceTableName = pascalCase(sourceTable.name);
  const targetTableName = pascalCase(targetTable.name);
  const sourceInterface = names.take(`${sourceTableName}Row`, `Source${sourceTableName}Row`);
  const targetInterface = names.take(`${targetTableName}Row`, `Target${targetTableName}Row`);

  // Target enums first: they are what the program maps onto, so they get the plain names.
  const enumNames = new Map<string, string>();
  const enumBlocks: string[] = [];
  const declareEnums = (side: 'source' | 'target', db: DatabaseAnalysis, table: TableInfo) => {
    for (const column of table.columns) {
      if (column.category !== 'enum' || column.enumType === undefined) continue;
      const key = `${side}:${column.enumType}`;
      if (enumNames.has(key)) continue;
      const info: EnumTypeInfo | undefined = db.enums.find((e) => `${e.schema}.${e.name}` === column.enumType);
      if (!info) continue;
      const base = pascalCase(info.name);
      const name = names.take(base, `${side === 'source' ? 'Source' : 'Target'}${base}`);
      enumNames.set(key, name);
      enumBlocks.push(
        `/** ${commentText(`${db.database}: enum ${info.schema}.${info.name}, in declaration order.`)} */\n` +
          unionText(`export type ${name} = `, info.values.map(tsString), ';'),
      );
    }
  };
  declareEnums('target', analysis.target, targetTable);
  declareEnums('source', analysis.source, sourceTable);
  const enumOf = (side: 'source' | 'target', column: ColumnInfo) =>
    column.enumType === undefined ? undefined : enumNames.get(`${side}:${column.enumType}`);

  const rowInterface = (side: 'source' | 'target', name: string, db: DatabaseAnalysis, table: TableInfo) => {
    const lines = [`/** ${commentText(`${db.database}: ${table.schema}.${table.name}, every column.`)} */`, `export interface ${name} {`];
    for (const column of table.columns) {
      lines.push(`  /** ${describeColumn(column, table)} */`);
      lines.push(`  ${propertyKey(column.name)}: ${withNull(jsonTypeOf(column, enumOf(side, column), side), column.nullable)};`);
    }
    lines.push('}');
    return lines.join('\n');
  };

  const sourceRow = sourceRowText(resolved, sourceInterface);

  const output = ['/** What transform() returns: exactly the target columns the program is responsible for. */', 'export interface ProgramOutput {'];
  for (const c of resolved.returned) {
    output.push(`  /** ${commentText(`${c.target.pgType}, ${c.target.nullable ? 'null' : 'not null'} — ${describeOrigin(c)}`)} */`);
    output.push(`  ${propertyKey(c.target.name)}: ${withNull(jsonTypeOf(c.target, enumOf('target', c.target)), c.target.nullable)};`);
  }
  output.push('}');

  const header = rowTypesHeader(resolved);

  const text = [header, ...enumBlocks, rowInterface('source', sourceInterface, analysis.source, sourceTable), rowInterface('target', targetInterface, analysis.target, targetTable), sourceRow, output.join('\n')].join('\n\n') + '\n';

  return {
    text,
    sourceRowName: 'SourceRow',
    outputName: 'ProgramOutput',
    enumTypeName: (side, qualifiedName) => enumNames.get(`${side}:${qualifiedName}`),
    exportedNames: ['SourceRow', 'ProgramOutput', sourceInterface, targetInterface, ...enumNames.values()],
  };
}

/** The generated file's header: what it was made from, and how values are typed. */
function rowTypesHeader(resolved: ResolvedPlan): string {
  const { plan, analysis, sourceTable, targetTable } = resolved;
  const filter = plan.source.filters.length > 0 ? ` where ${plan.source.filters.map(describeFilter).join(' and ')}` : '';
  return [
    '/**',
    ` * Row types for ferry plan ${commentText(plan.id)} revision ${plan.revision}.`,
    ` * Generated from schema analysis ${resolved.analysisHash};`,
    ' * regenerate rather than edit.',
    ' *',
    ` *   source: ${commentText(`${analysis.source.database} (PostgreSQL ${analysis.source.serverVersion}) ${sourceTable.schema}.${sourceTable.name}${filter}`)}`,
    ` *   target: ${commentText(`${analysis.target.database} (PostgreSQL ${analysis.target.serverVersion}) ${targetTable.schema}.${targetTable.name}`)}`,
    ' *',
    ' * Values are typed as they travel as JSON: integer and float as number; bigint, numeric,',
    ' * dates, times and bytea as string (no precision or timezone lost on the way); source',
    ' * json/jsonb as its exact JSON text (string), target json as unknown (that text, or a value',
    ' * ferry serializes); source arrays as their PostgreSQL text (\'{1,NULL,"a b"}\'), target arrays',
    ' * as unknown (that text, or a JS array ferry writes as an array literal); enums as the union of their values.',
    ' */',
  ].join('\n');

}

/** `SourceRow`: the selected source columns, on one line when they fit. */
function sourceRowText(resolved: ResolvedPlan, sourceInterface: string): string {
  const picked = resolved.selected.map((c) => tsString(c.name));
  const pickLine = `export type SourceRow = Pick<${sourceInterface}, ${picked.join(' | ')}>;`;
  return [
    '/** One source row as the program receives it: the columns the plan selects. */',
    pickLine.length <= LINE_WIDTH
      ? pickLine
      : `export type SourceRow = Pick<\n  ${sourceInterface},\n${picked.map((p) => `  | ${p}`).join('\n')}\n>;`,
  ].join('\n');
}

/** A filter condition in words: `group_id = 11`. */
export function describeFilter(f: PlanFilter): string {
  switch (f.op) {
    case 'exclude':
      return `${f.column} not in (${f.values.map((v) => JSON.stringify(v)).join(', ')}) (null kept)`;
    case 'where':
      return `(${f.predicate.source})`;
    case 'is_null':
      return `${f.column} is null`;
    case 'is_not_null':
      return `${f.column} is not null`;
    case 'in':
      return `${f.column} in (${f.value.map((v) => JSON.stringify(v)).join(', ')})`;
    default:
      return `${f.column} ${f.op} ${JSON.stringify(f.value)}`;
  }
}
