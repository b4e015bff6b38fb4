import type { ColumnInfo, TableInfo, TypeCategory } from '../../src/core/artifacts/schema-analysis.js';
import { levenshtein, singular, tokens } from './words.js';

/** Can a value of category `from` be written to a column of category `to`, and how? */
export function conversion(from: TypeCategory, to: TypeCategory): 'copy' | 'cast' | null {
  if (from === to) return from === 'enum' ? 'cast' : 'copy';
  const casts: Partial<Record<TypeCategory, TypeCategory[]>> = {
    integer: ['bigint', 'numeric', 'float', 'string'],
    bigint: ['numeric', 'string'],
    numeric: ['string'],
    float: ['numeric', 'string'],
    boolean: ['string'],
    uuid: ['string'],
    enum: ['string'],
    date: ['string', 'timestamp'],
    timestamp: ['string'],
    time: ['string'],
    string: ['enum'],
  };
  return casts[from]?.includes(to) ? 'cast' : null;
}

/** The words of a table name that say what it holds ("technician_roles" → technician, role). */
export function subjectWords(table: TableInfo): Set<string> {
  return new Set(tokens(table.name).map(singular));
}

export interface NameMatch {
  column: ColumnInfo;
  score: number;
  why: string;
}

/**
 * Scores a source column as the origin of a target column by name alone. Words that only
 * repeat the tables' subjects are set aside first: role_name in technician_roles matches
 * name in dispatch_role.
 */
export function nameScore(target: string, source: string, targetSubject: Set<string>, sourceSubject: Set<string>): NameMatch['score'] {
  if (target.toLowerCase() === source.toLowerCase()) return 1;
  const core = (name: string, subject: Set<string>) => {
    const all = tokens(name).map(singular);
    const kept = all.filter((w) => !subject.has(w));
    return kept.length > 0 ? kept : all;
  };
  const t = core(target, targetSubject);
  const s = core(source, sourceSubject);
  if (t.join('_') === s.join('_')) return 0.9;
  if (t.length === 1 && s.length === 1) {
    const [a, b] = [t[0]!, s[0]!];
    if (Math.min(a.length, b.length) >= 3 && (a.startsWith(b) || b.startsWith(a))) return 0.8;
    if (Math.min(a.length, b.length) >= 5 && levenshtein(a, b) <= 2) return 0.7;
  }
  return 0;
}

export function explainScore(score: number): string {
  if (score === 1) return 'same name';
  if (score >= 0.9) return 'same words once the table subjects are set aside';
  if (score >= 0.8) return 'one name abbreviates the other';
  return 'names differ by a typo-sized edit';
}

/**
 * "legacy_role_id", "old_id", "source_id", "dispatch_role_legacy_id": where the old key belongs.
 * So is a marker beside the legacy key's own name when that key is not an id: "legacy_code"
 * for a key `code`, "old_isbn" for `isbn`.
 */
export function isLegacyKeyColumn(name: string, sourceKey?: string): boolean {
  const t = tokens(name);
  const marker = ['legacy', 'old', 'source', 'orig', 'original', 'external'];
  if (t.length < 2 || !t.some((w) => marker.includes(w))) return false;
  if (t[t.length - 1] === 'id') return true;
  return sourceKey !== undefined && t.filter((w) => !marker.includes(w)).join('_') === tokens(sourceKey).join('_');
}
