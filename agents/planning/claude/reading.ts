import { DescriptionReading, type ReadingSpan, type SpanBinding } from '../../../src/core/artifacts/description-reading.js';
import type { FilterCondition, SchemaAnalysis, TableInfo } from '../../../src/core/artifacts/schema-analysis.js';
import { checkExpr, expressionOrigin, parseExpression, type Expr } from '../../../src/core/expr/index.js';
import { closestTables } from '../intent.js';
import { combineFilters } from '../reading/index.js';
import { FILLER, tokenize } from '../reading/tokens.js';
import { groundTables, table, toFilter } from './ground.js';
import type { IntentProposal, ProposalBinding, ProposalFilter } from './proposal.js';

/**
 * The model's reading held to the description and the analysis: every span's words must be
 * the description's own, every table, column and enum value must exist, predicates and
 * derivations must parse and type-check in the column language. Each problem names the words
 * it is about, so the model (in a repair turn) or a person sees what was misread. What passes
 * becomes the same DescriptionReading the rules make (reader "claude"); words the model left
 * out are filler when they carry no choice, else unread (a review item), never dropped.
 */
export type GroundedReading =
  | { ok: true; source: TableInfo; target: TableInfo; filters: FilterCondition[]; reading: DescriptionReading }
  | { ok: false; offenders: string[] };

const name = (t: { schema: string; name: string }) => (t.schema === 'public' ? t.name : `${t.schema}.${t.name}`);
const q = (s: string) => JSON.stringify(s);

/** Where the words stand in the description: the first place at or after `cursor` not taken, else any free place. */
function locate(description: string, text: string, cursor: number, taken: ReadonlyArray<[number, number]>): [number, number] | undefined {
  const free = (at: number) => !taken.some(([s, e]) => at < e && at + text.length > s);
  const places = (hay: string, needle: string) => {
    const out: number[] = [];
    for (let at = hay.indexOf(needle); at >= 0; at = hay.indexOf(needle, at + 1)) out.push(at);
    return out;
  };
  const all = places(description, text);
  const found = all.length ? all : places(description.toLowerCase(), text.toLowerCase());
  const at = found.find((a) => a >= cursor && free(a)) ?? found.find(free);
  return at === undefined ? undefined : [at, at + text.length];
}

const literalValue = (e: Expr): string | number | boolean | undefined => {
  if (e.kind === 'negate' && e.arg.kind === 'literal' && (e.arg.literal === 'integer' || e.arg.literal === 'numeric')) return -Number(e.arg.value);
  if (e.kind !== 'literal' || e.value === null) return undefined;
  if (e.literal === 'integer' || e.literal === 'numeric') return Number(e.value);
  if (e.literal === 'boolean') return e.value === 'true' || e.value === 't';
  return e.value;
};

const FLIP = { '=': '=', '<>': '<>', '<': '>', '<=': '>=', '>': '<', '>=': '<=' } as const;
const NOT = { '=': '<>', '<>': '=', '<': '>=', '<=': '>', '>': '<=', '>=': '<' } as const;

/** A predicate as the plan's filter conditions (AND of column-vs-constant tests, OR of = on one column as IN), or why not. */
export function predicateConditions(e: Expr, negated = false): ProposalFilter[] | string {
  if (e.kind === 'bool' && e.op === 'and' && !negated) {
    const parts = e.args.map((a) => predicateConditions(a));
    const bad = parts.find((p) => typeof p === 'string');
    return typeof bad === 'string' ? bad : parts.flatMap((p) => p as ProposalFilter[]);
  }
  if (e.kind === 'bool' && e.op === 'or') {
    const parts = e.args.map((a) => predicateConditions(a));
    const eqs = parts.every((p) => Array.isArray(p) && p.length === 1 && p[0]!.op === '=' && typeof p[0]!.value !== 'boolean') ? parts.map((p) => (p as ProposalFilter[])[0]!) : [];
    if (eqs.length === 0 || new Set(eqs.map((c) => c.column)).size !== 1) return 'an OR is taken only between values of one column (a = 1 OR a = 2)';
    const values = eqs.map((c) => c.value as string | number);
    return negated ? values.map((value) => ({ column: eqs[0]!.column, op: '<>' as const, value })) : [{ column: eqs[0]!.column, op: 'in', value: values }];
  }
  if (e.kind === 'not') return predicateConditions(e.arg, !negated);
  if (e.kind === 'null_test' && e.arg.kind === 'column') return [{ column: e.arg.name, op: e.negated !== negated ? 'is_not_null' : 'is_null' }];
  if (e.kind === 'column' && e.type === 'boolean') return [{ column: e.name, op: '=', value: !negated }];
  if (e.kind === 'compare') {
    const [col, lit, op] = e.left.kind === 'column' ? [e.left, e.right, e.op] : [e.right, e.left, FLIP[e.op]];
    const value = literalValue(lit);
    if (col.kind !== 'column' || value === undefined) return 'a condition compares one source column with a constant';
    return [{ column: col.name, op: negated ? NOT[op] : op, value }];
  }
  return 'a condition is a comparison of a source column with a constant, IS [NOT] NULL, or AND / OR / NOT of them';
}

type Ctx = { description: string; analysis: SchemaAnalysis; source: TableInfo; target: TableInfo; offenders: string[] };

async function filterBinding(text: string, predicate: string, ctx: Ctx): Promise<SpanBinding | null> {
  const fail = (why: string) => (ctx.offenders.push(`${q(text)} read as the filter ${predicate}: ${why}`), null);
  let typed: Expr;
  try {
    typed = checkExpr(await parseExpression(predicate), { columns: Object.fromEntries(ctx.source.columns.map((c) => [c.name, c.pgType])) });
  } catch (e) {
    return fail(`${(e as Error).message} (columns of ${ctx.source.name}: ${ctx.source.columns.map((c) => c.name).join(', ')})`);
  }
  const conds = predicateConditions(typed);
  if (typeof conds === 'string') return fail(conds);
  const problems: string[] = [];
  const conditions = conds.map((c) => toFilter(c, ctx.source, problems)).filter((c): c is FilterCondition => c !== null);
  if (problems.length) return fail(problems.join('; '));
  return { kind: 'filter', item: 0, conditions, shown: predicate };
}

async function derivationBinding(text: string, b: Extract<ProposalBinding, { kind: 'derivation' }>, ctx: Ctx): Promise<SpanBinding | null> {
  const column = ctx.target.columns.find((c) => c.name === b.column);
  if (!column) {
    ctx.offenders.push(`${q(text)} read as ${b.column} = ${b.expression}: target column "${b.column}" does not exist in ${ctx.target.name} (columns: ${ctx.target.columns.map((c) => c.name).join(', ')})`);
    return null;
  }
  try {
    await expressionOrigin(b.expression, { source: ctx.analysis.source, table: { schema: ctx.source.schema, name: ctx.source.name }, target: column });
  } catch (e) {
    ctx.offenders.push(`${q(text)} read as ${b.column} = ${b.expression}: ${(e as Error).message}`);
    return null;
  }
  return { kind: 'derivation', item: 0, column: b.column, expression: b.expression };
}

function tableBinding(text: string, b: { kind: 'source_table' | 'target_table'; table: string }, ctx: Ctx): SpanBinding | null {
  const role = b.kind === 'source_table' ? 'source' : 'target';
  const db = role === 'source' ? ctx.analysis.source : ctx.analysis.target;
  const chosen = role === 'source' ? ctx.source : ctx.target;
  const found = table(db.tables, { table: b.table });
  if (!found) {
    const closest = closestTables(db, b.table);
    ctx.offenders.push(`${q(text)} read as the ${role} table "${b.table}", which does not exist in ${db.database}${closest.length ? ` (closest: ${closest.join(', ')})` : ''}`);
    return null;
  }
  if (found !== chosen) {
    ctx.offenders.push(`${q(text)} read as the ${role} table ${name(found)}, but the ${role} given is ${name(chosen)}: one ${role} table per plan`);
    return null;
  }
  return { kind: b.kind, item: 0, table: name(found) };
}

function overrideBinding(text: string, b: Extract<ProposalBinding, { kind: 'value_override' }>, ctx: Ctx): SpanBinding | null {
  const enums = ctx.target.columns.flatMap((c) => (c.enumType ? ctx.analysis.target.enums.filter((e) => `${e.schema}.${e.name}` === c.enumType) : []));
  if (enums.some((e) => e.values.includes(b.target))) return { kind: 'value_override', item: 0, source: b.source, target: b.target };
  const values = [...new Set(enums.flatMap((e) => e.values))];
  ctx.offenders.push(`${q(text)} read as mapping ${q(b.source)} to ${q(b.target)}, which is not a value of ${ctx.target.name}'s enum columns${values.length ? ` (values: ${values.join(', ')})` : ' (it has none)'}`);
  return null;
}

async function bind(text: string, b: ProposalBinding, ctx: Ctx): Promise<SpanBinding | null> {
  switch (b.kind) {
    case 'source_table':
    case 'target_table':
      return tableBinding(text, b, ctx);
    case 'filter':
      return filterBinding(text, b.predicate, ctx);
    case 'derivation':
      return derivationBinding(text, b, ctx);
    case 'value_override':
      return overrideBinding(text, b, ctx);
    case 'order': {
      const missing = b.tables.filter((t) => !table(ctx.analysis.source.tables, { table: t }));
      if (missing.length) ctx.offenders.push(`${q(text)} read as an order of tables naming ${missing.join(', ')}, which ${ctx.analysis.source.database} does not have`);
      return missing.length ? null : { kind: 'order', tables: b.tables };
    }
    case 'filler':
      return { kind: 'filler' };
    case 'unread':
      return { kind: 'unread', why: b.why };
  }
}

/** Words no span covers: filler when they carry no choice, else one unread span per run. */
function gaps(description: string, covered: ReadonlyArray<[number, number]>, model: string): ReadingSpan[] {
  const out: ReadingSpan[] = [];
  const free = tokenize(description).filter((t) => !covered.some(([s, e]) => t.start < e && t.end > s));
  for (let i = 0; i < free.length; ) {
    let j = i + 1;
    // A run: tokens with nothing but spaces between them.
    while (j < free.length && /^\s*$/.test(description.slice(free[j - 1]!.end, free[j]!.start))) j++;
    const run = free.slice(i, j);
    const start = run[0]!.start;
    const end = run[run.length - 1]!.end;
    const empty = run.every((t) => t.kind === 'punct' || (t.kind === 'word' && FILLER.has(t.lower)));
    const binding: SpanBinding = empty ? { kind: 'filler' } : { kind: 'unread', why: `${model} did not say what these words became` };
    out.push({ start, end, text: description.slice(start, end), binding, evidence: empty ? 'carries no choice' : `left out of ${model}'s reading` });
    i = j;
  }
  return out;
}

/** The words the model read as a table that does not exist, as the person wrote them, with the closest real names. */
function unknownTableWords(p: IntentProposal, analysis: SchemaAnalysis): string[] {
  return p.spans.flatMap(({ text, reads_as: b }) => {
    if (b.kind !== 'source_table' && b.kind !== 'target_table') return [];
    const db = b.kind === 'source_table' ? analysis.source : analysis.target;
    if (table(db.tables, { table: b.table })) return [];
    const closest = closestTables(db, b.table);
    return [`${q(text)} read as the ${b.kind === 'source_table' ? 'source' : 'target'} table "${b.table}", which does not exist in ${db.database}${closest.length ? ` (closest: ${closest.join(', ')})` : ''}`];
  });
}

export async function groundReading(p: IntentProposal, input: { description: string; analysis: SchemaAnalysis; model: string; now: Date }): Promise<GroundedReading> {
  const tables = groundTables(p, input.analysis);
  if (!tables.ok) return { ok: false, offenders: [...tables.offenders, ...unknownTableWords(p, input.analysis)] };
  const { description, analysis } = input;
  const ctx: Ctx = { description, analysis, source: tables.source, target: tables.target, offenders: [] };
  const spans: ReadingSpan[] = [];
  const taken: Array<[number, number]> = [];
  let cursor = 0;
  for (const s of p.spans) {
    const at = locate(description, s.text, cursor, taken);
    if (!at) {
      ctx.offenders.push(`span ${q(s.text)} is not words of the description (copy each span's words exactly, once)`);
      continue;
    }
    const binding = await bind(s.text, s.reads_as, ctx);
    if (!binding) continue;
    taken.push(at);
    cursor = at[1];
    const why = s.reads_as.kind === 'filler' || s.reads_as.kind === 'unread' ? s.reads_as.why : undefined;
    spans.push({ start: at[0], end: at[1], text: description.slice(at[0], at[1]), binding, evidence: `read by ${input.model}${why ? `: ${why}` : ''}` });
  }
  if (ctx.offenders.length) return { ok: false, offenders: ctx.offenders };
  const reading = DescriptionReading.parse({
    kind: 'description_reading',
    version: 1,
    description,
    reader: 'claude',
    readAt: input.now.toISOString(),
    tables: [{ source: `${tables.source.schema}.${tables.source.name}`, target: `${tables.target.schema}.${tables.target.name}` }],
    spans: [...spans, ...gaps(description, taken, input.model)].sort((a, b) => a.start - b.start),
  });
  try {
    return { ok: true, source: tables.source, target: tables.target, filters: combineFilters(reading, 0), reading };
  } catch (e) {
    return { ok: false, offenders: [`the filters contradict each other: ${(e as Error).message}`] };
  }
}
