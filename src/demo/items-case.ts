import { contentHash } from '../core/artifacts/hash.js';
import type { ColumnMapping, ColumnOrigin, MigrationPlan } from '../core/artifacts/migration-plan.js';
import { ensureControlTables, insertControl } from '../control/control-tables.js';
import type { Queryable } from '../core/sql.js';

/**
 * A synthetic migration written straight in SQL, the way ferry leaves it: a legacy table
 * "Items" (a name that needs quoting, columns named `select` and `odd"name`) of n rows made
 * by generate_series, its rows under the filter in items_new with migration_mappings and a
 * completed migration_control row, and the plan that says how. Values include NULLs,
 * unicode and emoji, commas, quotes, backslashes and newlines; status goes through an enum
 * mapping; parent_id refers to the same table through the mappings (orphans written NULL).
 * Used by test/validation and bench/validate.ts (1M rows).
 */

export const SOURCE_TABLE = 'public.Items';
export const TARGET_TABLE = 'public.items_new';

/** The legacy key of row i, as SQL over an integer expression. */
export function keySql(kind: 'integer' | 'text', i: string): string {
  if (kind === 'integer') return `(${i})`;
  // Three shapes, so byte order and row order differ: Cyrillic, ASCII, emoji.
  return `(CASE (${i}) % 3 WHEN 0 THEN 'ключ-' || lpad((${i})::text, 7, '0') WHEN 1 THEN 'K-' || lpad((${i})::text, 7, '0') ELSE '🔑' || (${i})::text END)`;
}

const columnsSql = (kind: 'integer' | 'text') => `
  ${keySql(kind, 'i')} AS id,
  CASE WHEN i % 7 = 0 THEN NULL WHEN i % 11 = 0 THEN 'a,b "q" \\ back' || E'\\nline ' || i WHEN i % 13 = 0 THEN 'ünï 🚀 ' || i ELSE 'name ' || i END AS "select",
  CASE WHEN i % 5 = 0 THEN NULL ELSE repeat('x', i % 3) || '''' || i END AS "odd""name",
  CASE i % 4 WHEN 0 THEN 'NEW' WHEN 1 THEN 'Used' WHEN 2 THEN NULL ELSE 'broke,n' END AS status,
  CASE WHEN i % 9 = 0 THEN NULL ELSE (i * 1.25)::numeric(12,2) END AS amount,
  CASE WHEN i % 6 = 0 THEN NULL ELSE ' ' || (i % 100)::text END AS qty,
  timestamptz '2020-01-01 00:00:00+00' + i * interval '37 minutes' AS created,
  CASE WHEN i % 50 = 0 THEN 0 ELSE 1 + i % 3 END AS grp,
  CASE WHEN i % 10 = 3 THEN NULL WHEN i % 997 = 0 THEN ${keySql(kind, '900000 + i')} ELSE ${keySql(kind, 'i - 1')} END AS parent_id`;

export const TAG = `legacy "v1", \\ ok`;

export const ENUM_MAP: Array<[string | null, string]> = [
  ['NEW', 'new'],
  ['Used', 'used'],
  ['broke,n', 'broken'],
  [null, 'used'],
];

function col(target: string, targetType: string, origin: ColumnOrigin): ColumnMapping {
  return { target, targetType, origin, reason: 'test', confidence: 1, status: 'mapped' };
}

export interface ItemsCase {
  plan: MigrationPlan;
  migrationId: number;
  /** Rows under the filter (migrated). */
  migrated: number;
}

/** Both sides' tables: "Items" with `rows` rows on the source, an empty items_new on the target. */
async function createItemsTables(source: Queryable, target: Queryable, rows: number, key: 'integer' | 'text'): Promise<void> {
  const keyType = key === 'integer' ? 'integer' : 'text';
  await source.query(`
    CREATE TABLE "Items" (id ${keyType} PRIMARY KEY, "select" text, "odd""name" text, status varchar(20), amount numeric(12,2), qty text, created timestamptz, grp integer, parent_id ${keyType});
    INSERT INTO "Items" SELECT ${columnsSql(key)} FROM generate_series(1, ${rows}) i;
    ANALYZE "Items";`);
  await target.query(`
    CREATE TYPE "item kind" AS ENUM ('new', 'used', 'broken');
    CREATE TABLE items_new (
      id uuid PRIMARY KEY DEFAULT gen_random_uuid(),
      legacy_id ${keyType} UNIQUE,
      "select" text,
      "odd""name" varchar(200),
      kind "item kind" NOT NULL,
      amount numeric(12,2),
      qty integer,
      created timestamptz,
      source_tag text,
      is_active boolean,
      parent_id uuid REFERENCES items_new(id),
      note text,
      updated_at timestamptz DEFAULT now()
    );`);
}

/** The approved plan of the move, with the enum counts of the rows under its filter. */
function itemsPlan(key: 'integer' | 'text', migrated: number, counts: ReadonlyArray<{ status: string | null; n: string }>): MigrationPlan {
  const keyType = key === 'integer' ? 'integer' : 'text';
  return {
    kind: 'migration_plan',
    version: 1,
    id: `items-${key}`,
    revision: 1,
    status: 'approved',
    createdAt: new Date().toISOString(),
    approvedAt: new Date().toISOString(),
    approvedBy: 'test',
    description: 'move Items into items_new',
    analysisHash: 'test',
    generator: { kind: 'deterministic', version: 'test' },
    source: {
      schema: 'public',
      table: 'Items',
      key: 'id',
      columns: ['id', 'select', 'odd"name', 'status', 'amount', 'qty', 'created', 'grp', 'parent_id'],
      filters: [{ column: 'grp', op: '<>', value: 0 }],
      rowCount: migrated,
    },
    target: { schema: 'public', table: 'items_new', primaryKey: 'id' },
    columns: itemsColumns(keyType),
    enumMappings: [
      {
        targetColumn: 'kind',
        enumType: 'public.item kind',
        enumValues: ['new', 'used', 'broken'],
        sourceColumn: 'status',
        reason: 'test',
        values: ENUM_MAP.map(([s, t]) => ({
          source: s,
          count: Number(counts.find((r) => r.status === s)?.n ?? 0),
          target: t,
          rule: 'exact',
          detail: 'test',
          confidence: 1,
          status: 'mapped' as const,
          alternatives: [],
        })),
      },
    ],
    foreignKeys: [],
    strategy: { type: 'batch', batchSize: 1000, dependencies: [], transformations: [] },
    validations: ['count_match', 'mapping_completeness', 'row_content', 'enum_distribution', 'fk_integrity'],
    risk: { level: 'low', reasons: [] },
    overrides: [],
  };
}

function itemsColumns(keyType: string): MigrationPlan['columns'] {
  return [
    col('id', 'uuid', { kind: 'generated_uuid' }),
    col('legacy_id', keyType, { kind: 'copy', source: 'id' }),
    col('select', 'text', { kind: 'copy', source: 'select' }),
    col('odd"name', 'character varying(200)', { kind: 'copy', source: 'odd"name' }),
    col('kind', 'item kind', { kind: 'enum_map', source: 'status' }),
    col('amount', 'numeric(12,2)', { kind: 'copy', source: 'amount' }),
    col('qty', 'integer', { kind: 'cast', source: 'qty', to: 'integer' }),
    col('created', 'timestamp with time zone', { kind: 'copy', source: 'created' }),
    col('source_tag', 'text', { kind: 'constant', value: TAG }),
    col('is_active', 'boolean', { kind: 'constant', value: true }),
    col('parent_id', 'uuid', {
      kind: 'via_mapping',
      source: 'parent_id',
      parent: { sourceTable: SOURCE_TABLE, targetTable: TARGET_TABLE, refColumn: 'id' },
      onOrphan: 'set_null',
    }),
    col('note', 'text', { kind: 'transform', sources: ['select'], description: 'select in capitals' }),
    col('updated_at', 'timestamp with time zone', { kind: 'default' }),
  ];
}

/** The migration done in SQL, as a completed run would leave it: rows, mappings, references, control row. */
async function migrateInSql(target: Queryable, plan: MigrationPlan, rows: number, key: 'integer' | 'text', migrated: number): Promise<number> {
  await ensureControlTables(target);
  const migrationId = await insertControl(target, plan, contentHash(plan));
  const kindSql = `CASE ${ENUM_MAP.map(([s, t]) => (s === null ? `WHEN s.status IS NULL THEN '${t}'` : `WHEN s.status = '${s}' THEN '${t}'`)).join(' ')} END::"item kind"`;
  await target.query(`
    INSERT INTO items_new (legacy_id, "select", "odd""name", kind, amount, qty, created, source_tag, is_active, note)
    SELECT s.id, s."select", s."odd""name", ${kindSql}, s.amount, trim(s.qty)::integer, s.created, $1, true, upper(s."select")
      FROM (SELECT ${columnsSql(key)} FROM generate_series(1, ${rows}) i) s
     WHERE s.grp <> 0`,
    [TAG],
  );
  await target.query(
    `INSERT INTO ferry_control.migration_mappings (migration_id, batch_id, source_table, legacy_id, target_table, new_id)
     SELECT $1, 1, $2, legacy_id::text, $3, id::text FROM items_new`,
    [migrationId, SOURCE_TABLE, TARGET_TABLE],
  );
  // References through the mappings: the parent's new id, or NULL for an orphan (set_null).
  await target.query(`
    UPDATE items_new c SET parent_id = p.id
      FROM (SELECT ${keySql(key, 'i')} AS k, CASE WHEN i % 10 = 3 THEN NULL WHEN i % 997 = 0 THEN ${keySql(key, '900000 + i')} ELSE ${keySql(key, 'i - 1')} END AS parent_k
              FROM generate_series(1, ${rows}) i) g
      JOIN items_new p ON p.legacy_id = g.parent_k
     WHERE c.legacy_id = g.k`);
  await target.query(`UPDATE ferry_control.migration_control SET status = 'completed', rows_source = $2, rows_inserted = $2, finished_at = now() WHERE id = $1`, [migrationId, migrated]);
  await target.query('ANALYZE items_new; ANALYZE ferry_control.migration_mappings');
  return migrationId;
}

/**
 * Builds both sides. `source` and `target` are connections to two databases. Returns the
 * plan and the completed migration's id.
 */
export async function buildItemsCase(input: { source: Queryable; target: Queryable; rows: number; key: 'integer' | 'text' }): Promise<ItemsCase> {
  const { source, target, rows, key } = input;
  await createItemsTables(source, target, rows, key);
  const counts = await source.query<{ status: string | null; n: string }>(`SELECT status, count(*) AS n FROM "Items" WHERE grp <> $1 GROUP BY 1`, [0]);
  const migrated = counts.rows.reduce((a, r) => a + Number(r.n), 0);
  const plan = itemsPlan(key, migrated, counts.rows);
  const migrationId = await migrateInSql(target, plan, rows, key, migrated);
  return { plan, migrationId, migrated };
}
