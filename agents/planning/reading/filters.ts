import type { ColumnInfo, FilterCondition, TableInfo } from '../../../src/core/artifacts/schema-analysis.js';
import { NotFoundError } from '../../../src/core/errors.js';
import { closestNames } from '../../schema-analysis/names.js';
import { claim, columnAfter, columnFor, isFree, itemAt, quote, type ReadState } from './state.js';
import { english } from './tokens.js';
import { conditionsFor, isNumeric, negationAfter, negationBefore, resolveValue, showConditions, valueList, valueToken, type ReadValue } from './values.js';

function addFilter(state: ReadState, from: number, to: number, conditions: FilterCondition[], shown: string, evidence: string): void {
  claim(state, from, to, { kind: 'filter', item: itemAt(state, from), conditions, shown }, evidence);
}

const tableAt = (state: ReadState, i: number): TableInfo => state.items[itemAt(state, i)]!.source;

/**
 * "group 11", "groups 11 and 12", "except for group 12", "the Logistics group", "site
 * Riverside", "groups other than 10": a column word with values, negated by the words before.
 */
export async function readValuePhrases(state: ReadState): Promise<void> {
  for (let i = 0; i < state.tokens.length; i++) {
    if (!isFree(state, i)) continue;
    if (state.tokens[i]!.kind !== 'word') {
      await labelBeforeColumn(state, i);
      continue;
    }
    const table = tableAt(state, i);
    const hit = columnAfter(state, table, i);
    if (hit) {
      const [end, col] = hit;
      const [at, other] = exceptAfterColumn(state, end);
      const list = valueList(state, at);
      if (list.tokens.length > 0) {
        const { start, negated } = negationBefore(state, i);
        const after = negationAfter(state, list.end);
        if (negated && (other || after >= 0)) {
          i = list.end - 1; // "not all groups but 10": a double negation, left unread for a person
          continue;
        }
        const to = after >= 0 ? after : list.end;
        await addValues(state, { table, col, from: start, to, list: list.tokens, firstAt: at, negated: negated || other || after >= 0 });
        i = to - 1;
        continue;
      }
    }
    await labelBeforeColumn(state, i);
  }
}

/** "groups other than 10", "all branches but 3", "Gruppen außer 10": a negation between the column word and its values; [values' index, negated]. */
function exceptAfterColumn(state: ReadState, at: number): [number, boolean] {
  const w = (k: number) => (isFree(state, at + k) ? state.tokens[at + k]!.lower : undefined);
  if (w(0) === 'other' && w(1) === 'than') return [at + 2, true];
  if (w(0) === 'except' && w(1) === 'for') return [at + 2, true];
  if (w(0) !== undefined && /^(but|except|außer|ausser|excepto|salvo|menos)$/.test(w(0)!) && valueToken(state.tokens[at + 1])) return [at + 1, true];
  return [at, false];
}

/** "the Logistics group", "the 'North Clinic' site": the label before the column word. */
async function labelBeforeColumn(state: ReadState, i: number): Promise<void> {
  const t = state.tokens[i]!;
  if (!valueToken(t) || t.kind === 'number' || !isFree(state, i + 1)) return;
  const table = tableAt(state, i);
  const hit = columnAfter(state, table, i + 1);
  if (!hit || !table.foreignKeys.some((f) => f.columns[0] === hit[1].name)) return;
  const { start, negated } = negationBefore(state, i);
  await addValues(state, { table, col: hit[1], from: start, to: hit[0], list: [t], firstAt: i, negated });
}

async function addValues(
  state: ReadState,
  p: { table: TableInfo; col: ColumnInfo; from: number; to: number; list: ReturnType<typeof valueList>['tokens']; firstAt: number; negated: boolean },
): Promise<void> {
  const values: ReadValue[] = [];
  for (const [k, t] of p.list.entries()) {
    const v = await resolveValue(state, p.table, p.col, t, state.tokens.indexOf(t, p.firstAt + k));
    if (!v) return;
    values.push(v);
  }
  const conditions = conditionsFor(p.col.name, values.map((v) => v.value), p.negated);
  addFilter(state, p.from, p.to, conditions, showConditions(p.col.name, values.map((v) => v.shown), p.negated), `"${quote(state, p.from, p.to)}" names ${p.col.name}`);
}

const OPS: Record<string, FilterCondition['op']> = { '=': '=', '==': '=', '<>': '<>', '!=': '<>', '<': '<', '<=': '<=', '>': '>', '>=': '>=' };

/** An identifier as written in SQL-ish text: a word or a double-quoted name. */
function identAt(state: ReadState, i: number): string | undefined {
  const t = state.tokens[i];
  if (!t || state.claimed[i]) return undefined;
  if (t.kind === 'word') return t.lower;
  if (t.kind === 'string' && t.text.startsWith('"')) return t.value;
  return undefined;
}

function literalAt(state: ReadState, i: number, col: ColumnInfo): string | number | boolean | undefined {
  const t = state.tokens[i];
  if (!t || state.claimed[i]) return undefined;
  if (t.kind === 'number') return isNumeric(col) ? Number(t.value) : t.value;
  if (t.kind === 'string' && t.text.startsWith("'")) return t.value;
  if (t.kind === 'word' && /^(true|false)$/.test(t.lower)) return t.lower === 'true';
  if (t.kind === 'word' && col.category === 'string') return t.value;
  return undefined;
}

/** One SQL-ish condition at token i: [conditions, end] or null. */
function sqlCondition(state: ReadState, table: TableInfo, i: number, strict: boolean, anchored: boolean): [FilterCondition[], number] | null {
  let j = i;
  const not = state.tokens[j]?.lower === 'not';
  if (not) j++;
  const name = identAt(state, j);
  if (name === undefined) return null;
  const multi = anchored ? columnAfter(state, table, j) : undefined;
  if (multi && multi[0] > j + 1) return comparison(state, multi[1], multi[0]);
  const col = table.columns.find((c) => c.name.toLowerCase() === name.toLowerCase()) ?? (OPS[state.tokens[j + 1]?.text ?? ''] ? columnFor(table, [name]) : undefined);
  if (!col) {
    const next = state.tokens[j + 1]?.text ?? '';
    if (strict && (OPS[next] || /^(is|in|not)$/i.test(next))) unknownColumn(state, table, j);
    return null;
  }
  const next = state.tokens[j + 1];
  if (col.category === 'boolean' && anchored && (!next || !OPS[next.text])) return [[{ column: col.name, op: '=', value: !not }], j + 1];
  if (not) return null;
  return comparison(state, col, j + 1);
}

function comparison(state: ReadState, col: ColumnInfo, j: number): [FilterCondition[], number] | null {
  const op = state.tokens[j]?.text.toLowerCase() ?? '';
  if (OPS[op]) {
    const v = literalAt(state, j + 1, col);
    return v === undefined ? null : [[{ column: col.name, op: OPS[op], value: v } as FilterCondition], j + 2];
  }
  const w = (k: number) => state.tokens[j + k]?.lower;
  if (op === 'is' && w(1) === 'null') return [[{ column: col.name, op: 'is_null' }], j + 2];
  if (op === 'is' && w(1) === 'not' && w(2) === 'null') return [[{ column: col.name, op: 'is_not_null' }], j + 3];
  const negIn = op === 'not' && w(1) === 'in';
  if ((op === 'in' || negIn) && w(negIn ? 2 : 1) === '(') {
    const values: Array<string | number> = [];
    let k = j + (negIn ? 3 : 2);
    for (; state.tokens[k] && state.tokens[k]!.text !== ')'; k++) {
      if (state.tokens[k]!.text === ',') continue;
      const v = literalAt(state, k, col);
      if (v === undefined || typeof v === 'boolean') return null;
      values.push(v);
    }
    return [conditionsFor(col.name, values, negIn), k + 1];
  }
  if (op === 'is' && w(1) !== 'not') {
    const v = literalAt(state, j + 1, col);
    if (v !== undefined && (typeof v !== 'boolean' || col.category === 'boolean')) return [[{ column: col.name, op: '=', value: v } as FilterCondition], j + 2];
  }
  if (op === 'is' && (w(1) === 'true' || w(1) === 'false') && col.category === 'boolean') return [[{ column: col.name, op: '=', value: w(1) === 'true' }], j + 2];
  return null;
}

function unknownColumn(state: ReadState, table: TableInfo, j: number): never {
  const words = quote(state, j, j + 1);
  const closest = closestNames(words, table.columns.map((c) => c.name));
  throw new NotFoundError('COLUMN_NOT_FOUND', `read "${words}" as a column of ${table.name} because a comparison follows it, but ${table.name} has no column "${words}"; closest: ${closest.join(', ')}`, {
    hint: `filter on an existing column, e.g. "where ${closest[0] ?? 'id'} = …"`,
    details: { table: table.name, column: words, suggestions: closest },
  });
}

/** "where a = 1 and b is null", "or" between values of one column (→ IN); also bare "group_id = 11". */
export function readSqlConditions(state: ReadState): void {
  for (let i = 0; i < state.tokens.length; i++) {
    if (!isFree(state, i)) continue;
    const anchor = /^(where|wo|donde|whose|with)$/.test(state.tokens[i]!.lower);
    const table = tableAt(state, i);
    const first = sqlCondition(state, table, anchor ? i + 1 : i, anchor && state.tokens[i]!.lower !== 'with', anchor);
    if (!first) continue;
    const conds = [...first[0]];
    let end = first[1];
    for (;;) {
      const joiner = english(state.tokens[end]?.lower ?? '');
      if (joiner !== 'and' && joiner !== 'or') break;
      const more = sqlCondition(state, table, end + 1, false, anchor);
      if (!more) break;
      if (joiner === 'or' && !mergeOr(conds, more[0])) break;
      if (joiner === 'and') conds.push(...more[0]);
      end = more[1];
    }
    addFilter(state, i, end, conds, conds.map(showCondition).join(' AND '), 'written as a condition');
    i = end - 1;
  }
}

/** "a = 1 or a = 2" → a IN (1, 2); anything else with "or" is left unread. */
function mergeOr(conds: FilterCondition[], more: FilterCondition[]): boolean {
  const last = conds[conds.length - 1];
  const next = more[0];
  if (!last || !next || more.length !== 1 || last.column !== next.column) return false;
  const vals = (c: FilterCondition): Array<string | number> | null => (c.op === 'in' ? c.value : c.op === '=' && 'value' in c && typeof c.value !== 'boolean' ? [c.value] : null);
  const a = vals(last);
  const b = vals(next);
  if (!a || !b) return false;
  conds[conds.length - 1] = { column: last.column, op: 'in', value: [...a, ...b] };
  return true;
}

export function showCondition(c: FilterCondition): string {
  if (c.op === 'is_null') return `${c.column} IS NULL`;
  if (c.op === 'is_not_null') return `${c.column} IS NOT NULL`;
  if (c.op === 'in') return `${c.column} IN (${c.value.map((v) => (typeof v === 'string' ? `'${v}'` : v)).join(', ')})`;
  if (!('value' in c)) return c.column;
  return `${c.column} ${c.op} ${typeof c.value === 'string' ? `'${c.value}'` : String(c.value)}`;
}
