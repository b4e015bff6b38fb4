import type { ColumnInfo, FilterCondition, SchemaAnalysis, TableInfo } from '../../../src/core/artifacts/schema-analysis.js';
import { ExprError, type ExpressionOriginValue } from '../../../src/core/expr/index.js';
import type { CheckFailure } from '../../../src/core/llm/tool-step.js';
import { checkValue } from '../../../src/core/plan/expected-row.js';
import { conversion } from '../columns.js';
import { checkedExpression } from '../expression.js';
import type { ColumnsProposal, IntentProposal, ProposalFilter, ProposalOrigin } from './proposal.js';

/**
 * Holds a model's proposal to the analysis: every table, column and enum value it names must
 * be there, every copy must be a conversion ferry can make, every constant must fit its
 * column. Everything wrong is named at once, with what does exist, so the model (in a repair
 * turn) or a person can fix it in one pass.
 */
export type GroundedTables = { ok: true; source: TableInfo; target: TableInfo } | { ok: false; offenders: string[] };

/** A model's expression ferry refused: what it wrote and the refusal, word for word. */
export interface ExpressionRefusal {
  target: string;
  text: string;
  code: string;
  refusal: string;
}

/** What grounding made of the model's expressions; the merge uses these, never the model's text alone. */
export interface ColumnsGrounding {
  /** Each proposed expression as ferry parsed, resolved and type-checked it, by target column. */
  expressions: Map<string, ExpressionOriginValue>;
  /** Proposed transforms the language can say (the description parses and checks as an expression): used instead. */
  fromTransforms: Map<string, ExpressionOriginValue>;
  /** Expressions still refused when the repair turns ran out: each becomes a review item. */
  refused: ExpressionRefusal[];
}

export type GroundedColumns = ({ ok: true } & ColumnsGrounding) | (CheckFailure & { settle?: { ok: true } & ColumnsGrounding });

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

/**
 * The columns step: names, conversions and constants as above; each expression parsed and
 * checked by ferry (the model sends only its text). A refused expression goes back to the
 * model like any offender; if it is the only kind left when the repair turns run out, the
 * answer is settled with it as a review item (`settle`), never dropped.
 */
export async function groundColumns(p: ColumnsProposal, source: TableInfo, target: TableInfo, analysis: SchemaAnalysis): Promise<GroundedColumns> {
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
    // An enum fed by an expression maps that expression's values: its text stands for the column.
    const fed = p.columns.some((c) => c.target === m.targetColumn && c.origin.kind === 'expression' && c.origin.text === m.sourceColumn);
    if (!fed) srcCol(m.sourceColumn, `enumMappings.${m.targetColumn}`);
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

  const grounding = await groundExpressions(p, source, target, analysis);
  const refusals = grounding.refused.map((r) => `columns.${r.target}: the expression ${JSON.stringify(r.text)} is refused (${r.code}): ${r.refusal}`);
  if (offenders.length) return { ok: false, offenders: [...offenders, ...refusals] };
  if (refusals.length) return { ok: false, offenders: refusals, code: 'MODEL_EXPRESSION_INVALID', settle: { ok: true, ...grounding } };
  return { ok: true, ...grounding };
}

type Refused = { code: string; refusal: string };

async function tryExpression(text: string, column: ColumnInfo, analysis: SchemaAnalysis, source: TableInfo): Promise<ExpressionOriginValue | Refused> {
  try {
    return await checkedExpression(text, column, analysis, { schema: source.schema, name: source.name });
  } catch (e) {
    if (!(e instanceof ExprError)) throw e;
    return { code: e.code, refusal: e.hint ? `${e.message}; ${e.hint}` : e.message };
  }
}

/** Each expression the model wrote, checked; each transform it described, tried as an expression. */
async function groundExpressions(p: ColumnsProposal, source: TableInfo, target: TableInfo, analysis: SchemaAnalysis): Promise<ColumnsGrounding> {
  const grounding: ColumnsGrounding = { expressions: new Map(), fromTransforms: new Map(), refused: [] };
  for (const c of p.columns) {
    const column = target.columns.find((x) => x.name === c.target);
    if (!column) continue; // named among the offenders already
    const o = c.origin;
    if (o.kind === 'expression') {
      const checked = await tryExpression(o.text, column, analysis, source);
      if ('refusal' in checked) grounding.refused.push({ target: c.target, text: o.text, ...checked });
      else grounding.expressions.set(c.target, checked);
    } else if (o.kind === 'transform') {
      const said = await transformAsExpression(o, column, analysis, source);
      if (said) grounding.fromTransforms.set(c.target, said);
    }
  }
  return grounding;
}

/**
 * A transform the language can say: its description (or a `code span` in it) parses, checks
 * against the target column and reads only the sources the transform names. Prose stays prose.
 */
async function transformAsExpression(
  o: Extract<ProposalOrigin, { kind: 'transform' }>,
  column: ColumnInfo,
  analysis: SchemaAnalysis,
  source: TableInfo,
): Promise<ExpressionOriginValue | undefined> {
  const candidates = new Set([o.description.trim(), ...[...o.description.matchAll(/`([^`]+)`/g)].map((m) => m[1]!.trim())]);
  for (const text of candidates) {
    if (text === '') continue;
    const checked = await tryExpression(text, column, analysis, source);
    if (!('refusal' in checked) && checked.reads.every((r) => o.sources.includes(r))) return checked;
  }
  return undefined;
}
