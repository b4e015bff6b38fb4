import type { ColumnInfo, TableInfo } from '../../../src/core/artifacts/schema-analysis.js';
import { checkExpr, parseExpression } from '../../../src/core/expr/index.js';
import { conversion } from '../columns.js';
import { isPlainColumnName } from '../review.js';
import { claim, columnBefore, columnFor, isFree, itemAt, quote, range, wordAt, type ReadState } from './state.js';

const targetColumn = (table: TableInfo, words: string[]): ColumnInfo | undefined => {
  const raw = words.join('_').toLowerCase();
  return table.columns.find((c) => c.name.toLowerCase() === raw);
};

/** A derivation checked against the column language: parses and types over the source columns, or null. */
async function checked(expression: string, source: TableInfo): Promise<string | null> {
  try {
    const expr = await parseExpression(expression);
    checkExpr(expr, { columns: Object.fromEntries(source.columns.map((c) => [c.name, c.pgType])) });
    return expression;
  } catch {
    return null;
  }
}

function derive(state: ReadState, from: number, to: number, column: string, expression: string, evidence: string): void {
  claim(state, from, to, { kind: 'derivation', item: itemAt(state, from), column, expression }, evidence);
}

/** "full name from first and last name" → full_name = first_name || ' ' || last_name; "first name from given name". */
async function readFromDerivations(state: ReadState, i: number): Promise<void> {
  const item = state.items[itemAt(state, i)]!;
  for (let n = 3; n >= 1; n--) {
    const words = range(state, i - n, i);
    const target = words && targetColumn(item.target!, words);
    if (!target) continue;
    const parts = sourceList(state, item.source, i + 1);
    if (!parts) return;
    const expression = await checked(parts.columns.join(" || ' ' || "), item.source);
    if (!expression) return;
    const from = wordAt(state, i - n - 1) === 'with' ? i - n - 1 : i - n; // "with synopsis from description"
    derive(state, from, parts.end, target.name, expression, `"${quote(state, i - n, i)}" is the target column ${target.name}; the words after "from" name ${parts.columns.join(', ')}`);
    return;
  }
}

/** "first and last name" → first_name, last_name; "given name" → given_name. */
function sourceList(state: ReadState, source: TableInfo, at: number): { columns: string[]; end: number } | undefined {
  const a = wordAt(state, at);
  if (a && wordAt(state, at + 1) === 'and') {
    const b = wordAt(state, at + 2);
    const tail = wordAt(state, at + 3);
    if (b && tail) {
      const ca = columnFor(source, [a, tail]);
      const cb = columnFor(source, [b, tail]);
      if (ca && cb) return { columns: [ca.name, cb.name], end: at + 4 };
    }
  }
  for (let n = 3; n >= 1; n--) {
    const words = range(state, at, at + n);
    const col = words && columnFor(source, words);
    if (col) return { columns: [col.name], end: at + n };
  }
  return undefined;
}

const LOWER = /^(lowercased|lowercase|kleingeschrieben|kleinschreiben|minúsculas|minusculas)$/;
const UPPER = /^(uppercased|uppercase|großgeschrieben|großschreiben|mayúsculas|mayusculas)$/;

/** "email lowercased", "lowercase the email", "email kleingeschrieben", "email en minúsculas": lower()/upper() of a column kept in both tables. */
async function readCaseChange(state: ReadState, i: number): Promise<void> {
  const w = wordAt(state, i)!;
  const fn = LOWER.test(w) ? 'lower' : 'upper';
  const item = state.items[itemAt(state, i)]!;
  // A verb ("lowercase the email") names its column after it; German puts it before ("email kleinschreiben").
  const after = /^(lowercase|uppercase)$/.test(w) || (/^(kleinschreiben|großschreiben)$/.test(w) && columnFor(item.source, [wordAt(state, i + 1) === 'the' ? wordAt(state, i + 2) ?? '' : wordAt(state, i + 1) ?? '']) !== undefined);
  let at = after ? i + 1 : i - 1;
  if (after && wordAt(state, at) === 'the') at++;
  if (!after && /^(en|in|a)$/.test(wordAt(state, at) ?? '')) at--; // "email en minúsculas"
  const word = wordAt(state, at);
  const col = word && columnFor(item.source, [word]);
  const target = word && targetColumn(item.target!, [word]);
  if (!col || !target) return;
  const expression = await checked(`${fn}(${col.name})`, item.source);
  if (!expression) return;
  let from = Math.min(i, at);
  if (!after && wordAt(state, from - 1) === 'the') from--;
  if (!after && wordAt(state, from - 1) === 'with') from--;
  derive(state, from, Math.max(i, at) + 1, target.name, expression, `"${w}" asks for ${fn}() of ${col.name}`);
}

/** Words that put a function around a derivation or a column: "title case" (2 tokens) → initcap, "trimmed" → trim. */
function wrapWords(state: ReadState, i: number): { n: number; fn: 'initcap' | 'trim' } | null {
  const w = state.tokens[i]!.lower;
  if (/^(title-cased|titlecased|title-case|capitalized|capitalised|initcap)$/.test(w)) return { n: 1, fn: 'initcap' };
  if (w === 'title' && isFree(state, i + 1) && /^(case|cased)$/.test(state.tokens[i + 1]!.lower)) return { n: 2, fn: 'initcap' };
  if (/^(trimmed|getrimmt|recortado|recortada)$/.test(w)) return { n: 1, fn: 'trim' };
  return null;
}

/**
 * "full name from first and last name in title case", "email lowercased and trimmed": the
 * function around the derivation just read; "last_name in title case", "title-cased last_name",
 * "email trimmed": around a column kept in both tables, as "email lowercased" reads lower().
 */
async function readWrap(state: ReadState, i: number): Promise<void> {
  const { n, fn } = wrapWords(state, i)!;
  const item = state.items[itemAt(state, i)]!;
  const from = /^(in|as|and|und|y)$/.test(wordAt(state, i - 1) ?? '') ? i - 1 : i;
  const before = state.spans.find((s) => s.to === from && s.binding.kind === 'derivation' && s.binding.item === itemAt(state, i));
  if (before && before.binding.kind === 'derivation') {
    const expression = await checked(`${fn}(${before.binding.expression})`, item.source);
    if (!expression) return;
    for (let k = from; k < i + n; k++) state.claimed[k] = true;
    before.to = i + n;
    before.binding = { ...before.binding, expression };
    before.evidence += `; "${quote(state, from, i + n)}" asks for ${fn}()`;
    return;
  }
  if (from !== i && wordAt(state, from) !== 'in') return; // "and trimmed" only after a derivation
  // The column before the words ("email trimmed", "last_name in title case"), else after them ("title-cased last_name").
  for (const at of from === i ? [i - 1, i + n] : [from - 1]) {
    const word = wordAt(state, at);
    const col = word && columnFor(item.source, [word]);
    const target = word && item.target && targetColumn(item.target, [word]);
    if (!col || !target) continue;
    const expression = await checked(`${fn}(${col.name})`, item.source);
    if (expression) derive(state, Math.min(at, from), Math.max(at + 1, i + n), target.name, expression, `"${quote(state, i, i + n)}" asks for ${fn}() of ${col.name}`);
    return;
  }
}

/** "full_name = first_name || ' ' || last_name": an expression written out for a target column. */
async function readWrittenDerivation(state: ReadState, i: number): Promise<void> {
  const item = state.items[itemAt(state, i)]!;
  const name = wordAt(state, i);
  const target = name && targetColumn(item.target!, [name]);
  if (!target || item.source.columns.some((c) => c.name === target.name) || state.tokens[i + 1]?.text !== '=') return;
  let last = i + 2;
  while (last < state.tokens.length && isFree(state, last) && !(state.tokens[last]!.text === ',' || state.tokens[last]!.text === ';')) last++;
  // The longest run up to the comma that is an expression: "… || last_name and last_update as
  // updated_at" or "… in title case" end it, and the words after are read on their own.
  for (let end = last; end > i + 2; end--) {
    const expression = await checked(state.text.slice(state.tokens[i + 2]!.start, state.tokens[end - 1]!.end), item.source);
    if (!expression) continue;
    const from = wordAt(state, i - 1) === 'with' ? i - 1 : i;
    derive(state, from, end, target.name, expression, 'written in the column language');
    return;
  }
}

/** Whether token k is free and a value of an enum some column of item i's target table has. */
function enumValueAt(state: ReadState, i: number, k: number): boolean {
  const t = state.tokens[k];
  if (!t || !isFree(state, k) || (t.kind !== 'word' && t.kind !== 'string')) return false;
  const item = state.items[itemAt(state, i)]!;
  const enums = state.analysis.target.enums.filter((e) => item.target!.columns.some((c) => c.enumType === `${e.schema}.${e.name}`));
  return enums.some((e) => e.values.includes(t.value));
}

function mapOverride(state: ReadState, p: { from: number; to: number; sourceFrom: number; sourceTo: number; enumAt: number }): void {
  const item = state.items[itemAt(state, p.sourceFrom)]!;
  const single = p.sourceTo === p.sourceFrom + 1 && state.tokens[p.sourceFrom]!.kind === 'string';
  const source = single ? state.tokens[p.sourceFrom]!.value : quote(state, p.sourceFrom, p.sourceTo);
  const value = state.tokens[p.enumAt]!.value;
  claim(state, p.from, p.to, { kind: 'value_override', item: itemAt(state, p.sourceFrom), source, target: value }, `"${value}" is a value of ${item.target!.name}'s enum`);
}

const MAP_VERBS = /^(map|mapea|mapear|mapee|mappe|mappen|bilde)$/;
/** The word between a mapped value and its enum value, per verb: "map X to Y", "mapear X a Y", "bilde X auf Y ab". */
const MAP_TO = /^(to|a|auf|zu|en|como|as)$/;

/** "map Supervisor to remote", "mapear Supervisor a remote", "bilde Supervisor auf remote ab": a value override, as --map gives. */
function readValueMap(state: ReadState, i: number): void {
  let to = i + 1;
  while (to < state.tokens.length && isFree(state, to) && !MAP_TO.test(state.tokens[to]!.lower) && to - i <= 5) to++;
  if (!MAP_TO.test(state.tokens[to]?.lower ?? '') || to === i + 1 || !enumValueAt(state, i, to + 1)) return;
  let end = to + 2;
  if (state.tokens[i]!.lower === 'bilde' && isFree(state, end) && state.tokens[end]!.lower === 'ab') end++;
  const from = /^(but|,|und|y|and|aber|pero)$/.test(state.tokens[i - 1]?.lower ?? '') && isFree(state, i - 1) ? i - 1 : i;
  mapOverride(state, { from, to: end, sourceFrom: i + 1, sourceTo: to, enumAt: to + 1 });
  // "map G to general, PG to parental_guidance and R to restricted": the pairs after it share its verb.
  for (let at = end; ; ) {
    let k = at;
    while (isFree(state, k) && /^(,|and|und|y|e)$/.test(state.tokens[k]!.lower)) k++;
    let t = k + 1;
    while (t < state.tokens.length && isFree(state, t) && !MAP_TO.test(state.tokens[t]!.lower) && t - k <= 5) t++;
    if (k === at || !isFree(state, k) || !isFree(state, t) || !MAP_TO.test(state.tokens[t]?.lower ?? '') || !enumValueAt(state, i, t + 1)) return;
    mapOverride(state, { from: at, to: t + 2, sourceFrom: k, sourceTo: t, enumAt: t + 1 });
    at = t + 2;
  }
}

/**
 * "Supervisor als master", "Supervisor como master", "Supervisor auf remote abbilden", "Supervisor as remote":
 * the mapped words run back to the comma (or "und"/"y") before them; the word after must be an enum value.
 */
function readInfixMap(state: ReadState, i: number): void {
  const w = state.tokens[i]!.lower;
  if (!enumValueAt(state, i, i + 1)) return;
  let end = i + 2;
  if (w === 'auf') {
    if (!/^(abbilden|abgebildet|mappen)$/.test(state.tokens[end]?.lower ?? '') || !isFree(state, end)) return;
    end++;
  }
  let from = i;
  while (from > 0 && isFree(state, from - 1) && (state.tokens[from - 1]!.kind === 'word' || state.tokens[from - 1]!.kind === 'string') && !/^(und|y|and|e|aber|pero|but)$/.test(state.tokens[from - 1]!.lower) && i - from < 5) from--;
  const stop = state.tokens[from - 1];
  if (from === i || (stop && stop.text !== ',' && stop.text !== ';' && !/^(und|y|and|e|aber|pero|but)$/.test(stop.lower))) return;
  // "tier BASIC as basic": a leading column word says whose value it is; the value is what follows it.
  const item = state.items[itemAt(state, i)]!;
  const columnWord = i - from > 1 && state.tokens[from]!.kind === 'word' && columnFor(item.source, [state.tokens[from]!.lower]) !== undefined;
  mapOverride(state, { from: stop && stop.text !== ',' && isFree(state, from - 1) ? from - 1 : from, to: end, sourceFrom: columnWord ? from + 1 : from, sourceTo: i, enumAt: i + 1 });
}

/** The longest run (up to 3 words) from `at` naming a column of `table`; [end, column]. */
function columnAfter(state: ReadState, table: TableInfo, at: number): [number, ColumnInfo] | undefined {
  for (let n = 3; n >= 1; n--) {
    const words = range(state, at, at + n);
    const col = words && columnFor(table, words);
    if (col) return [at + n, col];
  }
  return undefined;
}

/** Words between an old column and its new name: one token, or two ("goes to", "renamed to", "wird zu", "pasa a"). */
const RENAME_ONE = /^(as|als|como|becomes|become|->|→|=>|wird)$/;
const RENAME_TWO = /^(goes (to|into)|renamed (to|as)|wird zu|pasa a|se llama)$/;

function renameConnector(state: ReadState, i: number): number {
  const t = state.tokens[i]!.lower;
  const next = state.tokens[i + 1];
  if (next && isFree(state, i + 1) && RENAME_TWO.test(`${t} ${next.lower}`)) return 2;
  return RENAME_ONE.test(t) ? 1 : 0;
}

/**
 * "description as synopsis", "length → runtime_minutes", "last_update becomes updated_at",
 * "rental_rate goes to rental_price", "rename length to runtime_minutes": the old column under
 * its new name, a derivation that is the bare column (a copy, or the cast the plan's types
 * need), as "synopsis from description" reads. The old name must be a column of the source and
 * the new one a column of the target; anything else is left for the other readers.
 */
function readRename(state: ReadState, i: number): void {
  // The table pair named last before the words; else the one pair whose tables have both
  // columns ("staff into staff_members, then rentals into rentals: active as is_active").
  const here = itemAt(state, i);
  const order = [here, ...state.items.map((_, k) => k).filter((k) => k !== here)];
  const found = order.map((k) => ({ k, r: renameIn(state, i, state.items[k]!) })).filter((x) => x.r !== null);
  const pick = found[0]?.k === here ? found[0] : found.length === 1 ? found[0] : undefined;
  if (!pick) return;
  const { from, source, renamed } = pick.r!;
  const item = state.items[pick.k]!;
  const target = renamed[1];
  if (conversion(source.category, target.category) === null) {
    const why = `${source.name} (${source.pgType}) cannot become ${target.name} (${target.pgType}) by a copy or a cast ferry makes; say how with an expression (--column ${target.name}=…)`;
    claim(state, from, renamed[0], { kind: 'unread', why }, why);
    return;
  }
  const evidence = `${source.name} is a column of ${item.source.name} and ${target.name} one of ${item.target!.name}: the old column under its new name`;
  claim(state, from, renamed[0], { kind: 'derivation', item: pick.k, column: target.name, expression: source.name }, evidence);
}

/** The old column and its new name in one table pair's tables, or null. */
function renameIn(state: ReadState, i: number, item: ReadState['items'][number]): { from: number; source: ColumnInfo; renamed: [number, ColumnInfo] } | null {
  if (!item.target) return null;
  let from: number;
  let source: ColumnInfo;
  let after: number;
  if (state.tokens[i]!.lower === 'rename') {
    const old = columnAfter(state, item.source, i + 1);
    if (!old || !/^(to|as|into)$/.test(state.tokens[old[0]]?.lower ?? '') || !isFree(state, old[0])) return null;
    [from, source, after] = [i, old[1], old[0] + 1];
  } else {
    const width = renameConnector(state, i);
    const old = width > 0 ? columnBefore(state, item.source, i) : undefined;
    if (!old) return null;
    [from, source, after] = [old[0], old[1], i + width];
  }
  const renamed = columnAfter(state, item.target, after);
  // A bare column is the override `--column new=old`: a copy or the plan's cast, whatever the
  // type (smallint, a domain, text[]), so no column-language check; a name that needs quotes is not one.
  if (!renamed || renamed[1].name === source.name || !isPlainColumnName(source.name)) return null;
  return { from, source, renamed };
}

/** Instructions become the overrides a reviewer gives: value maps and column derivations. */
export async function readInstructions(state: ReadState): Promise<void> {
  for (let i = 0; i < state.tokens.length; i++) {
    if (!isFree(state, i)) continue;
    const w = state.tokens[i]!.lower;
    if (MAP_VERBS.test(w)) readValueMap(state, i);
    else if (/^(als|como|auf|as)$/.test(w)) readInfixMap(state, i);
    else if (w === 'from') await readFromDerivations(state, i);
    else if (LOWER.test(w) || UPPER.test(w)) await readCaseChange(state, i);
    else if (wrapWords(state, i)) await readWrap(state, i);
    else if (state.tokens[i + 1]?.text === '=') await readWrittenDerivation(state, i);
    // Not read as anything else (a value map's "as" first): perhaps a column's new name.
    if (isFree(state, i) && (w === 'rename' || renameConnector(state, i) > 0)) readRename(state, i);
  }
}
