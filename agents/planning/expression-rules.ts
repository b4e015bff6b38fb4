import type { ColumnMapping } from '../../src/core/artifacts/migration-plan.js';
import type { ColumnInfo, SchemaAnalysis, TableInfo } from '../../src/core/artifacts/schema-analysis.js';
import { expressionOrigin } from '../../src/core/expr/index.js';
import { tokens } from './words.js';

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
