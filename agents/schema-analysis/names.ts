import type { ColumnInfo, DatabaseAnalysis, TableInfo } from '../../src/core/artifacts/schema-analysis.js';
import { InputError, NotFoundError } from '../../src/core/errors.js';

/**
 * Name lookup for tables and columns named by a person or a model, with "did you mean"
 * suggestions, so a typo ends in an error that names the right table.
 */

export function levenshtein(a: string, b: string): number {
  if (a === b) return 0;
  let prev = Array.from({ length: b.length + 1 }, (_, j) => j);
  for (let i = 1; i <= a.length; i++) {
    const cur = [i];
    for (let j = 1; j <= b.length; j++) {
      const cost = a[i - 1] === b[j - 1] ? 0 : 1;
      cur[j] = Math.min(prev[j]! + 1, cur[j - 1]! + 1, prev[j - 1]! + cost);
    }
    prev = cur;
  }
  return prev[b.length]!;
}

/** Words of an identifier: `dispatch_role`, `DispatchRole`, `auth.users`, `"Weird Table"`. */
export function tokens(name: string): string[] {
  return name
    .replace(/([a-z0-9])([A-Z])/g, '$1 $2')
    .toLowerCase()
    .split(/[^a-z0-9]+/)
    .filter((t) => t.length > 0)
    // Plural and singular are the same word for the purpose of finding a table.
    .map((t) => (t.length > 3 && t.endsWith('s') && !t.endsWith('ss') ? t.slice(0, -1) : t));
}

/** Similarity in [0, 1]: the better of normalised edit distance and word overlap. */
export function similarity(a: string, b: string): number {
  const x = a.toLowerCase();
  const y = b.toLowerCase();
  if (x === y) return 1;
  const longest = Math.max(x.length, y.length);
  const edit = longest === 0 ? 1 : 1 - levenshtein(x, y) / longest;
  const ta = new Set(tokens(a));
  const tb = new Set(tokens(b));
  const shared = [...ta].filter((t) => tb.has(t)).length;
  const union = new Set([...ta, ...tb]).size;
  const overlap = union === 0 ? 0 : shared / union;
  return Math.max(edit, overlap);
}

/** The n candidates most like `name`, best first; ties go alphabetically so the answer is stable. */
export function closestNames(name: string, candidates: string[], n = 3): string[] {
  return [...new Set(candidates)]
    .map((c) => ({ c, s: similarity(name, c) }))
    .sort((p, q) => q.s - p.s || (p.c < q.c ? -1 : p.c > q.c ? 1 : 0))
    .slice(0, n)
    .map((x) => x.c);
}

/** How a table is shown in suggestions: bare in `public`, qualified elsewhere. */
function displayName(t: TableInfo): string {
  return t.schema === 'public' ? t.name : `${t.schema}.${t.name}`;
}

/**
 * The table called `name` (optionally in `schema`). Without a schema, a name that exists in
 * several schemas resolves to `public` like the default search_path does, and is otherwise
 * ambiguous. `name` may also be written `schema.table`.
 */
export function requireTable(db: DatabaseAnalysis, name: string, schema?: string): TableInfo {
  const matches = db.tables.filter((t) => t.name === name && (schema === undefined || t.schema === schema));
  if (matches.length === 1) return matches[0]!;
  if (matches.length > 1) {
    const inPublic = matches.find((t) => t.schema === 'public');
    if (inPublic) return inPublic;
    throw new InputError('TABLE_AMBIGUOUS', `table "${name}" exists in several schemas of the ${db.role} database: ${matches.map((t) => t.schema).join(', ')}`, {
      hint: `Name the schema too, e.g. ${matches[0]!.schema}.${name}.`,
      details: { schemas: matches.map((t) => t.schema) },
    });
  }
  const dot = name.indexOf('.');
  if (schema === undefined && dot > 0) {
    const qualifiedMatch = db.tables.find((t) => t.schema === name.slice(0, dot) && t.name === name.slice(dot + 1));
    if (qualifiedMatch) return qualifiedMatch;
  }
  const wanted = schema === undefined ? name : `${schema}.${name}`;
  const suggestions = closestNames(wanted, db.tables.map(displayName));
  const closest = suggestions.length > 0 ? ` (closest: ${suggestions.join(', ')})` : '';
  throw new NotFoundError('TABLE_NOT_FOUND', `no table "${wanted}" in the ${db.role} database ${db.database}${closest}`, {
    hint:
      suggestions.length > 0
        ? `Did you mean ${suggestions.map((s) => `"${s}"`).join(', ')}?`
        : `The ${db.role} database has no user tables; check the connection string.`,
    details: { table: wanted, suggestions },
  });
}

export function requireColumn(table: TableInfo, name: string): ColumnInfo {
  const col = table.columns.find((c) => c.name === name);
  if (col) return col;
  const suggestions = closestNames(
    name,
    table.columns.map((c) => c.name),
  );
  const closest = suggestions.length > 0 ? ` (closest: ${suggestions.join(', ')})` : '';
  throw new NotFoundError('COLUMN_NOT_FOUND', `no column "${name}" in ${table.schema}.${table.name}${closest}`, {
    hint:
      suggestions.length > 0
        ? `Did you mean ${suggestions.map((s) => `"${s}"`).join(', ')}? Columns: ${table.columns.map((c) => c.name).join(', ')}.`
        : `${table.schema}.${table.name} has no columns.`,
    details: { table: `${table.schema}.${table.name}`, column: name, suggestions },
  });
}
