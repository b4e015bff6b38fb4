import * as z from 'zod';
import { describeSpan, DescriptionReading, type ReadingSpan, type SpanBinding } from './description-reading.js';
import type { FilterCondition } from './schema-analysis.js';

/**
 * The model's reading of a description compared with the rules', span by span. Spans of the
 * two readings that overlap are compared as one group of words: the same bindings on both
 * sides (tables, each filter condition, derivations, value maps, order) is an agreement; any
 * difference, including words one side bound and the other left unread or filler, is a
 * disagreement quoting the words and both readings. A disagreement blocks approval until a
 * person acknowledges it (`ferry approve --ack <n>`, numbered after the reading's spans).
 */
export const ReadingDisagreement = z.object({
  start: z.number().int().nonnegative(),
  end: z.number().int().nonnegative(),
  text: z.string(),
  /** What the rules made of the words, as the plan text says it. */
  rules: z.string(),
  /** What the model made of them. */
  model: z.string(),
});
export type ReadingDisagreement = z.infer<typeof ReadingDisagreement>;

export const ReadingComparison = z.object({
  /** The rules' reading, or why they could not read the description at all. */
  rules: z.union([z.object({ artifact: DescriptionReading, hash: z.string() }), z.object({ refused: z.string() })]),
  disagreements: z.array(ReadingDisagreement),
});
export type ReadingComparison = z.infer<typeof ReadingComparison>;

const qualify = (t: string) => (t.includes('.') ? t : `public.${t}`);
const val = (v: string | number | boolean) => String(v);

function conditionKey(c: FilterCondition): string {
  if (c.op === 'in') return `${c.column} in {${[...new Set(c.value.map(val))].sort().join(',')}}`;
  if (c.op === '=' && typeof c.value !== 'boolean') return `${c.column} in {${val(c.value)}}`;
  return 'value' in c ? `${c.column} ${c.op} ${val(c.value)}` : `${c.column} ${c.op}`;
}

/** Column-language text compared without its spacing or keyword case (string literals kept as written). */
export const exprKey = (text: string) =>
  text
    .split(/('(?:[^']|'')*')/)
    .map((part, i) => (i % 2 ? part : part.replace(/\s+/g, '').toLowerCase()))
    .join('');

/** What one binding means, as comparable keys; the table pair it is about is named, not numbered. */
function keys(b: SpanBinding, reading: DescriptionReading): string[] {
  const about = 'item' in b ? reading.tables[b.item]?.source ?? `#${b.item}` : '';
  switch (b.kind) {
    case 'source_table':
      return [`source ${qualify(b.table)}`];
    case 'target_table':
      return [`target ${qualify(b.table)}`];
    case 'filter':
      return b.conditions.map((c) => `filter ${about}: ${conditionKey(c)}`);
    case 'derivation':
      return [`derive ${about}: ${b.column} = ${exprKey(b.expression)}`];
    case 'value_override':
      return [`map ${about}: ${b.source} → ${b.target}`];
    case 'parent_pair':
      return [`pair ${qualify(b.source)} → ${qualify(b.target)}`];
    case 'order':
      return [`order ${b.tables.map(qualify).join(',')}`];
    case 'filler':
    case 'unread':
      return [];
  }
}

type Side = 'rules' | 'model';
interface Node {
  side: Side;
  span: ReadingSpan;
}

/** Groups of overlapping spans across both readings (filler left out: it only matters against a binding). */
function groups(nodes: Node[]): Node[][] {
  const sorted = [...nodes].sort((a, b) => a.span.start - b.span.start);
  const out: Node[][] = [];
  let end = -1;
  for (const n of sorted) {
    if (out.length && n.span.start < end) out[out.length - 1]!.push(n);
    else out.push([n]);
    end = Math.max(end, n.span.end);
  }
  return out;
}

const sayAll = (nodes: Node[], none: string) => (nodes.length ? nodes.map((n) => describeSpan(n.span)).join('; ') : none);

export function compareReadings(model: DescriptionReading, rules: DescriptionReading | { refused: string }): ReadingDisagreement[] {
  const rulesSpans = 'refused' in rules ? [] : rules.spans;
  const nodes: Node[] = [
    ...model.spans.filter((s) => s.binding.kind !== 'filler').map((span) => ({ side: 'model' as const, span })),
    ...rulesSpans.filter((s) => s.binding.kind !== 'filler').map((span) => ({ side: 'rules' as const, span })),
  ];
  const out: ReadingDisagreement[] = [];
  for (const group of groups(nodes)) {
    const of = (side: Side) => group.filter((n) => n.side === side);
    const keySet = (side: Side) => [...new Set(of(side).flatMap((n) => keys(n.span.binding, side === 'model' ? model : (rules as DescriptionReading))))].sort().join('\n');
    if (keySet('model') === keySet('rules')) continue;
    const start = Math.min(...group.map((n) => n.span.start));
    const end = Math.max(...group.map((n) => n.span.end));
    out.push({
      start,
      end,
      text: model.description.slice(start, end),
      rules: 'refused' in rules ? `nothing: the rules could not read the description (${rules.refused})` : sayAll(of('rules'), 'nothing (words without a choice)'),
      model: sayAll(of('model'), 'nothing (words without a choice)'),
    });
  }
  return out;
}
