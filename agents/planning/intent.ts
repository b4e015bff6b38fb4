import { findTable, type DatabaseAnalysis, type FilterCondition, type SchemaAnalysis, type TableInfo } from '../../src/core/artifacts/schema-analysis.js';
import { InputError, NotFoundError } from '../../src/core/errors.js';
import { closestNames } from '../schema-analysis/names.js';
import { singular, tokens } from './words.js';

/** What the description asks for, resolved against the analysed names. */
export interface MigrationIntent {
  source: TableInfo;
  target: TableInfo;
  filters: FilterCondition[];
  /** The parts of the description that decided each choice, for the plan's reasons. */
  evidence: string[];
}

export const EXAMPLE_DESCRIPTION =
  'Migrate the technician roles of group 11 from dispatch_role into technician_roles';

const IDENT = String.raw`"?([A-Za-z_][A-Za-z0-9_$.]*)"?`;

/**
 * Reads source table, target table and filter from a description in the narrow phrasing
 * the deterministic planner understands (the Claude-backed planner takes any words):
 *   "... from <source_table> into|to <target_table>"
 *   filters: "where <column> = <value>" (also <>, !=, <, <=, >, >=, "is null", "in (a, b)"),
 *            or "of|for|in <column word> <value>" ("of group 11" → group_id = 11).
 */
export function parseIntent(description: string, analysis: SchemaAnalysis): MigrationIntent {
  const text = description.trim();
  if (text.length === 0) {
    throw new InputError('DESCRIPTION_EMPTY', 'the migration description is empty', {
      hint: `describe the move, for example: "${EXAMPLE_DESCRIPTION}"`,
    });
  }
  const evidence: string[] = [];
  const fromName = new RegExp(String.raw`\bfrom\s+(?:the\s+)?(?:table\s+)?${IDENT}`, 'i').exec(text)?.[1];
  const intoName = new RegExp(String.raw`\b(?:into|to)\s+(?:the\s+)?(?:table\s+)?${IDENT}`, 'i').exec(text)?.[1];

  const source = fromName
    ? resolve(analysis.source, fromName, 'source')
    : guessTable(analysis.source, text, 'source');
  const target = intoName
    ? resolve(analysis.target, intoName, 'target')
    : guessTable(analysis.target, text, 'target');
  evidence.push(`source table "${source.schema}.${source.name}" ${fromName ? `from "from ${fromName}"` : 'named in the description'}`);
  evidence.push(`target table "${target.schema}.${target.name}" ${intoName ? `from "into ${intoName}"` : 'named in the description'}`);

  const filters = parseFilters(text, source, evidence);
  return { source, target, filters, evidence };
}

function qualifiedSplit(name: string): { schema?: string; table: string } {
  const dot = name.indexOf('.');
  return dot > 0 ? { schema: name.slice(0, dot), table: name.slice(dot + 1) } : { table: name };
}

function resolve(db: DatabaseAnalysis, rawName: string, role: 'source' | 'target'): TableInfo {
  const { schema, table } = qualifiedSplit(rawName);
  const found =
    findTable(db, table, schema) ??
    db.tables.find((t) => t.name.toLowerCase() === table.toLowerCase() && (schema === undefined || t.schema === schema));
  if (found) return found;
  const suggestions = closestTables(db, table);
  throw new NotFoundError(
    'TABLE_NOT_FOUND',
    `the ${role} database has no table "${rawName}"${suggestions.length ? `; closest: ${suggestions.join(', ')}` : ''}`,
    {
      hint: `name a ${role} table that exists (${role === 'source' ? 'SOURCE_DATABASE_URL' : 'TARGET_DATABASE_URL'}), e.g. "${suggestions[0] ?? db.tables[0]?.name ?? 'my_table'}"`,
      details: { role, name: rawName, suggestions },
    },
  );
}

/** Closest table names, bare in `public` and qualified elsewhere (as suggestions show them). */
export function closestTables(db: DatabaseAnalysis, name: string, n = 3): string[] {
  return closestNames(name, db.tables.map((t) => (t.schema === 'public' ? t.name : `${t.schema}.${t.name}`)), n);
}

function guessTable(db: DatabaseAnalysis, text: string, role: 'source' | 'target'): TableInfo {
  const lowered = text.toLowerCase();
  const named = db.tables.filter((t) => new RegExp(String.raw`(^|[^a-z0-9_])${t.name.toLowerCase()}($|[^a-z0-9_])`).test(lowered));
  if (named.length === 1) return named[0]!;
  throw new InputError(
    'DESCRIPTION_NOT_UNDERSTOOD',
    named.length === 0
      ? `could not tell which ${role} table the description means ("${role === 'source' ? 'from <table>' : 'into <table>'}" was not found)`
      : `the description names several ${role} tables (${named.map((t) => t.name).join(', ')}); say which with "${role === 'source' ? 'from' : 'into'} <table>"`,
    {
      hint: `phrase it like: "${EXAMPLE_DESCRIPTION}" (or set ANTHROPIC_API_KEY to let Claude read free-form descriptions)`,
      details: { role, tables: db.tables.map((t) => t.name) },
    },
  );
}

function parseValue(raw: string): string | number | boolean {
  const v = raw.trim();
  if (/^'.*'$/.test(v) || /^".*"$/.test(v)) return v.slice(1, -1);
  if (/^-?\d+(\.\d+)?$/.test(v)) return Number(v);
  if (/^(true|false)$/i.test(v)) return v.toLowerCase() === 'true';
  return v;
}

function findColumn(table: TableInfo, word: string): string | undefined {
  const w = word.toLowerCase();
  const exact = table.columns.find((c) => c.name.toLowerCase() === w);
  if (exact) return exact.name;
  // "group" → group_id, "status" → status_code: a column whose first word is the word.
  const byStem = table.columns.filter((c) => {
    const parts = tokens(c.name);
    return parts[0] === singular(w) && parts.length === 2 && ['id', 'code', 'no', 'num', 'key'].includes(parts[1]!);
  });
  return byStem.length === 1 ? byStem[0]!.name : undefined;
}

function requireColumn(table: TableInfo, word: string): string {
  const col = findColumn(table, word);
  if (col) return col;
  const suggestions = closestNames(word, table.columns.map((c) => c.name));
  throw new NotFoundError('COLUMN_NOT_FOUND', `the source table ${table.name} has no column "${word}"; closest: ${suggestions.join(', ')}`, {
    hint: `filter on an existing column, e.g. "where ${suggestions[0] ?? 'id'} = …"`,
    details: { table: table.name, column: word, suggestions },
  });
}

const VALUE = String.raw`('[^']*'|"[^"]*"|-?\d+(?:\.\d+)?|true|false|[A-Za-z_][A-Za-z0-9_-]*)`;

function parseFilters(text: string, source: TableInfo, evidence: string[]): FilterCondition[] {
  const filters: FilterCondition[] = [];
  const where = /\b(?:where|with|whose)\s+(.+?)(?:\s+(?:from|into|to)\s+|$)/i.exec(text)?.[1];
  if (where) {
    for (const clause of where.split(/\s+and\s+/i)) {
      const isNull = new RegExp(String.raw`^${IDENT}\s+is\s+(not\s+)?null$`, 'i').exec(clause.trim());
      if (isNull) {
        filters.push({ column: requireColumn(source, isNull[1]!), op: isNull[2] ? 'is_not_null' : 'is_null' });
        continue;
      }
      const inList = new RegExp(String.raw`^${IDENT}\s+in\s*\((.+)\)$`, 'i').exec(clause.trim());
      if (inList) {
        const values = inList[2]!.split(',').map(parseValue).filter((v): v is string | number => typeof v !== 'boolean');
        filters.push({ column: requireColumn(source, inList[1]!), op: 'in', value: values });
        continue;
      }
      const cmp = new RegExp(String.raw`^${IDENT}\s*(=|==|!=|<>|<=|>=|<|>|is)\s*${VALUE}$`, 'i').exec(clause.trim());
      if (!cmp) {
        throw new InputError('FILTER_NOT_UNDERSTOOD', `could not read the filter "${clause.trim()}"`, {
          hint: 'write filters like "where group_id = 11", "where name is not null" or "where type in (\'a\', \'b\')"',
        });
      }
      const op = cmp[2]!.toLowerCase();
      filters.push({
        column: requireColumn(source, cmp[1]!),
        op: op === '==' || op === 'is' ? '=' : op === '!=' ? '<>' : (op as '=' | '<>' | '<' | '<=' | '>' | '>='),
        value: parseValue(cmp[3]!),
      });
    }
    evidence.push(`filter from "${where.trim()}"`);
    return filters;
  }
  // "of group 11", "for group 11", "in group 'Technicians'"
  const re = new RegExp(String.raw`\b(?:of|for|in)\s+(?:the\s+)?([A-Za-z_][A-Za-z0-9_]*)\s+${VALUE}(?=\s|$|[,.;])`, 'gi');
  for (const m of text.matchAll(re)) {
    const word = m[1]!;
    const col = findColumn(source, word);
    if (!col) continue;
    filters.push({ column: col, op: '=', value: parseValue(m[2]!) });
    evidence.push(`filter ${col} = ${m[2]} from "${m[0].trim()}"`);
  }
  return filters;
}
