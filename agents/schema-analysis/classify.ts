import type { ColumnInfo, ForeignKeyInfo, TableClassification, ValueProfile } from '../../src/core/artifacts/schema-analysis.js';

/**
 * Catalog/reference vs transactional from generic signals only: size, who references whom,
 * time columns, amounts, key width, name-like columns. Each signal carries a weight and a
 * reason in words; the kind is decided only when one side clearly outweighs the other.
 */

export interface ClassificationInput {
  schema: string;
  name: string;
  columns: readonly ColumnInfo[];
  primaryKey: readonly string[];
  foreignKeys: readonly ForeignKeyInfo[];
  rowCount: number;
  rowCountExact: boolean;
  profiles: readonly ValueProfile[];
  /** Foreign keys of other tables that point at this one, as `schema.table.(cols)`. */
  referencedBy: readonly string[];
}

/** Up to this many rows a table is small enough to be a list someone maintains by hand. */
export const SMALL_TABLE_ROWS = 1_000;
export const MEDIUM_TABLE_ROWS = 10_000;
export const LARGE_TABLE_ROWS = 100_000;
/** Referencing this many distinct tables makes a row look like an event tying things together. */
const MANY_REFERENCES = 3;
/** The side that wins must lead by this much; otherwise the signals disagree. */
const DECISIVE_MARGIN = 2;

const NAME_LIKE = /(^|_)(name|title|label|code|abbrev|abbreviation|description|descr|slug|caption|display_name)($|_)/i;
const AMOUNT_LIKE = /(^|_)(amount|amt|price|total|cost|qty|quantity|balance|fee|tax|subtotal)($|_)/i;
const TIME_LIKE = /(^|_)(created|updated|modified|deleted|inserted|changed)(_at|_on|_date|_time)?$|_(at|on)$/i;

interface Signal {
  side: 'catalog' | 'transactional';
  weight: number;
  reason: string;
}

const plural = (n: number, word: string) => `${n} ${word}${n === 1 ? '' : 's'}`;

export function classifyTable(t: ClassificationInput): TableClassification {
  const signals: Signal[] = [];
  const catalog = (weight: number, reason: string) => signals.push({ side: 'catalog', weight, reason });
  const transactional = (weight: number, reason: string) => signals.push({ side: 'transactional', weight, reason });
  const approx = t.rowCountExact ? '' : 'about ';

  if (t.rowCount <= SMALL_TABLE_ROWS) catalog(1, `small: ${approx}${plural(t.rowCount, 'row')}`);
  else if (t.rowCount >= LARGE_TABLE_ROWS) transactional(2, `large: ${approx}${plural(t.rowCount, 'row')}`);
  else if (t.rowCount >= MEDIUM_TABLE_ROWS) transactional(1, `sizeable: ${approx}${plural(t.rowCount, 'row')}`);

  if (t.referencedBy.length > 0) {
    const shown = t.referencedBy.slice(0, 3).join(', ');
    const more = t.referencedBy.length > 3 ? ` and ${t.referencedBy.length - 3} more` : '';
    catalog(1, `referenced by ${plural(t.referencedBy.length, 'foreign key')} of other tables (${shown}${more})`);
  }

  const timeColumns = t.columns.filter(
    (c) => c.category === 'timestamp' || ((c.category === 'date' || c.category === 'time') && TIME_LIKE.test(c.name)),
  );
  const dateColumns = t.columns.filter((c) => c.category === 'date' && !timeColumns.includes(c));
  if (timeColumns.length > 0) {
    transactional(1, `records when things happen: ${timeColumns.map((c) => `${c.name} (${c.pgType})`).join(', ')}`);
  } else if (dateColumns.length === 0) {
    catalog(1, 'no timestamp or date columns');
  }

  const amounts = t.columns.filter(
    (c) => c.category === 'numeric' || c.category === 'float' || ((c.category === 'integer' || c.category === 'bigint') && AMOUNT_LIKE.test(c.name)),
  );
  if (amounts.length > 0) transactional(1, `numeric amount columns: ${amounts.map((c) => c.name).join(', ')}`);

  const referenced = new Set(t.foreignKeys.map((f) => `${f.refSchema}.${f.refTable}`));
  referenced.delete(`${t.schema}.${t.name}`);
  if (referenced.size >= MANY_REFERENCES) transactional(1, `references ${referenced.size} other tables (${[...referenced].join(', ')})`);

  const pk = t.primaryKey.length === 1 ? t.columns.find((c) => c.name === t.primaryKey[0]) : undefined;
  if (pk?.category === 'bigint') transactional(1, `bigint primary key (${pk.name}): sized for many rows`);

  const nameLike = t.columns.filter((c) => c.category === 'string' && NAME_LIKE.test(c.name));
  if (nameLike.length > 0) {
    const described = nameLike.map((c) => {
      const p = t.profiles.find((x) => x.column === c.name);
      return p ? `${c.name} (${plural(p.distinctCount, 'distinct value')})` : c.name;
    });
    catalog(1, `name-like text columns: ${described.join(', ')}`);
  }

  const score = (side: Signal['side']) => signals.filter((s) => s.side === side).reduce((a, s) => a + s.weight, 0);
  const c = score('catalog');
  const x = score('transactional');
  const reasons = signals.map((s) => `${s.side} signal: ${s.reason}`);
  if (c - x >= DECISIVE_MARGIN) {
    return { kind: 'catalog', reasons: [...reasons, `catalog/reference data: catalog signals outweigh transactional ones ${c} to ${x}`] };
  }
  if (x - c >= DECISIVE_MARGIN) {
    return { kind: 'transactional', reasons: [...reasons, `transactional data: transactional signals outweigh catalog ones ${x} to ${c}`] };
  }
  return { kind: 'unknown', reasons: [...reasons, `signals disagree (catalog ${c}, transactional ${x}): treat as unknown`] };
}
