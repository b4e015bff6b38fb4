import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { analyzeSchemas, categorize, focusSource, requireColumn, requireTable } from '../../agents/schema-analysis/index.js';
import { SchemaAnalysis, findEnum } from '../../src/core/artifacts/schema-analysis.js';
import { createTestDatabase, type TestDatabase } from '../setup/databases.js';

/** A schema unlike the seed case, to keep the agent honest about being generic. */
const DDL = `
CREATE SCHEMA inventory;
CREATE TYPE inventory.item_state AS ENUM ('new', 'used', 'broken', 'scrapped');
CREATE DOMAIN inventory.short_code AS varchar(8);
CREATE TABLE inventory.warehouse (
  region text NOT NULL,
  code integer NOT NULL,
  label text NOT NULL,
  PRIMARY KEY (region, code)
);
CREATE TABLE inventory.item (
  id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
  region text NOT NULL,
  warehouse_code integer NOT NULL,
  state inventory.item_state NOT NULL DEFAULT 'new',
  attrs json,
  tags text[],
  sku inventory.short_code,
  weight_g integer,
  weight_kg numeric GENERATED ALWAYS AS (weight_g / 1000.0) STORED,
  flag char(1),
  received_at timestamp,
  FOREIGN KEY (region, warehouse_code) REFERENCES inventory.warehouse (region, code)
);
CREATE UNIQUE INDEX item_sku_key ON inventory.item (sku);
CREATE TABLE public."Weird Table" (
  "Odd ""Column""" text,
  "select" integer,
  payload jsonb
);
CREATE TABLE public.big_events (id bigserial PRIMARY KEY, kind smallint NOT NULL, happened_at timestamptz NOT NULL DEFAULT now());
CREATE TABLE public.estimated (id int PRIMARY KEY, colour text);
CREATE TABLE public.migration_control (id int);
CREATE SCHEMA ferry;
CREATE TABLE ferry.runs (id int);

INSERT INTO inventory.warehouse VALUES ('north', 1, 'North 1'), ('north', 2, 'North 2'), ('south', 1, 'South 1');
INSERT INTO inventory.item (region, warehouse_code, state, attrs, tags, sku, weight_g, flag, received_at)
SELECT CASE WHEN g % 3 = 0 THEN 'south' ELSE 'north' END, CASE WHEN g % 3 = 0 THEN 1 ELSE 1 + g % 2 END,
       (ARRAY['new','used','broken']::inventory.item_state[])[1 + g % 3], json_build_object('g', g), ARRAY['t' || (g % 4)],
       'S' || g, g * 10, CASE WHEN g % 2 = 0 THEN 'Y' END, timestamp '2024-01-01' + (g || ' minutes')::interval
FROM generate_series(1, 60) g;
INSERT INTO public."Weird Table" SELECT CASE WHEN g % 2 = 0 THEN 'a''b' ELSE 'c"d' END, g % 5, '{}'::jsonb FROM generate_series(1, 20) g;
INSERT INTO public.big_events (kind) SELECT g % 7 FROM generate_series(1, 250000) g;
INSERT INTO public.estimated SELECT g, (ARRAY['red','green'])[1 + g % 2] FROM generate_series(1, 100) g;
`;

describe('schema analysis of an arbitrary schema', () => {
  let db: TestDatabase;
  let empty: TestDatabase;
  let client: pg.Client;
  let other: pg.Client;
  let analysis: SchemaAnalysis;

  beforeAll(async () => {
    db = await createTestDatabase('sa_generic');
    empty = await createTestDatabase('sa_empty');
    client = new pg.Client({ connectionString: db.url });
    other = new pg.Client({ connectionString: empty.url });
    await client.connect();
    await other.connect();
    await client.query(DDL);
    await client.query('ANALYZE');
    // Pretend the planner believes this table is huge: it must not be counted then.
    await client.query(`UPDATE pg_class SET reltuples = 5000000 WHERE oid = 'public.estimated'::regclass`);
    analysis = await analyzeSchemas({ source: client, target: other });
  });
  afterAll(async () => {
    await client?.end();
    await other?.end();
    await db?.drop();
    await empty?.drop();
  });

  it('leaves out ferry\'s own tables and schema', () => {
    expect(analysis.source.tables.map((t) => `${t.schema}.${t.name}`)).toEqual([
      'inventory.item',
      'inventory.warehouse',
      'public.Weird Table',
      'public.big_events',
      'public.estimated',
    ]);
    expect(analysis.source.schemas).not.toContain('ferry');
    expect(analysis.target.tables).toEqual([]);
    expect(SchemaAnalysis.safeParse(analysis).success).toBe(true);
  });

  it('reads a composite primary key and a multi-column foreign key in column order', () => {
    expect(requireTable(analysis.source, 'warehouse').primaryKey).toEqual(['region', 'code']);
    expect(requireTable(analysis.source, 'item').foreignKeys).toEqual([
      {
        name: 'item_region_warehouse_code_fkey',
        columns: ['region', 'warehouse_code'],
        refSchema: 'inventory',
        refTable: 'warehouse',
        refColumns: ['region', 'code'],
      },
    ]);
  });

  it('categorises enums, domains, arrays, json, identity and generated columns', () => {
    const item = requireTable(analysis.source, 'item');
    expect(requireColumn(item, 'id')).toMatchObject({ category: 'bigint', isIdentity: true, default: null });
    expect(requireColumn(item, 'state')).toMatchObject({
      pgType: 'inventory.item_state',
      category: 'enum',
      enumType: 'inventory.item_state',
      default: `'new'::inventory.item_state`,
    });
    expect(requireColumn(item, 'attrs').category).toBe('json');
    expect(requireColumn(item, 'tags')).toMatchObject({ pgType: 'text[]', category: 'array' });
    expect(requireColumn(item, 'sku')).toMatchObject({ pgType: 'inventory.short_code', category: 'string', maxLength: 8 });
    expect(requireColumn(item, 'weight_kg')).toMatchObject({ category: 'numeric', isGenerated: true, default: null });
    expect(requireColumn(item, 'flag')).toMatchObject({ pgType: 'character(1)', category: 'string', maxLength: 1 });
    expect(requireColumn(item, 'received_at').category).toBe('timestamp');
    expect(item.uniqueKeys).toEqual([['sku']]);
    expect(findEnum(analysis.source, 'inventory.item_state')?.values).toEqual(['new', 'used', 'broken', 'scrapped']);
    expect(categorize({ typname: 'tsvector', typtype: 'b', typcategory: 'U' })).toBe('other');
  });

  it('profiles enum, text and integer columns but not keys, unique or json columns', () => {
    const item = requireTable(analysis.source, 'item');
    const cols = item.profiles.map((p) => p.column);
    expect(cols).toEqual(['region', 'warehouse_code', 'state', 'flag']);
    // Enum values come in frequency order, ties in declaration order.
    expect(item.profiles.find((p) => p.column === 'state')?.values).toEqual([
      { value: 'new', count: 20 },
      { value: 'used', count: 20 },
      { value: 'broken', count: 20 },
    ]);
    expect(item.profiles.find((p) => p.column === 'flag')?.values).toEqual([
      { value: 'Y', count: 30 },
      { value: null, count: 30 },
    ]);
    // The 60 distinct weights are over the limit of 50.
    expect(cols).not.toContain('weight_g');
  });

  it('quotes identifiers that need it', () => {
    const weird = requireTable(analysis.source, 'Weird Table');
    expect(weird.columns.map((c) => c.name)).toEqual(['Odd "Column"', 'select', 'payload']);
    expect(weird.profiles.find((p) => p.column === 'Odd "Column"')?.values).toEqual([
      { value: `a'b`, count: 10 },
      { value: 'c"d', count: 10 },
    ]);
    expect(weird.profiles.find((p) => p.column === 'select')?.distinctCount).toBe(5);
  });

  it('samples profiles of tables over 200k rows and says so', () => {
    const big = requireTable(analysis.source, 'big_events');
    expect(big.rowCount).toBe(250000);
    expect(big.rowCountExact).toBe(true);
    const kind = big.profiles.find((p) => p.column === 'kind');
    expect(kind?.sampled).toBe(true);
    expect(kind?.distinctCount).toBe(7);
    expect(big.classification.kind).toBe('transactional');
    expect(big.classification.reasons.join('\n')).toContain('large: 250000 rows');
  });

  it('takes the planner estimate for tables it believes hold a million rows or more', () => {
    const t = requireTable(analysis.source, 'estimated');
    expect(t.rowCount).toBe(5000000);
    expect(t.rowCountExact).toBe(false);
    // A sample of a table far smaller than its estimate may hold nothing: no profile beats an empty one.
    expect(t.profiles.every((p) => p.sampled === true && p.distinctCount > 0)).toBe(true);
  });

  it('classifies the small referenced warehouse list as catalog', () => {
    const w = requireTable(analysis.source, 'warehouse').classification;
    expect(w.kind).toBe('catalog');
    expect(w.reasons.join('\n')).toContain('inventory.item(region, warehouse_code)');
  });

  it('focuses with IN and null filters and profiles every low-cardinality column under them', async () => {
    const focused = await focusSource(analysis, client, {
      schema: 'inventory',
      table: 'item',
      filters: [
        { column: 'state', op: 'in', value: ['new', 'broken'] },
        { column: 'flag', op: 'is_null' },
      ],
    });
    expect(focused.focus?.rowCount).toBe(20);
    const cols = focused.focus?.profiles.map((p) => p.column);
    // Under the filter the 20 weights and timestamps are few enough to list; keys, json and arrays are not profiled.
    expect(cols).toEqual(['region', 'warehouse_code', 'state', 'weight_g', 'weight_kg', 'flag', 'received_at']);
    expect(focused.focus?.profiles.find((p) => p.column === 'flag')?.values).toEqual([{ value: null, count: 20 }]);
  });

  it('refuses to focus through a connection to another database', async () => {
    const err = await focusSource(analysis, other, { schema: 'inventory', table: 'item', filters: [] }).catch((e: unknown) => e);
    expect(err).toMatchObject({ code: 'FOCUS_DATABASE_MISMATCH', category: 'user' });
  });

  it('finds a table through a schema-qualified name and rejects an unknown schema', () => {
    expect(requireTable(analysis.source, 'inventory.item').name).toBe('item');
    expect(() => requireTable(analysis.source, 'item', 'public')).toThrow(/closest: inventory\.item/);
  });
});
