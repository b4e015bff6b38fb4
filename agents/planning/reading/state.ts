import type { SpanBinding } from '../../../src/core/artifacts/description-reading.js';
import type { ColumnInfo, SchemaAnalysis, TableInfo } from '../../../src/core/artifacts/schema-analysis.js';
import { singular, tokens as nameTokens } from '../words.js';
import type { ReadingProbe } from './probe.js';
import { english, FILLER, type Token } from './tokens.js';

/** One table pair being read: its source and target, once known. */
export interface ReadItem {
  source: TableInfo;
  target?: TableInfo;
  /** Token index of the words that named the source: filters after it are about it. */
  at: number;
}

/** A claimed run of tokens [from, to) and what it became. */
export interface DraftSpan {
  from: number;
  to: number;
  binding: SpanBinding;
  evidence: string;
}

export interface ReadState {
  text: string;
  tokens: Token[];
  claimed: boolean[];
  spans: DraftSpan[];
  analysis: SchemaAnalysis;
  probe: ReadingProbe;
  now: Date;
  items: ReadItem[];
}

export function claim(state: ReadState, from: number, to: number, binding: SpanBinding, evidence: string): void {
  for (let i = from; i < to; i++) state.claimed[i] = true;
  state.spans.push({ from, to, binding, evidence });
}

export const isFree = (state: ReadState, i: number): boolean => i >= 0 && i < state.tokens.length && !state.claimed[i];
export const wordAt = (state: ReadState, i: number): string | undefined => {
  const t = state.tokens[i];
  return t && t.kind === 'word' && !state.claimed[i] ? english(t.lower) : undefined;
};
export const quote = (state: ReadState, from: number, to: number): string => state.text.slice(state.tokens[from]!.start, state.tokens[to - 1]!.end);

/** The table pair the words at token i are about: the last one named before them, else the first. */
export function itemAt(state: ReadState, i: number): number {
  let best = 0;
  state.items.forEach((it, k) => {
    if (it.at <= i) best = k;
  });
  return best;
}

/** A name's words singular, joined: "Technician Roles" and technician_roles both → technician_role. */
export const normName = (words: string[]): string => words.flatMap((w) => nameTokens(english(w))).map(singular).join('_');

const KEY_SUFFIX = new Set(['id', 'code', 'no', 'num', 'key', 'uuid', 'fk', 'ref']);

/**
 * The source column some words mean: its name ("group_id", "birth date"), its name without
 * the key suffix ("group" → group_id, "support rep" → support_rep_id), or the table a
 * single-column FK points at ("doctor" → doc_id, FK to doctor). Undefined when none or several.
 */
export function columnFor(table: TableInfo, words: string[]): ColumnInfo | undefined {
  const raw = words.join('_').toLowerCase();
  const exact = table.columns.find((c) => c.name.toLowerCase() === raw);
  if (exact) return exact;
  const norm = normName(words);
  if (!norm) return undefined;
  const byName = table.columns.filter((c) => normName([c.name]) === norm);
  if (byName.length === 1) return byName[0];
  const byStem = table.columns.filter((c) => {
    const parts = nameTokens(c.name);
    return parts.length > 1 && KEY_SUFFIX.has(parts[parts.length - 1]!) && parts.slice(0, -1).map(singular).join('_') === norm;
  });
  if (byStem.length === 1) return byStem[0];
  const byFk = table.foreignKeys.filter((fk) => fk.columns.length === 1 && normName([fk.refTable]) === norm);
  if (byFk.length === 1) return table.columns.find((c) => c.name === byFk[0]!.columns[0]);
  return undefined;
}

/** The longest run (up to 3 words, ending at `end` exclusive) naming a column; [start, column]. */
export function columnBefore(state: ReadState, table: TableInfo, end: number): [number, ColumnInfo] | undefined {
  for (let n = 3; n >= 1; n--) {
    const words = range(state, end - n, end);
    if (!words) continue;
    const col = columnFor(table, words);
    if (col) return [end - n, col];
  }
  return undefined;
}

/** The longest run (up to 3 words, from `start`) naming a column; [end exclusive, column]. */
export function columnAfter(state: ReadState, table: TableInfo, start: number): [number, ColumnInfo] | undefined {
  for (let n = 3; n >= 1; n--) {
    const words = range(state, start, start + n);
    if (!words) continue;
    const col = columnFor(table, words);
    if (col) return [start + n, col];
  }
  return undefined;
}

/** The free words of tokens [from, to), or undefined when one is not a free word. */
export function range(state: ReadState, from: number, to: number): string[] | undefined {
  if (from < 0 || to > state.tokens.length) return undefined;
  const out: string[] = [];
  for (let i = from; i < to; i++) {
    const w = wordAt(state, i);
    if (w === undefined) return undefined;
    out.push(w);
  }
  return out;
}

/** Skips free filler words from i forward (dir 1) or backward (dir -1); returns the first other index. */
export function skipFiller(state: ReadState, i: number, dir: 1 | -1, allowed: Set<string> = FILLER): number {
  let j = i;
  while (isFree(state, j) && state.tokens[j]!.kind === 'word' && allowed.has(state.tokens[j]!.lower)) j += dir;
  return j;
}

export const tableName = (t: { schema: string; name: string }): string => (t.schema === 'public' ? t.name : `${t.schema}.${t.name}`);
export const qualified = (t: { schema: string; name: string }): string => `${t.schema}.${t.name}`;
