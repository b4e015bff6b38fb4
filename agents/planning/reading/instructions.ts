import type { ColumnInfo, TableInfo } from '../../../src/core/artifacts/schema-analysis.js';
import { checkExpr, parseExpression } from '../../../src/core/expr/index.js';
import { claim, columnFor, isFree, itemAt, quote, range, wordAt, type ReadState } from './state.js';

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
    derive(state, i - n, parts.end, target.name, expression, `"${quote(state, i - n, i)}" is the target column ${target.name}; the words after "from" name ${parts.columns.join(', ')}`);
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

/** "email lowercased", "lowercase the email", "uppercased names": lower()/upper() of a column kept in both tables. */
async function readCaseChange(state: ReadState, i: number): Promise<void> {
  const w = wordAt(state, i)!;
  const fn = /^lower/.test(w) ? 'lower' : 'upper';
  const item = state.items[itemAt(state, i)]!;
  const after = /^(lowercase|uppercase)$/.test(w);
  let at = after ? i + 1 : i - 1;
  if (after && wordAt(state, at) === 'the') at++;
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

/** "full_name = first_name || ' ' || last_name": an expression written out for a target column. */
async function readWrittenDerivation(state: ReadState, i: number): Promise<void> {
  const item = state.items[itemAt(state, i)]!;
  const name = wordAt(state, i);
  const target = name && targetColumn(item.target!, [name]);
  if (!target || item.source.columns.some((c) => c.name === target.name) || state.tokens[i + 1]?.text !== '=') return;
  let end = i + 2;
  while (end < state.tokens.length && isFree(state, end) && !(state.tokens[end]!.text === ',' || state.tokens[end]!.text === ';')) end++;
  const text = state.text.slice(state.tokens[i + 2]!.start, state.tokens[end - 1]!.end);
  const expression = await checked(text, item.source);
  if (!expression) return;
  const from = wordAt(state, i - 1) === 'with' ? i - 1 : i;
  derive(state, from, end, target.name, expression, 'written in the column language');
}

/** "map Supervisor to remote", "map 'Remote Technician' to remote": a value override, as --map gives. */
function readValueMap(state: ReadState, i: number): void {
  let to = i + 1;
  while (to < state.tokens.length && isFree(state, to) && state.tokens[to]!.lower !== 'to' && to - i <= 5) to++;
  if (state.tokens[to]?.lower !== 'to' || to === i + 1) return;
  const enumValue = state.tokens[to + 1];
  if (!enumValue || !isFree(state, to + 1) || (enumValue.kind !== 'word' && enumValue.kind !== 'string')) return;
  const item = state.items[itemAt(state, i)]!;
  const enums = state.analysis.target.enums.filter((e) => item.target!.columns.some((c) => c.enumType === `${e.schema}.${e.name}`));
  if (!enums.some((e) => e.values.includes(enumValue.value))) return;
  const source = to === i + 2 && state.tokens[i + 1]!.kind === 'string' ? state.tokens[i + 1]!.value : quote(state, i + 1, to);
  const from = /^(but|,)$/.test(state.tokens[i - 1]?.lower ?? '') && isFree(state, i - 1) ? i - 1 : i;
  claim(state, from, to + 2, { kind: 'value_override', item: itemAt(state, i), source, target: enumValue.value }, `"${enumValue.value}" is a value of ${item.target!.name}'s enum`);
}

/** Instructions become the overrides a reviewer gives: value maps and column derivations. */
export async function readInstructions(state: ReadState): Promise<void> {
  for (let i = 0; i < state.tokens.length; i++) {
    if (!isFree(state, i)) continue;
    const w = state.tokens[i]!.lower;
    if (w === 'map') readValueMap(state, i);
    else if (w === 'from') await readFromDerivations(state, i);
    else if (/^(lowercased|uppercased|lowercase|uppercase)$/.test(w)) await readCaseChange(state, i);
    else if (state.tokens[i + 1]?.text === '=') await readWrittenDerivation(state, i);
  }
}
