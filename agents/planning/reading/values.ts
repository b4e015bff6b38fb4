import type { FilterCondition, TableInfo, ColumnInfo } from '../../../src/core/artifacts/schema-analysis.js';
import { NotFoundError } from '../../../src/core/errors.js';
import { findTable } from '../../../src/core/artifacts/schema-analysis.js';
import { quote, skipFiller, type ReadState } from './state.js';
import { english, NEGATION_PHRASES, NEGATIONS, TRAILING_NEGATIONS, type Token } from './tokens.js';

export type Scalar = string | number | boolean;
export interface ReadValue {
  value: string | number;
  /** How it was resolved, when not as written: `11 ("Technicians" in dispatch_group.name)`. */
  shown: string;
}

const NUMERIC = new Set(['integer', 'bigint', 'numeric', 'float']);
export const isNumeric = (c: ColumnInfo): boolean => NUMERIC.has(c.category);
export const isTexty = (c: ColumnInfo): boolean => c.category === 'string' || c.category === 'enum';
export const isDateLike = (c: ColumnInfo): boolean => c.category === 'date' || c.category === 'timestamp';

/** A token that can be a value: a number, a quoted string, or a capitalised word (a label). */
export function valueToken(t: Token | undefined): boolean {
  if (!t) return false;
  return t.kind === 'number' || (t.kind === 'string' && t.text.startsWith("'")) || (t.kind === 'word' && /^\p{Lu}/u.test(t.text) && !t.text.includes('_'));
}

/** Values joined by commas, "and", "or" (in the reader's languages), from token i; [values, end, joined by or]. */
export function valueList(state: ReadState, i: number): { tokens: Token[]; end: number } {
  const out: Token[] = [];
  let j = i;
  while (!state.claimed[j] && valueToken(state.tokens[j])) {
    out.push(state.tokens[j]!);
    let k = j + 1;
    const sep = state.tokens[k];
    if (sep && (sep.lower === ',' || ['and', 'or'].includes(english(sep.lower)))) {
      k++;
      if (sep.lower === ',' && ['and', 'or'].includes(english(state.tokens[k]?.lower ?? ''))) k++;
      if (!state.claimed[k] && valueToken(state.tokens[k]) && (state.tokens[k]!.kind !== 'word' || state.tokens[j]!.kind === 'word')) {
        j = k;
        continue;
      }
    }
    return { tokens: out, end: j + 1 };
  }
  return { tokens: out, end: j };
}

function labelColumn(parent: TableInfo): string | undefined {
  const texts = parent.columns.filter((c) => c.category === 'string');
  return (
    texts.find((c) => /^(name|label|title)$/i.test(c.name)) ??
    texts.find((c) => /(^|_)(name|label|title)$/i.test(c.name)) ??
    texts[0]
  )?.name;
}

/** A value for a column: a number or string as written, or a label looked up in the table the column's FK points at. */
export async function resolveValue(state: ReadState, table: TableInfo, col: ColumnInfo, t: Token, at: number): Promise<ReadValue | null> {
  if (t.kind === 'number') return isNumeric(col) ? { value: Number(t.value), shown: t.value } : isTexty(col) ? { value: t.value, shown: `'${t.value}'` } : null;
  const fk = table.foreignKeys.find((f) => f.columns.length === 1 && f.columns[0] === col.name);
  if (!fk) return isTexty(col) ? { value: t.value, shown: `'${t.value}'` } : null;
  const parent = findTable(state.analysis.source, fk.refTable, fk.refSchema);
  const label = parent && labelColumn(parent);
  if (!parent || !label) return null;
  const ref = { schema: parent.schema, table: parent.name };
  const rows = await state.probe.rowsLabelled({ ...ref, keyColumn: fk.refColumns[0]!, labelColumn: label, label: t.value });
  if (rows.length !== 1) {
    const some = await state.probe.someLabels({ ...ref, labelColumn: label, limit: 12 });
    throw new NotFoundError('LABEL_NOT_FOUND', `read "${quote(state, at, at + 1)}" as a ${parent.name}.${label} (the ${col.name} it names), but ${rows.length === 0 ? `no ${parent.name} row is called "${t.value}"` : `${rows.length} rows are`}; ${parent.name}'s ${label}s: ${some.join(', ')}`, {
      hint: `name one of them, or the ${col.name} itself (e.g. "${col.name} = ${rows[0]?.key ?? '…'}")`,
      details: { words: t.value, table: parent.name, labels: some },
    });
  }
  const key = rows[0]!.key;
  return { value: isNumeric(col) && /^-?\d+(\.\d+)?$/.test(key) ? Number(key) : key, shown: `${key} ("${rows[0]!.label}" in ${parent.name}.${label})` };
}

const GLUE = new Set([
  'but', 'aber', 'pero', 'for', 'in', 'of', 'at', 'the', 'anything', 'all', 'any', 'those', 'ones', 'el', 'la', 'los', 'las', 'lo', 'die', 'der', 'den', 'dem', 'des', 'de', 'del',
  'a', 'an', 'from', 'than', 'that', 'are', 'is', 'who', 'which', 'aus', 'im', 'in', 'en', 'que', 'están', 'sind',
]);

/** The start of a several-word negation ending at token j ("bis auf", "leave out"), or -1. */
function negationPhraseEndingAt(state: ReadState, j: number): number {
  for (const phrase of NEGATION_PHRASES) {
    const from = j - phrase.length + 1;
    if (from < 0) continue;
    if (phrase.every((w, k) => !state.claimed[from + k] && state.tokens[from + k]!.lower === w)) return from;
  }
  return -1;
}

/** A negation written after the words it excludes ("returned ones excluded"): the index after it, or -1. */
export function negationAfter(state: ReadState, end: number): number {
  let j = end;
  while (!state.claimed[j] && /^(ones|one|those|rows|are|is|sind|werden|son|están|quedan)$/.test(state.tokens[j]?.lower ?? '')) j++;
  return !state.claimed[j] && TRAILING_NEGATIONS.has(state.tokens[j]?.lower ?? '') ? j + 1 : -1;
}

/** Negation words before token i (with glue words between): where the phrase starts and whether it negates. */
export function negationBefore(state: ReadState, i: number): { start: number; negated: boolean } {
  let j = i - 1;
  let start = i;
  let negated = false;
  while (j >= 0 && !state.claimed[j]) {
    const w = state.tokens[j]!.lower;
    const phrase = negationPhraseEndingAt(state, j);
    if (phrase >= 0) {
      negated = true;
      start = phrase;
      j = phrase - 1;
      continue;
    }
    if (NEGATIONS.has(w) && !['but', 'pero', 'other'].includes(w) && !(w === 'no' && /^(with|has|have)$/.test(state.tokens[j - 1]?.lower ?? ''))) {
      negated = true;
      start = j;
    } else if (w === 'no' && ['pero', 'but'].includes(state.tokens[j - 1]?.lower ?? '')) {
      negated = true;
      start = j;
    } else if (!GLUE.has(w)) break;
    j--;
  }
  // Keep the glue between the negation and the words ("except for"); a leading "but" belongs too.
  if (negated && ['but', 'aber', 'pero'].includes(state.tokens[start - 1]?.lower ?? '') && !state.claimed[start - 1]) start--;
  if (!negated) start = skipFiller(state, i - 1, -1, new Set(['the', 'of', 'for', 'in', 'el', 'los', 'las', 'la', 'die', 'der', 'den', 'de', 'del', 'für'])) + 1;
  return { start, negated };
}

export function conditionsFor(column: string, values: Array<string | number>, negated: boolean): FilterCondition[] {
  if (negated) return values.map((v) => ({ column, op: '<>' as const, value: v }));
  return values.length === 1 ? [{ column, op: '=', value: values[0]! }] : [{ column, op: 'in', value: values }];
}

export function showConditions(column: string, shown: string[], negated: boolean): string {
  if (shown.length === 1) return `${column} ${negated ? '<>' : '='} ${shown[0]}`;
  return `${column} ${negated ? 'NOT IN' : 'IN'} (${shown.join(', ')})`;
}
