import type { ColumnInfo, FilterCondition, TableInfo } from '../../../src/core/artifacts/schema-analysis.js';
import { claim, columnAfter, columnBefore, isFree, itemAt, quote, wordAt, type ReadState } from './state.js';
import { english, FILLER } from './tokens.js';
import { isDateLike, isNumeric, negationAfter, negationBefore, isTexty } from './values.js';

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
      col = booleanColumn(table, english(w.replace(/^(in|un|non)-?/, '')));
      negated = col !== undefined;
    }
    if (!col) return;
    const neg = negationBefore(state, i);
    let end = i + 1;
    while (isFree(state, end) && /^(ones|one|only|those)$/.test(state.tokens[end]!.lower)) end++;
    const after = negationAfter(state, end);
    if (after >= 0 && neg.negated) return; // "not the cancelled ones excluded": left unread for a person
    if (after >= 0) end = after;
    const value = !(negated !== (neg.negated || after >= 0));
    let start = neg.start;
    while (start > 0 && isFree(state, start - 1) && /^(keep|only|the|nur|solo)$/.test(state.tokens[start - 1]!.lower)) start--;
    filter(state, start, end, [{ column: col.name, op: '=', value }], `${col.name} = ${value}`, `"${t.text}" means the boolean column ${col.name}`);
  });
}

const WITH = new Set(['with', 'has', 'have', 'having', 'mit', 'hat', 'haben', 'con', 'tiene', 'tienen']);
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
    // "with tier gold or staff": values follow the column word, so this is no null test (left unread).
    const next = state.tokens[end];
    if (next && isFree(state, end) && (next.kind === 'number' || next.kind === 'string' || (next.kind === 'word' && !FILLER.has(next.lower)))) continue;
    // "los que no tienen email", "who don't have an email": the negation turns the test around.
    const from = /^(no|not|don't|doesn't|nicht)$/.test(wordAt(state, i - 1) ?? '') ? i - 1 : i;
    if (from < i) isNull = !isNull;
    filter(state, from, end, [{ column: col.name, op: isNull ? 'is_null' : 'is_not_null' }], `${col.name} IS ${isNull ? '' : 'NOT '}NULL`, `"${quote(state, j, end)}" names ${col.name}`);
    i = end - 1;
  }
}

const MORE: Record<string, FilterCondition['op']> = {
  over: '>', above: '>', exceeding: '>', 'more than': '>', 'greater than': '>', 'longer than': '>', 'at least': '>=', under: '<', below: '<', 'less than': '<', 'shorter than': '<', 'fewer than': '<', 'at most': '<=',
  über: '>', 'mehr als': '>', 'größer als': '>', mindestens: '>=', unter: '<', 'weniger als': '<', 'kleiner als': '<', höchstens: '<=',
  'mayor que': '>', 'más de': '>', 'más que': '>', 'al menos': '>=', 'como mínimo': '>=', 'menor que': '<', 'menos de': '<', 'menos que': '<', 'como máximo': '<=',
};

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
    // "a fee of at least 1": the column word may stand before "of".
    const before = columnBefore(state, table, i) ?? (wordAt(state, i - 1) === 'of' ? columnBefore(state, table, i - 1) : undefined);
    const after = before ? undefined : columnAfter(state, table, afterCmp + 1);
    const col = before?.[1] ?? after?.[1];
    if (!col || !isNumeric(col)) continue;
    let from = before ? before[0] : i;
    while (/^(with|a|an|the|mit|con|un|una|el|la|einem|einer)$/.test(wordAt(state, from - 1) ?? '')) from--;
    const to = after ? after[0] : afterCmp + 1;
    const value = Number(num.value);
    filter(state, from, to, [{ column: col.name, op, value } as FilterCondition], `${col.name} ${op} ${value}`, `"${quote(state, from, to)}" compares ${col.name}`);
    i = to - 1;
  }
}

const MONTHS = ['january', 'february', 'march', 'april', 'may', 'june', 'july', 'august', 'september', 'october', 'november', 'december'];
const MONTHS_DE = ['januar', 'februar', 'märz', 'april', 'mai', 'juni', 'juli', 'august', 'september', 'oktober', 'november', 'dezember'];
const MONTHS_ES = ['enero', 'febrero', 'marzo', 'abril', 'mayo', 'junio', 'julio', 'agosto', 'septiembre', 'octubre', 'noviembre', 'diciembre'];
const monthOf = (w: string): number => [MONTHS, MONTHS_DE, MONTHS_ES].map((l) => l.indexOf(w)).find((m) => m >= 0) ?? -1;
const iso = (y: number, m: number, d: number) => `${String(y).padStart(4, '0')}-${String(m).padStart(2, '0')}-${String(d).padStart(2, '0')}`;

/** A date at token i: "2024", "March 2023", "2024-03-01"; [first day, first day after, end]. */
function dateAt(state: ReadState, i: number): { from: string; after: string; end: number } | undefined {
  const t = state.tokens[i];
  if (!t || state.claimed[i]) return undefined;
  const month = monthOf(t.lower);
  const year = (k: number) => (state.tokens[k]?.kind === 'number' && /^(19|20)\d\d$/.test(state.tokens[k]!.value) ? Number(state.tokens[k]!.value) : undefined);
  // "marzo de 2019": Spanish puts "de" between the month and the year.
  const y = year(i + 1) ?? (state.tokens[i + 1]?.lower === 'de' && !state.claimed[i + 1] ? year(i + 2) : undefined);
  if (month >= 0 && y !== undefined) {
    const end = year(i + 1) !== undefined ? i + 2 : i + 3;
    return { from: iso(y, month + 1, 1), after: month === 11 ? iso(y + 1, 1, 1) : iso(y, month + 2, 1), end };
  }
  if (year(i) !== undefined) return { from: iso(year(i)!, 1, 1), after: iso(year(i)! + 1, 1, 1), end: i + 1 };
  if (t.kind === 'string' && /^\d{4}-\d\d-\d\d$/.test(t.value)) return { from: t.value, after: t.value, end: i + 1 };
  return undefined;
}

const DATE_WORDS: Record<string, string> = {
  born: 'birth', hired: 'hire', created: 'created', registered: 'registered', scheduled: 'scheduled', issued: 'issued', updated: 'updated',
  geboren: 'birth', eingestellt: 'hire', erstellt: 'created', angelegt: 'created', registriert: 'registered', geplant: 'scheduled', aktualisiert: 'updated', beigetreten: 'joined',
  nacidos: 'birth', nacidas: 'birth', nacido: 'birth', nacida: 'birth', contratados: 'hire', contratadas: 'hire', contratado: 'hire', contratada: 'hire',
  creados: 'created', creadas: 'created', creado: 'created', creada: 'created', registrados: 'registered', registradas: 'registered', registrado: 'registered', registrada: 'registered',
  programados: 'scheduled', programadas: 'scheduled', actualizados: 'updated', actualizadas: 'updated',
};

/** The date column words before token i mean ("hired" → hire_date, "invoice date"), or the table's only date column. */
function dateColumn(state: ReadState, table: TableInfo, i: number, end: number): { col?: ColumnInfo | undefined; from: number; to?: number; why: string } {
  const dates = table.columns.filter(isDateLike);
  const named = columnBefore(state, table, i);
  if (named && isDateLike(named[1])) return { col: named[1], from: named[0], why: `"${quote(state, named[0], i)}" names ${named[1].name}` };
  const w = wordAt(state, i - 1);
  const stem = w && (DATE_WORDS[w] ?? w.replace(/e?d$/, ''));
  const byWord = stem ? dates.filter((c) => c.name.toLowerCase().startsWith(stem)) : [];
  if (byWord.length === 1) return { col: byWord[0], from: i - 1, why: `"${w}" names ${byWord[0]!.name}` };
  if (w && DATE_WORDS[w]) return { from: i - 1, why: `"${w}" names no date column of ${table.name}` };
  // German puts the participle last: "nach 2020 registriert".
  const next = wordAt(state, end);
  if (next && DATE_WORDS[next]) {
    const hits = dates.filter((c) => c.name.toLowerCase().startsWith(DATE_WORDS[next]!));
    return hits.length === 1 ? { col: hits[0], from: i, to: end + 1, why: `"${next}" names ${hits[0]!.name}` } : { from: i, why: `"${next}" names no date column of ${table.name}` };
  }
  if (dates.length === 1) return { col: dates[0], from: i, why: `${dates[0]!.name} is ${table.name}'s only date column` };
  return { from: i, why: dates.length ? `${table.name} has several date columns (${dates.map((c) => c.name).join(', ')}): say which` : `${table.name} has no date column` };
}

const SINCE = new Set(['since', 'after', 'seit', 'ab', 'desde', 'nach', 'después']);
/** Words whose date is the first day after the one named ("after 2020" → 2021-01-01). */
const AFTER = new Set(['after', 'nach', 'después']);
const BEFORE = new Set(['before', 'vor', 'antes']);
/** "antes de marzo", "después de 2020": the Spanish "de" between the word and its date. */
const dateAfterWord = (state: ReadState, i: number) => dateAt(state, i + 1) ?? (/^(de|del)$/.test(state.tokens[i + 1]?.lower ?? '') && isFree(state, i + 1) ? dateAt(state, i + 2) : undefined);

/** "since 2024", "before March 2023", "after 2020", "in the last 90 days": literals resolved now, shown. */
export function readDates(state: ReadState): void {
  for (let i = 0; i < state.tokens.length; i++) {
    const w = wordAt(state, i);
    if (w === undefined) continue;
    const rel = relativeDate(state, i);
    const abs = SINCE.has(w) || BEFORE.has(w) ? dateAfterWord(state, i) : undefined;
    if (!rel && !abs) continue;
    const table = tableAt(state, i);
    const { col, from, to, why } = dateColumn(state, table, i, rel ? rel.end : abs!.end);
    if (!col) continue; // left unread: the review item quotes the words and says why
    const end = to ?? (rel ? rel.end : abs!.end);
    const op: FilterCondition['op'] = rel || SINCE.has(w) ? '>=' : '<';
    const value = rel ? rel.from : AFTER.has(w) ? abs!.after : abs!.from;
    const start = from > 0 && /^(from|with)$/.test(wordAt(state, from - 1) ?? '') ? from - 1 : from;
    filter(state, start, end, [{ column: col.name, op, value } as FilterCondition], `${col.name} ${op} '${value}' ("${quote(state, i, end)}", read on ${state.now.toISOString().slice(0, 10)})`, why);
    i = end - 1;
  }
}

const UNIT_DAYS: Record<string, number> = {
  day: 1, days: 1, week: 7, weeks: 7, month: 30, months: 30, year: 365, years: 365,
  tag: 1, tage: 1, tagen: 1, woche: 7, wochen: 7, monat: 30, monate: 30, monaten: 30, jahr: 365, jahre: 365, jahren: 365,
  día: 1, días: 1, dia: 1, dias: 1, semana: 7, semanas: 7, mes: 30, meses: 30, año: 365, años: 365,
};

/** "in the last 90 days", "in den letzten 90 Tagen", "en los últimos 90 días". */
function relativeDate(state: ReadState, i: number): { from: string; end: number } | undefined {
  if (!/^(in|of|within|during|en|de|durante|innerhalb|aus)$/.test(wordAt(state, i) ?? '')) return undefined;
  let j = i + 1;
  if (/^(the|den|der|los|las)$/.test(wordAt(state, j) ?? '')) j++;
  if (!/^(last|past|letzten|vergangenen|últimos|últimas|pasados|pasadas)$/.test(wordAt(state, j) ?? '')) return undefined;
  const n = state.tokens[j + 1];
  const unit = wordAt(state, j + 2);
  if (!n || n.kind !== 'number' || !unit) return undefined;
  const days = UNIT_DAYS[unit];
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
