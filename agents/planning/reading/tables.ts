import type { DatabaseAnalysis, TableInfo } from '../../../src/core/artifacts/schema-analysis.js';
import { InputError, NotFoundError } from '../../../src/core/errors.js';
import { closestNames } from '../../schema-analysis/names.js';
import { singular } from '../words.js';
import { claim, isFree, normName, quote, tableName, type ReadState } from './state.js';
import { FILLER, MOVE_VERBS, NEGATIONS, type Token } from './tokens.js';
import { EXAMPLE_DESCRIPTION } from '../intent.js';

type Role = 'source' | 'target';
interface Mention {
  from: number;
  to: number;
  role: Role | null;
  /** The marker that gave the role: "follows 'from'". */
  why: string;
  sources: TableInfo[];
  targets: TableInfo[];
}

const SOURCE_MARKERS = new Set(['from', 'von', 'aus', 'de', 'desde']);
const TARGET_MARKERS = new Set(['into', 'to', 'nach', 'a', 'in', 'zu', 'hacia', 'en']);
const ARROWS = new Set(['->', '→', '=>']);
/** Words between a marker and the table it marks: "aus der alten Tabelle x", "a la tabla nueva y". */
const NAME_FILLER = new Set([
  'the', 'table', 'legacy', 'old', 'new', 'existing',
  'die', 'der', 'den', 'dem', 'tabelle', 'alte', 'alten', 'alter', 'neue', 'neuen', 'neuer', 'bestehende', 'bestehenden',
  'el', 'la', 'los', 'las', 'tabla', 'antigua', 'antiguo', 'vieja', 'viejo', 'nueva', 'nuevo',
]);
/** Markers that also start a value phrase ("in group 11", "a site 2"): a name after them with a value after it is a column word. */
const WEAK = new Set(['a', 'in', 'zu', 'en', 'to']);
/** Strong markers: a name after them that is no table is refused, naming it (weak "to" may be "to migrate"). */
const STRONG = new Set(['from', 'into', 'nach', 'von', '->', '→', '=>']);

function tablesNamed(db: DatabaseAnalysis, words: string[]): TableInfo[] {
  const raw = words.join('_').toLowerCase();
  const dot = raw.indexOf('.');
  if (dot > 0) return db.tables.filter((t) => `${t.schema}.${t.name}`.toLowerCase() === raw);
  const exact = db.tables.filter((t) => t.name.toLowerCase() === raw);
  if (exact.length) return exact;
  const norm = normName(words);
  return db.tables.filter((t) => normName([t.name]) === norm);
}

/** Whether the word after a noun phrase is a value, making the phrase a column word ("customer 4", "genre Rock"). */
function valueFollows(tokens: Token[], i: number): boolean {
  const t = tokens[i];
  if (!t) return false;
  return t.kind === 'number' || t.kind === 'string' || (t.kind === 'word' && /^\p{Lu}/u.test(t.text) && !t.text.includes('_'));
}

function isColumnName(state: ReadState, name: string): boolean {
  return state.analysis.source.tables.some((t) => t.columns.some((c) => c.name.toLowerCase() === name));
}

/** The word before token i, skipping articles. */
function wordBefore(tokens: Token[], i: number): string {
  let j = i - 1;
  while (j >= 0 && /^(a|an|the|any)$/.test(tokens[j]!.lower)) j--;
  return tokens[j]?.lower ?? '';
}

function markerBefore(state: ReadState, i: number): { role: Role | null; marker: string | null } {
  let j = i - 1;
  while (j >= 0 && state.tokens[j]!.kind === 'word' && NAME_FILLER.has(state.tokens[j]!.lower)) j--;
  const m = state.tokens[j]?.lower;
  if (m !== undefined && SOURCE_MARKERS.has(m)) return { role: 'source', marker: m };
  if (m !== undefined && (TARGET_MARKERS.has(m) || ARROWS.has(m))) return { role: 'target', marker: m };
  return { role: null, marker: null };
}

/**
 * A double-quoted name is an identifier, as in SQL: it names a table spelled exactly so, whatever
 * characters it holds ("../x", "Order Lines"), where the word reader would cut it apart.
 */
function quotedTableMention(state: ReadState, i: number): Mention | null {
  const tok = state.tokens[i]!;
  if (tok.kind !== 'string' || !tok.text.startsWith('"') || state.claimed[i]) return null;
  const sources = state.analysis.source.tables.filter((t) => t.name === tok.value);
  const targets = state.analysis.target.tables.filter((t) => t.name === tok.value);
  if (!sources.length && !targets.length) return null;
  const { role, marker } = markerBefore(state, i);
  return { from: i, to: i + 1, role, why: marker ? `follows "${marker}"` : 'names the table', sources, targets };
}

/** Noun phrases naming tables, longest first, with the role their marker gives. */
function findMentions(state: ReadState): Mention[] {
  const { tokens, analysis } = state;
  const mentions: Mention[] = [];
  for (let i = 0; i < tokens.length; i++) {
    const quoted = quotedTableMention(state, i);
    if (quoted) {
      mentions.push(quoted);
      continue;
    }
    if (tokens[i]!.kind !== 'word' || NAME_FILLER.has(tokens[i]!.lower) || state.claimed[i]) continue;
    for (let n = Math.min(3, tokens.length - i); n >= 1; n--) {
      const words = tokens.slice(i, i + n);
      if (words.some((t) => t.kind !== 'word') || state.claimed.slice(i, i + n).some(Boolean)) continue;
      const names = words.map((t) => t.lower);
      const sources = tablesNamed(analysis.source, names);
      const targets = tablesNamed(analysis.target, names);
      if (!sources.length && !targets.length) continue;
      const { role, marker } = markerBefore(state, i);
      // "of customer 1", "the Jazz genre", "the ones in genre 3": a column word with its value, not a table.
      const exceptValue = /^(but|except|außer|ausser|excepto|salvo|menos)$/.test(tokens[i + n]?.lower ?? '') && tokens[i + n + 1]?.kind === 'number';
      if ((!marker || (WEAK.has(marker) && tokens[i + n]?.kind === 'number')) && (valueFollows(tokens, i + n) || exceptValue || (i > 1 && valueFollows(tokens, i - 1) && tokens[i - 1]!.kind !== 'number' && !FILLER.has(tokens[i - 1]!.lower)))) continue;
      // "invoice date" is a column, "without a doctor" a null test: not table mentions.
      if (!marker && tokens[i + n]?.kind === 'word' && isColumnName(state, `${names.join('_')}_${tokens[i + n]!.lower}`)) continue;
      if (/^(with|without|has|have|having|missing|no)$/.test(wordBefore(tokens, i))) continue;
      // A weak marker ("a", "in", "to") before a phrase that names no table of its role gives no role.
      if (role && !STRONG.has(marker!) && (role === 'source' ? sources : targets).length === 0) {
        if (sources.length === 0 || /^(a|in|zu)$/.test(marker!)) continue;
      }
      const arrowAfter = ARROWS.has(tokens[i + n]?.lower ?? '');
      mentions.push({ from: i, to: i + n, role: arrowAfter ? 'source' : role, why: marker ? `follows "${marker}"` : arrowAfter ? 'comes before the arrow' : 'names the table', sources, targets });
      i += n - 1;
      break;
    }
  }
  return mentions;
}

function notFound(state: ReadState, from: number, to: number, role: Role, why: string): never {
  const words = quote(state, from, to);
  const db = role === 'source' ? state.analysis.source : state.analysis.target;
  const closest = closestNames(words, db.tables.map(tableName));
  if (why.startsWith('follows "') && !/[_\d.]/.test(words) && MOVE_VERBS.has(why.slice(9, -1).toLowerCase())) {
    // A plain word after the verb ("move the stuff over") may not be meant as a table at all.
    throw new InputError('DESCRIPTION_NOT_UNDERSTOOD', `read "${words}" as the source table because it ${why}, but the source database has no table "${words}"; closest: ${closest.join(', ')}`, {
      hint: `name the tables, e.g. "${EXAMPLE_DESCRIPTION}" (or set ANTHROPIC_API_KEY to let Claude read free-form descriptions)`,
      details: { role, words, suggestions: closest },
    });
  }
  throw new NotFoundError('TABLE_NOT_FOUND', `read "${words}" as the ${role} table because it ${why}, but the ${role} database has no table "${words}"; closest: ${closest.join(', ')}`, {
    hint: `name a ${role} table that exists, e.g. "${role === 'source' ? 'from' : 'into'} ${closest[0] ?? 'my_table'}"`,
    details: { role, words, suggestions: closest },
  });
}

/** A name after a strong marker that is no table: refused, naming the words and the closest tables. */
function checkStrongMarkers(state: ReadState, mentions: Mention[]): void {
  const { tokens } = state;
  tokens.forEach((t, i) => {
    // "employees, then suppliers": what follows "then" in a list of tables is a table.
    if (t.lower === 'then' && mentions.some((m) => m.to <= i)) {
      let j = i + 1;
      while (tokens[j]?.kind === 'word' && NAME_FILLER.has(tokens[j]!.lower)) j++;
      const next = tokens[j];
      const known = next && (FILLER.has(next.lower) || NEGATIONS.has(next.lower) || /^(map|keep|skip|set|lowercase|uppercase|rename|validate|run|approve|only)$/.test(next.lower));
      if (next?.kind === 'word' && !known && !mentions.some((m) => m.from <= j && j < m.to)) notFound(state, j, j + 1, 'source', 'follows "then" in a list of tables');
    }
    if (!STRONG.has(t.lower)) return;
    let j = i + 1;
    while (tokens[j]?.kind === 'word' && NAME_FILLER.has(tokens[j]!.lower)) j++;
    const next = tokens[j];
    if (!next || next.kind !== 'word' || mentions.some((m) => m.from <= j && j < m.to)) return;
    const role: Role = SOURCE_MARKERS.has(t.lower) ? 'source' : 'target';
    const looksLikeName = /[_\d]/.test(next.text) || (role === 'target' && t.lower !== 'nach');
    // "rental_rate → rental_price": a column's new name (instructions.ts reads it), not a table.
    const isColumn = [state.analysis.source, state.analysis.target].some((db) => db.tables.some((tb) => tb.columns.some((c) => c.name.toLowerCase() === next.lower)));
    if (looksLikeName && !isColumn && !/^(before|after|since|the|first|last)$/.test(next.lower)) notFound(state, j, j + 1, role, `follows "${t.text}"`);
  });
}

function one(state: ReadState, m: Mention, role: Role): TableInfo {
  const list = role === 'source' ? m.sources : m.targets;
  if (list.length === 1) return list[0]!;
  if (list.length === 0) notFound(state, m.from, m.to, role, m.why);
  throw new InputError('TABLE_AMBIGUOUS', `"${quote(state, m.from, m.to)}" names several ${role} tables: ${list.map(tableName).join(', ')}`, {
    hint: 'qualify it with its schema (schema.table)',
    details: { role, candidates: list.map(tableName) },
  });
}

interface Draft {
  source: TableInfo;
  target?: TableInfo;
  at: number;
  spans: Array<{ m: Mention; role: Role; table: TableInfo }>;
}

/** The pairs the mentions make: each source starts one; a target mention goes to the pair before it. */
function pairUp(state: ReadState, mentions: Mention[]): { drafts: Draft[]; leading: Array<{ m: Mention; table: TableInfo }> } {
  const drafts: Draft[] = [];
  const leading: Array<{ m: Mention; table: TableInfo }> = [];
  for (const m of mentions) {
    const role: Role = m.role ?? (m.sources.length ? 'source' : 'target');
    const table = one(state, m, role);
    if (role === 'source') {
      const same = drafts.find((d) => d.source === table);
      if (same) same.spans.push({ m, role, table });
      else drafts.push({ source: table, at: m.from, spans: [{ m, role, table }] });
      continue;
    }
    const last = drafts[drafts.length - 1];
    if (!last) leading.push({ m, table });
    else if (!last.target || last.target === table) {
      last.target = table;
      last.spans.push({ m, role, table });
    } else if (drafts.some((d) => d.target === table)) drafts.find((d) => d.target === table)!.spans.push({ m, role, table });
    else throw conflict(state, m, last);
  }
  return { drafts, leading };
}

function conflict(state: ReadState, m: Mention, d: Draft): InputError {
  return new InputError('DESCRIPTION_CONFLICT', `"${quote(state, m.from, m.to)}" names target ${tableName(one(state, m, 'target'))}, but ${tableName(d.source)} already goes into ${tableName(d.target!)}`, {
    hint: 'name one target per source table ("<source> into <target>, then <source> into <target>")',
  });
}

function bySubject(state: ReadState, d: Draft): TableInfo {
  const norm = normName([d.source.name]);
  const hits = state.analysis.target.tables.filter((t) => normName([t.name]) === norm);
  if (hits.length === 1) return hits[0]!;
  const words = quote(state, d.spans[0]!.m.from, d.spans[0]!.m.to);
  const closest = closestNames(d.source.name, state.analysis.target.tables.map(tableName));
  throw new InputError('TARGET_NOT_NAMED', `read "${words}" as the source table ${tableName(d.source)}, but no target table is named for it and none is called like it${hits.length > 1 ? ` (several are: ${hits.map(tableName).join(', ')})` : ''}`, {
    hint: `say where it goes: "${words} into ${closest[0] ?? '<table>'}"${closest.length ? ` (closest target tables: ${closest.join(', ')})` : ''}`,
    details: { source: tableName(d.source), suggestions: closest },
  });
}

/** The word a description moves when it names no table ("Move the workers …"): refused, naming it. */
function noSource(state: ReadState, leading: Array<{ m: Mention; table: TableInfo }>): never {
  const { tokens } = state;
  const verb = tokens.findIndex((t) => MOVE_VERBS.has(t.lower));
  let j = verb + 1;
  while (tokens[j]?.kind === 'word' && (NAME_FILLER.has(tokens[j]!.lower) || ['all', 'alle', 'todos'].includes(tokens[j]!.lower))) j++;
  const word = verb >= 0 && tokens[j]?.kind === 'word' ? tokens[j]! : undefined;
  if (word && !leading.some((l) => l.m.from <= j && j < l.m.to)) notFound(state, j, j + 1, 'source', `follows "${tokens[verb]!.text}"`);
  if (leading.length > 0) {
    const l = leading[0]!;
    throw new InputError('SOURCE_NOT_NAMED', `read "${quote(state, l.m.from, l.m.to)}" as the target table ${tableName(l.table)} (it ${l.m.why}), but no source table is named: say "from <table>"`, {
      hint: `say where the rows come from: "from <table> into ${tableName(l.table)}" (source tables: ${state.analysis.source.tables.map(tableName).slice(0, 8).join(', ')})`,
    });
  }
  if (word) notFound(state, j, j + 1, 'source', `follows "${tokens[verb]!.text}"`);
  if (tokens.length === 0) {
    throw new InputError('DESCRIPTION_EMPTY', 'the migration description is empty', { hint: 'describe the move, e.g. "Migrate the roles of group 11 from dispatch_role into technician_roles"' });
  }
  throw new InputError('DESCRIPTION_NOT_UNDERSTOOD', `no source table is named in "${state.text}"`, {
    hint: 'name the table to move, e.g. "from <table> into <table>"',
    details: { tables: state.analysis.source.tables.map(tableName) },
  });
}

/**
 * "(support reps: employee became staff_members)": which legacy table a target table was made
 * from, said to resolve references; not a table this description moves.
 */
function readParentPairs(state: ReadState): void {
  const { tokens } = state;
  tokens.forEach((t, i) => {
    if (!/^(became|becomes)$/.test(t.lower) || tokens[i - 1]?.kind !== 'word' || tokens[i + 1]?.kind !== 'word') return;
    const src = tablesNamed(state.analysis.source, [tokens[i - 1]!.lower]);
    const tgt = tablesNamed(state.analysis.target, [tokens[i + 1]!.lower]);
    if (src.length !== 1 || tgt.length !== 1) return;
    let from = i - 1;
    if (tokens[from - 1]?.text === ':') {
      from -= 2;
      while (from > 0 && tokens[from - 1]!.kind === 'word' && tokens[from - 1]!.text !== '(' && i - from < 5 && !/^(into|from|to)$/.test(tokens[from - 1]!.lower)) from--;
    }
    claim(state, from, i + 2, { kind: 'parent_pair', source: tableName(src[0]!), target: tableName(tgt[0]!) }, 'names which legacy table a referenced target table was made from');
  });
}

/** Reads the table pairs: claims their words, fills state.items in the order written. */
export function readTables(state: ReadState): void {
  readParentPairs(state);
  const mentions = findMentions(state);
  checkStrongMarkers(state, mentions);
  const { drafts, leading } = pairUp(state, mentions);
  if (drafts.length === 0) noSource(state, leading);
  const first = drafts[0]!;
  for (const l of leading) {
    if (first.target && first.target !== l.table) throw conflict(state, l.m, first);
    first.target = l.table;
    first.spans.push({ m: l.m, role: 'target', table: l.table });
  }
  drafts.forEach((d, item) => {
    const named = d.target !== undefined;
    d.target ??= bySubject(state, d);
    for (const s of d.spans) {
      claim(state, s.m.from, s.m.to, { kind: s.role === 'source' ? 'source_table' : 'target_table', item, table: tableName(s.table) }, s.m.why);
    }
    state.items.push({ source: d.source, target: d.target, at: d.at });
    if (!named) state.spans[state.spans.length - 1]!.evidence += `; target ${tableName(d.target)} by the same name`;
  });
}

/** Leftover words of a pair's own table names ("roles" of dispatch_role): mentions, not meaning. */
export function readSubjectWords(state: ReadState): void {
  const words = new Map<string, number>();
  state.items.forEach((it, k) => {
    for (const t of [it.source, it.target!]) for (const w of normName([t.name]).split('_')) if (!words.has(w)) words.set(w, k);
  });
  state.tokens.forEach((t, i) => {
    if (!isFree(state, i) || t.kind !== 'word') return;
    const parts = t.lower.split('-').map((p) => singular(englishName(p)));
    if (parts.every((p) => words.has(p))) {
      const item = words.get(parts[0]!)!;
      claim(state, i, i + 1, { kind: 'source_table', item, table: tableName(state.items[item]!.source) }, 'a word of the table names');
    }
  });
}

const NAME_WORDS: Record<string, string> = { techniker: 'technician', rollen: 'role', rolle: 'role' };
const englishName = (w: string): string => NAME_WORDS[w] ?? w;
