import type { ColumnInfo, FilterCondition, TableInfo } from '../../../src/core/artifacts/schema-analysis.js';
import { claim, columnAfter, columnBefore, isFree, itemAt, quote, wordAt, type ReadState } from './state.js';
import { english } from './tokens.js';
import { isDateLike, isNumeric, negationBefore, isTexty } from './values.js';

const tableAt = (state: ReadState, i: number): TableInfo => state.items[itemAt(state, i)]!.source;
const filter = (state: ReadState, from: number, to: number, conditions: FilterCondition[], shown: string, evidence: string) =>
  claim(state, from, to, { kind: 'filter', item: itemAt(state, from), conditions, shown }, evidence);

/** The boolean column a word means: active → is_active or active; deceased → deceased. */
function booleanColumn(table: TableInfo, word: string): ColumnInfo | undefined {
  const hits = table.columns.filter((c) => c.category === 'boolean' && [word, `is_${word}`, `has_${word}`].includes(c.name.toLowerCase()));
  return hits.length === 1 ? hits[0] : undefined;
}

/** "the active employees", "only the active ones", "not deceased", "inactive", "except the cancelled ones". */
export function readBooleans(state: ReadState): void {
  state.tokens.forEach((t, i) => {
    const w = wordAt(state, i);
    if (w === undefined) return;
    const table = tableAt(state, i);
    let col = booleanColumn(table, w);
    let negated = false;
    if (!col && /^(in|un|non)/.test(w)) {
      col = booleanColumn(table, w.replace(/^(in|un|non)-?/, ''));
      negated = col !== undefined;
    }
    if (!col) return;
    const neg = negationBefore(state, i);
    let end = i + 1;
    while (isFree(state, end) && /^(ones|one|only|those)$/.test(state.tokens[end]!.lower)) end++;
    const value = !(negated !== neg.negated);
    let start = neg.start;
    while (start > 0 && isFree(state, start - 1) && /^(keep|only|the|nur|solo)$/.test(state.tokens[start - 1]!.lower)) start--;
    filter(state, start, end, [{ column: col.name, op: '=', value }], `${col.name} = ${value}`, `"${t.text}" means the boolean column ${col.name}`);
  });
}

const WITH = new Set(['with', 'has', 'have', 'having', 'mit', 'con']);
const WITHOUT = new Set(['without', 'ohne', 'sin', 'missing']);

/** "with an email" → email IS NOT NULL; "without a birth date", "with no email" → IS NULL. */
export function readNullTests(state: ReadState): void {
  for (let i = 0; i < state.tokens.length; i++) {
    const w = wordAt(state, i);
    if (w === undefined || (!WITH.has(w) && !WITHOUT.has(w))) continue;
    let j = i + 1;
    let isNull = WITHOUT.has(w);
    if (wordAt(state, j) === 'no') {
      isNull = true;
      j++;
    }
    while (/^(a|an|the|any|ein|eine|un|una)$/.test(wordAt(state, j) ?? '')) j++;
    const hit = columnAfter(state, tableAt(state, i), j);
    if (!hit) continue;
    const [end, col] = hit;
    filter(state, i, end, [{ column: col.name, op: isNull ? 'is_null' : 'is_not_null' }], `${col.name} IS ${isNull ? '' : 'NOT '}NULL`, `"${quote(state, j, end)}" names ${col.name}`);
    i = end - 1;
  }
}

const MORE: Record<string, FilterCondition['op']> = { over: '>', above: '>', exceeding: '>', 'more than': '>', 'greater than': '>', 'longer than': '>', 'at least': '>=', under: '<', below: '<', 'less than': '<', 'shorter than': '<', 'fewer than': '<', 'at most': '<=' };

function comparatorAt(state: ReadState, i: number): [FilterCondition['op'], number] | undefined {
  const two = `${wordAt(state, i) ?? ''} ${wordAt(state, i + 1) ?? ''}`;
  if (MORE[two]) return [MORE[two]!, i + 2];
  const one = wordAt(state, i);
  return one && MORE[one] ? [MORE[one]!, i + 1] : undefined;
}

/** "with a total above 10", "milliseconds at least 300000", "longer than 340000 milliseconds". */
export function readComparisons(state: ReadState): void {
  for (let i = 0; i < state.tokens.length; i++) {
    const cmp = comparatorAt(state, i);
    if (!cmp) continue;
    const [op, afterCmp] = cmp;
    const num = state.tokens[afterCmp];
    if (!num || num.kind !== 'number' || !isFree(state, afterCmp)) continue;
    const table = tableAt(state, i);
    const before = columnBefore(state, table, i);
    const after = before ? undefined : columnAfter(state, table, afterCmp + 1);
    const col = before?.[1] ?? after?.[1];
    if (!col || !isNumeric(col)) continue;
    let from = before ? before[0] : i;
    while (/^(with|a|an|the)$/.test(wordAt(state, from - 1) ?? '')) from--;
    const to = after ? after[0] : afterCmp + 1;
    const value = Number(num.value);
    filter(state, from, to, [{ column: col.name, op, value } as FilterCondition], `${col.name} ${op} ${value}`, `"${quote(state, from, to)}" compares ${col.name}`);
    i = to - 1;
  }
}

const MONTHS = ['january', 'february', 'march', 'april', 'may', 'june', 'july', 'august', 'september', 'october', 'november', 'december'];
const iso = (y: number, m: number, d: number) => `${String(y).padStart(4, '0')}-${String(m).padStart(2, '0')}-${String(d).padStart(2, '0')}`;

/** A date at token i: "2024", "March 2023", "2024-03-01"; [first day, first day after, end]. */
function dateAt(state: ReadState, i: number): { from: string; after: string; end: number } | undefined {
  const t = state.tokens[i];
  if (!t || state.claimed[i]) return undefined;
  const month = MONTHS.indexOf(t.lower);
  const year = (k: number) => (state.tokens[k]?.kind === 'number' && /^(19|20)\d\d$/.test(state.tokens[k]!.value) ? Number(state.tokens[k]!.value) : undefined);
  if (month >= 0 && year(i + 1) !== undefined) {
    const y = year(i + 1)!;
    return { from: iso(y, month + 1, 1), after: month === 11 ? iso(y + 1, 1, 1) : iso(y, month + 2, 1), end: i + 2 };
  }
  if (year(i) !== undefined) return { from: iso(year(i)!, 1, 1), after: iso(year(i)! + 1, 1, 1), end: i + 1 };
  if (t.kind === 'string' && /^\d{4}-\d\d-\d\d$/.test(t.value)) return { from: t.value, after: t.value, end: i + 1 };
  return undefined;
}

const DATE_WORDS: Record<string, string> = { born: 'birth', hired: 'hire', created: 'created', registered: 'registered', scheduled: 'scheduled', issued: 'issued', updated: 'updated' };

/** The date column words before token i mean ("hired" → hire_date, "invoice date"), or the table's only date column. */
function dateColumn(state: ReadState, table: TableInfo, i: number): { col?: ColumnInfo | undefined; from: number; why: string } {
  const dates = table.columns.filter(isDateLike);
  const named = columnBefore(state, table, i);
  if (named && isDateLike(named[1])) return { col: named[1], from: named[0], why: `"${quote(state, named[0], i)}" names ${named[1].name}` };
  const w = wordAt(state, i - 1);
  const stem = w && (DATE_WORDS[w] ?? w.replace(/e?d$/, ''));
  const byWord = stem ? dates.filter((c) => c.name.toLowerCase().startsWith(stem)) : [];
  if (byWord.length === 1) return { col: byWord[0], from: i - 1, why: `"${w}" names ${byWord[0]!.name}` };
  if (w && DATE_WORDS[w]) return { from: i - 1, why: `"${w}" names no date column of ${table.name}` };
  if (dates.length === 1) return { col: dates[0], from: i, why: `${dates[0]!.name} is ${table.name}'s only date column` };
  return { from: i, why: dates.length ? `${table.name} has several date columns (${dates.map((c) => c.name).join(', ')}): say which` : `${table.name} has no date column` };
}

const SINCE = new Set(['since', 'after', 'seit', 'desde', 'nach']);
const BEFORE = new Set(['before', 'vor', 'antes']);

/** "since 2024", "before March 2023", "after 2020", "in the last 90 days": literals resolved now, shown. */
export function readDates(state: ReadState): void {
  for (let i = 0; i < state.tokens.length; i++) {
    const w = wordAt(state, i);
    if (w === undefined) continue;
    const rel = relativeDate(state, i);
    const abs = SINCE.has(w) || BEFORE.has(w) ? dateAt(state, i + 1) : undefined;
    if (!rel && !abs) continue;
    const table = tableAt(state, i);
    const { col, from, why } = dateColumn(state, table, i);
    if (!col) continue; // left unread: the review item quotes the words and says why
    const end = rel ? rel.end : abs!.end;
    const op: FilterCondition['op'] = rel || SINCE.has(w) ? '>=' : '<';
    const value = rel ? rel.from : w === 'after' ? abs!.after : abs!.from;
    const start = from > 0 && /^(from|with)$/.test(wordAt(state, from - 1) ?? '') ? from - 1 : from;
    filter(state, start, end, [{ column: col.name, op, value } as FilterCondition], `${col.name} ${op} '${value}' ("${quote(state, i, end)}", read on ${state.now.toISOString().slice(0, 10)})`, why);
    i = end - 1;
  }
}

function relativeDate(state: ReadState, i: number): { from: string; end: number } | undefined {
  if (!/^(in|of|within|during)$/.test(wordAt(state, i) ?? '')) return undefined;
  let j = i + 1;
  if (wordAt(state, j) === 'the') j++;
  if (!/^(last|past)$/.test(wordAt(state, j) ?? '')) return undefined;
  const n = state.tokens[j + 1];
  const unit = wordAt(state, j + 2);
  if (!n || n.kind !== 'number' || !unit) return undefined;
  const days = { day: 1, days: 1, week: 7, weeks: 7, month: 30, months: 30, year: 365, years: 365 }[unit];
  if (!days) return undefined;
  const d = new Date(state.now.getTime() - Number(n.value) * days * 86_400_000);
  return { from: d.toISOString().slice(0, 10), end: j + 3 };
}

/** "except the Supervisor", "(but not the Supervisor)": a value named after a negation, found in one text column. */
export async function readNamedExclusions(state: ReadState): Promise<void> {
  for (let i = 0; i < state.tokens.length; i++) {
    const t = state.tokens[i]!;
    if (!isFree(state, i) || !(t.kind === 'string' || (t.kind === 'word' && /^\p{Lu}/u.test(t.text)))) continue;
    const neg = negationBefore(state, i);
    if (!neg.negated) continue;
    const table = tableAt(state, i);
    const texts = table.columns.filter(isTexty).map((c) => c.name);
    const holding = await state.probe.columnsHolding({ schema: table.schema, table: table.name, columns: texts, value: t.value });
    if (holding.length !== 1) continue;
    const column = holding[0]!;
    filter(state, neg.start, i + 1, [{ column, op: '<>', value: t.value }], `${column} <> '${t.value}'`, `"${t.value}" is a value of ${table.name}.${column} (the only text column holding it)`);
  }
}

export { english };
