import * as z from 'zod';
import { contentHash } from './hash.js';
import { FilterCondition } from './schema-analysis.js';

/**
 * What one span of the description became. `item` is the index of the table pair (in
 * `tables`) the words are about; a description naming one table has item 0 throughout.
 */
export const SpanBinding = z.discriminatedUnion('kind', [
  z.object({ kind: z.literal('source_table'), item: z.number().int().nonnegative(), table: z.string() }),
  z.object({ kind: z.literal('target_table'), item: z.number().int().nonnegative(), table: z.string() }),
  /** Conditions on the source table; `shown` says them with what was resolved (labels, dates). */
  z.object({ kind: z.literal('filter'), item: z.number().int().nonnegative(), conditions: z.array(FilterCondition).min(1), shown: z.string() }),
  /** A target column's value as column-language text (src/core/expr), checked to parse and type. */
  z.object({ kind: z.literal('derivation'), item: z.number().int().nonnegative(), column: z.string(), expression: z.string() }),
  /** A source value mapped to an enum value, as `ferry approve --map` would. */
  z.object({ kind: z.literal('value_override'), item: z.number().int().nonnegative(), source: z.string(), target: z.string() }),
  /** "employee became staff_members": which legacy table a referenced target table was made from (for references, not moved here). */
  z.object({ kind: z.literal('parent_pair'), source: z.string(), target: z.string() }),
  /** The order the tables are to be moved in ("employees, then customers"). */
  z.object({ kind: z.literal('order'), tables: z.array(z.string()).min(2) }),
  /** Words that carry no choice: verbs of moving, articles, politeness, punctuation. */
  z.object({ kind: z.literal('filler') }),
  /** Words that carry meaning the reader could not bind: each is a review item quoting them. */
  z.object({ kind: z.literal('unread'), why: z.string() }),
]);
export type SpanBinding = z.infer<typeof SpanBinding>;

export const ReadingSpan = z.object({
  /** Character offsets into the description: text === description.slice(start, end). */
  start: z.number().int().nonnegative(),
  end: z.number().int().nonnegative(),
  text: z.string(),
  binding: SpanBinding,
  /** Why the words became this: "follows 'from'", "group → group_id (FK to dispatch_group)". */
  evidence: z.string(),
});
export type ReadingSpan = z.infer<typeof ReadingSpan>;

export const DescriptionReading = z.object({
  kind: z.literal('description_reading'),
  version: z.literal(1),
  description: z.string(),
  reader: z.enum(['rules', 'claude']),
  /** When relative dates ("in the last 90 days") were resolved. */
  readAt: z.string(),
  /** Qualified table names, one pair per plan, in the order they run. */
  tables: z.array(z.object({ source: z.string(), target: z.string() })).min(1),
  spans: z.array(ReadingSpan),
});
export type DescriptionReading = z.infer<typeof DescriptionReading>;

/**
 * Whether a reading names several moves (a plan set): the table pairs it bound, in the order
 * its order spans ("then", "dann", "luego") or the FK graph gave them. A filter's "and" or a
 * derivation's "first and last name" binds no second pair, so a single move is never split.
 */
export function namesSeveralMoves(reading: DescriptionReading): boolean {
  return reading.tables.length > 1;
}

export function readingHash(reading: DescriptionReading): string {
  return contentHash(reading);
}

/** The spans a person must look at: unread words, and derivations waiting to be accepted. */
export function readingReviewSpans(reading: DescriptionReading): Array<{ index: number; span: ReadingSpan }> {
  return reading.spans.flatMap((span, index) => (span.binding.kind === 'unread' || span.binding.kind === 'derivation' ? [{ index, span }] : []));
}

const QUOTE = (s: string) => `"${s}"`;

/** One line per span: the words, then what they became. */
export function describeSpan(span: ReadingSpan): string {
  const b = span.binding;
  switch (b.kind) {
    case 'source_table':
      return `${QUOTE(span.text)} → source table ${b.table} (${span.evidence})`;
    case 'target_table':
      return `${QUOTE(span.text)} → target table ${b.table} (${span.evidence})`;
    case 'filter':
      return `${QUOTE(span.text)} → filter ${b.shown}`;
    case 'derivation':
      return `${QUOTE(span.text)} → ${b.column} = ${b.expression}`;
    case 'value_override':
      return `${QUOTE(span.text)} → value ${JSON.stringify(b.source)} mapped to ${b.target}`;
    case 'parent_pair':
      return `${QUOTE(span.text)} → ${b.source} became ${b.target} (how references resolve; not moved by this plan)`;
    case 'order':
      return `${QUOTE(span.text)} → order ${b.tables.join(' → ')}`;
    case 'filler':
      return `${QUOTE(span.text)} → (no choice)`;
    case 'unread':
      return `${QUOTE(span.text)} → UNREAD: ${b.why}`;
  }
}
