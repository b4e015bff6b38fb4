import type { ColumnInfo, FilterCondition, SchemaAnalysis, TableInfo } from '../../../src/core/artifacts/schema-analysis.js';
import { checkValue } from '../../../src/core/plan/expected-row.js';
import { conversion } from '../columns.js';
import type { ColumnsProposal, IntentProposal, ProposalFilter } from './proposal.js';

/**
 * Holds a model's proposal to the analysis: every table, column and enum value it names must
 * be there, every copy must be a conversion ferry can make, every constant must fit its
 * column. Everything wrong is named at once, with what does exist, so the model (in a repair
 * turn) or a person can fix it in one pass.
 */
export type GroundedTables = { ok: true; source: TableInfo; target: TableInfo } | { ok: false; offenders: string[] };
export type GroundedColumns = { ok: true } | { ok: false; offenders: string[] };

const list = (names: readonly string[], n = 40) => names.slice(0, n).join(', ') + (names.length > n ? ', …' : '');

export function table(tables: readonly TableInfo[], ref: { schema?: string | undefined; table: string }): TableInfo | undefined {
  let schema = ref.schema;
  let name = ref.table;
  const dot = name.indexOf('.');
  if (schema === undefined && dot > 0) {
    schema = name.slice(0, dot);
    name = name.slice(dot + 1);
  }
  return tables.find((t) => t.name === name && (schema === undefined || t.schema === schema));
}

export function toFilter(f: ProposalFilter, source: TableInfo, offenders: string[]): FilterCondition | null {
  const col = source.columns.find((c) => c.name === f.column);
  if (!col) {
    offenders.push(`filter column "${f.column}" does not exist in ${source.name} (columns: ${list(source.columns.map((c) => c.name))})`);
    return null;
  }
  if (f.op === 'is_null' || f.op === 'is_not_null') return { column: col.name, op: f.op };
  if (f.op === 'in') {
    if (!Array.isArray(f.value)) {
      offenders.push(`filter on "${f.column}" with op "in" needs a list value`);
      return null;
    }
    const bad = f.value.filter((v) => !fitsColumn(col, v));
    if (bad.length) offenders.push(`filter on "${f.column}" (${col.pgType}): ${bad.map((v) => JSON.stringify(v)).join(', ')} cannot be compared with it`);
    return bad.length ? null : { column: col.name, op: 'in', value: f.value };
  }
  if (f.value === undefined || Array.isArray(f.value)) {
    offenders.push(`filter on "${f.column}" with op "${f.op}" needs one value`);
    return null;
  }
  if (!fitsColumn(col, f.value)) {
    offenders.push(`filter on "${f.column}" (${col.pgType}): ${JSON.stringify(f.value)} cannot be compared with it`);
    return null;
  }
  return { column: col.name, op: f.op, value: f.value };
}

/** Would PostgreSQL take this value as one of the column's (a filter value is a query parameter)? */
function fitsColumn(col: ColumnInfo, v: string | number | boolean): boolean {
  const text = String(v).trim();
  switch (col.category) {
    case 'integer':
    case 'bigint':
      return /^[+-]?\d+$/.test(text);
    case 'numeric':
    case 'float':
      return text !== '' && Number.isFinite(Number(text));
    case 'boolean':
      return typeof v === 'boolean' || /^(t|f|true|false|yes|no|on|off|1|0)$/i.test(text);
    case 'uuid':
      return /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i.test(text);
    case 'timestamp':
    case 'date':
      return !Number.isNaN(Date.parse(text));
    default:
      return true;
  }
}

/** The proposal's source and target tables, which must exist (the spans are grounded in reading.ts). */
export function groundTables(p: Pick<IntentProposal, 'source' | 'target'>, analysis: SchemaAnalysis): GroundedTables {
  const offenders: string[] = [];
  const source = table(analysis.source.tables, p.source);
  const target = table(analysis.target.tables, p.target);
  if (!source) offenders.push(`source table "${p.source.table}" does not exist in ${analysis.source.database} (tables: ${list(analysis.source.tables.map((t) => t.name))})`);
  if (!target) offenders.push(`target table "${p.target.table}" does not exist in ${analysis.target.database} (tables: ${list(analysis.target.tables.map((t) => t.name))})`);
  return source && target ? { ok: true, source, target } : { ok: false, offenders };
}

export function groundColumns(p: ColumnsProposal, source: TableInfo, target: TableInfo, analysis: SchemaAnalysis): GroundedColumns {
  const offenders: string[] = [];
  const srcCol = (name: string, where: string): ColumnInfo | undefined => {
    const c = source.columns.find((x) => x.name === name);
    if (!c) offenders.push(`${where}: source column "${name}" does not exist in ${source.name} (columns: ${list(source.columns.map((x) => x.name))})`);
    return c;
  };
  const tgtCol = (name: string, where: string): ColumnInfo | undefined => {
    const c = target.columns.find((x) => x.name === name);
    if (!c) offenders.push(`${where}: target column "${name}" does not exist in ${target.name} (columns: ${list(target.columns.map((x) => x.name))})`);
    return c;
  };
  const enumValuesOf = (c: ColumnInfo) => (c.enumType ? analysis.target.enums.find((e) => `${e.schema}.${e.name}` === c.enumType)?.values : undefined);

  const seen = new Set<string>();
  for (const c of p.columns) {
    if (seen.has(c.target)) offenders.push(`target column "${c.target}" is given two origins`);
    seen.add(c.target);
    const t = tgtCol(c.target, 'columns');
    const o = c.origin;
    if (o.kind === 'copy' || o.kind === 'enum_map') {
      const s = srcCol(o.source, `columns.${c.target}`);
      if (t && s && o.kind === 'copy' && conversion(s.category, t.category) === null) {
        offenders.push(`columns.${c.target}: cannot copy ${s.name} (${s.pgType}) into ${t.name} (${t.pgType})`);
      }
      if (t && o.kind === 'enum_map' && t.category !== 'enum') offenders.push(`columns.${c.target}: enum_map needs an enum target column; ${t.name} is ${t.pgType}`);
    } else if (o.kind === 'transform') {
      for (const s of o.sources) srcCol(s, `columns.${c.target}`);
    } else if (o.kind === 'constant' && t) {
      const problem = checkValue(t, o.value, enumValuesOf(t));
      if (problem) offenders.push(`columns.${c.target}: the constant ${JSON.stringify(o.value)} does not fit: ${problem}`);
    } else if (o.kind === 'generated_uuid' && t && (t.category !== 'uuid' || !target.primaryKey.includes(t.name))) {
      offenders.push(`columns.${c.target}: generated_uuid is only for a uuid primary key; ${t.name} is ${t.pgType}`);
    } else if (o.kind === 'foreign_key' && t && !target.foreignKeys.some((f) => f.columns.length === 1 && f.columns[0] === t.name)) {
      offenders.push(`columns.${c.target}: foreign_key, but ${t.name} references no table`);
    }
  }

  for (const m of p.enumMappings) {
    const t = tgtCol(m.targetColumn, 'enumMappings');
    srcCol(m.sourceColumn, `enumMappings.${m.targetColumn}`);
    if (!t) continue;
    const values = enumValuesOf(t);
    if (!values) {
      offenders.push(`enumMappings.${m.targetColumn}: ${t.name} (${t.pgType}) is not an enum column`);
      continue;
    }
    const unknown = [...new Set(m.values.map((v) => v.target).filter((v) => !values.includes(v)))];
    if (unknown.length) offenders.push(`enumMappings.${m.targetColumn}: ${unknown.map((v) => `"${v}"`).join(', ')} ${unknown.length === 1 ? 'is not a value' : 'are not values'} of ${t.enumType} (values: ${values.join(', ')})`);
  }
  for (const f of p.foreignKeys) tgtCol(f.column, 'foreignKeys');

  return offenders.length ? { ok: false, offenders } : { ok: true };
}
