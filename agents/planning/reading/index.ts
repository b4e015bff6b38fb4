import { DescriptionReading, type ReadingSpan } from '../../../src/core/artifacts/description-reading.js';
import type { FilterCondition, SchemaAnalysis } from '../../../src/core/artifacts/schema-analysis.js';
import { InputError } from '../../../src/core/errors.js';
import type { MigrationIntent } from '../intent.js';
import { orderByDependencies } from '../plan-set.js';
import { readBooleans, readComparisons, readDates, readNamedExclusions, readNullTests } from './conditions.js';
import { readSqlConditions, readValuePhrases, showCondition } from './filters.js';
import { readInstructions } from './instructions.js';
import type { ReadingProbe } from './probe.js';
import { claim, isFree, qualified, tableName, type DraftSpan, type ReadState } from './state.js';
import { readSubjectWords, readTables } from './tables.js';
import { FILLER, NEGATIONS, ORDER_WORDS, tokenize } from './tokens.js';

export type { ReadingProbe } from './probe.js';

export interface ReadResult {
  reading: DescriptionReading;
  /** One per table pair, parents first, each with its combined filter. */
  intents: MigrationIntent[];
}

/**
 * The rules' reading of a description, word by word: tables by noun phrase, filters,
 * instructions; every word left over that carries meaning is an `unread` span, which the
 * plan shows as a review item quoting it. Refuses (typed errors naming the words) what it
 * cannot read into a table pair.
 */
export async function readDescription(input: { description: string; analysis: SchemaAnalysis; probe: ReadingProbe; now?: Date }): Promise<ReadResult> {
  const text = input.description;
  const tokens = tokenize(text);
  if (tokens.length === 0) {
    throw new InputError('DESCRIPTION_EMPTY', 'the migration description is empty', {
      hint: 'describe the move, e.g. "Migrate the roles of group 11 from dispatch_role into technician_roles"',
    });
  }
  const state: ReadState = { text, tokens, claimed: tokens.map(() => false), spans: [], analysis: input.analysis, probe: input.probe, now: input.now ?? new Date(), items: [] };
  readTables(state);
  await readInstructions(state);
  readSqlConditions(state);
  await readValuePhrases(state);
  readComparisons(state);
  readDates(state);
  readBooleans(state);
  readNullTests(state);
  await readNamedExclusions(state);
  readSubjectWords(state);
  readOrder(state);
  readFillerAndUnread(state);
  const reading = DescriptionReading.parse({
    kind: 'description_reading',
    version: 1,
    description: text,
    reader: 'rules',
    readAt: state.now.toISOString(),
    tables: state.items.map((it) => ({ source: qualified(it.source), target: qualified(it.target!) })),
    spans: [...state.spans].sort((a, b) => a.from - b.from).map((s) => toSpan(state, s)),
  });
  const intents = state.items.map((it, k) => ({
    source: it.source,
    target: it.target!,
    filters: combineFilters(reading, k),
    evidence: reading.spans.filter((s) => 'item' in s.binding && s.binding.item === k).map((s) => `"${s.text}": ${s.evidence}`),
  }));
  return { reading, intents: intents.length > 1 ? orderByDependencies(intents) : intents };
}

function toSpan(state: ReadState, s: DraftSpan): ReadingSpan {
  const start = state.tokens[s.from]!.start;
  const end = state.tokens[s.to - 1]!.end;
  return { start, end, text: state.text.slice(start, end), binding: s.binding, evidence: s.evidence };
}

/** Words that say "first" only when a table follows them (after fillers): "erst site …", "primero migra site …". */
const LEADING_ORDER = new Set(['first', 'erst', 'zuerst', 'primero', 'entonces']);

const LIST_JOINERS = new Set(['and', 'und', 'y', 'e', '&', ',']);
const tableSpanAt = (state: ReadState, i: number) => state.spans.find((s) => s.from <= i && i < s.to && (s.binding.kind === 'source_table' || s.binding.kind === 'target_table'));

/** "customers and invoices", "customers e invoices": a joiner right between the table names of two different pairs. */
function joinsTwoPairs(state: ReadState, i: number): boolean {
  const before = tableSpanAt(state, i - 1)?.binding;
  const after = tableSpanAt(state, i + 1)?.binding;
  return before !== undefined && after !== undefined && 'item' in before && 'item' in after && before.item !== after.item;
}

/** "employees, then customers", "erst X, dann Y", "primero X y luego Y": the order words bind the order of the pairs. */
function readOrder(state: ReadState): void {
  if (state.items.length < 2) return;
  state.tokens.forEach((t, i) => {
    if (!isFree(state, i)) return;
    if (LIST_JOINERS.has(t.lower) && joinsTwoPairs(state, i)) {
      claim(state, i, i + 1, { kind: 'order', tables: state.items.map((it) => tableName(it.source)) }, 'joins two tables named in a list: each is a move');
      return;
    }
    if (!ORDER_WORDS.has(t.lower)) return;
    if (LEADING_ORDER.has(t.lower)) {
      let j = i + 1;
      while (isFree(state, j) && FILLER.has(state.tokens[j]!.lower)) j++;
      const next = state.spans.find((s) => s.from === j);
      if (!next || next.binding.kind !== 'source_table') return;
    }
    claim(state, i, i + 1, { kind: 'order', tables: state.items.map((it) => tableName(it.source)) }, 'the order written');
  });
}

const ARROWS = new Set(['->', '→', '=>', '*']);
const CONTEXT = new Set(['from', 'to', 'in', 'of', 'for', 'with', 'at', 'the', 'and', 'but']);

function isFiller(state: ReadState, i: number): boolean {
  const t = state.tokens[i]!;
  return t.kind === 'punct' || ARROWS.has(t.text) || (t.kind === 'word' && FILLER.has(t.lower));
}

/** Leftover filler words become filler spans; runs of other words (fillers between them included) become unread. */
function readFillerAndUnread(state: ReadState): void {
  const n = state.tokens.length;
  for (let i = 0; i < n; i++) {
    if (!isFree(state, i) || isFiller(state, i)) continue;
    let end = i + 1;
    for (let j = i + 1; j < n && isFree(state, j) && state.tokens[j]!.kind !== 'punct'; j++) if (!isFiller(state, j)) end = j + 1;
    let start = i;
    while (start > 0 && isFree(state, start - 1) && CONTEXT.has(state.tokens[start - 1]!.lower)) start--;
    const words = state.tokens.slice(start, end);
    claim(state, start, end, { kind: 'unread', why: whyUnread(words.map((w) => w.lower)) }, 'no rule read these words');
    i = end - 1;
  }
  for (let i = 0; i < n; i++) if (isFree(state, i)) claim(state, i, i + 1, { kind: 'filler' }, 'carries no choice');
}

function whyUnread(words: string[]): string {
  if (words.some((w) => NEGATIONS.has(w) && w !== 'but')) return 'a negation the rules could not bind to a column: nothing is excluded for it';
  if (words.some((w) => /^(19|20)\d\d$/.test(w) || /^(since|before|after|last|seit|vor|ab|letzten|desde|antes|después|últimos|últimas)$/.test(w))) return 'a time the rules could not bind to a date column';
  if (words.some((w) => /^\d/.test(w))) return 'a number or list the rules could not bind to a column';
  if (words.some((w) => /^(map|keep|lower|upper|lowercased|uppercased|order|ordered|sorted|rename|convert|set|first|only|mape|abbild|behalte|klein|groß|minúscul|mayúscul|mantener|mantén|nur|solo)/.test(w))) return 'an instruction the rules could not turn into an override';
  return 'words the rules could not read';
}

/** One item's conditions, combined: "= 11" and "<> 10" on one column keep "= 11"; a contradiction is refused. */
export function combineFilters(reading: DescriptionReading, item: number): FilterCondition[] {
  const conds = reading.spans.flatMap((s) => (s.binding.kind === 'filter' && s.binding.item === item ? s.binding.conditions : []));
  const positive = new Map<string, Array<string | number>>();
  const negative = new Map<string, Array<string | number>>();
  const rest: FilterCondition[] = [];
  for (const c of conds) {
    const vals = c.op === 'in' ? c.value : c.op === '=' && 'value' in c && typeof c.value !== 'boolean' ? [c.value] : null;
    if (vals) positive.set(c.column, positive.has(c.column) ? positive.get(c.column)!.filter((v) => vals.includes(v)) : [...vals]);
    else if (c.op === '<>' && 'value' in c && typeof c.value !== 'boolean') negative.set(c.column, [...(negative.get(c.column) ?? []), c.value]);
    else if (!rest.some((r) => showCondition(r) === showCondition(c))) rest.push(c);
  }
  const out: FilterCondition[] = [];
  for (const [column, vals] of positive) {
    const kept = vals.filter((v) => !(negative.get(column) ?? []).includes(v));
    negative.delete(column);
    if (kept.length === 0) {
      throw new InputError('DESCRIPTION_CONTRADICTS', `the description's conditions on ${column} leave no value: ${conds.filter((c) => c.column === column).map(showCondition).join(' and ')}`, {
        hint: `say once which ${column} values to move`,
      });
    }
    out.push(kept.length === 1 ? { column, op: '=', value: kept[0]! } : { column, op: 'in', value: kept });
  }
  for (const [column, vals] of negative) for (const v of [...new Set(vals)]) out.push({ column, op: '<>', value: v });
  return [...out, ...rest];
}
