import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { analyzeSchemas } from '../../agents/schema-analysis/index.js';
import { openConnections, type Connections } from '../../src/chain.js';
import type { MigrationPlan } from '../../src/core/artifacts/migration-plan.js';
import { findTable } from '../../src/core/artifacts/schema-analysis.js';
import { readDriftCatalogs, schemaDrift } from '../../src/orchestrator/drift.js';
import { createDatabasePair, runScript, type DatabasePair } from '../setup/seed-case.js';

const LEGACY = `
CREATE SCHEMA depot;
CREATE TABLE depot.stock_item (sku_no serial PRIMARY KEY, label text NOT NULL, shelf_code varchar(12), qty integer, kind_txt text);
INSERT INTO depot.stock_item (label, shelf_code, qty, kind_txt) VALUES ('  bolts ', 'A-01', 40, 'COLD'), ('nuts', NULL, -3, 'dry '), ('', 'Z', NULL, NULL);
CREATE TABLE depot.supplier (sup_id integer PRIMARY KEY, name text);
-- Names that need quoting, as SQL literals too: a quote, a backslash, a space, upper case.
CREATE SCHEMA "Sales Dept";
CREATE TABLE "Sales Dept"."O'Brien\\orders" ("Order No" integer PRIMARY KEY, "it's" text NOT NULL);
`;
const TARGET = `
CREATE TYPE public.bin_kind AS ENUM ('cold', 'dry', 'bulk');
CREATE TABLE public.vendors (id uuid PRIMARY KEY, legacy_code integer);
CREATE TABLE public.catalog_entries (id uuid PRIMARY KEY, legacy_sku integer UNIQUE, title text NOT NULL, kind public.bin_kind, amount integer, vendor_id uuid REFERENCES public.vendors(id));
-- Not the plan's: the drift check reads none of it.
CREATE TYPE public.unrelated_mood AS ENUM ('sad', 'happy');
CREATE TABLE public.audit_noise (id bigint PRIMARY KEY, mood public.unrelated_mood);
`;

/** The parts of a plan the drift check reads: its tables, its enum mapping and its parent table. */
const PLAN = {
  source: { schema: 'depot', table: 'stock_item' },
  target: { schema: 'public', table: 'catalog_entries' },
  enumMappings: [{ enumType: 'public.bin_kind', enumValues: ['cold', 'dry', 'bulk'] }],
  foreignKeys: [{ refSchema: 'public', refTable: 'vendors' }],
} as unknown as MigrationPlan;

describe("a run's drift check, on the catalogs alone (real PostgreSQL)", () => {
  let db: DatabasePair;
  let conn: Connections;

  beforeAll(async () => {
    db = await createDatabasePair('drift_', { legacy: (u) => runScript(u, LEGACY), target: (u) => runScript(u, TARGET) });
    conn = await openConnections(db.legacy.url, db.target.url);
  });
  afterAll(async () => {
    await conn?.close();
    await db?.drop();
  });

  it('reads the very columns and enum values the analysis holds, so an unchanged database has no drift', async () => {
    const planned = await analyzeSchemas({ source: conn.source, target: conn.target });
    const fresh = await readDriftCatalogs(conn, [PLAN]);
    for (const [role, schema, table] of [['source', 'depot', 'stock_item'], ['target', 'public', 'catalog_entries'], ['target', 'public', 'vendors']] as const) {
      const now = fresh[role].tables.find((t) => t.schema === schema && t.name === table);
      expect(now?.columns).toEqual(findTable(planned[role], table, schema)!.columns);
    }
    expect(fresh.target.enums).toEqual(planned.target.enums.filter((e) => e.name === 'bin_kind'));
    expect(schemaDrift(PLAN, planned, fresh)).toEqual([]);
  });

  it("reads only the plan's tables, its parents and its enum types, whatever else the databases hold", async () => {
    const fresh = await readDriftCatalogs(conn, [PLAN]);
    expect(fresh.source.tables.map((t) => `${t.schema}.${t.name}`)).toEqual(['depot.stock_item']);
    expect(fresh.target.tables.map((t) => `${t.schema}.${t.name}`)).toEqual(['public.catalog_entries', 'public.vendors']);
    expect(fresh.target.enums.map((e) => `${e.schema}.${e.name}`)).toEqual(['public.bin_kind']);
  });

  it('finds tables whose names need quoting (a quote, a backslash, a space), and tells a missing one by its absence', async () => {
    const planned = await analyzeSchemas({ source: conn.source, target: conn.target });
    const odd = { ...PLAN, source: { schema: 'Sales Dept', table: "O'Brien\\orders" } } as MigrationPlan;
    const fresh = await readDriftCatalogs(conn, [odd]);
    expect(fresh.source.tables.map((t) => t.name)).toEqual(["O'Brien\\orders"]);
    expect(fresh.source.tables[0]!.columns).toEqual(findTable(planned.source, "O'Brien\\orders", 'Sales Dept')?.columns);
    expect(fresh.source.tables[0]!.columns.map((c) => c.name)).toEqual(['Order No', "it's"]);
    const gone = { ...PLAN, source: { schema: 'Sales Dept', table: "O'Brien\\Orders" } } as MigrationPlan;
    expect(schemaDrift(gone, { ...planned, source: { ...planned.source, tables: [...planned.source.tables, { ...findTable(planned.source, "O'Brien\\orders", 'Sales Dept')!, name: "O'Brien\\Orders" }] } }, await readDriftCatalogs(conn, [gone]))).toEqual([
      "source table Sales Dept.O'Brien\\Orders no longer exists",
    ]);
  });

  it('names every change a run must refuse: a dropped or retyped column, a new required column, enum values, a parent gone', async () => {
    const planned = await analyzeSchemas({ source: conn.source, target: conn.target });
    await db.sql('legacy', 'ALTER TABLE depot.stock_item DROP COLUMN shelf_code; ALTER TABLE depot.stock_item ALTER COLUMN qty TYPE bigint');
    await db.sql('target', `ALTER TABLE public.catalog_entries ADD COLUMN region text NOT NULL DEFAULT 'eu', ADD COLUMN batch_ref text NOT NULL, ALTER COLUMN kind SET NOT NULL`);
    await db.sql('target', `ALTER TYPE public.bin_kind ADD VALUE 'frozen'`);
    await db.sql('target', 'ALTER TABLE public.catalog_entries DROP COLUMN vendor_id; DROP TABLE public.vendors');
    const fresh = await readDriftCatalogs(conn, [PLAN]);
    expect(schemaDrift(PLAN, planned, fresh)).toEqual([
      'source depot.stock_item.shelf_code was dropped',
      'source depot.stock_item.qty changed type: integer → bigint',
      'target public.catalog_entries.kind is now NOT NULL',
      'target public.catalog_entries.vendor_id was dropped',
      'target public.catalog_entries.batch_ref is a new required column the plan does not fill',
      'enum public.bin_kind values changed: [cold, dry, bulk] → [cold, dry, bulk, frozen]',
      'parent table public.vendors no longer exists',
    ]);
  });
});
