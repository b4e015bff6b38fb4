import type { ColumnMapping, EnumMapping, PlanFilter } from '../../src/core/artifacts/migration-plan.js';
import { findEnum, findTable, type ColumnInfo, type SchemaAnalysis, type TableInfo } from '../../src/core/artifacts/schema-analysis.js';
import { ExprError, expressionOrigin, type ExpressionOriginValue, type Typed } from '../../src/core/expr/index.js';
import { unambiguousByWords, type EnumRuleContext } from './enum-rules.js';
import { enumNoise, expressionEnumMapping } from './expression.js';
import type { PlanProbe } from './probe.js';
import { singular, tokens } from './words.js';

/** Words that only say "a point in time": hired_on and hire_date both mean "hire". */
const TIME_WORDS = new Set(['date', 'at', 'on', 'time', 'timestamp', 'ts', 'dt', 'day', 'when']);

function subject(name: string): string[] {
  return tokens(name).filter((w) => !TIME_WORDS.has(w));
}

/** Same words once the time words are set aside, each one a prefix of the other (hired / hire). */
function similarTimeName(a: string, b: string): boolean {
  const x = subject(a);
  const y = subject(b);
  if (x.length === 0 || x.length !== y.length) return false;
  return x.every((w, i) => {
    const v = y[i]!;
    return Math.min(w.length, v.length) >= 3 && (w.startsWith(v) || v.startsWith(w));
  });
}

const ident = (name: string): string => (/^[a-z_][a-z0-9_]*$/.test(name) ? name : `"${name.replace(/"/g, '""')}"`);

/**
 * A rule that proposes a column-language expression where the evidence is plain: a date
 * column with no source column of its name, and exactly one timestamp of a similar name
 * (`hired_on` ← `hire_date::date`). Without a time zone the day is the timestamp's own:
 * mapped. With one, the day depends on the zone it is read in (UTC here): the proposal is
 * pre-filled and needs a person.
 */
export async function proposeDateFromTimestamp(
  col: ColumnInfo,
  source: TableInfo,
  used: ReadonlySet<string>,
  analysis: SchemaAnalysis,
): Promise<Omit<ColumnMapping, 'target' | 'targetType'> | null> {
  if (col.category !== 'date') return null;
  const candidates = source.columns.filter((s) => !used.has(s.name) && s.category === 'timestamp' && similarTimeName(col.name, s.name));
  if (candidates.length !== 1) return null;
  const s = candidates[0]!;
  const text = `${ident(s.name)}::date`;
  const origin = await expressionOrigin(text, { source: analysis.source, table: { schema: source.schema, name: source.name }, target: col });
  if (/with time zone/.test(s.pgType)) {
    return {
      origin,
      reason: `proposed ${text}: ${s.name} (${s.pgType}) has a similar name, but its day depends on the time zone (this takes UTC's); accept with ferry approve <plan> --column ${col.name}="${text}"`,
      confidence: 0.5,
      status: 'needs_review',
    };
  }
  return { origin, reason: `${text}: the day of ${s.name} (${s.pgType}), a timestamp of a similar name (rule: date from timestamp)`, confidence: 0.8, status: 'mapped' };
}

/** The parts of a person's name, by the words a column is named with (first_name, FirstName, given, forename, surname…). */
const NAME_PARTS = {
  first: new Set(['first_name', 'firstname', 'first', 'given_name', 'givenname', 'given', 'forename', 'fname', 'first_nm']),
  middle: new Set(['middle_name', 'middlename', 'middle', 'middle_initial', 'mname']),
  last: new Set(['last_name', 'lastname', 'last', 'family_name', 'familyname', 'family', 'surname', 'lname', 'last_nm']),
} as const;
type NamePart = keyof typeof NAME_PARTS;

/** Target names that say "a person's whole name": full_name, display_name, name (once the table's own words are set aside). */
const WHOLE_NAME = new Set(['name', 'full_name', 'fullname', 'display_name', 'displayname', 'complete_name', 'person_name', 'legal_name', 'contact_name']);

/** A column's words with the table's subject words set aside (customer_first_name in customers → first_name). */
function coreName(name: string, subject: ReadonlySet<string>): string {
  const all = tokens(name);
  const kept = all.filter((w) => !subject.has(singular(w)));
  return (kept.length > 0 ? kept : all).join('_');
}

function namePartOf(name: string, subject: ReadonlySet<string>): NamePart | null {
  const core = coreName(name, subject);
  for (const part of ['first', 'middle', 'last'] as const) if (NAME_PARTS[part].has(core)) return part;
  return null;
}

export interface NameRuleInput {
  col: ColumnInfo;
  source: TableInfo;
  used: ReadonlySet<string>;
  analysis: SchemaAnalysis;
  subjects: { target: ReadonlySet<string>; source: ReadonlySet<string> };
}

/**
 * A text column named for a person's whole name (full_name, display_name, name) that no source
 * column is named like, and a source with exactly one first-name and one last-name column (a
 * middle name between them when there is exactly one): the parts joined by a space. The form
 * follows NULL semantics: `a || ' ' || b` when no part can be NULL (it cannot produce NULL);
 * otherwise `concat_ws(' ', …)`, which skips NULL parts. A NOT NULL target then gets an empty
 * string where every part is NULL, which no rule can decide: the proposal is pre-filled and
 * needs review. A nullable target gets `nullif(concat_ws(…), '')`: NULL where no part is known.
 */
export async function proposeWholeName(input: NameRuleInput): Promise<Omit<ColumnMapping, 'target' | 'targetType'> | null> {
  const { col, source, used, analysis, subjects } = input;
  if (col.category !== 'string' || !WHOLE_NAME.has(coreName(col.name, subjects.target))) return null;
  const found = new Map<NamePart, ColumnInfo[]>();
  for (const s of source.columns) {
    const part = s.category === 'string' && !used.has(s.name) ? namePartOf(s.name, subjects.source) : null;
    if (part) found.set(part, [...(found.get(part) ?? []), s]);
  }
  const [first, last, middle] = [found.get('first') ?? [], found.get('last') ?? [], found.get('middle') ?? []];
  if (first.length !== 1 || last.length !== 1 || middle.length > 1) return null;
  const parts = [first[0]!, ...middle, last[0]!];
  const names = parts.map((p) => ident(p.name));
  const nullable = parts.filter((p) => p.nullable);
  const text =
    nullable.length === 0 ? names.join(" || ' ' || ") : col.nullable ? `nullif(concat_ws(' ', ${names.join(', ')}), '')` : `concat_ws(' ', ${names.join(', ')})`;
  const origin = await expressionOrigin(text, { source: analysis.source, table: { schema: source.schema, name: source.name }, target: col }).catch((e: unknown) => {
    if (e instanceof ExprError) return null; // parts of a type the language does not read (char(n)): no proposal
    throw e;
  });
  if (!origin) return null;
  const read = parts.map((p) => `${p.name} (${p.pgType}${p.nullable ? '' : ' NOT NULL'})`).join(', ');
  const fit = lengthWarning(col, parts);
  if (nullable.length === 0) {
    return { origin, reason: `${text}: ${col.name} is named for a whole name and ${read} are its parts; none can be NULL, so || cannot produce NULL (rule: name from its parts)${fit}`, confidence: 0.8, status: 'mapped' };
  }
  if (col.nullable) {
    return {
      origin,
      reason: `${text}: ${col.name} is named for a whole name and ${read} are its parts; ${nullable.map((p) => p.name).join(', ')} may be NULL, so concat_ws skips a missing part (|| would make the whole name NULL) and nullif leaves NULL where no part is known (rule: name from its parts)${fit}`,
      confidence: 0.7,
      status: 'mapped',
    };
  }
  return {
    origin,
    reason: `proposed ${text}: ${col.name} (NOT NULL) is named for a whole name and ${read} are its parts; ${nullable.map((p) => p.name).join(', ')} may be NULL: concat_ws skips a missing part and cannot produce NULL, but gives an empty string where every part is NULL (|| would give NULL, which ${col.name} refuses)${fit}; accept with ferry approve <plan> --column ${col.name}="${text}"`,
    confidence: 0.5,
    status: 'needs_review',
  };
}

/** "; longer values fail their batch" where the joined parts may not fit a varchar(n). */
function lengthWarning(col: ColumnInfo, parts: ColumnInfo[]): string {
  if (col.maxLength === null) return '';
  const lengths = parts.map((p) => p.maxLength);
  if (lengths.every((n): n is number => n !== null) && lengths.reduce((a, b) => a + b, parts.length - 1) <= col.maxLength) return '';
  return `; the joined parts may be longer than ${col.pgType}: such rows fail their batch`;
}

/**
 * How a candidate's distinct values cover an enum, by their own words (exact, or every word of
 * an enum value by stem, naming one value only): the distinct enum values reached and the rows
 * whose value reaches one. The same measure for an own column and a parent's, whatever the
 * per-value decisions (which stay as the enum rules make them, their doubts left to review).
 */
export function enumCoverage(m: EnumMapping, ctx: Pick<EnumRuleContext, 'enumValues' | 'noise'>): { labels: number; rows: number; total: number } {
  const named = m.values.map((v) => ({ count: v.count, target: v.source === null ? null : unambiguousByWords(v.source, ctx) }));
  const hit = named.filter((v) => v.target !== null);
  return { labels: new Set(hit.map((v) => v.target)).size, rows: hit.reduce((n, v) => n + v.count, 0), total: named.reduce((n, v) => n + v.count, 0) };
}

const share = (c: { rows: number; total: number }): number => (c.total === 0 ? 0 : c.rows / c.total);

/** Parent columns that name or label their row: what an enum's values are likely spelled like. */
const LABEL_COLUMN = /(^|_)(name|label|title|kind|type|category|description)$/i;

/** Hops the rule walks up legacy FKs: a grandparent's label is as far as evidence stays plain. */
const MAX_HOPS = 2;

/** Each parent label column reachable through single-column legacy FKs, as column-language text (`kind.label`, `album.genre.name`). */
function parentLabelPaths(source: TableInfo, analysis: SchemaAnalysis): Array<{ text: string; via: string }> {
  const out: Array<{ text: string; via: string }> = [];
  const walk = (table: TableInfo, path: string[], via: string[], seen: Set<string>): void => {
    if (path.length >= MAX_HOPS) return;
    for (const fk of table.foreignKeys) {
      if (fk.columns.length !== 1) continue;
      const parent = findTable(analysis.source, fk.refTable, fk.refSchema);
      const key = `${fk.refSchema}.${fk.refTable}`;
      if (!parent || seen.has(key)) continue;
      const column = fk.columns[0]!;
      const hop = ident(column.replace(/_(id|no|key|fk|ref|code)$/i, '') || column);
      const nextPath = [...path, hop];
      const nextVia = [...via, `${column} → ${key}`];
      for (const c of parent.columns) {
        if ((c.category === 'string' || c.category === 'enum') && LABEL_COLUMN.test(c.name) && !parent.primaryKey.includes(c.name)) {
          out.push({ text: [...nextPath, ident(c.name)].join('.'), via: nextVia.join(', then ') });
        }
      }
      walk(parent, nextPath, nextVia, new Set([...seen, key]));
    }
  };
  walk(source, [], [], new Set([`${source.schema}.${source.name}`]));
  return out.slice(0, 8);
}

export interface ParentEnumInput {
  col: ColumnInfo;
  enumType: string;
  source: TableInfo;
  analysis: SchemaAnalysis;
  probe: PlanProbe;
  filters: PlanFilter[];
  /** The mapping from the source's own best column, if any: the parent must do better. */
  own: EnumMapping | null;
}

/**
 * An enum column whose values the label of a parent row (through a legacy FK, up to two hops)
 * matches better than any column of the source row itself: the parent's column as an
 * expression, its distinct values (under the filter) mapped by the enum rules. Better means more
 * of the enum's values reached by rule, then more rows mapped; better on both is mapped, better
 * on one only is pre-filled for review. Returns null where no parent label does better.
 */
export async function proposeEnumFromParent(input: ParentEnumInput): Promise<{ column: Omit<ColumnMapping, 'target' | 'targetType'>; mapping: EnumMapping } | null> {
  const { col, enumType, source, analysis, probe, filters, own } = input;
  const en = findEnum(analysis.target, enumType);
  if (!en) return null;
  const words = { enumValues: en.values, noise: enumNoise(en, col.name) };
  let best: { text: string; via: string; origin: ExpressionOriginValue; mapping: EnumMapping; cover: ReturnType<typeof enumCoverage> } | null = null;
  for (const p of parentLabelPaths(source, analysis)) {
    const origin = await expressionOrigin(p.text, { source: analysis.source, table: { schema: source.schema, name: source.name }, target: col }).catch((e: unknown) => {
      if (e instanceof ExprError) return null; // a hop two keys fit, a label of a type the enum does not take: not this rule's evidence
      throw e;
    });
    if (!origin) continue;
    const mapping = await expressionEnumMapping({ expr: origin.expr as Typed, text: p.text, target: col.name, enumType }, { schema: source.schema, table: source.name, filters }, analysis, probe);
    const cover = enumCoverage(mapping, words);
    if (!best || cover.labels > best.cover.labels || (cover.labels === best.cover.labels && share(cover) > share(best.cover))) best = { ...p, origin, mapping, cover };
  }
  if (!best || best.cover.labels === 0) return null;
  const mine = own ? enumCoverage(own, words) : { labels: 0, rows: 0, total: 0 };
  const moreLabels = best.cover.labels > mine.labels;
  const moreRows = share(best.cover) > share(mine);
  if (!moreLabels && !(best.cover.labels === mine.labels && moreRows)) return null;
  const size = best.mapping.enumValues.length;
  const evidence = `the values of ${best.text} (through ${best.via}) name ${best.cover.labels}/${size} of ${enumType}'s values, in ${best.cover.rows}/${best.cover.total} rows; ${own ? `those of the best column of ${source.name} itself, ${own.sourceColumn}, name ${mine.labels}/${size}, in ${mine.rows}/${mine.total} rows` : `no column of ${source.name} itself has values to map`}`;
  if (moreLabels && share(best.cover) >= share(mine)) {
    return { column: { origin: best.origin, reason: `${evidence} (rule: enum from a parent's label)`, confidence: 0.8, status: 'mapped' }, mapping: best.mapping };
  }
  return {
    column: {
      origin: best.origin,
      reason: `proposed ${best.text}: ${evidence}, so neither is plainly better; accept with ferry approve <plan> --column ${col.name}="${best.text}"`,
      confidence: 0.5,
      status: 'needs_review',
    },
    mapping: best.mapping,
  };
}
