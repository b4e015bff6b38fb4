import * as z from 'zod';
import {
  FilterCondition,
  SchemaAnalysis,
  type DatabaseAnalysis,
  type TableInfo,
  type ValueProfile,
} from '../../src/core/artifacts/schema-analysis.js';
import type { Queryable } from '../../src/core/sql.js';
import { FerryError, InputError } from '../../src/core/errors.js';
import { catalogQuery, readCatalog } from './catalog.js';
import { classifyTable } from './classify.js';
import { requireColumn, requireTable } from './names.js';
import {
  countRows,
  countWhere,
  FOCUS_CATEGORIES,
  FOCUS_MAX_DISTINCT,
  PROFILE_MAX_DISTINCT,
  PROFILED_CATEGORIES,
  profileCandidates,
  profileColumn,
  samplePercentFor,
} from './profile.js';

/**
 * The Schema Analysis agent: catalog facts of both databases, row counts, value profiles of
 * low-cardinality columns and a catalog/transactional classification, all read from the
 * databases themselves. Deterministic: no model, no knowledge of any particular schema.
 */

export { closestNames, requireColumn, requireTable } from './names.js';
export { classifyTable } from './classify.js';
export { categorize, readCatalog, type Catalog } from './catalog.js';

export interface AnalyzeSchemasInput {
  source: Queryable;
  target: Queryable;
  now?: () => Date;
  onProgress?: (line: string) => void;
}

export async function analyzeSchemas(input: AnalyzeSchemasInput): Promise<SchemaAnalysis> {
  const progress = input.onProgress ?? (() => undefined);
  // The two databases are independent connections, so they are read side by side.
  const [source, target] = await Promise.all([
    analyzeDatabase(input.source, 'source', progress),
    analyzeDatabase(input.target, 'target', progress),
  ]);
  const analysis = {
    kind: 'schema_analysis',
    version: 1,
    createdAt: (input.now ?? (() => new Date()))().toISOString(),
    source,
    target,
    generator: 'deterministic',
  } satisfies SchemaAnalysis;
  return validated(analysis);
}

async function analyzeDatabase(
  db: Queryable,
  role: DatabaseAnalysis['role'],
  progress: (line: string) => void,
): Promise<DatabaseAnalysis> {
  const say = (line: string) => progress(`${role}: ${line}`);
  const catalog = await readCatalog(db);
  say(`${catalog.database} (PostgreSQL ${catalog.serverVersion}): ${catalog.tables.length} tables, ${catalog.enums.length} enum types`);

  const counts = await countRows(db, catalog.tables);

  // Who points at whom, across the whole database, for the classification.
  const referencedBy = new Map<string, string[]>();
  for (const t of catalog.tables) {
    for (const fk of t.foreignKeys) {
      if (fk.refSchema === t.schema && fk.refTable === t.name) continue;
      const k = `${fk.refSchema}.${fk.refTable}`;
      const list = referencedBy.get(k) ?? [];
      list.push(`${t.schema}.${t.name}(${fk.columns.join(', ')})`);
      referencedBy.set(k, list);
    }
  }

  const tables: TableInfo[] = [];
  for (const [i, t] of catalog.tables.entries()) {
    const count = counts[i]!;
    const profiles: ValueProfile[] = [];
    if (t.readable && count.rowCount > 0) {
      const samplePercent = samplePercentFor(count.rowCount);
      for (const c of profileCandidates(t.columns, t.primaryKey, t.uniqueKeys, PROFILED_CATEGORIES)) {
        const p = await profileColumn(db, t, c.name, {
          maxDistinct: PROFILE_MAX_DISTINCT,
          ...(samplePercent === undefined ? {} : { samplePercent }),
        });
        if (p) profiles.push(p);
      }
    } else if (!t.readable) {
      say(`${t.schema}.${t.name}: no SELECT privilege, row count is the planner's estimate and there are no profiles`);
    }
    const classification = classifyTable({
      ...t,
      rowCount: count.rowCount,
      rowCountExact: count.exact,
      profiles,
      referencedBy: referencedBy.get(`${t.schema}.${t.name}`) ?? [],
    });
    say(
      `${t.schema}.${t.name}: ${count.exact ? '' : '~'}${count.rowCount} rows, ${profiles.length} value profiles, ${classification.kind}`,
    );
    tables.push({
      schema: t.schema,
      name: t.name,
      columns: t.columns,
      primaryKey: t.primaryKey,
      uniqueKeys: t.uniqueKeys,
      foreignKeys: t.foreignKeys,
      rowCount: count.rowCount,
      rowCountExact: count.exact,
      profiles,
      classification,
    });
  }

  return {
    role,
    database: catalog.database,
    endpoint: catalog.endpoint,
    serverVersion: catalog.serverVersion,
    schemas: catalog.schemas,
    tables,
    enums: catalog.enums,
  };
}

export interface FocusSpec {
  schema: string;
  table: string;
  filters: FilterCondition[];
}

/**
 * The source table as the migration will read it: the row count under the filter and an
 * exact profile (no sampling) of every non-key column with at most 100 distinct values
 * under it, so the planner sees every value that may feed an enum, with its count.
 */
export async function focusSource(analysis: SchemaAnalysis, source: Queryable, focus: FocusSpec): Promise<SchemaAnalysis> {
  const parsed = z.array(FilterCondition).safeParse(focus.filters);
  if (!parsed.success) {
    throw new InputError('FILTER_INVALID', `the source filter is not usable: ${z.prettifyError(parsed.error)}`, {
      cause: parsed.error,
      hint: "Each condition needs a column, an operator (=, <>, <, <=, >, >=, in, is_null, is_not_null) and, except for the null tests, a value; 'in' needs at least one value.",
    });
  }
  const filters = parsed.data;
  const table = requireTable(analysis.source, focus.table, focus.schema);
  for (const f of filters) requireColumn(table, f.column);

  // A focus read from another database than the one analysed would silently mix two worlds.
  const [here] = await catalogQuery<{ database: string }>(source, 'the database name', 'SELECT current_database() AS database');
  if (here?.database !== analysis.source.database) {
    throw new InputError(
      'FOCUS_DATABASE_MISMATCH',
      `the analysis describes source database "${analysis.source.database}" but the focus connection is to "${here?.database ?? '?'}"`,
      { hint: 'Pass focusSource the same source connection that analyzeSchemas read, or analyse again.' },
    );
  }

  const rowCount = await countWhere(source, table, filters);
  const profiles: ValueProfile[] = [];
  if (rowCount > 0) {
    for (const c of profileCandidates(table.columns, table.primaryKey, table.uniqueKeys, FOCUS_CATEGORIES)) {
      const p = await profileColumn(source, table, c.name, { maxDistinct: FOCUS_MAX_DISTINCT, filters });
      if (p) profiles.push(p);
    }
  }
  return validated({
    ...analysis,
    focus: { schema: table.schema, table: table.name, filters, rowCount, profiles },
  });
}

/** The artifact is checked when made; a failure here is ferry's bug, not the user's. */
function validated(value: unknown): SchemaAnalysis {
  const result = SchemaAnalysis.safeParse(value);
  if (!result.success) {
    throw new FerryError('ARTIFACT_INVALID', 'system', `the schema analysis does not match its schema: ${z.prettifyError(result.error)}`, {
      cause: result.error,
      hint: 'This is a bug in ferry: report it with the databases\' DDL.',
    });
  }
  return result.data;
}
